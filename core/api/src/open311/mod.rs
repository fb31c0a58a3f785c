//! Open311 GeoReport v2 at `/open311/v2/`, in XML and JSON, with the
//! extensions real deployments use (paging, `extensions=true`, the
//! FixMyStreet-style updates feed, richer statuses, `updated_after` /
//! `updated_before`) and an OpenAPI document for the JSON flavour.
//!
//! - [`catalog`]: discovery, the service list, service definitions;
//! - [`requests`]: `POST requests` (form-urlencoded or multipart with a
//!   photo), `GET requests` (search), `GET requests/{id}`;
//! - [`tokens`]: token mode (accept durably, process in the background,
//!   `GET tokens/{token}`);
//! - [`updates`]: `GET`/`POST servicerequestupdates`;
//! - [`media`]: photo sniffing and metadata stripping; `GET media/{id}`;
//! - [`format`]: one response tree rendered as XML or JSON.
//!
//! Every submission goes through [`townhall_intake::Intake::submit`], the
//! same pipeline as GraphQL. Responses are the public view, whoever asks:
//! non-public requests are absent, addresses of address-sensitive services
//! are left out, and no reporter detail (name, email, phone, account) ever
//! appears — they are accepted on `POST` and kept private.
//!
//! **Must never:** echo anything personal; show a non-public request; let
//! a submission skip the intake pipeline; answer a client-visible error
//! other than as an Open311 `{code, description}` list (codes from
//! `crate::error`).

mod catalog;
mod format;
pub(crate) mod media;
mod params;
mod requests;
mod tokens;
mod updates;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use townhall_access::Principal;
use townhall_domain::service::ServiceDefinition;
use townhall_store::{Department, Jurisdiction};

use crate::error::{ApiError, Open311Error};
use crate::state::ApiState;
pub(crate) use format::{Fmt, V};

/// How long catalog, department and API-key look-ups are reused (the same
/// one second as the intake catalog: another replica's change shows up
/// within a second).
const TTL: Duration = Duration::from_secs(1);

type Cached<T> = RwLock<HashMap<String, (Instant, T)>>;

/// What the Open311 handlers share.
pub(crate) struct Open311 {
    pub api: Arc<ApiState>,
    /// Wakes the token worker after a token-mode submission is stored.
    pub wake: Arc<tokio::sync::Notify>,
    services: Cached<Arc<Vec<Arc<ServiceDefinition>>>>,
    departments: Cached<Arc<Vec<Department>>>,
    keys: Cached<Principal>,
}

fn cached<T: Clone>(cache: &Cached<T>, key: &str) -> Option<T> {
    cache
        .read()
        .ok()
        .and_then(|m| m.get(key).filter(|(at, _)| at.elapsed() < TTL).map(|(_, v)| v.clone()))
}

