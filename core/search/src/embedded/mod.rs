//! The embedded engine: a tantivy index under the data directory.
//!
//! Opening checks the index (its metadata, its schema, the checksums of its
//! files, a first search); if it is missing or any check fails, the
//! directory is wiped and a new, empty index is created, and
//! [`needs_rebuild`](crate::SearchIndex::needs_rebuild) says so until a
//! rebuild from the database finishes. One dedicated thread writes
//! ([`writer`]); it and tantivy's indexing and merge threads run at lower
//! CPU priority ([`townhall_intake::background`]), so indexing yields to
//! intake. Searches run on tokio's blocking pool at normal priority.
//!
//! **Must never:** write from more than one thread, block an async worker,
//! or delete anything outside its own versioned directory.

mod filters;
mod schema;
mod search;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use tantivy::collector::Count;
use tantivy::query::AllQuery;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::backend::{RawResults, Recovery, SearchBackend};
use crate::document::SearchDocument;
use crate::error::SearchError;
use crate::query::Plan;
use crate::text;

use townhall_intake::background;

use self::schema::{Fields, SCHEMA_VERSION};
use self::writer::{CommitMeta, Op, Shared, WriterThread};

/// Where and how the embedded index is kept.
#[derive(Debug, Clone)]
pub struct TantivyOptions {
    /// The index directory itself (see [`TantivyOptions::in_data_dir`]).
    pub dir: PathBuf,
    /// Longest time a change waits before it is committed and searchable.
    pub commit_interval: Duration,
    /// tantivy's indexing memory, all threads together.
    pub writer_memory_bytes: usize,
    /// tantivy indexing threads.
    pub writer_threads: usize,
    /// Verify the checksum of every index file at open (reads the whole
    /// index once: about a second per few hundred megabytes).
    pub verify_checksums: bool,
    /// Memory for cached filter bitsets (one bit per document per cached
    /// combination of filters and viewer).
    pub filter_cache_bytes: usize,
}

impl TantivyOptions {
    /// The index under `data_dir/search/tantivy-v<schema version>`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        Self {
            dir: data_dir.join("search").join(format!("tantivy-v{SCHEMA_VERSION}")),
            commit_interval: Duration::from_millis(200),
            writer_memory_bytes: 128 << 20,
            writer_threads: threads,
            verify_checksums: true,
            filter_cache_bytes: 64 << 20,
        }
    }
}

pub(crate) struct TantivyBackend {
    dir: PathBuf,
    reader: IndexReader,
    fields: Fields,
    tx: Mutex<Option<Sender<Op>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
    rebuilt: AtomicBool,
    filters: Arc<filters::FilterCache>,
}

impl std::fmt::Debug for TantivyBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyBackend").finish_non_exhaustive()
    }
}

/// Why an existing index could not be used.
enum OpenProblem {
    Missing,
    Corrupt(String),
}

fn register(index: &Index) {
    index.tokenizers().register(text::ANALYZER, text::analyzer());
}

fn try_open(dir: &Path, verify: bool) -> Result<(Index, IndexReader), OpenProblem> {
    if !dir.join("meta.json").exists() {
        let has_files = std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false);
        return Err(if has_files {
            OpenProblem::Corrupt("meta.json is missing".into())
        } else {
            OpenProblem::Missing
        });
    }
    let corrupt = |e: &dyn std::fmt::Display| OpenProblem::Corrupt(e.to_string());
    let index = Index::open_in_dir(dir).map_err(|e| corrupt(&e))?;
    let (expected, _) = schema::schema();
    if index.schema() != expected {
        return Err(OpenProblem::Corrupt("the index was built with another schema".into()));
    }
    register(&index);
    if verify {
        let damaged = index.validate_checksum().map_err(|e| corrupt(&e))?;
        if !damaged.is_empty() {
            return Err(OpenProblem::Corrupt(format!("{} damaged file(s)", damaged.len())));
        }
    }
    let reader = reader(&index).map_err(|e| corrupt(&e))?;
    reader.searcher().search(&AllQuery, &Count).map_err(|e| corrupt(&e))?;
    Ok((index, reader))
}

fn reader(index: &Index) -> tantivy::Result<IndexReader> {
    index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()
}

fn create(dir: &Path) -> Result<(Index, IndexReader), SearchError> {
    std::fs::create_dir_all(dir).map_err(|e| SearchError::Engine(format!("cannot create {}: {e}", dir.display())))?;
    let (schema, _) = schema::schema();
    let index = Index::create_in_dir(dir, schema)?;
    register(&index);
    let reader = reader(&index)?;
    Ok((index, reader))
}

