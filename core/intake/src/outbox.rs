//! The outbox worker: runs after-commit reactions until they succeed.
//!
//! Work is claimed in batches with a lease, handed to the handler registered
//! for its consumer, and then completed, retried with exponential backoff,
//! or — after `max_attempts` — set aside as dead with its last error. A
//! failing handler never affects the change that enqueued the work.
//!
//! Intake comes first: while submissions keep arriving, the worker rests
//! between batches ([`WorkerConfig::yield_factor`]), so after-commit work
//! (search indexing, plugin reactions, notifications) does not take the CPU
//! a resident's submission is waiting for. When intake is quiet, it runs
//! flat out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Duration as ChronoDuration;
use tokio::sync::{Notify, watch};
use townhall_domain::clock::Clock;
use townhall_store::{OutboxItem, Store};

/// Why a handler could not finish an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    pub message: String,
    /// `false` when retrying cannot help (the item goes straight to dead).
    pub retry: bool,
}

impl HandlerError {
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: true,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: false,
        }
    }
}

#[async_trait]
pub trait OutboxHandler: Send + Sync {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandlerError>;

    /// Handles several items of one consumer, answering for each, in
    /// order. The default takes them one by one; a handler that can share
    /// work across items (one query for many rows) overrides it.
    async fn handle_batch(&self, items: &[&OutboxItem]) -> Vec<Result<(), HandlerError>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.handle(item).await);
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub batch: u64,
    /// How often to look for work when nobody signals (other replicas' commits,
    /// retries coming due).
    pub poll: Duration,
    pub lease: Duration,
    pub max_attempts: i32,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// How long to let work gather after a wake-up before claiming it: under
    /// load, one claim and one completion then cover many changes instead
    /// of one each (both are writes, on SQLite through the one writer).
    pub gather: Duration,
    /// While intake is busy (a submission started during the last batch),
    /// rest this many times as long as the batch took before the next one:
    /// after-commit work then takes at most 1 / (1 + factor) of the time
    /// intake could use. 0 turns yielding off.
    pub yield_factor: u32,
    /// The longest rest between two batches.
    pub max_rest: Duration,
    /// How long finished (done) items are kept before they are deleted;
    /// `None` keeps them forever. Dead items are always kept.
    pub keep_done: Option<Duration>,
    /// How often the worker deletes finished items older than
    /// `keep_done`, when it has nothing else to do.
    pub purge_every: Duration,
}

/// Rows deleted per statement when finished work is purged.
const PURGE_BATCH: u64 = 1_000;
/// At most this many purge statements per purge, so an old backlog of
/// finished work goes over several idle moments instead of holding the
/// worker.
const PURGE_MAX_BATCHES: usize = 100;

/// Counts submissions as they start, for the worker to see whether intake
/// is busy ([`OutboxWorker::yielding_to`]).
#[derive(Debug, Default)]
pub struct Activity(AtomicU64);

impl Activity {
    pub fn touch(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            batch: 64,
            poll: Duration::from_millis(500),
            lease: Duration::from_secs(60),
            max_attempts: 10,
            max_backoff: Duration::from_secs(3600),
            gather: Duration::from_millis(10),
            yield_factor: 3,
            max_rest: Duration::from_millis(250),
            keep_done: Some(Duration::from_secs(7 * 24 * 3600)),
            purge_every: Duration::from_secs(600),
        }
    }
}

impl WorkerConfig {
    /// How long to rest after a batch of `claimed` items that took `took`,
    /// given whether intake was busy meanwhile.
    pub fn rest_after(&self, claimed: usize, took: Duration, intake_busy: bool) -> Duration {
        if claimed == 0 || !intake_busy {
            return Duration::ZERO;
        }
        took.saturating_mul(self.yield_factor).min(self.max_rest)
    }
}

type HandlerMap = HashMap<String, Arc<dyn OutboxHandler>>;

pub struct OutboxWorker {
    store: Store,
    clock: Arc<dyn Clock>,
    id: String,
    wake: Arc<Notify>,
    config: WorkerConfig,
    exact: RwLock<HandlerMap>,
    prefixed: RwLock<Vec<(String, Arc<dyn OutboxHandler>)>>,
    activity: Option<Arc<Activity>>,
}

