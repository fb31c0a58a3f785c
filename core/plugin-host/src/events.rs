//! The after-hook: the outbox consumer `plugin:<id>` that tells a plugin
//! what happened to one of its requests (`on-event`) and applies the
//! actions it returns, on its behalf, through the intake workflow.
//!
//! A fault or an unavailable plugin fails the outbox item so the worker
//! retries it with backoff; the resident's submission was committed long
//! before and is never affected. An action the workflow refuses (say, an
//! impossible status change) is logged and dropped: retrying cannot help.
//!
//! **Must never:** apply an action that bypasses the workflow's rules,
//! or tell a plugin about internal notes or the reporter.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use townhall_domain::Status;
use townhall_intake::events::RequestEvent;
use townhall_intake::outbox::{HandlerError, OutboxHandler};
use townhall_intake::{FaultKind, Intake, IntakeError, StatusChange};
use townhall_store::{Actor, ActorKind, EventRecord, OutboxItem, OutboxSpec, RequestRecord, StoreError};

use crate::bindings::v0_1_0::exports::townhall::plugin::department as d;
use crate::bindings::v0_1_0::townhall::plugin::types as t;
use crate::state::Hook;
use crate::{Lane, PluginHost, convert, runtime};

/// At most this many actions are applied per event.
pub const MAX_ACTIONS: usize = 20;

/// The outbox consumer for `plugin:` items.
pub struct PluginEvents {
    host: PluginHost,
    intake: Arc<Intake>,
}

impl PluginEvents {
    pub fn new(host: PluginHost, intake: Arc<Intake>) -> Self {
        Self { host, intake }
    }

    async fn apply(
        &self,
        jurisdiction_id: &str,
        plugin_id: &str,
        request_id: uuid::Uuid,
        action: d::Action,
    ) -> Result<(), IntakeError> {
        let actor = Actor::plugin(plugin_id);
        match action {
            d::Action::SetStatus(s) => {
                let to = s.status.parse::<Status>()?;
                let change = StatusChange {
                    to,
                    public_note: s.public_note,
                    internal_note: s.internal_note,
                };
                self.intake
                    .change_status(jurisdiction_id, request_id, change, actor)
                    .await?;
            }
            d::Action::AddNote(n) => {
                self.intake
                    .add_note(jurisdiction_id, request_id, &n.body, n.public, actor)
                    .await?;
            }
            d::Action::AssignQueue(q) => {
                let current = self.intake.store().request(jurisdiction_id, request_id).await?;
                self.intake
                    .assign(jurisdiction_id, request_id, current.assignee_id, q, actor)
                    .await?;
            }
            d::Action::Notify(n) => {
                let spec = OutboxSpec {
                    consumer: "notifications".to_owned(),
                    topic: "plugin.notify".to_owned(),
                    payload: serde_json::json!({
                        "plugin_id": plugin_id,
                        "request_id": request_id,
                        "recipient": n.recipient,
                        "subject": n.subject,
                        "body": n.body,
                    }),
                };
                let now = self.intake.clock().now();
                self.intake.store().enqueue(jurisdiction_id, &spec, now).await?;
            }
            d::Action::Invoke(c) => {
                tracing::warn!(
                    plugin = %plugin_id,
                    capability = %c.capability,
                    "no integration is bound to this capability; action dropped"
                );
            }
        }
        Ok(())
    }
}

fn retry(m: impl Into<String>) -> HandlerError {
    HandlerError::retry(m)
}

/// A request and its full history, loaded ahead for a batch.
type Preloaded = (RequestRecord, Vec<EventRecord>);

