//! The plugin host against real components (built by
//! `townhall-plugin-fixtures`) and real databases: installs, routing
//! through `Intake::submit`, on-event through the outbox, and each hostile
//! guest contained. Every `both_databases!` test runs on SQLite and
//! PostgreSQL.

// Helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use townhall_domain::Status;
use townhall_domain::attributes::AttributeInput;
use townhall_domain::clock::{Clock, ManualClock};
use townhall_domain::intake::{Channel, IntakeInput};
use townhall_intake::outbox::{OutboxWorker, WorkerConfig};
use townhall_intake::{FaultKind, Intake, IntakeError, StatusChange};
use townhall_plugin_fixtures as fx;
use townhall_plugin_host::{HostConfig, InstallRequest, Limits, PluginError, PluginHost, cli, signing};
use townhall_store::{Actor, Department, Jurisdiction, Store, StoreOptions};
use townhall_testkit::{TestDb, both_databases};

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap()))
}

/// Compiled artifacts are shared by all tests (keyed by sha256 and engine).
fn cache_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-host-tests")
}

async fn store(db: &TestDb) -> Store {
    let s = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    s.migrate().await.unwrap();
    let now = clock().now();
    s.upsert_jurisdiction(
        &Jurisdiction {
            id: "springfield".into(),
            name: "City of Springfield".into(),
            timezone: chrono_tz::America::Chicago,
            bounds: None,
            holidays: vec![],
            is_default: true,
        },
        now,
    )
    .await
    .unwrap();
    for (code, name) in [("public-works", "Public Works"), ("utilities", "Utilities")] {
        s.upsert_department(
            &Department {
                jurisdiction_id: "springfield".into(),
                code: code.into(),
                name: name.into(),
                description: String::new(),
                email: None,
            },
            now,
        )
        .await
        .unwrap();
    }
    s
}

fn quiet() -> HostConfig {
    HostConfig {
        auto_disable_after: 0,
        ..HostConfig::default()
    }
}

async fn host(s: &Store, config: HostConfig) -> PluginHost {
    PluginHost::new(s.clone(), Some(&cache_root()), clock(), config)
        .await
        .unwrap()
}

fn intake_with(s: &Store, h: &PluginHost) -> Arc<Intake> {
    Arc::new(Intake::new(s.clone(), clock()).with_router(Arc::new(h.clone())))
}

fn demo_config() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fx::PUBLIC_WORKS_CONFIG).unwrap()).unwrap()
}

