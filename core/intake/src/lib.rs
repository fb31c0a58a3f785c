//! The one intake pipeline every channel calls, the staff workflow, and the
//! outbox worker that runs after-commit reactions.
//!
//! A submission from GraphQL, Open311, email or SMS goes through
//! [`Intake::submit`]: look up the service, check the input against the
//! domain rules, let the owning plugin validate and route it (a
//! *before*-hook: it may reject), commit the request, its first history entry
//! and its outbox rows in one transaction, then wake the outbox worker. What
//! reacts to a committed fact (search indexing, plugin `on-event`,
//! notifications) runs from the outbox (*after*-hooks) and can never block or
//! roll back the resident's submission.
//!
//! **Must never:** know HTTP or GraphQL types; decide who is allowed to call
//! it (the API checks that first); read the wall clock except through its
//! [`townhall_domain::clock::Clock`].

pub mod background;
mod catalog;
mod error;
pub mod events;
pub mod outbox;
pub mod router;
mod submit;
mod workflow;

use std::sync::Arc;

use tokio::sync::Notify;
use townhall_domain::clock::Clock;
use townhall_store::Store;

pub use catalog::Catalog;
pub use error::IntakeError;
pub use router::{FaultKind, PluginFault, RouteError, Router};
pub use submit::Submitted;
pub use workflow::StatusChange;

/// The intake pipeline and workflow, shared by every API surface.
pub struct Intake {
    store: Store,
    clock: Arc<dyn Clock>,
    catalog: Catalog,
    router: Option<Arc<dyn Router>>,
    consumers: Vec<String>,
    wake: Arc<Notify>,
    activity: Arc<outbox::Activity>,
}

impl Intake {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            catalog: Catalog::new(store.clone()),
            store,
            clock,
            router: None,
            consumers: Vec::new(),
            wake: Arc::new(Notify::new()),
            activity: Arc::new(outbox::Activity::default()),
        }
    }

    /// Plugs in what validates and routes plugin-owned services.
    pub fn with_router(mut self, router: Arc<dyn Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// Every change enqueues an outbox row for each named consumer (e.g.
    /// `search`); plugin-owned services also get one for `plugin:<id>`.
    pub fn with_consumer(mut self, consumer: impl Into<String>) -> Self {
        self.consumers.push(consumer.into());
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Signalled after every commit that enqueued outbox work.
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Counts submissions as they start; the outbox worker rests between
    /// batches while it moves ([`outbox::OutboxWorker::yielding_to`]).
    pub fn activity(&self) -> Arc<outbox::Activity> {
        self.activity.clone()
    }
}
