//! Kinds of entries in a request's append-only history.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The request was submitted.
    Created,
    /// Its status changed (from/to recorded on the event).
    StatusChanged,
    /// A note everyone who can see the request may read.
    PublicNote,
    /// A note only staff of the responsible department and administrators read.
    InternalNote,
    /// It was assigned to (or unassigned from) a staff member or crew.
    Assigned,
    /// It was merged into another request (on the duplicate), or absorbed one
    /// (on the surviving request).
    Merged,
    /// Its priority, department or due date was changed by a rule or by staff.
    Rerouted,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Created,
        EventKind::StatusChanged,
        EventKind::PublicNote,
        EventKind::InternalNote,
        EventKind::Assigned,
        EventKind::Merged,
        EventKind::Rerouted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::StatusChanged => "status_changed",
            EventKind::PublicNote => "public_note",
            EventKind::InternalNote => "internal_note",
            EventKind::Assigned => "assigned",
            EventKind::Merged => "merged",
            EventKind::Rerouted => "rerouted",
        }
    }

    /// Whether the public (and the reporter) may see this entry.
    pub fn is_public(self) -> bool {
        !matches!(self, EventKind::InternalNote | EventKind::Assigned)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind `{0}`")]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}
