//! Search errors, each with a stable code for the API to map.

use townhall_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query breaks a limit or names something malformed; the message
    /// is safe to show the client.
    #[error("{message}")]
    InvalidQuery {
        field: &'static str,
        code: &'static str,
        message: String,
    },
    /// The engine cannot be reached or is shutting down; retry later.
    #[error("search is unavailable: {0}")]
    Unavailable(String),
    /// The engine failed (a bug, a full disk, a corrupt index). Details go
    /// to the log, not to clients.
    #[error("search failed: {0}")]
    Engine(String),
    /// Reading the database (indexing, reindexing) failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SearchError {
    /// A stable, client-facing code.
    pub fn code(&self) -> &'static str {
        match self {
            SearchError::InvalidQuery { code, .. } => code,
            SearchError::Unavailable(_) => "SEARCH_UNAVAILABLE",
            SearchError::Engine(_) => "SEARCH_FAILED",
            SearchError::Store(_) => "SEARCH_STORE_ERROR",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            SearchError::InvalidQuery { .. } => false,
            SearchError::Unavailable(_) | SearchError::Engine(_) => true,
            SearchError::Store(e) => !matches!(e, StoreError::NotFound { .. } | StoreError::Corrupt(_)),
        }
    }

    pub(crate) fn engine(e: impl std::fmt::Display) -> Self {
        SearchError::Engine(e.to_string())
    }
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Engine(e.to_string())
    }
}
