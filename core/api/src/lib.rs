//! Townhall's HTTP surface.
//!
//! - `/graphql`: the GraphQL API (GraphiQL in a browser on GET);
//! - `/healthz`, `/readyz`, `/metrics`: operations.
//!
//! Every request gets an `x-request-id` (kept if the client sent one),
//! is authenticated into a principal ([`auth`]), measured per route
//! ([`ops::measure`]), bounded in size and time, and shielded from panics.
//!
//! **Must never:** contain domain rules (they live in `townhall-domain`),
//! talk to the database except through `townhall-store`/`townhall-intake`,
//! or put an internal error's text into a response.

pub mod auth;
pub mod error;
pub mod graphql;
mod open311;
pub mod ops;
pub mod sso;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use state::{ApiConfig, ApiState, BuildInfo};

/// The largest multipart body (a plugin component upload).
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// Refuses JSON bodies larger than `max_body_bytes` before reading them.
async fn json_limit(
    axum::extract::State(state): axum::extract::State<Arc<ApiState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let len = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if !multipart && len.is_some_and(|l| l > state.config.max_body_bytes) {
        return error::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            format!("the body is larger than {} bytes", state.config.max_body_bytes),
        )
        .into_response();
    }
    if !multipart {
        let (parts, body) = req.into_parts();
        return match axum::body::to_bytes(body, state.config.max_body_bytes).await {
            Ok(bytes) => {
                next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes)))
                    .await
            }
            Err(_) => error::ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                format!("the body is larger than {} bytes", state.config.max_body_bytes),
            )
            .into_response(),
        };
    }
    next.run(req).await
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP application.
pub fn router(state: Arc<ApiState>) -> Router {
    let schema = graphql::schema(state.clone());
    let gql = Router::new()
        .route("/graphql", get(graphql::graphiql).post(graphql::graphql))
        .with_state(schema)
        .layer(axum::middleware::from_fn_with_state(state.clone(), json_limit))
        // Multipart requests carry plugin components; JSON is held to
        // `max_body_bytes` by `json_limit`.
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    let ops = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/auth/providers", get(sso::providers))
        .route("/auth/oidc/{provider}/login", get(sso::login))
        .route("/auth/oidc/{provider}/callback", get(sso::callback))
        .route("/auth/session", get(sso::session))
        .with_state(state.clone());

    Router::new()
        .merge(gql)
        .merge(ops)
        .nest("/open311/v2", open311::router(state.clone()))
        .fallback(|| async { error::ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(axum::middleware::from_fn(ops::measure))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            error::ApiError::internal("a handler panicked").into_response_owned()
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_owned();
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