fn remember<T>(cache: &Cached<T>, key: &str, value: T) {
    if let Ok(mut m) = cache.write() {
        if m.len() > 10_000 {
            m.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        m.insert(key.to_owned(), (Instant::now(), value));
    }
}

impl Open311 {
    pub async fn jurisdiction(&self, requested: Option<&str>) -> Result<Jurisdiction, ApiError> {
        Ok(self.api.intake.catalog().jurisdiction(requested).await?)
    }

    /// Every service of a jurisdiction, inactive ones included (requests
    /// of a retired service still show its name).
    pub async fn services(&self, jurisdiction_id: &str) -> Result<Arc<Vec<Arc<ServiceDefinition>>>, ApiError> {
        if let Some(s) = cached(&self.services, jurisdiction_id) {
            return Ok(s);
        }
        let list: Vec<Arc<ServiceDefinition>> = self
            .api
            .store()
            .services(jurisdiction_id, true)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect();
        let list = Arc::new(list);
        remember(&self.services, jurisdiction_id, list.clone());
        Ok(list)
    }

    pub async fn departments(&self, jurisdiction_id: &str) -> Result<Arc<Vec<Department>>, ApiError> {
        if let Some(d) = cached(&self.departments, jurisdiction_id) {
            return Ok(d);
        }
        let list = Arc::new(self.api.store().departments(jurisdiction_id).await?);
        remember(&self.departments, jurisdiction_id, list.clone());
        Ok(list)
    }

    /// The principal behind an `api_key` parameter. Good keys are reused
    /// for a second, so a busy client costs one key look-up a second, not
    /// one per call (a revoked key stops working within that second).
    pub async fn api_key(&self, key: &str) -> Result<Principal, ApiError> {
        let key = key.trim();
        if let Some(p) = cached(&self.keys, key) {
            return Ok(p);
        }
        let p = self.api.access.api_key(key).await.map_err(ApiError::open311_key)?;
        remember(&self.keys, key, p.clone());
        Ok(p)
    }

    /// Who is calling with a key: the `api_key` parameter if given, else
    /// an API key sent as `Authorization: Bearer` / `X-Api-Key`.
    pub async fn key_holder(
        &self,
        api_key: Option<&str>,
        auth: &crate::auth::AuthContext,
    ) -> Result<Principal, ApiError> {
        match api_key {
            Some(k) => self.api_key(k).await,
            None if auth.principal.kind == townhall_access::PrincipalKind::ApiClient => Ok(auth.principal.clone()),
            None => Err(Open311Error::ApiKeyRequired.into()),
        }
    }
}

/// The Open311 routes, to be nested at `/open311/v2`. Starts the token
/// worker when called inside a tokio runtime.
pub fn router(state: Arc<ApiState>) -> Router {
    let o = Arc::new(Open311 {
        api: state,
        wake: Arc::new(tokio::sync::Notify::new()),
        services: RwLock::new(HashMap::new()),
        departments: RwLock::new(HashMap::new()),
        keys: RwLock::new(HashMap::new()),
    });
    tokens::spawn_worker(&o);
    let mut r = Router::new();
    for ext in ["xml", "json"] {
        r = r
            .route(&format!("/discovery.{ext}"), get(catalog::discovery))
            .route(&format!("/services.{ext}"), get(catalog::services))
            .route(
                &format!("/requests.{ext}"),
                get(requests::search).post(requests::submit),
            )
            .route(
                &format!("/servicerequestupdates.{ext}"),
                get(updates::feed).post(updates::push),
            );
    }
    r.route("/services/{file}", get(catalog::definition))
        .route("/requests/{file}", get(requests::one))
        .route("/tokens/{file}", get(tokens::token))
        .route("/media/{id}", get(requests::photo))
        .route("/openapi.json", get(catalog::openapi))
        .fallback(not_found)
        .with_state(o)
}

/// The format named by the last path segment's suffix (JSON when unknown,
/// for the error that follows).
pub(crate) fn fmt_of(path: &str) -> Fmt {
    path.rsplit('/')
        .next()
        .and_then(format::split_ext)
        .and_then(|(_, ext)| Fmt::parse(ext))
        .unwrap_or(Fmt::Json)
}

/// `name.fmt` → `(name, fmt)`, or `UNSUPPORTED_FORMAT`.
pub(crate) fn name_and_fmt(file: &str) -> Result<(&str, Fmt), ApiError> {
    let (name, ext) = format::split_ext(file).ok_or_else(|| Open311Error::UnsupportedFormat(String::new()))?;
    let fmt = Fmt::parse(ext).ok_or_else(|| Open311Error::UnsupportedFormat(ext.chars().take(16).collect()))?;
    Ok((name, fmt))
}

/// An error as Open311 lists it, with the specification's statuses: 404
/// for unknown things, 403 for key problems, 400 for the rest (server
/// faults stay 5xx).
pub(crate) fn fail(fmt: Fmt, e: ApiError) -> Response {
    let status = match e.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND => StatusCode::NOT_FOUND,
        s if s.is_server_error() => s,
        _ => StatusCode::BAD_REQUEST,
    };
    let items = e.open311_items().into_iter().map(|(c, d)| (c.to_owned(), d)).collect();
    error_list(fmt, status, items)
}

/// `[{code, description}]` (XML `errors/error`).
pub(crate) fn error_list(fmt: Fmt, status: StatusCode, items: Vec<(String, String)>) -> Response {
    let items = items
        .into_iter()
        .map(|(code, description)| V::Obj(vec![("code", V::Str(code)), ("description", V::Str(description))]))
        .collect();
    format::respond(fmt, status, "errors", &V::List("error", items))
}

pub(crate) fn ok(fmt: Fmt, status: StatusCode, root: &str, v: &V) -> Response {
    format::respond(fmt, status, root, v)
}

async fn not_found(req: Request) -> Response {
    let fmt = fmt_of(req.uri().path());
    fail(
        fmt,
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such Open311 endpoint"),
    )
}

/// ISO 8601 with the jurisdiction's offset, to the second.
pub(crate) fn datetime(t: DateTime<Utc>, tz: Tz) -> V {
    V::Str(t.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The scheme and host the client used, for absolute URLs (photos,
/// discovery). Forwarded headers count only behind a trusted proxy.
pub(crate) fn base_url(api: &ApiState, headers: &axum::http::HeaderMap) -> String {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(',').next().unwrap_or("").trim().to_owned())
    };
    let forwarded_host = if api.config.trust_proxy {
        h("x-forwarded-host")
    } else {
        None
    };
    let scheme = if api.config.trust_proxy {
        h("x-forwarded-proto")
    } else {
        None
    }
    .filter(|p| p == "https" || p == "http")
    .unwrap_or_else(|| "http".to_owned());
    match forwarded_host
        .or_else(|| h("host"))
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
    {
        Some(host) => format!("{scheme}://{host}"),
        None => api.access.config().public_url.trim_end_matches('/').to_owned(),
    }
}
