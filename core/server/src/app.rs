//! Wiring: from a [`Config`] to a running server with its background
//! workers, and an orderly shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use townhall_access::{AccessConfig, AccessService, Mailer};
use townhall_api::{ApiConfig, ApiState, BuildInfo};
use townhall_domain::clock::{Clock, SystemClock};
use townhall_intake::Intake;
use townhall_intake::outbox::{OutboxWorker, WorkerConfig};
use townhall_plugin_host::PluginHost;
use townhall_search::SearchIndex;
use townhall_store::{Jurisdiction, Store};

use crate::config::Config;
use crate::mail::{FileMailer, SmtpMailer};
use crate::notify::Notifications;
use crate::seed;

/// Options of `serve` that are not configuration.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Load the demo city when the database is empty.
    pub demo: bool,
}

/// A running server.
pub struct App {
    pub addr: SocketAddr,
    pub store: Store,
    pub access: Arc<AccessService>,
    pub intake: Arc<Intake>,
    pub plugins: PluginHost,
    pub search: SearchIndex,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<anyhow::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

/// Connects to the configured database and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("cannot create the data directory {}", config.server.data_dir.display()))?;
    let opts = config.store_options();
    let store = Store::connect(&opts).await.context("cannot open the database")?;
    let applied = store.migrate().await.context("cannot migrate the database")?;
    if applied > 0 {
        tracing::info!(applied, backend = store.backend().as_str(), "database migrated");
    }
    Ok(store)
}

/// Makes sure there is a jurisdiction to serve: the demo city when asked
/// for on an empty database, else the configured default.
pub async fn ensure_jurisdiction(
    store: &Store,
    config: &Config,
    demo: bool,
    consumers: &[String],
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    if !store.jurisdictions().await?.is_empty() {
        return Ok(());
    }
    if demo {
        let s = seed::seed_demo(store, now, consumers).await?;
        tracing::info!(requests = s.requests, services = s.services, "demo city loaded");
        return Ok(());
    }
    let j = &config.jurisdiction;
    store
        .upsert_jurisdiction(
            &Jurisdiction {
                id: j.id.clone(),
                name: j.name.clone(),
                timezone: j.timezone.parse().map_err(|_| anyhow::anyhow!("bad time zone"))?,
                bounds: None,
                holidays: vec![],
                is_default: true,
            },
            now,
        )
        .await?;
    Ok(())
}

pub fn mailer(config: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    let url = config.mail.smtp_url.expose();
    Ok(if url.is_empty() {
        Arc::new(FileMailer::new(config.server.data_dir.join("mail")))
    } else {
        Arc::new(SmtpMailer::new(url, &config.mail.from).map_err(anyhow::Error::msg)?)
    })
}

pub fn access_config(config: &Config) -> AccessConfig {
    let a = &config.auth;
    AccessConfig {
        session_idle: chrono::Duration::hours(a.session_idle_hours.max(1)),
        max_failures_per_account: a.max_failures_per_account.max(1),
        max_failures_per_ip: a.max_failures_per_ip.max(1),
        throttle_window: chrono::Duration::minutes(a.throttle_window_minutes.max(1)),
        min_password_len: a.min_password_len.max(8),
        public_url: config.server.public_url.trim_end_matches('/').to_owned(),
        ..AccessConfig::default()
    }
}