impl PluginEvents {
    /// Tells the plugin about one item. `preloaded` is the request and its
    /// history when the batch already read them; otherwise they are read.
    async fn deliver(
        &self,
        item: &OutboxItem,
        payload: RequestEvent,
        preloaded: Option<Preloaded>,
    ) -> Result<(), HandlerError> {
        let Some(plugin_id) = item.consumer.strip_prefix("plugin:") else {
            return Err(HandlerError::permanent(format!(
                "`{}` is not a plugin consumer",
                item.consumer
            )));
        };
        let jurisdiction_id = item.jurisdiction_id.as_str();
        let store = self.host.store();
        let loaded = match self.host.runnable_now(jurisdiction_id, plugin_id).await {
            Ok(l) => l,
            Err(f) if f.kind == FaultKind::Unavailable => {
                // Not loaded here: maybe uninstalled, maybe not synced yet.
                return match store.plugin_install(jurisdiction_id, plugin_id).await {
                    Err(StoreError::NotFound { .. }) => Err(HandlerError::permanent(format!(
                        "plugin `{plugin_id}` is not installed"
                    ))),
                    _ => Err(retry(format!("plugin `{plugin_id}` is not loaded yet"))),
                };
            }
            Err(f) => return Err(retry(f.to_string())),
        };
        let (request, history) = match preloaded {
            Some(p) => p,
            None => {
                let request = match store.request(jurisdiction_id, payload.request_id).await {
                    Ok(r) => r,
                    Err(StoreError::NotFound { .. }) => {
                        return Err(HandlerError::permanent("the request no longer exists"));
                    }
                    Err(e) => return Err(retry(e.to_string())),
                };
                let history = store
                    .history(request.id, true)
                    .await
                    .map_err(|e| retry(e.to_string()))?;
                (request, history)
            }
        };
        let ids: HashSet<uuid::Uuid> = payload.events.iter().map(|e| e.id).collect();
        let mine: Vec<bool> = history
            .iter()
            .filter(|e| ids.contains(&e.id))
            .map(|e| e.actor.kind == ActorKind::Plugin && e.actor.id.as_deref() == Some(plugin_id))
            .collect();
        let by_self = !mine.is_empty() && mine.iter().all(|m| *m);
        let event = d::Event {
            topic: item.topic.clone(),
            request_id: request.id.to_string(),
            tracking_number: request.tracking_number.clone(),
            service_code: request.service_code.clone(),
            status: payload.status.clone(),
            priority: convert::priority_out(request.priority),
            department: request.department_code.clone(),
            queue: request.queue.clone(),
            location: match (request.lat, request.long) {
                (Some(lat), Some(long)) => Some(t::Location { lat, long }),
                _ => None,
            },
            changes: payload
                .events
                .iter()
                .filter(|e| e.kind.is_public() || e.kind == townhall_domain::EventKind::Assigned)
                .map(|e| d::Change {
                    kind: e.kind.as_str().to_owned(),
                    from_status: e.from_status.clone(),
                    to_status: e.to_status.clone(),
                    public_note: e.public_note.clone(),
                })
                .collect(),
            by_self,
            occurred_at: item.created_at.timestamp_millis(),
        };
        let started = Instant::now();
        let outcome = self
            .host
            .run_blocking(Lane::Background, &loaded, move |l| {
                runtime::on_event(&l.pre, &l.ctx, &event)
            })
            .await;
        metrics::histogram!("townhall_plugin_call_seconds", "plugin" => plugin_id.to_owned(), "hook" => "on_event")
            .record(started.elapsed().as_secs_f64());
        let actions = match outcome {
            Ok(a) => a,
            Err(f) => {
                self.host.on_fault(&loaded.install, Hook::OnEvent, &f).await;
                return Err(retry(f.fault.to_string()));
            }
        };
        for action in actions.into_iter().take(MAX_ACTIONS) {
            match self.apply(jurisdiction_id, plugin_id, request.id, action).await {
                Ok(()) => {}
                Err(e @ (IntakeError::Unavailable(_) | IntakeError::Conflict(_))) => {
                    return Err(retry(e.to_string()));
                }
                Err(e) => {
                    tracing::warn!(plugin = %plugin_id, request_id = %request.id, error = %e, "plugin action refused")
                }
            }
        }
        Ok(())
    }
}

fn payload_of(item: &OutboxItem) -> Result<RequestEvent, HandlerError> {
    serde_json::from_value(item.payload.clone())
        .map_err(|e| HandlerError::permanent(format!("unreadable event payload: {e}")))
}

#[async_trait]
impl OutboxHandler for PluginEvents {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandlerError> {
        self.deliver(item, payload_of(item)?, None).await
    }

    /// Reads the batch's requests and histories with two queries instead of
    /// two per item. An item whose request another item of the batch has
    /// already changed (through a plugin's actions), or that appears twice,
    /// is read again on its own, so every plugin sees the request as it is.
    async fn handle_batch(&self, items: &[&OutboxItem]) -> Vec<Result<(), HandlerError>> {
        let payloads: Vec<Result<RequestEvent, HandlerError>> = items.iter().map(|i| payload_of(i)).collect();
        let ids: Vec<uuid::Uuid> = payloads
            .iter()
            .filter_map(|p| p.as_ref().ok().map(|p| p.request_id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let store = self.host.store();
        let mut requests: HashMap<uuid::Uuid, RequestRecord> = HashMap::new();
        let mut histories: HashMap<uuid::Uuid, Vec<EventRecord>> = HashMap::new();
        if ids.len() > 1 {
            match (store.requests_by_ids(&ids).await, store.histories(&ids, true).await) {
                (Ok(r), Ok(h)) => {
                    requests = r.into_iter().map(|r| (r.id, r)).collect();
                    histories = h;
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::debug!(error = %e, "batch read failed; reading item by item");
                }
            }
        }
        let mut seen: HashSet<uuid::Uuid> = HashSet::new();
        let mut out = Vec::with_capacity(items.len());
        for (item, payload) in items.iter().zip(payloads) {
            let payload = match payload {
                Ok(p) => p,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            let preloaded = if seen.insert(payload.request_id) {
                requests
                    .remove(&payload.request_id)
                    .filter(|r| r.jurisdiction_id == item.jurisdiction_id)
                    .map(|r| (r, histories.remove(&payload.request_id).unwrap_or_default()))
            } else {
                None
            };
            out.push(self.deliver(item, payload, preloaded).await);
        }
        out
    }
}
