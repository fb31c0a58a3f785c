//! Runs Townhall plugins as sandboxed WebAssembly components.
//!
//! One [`PluginHost`] per process holds one wasmtime engine (pooling
//! allocator, epoch interruption), a pre-instantiated component per
//! installed plugin version, and the install settings read from the
//! database. It implements intake's [`Router`] port (validate + route,
//! a before-hook) and, through [`PluginHost::event_handler`], the outbox's
//! `plugin:` consumer (on-event, an after-hook), and offers the lifecycle
//! operations the CLI and the admin API call (install, upgrade, grant,
//! revoke, enable, disable, uninstall, faults).
//!
//! Every call gets a fresh instance bounded in CPU (epoch deadline), memory
//! (limiter), output size and host-call time, runs on a blocking thread
//! (`on-event` on a lowered one, so reactions yield the CPU to intake),
//! and fails only ever as a [`PluginFault`]; repeated faults disable the
//! plugin. Installs live in the database: a host notices changes made by
//! another process (the CLI, another replica) within `sync_interval_ms`.
//!
//! **Must never:** run wasm on a tokio worker thread; give a plugin the
//! server's files, environment, sockets or any network host it was not
//! granted; let one plugin's failure affect another plugin or the server;
//! depend on the API or server crates (they depend on this one).

mod bindings;
mod caps;
pub mod cli;
pub mod config;
mod convert;
mod engine;
mod error;
mod events;
pub mod limits;
mod runtime;
pub mod scaffold;
pub mod signing;
mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, watch};
use townhall_domain::Status;
use townhall_domain::clock::Clock;
use townhall_domain::intake::{Channel, ValidIntake};
use townhall_domain::routing::Routing;
use townhall_domain::service::ServiceDefinition;
use townhall_intake::background::BackgroundPool;
use townhall_intake::{FaultKind, PluginFault, RouteError, Router};
use townhall_store::{PluginFaultRecord, PluginInstall, PluginUpdate, Secrets, Store, StoreError};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::bindings::v0_1_0::DepartmentPluginPre;
use crate::bindings::v0_1_0::exports::townhall::plugin::department as d;
pub use crate::config::HostConfig;
pub use crate::error::PluginError;
pub use crate::events::PluginEvents;
pub use crate::limits::Limits;
use crate::runtime::{CallFault, PluginCtx};
use crate::state::{CallState, Hook};

/// Interface versions (`townhall:plugin@…`) this host runs.
pub const SUPPORTED_INTERFACE_VERSIONS: &[&str] = &["0.1.0"];

const WIT_PACKAGE: &str = "townhall:plugin";

/// One installed plugin version, ready to instantiate.
struct Loaded {
    install: PluginInstall,
    ctx: Arc<PluginCtx>,
    pre: DepartmentPluginPre<CallState>,
}

type Key = (String, String);

/// The first wait before loading an install again after it failed to load
/// here; it doubles with each failure up to [`LOAD_RETRY_MAX`].
const LOAD_RETRY_FIRST: chrono::Duration = chrono::Duration::seconds(1);
const LOAD_RETRY_MAX: chrono::Duration = chrono::Duration::seconds(60);

/// An install (at one revision) that could not be loaded on this server,
/// and when [`PluginHost::sync`] tries it again.
#[derive(Debug, Clone)]
struct FailedLoad {
    revision: i64,
    attempts: u32,
    retry_at: chrono::DateTime<chrono::Utc>,
}

impl FailedLoad {
    /// The record after one more failure of `revision` at `now`.
    fn after(previous: Option<&FailedLoad>, revision: i64, now: chrono::DateTime<chrono::Utc>) -> FailedLoad {
        let attempts = previous.filter(|f| f.revision == revision).map_or(0, |f| f.attempts) + 1;
        let wait = (0..attempts.saturating_sub(1).min(16))
            .fold(LOAD_RETRY_FIRST, |w, _| w * 2)
            .min(LOAD_RETRY_MAX);
        FailedLoad {
            revision,
            attempts,
            retry_at: now + wait,
        }
    }
}

struct Inner {
    engine: Engine,
    linker: Linker<CallState>,
    store: Store,
    clock: Arc<dyn Clock>,
    config: HostConfig,
    cache: Option<PathBuf>,
    runtime: tokio::runtime::Handle,
    http: reqwest::Client,
    plugins: RwLock<HashMap<Key, Arc<Loaded>>>,
    seen_revision: Mutex<Option<i64>>,
    /// Installs that failed to load here, tried again with backoff (a
    /// failed read or compile must not leave a plugin unloaded until the
    /// next change to any install).
    failed_loads: Mutex<HashMap<Key, FailedLoad>>,
    sync_lock: tokio::sync::Mutex<()>,
    slots: Arc<Semaphore>,
    /// Where `on-event` runs: a lowered thread, so after-commit reactions
    /// yield the CPU to intake (validate and route run on tokio's blocking
    /// pool at normal priority).
    background: BackgroundPool,
    recent_faults: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

/// Which threads a plugin call runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// A resident is waiting (validate and route): tokio's blocking pool.
    Intake,
    /// After-commit work (`on-event`): the host's lowered thread.
    Background,
}

