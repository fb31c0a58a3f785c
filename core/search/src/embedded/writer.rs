//! The one thread that writes the tantivy index.
//!
//! Callers send operations over a channel and await an acknowledgement
//! (the operation reached tantivy's indexing threads). The thread commits
//! `commit_interval` after the first uncommitted change (stretched to one
//! second while a bulk load has thousands of documents pending, so a
//! rebuild does not spend its time on tiny segments), and on `Flush`;
//! after each commit it reloads the reader, so a document is searchable
//! within about a second at most. Each commit records, as its payload, the
//! newest `updated_at` it holds and whether the index was completely built,
//! so a restart knows how far to catch up.
//!
//! During a rebuild, documents from the outbox ("live") and from the
//! rebuild's walk of the database may cross: a rebuild document older than
//! a live one for the same request is dropped. A rebuild into an empty index
//! skips the delete-by-id each upsert otherwise costs.
//!
//! **Must never:** run on the async runtime (commits fsync and may take
//! tens of milliseconds), or acknowledge an operation tantivy refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tantivy::indexer::{LogMergePolicy, NoMergePolicy};
use tantivy::{IndexReader, IndexWriter, TantivyDocument, Term};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::schema::{Fields, to_tantivy};
use crate::document::SearchDocument;
use crate::error::SearchError;

pub(crate) type Ack = oneshot::Sender<Result<(), SearchError>>;

pub(crate) enum Op {
    /// Live changes (the outbox, catch-up).
    Upsert(Vec<SearchDocument>, Ack),
    /// Documents of a rebuild's walk of the database.
    Bulk(Vec<SearchDocument>, Ack),
    Delete(Vec<Uuid>, Ack),
    Clear(Ack),
    Flush(Ack),
    BeginRebuild(Ack),
    FinishRebuild(Ack),
    Shutdown(Ack),
}

/// How often an idle writer reloads the reader (to pick up merges).
const IDLE_RELOAD: Duration = Duration::from_secs(1);
/// Documents pending beyond which commits wait longer (a bulk load).
const BULK_PENDING: u64 = 2_000;
/// The commit interval while a bulk load is pending.
const BULK_INTERVAL: Duration = Duration::from_secs(1);

/// What the writer tracks while a rebuild runs.
#[derive(Debug, Default)]
struct Rebuild {
    /// The index was empty when the rebuild began: rebuild documents need
    /// no delete unless a live change added them first.
    fresh: bool,
    /// Live changes during the rebuild: request id → its `updated_at`.
    live: HashMap<Uuid, i64>,
}

/// What each commit records about the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CommitMeta {
    /// Newest `updated_at` (Unix seconds) of a committed document.
    pub watermark: Option<i64>,
    /// A full build from the database finished and nothing reset it since.
    pub complete: bool,
}

impl CommitMeta {
    pub(crate) fn parse(payload: Option<&str>) -> CommitMeta {
        payload.and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default()
    }
}

/// State shared with the backend for its synchronous getters.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Durable watermark; `i64::MIN` for none.
    pub watermark: AtomicI64,
    pub complete: AtomicBool,
}

pub(crate) struct WriterThread {
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    fields: Fields,
    interval: Duration,
    meta: CommitMeta,
    shared: Arc<Shared>,
    rebuild: Option<Rebuild>,
    /// Documents added since the last commit.
    pending: u64,
}

/// How a live index merges. Live changes arrive as many small commits
/// (one every `commit_interval` while requests come in); tantivy's default
/// puts every segment under 10,000 documents in one level, so each merge
/// rewrote the growing segment again with a handful of new ones (about a tenth of
/// a busy server's CPU). From 100 documents up, segments of different sizes
/// are different levels, so a document is rewritten a few times, not dozens.
pub(crate) fn live_merge_policy() -> Box<LogMergePolicy> {
    let mut policy = LogMergePolicy::default();
    policy.set_min_layer_size(100);
    Box::new(policy)
}

