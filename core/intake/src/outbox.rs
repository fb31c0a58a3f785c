//! The outbox worker: runs after-commit reactions until they succeed.
//!
//! Work is claimed in batches with a lease, handed to the handler registered
//! for its consumer, and then completed, retried with exponential backoff,
//! or — after `max_attempts` — set aside as dead with its last error. A
//! failing handler never affects the change that enqueued the work.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

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
        }
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
        }
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

    /// Runs until `shutdown` turns true, finishing the batch in hand.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let n = self.run_once().await;
            if n as u64 >= self.config.batch {
                continue;
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
