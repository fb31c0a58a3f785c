//! What the store hands out and takes in: plain records built from domain
//! types. Private fields (the reporter) are separate records, fetched only
//! by callers that are allowed to see them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use townhall_domain::intake::{BoundingBox, Channel, ValidIntake};
use townhall_domain::sla::SlaCalendar;
use townhall_domain::{EventKind, Priority, Status};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jurisdiction {
    pub id: String,
    pub name: String,
    pub timezone: chrono_tz::Tz,
    pub bounds: Option<BoundingBox>,
    pub holidays: Vec<NaiveDate>,
    pub is_default: bool,
}

impl Jurisdiction {
    pub fn calendar(&self) -> SlaCalendar {
        SlaCalendar::new(self.timezone, self.holidays.iter().copied())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub jurisdiction_id: String,
    pub code: String,
    pub name: String,
    pub description: String,
    pub email: Option<String>,
}

/// A service request with every column, private ones included. What a
/// caller may show of it is decided above the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub id: Uuid,
    pub jurisdiction_id: String,
    pub tracking_number: String,
    pub service_code: String,
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub department_code: Option<String>,
    pub queue: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expected_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub channel: Channel,
    pub reporter_id: Option<Uuid>,
    pub attributes: Value,
    pub media_url: Option<String>,
    pub device_id: Option<String>,
    pub merged_into: Option<Uuid>,
    pub public: bool,
    pub version: i32,
}

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A signed-in person (staff, resident, administrator).
    User,
    /// The (possibly anonymous) person who reported the request.
    Reporter,
    /// A plugin, named by its id.
    Plugin,
    /// Townhall itself (SLA escalation, imports).
    System,
    /// An API client, named by its key id.
    ApiClient,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Reporter => "reporter",
            ActorKind::Plugin => "plugin",
            ActorKind::System => "system",
            ActorKind::ApiClient => "api_client",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ActorKind::User,
            ActorKind::Reporter,
            ActorKind::Plugin,
            ActorKind::System,
            ActorKind::ApiClient,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
        }
    }

    pub fn reporter() -> Self {
        Self {
            kind: ActorKind::Reporter,
            id: None,
        }
    }

    pub fn user(id: Uuid) -> Self {
        Self {
            kind: ActorKind::User,
            id: Some(id.to_string()),
        }
    }

    pub fn plugin(id: &str) -> Self {
        Self {
            kind: ActorKind::Plugin,
            id: Some(id.to_owned()),
        }
    }
}

/// One entry of a request's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: Uuid,
    pub request_id: Uuid,
    pub kind: EventKind,
    pub actor: Actor,
    pub from_status: Option<Status>,
    pub to_status: Option<Status>,
    pub body: Option<String>,
    pub data: Option<Value>,
    pub public: bool,
    pub created_at: DateTime<Utc>,
}

/// A history entry to append. Its id is chosen up front so that outbox
/// payloads written in the same transaction can name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub id: Uuid,
    pub kind: EventKind,
    pub actor: Actor,
    pub from_status: Option<Status>,
    pub to_status: Option<Status>,
    pub body: Option<String>,
    pub data: Option<Value>,
}

impl NewEvent {
    pub fn new(kind: EventKind, actor: Actor) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind,
            actor,
            from_status: None,
            to_status: None,
            body: None,
            data: None,
        }
    }
}

/// The private contact record behind a request's reporter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub anonymized: bool,
}

/// After-commit work to enqueue with a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxSpec {
    pub consumer: String,
    pub topic: String,
    pub payload: Value,
}

/// A claimed unit of after-commit work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: i64,
    pub jurisdiction_id: String,
    pub consumer: String,
    pub topic: String,
    pub aggregate_id: Option<Uuid>,
    pub payload: Value,
    /// How many times it has been claimed, this time included.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// A new request, validated and routed, ready to commit.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    /// Chosen by the caller (see `townhall_domain::ids::id_at`).
    pub id: Uuid,
    pub jurisdiction_id: String,
    /// Year the tracking number is counted in (the jurisdiction's local year).
    pub tracking_year: i32,
    pub intake: ValidIntake,
    pub status: Status,
    pub priority: Priority,
    pub department_code: Option<String>,
    pub queue: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub expected_at: Option<DateTime<Utc>>,
    pub channel: Channel,
    pub public: bool,
}

/// Columns a workflow step may change. `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestPatch {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub department_code: Option<Option<String>>,
    pub queue: Option<Option<String>>,
    pub assignee_id: Option<Option<Uuid>>,
    pub expected_at: Option<Option<DateTime<Utc>>>,
    pub closed_at: Option<Option<DateTime<Utc>>>,
    pub merged_into: Option<Option<Uuid>>,
    pub public: Option<bool>,
}

impl RequestPatch {
    pub fn is_empty(&self) -> bool {
        *self == RequestPatch::default()
    }
}

/// What a workflow step decided, applied atomically by the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    pub patch: RequestPatch,
    pub events: Vec<NewEvent>,
    pub outbox: Vec<OutboxSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// Filters for listing requests. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestQuery {
    pub jurisdiction_id: String,
    pub ids: Vec<Uuid>,
    pub tracking_numbers: Vec<String>,
    pub statuses: Vec<Status>,
    pub service_codes: Vec<String>,
    pub department_codes: Vec<String>,
    pub requested_from: Option<DateTime<Utc>>,
    pub requested_to: Option<DateTime<Utc>>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    pub bbox: Option<BoundingBox>,
    pub public_only: bool,
    /// With `public_only`: non-public requests of these departments are
    /// still listed (the caller may read them there).
    pub also_private_in: Vec<String>,
    pub reporter_user_id: Option<Uuid>,
    /// Keyset cursor: only requests strictly after this id in `order`.
    pub after: Option<Uuid>,
    pub order: Order,
    pub limit: u64,
    /// Skip this many rows first (Open311 `page`); prefer `after`.
    pub offset: u64,
}
