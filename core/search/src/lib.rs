//! Search over service requests: full text (typo-tolerant, English and
//! Spanish stemming, accents folded), filters, facets, geography, and
//! "is it already reported?".
//!
//! [`SearchIndex`] is the one entry point. It runs on one of two engines
//! behind the same port and passes the same conformance suite on both:
//!
//! - **tantivy**, embedded, the index under the data directory
//!   ([`TantivyOptions`]) — the default;
//! - **Meilisearch**, shared by several server replicas ([`MeiliOptions`]).
//!
//! The index is fed from the outbox ([`SearchIndexer`], consumer
//! [`OUTBOX_CONSUMER`]) and rebuilt from the database by [`reindex`].
//! Every query carries a [`Viewer`]; what the viewer may not see is
//! excluded inside the query, so it cannot be found, counted or faceted
//! (see [`query`]).
//!
//! **Must never:** depend on a web framework or on sea-orm (the store is
//! reached through `townhall-store`'s API only); run tantivy work on an
//! async worker thread; hand out a field the viewer may not see.

mod backend;
pub mod document;
mod duplicates;
mod embedded;
mod error;
pub mod geo;
pub mod highlight;
mod indexer;
mod meili;
pub mod query;
mod reindex;
pub mod text;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

pub use document::SearchDocument;
pub use duplicates::{DuplicateCandidate, DuplicateQuery};
pub use embedded::TantivyOptions;
pub use error::SearchError;
pub use highlight::{Snippet, SnippetField};
pub use indexer::{OUTBOX_CONSUMER, SearchIndexer, load_document};
pub use meili::MeiliOptions;
pub use query::{
    DateRange, FacetCount, Facets, Hit, Near, PageInfo, SearchFilter, SearchQuery, SearchResults, SortOrder, Viewer,
};
pub use reindex::{ReindexStats, catch_up, reindex};

use backend::{RawHit, SearchBackend};
use query::Plan;

/// Which engine to run and where.
#[derive(Debug, Clone)]
pub enum SearchConfig {
    Embedded(TantivyOptions),
    Meilisearch(MeiliOptions),
}

impl SearchConfig {
    /// The embedded index under `data_dir`.
    pub fn embedded(data_dir: &Path) -> Self {
        SearchConfig::Embedded(TantivyOptions::in_data_dir(data_dir))
    }

    /// A Meilisearch server.
    pub fn meilisearch(url: impl Into<String>, api_key: Option<String>) -> Self {
        SearchConfig::Meilisearch(MeiliOptions::new(url, api_key))
    }

    /// Meilisearch when `MEILISEARCH_URL` is set (with `MEILISEARCH_KEY`,
    /// or `MEILISEARCH_API_KEY`, if set), else the embedded index under
    /// `data_dir`.
    pub fn from_env(data_dir: &Path) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match var("MEILISEARCH_URL") {
            Some(url) => Self::meilisearch(url, var("MEILISEARCH_KEY").or_else(|| var("MEILISEARCH_API_KEY"))),
            None => Self::embedded(data_dir),
        }
    }
}

/// The search index, whichever engine holds it. Cheap to clone.
#[derive(Clone)]
pub struct SearchIndex {
    backend: Arc<dyn SearchBackend>,
    tantivy: Option<Arc<embedded::TantivyBackend>>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("engine", &self.backend.name())
            .finish()
    }
}

impl SearchIndex {
    /// Opens (or creates) the index the configuration names. The embedded
    /// index is checked and recreated empty if missing or corrupt; see
    /// [`SearchIndex::needs_rebuild`].
    pub async fn open(config: &SearchConfig) -> Result<SearchIndex, SearchError> {
        match config {
            SearchConfig::Embedded(opts) => {
                let opts = opts.clone();
                let backend = tokio::task::spawn_blocking(move || embedded::TantivyBackend::open(&opts))
                    .await
                    .map_err(|e| SearchError::Engine(format!("opening the index failed: {e}")))??;
                let backend = Arc::new(backend);
                Ok(SearchIndex {
                    backend: backend.clone(),
                    tantivy: Some(backend),
                })
            }
            SearchConfig::Meilisearch(opts) => Ok(SearchIndex {
                backend: Arc::new(meili::MeiliBackend::open(opts.clone()).await?),
                tantivy: None,
            }),
        }
    }

