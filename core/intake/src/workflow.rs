//! What staff (and plugins, and back offices) do to a request after intake:
//! change its status, add notes, assign it, merge duplicates. Each is one
//! transaction that appends to the history and enqueues outbox work.

use serde_json::json;
use townhall_domain::ids::RequestRef;
use townhall_domain::intake::{MAX_NOTE_LEN, check_description};
use townhall_domain::{DomainError, EventKind, Status};
use townhall_store::{Actor, Change, EventRecord, NewEvent, RequestPatch, RequestRecord, StoreError};
use uuid::Uuid;

use crate::Intake;
use crate::error::IntakeError;
use crate::events::{self, RequestEvent};

/// A status change with optional notes.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub to: Status,
    /// Shown to the public and the reporter.
    pub public_note: Option<String>,
    /// Shown only to staff of the responsible department and administrators.
    pub internal_note: Option<String>,
}

fn note(field: &str, body: &Option<String>) -> Result<Option<String>, DomainError> {
    match body {
        None => Ok(None),
        Some(b) => check_description(field, b, MAX_NOTE_LEN)
            .map(Some)
            .map_err(|e| DomainError::Invalid(vec![e])),
    }
}

impl Intake {
    /// Resolves an id or tracking number to a request id in a jurisdiction.
    pub async fn resolve(&self, jurisdiction_id: &str, reference: &str) -> Result<RequestRecord, IntakeError> {
        let r = match reference.parse::<RequestRef>()? {
            RequestRef::Id(id) => self.store.request(jurisdiction_id, id).await,
            RequestRef::Tracking(t) => self.store.request_by_tracking(jurisdiction_id, &t.to_string()).await,
        };
        Ok(r?)
    }

    async fn apply<F>(
        &self,
        jurisdiction_id: &str,
        id: Uuid,
        topic: &'static str,
        decide: F,
    ) -> Result<(RequestRecord, Vec<EventRecord>), IntakeError>
    where
        F: FnOnce(&RequestRecord) -> Result<(RequestPatch, Vec<NewEvent>), DomainError> + Send,
    {
        let service = self.store.request(jurisdiction_id, id).await?.service_code;
        let service = self.store.service(jurisdiction_id, &service).await?;
        let consumers = self.consumers_for(&service);
        let now = self.clock.now();
        let (record, events) = self
            .store
            .update_request(jurisdiction_id, id, now, |cur| {
                let (patch, events) = decide(cur)?;
                let status = patch.status.unwrap_or(cur.status);
                let payload = RequestEvent::new(cur.id, &cur.service_code, status.as_str(), &events).to_json();
                let outbox = if events.is_empty() {
                    vec![]
                } else {
                    events::fan_out(&consumers, topic, &payload)
                };
                Ok(Change { patch, events, outbox })
            })
            .await?;
        if !consumers.is_empty() && !events.is_empty() {
            self.wake.notify_one();
        }
        Ok((record, events))
    }

    /// Moves a request to another status, with optional public and internal notes.
    pub async fn change_status(
        &self,
        jurisdiction_id: &str,
        id: Uuid,
        change: StatusChange,
        actor: Actor,
    ) -> Result<(RequestRecord, Vec<EventRecord>), IntakeError> {
        let public_note = note("publicNote", &change.public_note)?;
        let internal_note = note("internalNote", &change.internal_note)?;
        let now = self.clock.now();
        let to = change.to;
        let out = self
            .apply(jurisdiction_id, id, events::topic::STATUS_CHANGED, move |cur| {
                cur.status.check_transition(to)?;
                let mut ev = NewEvent::new(EventKind::StatusChanged, actor.clone());
                ev.from_status = Some(cur.status);
                ev.to_status = Some(to);
                let mut evs = vec![ev];
                if let Some(body) = public_note {
                    let mut n = NewEvent::new(EventKind::PublicNote, actor.clone());
                    n.body = Some(body);
                    evs.push(n);
                }
                if let Some(body) = internal_note {
                    let mut n = NewEvent::new(EventKind::InternalNote, actor);
                    n.body = Some(body);
                    evs.push(n);
                }
                let patch = RequestPatch {
                    status: Some(to),
                    closed_at: Some(if to.is_closed() { Some(now) } else { None }),
                    ..Default::default()
                };
                Ok((patch, evs))
            })
            .await?;
        tracing::info!(request_id = %id, to = to.as_str(), "status changed");
        Ok(out)
    }

    /// Adds a public or internal note.
    pub async fn add_note(
        &self,
        jurisdiction_id: &str,
        id: Uuid,
        body: &str,
        public: bool,
        actor: Actor,
    ) -> Result<(RequestRecord, EventRecord), IntakeError> {
        let body = check_description("body", body, MAX_NOTE_LEN).map_err(|e| DomainError::Invalid(vec![e]))?;
        let kind = if public {
            EventKind::PublicNote
        } else {
            EventKind::InternalNote
        };
        let (record, mut events) = self
            .apply(jurisdiction_id, id, events::topic::NOTE_ADDED, move |_| {
                let mut n = NewEvent::new(kind, actor);
                n.body = Some(body);
                Ok((RequestPatch::default(), vec![n]))
            })
            .await?;
        let event = events
            .pop()
            .ok_or_else(|| IntakeError::Internal("note not recorded".into()))?;
        Ok((record, event))
    }

