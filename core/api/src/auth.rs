//! Turning a request's credentials into a [`Principal`].
//!
//! - `Authorization: Bearer th_…` or `X-Api-Key: th_…`: an API client.
//! - The `townhall_session` cookie: a signed-in person. Requests that change
//!   something (any method but GET/HEAD/OPTIONS) must also carry the
//!   session's CSRF token in `X-CSRF-Token`.
//! - Nothing: anonymous.
//!
//! Bad credentials are refused outright (401) rather than downgraded to
//! anonymous, so a client learns its key or session is no good.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use townhall_access::Principal;

use crate::error::ApiError;
use crate::state::ApiState;

pub const SESSION_COOKIE: &str = "townhall_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is calling, and how.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub principal: Principal,
    /// The session token, when authenticated by cookie (for logout).
    pub session_token: Option<String>,
    /// The session's CSRF token (for `GET /auth/session`).
    pub csrf_token: Option<String>,
    pub client_ip: String,
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let mut parts = v.splitn(2, ' ');
        if parts.next().is_some_and(|s| s.eq_ignore_ascii_case("bearer")) {
            return parts.next().map(|s| s.trim().to_owned());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

fn client_ip(state: &ApiState, req: &Request) -> String {
    if state.config.trust_proxy
        && let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
    {
        return ip.trim().to_owned();
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// A `Set-Cookie` that ends the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let v = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `Set-Cookie` for a new session.
pub fn session_cookie(token: &str, secure: bool, max_age_secs: i64) -> HeaderValue {
    let v = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub async fn authenticate(State(state): State<Arc<ApiState>>, mut req: Request, next: Next) -> Response {
    let ip = client_ip(&state, &req);
    let headers = req.headers().clone();
    let ctx = if let Some(key) = bearer(&headers) {
        match state.access.api_key(&key).await {
            Ok(p) => AuthContext {
                principal: p,
                session_token: None,
                csrf_token: None,
                client_ip: ip,
            },
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else if let Some(token) = cookie(&headers, SESSION_COOKIE).filter(|t| !t.is_empty()) {
        match state.access.session(&token).await {
            Ok(s) => {
                let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
                let csrf_ok = headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| bool::from(v.as_bytes().ct_eq(s.csrf_token.as_bytes())));
                if !safe && !csrf_ok {
                    return ApiError::new(
                        StatusCode::FORBIDDEN,
                        "CSRF_TOKEN_INVALID",
                        "requests signed in by cookie must send the session's X-CSRF-Token header",
                    )
                    .into_response();
                }
                AuthContext {
                    principal: s.principal,
                    session_token: Some(token),
                    csrf_token: Some(s.csrf_token),
                    client_ip: ip,
                }
            }
            Err(e) => {
                let mut resp = ApiError::from(e).into_response();
                resp.headers_mut()
                    .append(header::SET_COOKIE, clear_cookie(state.config.cookie_secure));
                return resp;
            }
        }
    } else {
        AuthContext {
            principal: Principal::anonymous(),
            session_token: None,
            csrf_token: None,
            client_ip: ip,
        }
    };
    req.extensions_mut().insert(ctx);
    next.run(req).await
}
