//! Token mode: for services configured to answer with a `token`, `POST
//! requests` checks what it can at once (the catalog and the domain rules,
//! so bad input still gets a 400), stores the submission durably, and
//! answers with a token. A background worker then runs each stored
//! submission through [`townhall_intake::Intake::submit`] (the owning
//! plugin validates and routes it there) and records the request it became;
//! `GET tokens/{token}` resolves the token to that request's id.
//!
//! Nothing accepted is lost: the submission is committed before the answer
//! goes out, claims are leases (a worker that dies leaves its claims to be
//! taken again), and transient failures (database, plugin faults) are
//! retried with backoff. A worker that dies between committing the request
//! and recording it may process a submission twice (at least once, never
//! zero times).
//!
//! **Must never:** answer with a token before the submission is committed,
//! or drop a submission on a transient failure.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use townhall_domain::intake::{Channel, IntakeInput};
use townhall_domain::service::ServiceDefinition;
use townhall_intake::IntakeError;
use townhall_store::{Actor, Jurisdiction, PendingSubmission, StoreError, SubmissionState};
use uuid::Uuid;

use super::params::Params;
use super::requests::{PreparedPhoto, store_photo};
use super::{Fmt, Open311, V, error_list, fail, fmt_of, name_and_fmt, ok};
use crate::error::{ApiError, Open311Error};

/// Submissions claimed per round.
const BATCH: u64 = 32;
/// How often to look for work nobody signalled (other replicas, retries).
const POLL: StdDuration = StdDuration::from_millis(500);
/// Plugin faults are retried this many times before the submission is
/// refused; database trouble much longer.
const MAX_PLUGIN_ATTEMPTS: i32 = 5;
const MAX_ATTEMPTS: i32 = 30;
/// How long a claim lasts: a worker that dies leaves its claims to others
/// (or to itself after a restart) when it runs out.
const LEASE: Duration = Duration::seconds(30);

/// What is stored with an accepted submission.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    input: IntakeInput,
    actor: Actor,
    /// The id (and URL, already in `input.media_url`) of its photo.
    photo_id: Option<Uuid>,
    photo_sha256: Option<String>,
}

/// Checks and stores a token-mode submission; returns its token.
pub(crate) async fn accept(
    o: &Open311,
    j: &Jurisdiction,
    service: &ServiceDefinition,
    input: IntakeInput,
    actor: Actor,
    photo: Option<PreparedPhoto>,
) -> Result<String, ApiError> {
    townhall_domain::intake::validate(&input, service, j.bounds.as_ref())?;
    let token = Uuid::new_v4().simple().to_string();
    let (photo_id, photo_sha256, data, content_type) = match photo {
        Some(p) => (
            Some(p.id),
            Some(p.sha256),
            Some(p.clean.data),
            Some(p.clean.content_type.to_owned()),
        ),
        None => (None, None, None, None),
    };
    let payload = serde_json::to_value(Payload {
        input,
        actor,
        photo_id,
        photo_sha256,
    })
    .map_err(ApiError::internal)?;
    let now = o.api.intake.clock().now();
    o.api
        .store()
        .open311_accept(&token, &j.id, payload, data, content_type, now)
        .await?;
    o.wake.notify_one();
    tracing::info!(service = %service.code, "open311 submission accepted in token mode");
    Ok(token)
}

/// Starts the worker that processes token-mode submissions, when called
/// inside a tokio runtime. It stops once the Open311 routes are dropped
/// (the server shut down).
pub(crate) fn spawn_worker(o: &Arc<Open311>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(o);
    let wake = o.wake.clone();
    rt.spawn(async move {
        loop {
            let claimed = match weak.upgrade() {
                Some(o) => process_batch(&o).await,
                None => break,
            };
            if claimed < BATCH as usize {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        }
        tracing::debug!("open311 token worker stopped");
    });
}

async fn process_batch(o: &Open311) -> usize {
    let now = o.api.intake.clock().now();
    let items = match o.api.store().open311_claim(BATCH, LEASE, now).await {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "could not claim open311 submissions");
            return 0;
        }
    };
    for item in &items {
        process_one(o, item).await;
    }
    items.len()
}

fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 12) - 1).unwrap_or(0);
    Duration::seconds(i64::from(2u32.saturating_pow(exp)).min(600))
}

