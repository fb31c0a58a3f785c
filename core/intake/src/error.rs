//! Errors of the intake and workflow layer.

use townhall_domain::DomainError;
use townhall_store::StoreError;

use crate::router::PluginFault;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// `jurisdiction_id` names no jurisdiction on this server.
    #[error("unknown jurisdiction `{0}`")]
    UnknownJurisdiction(String),
    /// No jurisdiction was named and the server hosts several with no default.
    #[error("this server hosts several jurisdictions: name one with `jurisdiction_id`")]
    JurisdictionRequired,
    /// The service code is not in the (active) catalog.
    #[error("unknown service code `{0}`")]
    UnknownService(String),
    /// The input or the change breaks a rule (domain or plugin validation).
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// The thing named does not exist in this jurisdiction.
    #[error("{what} `{key}` not found")]
    NotFound { what: &'static str, key: String },
    /// The owning plugin failed (trap, timeout, memory, …); nothing was committed.
    #[error(transparent)]
    Plugin(#[from] PluginFault),
    /// A concurrent change or uniqueness rule got in the way; retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database is unreachable or overloaded; retry later.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data. Details go to the log, not to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for IntakeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, key } => IntakeError::NotFound { what, key },
            StoreError::Rejected(d) => IntakeError::Invalid(d),
            StoreError::Conflict(m) => IntakeError::Conflict(m),
            StoreError::Unavailable(m) => IntakeError::Unavailable(m),
            StoreError::Corrupt(m) => IntakeError::Internal(m),
            StoreError::Database(e) => IntakeError::Internal(e.to_string()),
        }
    }
}

impl IntakeError {
    /// The stable code clients can match on (see `docs/errors.md`).
    pub fn code(&self) -> &'static str {
        match self {
            IntakeError::UnknownJurisdiction(_) => "UNKNOWN_JURISDICTION",
            IntakeError::JurisdictionRequired => "JURISDICTION_REQUIRED",
            IntakeError::UnknownService(_) => "UNKNOWN_SERVICE",
            IntakeError::Invalid(d) => d.code(),
            IntakeError::NotFound { .. } => "NOT_FOUND",
            IntakeError::Plugin(f) => f.kind.code(),
            IntakeError::Conflict(_) => "CONFLICT",
            IntakeError::Unavailable(_) => "UNAVAILABLE",
            IntakeError::Internal(_) => "INTERNAL",
        }
    }
}
