//! What the Open311 surface needs beyond the shared request queries:
//!
//! - submissions accepted in *token mode*: written durably before the
//!   client gets its token, claimed by a worker (with a lease, `FOR UPDATE
//!   SKIP LOCKED` on PostgreSQL) that runs them through the intake
//!   pipeline, then marked done (with the request id) or rejected;
//! - the Open311 search (`GET requests`), newest first by time requested,
//!   and batch look-ups for a page of results (latest public note, public
//!   history), so a page costs a fixed number of queries;
//! - photos uploaded with a submission (stored with an id chosen up front,
//!   so the request's `media_url` can name it in the same breath).
//!
//! **Must never:** decide what a caller may see (the API filters: it asks
//! for public rows only), or strip photo metadata (the API does that before
//! anything reaches this module).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement,
};
use serde_json::Value;
use townhall_domain::EventKind;
use uuid::Uuid;

use crate::entities::{attachment, event, request};
use crate::entities_open311::submission;
use crate::error::{Result, StoreError};
use crate::records::{EventRecord, RequestQuery, RequestRecord};
use crate::{Backend, Store, convert};

/// A token-mode submission, as claimed by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingSubmission {
    pub token: String,
    pub jurisdiction_id: String,
    /// What the API stored when it accepted the submission.
    pub payload: Value,
    pub photo: Option<Vec<u8>>,
    pub photo_type: Option<String>,
    /// How many times it has been claimed, this time included.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// Where a token-mode submission stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmissionState {
    /// Accepted, not processed yet.
    Pending,
    /// Processed: the request it became.
    Done { request_id: Uuid, tracking_number: String },
    /// The pipeline refused it; `errors` is `[{code, description}]`.
    Rejected { errors: Value },
}

const PENDING: &str = "pending";
const DONE: &str = "done";
const REJECTED: &str = "rejected";

/// Public metadata of an uploaded photo, with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicPhoto {
    pub content_type: String,
    pub sha256: String,
    pub data: Vec<u8>,
}

