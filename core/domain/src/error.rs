//! Errors a domain rule can raise. Each carries a stable, documented code
//! (see `docs/errors.md`); the API layer maps them to HTTP statuses and
//! GraphQL `extensions.code` in one place.

use serde::Serialize;

use crate::status::Status;

/// One problem with one input field. Several may be reported at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The input field, e.g. `lat`, `description`, `attribute[SIZE]`.
    pub field: String,
    /// A stable machine-readable code, e.g. `INVALID_COORDINATES`.
    pub code: &'static str,
    /// A human-readable explanation, safe to show to the submitter.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// The input breaks one or more field rules.
    #[error("{}", first_message(.0))]
    Invalid(Vec<FieldError>),
    /// A status change the state machine does not allow.
    #[error("a request in status `{from}` cannot move to `{to}`{}", hint(*.from, *.to))]
    InvalidTransition { from: Status, to: Status },
    /// An identifier that cannot be parsed (not a UUID or tracking number).
    #[error("`{0}` is not a valid request id or tracking number")]
    MalformedId(String),
}

fn first_message(errors: &[FieldError]) -> String {
    match errors {
        [] => "invalid input".to_owned(),
        [one] => one.message.clone(),
        [first, rest @ ..] => format!("{} (and {} more problem(s))", first.message, rest.len()),
    }
}

fn hint(from: Status, to: Status) -> &'static str {
    if from.is_closed() && to.is_closed() {
        ": it is already closed; reopen it first"
    } else if from == to {
        ": it is already in that status"
    } else {
        ""
    }
}

impl DomainError {
    /// The stable code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Invalid(errors) => errors.first().map_or("INVALID_INPUT", |e| e.code),
            DomainError::InvalidTransition { .. } => "INVALID_STATUS_TRANSITION",
            DomainError::MalformedId(_) => "MALFORMED_ID",
        }
    }

    /// Shorthand for a single-field error.
    pub fn field(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Invalid(vec![FieldError::new(field, code, message)])
    }

    /// The field errors, if this is a validation failure.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            DomainError::Invalid(errors) => errors,
            _ => &[],
        }
    }
}