impl TantivyBackend {
    pub(crate) fn open(opts: &TantivyOptions) -> Result<TantivyBackend, SearchError> {
        let dir = &opts.dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| SearchError::Engine(format!("cannot create {}: {e}", dir.display())))?;
        let (index, reader, rebuilt) = match try_open(dir, opts.verify_checksums) {
            Ok((i, r)) => (i, r, false),
            Err(problem) => {
                if let OpenProblem::Corrupt(reason) = &problem {
                    tracing::warn!(dir = %dir.display(), reason = %reason, "search index unusable; recreating it empty");
                    std::fs::remove_dir_all(dir)
                        .map_err(|e| SearchError::Engine(format!("cannot remove {}: {e}", dir.display())))?;
                } else {
                    tracing::info!(dir = %dir.display(), "no search index yet; creating it");
                }
                let (i, r) = create(dir)?;
                (i, r, true)
            }
        };
        let (_, fields) = schema::schema();
        let meta = CommitMeta::parse(index.load_metas()?.payload.as_deref());
        let meta = if rebuilt { CommitMeta::default() } else { meta };
        let threads = opts.writer_threads.max(1);
        let memory = opts.writer_memory_bytes.max(threads * (16 << 20));
        // Created on a lowered thread: tantivy's indexing and merge threads
        // inherit its priority, so indexing yields the CPU to intake.
        let for_writer = index.clone();
        let writer = background::on_lowered_thread("search-writer-start", move || {
            for_writer.writer_with_num_threads::<TantivyDocument>(threads, memory)
        })
        .map_err(|e| SearchError::Engine(format!("cannot start the search writer: {e}")))?
        .map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => SearchError::Unavailable(format!(
                "another process is writing the search index in {}",
                dir.display()
            )),
            e => e.into(),
        })?;
        writer.set_merge_policy(writer::live_merge_policy());
        let shared = Arc::new(Shared {
            watermark: AtomicI64::new(meta.watermark.unwrap_or(i64::MIN)),
            complete: AtomicBool::new(meta.complete),
        });
        let (tx, rx) = mpsc::channel();
        let thread = WriterThread::new(
            writer,
            reader.clone(),
            fields,
            opts.commit_interval,
            meta,
            shared.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("search-writer".into())
            .spawn(move || {
                background::lower_this_thread();
                thread.run(rx)
            })
            .map_err(|e| SearchError::Engine(format!("cannot start the search writer: {e}")))?;
        Ok(TantivyBackend {
            dir: dir.clone(),
            reader,
            fields,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(handle)),
            shared,
            rebuilt: AtomicBool::new(rebuilt),
            filters: Arc::new(filters::FilterCache::new(opts.filter_cache_bytes)),
        })
    }

    async fn send(&self, make: impl FnOnce(writer::Ack) -> Op) -> Result<(), SearchError> {
        let (ack, done) = oneshot::channel();
        let sent = match self.tx.lock() {
            Ok(guard) => guard.as_ref().map(|tx| tx.send(make(ack)).is_ok()).unwrap_or(false),
            Err(_) => false,
        };
        if !sent {
            return Err(SearchError::Unavailable("the search index writer has stopped".into()));
        }
        done.await
            .map_err(|_| SearchError::Unavailable("the search index writer has stopped".into()))?
    }

    /// Searchable segments (fewer is faster to search).
    pub(crate) fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// Bytes the index takes on disk.
    pub(crate) fn disk_usage(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

#[async_trait]
impl SearchBackend for TantivyBackend {
    fn name(&self) -> &'static str {
        "tantivy"
    }

    fn needs_rebuild(&self) -> bool {
        self.rebuilt.load(Ordering::Acquire) || !self.shared.complete.load(Ordering::Acquire)
    }

    fn recovery(&self) -> Recovery {
        Recovery::Since(match self.shared.watermark.load(Ordering::Acquire) {
            i64::MIN => None,
            secs => chrono::DateTime::from_timestamp(secs, 0),
        })
    }

    async fn upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.send(|ack| Op::Upsert(docs, ack)).await
    }

    async fn delete(&self, ids: Vec<Uuid>) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.send(|ack| Op::Delete(ids, ack)).await
    }

    async fn clear(&self) -> Result<(), SearchError> {
        self.send(Op::Clear).await
    }

    async fn flush(&self) -> Result<(), SearchError> {
        self.send(Op::Flush).await
    }

    async fn begin_rebuild(&self) -> Result<(), SearchError> {
        self.send(Op::BeginRebuild).await
    }

    async fn bulk_upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        if docs.is_empty() {
            return Ok(());
        }
        self.send(|ack| Op::Bulk(docs, ack)).await
    }

    async fn finish_rebuild(&self) -> Result<(), SearchError> {
        self.send(Op::FinishRebuild).await?;
        self.rebuilt.store(false, Ordering::Release);
        Ok(())
    }

    async fn execute(&self, plan: &Plan) -> Result<RawResults, SearchError> {
        let searcher = self.reader.searcher();
        let fields = self.fields;
        let plan = plan.clone();
        let cache = self.filters.clone();
        tokio::task::spawn_blocking(move || search::execute(&searcher, &fields, &cache, &plan))
            .await
            .map_err(|e| SearchError::Engine(format!("search task failed: {e}")))?
    }

    async fn shutdown(&self) -> Result<(), SearchError> {
        let result = self.send(Op::Shutdown).await;
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let handle = self.thread.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        match result {
            Err(SearchError::Unavailable(_)) => Ok(()),
            other => other,
        }
    }
}
