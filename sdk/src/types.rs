//! The plain Rust types a plugin works with. They mirror the WIT records of
//! `townhall:plugin@0.1.0` one for one, but do not depend on any bindings,
//! so a plugin's logic compiles and tests natively.

use serde::{Deserialize, Serialize};

/// One problem with one input field, shown to the resident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// e.g. `description`, `attribute[SIZE]`, `lat`.
    pub field: String,
    /// A stable machine-readable code, e.g. `POTHOLE_TOO_SMALL`.
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    /// An error about the answer to form question `code` (`attribute[code]`).
    pub fn attribute(code: &str, error_code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(format!("attribute[{code}]"), error_code, message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    /// One step more urgent.
    pub fn raised(self) -> Priority {
        match self {
            Priority::Low => Priority::Medium,
            Priority::Medium => Priority::High,
            Priority::High | Priority::Critical => Priority::Critical,
        }
    }
}

/// A service-level target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sla {
    /// Clock hours, around the clock.
    Hours(u32),
    /// Business days in the jurisdiction's calendar.
    BusinessDays(u32),
}

/// Open311 attribute datatypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    String,
    Number,
    Datetime,
    Text,
    Singlevaluelist,
    Multivaluelist,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub key: String,
    pub name: String,
}

/// One question of a service's intake form (Open311 `attribute`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub code: String,
    /// `false` for an informational attribute that takes no answer.
    pub variable: bool,
    pub datatype: Datatype,
    pub required: bool,
    pub datatype_description: Option<String>,
    pub order: i32,
    /// The question asked of the resident.
    pub description: String,
    pub values: Vec<AttributeValue>,
}

impl Attribute {
    /// A variable, optional question.
    pub fn new(code: &str, datatype: Datatype, description: &str) -> Self {
        Self {
            code: code.to_owned(),
            variable: true,
            datatype,
            required: false,
            datatype_description: None,
            order: 0,
            description: description.to_owned(),
            values: Vec::new(),
        }
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn order(mut self, order: i32) -> Self {
        self.order = order;
        self
    }

    /// Adds allowed values (for list datatypes) as `(key, name)` pairs.
    pub fn values(mut self, values: &[(&str, &str)]) -> Self {
        self.values.extend(values.iter().map(|(k, n)| AttributeValue {
            key: (*k).to_owned(),
            name: (*n).to_owned(),
        }));
        self
    }
}

/// A service the plugin owns in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub code: String,
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    pub keywords: Vec<String>,
    pub attributes: Vec<Attribute>,
    /// The department code requests go to by default.
    pub department: String,
    pub default_priority: Priority,
    pub sla: Sla,
    pub public: bool,
    pub address_sensitive: bool,
    pub anonymous_allowed: bool,
}

impl Service {
    /// A public service anyone may report, with no form questions yet.
    pub fn new(code: &str, name: &str, department: &str, default_priority: Priority, sla: Sla) -> Self {
        Self {
            code: code.to_owned(),
            name: name.to_owned(),
            description: String::new(),
            group: None,
            keywords: Vec::new(),
            attributes: Vec::new(),
            department: department.to_owned(),
            default_priority,
            sla,
            public: true,
            address_sensitive: false,
            anonymous_allowed: true,
        }
    }
}

/// What a department plugin declares about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Lower-case letters, digits and `-`, e.g. `public-works`.
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub services: Vec<Service>,
    /// The request statuses its workflow uses.
    pub workflow: Vec<String>,
    /// Capabilities it asks for: `kv`, `http:HOST[:PORT]`.
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub long: f64,
}

/// One answer to a form question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub code: String,
    pub values: Vec<String>,
}

/// A submission that passed Townhall's own checks (no reporter details).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Intake {
    pub service_code: String,
    pub description: Option<String>,
    pub location: Option<Location>,
    pub address: Option<String>,
    pub zipcode: Option<String>,
    pub answers: Vec<Answer>,
    pub media_url: Option<String>,
    pub channel: String,
}

impl Intake {
    /// The first value answered for question `code`.
    pub fn answer(&self, code: &str) -> Option<&str> {
        self.answers
            .iter()
            .find(|a| a.code == code)
            .and_then(|a| a.values.first())
            .map(String::as_str)
    }

    /// Every value answered for question `code`.
    pub fn answers_to(&self, code: &str) -> &[String] {
        self.answers
            .iter()
            .find(|a| a.code == code)
            .map_or(&[], |a| a.values.as_slice())
    }

    /// Adds an answer (for tests).
    pub fn with_answer(mut self, code: &str, value: &str) -> Self {
        self.answers.push(Answer {
            code: code.to_owned(),
            values: vec![value.to_owned()],
        });
        self
    }
}

/// Where a request goes and how urgent it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// A department code; `None` keeps the default.
    pub department: Option<String>,
    pub priority: Priority,
    /// A work queue or crew within the department.
    pub queue: Option<String>,
    pub sla: Sla,
}

/// One entry of what happened to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub public_note: Option<String>,
}

/// A committed change to a request of one of the plugin's services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub topic: String,
    pub request_id: String,
    pub tracking_number: String,
    pub service_code: String,
    pub status: String,
    pub priority: Priority,
    pub department: Option<String>,
    pub queue: Option<String>,
    pub location: Option<Location>,
    pub changes: Vec<Change>,
    /// Whether this plugin itself made the change.
    pub by_self: bool,
    /// Milliseconds since the Unix epoch.
    pub occurred_at: i64,
}

impl Event {
    /// Whether the request just moved to `status` in this event.
    pub fn moved_to(&self, status: &str) -> bool {
        self.changes.iter().any(|c| c.to_status.as_deref() == Some(status))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: String,
    pub public_note: Option<String>,
    pub internal_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub body: String,
    pub public: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// `reporter` or `department`.
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityCall {
    pub capability: String,
    /// JSON text.
    pub payload: String,
}

/// What a plugin asks the host to do after an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    SetStatus(StatusChange),
    AddNote(Note),
    AssignQueue(Option<String>),
    Notify(Notification),
    Invoke(CapabilityCall),
}

impl Action {
    pub fn public_note(body: impl Into<String>) -> Self {
        Action::AddNote(Note {
            body: body.into(),
            public: true,
        })
    }

    pub fn internal_note(body: impl Into<String>) -> Self {
        Action::AddNote(Note {
            body: body.into(),
            public: false,
        })
    }
}