/// The plugin host. Cheap to clone (shared state).
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What to install or upgrade.
#[derive(Debug, Clone, Default)]
pub struct InstallRequest {
    /// `None`: the default jurisdiction.
    pub jurisdiction_id: Option<String>,
    /// The `.wasm` component.
    pub component: Vec<u8>,
    /// Detached ed25519 signature over `component` (64 bytes).
    pub signature: Option<Vec<u8>>,
    /// Capabilities granted (`kv`, `http:HOST[:PORT]`). On upgrade they are
    /// added to the existing grants.
    pub grants: Vec<String>,
    /// Per-install configuration (JSON). On upgrade `None` keeps the old one.
    pub config: Option<serde_json::Value>,
    /// Secrets by name. On upgrade they are merged into the existing ones.
    pub secrets: BTreeMap<String, String>,
    /// On upgrade `None` keeps the old limits.
    pub limits: Option<Limits>,
}

/// What a component declares, read without installing it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Inspection {
    pub plugin_id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub interface_version: String,
    pub sha256: String,
    pub services: Vec<String>,
    /// Capabilities it asks for.
    pub capabilities: Vec<String>,
    pub signed_by_trusted_key: bool,
}

/// The outcome of an install or upgrade.
#[derive(Debug, Clone, PartialEq)]
pub struct InstallReport {
    pub install: PluginInstall,
    /// The version replaced, on upgrade.
    pub previous_version: Option<String>,
    /// Requested by the manifest but not granted (calls using them fail
    /// with `PLUGIN_CAPABILITY_DENIED` until granted).
    pub not_granted: Vec<String>,
    /// Service codes that left the catalog (upgrade dropped them).
    pub retired_services: Vec<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    signing::hex(&Sha256::digest(bytes))
}

/// `townhall:plugin/department@0.1.0` → (`department`, `0.1.0`).
fn townhall_exports(component: &Component, engine: &Engine) -> Vec<(String, String)> {
    component
        .component_type()
        .exports(engine)
        .filter_map(|(name, _)| {
            let rest = name.strip_prefix(WIT_PACKAGE)?.strip_prefix('/')?;
            let (iface, version) = rest.split_once('@')?;
            Some((iface.to_owned(), version.to_owned()))
        })
        .collect()
}