    /// `"tantivy"` or `"meilisearch"`.
    pub fn engine(&self) -> &'static str {
        self.backend.name()
    }

    /// Whether the index must be rebuilt from the database (it was just
    /// created, found corrupt, or a rebuild did not finish). Run
    /// [`catch_up`] (or [`reindex`]) at startup; it checks this.
    pub fn needs_rebuild(&self) -> bool {
        self.backend.needs_rebuild()
    }

    /// Searches as `viewer`.
    pub async fn search(&self, viewer: &Viewer, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let plan = query.plan(viewer, !query.skip_facets)?;
        let started = Instant::now();
        let raw = self.backend.execute(&plan).await?;
        metrics::histogram!("townhall_search_seconds", "engine" => self.backend.name())
            .record(started.elapsed().as_secs_f64());
        Ok(assemble(&plan, raw.total, raw.hits, raw.facets))
    }

    /// Open requests of the same service near a point, most likely
    /// duplicates first (see [`DuplicateQuery`]).
    pub async fn possible_duplicates(
        &self,
        viewer: &Viewer,
        query: &DuplicateQuery,
    ) -> Result<Vec<DuplicateCandidate>, SearchError> {
        duplicates::find(self, viewer, query).await
    }

    pub(crate) async fn execute_plan(&self, plan: &Plan) -> Result<Vec<Hit>, SearchError> {
        let raw = self.backend.execute(plan).await?;
        Ok(assemble(plan, raw.total, raw.hits, raw.facets).hits)
    }

    /// Starts a full rebuild: the index counts as incomplete (see
    /// [`needs_rebuild`](Self::needs_rebuild)) until [`Rebuild::finish`].
    /// It stays searchable meanwhile, and live changes keep flowing; a
    /// rebuild document older than a live change to the same request is
    /// dropped. [`reindex`] drives one from the database.
    pub async fn begin_rebuild(&self) -> Result<Rebuild, SearchError> {
        self.backend.begin_rebuild().await?;
        Ok(Rebuild {
            index: self.clone(),
            indexed: 0,
            started: Instant::now(),
        })
    }

    /// Adds or replaces documents. Returns once the engine accepted them;
    /// they are searchable within a second.
    pub async fn index_documents(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        self.backend.upsert(docs).await
    }

    /// Removes documents by request id.
    pub async fn remove(&self, ids: &[Uuid]) -> Result<(), SearchError> {
        self.backend.delete(ids.to_vec()).await
    }

    /// Removes every document (the index then needs a rebuild).
    pub async fn clear(&self) -> Result<(), SearchError> {
        self.backend.clear().await
    }

    /// Waits until everything accepted so far is searchable (tests, the
    /// end of a rebuild).
    pub async fn flush(&self) -> Result<(), SearchError> {
        self.backend.flush().await
    }

    /// Commits what is pending and stops the embedded writer. Call at
    /// shutdown, after the outbox worker stopped.
    pub async fn shutdown(&self) -> Result<(), SearchError> {
        self.backend.shutdown().await
    }

    /// The outbox handler that keeps this index up to date.
    pub fn indexer(&self, store: townhall_store::Store) -> SearchIndexer {
        SearchIndexer::new(store, self.clone())
    }

    /// Bytes the embedded index takes on disk (`None` for Meilisearch).
    pub fn disk_usage(&self) -> Option<u64> {
        self.tantivy.as_ref().map(|t| t.disk_usage())
    }

    /// Searchable segments of the embedded index (`None` for Meilisearch).
    pub fn segments(&self) -> Option<usize> {
        self.tantivy.as_ref().map(|t| t.segments())
    }

    pub(crate) fn backend(&self) -> &dyn SearchBackend {
        self.backend.as_ref()
    }
}

/// A full rebuild in progress.
#[must_use = "a rebuild that is not finished leaves the index marked incomplete"]
pub struct Rebuild {
    index: SearchIndex,
    indexed: u64,
    started: Instant,
}

impl Rebuild {
    /// Adds or replaces a batch of documents.
    pub async fn add(&mut self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        let n = docs.len() as u64;
        self.index.backend.bulk_upsert(docs).await?;
        self.indexed += n;
        Ok(())
    }

    /// Documents added so far.
    pub fn indexed(&self) -> u64 {
        self.indexed
    }

    /// Makes everything searchable and marks the index complete.
    pub async fn finish(self) -> Result<ReindexStats, SearchError> {
        self.index.backend.finish_rebuild().await?;
        Ok(ReindexStats {
            indexed: self.indexed,
            elapsed: self.started.elapsed(),
        })
    }
}

/// Whether the engine kept its side of the port (defence in depth: a
/// document failing this is a bug, logged and dropped).
fn visible(viewer: &Viewer, d: &SearchDocument) -> bool {
    match viewer {
        Viewer::Admin => true,
        Viewer::Public => d.public,
        Viewer::Resident { user_id } => d.public || d.reporter_user_id == Some(*user_id),
        Viewer::Staff { .. } => d.public || viewer.privileged_for(d.department_code.as_deref()),
    }
}

fn assemble(plan: &Plan, total: u64, raw: Vec<RawHit>, facets: Facets) -> SearchResults {
    use query::PlanSort;
    let center = match plan.sort {
        PlanSort::Distance { lat, long } => Some((lat, long)),
        _ => plan.filter.near.map(|n| (n.lat, n.long)),
    };
    let mut hits = Vec::with_capacity(raw.len());
    for (i, h) in raw.into_iter().enumerate() {
        if !visible(&plan.viewer, &h.doc) {
            tracing::error!(request_id = %h.doc.id, "search engine returned a request the viewer may not see; dropped");
            continue;
        }
        hits.push(make_hit(plan, h, center, query::encode_cursor(plan.offset + i + 1)));
    }
    let end_cursor = hits.last().map(|h| h.cursor.clone());
    let shown = (plan.offset + hits.len()) as u64;
    SearchResults {
        total,
        page_info: PageInfo {
            has_next_page: shown < total,
            end_cursor,
        },
        hits,
        facets,
    }
}

fn make_hit(plan: &Plan, raw: RawHit, center: Option<(f64, f64)>, cursor: String) -> Hit {
    let d = raw.doc;
    let exact = !d.address_sensitive || plan.viewer.privileged_for(d.department_code.as_deref());
    let (lat, long) = if exact {
        (d.lat, d.long)
    } else {
        d.search_point().map_or((None, None), |(a, b)| (Some(a), Some(b)))
    };
    let distance_m = match (center, lat, long) {
        (Some((clat, clong)), Some(a), Some(b)) => Some(geo::distance_m(clat, clong, a, b)),
        _ => None,
    };
    let snippets = highlight::snippets(&d, &plan.viewer, &plan.words);
    Hit {
        location_is_approximate: !exact && lat.is_some(),
        address: if exact { d.address } else { None },
        id: d.id,
        tracking_number: d.tracking_number,
        service_code: d.service_code,
        service_name: d.service_name,
        department_code: d.department_code,
        status: d.status,
        priority: d.priority,
        requested_at: d.requested_at,
        updated_at: d.updated_at,
        description: d.description,
        lat,
        long,
        distance_m,
        score: raw.score,
        snippets,
        cursor,
    }
}
