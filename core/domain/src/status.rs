//! The request state machine.
//!
//! Townhall tracks a richer status than Open311's `open`/`closed`; every
//! internal status maps onto exactly one of those two, and onto the status
//! names FixMyStreet-style update feeds use.
//!
//! Rules:
//! - a request starts `open`;
//! - any open status may move to any other status except `open` (the initial
//!   state) and `reopened` (which only follows a closed status);
//! - a closed status may only move to `reopened` (closing an already closed
//!   request is refused: reopen it first);
//! - `duplicate` is reached only by merging into another request.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    Investigating,
    InProgress,
    ActionScheduled,
    Reopened,
    Fixed,
    Closed,
    Duplicate,
    NotResponsible,
    NoFurtherAction,
    InternalReferral,
}

/// Open311 GeoReport v2 core status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Open311Status {
    Open,
    Closed,
}

impl Open311Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Open311Status::Open => "open",
            Open311Status::Closed => "closed",
        }
    }
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::Open,
        Status::Acknowledged,
        Status::Investigating,
        Status::InProgress,
        Status::ActionScheduled,
        Status::Reopened,
        Status::Fixed,
        Status::Closed,
        Status::Duplicate,
        Status::NotResponsible,
        Status::NoFurtherAction,
        Status::InternalReferral,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Investigating => "investigating",
            Status::InProgress => "in_progress",
            Status::ActionScheduled => "action_scheduled",
            Status::Reopened => "reopened",
            Status::Fixed => "fixed",
            Status::Closed => "closed",
            Status::Duplicate => "duplicate",
            Status::NotResponsible => "not_responsible",
            Status::NoFurtherAction => "no_further_action",
            Status::InternalReferral => "internal_referral",
        }
    }

    pub fn open311(self) -> Open311Status {
        if self.is_closed() {
            Open311Status::Closed
        } else {
            Open311Status::Open
        }
    }

    /// The status name used by FixMyStreet-style `servicerequestupdates` feeds.
    pub fn update_feed_name(self) -> &'static str {
        match self {
            Status::Open | Status::Acknowledged => "open",
            Status::Investigating => "investigating",
            Status::InProgress => "in_progress",
            Status::ActionScheduled => "action_scheduled",
            Status::Reopened => "reopen",
            Status::Fixed => "fixed",
            Status::Closed => "closed",
            Status::Duplicate => "duplicate",
            Status::NotResponsible => "not_councils_responsibility",
            Status::NoFurtherAction => "no_further_action",
            Status::InternalReferral => "internal_referral",
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(
            self,
            Status::Fixed
                | Status::Closed
                | Status::Duplicate
                | Status::NotResponsible
                | Status::NoFurtherAction
                | Status::InternalReferral
        )
    }

    /// Checks a status change requested through the ordinary workflow
    /// (not a merge).
    pub fn check_transition(self, to: Status) -> Result<(), DomainError> {
        if to == Status::Duplicate {
            return Err(DomainError::field(
                "status",
                "USE_MERGE_FOR_DUPLICATE",
                "a request becomes `duplicate` only by merging it into another request",
            ));
        }
        self.check_any(to)
    }

    /// Checks a status change including `duplicate` (used by merging).
    pub fn check_any(self, to: Status) -> Result<(), DomainError> {
        let allowed = if self.is_closed() {
            to == Status::Reopened
        } else {
            to != self && to != Status::Open && to != Status::Reopened
        };
        if allowed {
            Ok(())
        } else {
            Err(DomainError::InvalidTransition { from: self, to })
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        // Accept the FixMyStreet feed names too, so back offices can push them.
        let alias = match wanted.as_str() {
            "reopen" => Some(Status::Reopened),
            "not_councils_responsibility" => Some(Status::NotResponsible),
            _ => None,
        };
        alias
            .or_else(|| Status::ALL.into_iter().find(|st| st.as_str() == wanted))
            .ok_or_else(|| {
                DomainError::field(
                    "status",
                    "UNKNOWN_STATUS",
                    format!(
                        "`{s}` is not a status; expected one of {}",
                        Status::ALL.map(|s| s.as_str()).join(", ")
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_to_open_or_closed() {
        let closed: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_closed()).collect();
        assert_eq!(closed.len(), 6);
        assert_eq!(Status::InProgress.open311(), Open311Status::Open);
        assert_eq!(Status::Fixed.open311(), Open311Status::Closed);
        assert_eq!(Status::Reopened.open311(), Open311Status::Open);
    }

    #[test]
    fn closing_a_closed_request_is_refused_until_reopened() {
        let err = Status::Closed.check_transition(Status::Fixed).unwrap_err();
        assert_eq!(err.code(), "INVALID_STATUS_TRANSITION");
        assert!(err.to_string().contains("reopen it first"), "{err}");
        assert!(Status::Closed.check_transition(Status::Closed).is_err());
        Status::Closed.check_transition(Status::Reopened).unwrap();
        Status::Reopened.check_transition(Status::Fixed).unwrap();
    }

    #[test]
    fn open_statuses_move_freely_but_not_back_to_new_or_to_themselves() {
        Status::Open.check_transition(Status::InProgress).unwrap();
        Status::InProgress.check_transition(Status::ActionScheduled).unwrap();
        Status::ActionScheduled.check_transition(Status::Fixed).unwrap();
        assert!(Status::InProgress.check_transition(Status::Open).is_err());
        assert!(Status::InProgress.check_transition(Status::InProgress).is_err());
        assert!(Status::Open.check_transition(Status::Reopened).is_err());
    }

    #[test]
    fn duplicate_only_through_merge() {
        let err = Status::Open.check_transition(Status::Duplicate).unwrap_err();
        assert_eq!(err.code(), "USE_MERGE_FOR_DUPLICATE");
        Status::Open.check_any(Status::Duplicate).unwrap();
        assert!(Status::Fixed.check_any(Status::Duplicate).is_err());
    }

    #[test]
    fn parses_names_and_feed_aliases() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(s.update_feed_name().parse::<Status>().unwrap().open311(), s.open311());
        }
        assert_eq!("reopen".parse::<Status>().unwrap(), Status::Reopened);
        assert_eq!(" In_Progress ".parse::<Status>().unwrap(), Status::InProgress);
        assert_eq!("bogus".parse::<Status>().unwrap_err().code(), "UNKNOWN_STATUS");
    }
}