async fn process_one(o: &Open311, item: &PendingSubmission) {
    let store = o.api.store();
    let payload: Payload = match serde_json::from_value(item.payload.clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(token = %item.token, error = %e, "unreadable open311 submission");
            let errors =
                serde_json::json!([{ "code": "INTERNAL", "description": "the stored submission could not be read" }]);
            if let Err(e) = store
                .open311_reject(&item.token, errors, o.api.intake.clock().now())
                .await
            {
                tracing::warn!(token = %item.token, error = %e, "could not record an open311 rejection");
            }
            return;
        }
    };
    let result = o
        .api
        .intake
        .submit(
            Some(&item.jurisdiction_id),
            payload.input,
            Channel::Open311,
            payload.actor,
        )
        .await;
    let now = o.api.intake.clock().now();
    let outcome = match result {
        Ok(sub) => {
            if let (Some(id), Some(data), Some(ct)) = (payload.photo_id, item.photo.clone(), item.photo_type.as_deref())
            {
                let ph = PreparedPhoto {
                    id,
                    url: String::new(),
                    clean: super::media::CleanPhoto {
                        content_type: if ct == "image/png" { "image/png" } else { "image/jpeg" },
                        data,
                    },
                    sha256: payload.photo_sha256.unwrap_or_default(),
                };
                if let Err(e) = store_photo(o, &item.jurisdiction_id, sub.request.id, ph).await {
                    tracing::error!(token = %item.token, error = %e, "could not store an open311 photo");
                }
            }
            tracing::info!(token = %item.token, request_id = %sub.request.id, "open311 token resolved");
            store
                .open311_finish(&item.token, sub.request.id, &sub.request.tracking_number, now)
                .await
        }
        Err(e) => {
            let permanent = match &e {
                IntakeError::Invalid(_)
                | IntakeError::UnknownService(_)
                | IntakeError::UnknownJurisdiction(_)
                | IntakeError::JurisdictionRequired
                | IntakeError::NotFound { .. } => true,
                IntakeError::Plugin(_) => item.attempts >= MAX_PLUGIN_ATTEMPTS,
                _ => item.attempts >= MAX_ATTEMPTS,
            };
            if permanent {
                let api: ApiError = e.into();
                let errors: Vec<serde_json::Value> = api
                    .open311_items()
                    .into_iter()
                    .map(|(code, description)| serde_json::json!({ "code": code, "description": description }))
                    .collect();
                tracing::info!(token = %item.token, code = api.code, "open311 submission refused");
                store
                    .open311_reject(&item.token, serde_json::Value::Array(errors), now)
                    .await
            } else {
                tracing::warn!(token = %item.token, attempts = item.attempts, error = %e, "open311 submission will be retried");
                store
                    .open311_retry(&item.token, now + backoff(item.attempts), now)
                    .await
            }
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(token = %item.token, error = %e, "could not record an open311 submission's outcome");
    }
}

/// `GET tokens/{token}.fmt`: `[{service_request_id, token}]`, the id still
/// null while the submission waits to be processed.
pub async fn token(State(o): State<Arc<Open311>>, Path(file): Path<String>, RawQuery(q): RawQuery) -> Response {
    let fmt = fmt_of(&file);
    let run = async {
        let (token, fmt) = name_and_fmt(&file)?;
        let p = Params::parse(q.unwrap_or_default().as_bytes());
        let j = o.jurisdiction(p.get("jurisdiction_id")).await?;
        if token.is_empty() || token.len() > 64 {
            return Err(ApiError::not_found("token"));
        }
        match o.api.store().open311_submission(&j.id, token).await {
            Ok(state) => Ok((fmt, token.to_owned(), state)),
            Err(StoreError::NotFound { .. }) => Err(ApiError::not_found("token")),
            Err(e) => Err(e.into()),
        }
    };
    match run.await {
        Ok((fmt, token, SubmissionState::Pending)) => resolved(fmt, V::Null, token),
        Ok((fmt, token, SubmissionState::Done { tracking_number, .. })) => {
            resolved(fmt, V::Str(tracking_number), token)
        }
        Ok((fmt, _, SubmissionState::Rejected { errors })) => {
            let first = ApiError::from(Open311Error::SubmissionRejected);
            let mut items = vec![(first.code.to_owned(), first.message)];
            for e in errors.as_array().into_iter().flatten() {
                let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("INVALID_INPUT");
                let description = e.get("description").and_then(|c| c.as_str()).unwrap_or("");
                items.push((code.to_owned(), description.to_owned()));
            }
            error_list(fmt, StatusCode::BAD_REQUEST, items)
        }
        Err(e) => fail(fmt, e),
    }
}

fn resolved(fmt: Fmt, id: V, token: String) -> Response {
    let v = V::List(
        "request",
        vec![V::Obj(vec![("service_request_id", id), ("token", V::Str(token))])],
    );
    ok(fmt, StatusCode::OK, "service_requests", &v)
}
