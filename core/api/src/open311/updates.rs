//! The FixMyStreet-style updates extension:
//!
//! - `GET servicerequestupdates.fmt?start_date&end_date`: public status
//!   changes and public notes of public requests, oldest first, as
//!   `service_requests_updates/request_update` items (`update_id`,
//!   `service_request_id`, `status` in FixMyStreet's names, `updated_datetime`,
//!   `description`, `media_url`). A status change and the note written with
//!   it are one update.
//! - `POST servicerequestupdates.fmt`: a back office holding an API key with
//!   the `requests:update` scope pushes a status (Open311's `open`/`closed`
//!   or any richer status, FixMyStreet's names included) and/or a public
//!   note through the workflow (`Intake::change_status` / `add_note`).
//!
//! **Must never:** list internal notes, assignments or anything of a
//! non-public request; change a request without the workflow's rules.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use townhall_access::{Action, actor};
use townhall_domain::{EventKind, Status};
use townhall_intake::StatusChange;
use townhall_store::{EventRecord, RequestQuery};
use uuid::Uuid;

use super::params::Params;
use super::requests::read_body;
use super::{Open311, V, datetime, fail, fmt_of, ok};
use crate::auth::AuthContext;
use crate::error::{ApiError, Open311Error};

/// At most this many updates per call.
const MAX_UPDATES: u64 = 1000;

/// `GET servicerequestupdates.fmt`.
pub async fn feed(State(o): State<Arc<Open311>>, RawQuery(q): RawQuery, req: Request) -> Response {
    let fmt = fmt_of(req.uri().path());
    match feed_inner(&o, Params::parse(q.unwrap_or_default().as_bytes())).await {
        Ok(v) => ok(fmt, StatusCode::OK, "service_requests_updates", &v),
        Err(e) => fail(fmt, e),
    }
}

async fn feed_inner(o: &Open311, p: Params) -> Result<V, ApiError> {
    let j = o.jurisdiction(p.get("jurisdiction_id")).await?;
    let tz = j.timezone;
    let now = o.api.intake.clock().now();
    let end = p.date("end_date", tz)?;
    let start = p
        .date("start_date", tz)?
        .or_else(|| end.unwrap_or(now).checked_sub_signed(Duration::days(90)));
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(
            Open311Error::InvalidParameter("start_date".into(), "`start_date` is after `end_date`".into()).into(),
        );
    }
    let limit = p.u64("page_size", 1, MAX_UPDATES)?.unwrap_or(MAX_UPDATES);
    let store = o.api.store();
    let events = store
        .events_between(
            &j.id,
            &[EventKind::StatusChanged, EventKind::PublicNote, EventKind::Merged],
            start,
            end,
            true,
            limit,
        )
        .await?;
    let mut ids: Vec<Uuid> = events.iter().map(|e| e.request_id).collect();
    ids.sort();
    ids.dedup();
    let requests: HashMap<Uuid, townhall_store::RequestRecord> = if ids.is_empty() {
        HashMap::new()
    } else {
        store
            .open311_requests(&RequestQuery {
                jurisdiction_id: j.id.clone(),
                ids: ids.clone(),
                public_only: true,
                limit: ids.len() as u64,
                ..Default::default()
            })
            .await?
            .into_iter()
            .map(|(r, _)| (r.id, r))
            .collect()
    };
    // A status change and the note written with it (same request, same
    // instant) are one update.
    let mut groups: Vec<Vec<&EventRecord>> = Vec::new();
    for e in &events {
        if !requests.contains_key(&e.request_id) {
            continue;
        }
        match groups.last_mut() {
            Some(g)
                if g.first()
                    .is_some_and(|f| f.request_id == e.request_id && f.created_at == e.created_at) =>
            {
                g.push(e)
            }
            _ => groups.push(vec![e]),
        }
    }
    let mut items = Vec::with_capacity(groups.len());
    for g in groups {
        let Some(first) = g.first() else { continue };
        let Some(r) = requests.get(&first.request_id) else {
            continue;
        };
        let status = g.iter().find_map(|e| e.to_status).unwrap_or(r.status);
        let description = g.iter().find_map(|e| e.body.clone());
        if g.iter().all(|e| e.kind == EventKind::Merged && e.to_status.is_none()) {
            // The surviving side of a merge changes nothing the public sees.
            continue;
        }
        items.push(V::Obj(vec![
            ("update_id", V::Str(first.id.to_string())),
            ("service_request_id", V::str(&r.tracking_number)),
            ("status", V::str(status.update_feed_name())),
            ("updated_datetime", datetime(first.created_at, tz)),
            ("description", V::opt_str(description)),
            ("media_url", V::Null),
        ]));
    }
    Ok(V::List("request_update", items))
}

/// `POST servicerequestupdates.fmt`.
pub async fn push(
    State(o): State<Arc<Open311>>,
    Extension(auth): Extension<AuthContext>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    let fmt = fmt_of(req.uri().path());
    match push_inner(&o, &auth, q, req).await {
        Ok(v) => ok(fmt, StatusCode::OK, "service_requests_updates", &v),
        Err(e) => fail(fmt, e),
    }
}

async fn push_inner(o: &Open311, auth: &AuthContext, q: Option<String>, req: Request) -> Result<V, ApiError> {
    let incoming = read_body(q, req).await?;
    let p = &incoming.params;
    let who = o.key_holder(p.get("api_key"), auth).await?;
    let j = o.jurisdiction(p.get("jurisdiction_id")).await?;
    let reference = p.get("service_request_id").ok_or_else(|| {
        Open311Error::InvalidParameter("service_request_id".into(), "`service_request_id` is required".into())
    })?;
    let status = p.get("status").map(str::parse::<Status>).transpose()?;
    let description = p.owned("description");
    if status.is_none() && description.is_none() {
        return Err(Open311Error::InvalidParameter(
            "status".into(),
            "give a `status`, a `description`, or both".into(),
        )
        .into());
    }
    let record = o.api.intake.resolve(&j.id, reference).await?;
    let dept = record.department_code.as_deref();
    // Open311's `open` on a closed request means "reopen"; on an open one,
    // no change of status.
    let target = match status {
        Some(Status::Open) if record.status.is_closed() => Some(Status::Reopened),
        Some(Status::Open) => None,
        Some(s) if s == record.status => None,
        other => other,
    };
    if target.is_some() && !o.api.access.can(&who, Action::ChangeStatus, dept) {
        return Err(Open311Error::KeyScope("change statuses", "requests:update").into());
    }
    if description.is_some() && !o.api.access.can(&who, Action::AddPublicNote, dept) {
        return Err(Open311Error::KeyScope("add public notes", "requests:update").into());
    }
    let intake = &o.api.intake;
    let update_id = match (target, description) {
        (Some(to), note) => {
            let (_, events) = intake
                .change_status(
                    &j.id,
                    record.id,
                    StatusChange {
                        to,
                        public_note: note,
                        internal_note: None,
                    },
                    actor(&who),
                )
                .await?;
            events.first().map(|e| e.id)
        }
        (None, Some(note)) => Some(intake.add_note(&j.id, record.id, &note, true, actor(&who)).await?.1.id),
        (None, None) => {
            return Err(Open311Error::InvalidParameter(
                "status".into(),
                format!(
                    "the request is already `{}`; there is nothing to update",
                    record.status.update_feed_name()
                ),
            )
            .into());
        }
    };
    let update_id = update_id.ok_or_else(|| ApiError::internal("a status change recorded no event"))?;
    Ok(V::List(
        "request_update",
        vec![V::Obj(vec![("update_id", V::Str(update_id.to_string()))])],
    ))
}
