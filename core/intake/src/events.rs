//! The payload of outbox rows about requests: what after-commit consumers
//! (search, plugins, notifications) are told happened. Consumers load the
//! request itself from the store when they need more.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use townhall_domain::EventKind;
use townhall_store::{NewEvent, OutboxSpec};

/// Outbox topics.
pub mod topic {
    pub const CREATED: &str = "request.created";
    pub const STATUS_CHANGED: &str = "request.status_changed";
    pub const NOTE_ADDED: &str = "request.note_added";
    pub const ASSIGNED: &str = "request.assigned";
    pub const MERGED: &str = "request.merged";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    pub id: Uuid,
    pub kind: EventKind,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    /// The text of a public note; internal notes are never copied here.
    pub public_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEvent {
    pub request_id: Uuid,
    pub service_code: String,
    /// The request's status after the change.
    pub status: String,
    pub events: Vec<EventSummary>,
}

impl RequestEvent {
    pub fn new(request_id: Uuid, service_code: &str, status: &str, events: &[NewEvent]) -> Self {
        Self {
            request_id,
            service_code: service_code.to_owned(),
            status: status.to_owned(),
            events: events
                .iter()
                .map(|e| EventSummary {
                    id: e.id,
                    kind: e.kind,
                    from_status: e.from_status.map(|s| s.as_str().to_owned()),
                    to_status: e.to_status.map(|s| s.as_str().to_owned()),
                    public_note: if e.kind == EventKind::PublicNote {
                        e.body.clone()
                    } else {
                        None
                    },
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// One outbox row per consumer for the same topic and payload.
pub fn fan_out(consumers: &[String], topic: &str, payload: &serde_json::Value) -> Vec<OutboxSpec> {
    consumers
        .iter()
        .map(|c| OutboxSpec {
            consumer: c.clone(),
            topic: topic.to_owned(),
            payload: payload.clone(),
        })
        .collect()
}
