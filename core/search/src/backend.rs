//! The port both engines implement. Everything above it (validation,
//! hits, snippets, duplicates, reindexing) is shared, so the two engines
//! only translate a [`Plan`] into their own query language.
//!
//! **Must never:** return a document that does not satisfy the plan's
//! viewer, or count one in `total` or the facets.

use async_trait::async_trait;
use uuid::Uuid;

use crate::document::SearchDocument;
use crate::error::SearchError;
use crate::query::{Facets, Plan};

/// What an engine may have lost when the process stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Accepted writes are durable (Meilisearch).
    Durable,
    /// Writes accepted after the last commit may be lost (tantivy): the
    /// newest `updated_at` of a committed document, `None` if none.
    Since(Option<chrono::DateTime<chrono::Utc>>),
}

/// One matching document as an engine returns it.
#[derive(Debug, Clone)]
pub(crate) struct RawHit {
    pub doc: SearchDocument,
    pub score: Option<f32>,
}

/// An engine's answer to a plan.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawResults {
    pub total: u64,
    pub hits: Vec<RawHit>,
    pub facets: Facets,
}

#[async_trait]
pub(crate) trait SearchBackend: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Whether the index was (re)created empty and must be filled from the
    /// database before it can be trusted.
    fn needs_rebuild(&self) -> bool;

    /// What a restart must re-read from the database.
    fn recovery(&self) -> Recovery;

    /// Adds or replaces documents (by id). Returns once the engine has
    /// accepted them; they become searchable within a second.
    async fn upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError>;

    async fn delete(&self, ids: Vec<Uuid>) -> Result<(), SearchError>;

    /// Removes every document.
    async fn clear(&self) -> Result<(), SearchError>;

    /// Waits until everything accepted so far is searchable.
    async fn flush(&self) -> Result<(), SearchError>;

    /// Marks the index incomplete until [`finish_rebuild`](Self::finish_rebuild).
    async fn begin_rebuild(&self) -> Result<(), SearchError>;

    /// Upserts documents read by a rebuild's walk of the database. A live
    /// change newer than such a document wins over it.
    async fn bulk_upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError>;

    /// Makes the rebuild searchable and marks the index complete.
    async fn finish_rebuild(&self) -> Result<(), SearchError>;

    async fn execute(&self, plan: &Plan) -> Result<RawResults, SearchError>;

    /// Makes everything durable and stops background work.
    async fn shutdown(&self) -> Result<(), SearchError>;
}
