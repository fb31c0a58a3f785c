//! Operations endpoints: liveness, readiness, Prometheus metrics, and the
//! middleware that measures every route.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::ApiState;

/// Installs the process-wide metrics recorder (once) and returns its handle.
pub fn install_metrics() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("townhall_http_request_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
                )
                .ok()
                .and_then(|b| b.install_recorder().ok())
        })
        .clone()
}

/// Counts and times every request by route template (never by raw path,
/// which would put ids into label values).
pub async fn measure(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("townhall_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("townhall_http_request_duration_seconds", "route" => route, "method" => method)
        .record(start.elapsed().as_secs_f64());
    resp
}

pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, axum::Json(serde_json::json!({ "status": "ok" })))
}

pub async fn readyz(State(state): State<Arc<ApiState>>) -> Response {
    match state.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ready", "database": "ok" })),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "not ready", "database": "unreachable" })),
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    let Some(handle) = &state.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are disabled").into_response();
    };
    let pool = state.store().pool_stats();
    metrics::gauge!("townhall_db_pool_connections", "pool" => "read", "state" => "total")
        .set(f64::from(pool.read_size));
    metrics::gauge!("townhall_db_pool_connections", "pool" => "read", "state" => "idle").set(f64::from(pool.read_idle));
    metrics::gauge!("townhall_db_pool_connections", "pool" => "write", "state" => "total")
        .set(f64::from(pool.write_size));
    metrics::gauge!("townhall_db_pool_connections", "pool" => "write", "state" => "idle")
        .set(f64::from(pool.write_idle));
    if let Ok(stats) = state.store().outbox_stats().await {
        metrics::gauge!("townhall_outbox_items", "state" => "pending").set(stats.pending as f64);
        metrics::gauge!("townhall_outbox_items", "state" => "dead").set(stats.dead as f64);
    }
    let b = &state.config.build;
    metrics::gauge!("townhall_build_info", "version" => b.version, "backend" => b.backend).set(1.0);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response()
}