impl OutboxWorker {
    pub fn new(store: Store, clock: Arc<dyn Clock>, wake: Arc<Notify>, config: WorkerConfig) -> Self {
        Self {
            store,
            clock,
            id: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple()),
            wake,
            config,
            exact: RwLock::new(HashMap::new()),
            prefixed: RwLock::new(Vec::new()),
            activity: None,
        }
    }

    /// Yields to the intake whose submissions `activity` counts
    /// ([`crate::Intake::activity`]).
    pub fn yielding_to(mut self, activity: Arc<Activity>) -> Self {
        self.activity = Some(activity);
        self
    }

    /// Handles items whose consumer is exactly `consumer`.
    pub fn register(&self, consumer: &str, handler: Arc<dyn OutboxHandler>) {
        if let Ok(mut m) = self.exact.write() {
            m.insert(consumer.to_owned(), handler);
        }
    }

    /// Handles items whose consumer starts with `prefix` (e.g. `plugin:`).
    pub fn register_prefix(&self, prefix: &str, handler: Arc<dyn OutboxHandler>) {
        if let Ok(mut m) = self.prefixed.write() {
            m.push((prefix.to_owned(), handler));
        }
    }

    fn handler_for(&self, consumer: &str) -> Option<Arc<dyn OutboxHandler>> {
        if let Some(h) = self.exact.read().ok().and_then(|m| m.get(consumer).cloned()) {
            return Some(h);
        }
        self.prefixed.read().ok().and_then(|v| {
            v.iter()
                .find(|(p, _)| consumer.starts_with(p.as_str()))
                .map(|(_, h)| h.clone())
        })
    }

    fn backoff(&self, attempts: i32) -> ChronoDuration {
        let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
        let secs = 2u64.saturating_pow(exp).min(self.config.max_backoff.as_secs().max(1));
        ChronoDuration::seconds(i64::try_from(secs).unwrap_or(3600))
    }

    /// Claims and handles one batch. Returns how many items were claimed.
    pub async fn run_once(&self) -> usize {
        let now = self.clock.now();
        let lease = ChronoDuration::from_std(self.config.lease).unwrap_or(ChronoDuration::seconds(60));
        let items = match self.store.claim_outbox(&self.id, self.config.batch, lease, now).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim outbox work");
                return 0;
            }
        };
        // Successes are recorded together after the batch: one write instead
        // of one per item. A crash before that only means they run again,
        // which every handler already tolerates (delivery is at least once).
        let mut done = Vec::with_capacity(items.len());
        // Each consumer's items go to its handler together, in claim order.
        let mut groups: Vec<(&str, Vec<&OutboxItem>)> = Vec::new();
        for item in &items {
            match groups.iter_mut().find(|(c, _)| *c == item.consumer.as_str()) {
                Some((_, v)) => v.push(item),
                None => groups.push((item.consumer.as_str(), vec![item])),
            }
        }
        let mut outcomes: Vec<(&OutboxItem, Result<(), HandlerError>)> = Vec::with_capacity(items.len());
        for (consumer, group) in groups {
            match self.handler_for(consumer) {
                None => outcomes.extend(group.into_iter().map(|item| {
                    let e = HandlerError::retry(format!("no handler registered for consumer `{consumer}`"));
                    (item, Err(e))
                })),
                Some(h) => {
                    let mut answers = h.handle_batch(&group).await.into_iter();
                    for item in group {
                        let answer = answers
                            .next()
                            .unwrap_or_else(|| Err(HandlerError::retry("the handler gave no answer for this item")));
                        outcomes.push((item, answer));
                    }
                }
            }
        }
        for (item, outcome) in outcomes {
            let now = self.clock.now();
            let label = match &outcome {
                Ok(()) => "done",
                Err(e) if e.retry && item.attempts < self.config.max_attempts => "retry",
                Err(_) => "dead",
            };
            let result = match outcome {
                Ok(()) => {
                    done.push(item.id);
                    Ok(())
                }
                Err(e) => {
                    let retry_at = (label == "retry").then(|| now + self.backoff(item.attempts));
                    tracing::warn!(
                        outbox_id = item.id,
                        consumer = %item.consumer,
                        topic = %item.topic,
                        attempts = item.attempts,
                        error = %e.message,
                        gave_up = retry_at.is_none(),
                        "outbox item failed"
                    );
                    self.store.fail_outbox(item.id, &e.message, retry_at, now).await
                }
            };
            if let Err(e) = result {
                tracing::warn!(outbox_id = item.id, error = %e, "could not record outbox outcome");
            }
            let consumer_kind = item.consumer.split(':').next().unwrap_or("other").to_owned();
            metrics::counter!("townhall_outbox_processed_total", "consumer" => consumer_kind, "outcome" => label)
                .increment(1);
        }
        if let Err(e) = self.store.complete_outbox_many(&done, self.clock.now()).await {
            tracing::warn!(items = done.len(), error = %e, "could not record finished outbox work");
        }
        items.len()
    }

    /// Deletes finished items older than [`WorkerConfig::keep_done`], in
    /// batches, stopping early when intake gets busy. Returns how many went.
    pub async fn purge_done(&self) -> u64 {
        let Some(keep) = self.config.keep_done else {
            return 0;
        };
        // A retention longer than the calendar reaches keeps everything.
        let Some(before) = ChronoDuration::from_std(keep)
            .ok()
            .and_then(|keep| self.clock.now().checked_sub_signed(keep))
        else {
            return 0;
        };
        let mut purged = 0;
        for _ in 0..PURGE_MAX_BATCHES {
            let seen = self.activity.as_ref().map(|a| a.count());
            match self.store.purge_outbox_done(before, PURGE_BATCH).await {
                Ok(n) => {
                    purged += n;
                    metrics::counter!("townhall_outbox_purged_total").increment(n);
                    if n < PURGE_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not delete finished outbox work");
                    break;
                }
            }
            if matches!((&self.activity, seen), (Some(a), Some(seen)) if a.count() != seen) {
                break;
            }
        }
        if purged > 0 {
            tracing::debug!(purged, "deleted finished outbox work");
        }
        purged
    }

    /// Runs until `shutdown` turns true, finishing the batch in hand.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        // The first idle moment after start purges, then every `purge_every`.
        let mut next_purge = Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let seen = self.activity.as_ref().map(|a| a.count());
            let started = Instant::now();
            let n = self.run_once().await;
            let busy = matches!((&self.activity, seen), (Some(a), Some(seen)) if a.count() != seen);
            let rest = self.config.rest_after(n, started.elapsed(), busy);
            if !rest.is_zero() {
                metrics::histogram!("townhall_outbox_rest_seconds").record(rest.as_secs_f64());
                tokio::select! {
                    _ = tokio::time::sleep(rest) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            if n as u64 >= self.config.batch {
                continue;
            }
            if Instant::now() >= next_purge {
                self.purge_done().await;
                next_purge = Instant::now() + self.config.purge_every;
            }
            tokio::select! {
                _ = self.wake.notified() => {
                    if !self.config.gather.is_zero() {
                        tokio::time::sleep(self.config.gather).await;
                    }
                }
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::debug!("outbox worker stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rests_only_while_intake_is_busy_and_in_proportion_to_the_batch() {
        let c = WorkerConfig::default();
        let took = Duration::from_millis(8);
        assert_eq!(c.rest_after(64, took, true), Duration::from_millis(24));
        assert_eq!(c.rest_after(64, took, false), Duration::ZERO);
        // Nothing claimed: nothing to make up for.
        assert_eq!(c.rest_after(0, took, true), Duration::ZERO);
        // Capped, so a slow batch does not stall the queue for long.
        assert_eq!(c.rest_after(64, Duration::from_secs(2), true), c.max_rest);
        let off = WorkerConfig {
            yield_factor: 0,
            ..WorkerConfig::default()
        };
        assert_eq!(off.rest_after(64, took, true), Duration::ZERO);
    }

    #[test]
    fn activity_counts_every_touch() {
        let a = Activity::default();
        let before = a.count();
        a.touch();
        a.touch();
        assert_eq!(a.count(), before + 2);
    }
}
