//! Request references as clients write them: a UUID or a tracking number.

use std::str::FromStr;

use uuid::Uuid;

use crate::error::DomainError;
use crate::tracking::TrackingNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestRef {
    Id(Uuid),
    Tracking(TrackingNumber),
}

impl FromStr for RequestRef {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(id) = Uuid::parse_str(s) {
            return Ok(RequestRef::Id(id));
        }
        s.parse::<TrackingNumber>()
            .map(RequestRef::Tracking)
            .map_err(|_| DomainError::MalformedId(s.chars().take(64).collect()))
    }
}

/// A new time-ordered identifier (UUIDv7).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// A UUIDv7 carrying `at` as its timestamp, so that ordering by id orders by
/// time received even for back-dated imports. When `at` is (about) `now`,
/// the process-wide monotonic generator is used.
pub fn id_at(at: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> Uuid {
    if (now - at).num_milliseconds().abs() < 1_000 {
        return Uuid::now_v7();
    }
    let secs = u64::try_from(at.timestamp()).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        secs,
        at.timestamp_subsec_nanos(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let id = new_id();
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.to_string().parse::<RequestRef>().unwrap(), RequestRef::Id(id));
        assert_eq!(
            "2026-000001".parse::<RequestRef>().unwrap(),
            RequestRef::Tracking(TrackingNumber::new(2026, 1))
        );
        assert_eq!("not-an-id".parse::<RequestRef>().unwrap_err().code(), "MALFORMED_ID");
    }
}
