//! Browser sign-in routes: OpenID Connect for staff, and the session probe
//! a web client uses to learn who it is and its CSRF token.
//!
//! - `GET /auth/providers`: the configured providers.
//! - `GET /auth/oidc/{provider}/login?return_to=/path`: redirects to the provider.
//! - `GET /auth/oidc/{provider}/callback?code&state`: finishes the sign-in,
//!   sets the session cookie, redirects to `return_to`.
//! - `GET /auth/session`: `{ user, csrfToken }` for a cookie session.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{AuthContext, session_cookie};
use crate::error::ApiError;
use crate::state::ApiState;

fn oidc(state: &ApiState) -> Result<&Arc<townhall_access::Oidc>, ApiError> {
    state.oidc.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "OIDC_UNKNOWN_PROVIDER",
            "single sign-on is not configured",
        )
    })
}

pub async fn providers(State(state): State<Arc<ApiState>>) -> Response {
    let names = state.oidc.as_ref().map(|o| o.provider_names()).unwrap_or_default();
    axum::Json(json!({ "providers": names })).into_response()
}

pub async fn login(
    State(state): State<Arc<ApiState>>,
    Path(provider): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let url = oidc(&state)?
        .begin(&provider, q.get("return_to").map(String::as_str))
        .await?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response())
}

pub async fn callback(
    State(state): State<Arc<ApiState>>,
    Path(provider): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let o = oidc(&state)?;
    if let Some(err) = q.get("error") {
        let detail: String = q.get("error_description").unwrap_or(err).chars().take(200).collect();
        return Err(townhall_access::OidcError::Denied(detail).into());
    }
    let (Some(code), Some(st)) = (q.get("code"), q.get("state")) else {
        return Err(ApiError::bad_request(
            "OIDC_STATE_MISMATCH",
            "the provider's answer has no code or state",
        ));
    };
    let done = o.complete(&provider, code, st, &state.access).await?;
    let session = state
        .access
        .session_for(&done.user, &format!("oidc:{provider}"))
        .await?;
    let max_age = state.access.config().session_idle.num_seconds();
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, done.return_to.clone()),
            (
                header::SET_COOKIE,
                session_cookie(&session.token, state.config.cookie_secure, max_age)
                    .to_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
        ],
    )
        .into_response())
}

pub async fn session(
    State(state): State<Arc<ApiState>>,
    Extension(auth): Extension<AuthContext>,
) -> Result<Response, ApiError> {
    let Some(user_id) = auth.principal.user_id() else {
        return Err(ApiError::unauthenticated());
    };
    let user = state.store().user(user_id).await?;
    let roles: Vec<String> = state
        .access
        .roles(user_id)
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(axum::Json(json!({
        "user": { "id": user.id, "email": user.email, "displayName": user.display_name, "roles": roles },
        "csrfToken": auth.csrf_token,
    }))
    .into_response())
}