/// The OpenID Connect relying party, when providers are configured.
pub fn oidc(
    config: &Config,
    store: &Store,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<Option<Arc<townhall_access::Oidc>>> {
    if config.auth.oidc.is_empty() {
        return Ok(None);
    }
    let mut providers = Vec::new();
    for p in &config.auth.oidc {
        let mut role_map = std::collections::BTreeMap::new();
        for (group, roles) in &p.role_map {
            let grants = roles
                .iter()
                .map(|r| townhall_access::RoleGrant::parse(r).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            role_map.insert(group.clone(), grants);
        }
        providers.push(townhall_access::OidcProvider {
            name: p.name.clone(),
            issuer: p.issuer.clone(),
            client_id: p.client_id.clone(),
            client_secret: p.client_secret.expose().to_owned(),
            scopes: p.scopes.clone(),
            groups_claim: p.groups_claim.clone(),
            role_map,
            allowed_domains: p.allowed_domains.clone(),
        });
    }
    let o = townhall_access::Oidc::new(store.clone(), clock.clone(), &config.server.public_url, providers)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(Arc::new(o)))
}

/// The outbox consumers every change fans out to (the plugins' and the
/// notifications' are added per service by the intake pipeline).
pub fn consumers() -> Vec<String> {
    vec![townhall_search::OUTBOX_CONSUMER.to_owned()]
}

/// Opens the configured search index, with an error that says what to do.
pub async fn open_search(config: &Config) -> anyhow::Result<SearchIndex> {
    let sc = config.search_config();
    SearchIndex::open(&sc).await.map_err(|e| {
        let hint = match (&sc, &e) {
            (townhall_search::SearchConfig::Embedded(o), townhall_search::SearchError::Unavailable(_)) => format!(
                " (is another Townhall process using {}? the embedded index has one writer: stop it first, or use Meilisearch for several replicas)",
                o.dir.display()
            ),
            (townhall_search::SearchConfig::Meilisearch(_), _) => " (check search.meilisearch_url / MEILISEARCH_URL and the key)".to_owned(),
            _ => String::new(),
        };
        anyhow::anyhow!("cannot open the search index: {e}{hint}")
    })
}

impl App {
    /// Starts everything and returns once the listener is bound.
    pub async fn start(config: Config, opts: StartOptions) -> anyhow::Result<App> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = open_store(&config).await?;
        let consumers = consumers();
        ensure_jurisdiction(&store, &config, opts.demo, &consumers).await?;

        let mailer = mailer(&config)?;
        let access = Arc::new(
            AccessService::new(store.clone(), clock.clone(), access_config(&config), mailer.clone())
                .await
                .context("cannot load the access policy")?,
        );
        let plugins = PluginHost::new(
            store.clone(),
            Some(&config.server.data_dir),
            clock.clone(),
            config.plugins.clone(),
        )
        .await
        .context("cannot start the plugin host")?;
        let search = open_search(&config).await?;
        tracing::info!(engine = search.engine(), "search index open");
        let mut intake = Intake::new(store.clone(), clock.clone()).with_router(Arc::new(plugins.clone()));
        for c in &consumers {
            intake = intake.with_consumer(c.clone());
        }
        let intake = Arc::new(intake);

        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut workers = Vec::new();

        let worker = Arc::new(
            OutboxWorker::new(
                store.clone(),
                clock.clone(),
                intake.wake_handle(),
                WorkerConfig {
                    keep_done: (config.database.outbox_keep_days > 0)
                        .then(|| Duration::from_secs(u64::from(config.database.outbox_keep_days) * 24 * 3600)),
                    ..WorkerConfig::default()
                },
            )
            .yielding_to(intake.activity()),
        );
        worker.register_prefix("plugin:", plugins.event_handler(intake.clone()));
        worker.register("notifications", Arc::new(Notifications::new(store.clone(), mailer)));
        worker.register(
            townhall_search::OUTBOX_CONSUMER,
            Arc::new(search.indexer(store.clone())),
        );
        workers.push(plugins.spawn_sync(shutdown_rx.clone()));
        workers.push(tokio::spawn(worker.clone().run(shutdown_rx.clone())));

        // A new, damaged or interrupted index is rebuilt from the database;
        // an embedded one re-reads what it may have missed at the last stop.
        // The server answers meanwhile (search sees what is indexed so far).
        {
            let (store, search) = (store.clone(), search.clone());
            let mut rx = shutdown_rx.clone();
            workers.push(tokio::spawn(async move {
                let progress = |done: u64, total: u64| {
                    if done > 0 && (done.is_multiple_of(10_000) || done == total) {
                        tracing::info!(done, total, "rebuilding the search index");
                    }
                };
                tokio::select! {
                    r = townhall_search::catch_up(&store, &search, progress) => match r {
                        Ok(s) if s.indexed > 0 => tracing::info!(indexed = s.indexed, seconds = s.elapsed.as_secs_f64(), "search index up to date"),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "could not bring the search index up to date; run `townhall reindex`"),
                    },
                    _ = rx.changed() => {}
                }
            }));
        }

        // Pick up policy changes made by other processes within a second.
        {
            let access = access.clone();
            let mut rx = shutdown_rx.clone();
            workers.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            if let Err(e) = access.refresh().await {
                                tracing::warn!(error = %e, "could not refresh the access policy");
                            }
                        }
                        _ = rx.changed() => break,
                    }
                }
            }));
        }

        let state = Arc::new(ApiState {
            intake: intake.clone(),
            access: access.clone(),
            plugins: Some(plugins.clone()),
            oidc: oidc(&config, &store, &clock)?,
            search: Some(search.clone()),
            metrics: townhall_api::ops::install_metrics(),
            config: ApiConfig {
                cookie_secure: config.server.cookie_secure,
                duplicate_radius_m: config.search.duplicate_radius_m,
                duplicate_max_age_days: config.search.duplicate_max_age_days,
                trust_proxy: config.server.trust_proxy,
                build: BuildInfo {
                    version: env!("CARGO_PKG_VERSION"),
                    backend: store.backend().as_str(),
                },
                ..ApiConfig::default()
            },
        });
        let router = townhall_api::router(state);
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let mut rx = shutdown_rx.clone();
        let grace = Duration::from_secs(config.server.shutdown_grace_secs);
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                });
            // In-flight requests get `grace` to finish after the signal.
            let mut rx2 = shutdown_rx;
            tokio::select! {
                r = serve.into_future() => r.context("the HTTP server failed"),
                _ = async {
                    let _ = rx2.changed().await;
                    tokio::time::sleep(grace).await;
                } => {
                    tracing::warn!("shutdown grace period over; dropping remaining connections");
                    Ok(())
                }
            }
        });
        tracing::info!(%addr, backend = store.backend().as_str(), "Townhall is listening");
        Ok(App {
            addr,
            store,
            access,
            intake,
            plugins,
            search,
            shutdown,
            server,
            workers,
        })
    }

    /// Stops accepting, lets in-flight requests finish, stops the workers,
    /// closes the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let result = match self.server.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("server task failed: {e}")),
        };
        for w in self.workers {
            let _ = w.await;
        }
        if let Err(e) = self.search.shutdown().await {
            tracing::warn!(error = %e, "could not close the search index cleanly");
        }
        self.store.close().await;
        tracing::info!("Townhall stopped");
        result
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown signal received");
}