impl Store {
    /// Stores an accepted token-mode submission. Once this returns, the
    /// submission survives a crash and will be processed.
    #[allow(clippy::too_many_arguments)]
    pub async fn open311_accept(
        &self,
        token: &str,
        jurisdiction_id: &str,
        payload: Value,
        photo: Option<Vec<u8>>,
        photo_type: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        submission::Entity::insert(submission::ActiveModel {
            token: Set(token.to_owned()),
            jurisdiction_id: Set(jurisdiction_id.to_owned()),
            payload: Set(payload),
            photo: Set(photo),
            photo_type: Set(photo_type),
            state: Set(PENDING.to_owned()),
            request_id: Set(None),
            tracking_number: Set(None),
            errors: Set(None),
            attempts: Set(0),
            available_at: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(self.write())
        .await?;
        Ok(())
    }

    /// Claims up to `limit` due submissions, leasing them for `lease`: a
    /// worker that dies leaves them to be claimed again when it runs out.
    pub async fn open311_claim(
        &self,
        limit: u64,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingSubmission>> {
        let until = now + lease;
        let (sql, backend) = match self.backend() {
            Backend::Postgres => (
                "UPDATE open311_submissions SET available_at = $1, attempts = attempts + 1 \
                 WHERE token IN (SELECT token FROM open311_submissions WHERE state = 'pending' \
                 AND available_at <= $2 ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING *",
                DbBackend::Postgres,
            ),
            Backend::Sqlite => (
                "UPDATE open311_submissions SET available_at = ?1, attempts = attempts + 1 \
                 WHERE token IN (SELECT token FROM open311_submissions WHERE state = 'pending' \
                 AND available_at <= ?2 ORDER BY created_at LIMIT ?3) RETURNING *",
                DbBackend::Sqlite,
            ),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .write()
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [until.into(), now.into(), limit.into()],
            ))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let m = submission::Model::from_query_result(&row, "")?;
            out.push(PendingSubmission {
                token: m.token,
                jurisdiction_id: m.jurisdiction_id,
                payload: m.payload,
                photo: m.photo,
                photo_type: m.photo_type,
                attempts: m.attempts,
                created_at: m.created_at,
            });
        }
        out.sort_by_key(|s| s.created_at);
        Ok(out)
    }

    /// Marks a submission processed into `request_id`.
    pub async fn open311_finish(
        &self,
        token: &str,
        request_id: Uuid,
        tracking_number: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        submission::Entity::update_many()
            .col_expr(submission::Column::State, Expr::value(DONE))
            .col_expr(submission::Column::RequestId, Expr::value(Some(request_id)))
            .col_expr(
                submission::Column::TrackingNumber,
                Expr::value(Some(tracking_number.to_owned())),
            )
            // The request holds the data now; the photo copy is not needed.
            .col_expr(submission::Column::Photo, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(submission::Column::UpdatedAt, Expr::value(now))
            .filter(submission::Column::Token.eq(token))
            .exec(self.write())
            .await?;
        Ok(())
    }

    /// Marks a submission refused by the pipeline.
    pub async fn open311_reject(&self, token: &str, errors: Value, now: DateTime<Utc>) -> Result<()> {
        submission::Entity::update_many()
            .col_expr(submission::Column::State, Expr::value(REJECTED))
            .col_expr(submission::Column::Errors, Expr::value(Some(errors)))
            .col_expr(submission::Column::Photo, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(submission::Column::UpdatedAt, Expr::value(now))
            .filter(submission::Column::Token.eq(token))
            .exec(self.write())
            .await?;
        Ok(())
    }

    /// Gives a claimed submission back, to be tried again at `retry_at`.
    pub async fn open311_retry(&self, token: &str, retry_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        submission::Entity::update_many()
            .col_expr(submission::Column::AvailableAt, Expr::value(retry_at))
            .col_expr(submission::Column::UpdatedAt, Expr::value(now))
            .filter(submission::Column::Token.eq(token))
            .filter(submission::Column::State.eq(PENDING))
            .exec(self.write())
            .await?;
        Ok(())
    }

    /// Where the submission behind `token` stands.
    pub async fn open311_submission(&self, jurisdiction_id: &str, token: &str) -> Result<SubmissionState> {
        let m = submission::Entity::find_by_id(token.to_owned())
            .filter(submission::Column::JurisdictionId.eq(jurisdiction_id))
            .one(self.read())
            .await?
            .ok_or_else(|| StoreError::not_found("token", token))?;
        match m.state.as_str() {
            PENDING => Ok(SubmissionState::Pending),
            DONE => match (m.request_id, m.tracking_number) {
                (Some(request_id), Some(tracking_number)) => Ok(SubmissionState::Done {
                    request_id,
                    tracking_number,
                }),
                _ => Err(StoreError::Corrupt(format!(
                    "open311 submission {token} is done without a request"
                ))),
            },
            REJECTED => Ok(SubmissionState::Rejected {
                errors: m.errors.unwrap_or(Value::Array(vec![])),
            }),
            other => Err(StoreError::Corrupt(format!(
                "open311 submission {token} has state `{other}`"
            ))),
        }
    }

    fn open311_condition(q: &RequestQuery) -> Condition {
        use request::Column as C;
        let mut c = Condition::all().add(C::JurisdictionId.eq(q.jurisdiction_id.clone()));
        if !q.ids.is_empty() || !q.tracking_numbers.is_empty() {
            let mut any = Condition::any();
            if !q.ids.is_empty() {
                any = any.add(C::Id.is_in(q.ids.clone()));
            }
            if !q.tracking_numbers.is_empty() {
                any = any.add(C::TrackingNumber.is_in(q.tracking_numbers.clone()));
            }
            c = c.add(any);
        }
        if !q.statuses.is_empty() {
            c = c.add(C::Status.is_in(q.statuses.iter().map(|s| s.as_str())));
        }
        if !q.service_codes.is_empty() {
            c = c.add(C::ServiceCode.is_in(q.service_codes.clone()));
        }
        if let Some(t) = q.requested_from {
            c = c.add(C::RequestedAt.gte(t));
        }
        if let Some(t) = q.requested_to {
            c = c.add(C::RequestedAt.lte(t));
        }
        if let Some(t) = q.updated_from {
            c = c.add(C::UpdatedAt.gte(t));
        }
        if let Some(t) = q.updated_to {
            c = c.add(C::UpdatedAt.lte(t));
        }
        if let Some(b) = q.bbox {
            c = c
                .add(C::Lat.between(b.min_lat, b.max_lat))
                .add(C::Long.between(b.min_long, b.max_long));
        }
        if q.public_only {
            c = c.add(C::Public.eq(true));
        }
        c
    }

    /// The Open311 search: requests matching `q` (ids *or* tracking
    /// numbers, statuses, services, time windows, public only), newest
    /// request first, `q.offset` skipped, at most `q.limit`, each with its
    /// newest public note (Open311 `status_notes`) fetched in the same
    /// query. `q.after`, `q.order`, `q.department_codes`,
    /// `q.also_private_in` and `q.reporter_user_id` are not used.
    pub async fn open311_requests(&self, q: &RequestQuery) -> Result<Vec<(RequestRecord, Option<String>)>> {
        use request::Column as C;
        let notes = Expr::cust(
            "(SELECT e.body FROM request_events e WHERE e.request_id = service_requests.id \
             AND e.kind = 'public_note' AND e.public = TRUE ORDER BY e.id DESC LIMIT 1)",
        );
        let backend = match self.backend() {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        };
        let stmt = request::Entity::find()
            .column_as(notes, "status_notes")
            .filter(Self::open311_condition(q))
            .order_by_desc(C::RequestedAt)
            .order_by_desc(C::Id)
            .offset(q.offset)
            .limit(std::cmp::max(q.limit, 1))
            .build(backend);
        let rows = self.read().query_all_raw(stmt).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let note: Option<String> = row.try_get("", "status_notes")?;
            out.push((convert::request(request::Model::from_query_result(&row, "")?)?, note));
        }
        Ok(out)
    }

    /// The newest public note of each of `ids` that has one.
    pub async fn open311_latest_public_notes(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        use event::Column as C;
        let rows: Vec<(Uuid, Option<String>)> = event::Entity::find()
            .select_only()
            .columns([C::RequestId, C::Body])
            .filter(C::RequestId.is_in(ids.to_vec()))
            .filter(C::Kind.eq(EventKind::PublicNote.as_str()))
            .filter(C::Public.eq(true))
            .order_by_asc(C::Id)
            .into_tuple()
            .all(self.read())
            .await?;
        let mut out = HashMap::new();
        for (id, body) in rows {
            if let Some(b) = body {
                out.insert(id, b);
            }
        }
        Ok(out)
    }

    /// The public history of each of `ids`, oldest first.
    pub async fn open311_public_history(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<EventRecord>>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = event::Entity::find()
            .filter(event::Column::RequestId.is_in(ids.to_vec()))
            .filter(event::Column::Public.eq(true))
            .order_by_asc(event::Column::Id)
            .all(self.read())
            .await?;
        let mut out: HashMap<Uuid, Vec<EventRecord>> = HashMap::new();
        for m in rows {
            let e = convert::event(m)?;
            out.entry(e.request_id).or_default().push(e);
        }
        Ok(out)
    }

    /// Public photos of each of `ids`: `(attachment id, content type)`.
    pub async fn open311_photos(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<(Uuid, String)>>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        use attachment::Column as C;
        let rows: Vec<(Uuid, Uuid, String)> = attachment::Entity::find()
            .select_only()
            .columns([C::Id, C::RequestId, C::ContentType])
            .filter(C::RequestId.is_in(ids.to_vec()))
            .filter(C::Public.eq(true))
            .order_by_asc(C::Id)
            .into_tuple()
            .all(self.read())
            .await?;
        let mut out: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
        for (id, request_id, content_type) in rows {
            out.entry(request_id).or_default().push((id, content_type));
        }
        Ok(out)
    }

    /// Stores a photo (already stripped of metadata) under an id the
    /// caller chose.
    #[allow(clippy::too_many_arguments)]
    pub async fn open311_add_photo(
        &self,
        id: Uuid,
        jurisdiction_id: &str,
        request_id: Uuid,
        content_type: &str,
        sha256: &str,
        data: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        attachment::Entity::insert(attachment::ActiveModel {
            id: Set(id),
            request_id: Set(request_id),
            jurisdiction_id: Set(jurisdiction_id.to_owned()),
            content_type: Set(content_type.to_owned()),
            byte_size: Set(i64::try_from(data.len()).unwrap_or(i64::MAX)),
            sha256: Set(sha256.to_owned()),
            public: Set(true),
            data: Set(data),
            created_at: Set(now),
        })
        .exec_without_returning(self.write())
        .await?;
        Ok(())
    }

    /// A photo anyone may fetch: the attachment is public and so is its
    /// request. `NotFound` otherwise.
    pub async fn open311_public_photo(&self, id: Uuid) -> Result<PublicPhoto> {
        let m = attachment::Entity::find_by_id(id)
            .filter(attachment::Column::Public.eq(true))
            .one(self.read())
            .await?
            .ok_or_else(|| StoreError::not_found("photo", id))?;
        let visible = request::Entity::find_by_id(m.request_id)
            .filter(request::Column::Public.eq(true))
            .select_only()
            .column(request::Column::Id)
            .into_tuple::<Uuid>()
            .one(self.read())
            .await?
            .is_some();
        if !visible {
            return Err(StoreError::not_found("photo", id));
        }
        Ok(PublicPhoto {
            content_type: m.content_type,
            sha256: m.sha256,
            data: m.data,
        })
    }
}