async fn install_public_works(h: &PluginHost) {
    let report = h
        .install(InstallRequest {
            component: std::fs::read(fx::PUBLIC_WORKS).unwrap(),
            config: Some(demo_config()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(report.install.plugin_id, "public-works");
    assert_eq!(report.install.services, ["pothole", "road-damage", "streetlight"]);
    assert_eq!(report.install.sha256.len(), 64);
}

async fn install_hostile(h: &PluginHost, grants: &[&str], config: serde_json::Value, limits: Option<Limits>) {
    h.install(InstallRequest {
        component: std::fs::read(fx::HOSTILE).unwrap(),
        grants: grants.iter().map(|g| (*g).to_owned()).collect(),
        config: Some(config),
        limits,
        ..Default::default()
    })
    .await
    .unwrap();
}

fn pothole(lat: f64, long: f64, hazard: &str) -> IntakeInput {
    IntakeInput {
        service_code: "pothole".into(),
        description: Some("A deep pothole".into()),
        lat: Some(lat),
        long: Some(long),
        attributes: BTreeMap::from([
            ("hazard_in_lane".to_owned(), AttributeInput::One(hazard.into())),
            ("size".to_owned(), AttributeInput::One("medium".into())),
        ]),
        ..Default::default()
    }
}

fn plain(service: &str) -> IntakeInput {
    IntakeInput {
        service_code: service.into(),
        description: Some("something".into()),
        lat: Some(39.78),
        long: Some(-89.65),
        ..Default::default()
    }
}

async fn count(s: &Store) -> u64 {
    s.count_requests(&townhall_store::RequestQuery {
        jurisdiction_id: "springfield".into(),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn submit(i: &Intake, input: IntakeInput) -> Result<townhall_intake::Submitted, IntakeError> {
    i.submit(None, input, Channel::Web, Actor::reporter()).await
}

/// Moves a request to `action_scheduled`, as a supervisor would.
async fn schedule(i: &Intake, id: uuid::Uuid) {
    i.change_status(
        "springfield",
        id,
        StatusChange {
            to: Status::ActionScheduled,
            public_note: None,
            internal_note: None,
        },
        Actor::system(),
    )
    .await
    .unwrap();
}

fn fault_kind(r: Result<townhall_intake::Submitted, IntakeError>) -> FaultKind {
    match r {
        Err(IntakeError::Plugin(f)) => f.kind,
        Err(other) => panic!("expected a plugin fault, got {other:?}"),
        Ok(s) => panic!("expected a plugin fault, got request with queue {:?}", s.request.queue),
    }
}

both_databases!(installs_routes_validates_and_uninstalls, |db: TestDb| async move {
    let s = store(&db).await;
    let h = host(&s, quiet()).await;
    install_public_works(&h).await;
    let services = s.services("springfield", false).await.unwrap();
    let owned: Vec<_> = services
        .iter()
        .filter(|x| x.plugin_id.as_deref() == Some("public-works"))
        .map(|x| x.code.as_str())
        .collect();
    assert_eq!(owned, ["pothole", "road-damage", "streetlight"]);
    let intake = intake_with(&s, &h);

    // North-east ward, hazard in lane: critical, 1 business day, NE crew.
    let done = submit(&intake, pothole(39.80, -89.62, "yes")).await.unwrap();
    assert_eq!(done.request.queue.as_deref(), Some("streets-northeast"));
    assert_eq!(done.request.department_code.as_deref(), Some("public-works"));
    assert_eq!(done.request.priority, townhall_domain::Priority::Critical);
    let done = submit(&intake, pothole(39.75, -89.70, "no")).await.unwrap();
    assert_eq!(done.request.queue.as_deref(), Some("streets-southwest"));
    assert_eq!(done.request.priority, townhall_domain::Priority::High);

    // Streetlights go to Utilities; a bad pole number is the plugin's rejection.
    let mut light = plain("streetlight");
    light.attributes = BTreeMap::from([
        ("pole_number".to_owned(), AttributeInput::One("pole #7!".into())),
        ("problem".to_owned(), AttributeInput::One("out".into())),
    ]);
    match submit(&intake, light.clone()).await {
        Err(IntakeError::Invalid(e)) => assert_eq!(e.code(), "INVALID_POLE_NUMBER"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    light
        .attributes
        .insert("pole_number".into(), AttributeInput::One("SL-10423".into()));
    let done = submit(&intake, light).await.unwrap();
    assert_eq!(done.request.department_code.as_deref(), Some("utilities"));
    assert_eq!(done.request.queue.as_deref(), Some("lighting-southeast"));
    assert_eq!(count(&s).await, 3);

    let listed = h.list(None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].enabled);

    let retired = h.uninstall(None, "public-works").await.unwrap();
    assert_eq!(retired, ["pothole", "road-damage", "streetlight"]);
    intake.catalog().invalidate();
    assert!(matches!(
        submit(&intake, pothole(39.8, -89.6, "no")).await,
        Err(IntakeError::UnknownService(_))
    ));
    // The requests and their history stay.
    assert_eq!(count(&s).await, 3);
    assert!(!s.history(done.request.id, true).await.unwrap().is_empty());
    assert!(matches!(
        h.uninstall(None, "public-works").await,
        Err(PluginError::NotFound(_))
    ));
});

both_databases!(hostile_plugins_are_contained, |db: TestDb| async move {
    let s = store(&db).await;
    let h = host(&s, quiet()).await;
    install_public_works(&h).await;
    // A server that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A generous CPU budget, so that the memory bomb reaches its memory
    // limit before its deadline even on a loaded machine; the infinite loop
    // still stops at the deadline.
    let limits = Limits {
        host_call_timeout_ms: 300,
        cpu_ms: 1_000,
        ..Limits::default()
    };
    install_hostile(
        &h,
        &["kv", &format!("http:127.0.0.1:{port}")],
        serde_json::json!({ "hang_url": format!("http://127.0.0.1:{port}/slow") }),
        Some(limits),
    )
    .await;
    let intake = intake_with(&s, &h);

    let cases = [
        ("loop", FaultKind::Timeout),
        ("oom", FaultKind::OutOfMemory),
        ("recurse", FaultKind::Trapped),
        ("trap", FaultKind::Trapped),
        ("bloat", FaultKind::OutputTooLarge),
        ("http-denied", FaultKind::CapabilityDenied),
        ("http-hang", FaultKind::Timeout),
    ];
    for (committed, (service, expected)) in (0u64..).zip(cases) {
        let started = Instant::now();
        let kind = fault_kind(submit(&intake, plain(service)).await);
        assert_eq!(kind, expected, "service `{service}`");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "`{service}` took {:?}",
            started.elapsed()
        );
        // Nothing was committed, and the other plugin still answers.
        assert_eq!(count(&s).await, committed, "after `{service}`");
        let ok = submit(&intake, pothole(39.80, -89.62, "no")).await.unwrap();
        assert_eq!(ok.request.queue.as_deref(), Some("streets-northeast"));
    }

    // What the plugin cannot see it cannot leak: no files, empty
    // environment, read-only store in before-hooks.
    let file = submit(&intake, plain("file")).await.unwrap();
    assert_eq!(file.request.queue.as_deref(), Some("file:denied"));
    let env = submit(&intake, plain("env")).await.unwrap();
    assert_eq!(env.request.queue.as_deref(), Some("env:0"));
    // Rust's standard library cannot even open a socket here; if a guest
    // reached `wasi:sockets`, the host's address check would refuse it and
    // fail the call with PLUGIN_CAPABILITY_DENIED.
    let socket = submit(&intake, plain("socket")).await.unwrap();
    assert_eq!(socket.request.queue.as_deref(), Some("socket:refused"));
    let kv = submit(&intake, plain("kv-write")).await.unwrap();
    assert_eq!(kv.request.queue.as_deref(), Some("kv:read-only"));

    let faults = h.faults(None, "hostile", 100).await.unwrap();
    assert_eq!(faults.len(), cases.len());
    assert_eq!(faults.last().unwrap().kind, "PLUGIN_TIMEOUT");
    assert_eq!(faults[0].kind, "PLUGIN_TIMEOUT");
    drop(listener);
});

both_databases!(repeated_faults_disable_the_plugin, |db: TestDb| async move {
    let s = store(&db).await;
    let config = HostConfig {
        auto_disable_after: 3,
        ..HostConfig::default()
    };
    let h = host(&s, config).await;
    install_hostile(&h, &[], serde_json::json!({}), None).await;
    let intake = intake_with(&s, &h);
    for _ in 0..3 {
        assert_eq!(fault_kind(submit(&intake, plain("trap")).await), FaultKind::Trapped);
    }
    assert_eq!(fault_kind(submit(&intake, plain("ok")).await), FaultKind::Disabled);
    let install = h.get(None, "hostile").await.unwrap();
    assert!(!install.enabled);
    assert!(install.disabled_reason.unwrap().contains("PLUGIN_TRAPPED"));
    assert_eq!(install.fault_count, 3);
    h.enable(None, "hostile").await.unwrap();
    assert_eq!(
        submit(&intake, plain("ok")).await.unwrap().request.queue.as_deref(),
        Some("ok")
    );
    // Without the kv grant, using the store is a capability fault.
    h.revoke(None, "hostile", &["kv".to_owned()]).await.unwrap();
    assert_eq!(
        fault_kind(submit(&intake, plain("kv-write")).await),
        FaultKind::CapabilityDenied
    );
});

both_databases!(on_event_posts_notes_and_failures_are_retried, |db: TestDb| async move {
    let s = store(&db).await;
    let h = host(&s, quiet()).await;
    install_public_works(&h).await;
    install_hostile(&h, &["kv"], serde_json::json!({}), None).await;
    let intake = intake_with(&s, &h);
    let worker = OutboxWorker::new(s.clone(), clock(), intake.wake_handle(), WorkerConfig::default());
    worker.register_prefix("plugin:", h.event_handler(intake.clone()));

    let done = submit(&intake, pothole(39.80, -89.62, "no")).await.unwrap();
    let id = done.request.id;
    schedule(&intake, id).await;
    // created + status_changed, then the plugin's own note_added.
    for _ in 0..3 {
        worker.run_once().await;
    }
    let history = s.history(id, false).await.unwrap();
    let note = history
        .iter()
        .find(|e| e.kind == townhall_domain::EventKind::PublicNote)
        .expect("the plugin posted a public note");
    assert_eq!(note.actor, Actor::plugin("public-works"));
    assert!(note.body.as_deref().unwrap().contains("streets-northeast"));
    // It does not react to its own note: exactly one.
    assert_eq!(
        history
            .iter()
            .filter(|e| e.kind == townhall_domain::EventKind::PublicNote)
            .count(),
        1
    );

    // An on-event that panics fails the outbox item (retried later); the
    // request it is about stays committed.
    let ok = submit(&intake, plain("ok")).await.unwrap();
    worker.run_once().await;
    let stats = s.outbox_stats().await.unwrap();
    assert_eq!(stats.pending, 1);
    assert_eq!(stats.dead, 0);
    assert!(s.request("springfield", ok.request.id).await.is_ok());
    assert_eq!(h.faults(None, "hostile", 10).await.unwrap()[0].hook, "on_event");

    // on-event may write to its store.
    // Rust's standard library cannot even open a socket here; if a guest
    // reached `wasi:sockets`, the host's address check would refuse it and
    // fail the call with PLUGIN_CAPABILITY_DENIED.
    let socket = submit(&intake, plain("socket")).await.unwrap();
    assert_eq!(socket.request.queue.as_deref(), Some("socket:refused"));
    let kv = submit(&intake, plain("kv-write")).await.unwrap();
    worker.run_once().await;
    let seen = s.plugin_kv_get("springfield", "hostile", "seen").await.unwrap();
    assert_eq!(seen, Some(kv.request.id.to_string().into_bytes()));
});

both_databases!(a_batch_of_events_reaches_each_request_once, |db: TestDb| async move {
    let s = store(&db).await;
    let h = host(&s, quiet()).await;
    install_public_works(&h).await;
    let intake = intake_with(&s, &h);
    let worker = OutboxWorker::new(s.clone(), clock(), intake.wake_handle(), WorkerConfig::default());
    worker.register_prefix("plugin:", h.event_handler(intake.clone()));
    let mut ids = Vec::new();
    for (lat, long) in [(39.80, -89.62), (39.81, -89.63), (39.79, -89.61), (39.80, -89.64)] {
        let done = submit(&intake, pothole(lat, long, "no")).await.unwrap();
        ids.push((done.request.id, done.request.tracking_number.clone()));
    }
    // Every request's created and status-changed events wait together, so
    // one claim hands the plugin a batch with two items per request.
    for (id, _) in &ids {
        schedule(&intake, *id).await;
    }
    assert_eq!(worker.run_once().await, 8);
    while worker.run_once().await > 0 {}
    for (id, tracking) in &ids {
        let notes: Vec<_> = s
            .history(*id, false)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == townhall_domain::EventKind::PublicNote)
            .collect();
        assert_eq!(notes.len(), 1, "request {tracking}: {notes:?}");
        assert_eq!(notes[0].actor, Actor::plugin("public-works"));
        assert!(notes[0].body.as_deref().unwrap().contains(tracking.as_str()));
    }
    assert_eq!(s.outbox_stats().await.unwrap().pending, 0);
});

both_databases!(other_processes_see_changes_within_a_second, |db: TestDb| async move {
    let s = store(&db).await;
    let config = HostConfig {
        sync_interval_ms: 200,
        ..quiet()
    };
    let server = host(&s, config.clone()).await;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let poller = server.spawn_sync(shutdown);
    let intake = intake_with(&s, &server);

    // The CLI, on its own connection, installs the plugin.
    let cli_store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let mut out = Vec::new();
    let args = cli::InstallArgs {
        file: PathBuf::from(fx::PUBLIC_WORKS),
        config_file: Some(PathBuf::from(fx::PUBLIC_WORKS_CONFIG)),
        ..Default::default()
    };
    cli::install(cli_store.clone(), &cache_root(), &config, &args, &mut out)
        .await
        .unwrap();
    let printed = String::from_utf8(out).unwrap();
    assert!(printed.contains("installed public-works"), "{printed}");
    let installed = Instant::now();
    loop {
        intake.catalog().invalidate();
        if let Ok(done) = submit(&intake, pothole(39.80, -89.62, "no")).await {
            assert_eq!(done.request.queue.as_deref(), Some("streets-northeast"));
            break;
        }
        assert!(
            installed.elapsed() < Duration::from_secs(1),
            "the server did not pick up the install"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = Vec::new();
    cli::list(cli_store.clone(), None, &mut out).await.unwrap();
    assert!(String::from_utf8(out).unwrap().contains("public-works\t0.1.0\tenabled"));

    // Disabling from another process reaches the server too.
    let admin = host(&cli_store, config.clone()).await;
    admin.disable(None, "public-works", "maintenance").await.unwrap();
    let disabled = Instant::now();
    loop {
        if let Err(IntakeError::Plugin(f)) = submit(&intake, pothole(39.80, -89.62, "no")).await {
            assert_eq!(f.kind, FaultKind::Disabled);
            break;
        }
        assert!(
            disabled.elapsed() < Duration::from_secs(1),
            "the server did not pick up the disable"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    poller.await.unwrap();
});

both_databases!(a_plugin_that_failed_to_load_is_tried_again, |db: TestDb| async move {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    let s = store(&db).await;
    let admin = host(&s, quiet()).await;
    install_public_works(&admin).await;
    // Another server (no compiled cache) reads the component back damaged.
    let raw = Database::connect(db.url.clone()).await.unwrap();
    let set_data = |bytes: Vec<u8>| {
        let backend = raw.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => "UPDATE plugin_components SET data = $1",
            _ => "UPDATE plugin_components SET data = ?",
        };
        Statement::from_sql_and_values(backend, sql, [bytes.into()])
    };
    raw.execute_raw(set_data(b"not a component".to_vec())).await.unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
    let replica_clock = Arc::new(ManualClock::new(at));
    let replica = PluginHost::new(s.clone(), None, replica_clock.clone(), quiet())
        .await
        .unwrap();
    let intake = intake_with(&s, &replica);
    assert_eq!(
        fault_kind(submit(&intake, pothole(39.80, -89.62, "no")).await),
        FaultKind::Unavailable
    );
    // The read is good again, but the next try is not due yet.
    raw.execute_raw(set_data(std::fs::read(fx::PUBLIC_WORKS).unwrap()))
        .await
        .unwrap();
    assert!(!replica.sync().await.unwrap(), "tried again before its time");
    assert_eq!(
        fault_kind(submit(&intake, pothole(39.80, -89.62, "no")).await),
        FaultKind::Unavailable
    );
    // A second later the sync loads it, although no install changed.
    replica_clock.advance(chrono::Duration::seconds(1));
    assert!(replica.sync().await.unwrap(), "the failed install was not loaded again");
    let done = submit(&intake, pothole(39.80, -89.62, "no")).await.unwrap();
    assert_eq!(done.request.queue.as_deref(), Some("streets-northeast"));
    assert_eq!(done.request.department_code.as_deref(), Some("public-works"));
});

both_databases!(signatures_versions_and_upgrades, |db: TestDb| async move {
    let s = store(&db).await;
    let secret = [42u8; 32];
    let config = HostConfig {
        require_signed: true,
        trusted_keys: vec![signing::hex(&signing::public_key(&secret))],
        ..quiet()
    };
    let h = host(&s, config).await;
    let bytes = std::fs::read(fx::PUBLIC_WORKS).unwrap();
    let unsigned = InstallRequest {
        component: bytes.clone(),
        config: Some(demo_config()),
        ..Default::default()
    };
    assert!(matches!(
        h.install(unsigned.clone()).await,
        Err(PluginError::SignatureRequired)
    ));
    let forged = InstallRequest {
        signature: Some(signing::sign(&bytes, &[1u8; 32]).to_vec()),
        ..unsigned.clone()
    };
    assert!(matches!(h.install(forged).await, Err(PluginError::BadSignature)));
    let signed = InstallRequest {
        signature: Some(signing::sign(&bytes, &secret).to_vec()),
        ..unsigned.clone()
    };
    h.install(signed.clone()).await.unwrap();
    assert!(matches!(
        h.install(signed.clone()).await,
        Err(PluginError::AlreadyInstalled(_))
    ));

    // Upgrade: new configuration, same plugin; calls keep working.
    let mut cfg = demo_config();
    cfg["default_crews"]["public-works"] = serde_json::json!("night-shift");
    let report = h
        .upgrade(
            "public-works",
            InstallRequest {
                config: Some(cfg),
                ..signed.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(report.previous_version.as_deref(), Some("0.1.0"));
    let intake = intake_with(&s, &h);
    let far = submit(&intake, pothole(41.0, -87.6, "no")).await.unwrap();
    assert_eq!(far.request.queue.as_deref(), Some("night-shift"));

    // A different plugin cannot pose as an upgrade.
    let hostile = std::fs::read(fx::HOSTILE).unwrap();
    let wrong = InstallRequest {
        signature: Some(signing::sign(&hostile, &secret).to_vec()),
        component: hostile,
        ..Default::default()
    };
    assert!(matches!(
        h.upgrade("public-works", wrong).await,
        Err(PluginError::WrongPlugin { .. })
    ));

    // A component built for an interface version this host does not know.
    let future = String::from_utf8_lossy(&bytes).contains("townhall:plugin/department@0.1.0");
    assert!(future, "the component names its interface version");
    let mut v9 = bytes.clone();
    let (from, to) = (b"townhall:plugin/department@0.1.0", b"townhall:plugin/department@0.9.0");
    let mut patched = 0;
    while let Some(at) = v9.windows(from.len()).position(|w| w == from) {
        v9[at..at + from.len()].copy_from_slice(to);
        patched += 1;
    }
    assert!(patched >= 1);
    let err = h.inspect(&v9, Some(&signing::sign(&v9, &secret))).await.unwrap_err();
    assert_eq!(err.code(), "PLUGIN_UNSUPPORTED_INTERFACE", "{err}");
    assert!(
        err.to_string().contains("0.9.0") && err.to_string().contains("supports 0.1.0"),
        "{err}"
    );
    let junk = b"not wasm at all".to_vec();
    let err = h
        .inspect(&junk, Some(&signing::sign(&junk, &secret)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PLUGIN_INVALID_COMPONENT");
});

#[test]
fn scaffold_writes_a_plugin_crate() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let sdk = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    let path = cli::new_plugin("tree-care", dir.path(), Some(&sdk), &mut out).unwrap();
    let lib = std::fs::read_to_string(path.join("src/lib.rs")).unwrap();
    assert!(lib.contains("export_department!(TreeCare)"));
    let cargo = std::fs::read_to_string(path.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"tree-care\"") && cargo.contains("cdylib"));
    assert!(String::from_utf8(out).unwrap().contains("tree_care.wasm"));
    assert!(cli::new_plugin("tree-care", dir.path(), None, &mut Vec::new()).is_err());
    assert!(cli::new_plugin("Bad Name", dir.path(), None, &mut Vec::new()).is_err());
}
