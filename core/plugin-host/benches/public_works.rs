//! Public Works validate+route per intake, including instantiation from
//! the pre-instantiated component, against the same logic compiled
//! natively. `cargo bench -p townhall-plugin-host`.
//!
//! Prints p50/p99 (µs), calls per second on one core, resident memory per
//! idle instance, and the wasm/native ratio.

// A benchmark fails loudly, like a test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use public_works::PublicWorks;
use townhall_domain::clock::SystemClock;
use townhall_domain::intake::{Reporter, ValidIntake};
use townhall_domain::priority::Priority;
use townhall_domain::routing::Routing;
use townhall_domain::sla::SlaTarget;
use townhall_plugin_fixtures as fx;
use townhall_plugin_host::{HostConfig, InstallRequest, PluginHost};
use townhall_sdk::testing::MockHost;
use townhall_store::{Department, Jurisdiction, Store, StoreOptions};

/// The server binary's allocator, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn measure(name: &str, iterations: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    for _ in 0..iterations / 10 {
        f();
    }
    let mut samples = Vec::with_capacity(iterations);
    let start = Instant::now();
    for _ in 0..iterations {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    let per_sec = iterations as f64 / total.as_secs_f64();
    println!("{name:<34} p50 {p50:>8.2} µs   p99 {p99:>8.2} µs   {per_sec:>10.0} calls/s (one thread)");
    (p50, p99, per_sec)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx::PUBLIC_WORKS_CONFIG).unwrap()).unwrap();
    let host = rt.block_on(async {
        let store = Store::connect(&StoreOptions::sqlite_in(dir.path())).await.unwrap();
        store.migrate().await.unwrap();
        let now = chrono::Utc::now();
        store
            .upsert_jurisdiction(
                &Jurisdiction {
                    id: "springfield".into(),
                    name: "Springfield".into(),
                    timezone: chrono_tz::America::Chicago,
                    bounds: None,
                    holidays: vec![],
                    is_default: true,
                },
                now,
            )
            .await
            .unwrap();
        for code in ["public-works", "utilities"] {
            store
                .upsert_department(
                    &Department {
                        jurisdiction_id: "springfield".into(),
                        code: code.into(),
                        name: code.into(),
                        description: String::new(),
                        email: None,
                    },
                    now,
                )
                .await
                .unwrap();
        }
        let host_config = HostConfig {
            max_instances: 300,
            ..HostConfig::default()
        };
        // Profiling (`TOWNHALL_WASM_PERFMAP=1 perf record …`) needs the code
        // compiled in memory, not mapped from the cache, to name guest frames.
        let cache = std::env::var_os("TOWNHALL_WASM_PERFMAP").is_none().then(|| dir.path());
        let host = PluginHost::new(store, cache, Arc::new(SystemClock), host_config)
            .await
            .unwrap();
        host.install(InstallRequest {
            component: std::fs::read(fx::PUBLIC_WORKS).unwrap(),
            config: Some(config.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
        host
    });
    let handle = host.bench_handle("springfield", "public-works").unwrap();

    let intake = ValidIntake {
        service_code: "pothole".into(),
        description: Some("Deep pothole in the right lane".into()),
        lat: Some(39.80),
        long: Some(-89.62),
        address: Some("100 N 5th St".into()),
        address_id: None,
        zipcode: Some("62701".into()),
        attributes: serde_json::Map::from_iter([
            ("hazard_in_lane".to_owned(), serde_json::json!("yes")),
            ("size".to_owned(), serde_json::json!("medium")),
            ("depth_inches".to_owned(), serde_json::json!(4)),
        ]),
        media_url: None,
        reporter: Reporter::default(),
        device_id: None,
    };
    let defaults = Routing {
        department_id: Some("public-works".into()),
        priority: Priority::High,
        queue: None,
        sla: SlaTarget::business_days(5),
    };
    assert_eq!(handle.validate_and_route(&intake, &defaults), Ok(true));

    println!("Public Works validate+route per intake ({} iterations each)", 20_000);
    let (w50, w99, wps) = measure("wasm (fresh instance per intake)", 20_000, || {
        let ok = handle.validate_and_route(&intake, &defaults);
        let _ = std::hint::black_box(ok);
    });

    let (i50, _, _) = measure("instantiate and drop only (no call)", 20_000, || {
        let i = handle.idle_instance().unwrap();
        drop(std::hint::black_box(i));
    });

    let mock = MockHost::new().config(config);
    let sdk_intake = townhall_sdk::Intake {
        service_code: "pothole".into(),
        description: intake.description.clone(),
        location: Some(townhall_sdk::Location {
            lat: 39.80,
            long: -89.62,
        }),
        address: intake.address.clone(),
        zipcode: intake.zipcode.clone(),
        answers: vec![],
        media_url: None,
        channel: "web".into(),
    }
    .with_answer("hazard_in_lane", "yes")
    .with_answer("size", "medium")
    .with_answer("depth_inches", "4");
    let sdk_defaults = townhall_sdk::Routing {
        department: Some("public-works".into()),
        priority: townhall_sdk::Priority::High,
        queue: None,
        sla: townhall_sdk::Sla::BusinessDays(5),
    };
    let (n50, n99, nps) = measure("native (same logic, mock host)", 20_000, || {
        let v = mock.validate::<PublicWorks>(&sdk_intake);
        let r = mock.route::<PublicWorks>(&sdk_intake, sdk_defaults.clone());
        let _ = std::hint::black_box((v, r));
    });

    let (a50, a99, aps) = rt.block_on(async {
        use townhall_intake::Router;
        let mut samples = Vec::with_capacity(5_000);
        let start = Instant::now();
        for _ in 0..5_000 {
            let t = Instant::now();
            let service = townhall_domain::service::ServiceDefinition {
                jurisdiction_id: "springfield".into(),
                code: "pothole".into(),
                name: String::new(),
                description: String::new(),
                group: None,
                keywords: vec![],
                attributes: vec![],
                default_priority: Priority::High,
                sla: SlaTarget::business_days(5),
                department_id: Some("public-works".into()),
                plugin_id: Some("public-works".into()),
                active: true,
                public: true,
                address_sensitive: false,
                anonymous_allowed: true,
                answers_with_token: false,
            };
            let r = host
                .check_and_route(
                    &service,
                    &intake,
                    townhall_domain::intake::Channel::Web,
                    defaults.clone(),
                )
                .await;
            std::hint::black_box(r.is_ok());
            samples.push(t.elapsed());
        }
        let total = start.elapsed();
        samples.sort();
        (
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            5_000.0 / total.as_secs_f64(),
        )
    });
    println!(
        "{:<34} p50 {a50:>8.2} µs   p99 {a99:>8.2} µs   {aps:>10.0} calls/s (incl. spawn_blocking)",
        "wasm via Router (async)"
    );

    // Resident memory per idle instance.
    let n = 200;
    let before = rss_bytes();
    let instances: Vec<_> = (0..n).map(|_| handle.idle_instance().unwrap()).collect();
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) as f64 / n as f64 / 1024.0;
    drop(instances);

    println!();
    println!("resident memory per idle instance: {per:.1} KiB ({n} instances)");
    println!(
        "of a wasm call's p50, instantiation is {i50:.1} µs and the plugin's own work the other {:.1} µs",
        w50 - i50
    );
    println!(
        "wasm/native ratio: p50 {:.1}x, p99 {:.1}x, throughput {:.2}x",
        w50 / n50,
        w99 / n99,
        wps / nps
    );
    println!(
        "targets: p50 <= 25 µs [{}], p99 <= 100 µs [{}], >= 30000 calls/s [{}], <= 2048 KiB/instance [{}]",
        if w50 <= 25.0 { "met" } else { "MISSED" },
        if w99 <= 100.0 { "met" } else { "MISSED" },
        if wps >= 30_000.0 { "met" } else { "MISSED" },
        if per <= 2048.0 { "met" } else { "MISSED" },
    );
}