impl WriterThread {
    pub(crate) fn new(
        writer: IndexWriter<TantivyDocument>,
        reader: IndexReader,
        fields: Fields,
        interval: Duration,
        meta: CommitMeta,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            writer,
            reader,
            fields,
            interval,
            meta,
            shared,
            rebuild: None,
            pending: 0,
        }
    }

    fn interval(&self) -> Duration {
        if self.pending >= BULK_PENDING {
            self.interval.max(BULK_INTERVAL)
        } else {
            self.interval
        }
    }

    pub(crate) fn run(mut self, rx: Receiver<Op>) {
        let mut dirty = false;
        let mut last_commit = Instant::now();
        loop {
            let wait = if dirty {
                self.interval().saturating_sub(last_commit.elapsed())
            } else {
                IDLE_RELOAD
            };
            let op = match rx.recv_timeout(wait) {
                Ok(op) => Some(op),
                Err(RecvTimeoutError::Timeout) => {
                    if !dirty {
                        // Background merges replace segments without a commit of ours.
                        if let Err(e) = self.reader.reload() {
                            tracing::warn!(error = %e, "search index reader could not reload");
                        }
                    }
                    None
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut stop = None;
            match op {
                None => {}
                Some(Op::Upsert(docs, ack)) => {
                    let r = self.upsert(docs, false);
                    dirty |= r.is_ok();
                    let _ = ack.send(r);
                }
                Some(Op::Bulk(docs, ack)) => {
                    let r = self.upsert(docs, true);
                    dirty |= r.is_ok();
                    let _ = ack.send(r);
                }
                Some(Op::Delete(ids, ack)) => {
                    for id in ids {
                        self.writer
                            .delete_term(Term::from_field_text(self.fields.id, &id.to_string()));
                    }
                    dirty = true;
                    let _ = ack.send(Ok(()));
                }
                Some(Op::Clear(ack)) => {
                    let r = self
                        .writer
                        .delete_all_documents()
                        .map(|_| ())
                        .map_err(SearchError::from);
                    if r.is_ok() {
                        self.meta = CommitMeta::default();
                        dirty = true;
                    }
                    let _ = ack.send(r);
                }
                Some(Op::BeginRebuild(ack)) => {
                    // Load first, merge once at the end: merging while loading
                    // rewrites the same documents many times.
                    self.writer.set_merge_policy(Box::new(NoMergePolicy));
                    let empty = !dirty && self.reader.searcher().num_docs() == 0;
                    self.rebuild = Some(Rebuild {
                        fresh: empty,
                        live: HashMap::new(),
                    });
                    self.meta.complete = false;
                    let r = self.commit(&mut last_commit);
                    dirty = r.is_err();
                    let _ = ack.send(r);
                }
                Some(Op::FinishRebuild(ack)) => {
                    self.rebuild = None;
                    self.meta.complete = true;
                    let r = self.commit(&mut last_commit);
                    dirty = r.is_err();
                    self.writer.set_merge_policy(live_merge_policy());
                    if r.is_ok() {
                        self.merge_all();
                    }
                    let _ = ack.send(r);
                }
                Some(Op::Flush(ack)) => {
                    let r = if dirty { self.commit(&mut last_commit) } else { Ok(()) };
                    dirty = r.is_err();
                    let _ = ack.send(r);
                }
                Some(Op::Shutdown(ack)) => stop = Some(ack),
            }
            if let Some(ack) = stop {
                let r = if dirty { self.commit(&mut last_commit) } else { Ok(()) };
                let _ = ack.send(r);
                break;
            }
            if dirty && last_commit.elapsed() >= self.interval() {
                dirty = self.commit(&mut last_commit).is_err();
            }
        }
        if dirty {
            let _ = self.commit(&mut last_commit);
        }
        if let Err(e) = self.writer.wait_merging_threads() {
            tracing::warn!(error = %e, "search index merges did not finish cleanly");
        }
        tracing::debug!("search index writer stopped");
    }

    fn upsert(&mut self, docs: Vec<SearchDocument>, bulk: bool) -> Result<(), SearchError> {
        for d in docs {
            let ts = d.updated_at.timestamp_micros();
            let mut delete = true;
            if let Some(rebuild) = &mut self.rebuild {
                if bulk {
                    match rebuild.live.get(&d.id) {
                        // A live change already indexed this or a newer state.
                        Some(&live) if live >= ts => continue,
                        Some(_) => {}
                        None => delete = !rebuild.fresh,
                    }
                } else {
                    rebuild.live.insert(d.id, ts);
                }
            }
            let doc = to_tantivy(&self.fields, &d)?;
            if delete {
                self.writer
                    .delete_term(Term::from_field_text(self.fields.id, &d.id.to_string()));
            }
            self.writer.add_document(doc)?;
            self.pending += 1;
            let secs = d.updated_at.timestamp();
            self.meta.watermark = Some(self.meta.watermark.map_or(secs, |w| w.max(secs)));
        }
        Ok(())
    }

    /// Starts merging every segment into one, in the background (the
    /// reader picks the result up on an idle reload).
    fn merge_all(&mut self) {
        match self.writer.index().searchable_segment_ids() {
            Ok(ids) if ids.len() > 1 => {
                tracing::info!(segments = ids.len(), "merging the rebuilt search index");
                // The merge runs on tantivy's merge threads; its result is
                // not awaited here.
                drop(self.writer.merge(&ids));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot list search index segments"),
        }
    }

    fn commit(&mut self, last_commit: &mut Instant) -> Result<(), SearchError> {
        *last_commit = Instant::now();
        self.pending = 0;
        let payload = serde_json::to_string(&self.meta).map_err(SearchError::engine)?;
        let result = self.writer.prepare_commit().and_then(|mut prepared| {
            prepared.set_payload(&payload);
            prepared.commit()
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "search index commit failed; will retry");
            return Err(e.into());
        }
        if let Err(e) = self.reader.reload() {
            tracing::error!(error = %e, "search index reader could not reload");
            return Err(e.into());
        }
        self.shared
            .watermark
            .store(self.meta.watermark.unwrap_or(i64::MIN), Ordering::Release);
        self.shared.complete.store(self.meta.complete, Ordering::Release);
        metrics::counter!("townhall_search_commits_total").increment(1);
        Ok(())
    }
}
