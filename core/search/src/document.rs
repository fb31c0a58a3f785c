//! What the index holds about one request, built from the store's records.
//!
//! A [`SearchDocument`] carries every searchable field, private ones
//! included; the backends keep it whole so that hits can be rebuilt, and
//! split its text by audience when indexing:
//!
//! - *public text* — tracking number, description, public notes, service
//!   name, and the address unless the service is address-sensitive;
//! - *private text* — internal notes, the reporter's name, email and phone,
//!   and the address of an address-sensitive service. Only staff of the
//!   request's department and administrators ever match it.
//!
//! **Must never:** decide who sees what (that is [`crate::query`]'s job), or
//! read anything but the records it is given.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use townhall_domain::service::ServiceDefinition;
use townhall_domain::{EventKind, Priority, Status};
use townhall_store::{Contact, EventRecord, RequestRecord};

use crate::geo;

/// At most this many notes of each kind are indexed (the newest).
const MAX_NOTES: usize = 50;
/// At most this many characters of one text are indexed.
const MAX_TEXT_CHARS: usize = 10_000;

/// One request as the search index sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDocument {
    pub id: Uuid,
    pub jurisdiction_id: String,
    pub tracking_number: String,
    pub service_code: String,
    pub service_name: String,
    pub department_code: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The request appears on public surfaces.
    pub public: bool,
    /// The service's exact address is private.
    pub address_sensitive: bool,
    /// The signed-in account that reported it.
    pub reporter_user_id: Option<Uuid>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub public_notes: Vec<String>,
    pub internal_notes: Vec<String>,
    pub reporter_name: Option<String>,
    pub reporter_email: Option<String>,
    pub reporter_phone: Option<String>,
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => s[..at].to_owned(),
        None => s.to_owned(),
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(clip)
}

impl SearchDocument {
    /// Builds the document of a request from its row, its service, its
    /// history (internal entries included) and its reporter's contact.
    /// Without its service (deleted from the catalog) the request is
    /// treated as address-sensitive.
    pub fn build(
        request: &RequestRecord,
        service: Option<&ServiceDefinition>,
        history: &[EventRecord],
        contact: Option<&Contact>,
    ) -> SearchDocument {
        let notes = |kind: EventKind| -> Vec<String> {
            let mut v: Vec<String> = history
                .iter()
                .filter(|e| e.kind == kind)
                .filter_map(|e| non_empty(e.body.as_deref()))
                .collect();
            if v.len() > MAX_NOTES {
                v.drain(..v.len() - MAX_NOTES);
            }
            v
        };
        let contact = contact.filter(|c| !c.anonymized);
        let name = contact.and_then(|c| {
            let parts: Vec<&str> = [c.first_name.as_deref(), c.last_name.as_deref()]
                .into_iter()
                .flatten()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
        SearchDocument {
            id: request.id,
            jurisdiction_id: request.jurisdiction_id.clone(),
            tracking_number: request.tracking_number.clone(),
            service_code: request.service_code.clone(),
            service_name: service.map_or_else(|| request.service_code.clone(), |s| s.name.clone()),
            department_code: request.department_code.clone(),
            status: request.status,
            priority: request.priority,
            requested_at: request.requested_at,
            updated_at: request.updated_at,
            public: request.public && service.is_none_or(|s| s.public),
            address_sensitive: service.is_none_or(|s| s.address_sensitive),
            reporter_user_id: contact.and_then(|c| c.user_id),
            description: non_empty(request.description.as_deref()),
            address: non_empty(request.address.as_deref()),
            lat: request.lat.filter(|v| v.is_finite()),
            long: request.long.filter(|v| v.is_finite()),
            public_notes: notes(EventKind::PublicNote),
            internal_notes: notes(EventKind::InternalNote),
            reporter_name: name,
            reporter_email: contact.and_then(|c| non_empty(c.email.as_deref())),
            reporter_phone: contact.and_then(|c| non_empty(c.phone.as_deref())),
        }
    }

    /// Text anyone who may see the request may match.
    pub fn public_text(&self) -> String {
        let mut parts: Vec<&str> = vec![self.tracking_number.as_str(), self.service_name.as_str()];
        parts.extend(self.description.as_deref());
        if !self.address_sensitive {
            parts.extend(self.address.as_deref());
        }
        parts.extend(self.public_notes.iter().map(String::as_str));
        parts.join("\n")
    }

    /// Text only staff of the request's department and administrators match.
    pub fn private_text(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if self.address_sensitive {
            parts.extend(self.address.as_deref());
        }
        parts.extend(self.internal_notes.iter().map(String::as_str));
        parts.extend(self.reporter_name.as_deref());
        parts.extend(self.reporter_email.as_deref());
        parts.extend(self.reporter_phone.as_deref());
        parts.join("\n")
    }

    /// Where geographic queries place the request: the exact point, or
    /// the centre of its grid cell for an address-sensitive service.
    pub fn search_point(&self) -> Option<(f64, f64)> {
        let (lat, long) = (self.lat?, self.long?);
        Some(if self.address_sensitive {
            geo::coarse(lat, long)
        } else {
            (lat, long)
        })
    }
}
