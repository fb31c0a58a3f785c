//! Storage errors. The API maps these to client codes in one place.

use townhall_domain::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist (in that jurisdiction).
    #[error("{what} `{key}` not found")]
    NotFound { what: &'static str, key: String },
    /// A domain rule refused the change, checked inside the transaction.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// A uniqueness or foreign-key constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row that does not decode into a valid record (a bug or manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Anything else the database said.
    #[error("database error: {0}")]
    Database(#[source] sea_orm::DbErr),
}

impl StoreError {
    pub fn not_found(what: &'static str, key: impl std::fmt::Display) -> Self {
        StoreError::NotFound {
            what,
            key: key.to_string(),
        }
    }
}

impl From<sea_orm::DbErr> for StoreError {
    fn from(err: sea_orm::DbErr) -> Self {
        use sea_orm::{DbErr, SqlErr};
        if let Some(sql) = err.sql_err() {
            match sql {
                SqlErr::UniqueConstraintViolation(m) => return StoreError::Conflict(m),
                SqlErr::ForeignKeyConstraintViolation(m) => return StoreError::Conflict(m),
                _ => {}
            }
        }
        match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(err.to_string()),
            _ => StoreError::Database(err),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// SQLite's "database is locked" (SQLITE_BUSY, code 5, and its extended
/// forms such as SQLITE_BUSY_SNAPSHOT, 517).
pub(crate) fn is_sqlite_busy(e: &StoreError) -> bool {
    let text = match e {
        StoreError::Database(d) => d.to_string(),
        StoreError::Unavailable(m) => m.clone(),
        _ => return false,
    };
    text.contains("database is locked") || text.contains("(code: 5)") || text.contains("(code: 517)")
}
