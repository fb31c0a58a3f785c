//! Rebuilding the index from the database (`townhall reindex`, and at
//! startup when the index is new, corrupt or behind).
//!
//! A rebuild walks every jurisdiction's requests in id order, a page at a
//! time, reads each one's history and reporter concurrently, and upserts
//! the page. The index stays searchable throughout (documents are replaced
//! in place, not cleared first), and outbox updates that arrive meanwhile
//! are simply applied on top. The index is marked complete only when the
//! walk finishes, so an interrupted rebuild is redone at the next start.
//!
//! **Must never:** clear the index on its own, or hold more than one page
//! of documents in memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use townhall_domain::service::ServiceDefinition;
use townhall_store::{Order, RequestQuery, RequestRecord, Store, StoreError};

use crate::backend::Recovery;
use crate::document::SearchDocument;
use crate::error::SearchError;
use crate::{Rebuild, SearchIndex};

/// Requests read per page.
const PAGE: u64 = 500;
/// Requests whose history and reporter are read at once.
const CONCURRENCY: usize = 8;
/// How far before its last commit the embedded index re-reads at startup.
const CATCH_UP_MARGIN: Duration = Duration::from_secs(600);

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReindexStats {
    pub indexed: u64,
    pub elapsed: Duration,
}

impl ReindexStats {
    pub fn per_second(&self) -> f64 {
        self.indexed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Rebuilds the whole index from the database. `progress(done, total)` is
/// called after every page (and once with `done = 0`).
pub async fn reindex<P>(store: &Store, index: &SearchIndex, progress: P) -> Result<ReindexStats, SearchError>
where
    P: Fn(u64, u64) + Send + Sync,
{
    tracing::info!(engine = index.engine(), "rebuilding the search index from the database");
    let mut rebuild = index.begin_rebuild().await?;
    walk(store, &mut Sink::Rebuild(&mut rebuild), None, &progress).await?;
    let stats = rebuild.finish().await?;
    tracing::info!(
        indexed = stats.indexed,
        seconds = stats.elapsed.as_secs_f64(),
        "search index rebuilt"
    );
    Ok(stats)
}

/// Brings the index up to date at startup: a full [`reindex`] if it
/// [needs one](SearchIndex::needs_rebuild); for the embedded index, the
/// requests updated shortly before its last commit (writes accepted but
/// not yet committed when the process stopped); nothing for Meilisearch,
/// whose accepted writes are durable.
pub async fn catch_up<P>(store: &Store, index: &SearchIndex, progress: P) -> Result<ReindexStats, SearchError>
where
    P: Fn(u64, u64) + Send + Sync,
{
    if index.needs_rebuild() {
        return reindex(store, index, progress).await;
    }
    let watermark = match index.backend().recovery() {
        Recovery::Durable => {
            return Ok(ReindexStats {
                indexed: 0,
                elapsed: Duration::ZERO,
            });
        }
        Recovery::Since(w) => w,
    };
    let margin = chrono::Duration::from_std(CATCH_UP_MARGIN).unwrap_or(chrono::Duration::minutes(10));
    let started = Instant::now();
    let indexed = walk(store, &mut Sink::Live(index), watermark.map(|w| w - margin), &progress).await?;
    index.flush().await?;
    Ok(ReindexStats {
        indexed,
        elapsed: started.elapsed(),
    })
}

async fn document(
    store: &Store,
    request: RequestRecord,
    service: Option<&ServiceDefinition>,
) -> Result<SearchDocument, SearchError> {
    let history = store.history(request.id, true).await?;
    let contact = match request.reporter_id {
        Some(cid) => match store.contact(cid).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    Ok(SearchDocument::build(&request, service, &history, contact.as_ref()))
}

/// Where a walk sends its documents.
enum Sink<'a> {
    Rebuild(&'a mut Rebuild),
    Live(&'a SearchIndex),
}

impl Sink<'_> {
    async fn send(&mut self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        match self {
            Sink::Rebuild(r) => r.add(docs).await,
            Sink::Live(ix) => ix.index_documents(docs).await,
        }
    }
}

/// Upserts every request, or those updated since a time. Returns how many.
async fn walk<P>(
    store: &Store,
    sink: &mut Sink<'_>,
    updated_from: Option<DateTime<Utc>>,
    progress: &P,
) -> Result<u64, SearchError>
where
    P: Fn(u64, u64) + Send + Sync,
{
    let jurisdictions = store.jurisdictions().await?;
    let mut total = 0;
    for j in &jurisdictions {
        total += store
            .count_requests(&RequestQuery {
                jurisdiction_id: j.id.clone(),
                updated_from,
                ..Default::default()
            })
            .await?;
    }
    progress(0, total);
    let mut done = 0u64;
    for j in &jurisdictions {
        let services: HashMap<String, ServiceDefinition> = store
            .services(&j.id, true)
            .await?
            .into_iter()
            .map(|s| (s.code.clone(), s))
            .collect();
        let mut after = None;
        loop {
            let page = store
                .list_requests(&RequestQuery {
                    jurisdiction_id: j.id.clone(),
                    updated_from,
                    after,
                    order: Order::OldestFirst,
                    limit: PAGE,
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let full = page.len() as u64 >= PAGE;
            let docs: Vec<SearchDocument> = futures::stream::iter(page.into_iter().map(|r| {
                let service = services.get(&r.service_code);
                document(store, r, service)
            }))
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
            done += docs.len() as u64;
            sink.send(docs).await?;
            progress(done, total.max(done));
            if !full {
                break;
            }
        }
    }
    Ok(done)
}