    /// Assigns a request to a staff member and/or a queue (crew); `None`
    /// for both unassigns it.
    pub async fn assign(
        &self,
        jurisdiction_id: &str,
        id: Uuid,
        assignee: Option<Uuid>,
        queue: Option<String>,
        actor: Actor,
    ) -> Result<(RequestRecord, Vec<EventRecord>), IntakeError> {
        if let Some(user) = assignee {
            match self.store.user(user).await {
                Ok(u) if !u.disabled => {}
                Ok(_) | Err(StoreError::NotFound { .. }) => {
                    return Err(DomainError::field(
                        "assigneeId",
                        "UNKNOWN_ASSIGNEE",
                        format!("no active user `{user}` to assign to"),
                    )
                    .into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        let queue = match queue.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()) {
            Some(q) if q.chars().count() > 100 || q.chars().any(char::is_control) => {
                return Err(DomainError::field(
                    "queue",
                    "INVALID_QUEUE",
                    "a queue name is at most 100 plain characters",
                )
                .into());
            }
            q => q,
        };
        self.apply(jurisdiction_id, id, events::topic::ASSIGNED, move |cur| {
            if cur.status.is_closed() {
                return Err(DomainError::field(
                    "status",
                    "REQUEST_CLOSED",
                    "a closed request cannot be assigned; reopen it first",
                ));
            }
            let mut ev = NewEvent::new(EventKind::Assigned, actor);
            ev.data = Some(json!({
                "assignee_id": assignee,
                "previous_assignee_id": cur.assignee_id,
                "queue": queue,
                "previous_queue": cur.queue,
            }));
            let patch = RequestPatch {
                assignee_id: Some(assignee),
                queue: Some(queue),
                ..Default::default()
            };
            Ok((patch, vec![ev]))
        })
        .await
    }

    /// Marks `duplicate` as a duplicate of `into`: it is closed with status
    /// `duplicate`, points at the surviving request, and both histories say so.
    pub async fn merge(
        &self,
        jurisdiction_id: &str,
        duplicate: Uuid,
        into: Uuid,
        public_note: Option<String>,
        actor: Actor,
    ) -> Result<(RequestRecord, RequestRecord), IntakeError> {
        if duplicate == into {
            return Err(
                DomainError::field("intoId", "MERGE_INTO_SELF", "a request cannot be merged into itself").into(),
            );
        }
        let public_note = note("publicNote", &public_note)?;
        let now = self.clock.now();
        let dup_row = self.store.request(jurisdiction_id, duplicate).await?;
        let into_row = self.store.request(jurisdiction_id, into).await?;
        let dup_service = self.store.service(jurisdiction_id, &dup_row.service_code).await?;
        let into_service = self.store.service(jurisdiction_id, &into_row.service_code).await?;
        let dup_consumers = self.consumers_for(&dup_service);
        let into_consumers = self.consumers_for(&into_service);
        let mut out = self
            .store
            .update_requests(jurisdiction_id, &[duplicate, into], now, move |rows| {
                let (dup, surv) = match rows {
                    [d, s] => (d, s),
                    _ => return Err(DomainError::MalformedId("merge".into())),
                };
                if surv.merged_into.is_some() || surv.status == Status::Duplicate {
                    return Err(DomainError::field(
                        "intoId",
                        "MERGE_TARGET_IS_DUPLICATE",
                        format!(
                            "{} is itself a duplicate; merge into the request it was merged into",
                            surv.tracking_number
                        ),
                    ));
                }
                dup.status.check_any(Status::Duplicate)?;
                let mut d_ev = NewEvent::new(EventKind::Merged, actor.clone());
                d_ev.from_status = Some(dup.status);
                d_ev.to_status = Some(Status::Duplicate);
                d_ev.data =
                    Some(json!({ "merged_into": surv.id, "merged_into_tracking_number": surv.tracking_number }));
                let mut d_events = vec![d_ev];
                if let Some(body) = public_note {
                    let mut n = NewEvent::new(EventKind::PublicNote, actor.clone());
                    n.body = Some(body);
                    d_events.push(n);
                }
                let mut s_ev = NewEvent::new(EventKind::Merged, actor);
                s_ev.data = Some(json!({ "absorbed": dup.id, "absorbed_tracking_number": dup.tracking_number }));
                let s_events = vec![s_ev];
                let d_payload =
                    RequestEvent::new(dup.id, &dup.service_code, Status::Duplicate.as_str(), &d_events).to_json();
                let s_payload =
                    RequestEvent::new(surv.id, &surv.service_code, surv.status.as_str(), &s_events).to_json();
                Ok(vec![
                    Change {
                        patch: RequestPatch {
                            status: Some(Status::Duplicate),
                            merged_into: Some(Some(surv.id)),
                            closed_at: Some(Some(now)),
                            ..Default::default()
                        },
                        outbox: events::fan_out(&dup_consumers, events::topic::MERGED, &d_payload),
                        events: d_events,
                    },
                    Change {
                        patch: RequestPatch::default(),
                        outbox: events::fan_out(&into_consumers, events::topic::MERGED, &s_payload),
                        events: s_events,
                    },
                ])
            })
            .await?;
        self.wake.notify_one();
        let (surv, _) = out
            .pop()
            .ok_or_else(|| IntakeError::Internal("merge lost a row".into()))?;
        let (dup, _) = out
            .pop()
            .ok_or_else(|| IntakeError::Internal("merge lost a row".into()))?;
        tracing::info!(duplicate = %dup.id, into = %surv.id, "requests merged");
        Ok((dup, surv))
    }
}