fn valid_id(id: &str) -> bool {
    (2..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_code(code: &str) -> bool {
    (1..=64).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl PluginHost {
    /// Builds the engine, then loads every install from the database.
    /// `data_dir` holds the compiled-artifact cache (`plugin-cache/`);
    /// `None` disables the cache. Must be called inside a tokio runtime.
    pub async fn new(
        store: Store,
        data_dir: Option<&Path>,
        clock: Arc<dyn Clock>,
        config: HostConfig,
    ) -> Result<PluginHost, PluginError> {
        let engine = engine::build(&config).map_err(|e| PluginError::Io(format!("cannot start wasmtime: {e:#}")))?;
        let linker = engine::linker(&engine).map_err(|e| PluginError::Io(format!("cannot link host: {e:#}")))?;
        let cache = data_dir.map(|d| engine::cache_dir(&d.join("plugin-cache"), &engine));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("townhall-plugin-host")
            .build()
            .map_err(|e| PluginError::Io(format!("cannot build HTTP client: {e}")))?;
        let background = BackgroundPool::new("plugin-events", 1)
            .map_err(|e| PluginError::Io(format!("cannot start the plugin event thread: {e}")))?;
        let host = PluginHost {
            inner: Arc::new(Inner {
                background,
                slots: Arc::new(Semaphore::new(
                    usize::try_from(config.max_instances.max(1)).unwrap_or(1),
                )),
                engine,
                linker,
                store,
                clock,
                config,
                cache,
                runtime: tokio::runtime::Handle::current(),
                http,
                plugins: RwLock::new(HashMap::new()),
                seen_revision: Mutex::new(None),
                failed_loads: Mutex::new(HashMap::new()),
                sync_lock: tokio::sync::Mutex::new(()),
                recent_faults: Mutex::new(HashMap::new()),
            }),
        };
        host.sync().await?;
        Ok(host)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    fn ctx_for(&self, install: &PluginInstall) -> Arc<PluginCtx> {
        Arc::new(PluginCtx {
            jurisdiction_id: install.jurisdiction_id.clone(),
            plugin_id: install.plugin_id.clone(),
            grants: install.grants.clone(),
            config_json: install.config.to_string(),
            secrets: install.secrets.clone(),
            limits: Limits::from_json(
                &install.limits,
                self.inner.config.default_limits,
                self.inner.config.max_memory_bytes,
            ),
            clock: self.inner.clock.clone(),
            store: self.inner.store.clone(),
            runtime: self.inner.runtime.clone(),
            http: self.inner.http.clone(),
        })
    }

    /// Compiles (or loads from the cache) and pre-instantiates a component.
    async fn prepare(
        &self,
        sha256: &str,
        bytes: Vec<u8>,
    ) -> Result<(DepartmentPluginPre<CallState>, String), PluginError> {
        let inner = self.inner.clone();
        let sha = sha256.to_owned();
        tokio::task::spawn_blocking(move || {
            let component = engine::load_component(&inner.engine, inner.cache.as_deref(), &sha, &bytes)
                .map_err(|e| PluginError::InvalidComponent(format!("{e:#}")))?;
            let exports = townhall_exports(&component, &inner.engine);
            let Some((iface, version)) = exports.first().cloned() else {
                return Err(PluginError::InvalidComponent(
                    "it exports no `townhall:plugin` interface (build it with townhall-sdk)".to_owned(),
                ));
            };
            if !SUPPORTED_INTERFACE_VERSIONS.contains(&version.as_str()) {
                return Err(PluginError::UnsupportedInterface {
                    found: version,
                    supported: SUPPORTED_INTERFACE_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
                });
            }
            if iface != "department" {
                return Err(PluginError::InvalidComponent(format!(
                    "`{iface}` plugins are not supported by this server yet (only department plugins)"
                )));
            }
            let pre = inner.linker.instantiate_pre(&component).map_err(|e| {
                PluginError::InvalidComponent(format!("it needs something this host does not offer: {e:#}"))
            })?;
            let pre = DepartmentPluginPre::new(pre).map_err(|e| PluginError::InvalidComponent(format!("{e:#}")))?;
            Ok((pre, version))
        })
        .await
        .map_err(|e| PluginError::Io(format!("compiling the plugin failed: {e}")))?
    }

    async fn load(&self, install: PluginInstall) -> Result<Loaded, PluginError> {
        let bytes = self.inner.store.plugin_component(&install.sha256).await?;
        let (pre, _) = self.prepare(&install.sha256, bytes).await?;
        Ok(Loaded {
            ctx: self.ctx_for(&install),
            install,
            pre,
        })
    }

    /// Brings the loaded plugins in line with the database. Returns whether
    /// anything changed. Called by [`PluginHost::spawn_sync`] and after
    /// every local lifecycle operation.
    ///
    /// An install that fails to load (its component could not be read, or
    /// does not compile here) is left out and tried again at a later sync,
    /// after 1 s, then 2 s, 4 s… up to a minute between tries, until it
    /// loads or changes.
    pub async fn sync(&self) -> Result<bool, PluginError> {
        let _guard = self.inner.sync_lock.lock().await;
        let revision = self.inner.store.plugin_revision().await?;
        let now = self.inner.clock.now();
        let failed: HashMap<Key, FailedLoad> = self.inner.failed_loads.lock().map(|f| f.clone()).unwrap_or_default();
        let new_revision = self.inner.seen_revision.lock().ok().and_then(|g| *g) != Some(revision);
        if !new_revision && !failed.values().any(|f| f.retry_at <= now) {
            return Ok(false);
        }
        let installs = self.inner.store.plugin_installs(None).await?;
        let current: HashMap<Key, Arc<Loaded>> = self.inner.plugins.read().map(|m| m.clone()).unwrap_or_default();
        let mut next = HashMap::new();
        let mut still_failing = HashMap::new();
        let mut loaded_any = false;
        for install in installs {
            let key = (install.jurisdiction_id.clone(), install.plugin_id.clone());
            let loaded = match current.get(&key) {
                Some(l) if l.install.revision == install.revision => l.clone(),
                Some(l) if l.install.sha256 == install.sha256 => Arc::new(Loaded {
                    ctx: self.ctx_for(&install),
                    pre: l.pre.clone(),
                    install,
                }),
                _ => {
                    let before = failed.get(&key);
                    if let Some(f) = before.filter(|f| f.revision == install.revision && f.retry_at > now) {
                        still_failing.insert(key, f.clone());
                        continue;
                    }
                    match self.load(install.clone()).await {
                        Ok(l) => {
                            loaded_any = true;
                            Arc::new(l)
                        }
                        Err(e) => {
                            let f = FailedLoad::after(before, install.revision, now);
                            tracing::error!(
                                plugin = %key.1,
                                jurisdiction = %key.0,
                                error = %e,
                                attempts = f.attempts,
                                retry_in_secs = (f.retry_at - now).num_seconds(),
                                "cannot load plugin; will try again"
                            );
                            still_failing.insert(key, f);
                            continue;
                        }
                    }
                }
            };
            next.insert(key, loaded);
        }
        if let Ok(mut map) = self.inner.plugins.write() {
            *map = next;
        }
        if let Ok(mut f) = self.inner.failed_loads.lock() {
            *f = still_failing;
        }
        if let Ok(mut seen) = self.inner.seen_revision.lock() {
            *seen = Some(revision);
        }
        tracing::debug!(revision, "plugin installs synced");
        Ok(new_revision || loaded_any)
    }

    /// Polls the database for plugin changes until `shutdown` turns true.
    pub fn spawn_sync(&self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let host = self.clone();
        let every = Duration::from_millis(self.inner.config.sync_interval_ms.max(50));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    break;
                }
                if let Err(e) = host.sync().await {
                    tracing::warn!(error = %e, "plugin sync failed");
                }
            }
        })
    }

    fn loaded(&self, jurisdiction_id: &str, plugin_id: &str) -> Option<Arc<Loaded>> {
        self.inner
            .plugins
            .read()
            .ok()
            .and_then(|m| m.get(&(jurisdiction_id.to_owned(), plugin_id.to_owned())).cloned())
    }

    /// Like [`Self::runnable`], but when the install is missing or disabled
    /// here, first catches up with the database: another process (the CLI,
    /// another replica) may have changed it since the last sync. Looks
    /// again whether or not this call's sync changed anything: the periodic
    /// sync may have been loading the install meanwhile (its lock held
    /// this one back), and then finds nothing new to do itself.
    async fn runnable_now(&self, jurisdiction_id: &str, plugin_id: &str) -> Result<Arc<Loaded>, PluginFault> {
        match self.runnable(jurisdiction_id, plugin_id) {
            Ok(l) => Ok(l),
            Err(first) => match self.sync().await {
                Ok(_) => self.runnable(jurisdiction_id, plugin_id),
                Err(_) => Err(first),
            },
        }
    }

    /// The loaded, enabled install, or the fault that says why not.
    fn runnable(&self, jurisdiction_id: &str, plugin_id: &str) -> Result<Arc<Loaded>, PluginFault> {
        match self.loaded(jurisdiction_id, plugin_id) {
            None => Err(PluginFault {
                plugin_id: plugin_id.to_owned(),
                kind: FaultKind::Unavailable,
                message: "it is not installed on this server".to_owned(),
            }),
            Some(l) if !l.install.enabled => Err(PluginFault {
                plugin_id: plugin_id.to_owned(),
                kind: FaultKind::Disabled,
                message: "it is disabled".to_owned(),
            }),
            Some(l) => Ok(l),
        }
    }

    /// Runs `f` on a blocking thread once an instance slot is free: for
    /// [`Lane::Intake`] on tokio's blocking pool, for [`Lane::Background`]
    /// on the host's lowered thread.
    async fn run_blocking<R: Send + 'static>(
        &self,
        lane: Lane,
        loaded: &Arc<Loaded>,
        f: impl FnOnce(&Loaded) -> Result<R, CallFault> + Send + 'static,
    ) -> Result<R, CallFault> {
        let unavailable = |m: &str| CallFault {
            fault: PluginFault {
                plugin_id: loaded.install.plugin_id.clone(),
                kind: FaultKind::Unavailable,
                message: m.to_owned(),
            },
            detail: m.to_owned(),
        };
        let permit = self
            .inner
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| unavailable("the plugin host is shutting down"))?;
        let l = loaded.clone();
        let job = move || {
            let _permit = permit;
            f(&l)
        };
        match lane {
            Lane::Intake => tokio::task::spawn_blocking(job)
                .await
                .map_err(|_| unavailable("the plugin call was aborted"))?,
            Lane::Background => self
                .inner
                .background
                .run(job)
                .await
                .map_err(|_| unavailable("the plugin call was aborted"))?,
        }
    }

    /// Records a fault: log, metric, fault log, and auto-disable after
    /// `auto_disable_after` faults within `fault_window_secs`.
    async fn on_fault(&self, install: &PluginInstall, hook: Hook, f: &CallFault) {
        let kind = f.fault.kind;
        let code = kind.code();
        metrics::counter!("townhall_plugin_faults_total", "plugin" => install.plugin_id.clone(), "kind" => code)
            .increment(1);
        tracing::warn!(
            plugin = %install.plugin_id,
            jurisdiction = %install.jurisdiction_id,
            hook = hook.as_str(),
            kind = code,
            detail = %f.detail,
            "plugin fault: {}",
            f.fault.message
        );
        if matches!(kind, FaultKind::Disabled | FaultKind::Unavailable) {
            return;
        }
        let now = self.inner.clock.now();
        if let Err(e) = self
            .inner
            .store
            .record_plugin_fault(
                &install.jurisdiction_id,
                &install.plugin_id,
                code,
                hook.as_str(),
                &f.detail,
                now,
            )
            .await
        {
            tracing::warn!(error = %e, "could not record plugin fault");
        }
        let threshold = self.inner.config.auto_disable_after;
        if threshold == 0 {
            return;
        }
        let window = Duration::from_secs(self.inner.config.fault_window_secs.max(1));
        let key = (install.jurisdiction_id.clone(), install.plugin_id.clone());
        let count = match self.inner.recent_faults.lock() {
            Ok(mut m) => {
                let q = m.entry(key.clone()).or_default();
                let at = Instant::now();
                q.push_back(at);
                while q.front().is_some_and(|t| at.duration_since(*t) > window) {
                    q.pop_front();
                }
                q.len()
            }
            Err(_) => return,
        };
        if u32::try_from(count).unwrap_or(u32::MAX) < threshold {
            return;
        }
        let reason = format!(
            "disabled automatically after {count} faults within {} s; last: {code}: {}",
            window.as_secs(),
            f.fault.message
        );
        tracing::error!(plugin = %install.plugin_id, jurisdiction = %install.jurisdiction_id, reason = %reason, "plugin auto-disabled");
        metrics::counter!("townhall_plugin_auto_disabled_total", "plugin" => install.plugin_id.clone()).increment(1);
        let update = PluginUpdate {
            enabled: Some((false, Some(reason))),
            ..Default::default()
        };
        if let Err(e) = self
            .inner
            .store
            .update_plugin_install(&install.jurisdiction_id, &install.plugin_id, &update, now)
            .await
        {
            tracing::error!(error = %e, "could not disable faulty plugin");
        }
        if let Ok(mut m) = self.inner.recent_faults.lock() {
            m.remove(&key);
        }
        let _ = self.sync().await;
    }

    async fn jurisdiction(&self, requested: Option<&str>) -> Result<String, PluginError> {
        match requested.map(str::trim).filter(|j| !j.is_empty()) {
            Some(j) => Ok(self.inner.store.jurisdiction(j).await?.id),
            None => self
                .inner
                .store
                .default_jurisdiction()
                .await?
                .map(|j| j.id)
                .ok_or(PluginError::NoJurisdiction),
        }
    }

    async fn read_manifest(
        &self,
        jurisdiction_id: &str,
        req: &InstallRequest,
        config: &serde_json::Value,
    ) -> Result<(DepartmentPluginPre<CallState>, String, String, d::DepartmentManifest), PluginError> {
        let sha256 = sha256_hex(&req.component);
        let signed = req
            .signature
            .as_deref()
            .is_some_and(|s| signing::verify(&req.component, s, &self.inner.config.trusted_keys));
        if self.inner.config.require_signed {
            match &req.signature {
                None => return Err(PluginError::SignatureRequired),
                Some(_) if !signed => return Err(PluginError::BadSignature),
                Some(_) => {}
            }
        }
        let (pre, version) = self.prepare(&sha256, req.component.clone()).await?;
        let probe = PluginInstall {
            jurisdiction_id: jurisdiction_id.to_owned(),
            plugin_id: "(installing)".to_owned(),
            name: String::new(),
            version: String::new(),
            interface_version: version.clone(),
            kind: "department".to_owned(),
            sha256: sha256.clone(),
            requested: vec![],
            grants: vec![],
            config: config.clone(),
            secrets: Secrets(req.secrets.clone()),
            limits: serde_json::json!(req.limits.unwrap_or(self.inner.config.default_limits)),
            services: vec![],
            enabled: true,
            disabled_reason: None,
            fault_count: 0,
            last_fault_at: None,
            last_fault: None,
            revision: 0,
            installed_at: self.inner.clock.now(),
            updated_at: self.inner.clock.now(),
        };
        let ctx = self.ctx_for(&probe);
        let p = pre.clone();
        let manifest = tokio::task::spawn_blocking(move || runtime::manifest(&p, &ctx))
            .await
            .map_err(|e| PluginError::Io(format!("reading the manifest failed: {e}")))?
            .map_err(|f| PluginError::Fault(f.fault))?;
        Ok((pre, sha256, version, manifest))
    }

    /// Reads a component's manifest without installing it: what it is and
    /// which capabilities it asks for (to show before granting them).
    pub async fn inspect(&self, component: &[u8], signature: Option<&[u8]>) -> Result<Inspection, PluginError> {
        let jurisdiction_id = self.jurisdiction(None).await.unwrap_or_default();
        let req = InstallRequest {
            component: component.to_vec(),
            signature: signature.map(<[u8]>::to_vec),
            ..Default::default()
        };
        let (_, sha256, version, m) = self
            .read_manifest(&jurisdiction_id, &req, &serde_json::json!({}))
            .await?;
        Ok(Inspection {
            plugin_id: m.id,
            name: m.name,
            version: m.version,
            description: m.description,
            interface_version: version,
            signed_by_trusted_key: signature
                .is_some_and(|s| signing::verify(component, s, &self.inner.config.trusted_keys)),
            sha256,
            services: m.services.into_iter().map(|s| s.code).collect(),
            capabilities: m.capabilities,
        })
    }

    async fn check_manifest(
        &self,
        jurisdiction_id: &str,
        m: &d::DepartmentManifest,
    ) -> Result<Vec<ServiceDefinition>, PluginError> {
        let bad = |msg: String| Err(PluginError::InvalidManifest(msg));
        if !valid_id(&m.id) {
            return bad(format!(
                "plugin id `{}` must be 2-63 lower-case letters, digits or dashes, starting with a letter",
                m.id.chars().take(64).collect::<String>()
            ));
        }
        if m.version.trim().is_empty() || m.version.len() > 64 || m.name.trim().is_empty() || m.name.len() > 200 {
            return bad("name and version are required (at most 200 and 64 characters)".to_owned());
        }
        if m.services.is_empty() || m.services.len() > 100 {
            return bad("a department plugin owns 1 to 100 services".to_owned());
        }
        for c in &m.capabilities {
            townhall_sdk::capability::check(c).map_err(PluginError::InvalidManifest)?;
        }
        for s in &m.workflow {
            if s.parse::<Status>().is_err() {
                return bad(format!("workflow status `{s}` is not a Townhall status"));
            }
        }
        let existing = self.inner.store.services(jurisdiction_id, true).await?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for s in &m.services {
            if !valid_code(&s.code) || !seen.insert(s.code.clone()) {
                return bad(format!("service code `{}` is malformed or repeated", s.code));
            }
            if s.name.trim().is_empty() || s.name.len() > 200 {
                return bad(format!("service `{}` needs a name of at most 200 characters", s.code));
            }
            let mut attr_codes = BTreeSet::new();
            for a in &s.attributes {
                if !valid_code(&a.code) || !attr_codes.insert(a.code.clone()) {
                    return bad(format!(
                        "attribute `{}` of `{}` is malformed or repeated",
                        a.code, s.code
                    ));
                }
                let is_list = matches!(
                    a.datatype,
                    crate::bindings::v0_1_0::townhall::plugin::types::Datatype::Singlevaluelist
                        | crate::bindings::v0_1_0::townhall::plugin::types::Datatype::Multivaluelist
                );
                if is_list && a.values.is_empty() {
                    return bad(format!("list attribute `{}` of `{}` has no values", a.code, s.code));
                }
            }
            let sla = convert::sla_in(s.sla)
                .map_err(|e| PluginError::InvalidManifest(format!("service `{}`: {e}", s.code)))?;
            match self.inner.store.department(jurisdiction_id, &s.department).await {
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => {
                    return Err(PluginError::UnknownDepartment {
                        service: s.code.clone(),
                        department: s.department.clone(),
                        jurisdiction: jurisdiction_id.to_owned(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
            if let Some(owner) = existing
                .iter()
                .find(|e| e.code == s.code)
                .and_then(|e| e.plugin_id.clone())
                .filter(|owner| owner != &m.id)
            {
                return Err(PluginError::ServiceConflict {
                    code: s.code.clone(),
                    owner,
                });
            }
            out.push(ServiceDefinition {
                jurisdiction_id: jurisdiction_id.to_owned(),
                code: s.code.clone(),
                name: s.name.clone(),
                description: s.description.clone(),
                group: s.group.clone(),
                keywords: s.keywords.clone(),
                attributes: s.attributes.iter().cloned().map(convert::attribute_in).collect(),
                default_priority: convert::priority_in(s.default_priority),
                sla,
                department_id: Some(s.department.clone()),
                plugin_id: Some(m.id.clone()),
                active: true,
                public: s.public,
                address_sensitive: s.address_sensitive,
                anonymous_allowed: s.anonymous_allowed,
                answers_with_token: false,
            });
        }
        Ok(out)
    }

    fn check_grants(grants: &[String]) -> Result<(), PluginError> {
        for g in grants {
            townhall_sdk::capability::check(g).map_err(PluginError::InvalidGrant)?;
        }
        Ok(())
    }

    async fn save(
        &self,
        jurisdiction_id: &str,
        req: InstallRequest,
        previous: Option<PluginInstall>,
    ) -> Result<InstallReport, PluginError> {
        Self::check_grants(&req.grants)?;
        let config = req
            .config
            .clone()
            .or_else(|| previous.as_ref().map(|p| p.config.clone()))
            .unwrap_or_else(|| serde_json::json!({}));
        let (_, sha256, interface_version, m) = self.read_manifest(jurisdiction_id, &req, &config).await?;
        if let Some(p) = &previous
            && p.plugin_id != m.id
        {
            return Err(PluginError::WrongPlugin {
                expected: p.plugin_id.clone(),
                found: m.id,
            });
        }
        if previous.is_none() && self.loaded(jurisdiction_id, &m.id).is_some() {
            return Err(PluginError::AlreadyInstalled(m.id));
        }
        if previous.is_none() {
            match self.inner.store.plugin_install(jurisdiction_id, &m.id).await {
                Ok(_) => return Err(PluginError::AlreadyInstalled(m.id)),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let services = self.check_manifest(jurisdiction_id, &m).await?;
        let codes: Vec<String> = services.iter().map(|s| s.code.clone()).collect();
        let mut grants: Vec<String> = previous.as_ref().map(|p| p.grants.clone()).unwrap_or_default();
        for g in req.grants {
            if !grants.contains(&g) {
                grants.push(g);
            }
        }
        let mut secrets = previous.as_ref().map(|p| p.secrets.0.clone()).unwrap_or_default();
        secrets.extend(req.secrets);
        let limits = match (req.limits, &previous) {
            (Some(l), _) => serde_json::json!(l),
            (None, Some(p)) => p.limits.clone(),
            (None, None) => serde_json::json!({}),
        };
        let retired: Vec<String> = previous
            .as_ref()
            .map(|p| p.services.iter().filter(|s| !codes.contains(s)).cloned().collect())
            .unwrap_or_default();
        let now = self.inner.clock.now();
        let install = PluginInstall {
            jurisdiction_id: jurisdiction_id.to_owned(),
            plugin_id: m.id.clone(),
            name: m.name.clone(),
            version: m.version.clone(),
            interface_version,
            kind: "department".to_owned(),
            sha256,
            requested: m.capabilities.clone(),
            grants: grants.clone(),
            config,
            secrets: Secrets(secrets),
            limits,
            services: codes,
            enabled: previous.as_ref().is_none_or(|p| p.enabled),
            disabled_reason: previous.as_ref().and_then(|p| p.disabled_reason.clone()),
            fault_count: 0,
            last_fault_at: None,
            last_fault: None,
            revision: 0,
            installed_at: now,
            updated_at: now,
        };
        self.inner
            .store
            .save_plugin_install(&install, &req.component, &services, &retired, now)
            .await?;
        self.sync().await?;
        let install = self.inner.store.plugin_install(jurisdiction_id, &m.id).await?;
        let not_granted = m.capabilities.iter().filter(|c| !grants.contains(c)).cloned().collect();
        tracing::info!(
            plugin = %install.plugin_id,
            jurisdiction = %install.jurisdiction_id,
            version = %install.version,
            sha256 = %install.sha256,
            upgraded_from = previous.as_ref().map(|p| p.version.as_str()),
            "plugin installed"
        );
        Ok(InstallReport {
            install,
            previous_version: previous.map(|p| p.version),
            not_granted,
            retired_services: retired,
        })
    }
}

/// Lifecycle operations, for the CLI and the admin API. Each takes effect
/// in this process at once and in other processes on their next sync.
impl PluginHost {
    /// Installs a plugin that is not installed yet. Its services enter the
    /// catalog (taking over core services with the same codes).
    pub async fn install(&self, req: InstallRequest) -> Result<InstallReport, PluginError> {
        let j = self.jurisdiction(req.jurisdiction_id.as_deref()).await?;
        self.save(&j, req, None).await
    }

    /// Replaces an installed plugin's component atomically: calls already
    /// running finish on the old version, new calls get the new one.
    /// Grants and secrets in `req` are added; configuration and limits are
    /// replaced only when given.
    pub async fn upgrade(&self, plugin_id: &str, req: InstallRequest) -> Result<InstallReport, PluginError> {
        let j = self.jurisdiction(req.jurisdiction_id.as_deref()).await?;
        let previous = self.get(Some(&j), plugin_id).await?;
        self.save(&j, req, Some(previous)).await
    }

    /// Installs, or upgrades when the component's plugin is already installed.
    pub async fn install_or_upgrade(&self, req: InstallRequest) -> Result<InstallReport, PluginError> {
        match self.install(req.clone()).await {
            Err(PluginError::AlreadyInstalled(id)) => self.upgrade(&id, req).await,
            other => other,
        }
    }

    /// One install.
    pub async fn get(&self, jurisdiction_id: Option<&str>, plugin_id: &str) -> Result<PluginInstall, PluginError> {
        let j = self.jurisdiction(jurisdiction_id).await?;
        match self.inner.store.plugin_install(&j, plugin_id).await {
            Ok(i) => Ok(i),
            Err(StoreError::NotFound { .. }) => Err(PluginError::NotFound(plugin_id.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Installs in one jurisdiction, or in all with `None`.
    pub async fn list(&self, jurisdiction_id: Option<&str>) -> Result<Vec<PluginInstall>, PluginError> {
        Ok(self.inner.store.plugin_installs(jurisdiction_id).await?)
    }

    /// Removes a plugin: its services leave the catalog, its requests keep
    /// their history. Returns the service codes taken out.
    pub async fn uninstall(&self, jurisdiction_id: Option<&str>, plugin_id: &str) -> Result<Vec<String>, PluginError> {
        let j = self.jurisdiction(jurisdiction_id).await?;
        let now = self.inner.clock.now();
        let retired = match self.inner.store.delete_plugin_install(&j, plugin_id, now).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => {
                return Err(PluginError::NotFound(plugin_id.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        self.sync().await?;
        tracing::info!(plugin = %plugin_id, jurisdiction = %j, "plugin uninstalled");
        Ok(retired)
    }

    async fn update(
        &self,
        jurisdiction_id: Option<&str>,
        plugin_id: &str,
        update: PluginUpdate,
    ) -> Result<PluginInstall, PluginError> {
        let j = self.jurisdiction(jurisdiction_id).await?;
        let now = self.inner.clock.now();
        let install = match self
            .inner
            .store
            .update_plugin_install(&j, plugin_id, &update, now)
            .await
        {
            Ok(i) => i,
            Err(StoreError::NotFound { .. }) => {
                return Err(PluginError::NotFound(plugin_id.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        self.sync().await?;
        Ok(install)
    }

    /// Adds grants.
    pub async fn grant(
        &self,
        jurisdiction_id: Option<&str>,
        plugin_id: &str,
        capabilities: &[String],
    ) -> Result<PluginInstall, PluginError> {
        Self::check_grants(capabilities)?;
        let mut grants = self.get(jurisdiction_id, plugin_id).await?.grants;
        for c in capabilities {
            if !grants.contains(c) {
                grants.push(c.clone());
            }
        }
        let update = PluginUpdate {
            grants: Some(grants),
            ..Default::default()
        };
        self.update(jurisdiction_id, plugin_id, update).await
    }

    /// Removes grants.
    pub async fn revoke(
        &self,
        jurisdiction_id: Option<&str>,
        plugin_id: &str,
        capabilities: &[String],
    ) -> Result<PluginInstall, PluginError> {
        let grants = self
            .get(jurisdiction_id, plugin_id)
            .await?
            .grants
            .into_iter()
            .filter(|g| !capabilities.contains(g))
            .collect();
        let update = PluginUpdate {
            grants: Some(grants),
            ..Default::default()
        };
        self.update(jurisdiction_id, plugin_id, update).await
    }

    /// Turns a disabled plugin back on (and forgets its recent faults).
    pub async fn enable(&self, jurisdiction_id: Option<&str>, plugin_id: &str) -> Result<PluginInstall, PluginError> {
        let update = PluginUpdate {
            enabled: Some((true, None)),
            ..Default::default()
        };
        let install = self.update(jurisdiction_id, plugin_id, update).await?;
        if let Ok(mut m) = self.inner.recent_faults.lock() {
            m.remove(&(install.jurisdiction_id.clone(), install.plugin_id.clone()));
        }
        Ok(install)
    }

    /// Turns a plugin off: its services stay in the catalog, but intake for
    /// them fails with `PLUGIN_DISABLED` and its events wait in the outbox.
    pub async fn disable(
        &self,
        jurisdiction_id: Option<&str>,
        plugin_id: &str,
        reason: &str,
    ) -> Result<PluginInstall, PluginError> {
        let update = PluginUpdate {
            enabled: Some((false, Some(reason.to_owned()))),
            ..Default::default()
        };
        self.update(jurisdiction_id, plugin_id, update).await
    }

    /// Replaces configuration, secrets (merged; an empty value removes one)
    /// and/or limits.
    pub async fn configure(
        &self,
        jurisdiction_id: Option<&str>,
        plugin_id: &str,
        config: Option<serde_json::Value>,
        secrets: Option<BTreeMap<String, String>>,
        limits: Option<Limits>,
    ) -> Result<PluginInstall, PluginError> {
        let secrets = match secrets {
            None => None,
            Some(changes) => {
                let mut s = self.get(jurisdiction_id, plugin_id).await?.secrets.0;
                for (k, v) in changes {
                    if v.is_empty() {
                        s.remove(&k);
                    } else {
                        s.insert(k, v);
                    }
                }
                Some(Secrets(s))
            }
        };
        let update = PluginUpdate {
            config,
            secrets,
            limits: limits.map(|l| serde_json::json!(l)),
            ..Default::default()
        };
        self.update(jurisdiction_id, plugin_id, update).await
    }

    /// The most recent faults of a plugin, newest first.
    pub async fn faults(
        &self,
        jurisdiction_id: Option<&str>,
        plugin_id: &str,
        limit: u64,
    ) -> Result<Vec<PluginFaultRecord>, PluginError> {
        let j = self.jurisdiction(jurisdiction_id).await?;
        Ok(self.inner.store.plugin_faults(&j, plugin_id, limit).await?)
    }

    /// The outbox consumer for `plugin:` items; register it with
    /// `OutboxWorker::register_prefix("plugin:", …)`. Actions are applied
    /// through `intake` on the plugin's behalf.
    pub fn event_handler(&self, intake: Arc<townhall_intake::Intake>) -> Arc<PluginEvents> {
        Arc::new(PluginEvents::new(self.clone(), intake))
    }
}

#[async_trait]
impl Router for PluginHost {
    async fn check_and_route(
        &self,
        service: &ServiceDefinition,
        intake: &ValidIntake,
        channel: Channel,
        defaults: Routing,
    ) -> Result<Routing, RouteError> {
        let plugin_id = service.plugin_id.clone().unwrap_or_default();
        let loaded = self
            .runnable_now(&service.jurisdiction_id, &plugin_id)
            .await
            .map_err(RouteError::Fault)?;
        let wit_intake = convert::intake(intake, channel.as_str());
        let wit_defaults = convert::routing_out(&defaults);
        let started = Instant::now();
        let outcome = self
            .run_blocking(Lane::Intake, &loaded, move |l| {
                runtime::validate_and_route(&l.pre, &l.ctx, &wit_intake, &wit_defaults)
            })
            .await;
        metrics::histogram!("townhall_plugin_call_seconds", "plugin" => plugin_id.clone(), "hook" => "validate_route")
            .record(started.elapsed().as_secs_f64());
        let fail = |hook: Hook, f: CallFault| async move {
            self.on_fault(&loaded.install, hook, &f).await;
            RouteError::Fault(f.fault)
        };
        match outcome {
            Err(f) => Err(fail(Hook::Route, f).await),
            Ok(runtime::Decision::Rejected(errors)) => Err(RouteError::Rejected(convert::field_errors(errors))),
            Ok(runtime::Decision::Routed(r)) => match convert::routing_in(r, &defaults) {
                Ok(routing) => Ok(routing),
                Err(message) => {
                    let f = CallFault {
                        fault: PluginFault {
                            plugin_id: plugin_id.clone(),
                            kind: FaultKind::BadOutput,
                            message: message.clone(),
                        },
                        detail: message,
                    };
                    Err(fail(Hook::Route, f).await)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_codes() {
        assert!(valid_id("public-works"));
        assert!(!valid_id("Public"));
        assert!(!valid_id("-x"));
        assert!(valid_code("road-damage"));
        assert!(!valid_code("a b"));
    }

    #[test]
    fn a_failed_load_waits_longer_each_time_up_to_a_minute() {
        use chrono::TimeZone;
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        let mut f = FailedLoad::after(None, 7, now);
        let mut waits = vec![(f.retry_at - now).num_seconds()];
        for _ in 0..7 {
            f = FailedLoad::after(Some(&f), 7, now);
            waits.push((f.retry_at - now).num_seconds());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(f.attempts, 8);
        // A new revision of the install starts over.
        let fresh = FailedLoad::after(Some(&f), 8, now);
        assert_eq!((fresh.attempts, (fresh.retry_at - now).num_seconds()), (1, 1));
    }
}

/// Direct, synchronous access to one loaded plugin for the benchmark
/// (`benches/public_works.rs`). Not an API.
#[doc(hidden)]
pub mod bench {
    use super::*;

    pub struct Handle {
        pub(crate) loaded: Arc<Loaded>,
    }

    impl Handle {
        /// validate + route on a fresh instance, on this thread. Returns
        /// whether the intake was routed (not rejected).
        pub fn validate_and_route(&self, intake: &ValidIntake, defaults: &Routing) -> Result<bool, PluginFault> {
            let i = convert::intake(intake, "web");
            let d = convert::routing_out(defaults);
            match runtime::validate_and_route(&self.loaded.pre, &self.loaded.ctx, &i, &d) {
                Ok(runtime::Decision::Routed(_)) => Ok(true),
                Ok(runtime::Decision::Rejected(_)) => Ok(false),
                Err(f) => Err(f.fault),
            }
        }

        /// An instantiated, idle instance (kept alive by the returned box).
        pub fn idle_instance(&self) -> Result<Box<dyn std::any::Any>, PluginFault> {
            runtime::instantiate(&self.loaded.pre, &self.loaded.ctx, Hook::Route)
                .map(|(store, instance)| Box::new((store, instance)) as Box<dyn std::any::Any>)
                .map_err(|f| f.fault)
        }
    }

    impl PluginHost {
        pub fn bench_handle(&self, jurisdiction_id: &str, plugin_id: &str) -> Option<Handle> {
            self.loaded(jurisdiction_id, plugin_id).map(|loaded| Handle { loaded })
        }
    }
}
