//! Search benchmark: tantivy (through `SearchIndex`, as the server uses it)
//! against PostgreSQL full-text search, on the same generated requests and
//! the same queries, in one run.
//!
//! ```text
//! cargo bench -p townhall-search --bench search -- --docs 1000000
//! cargo bench -p townhall-search --bench search -- --docs 10000 --queries 200   # CI smoke
//! ```
//!
//! Options: `--docs N` (default 1,000,000; also `TOWNHALL_BENCH_DOCS`),
//! `--queries N` per kind (default 500), `--repeat N` runs of each query
//! (default 3; reported as the best run per query, and over every run), `--store-reindex N` requests
//! rebuilt from an SQLite store through `reindex` (default 20,000; 0 skips),
//! `--skip-postgres`, `--postgres-url URL`, `--reuse DIR` (keep the
//! index in DIR and reuse it when complete), `--only text|filtered|geo` (default
//! `TOWNHALL_TEST_POSTGRES_URL` or the local server). It creates and drops
//! its own database `townhall_bench_<pid>`.
//!
//! Latencies are wall time, best of `--repeat` runs per query (and over
//! every run), and CPU time per query: this machine is shared, and CPU time
//! is what a query costs when no other process competes for the cores (for
//! PostgreSQL it counts only the client; its wall time is what matters).
//!
//! Measured: full rebuild (documents/s, from generated documents through
//! `SearchIndex::begin_rebuild` and the writer thread to the last commit); p50/p99/mean latency of text-only,
//! text + filters + facets, and geo-radius queries; index size on disk;
//! process memory (RSS now and peak). The PostgreSQL side loads the same
//! rows with `COPY` into a table with generated `tsvector` columns (English
//! stemming, accents folded) and GIN indexes, and answers each query with
//! a top-20 by `ts_rank` plus the total and facet counts in one
//! `GROUP BY GROUPING SETS` pass.

use std::error::Error;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sqlx::postgres::{PgPool, PgPoolCopyExt, PgPoolOptions};
use sea_orm::sqlx::{self, Row};
use townhall_domain::intake::{Channel, Reporter, ValidIntake};
use townhall_domain::service::ServiceDefinition;
use townhall_domain::sla::SlaTarget;
use townhall_domain::{EventKind, Open311Status, Priority, Status};
use townhall_search::{
    DateRange, Near, SearchConfig, SearchDocument, SearchFilter, SearchIndex, SearchQuery, SortOrder, TantivyOptions,
    Viewer,
};
use townhall_store::{Actor, Department, Jurisdiction, NewEvent, NewRequest, Store, StoreOptions};
use uuid::Uuid;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// A statement this benchmark composed itself (no outside input in it).
fn q(sql: &str) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
}

const J: &str = "bench";
const CENTER: (f64, f64) = (40.4168, -3.7038);

const WORDS: &[&str] = &[
    "pothole",
    "deep",
    "large",
    "small",
    "broken",
    "streetlight",
    "light",
    "flickering",
    "graffiti",
    "wall",
    "bridge",
    "tree",
    "fallen",
    "branch",
    "blocking",
    "sidewalk",
    "road",
    "lane",
    "crack",
    "water",
    "leak",
    "main",
    "burst",
    "flooding",
    "drain",
    "clogged",
    "sewer",
    "smell",
    "trash",
    "missed",
    "pickup",
    "bin",
    "overflowing",
    "dumping",
    "illegal",
    "mattress",
    "couch",
    "abandoned",
    "vehicle",
    "car",
    "parked",
    "weeks",
    "noise",
    "loud",
    "music",
    "night",
    "dog",
    "barking",
    "sign",
    "missing",
    "stop",
    "damaged",
    "signal",
    "traffic",
    "park",
    "playground",
    "bench",
    "fence",
    "school",
    "corner",
    "intersection",
    "hydrant",
    "bache",
    "calle",
    "farola",
    "apagada",
    "basura",
    "acera",
    "árbol",
    "caído",
    "fuga",
    "agua",
    "ruido",
    "coche",
    "abandonado",
    "pintadas",
    "pared",
    "semáforo",
    "roto",
    "esquina",
    "parque",
    "banco",
    "contenedor",
    "lleno",
    "alcantarilla",
    "atascada",
    "dangerous",
    "children",
    "elderly",
    "wheelchair",
    "bus",
    "stop",
    "cyclists",
    "lane",
    "puddle",
    "ice",
    "snow",
    "leaves",
    "rats",
    "pigeons",
    "smoke",
    "fire",
];
const STREETS: &[&str] = &[
    "Elm",
    "Oak",
    "Maple",
    "Main",
    "Mayor",
    "Alcalá",
    "Gran Vía",
    "Atocha",
    "Serrano",
    "Princesa",
    "River",
    "Hill",
    "Church",
    "Mill",
    "Station",
    "Market",
    "Castellana",
    "Toledo",
    "Segovia",
    "Bravo Murillo",
];
const NAMES: &[&str] = &[
    "Ana", "Luis", "María", "John", "Fatima", "Wei", "Olga", "Pedro", "Lucía", "Sam", "Noor", "Jorge", "Elena", "Tom",
];
const SURNAMES: &[&str] = &[
    "García",
    "Smith",
    "López",
    "Nguyen",
    "Kowalski",
    "Fernández",
    "Okafor",
    "Martín",
    "Rossi",
    "Dubois",
];
/// (service, name, department, address-sensitive)
const SERVICES: &[(&str, &str, &str, bool)] = &[
    ("pothole", "Pothole", "streets", false),
    ("streetlight", "Streetlight outage", "utilities", false),
    ("graffiti", "Graffiti removal", "parks", false),
    ("abandoned-vehicle", "Abandoned vehicle", "police", false),
    ("illegal-dumping", "Illegal dumping", "sanitation", false),
    ("tree", "Tree hazard", "parks", false),
    ("code-violation", "Code violation", "code", false),
    ("missed-trash", "Missed trash pickup", "sanitation", false),
    ("water", "Water or sewer issue", "utilities", false),
    ("noise", "Noise complaint", "code", true),
];
const DEPARTMENTS: &[&str] = &["streets", "utilities", "parks", "police", "sanitation", "code"];

/// splitmix64: a fixed, dependency-free pseudo-random sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).single().unwrap_or_default()
}

fn sentence(rng: &mut Rng, min: usize, max: usize) -> String {
    let n = min + rng.below(max - min + 1);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        let word: &&str = rng.pick(WORDS);
        s.push_str(word);
    }
    s
}

fn status(rng: &mut Rng) -> Status {
    match rng.below(20) {
        0..=5 => Status::Open,
        6..=7 => Status::Acknowledged,
        8..=9 => Status::InProgress,
        10 => Status::ActionScheduled,
        11 => Status::Investigating,
        12..=15 => Status::Fixed,
        16..=17 => Status::Closed,
        18 => Status::Duplicate,
        _ => Status::NotResponsible,
    }
}

/// The `i`-th generated request (the same for every run).
fn generate(i: u64) -> SearchDocument {
    let mut rng = Rng(i.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed);
    let (code, name, dept, sensitive) = *rng.pick(SERVICES);
    let requested_at = t0() - chrono::Duration::seconds(rng.below(730 * 86_400) as i64);
    let updated_at = requested_at + chrono::Duration::seconds(rng.below(30 * 86_400) as i64);
    let lat = CENTER.0 + (rng.unit() - 0.5) * 0.2;
    let long = CENTER.1 + (rng.unit() - 0.5) * 0.2;
    let first = *rng.pick(NAMES);
    let last = *rng.pick(SURNAMES);
    let public_notes = if rng.chance(0.3) {
        vec![sentence(&mut rng, 4, 10)]
    } else {
        vec![]
    };
    let internal_notes = if rng.chance(0.2) {
        vec![format!("crew {}", sentence(&mut rng, 3, 8))]
    } else {
        vec![]
    };
    let priority = *rng.pick(&Priority::ALL);
    let status = status(&mut rng);
    SearchDocument {
        id: Uuid::from_u64_pair(0x0190_0000_0000_7000, i),
        jurisdiction_id: J.into(),
        tracking_number: format!("2026-{:06}", i + 1),
        service_code: code.into(),
        service_name: name.into(),
        department_code: Some(dept.into()),
        status,
        priority,
        requested_at,
        updated_at,
        public: !rng.chance(0.05),
        address_sensitive: sensitive,
        reporter_user_id: None,
        description: Some(sentence(&mut rng, 6, 16)),
        address: Some(format!("{} {} Street", 1 + rng.below(400), rng.pick(STREETS))),
        lat: Some(lat),
        long: Some(long),
        public_notes,
        internal_notes,
        reporter_name: Some(format!("{first} {last}")),
        reporter_email: Some(format!(
            "{}.{}{}@example.org",
            first.to_lowercase(),
            last.to_lowercase(),
            i % 1000
        )),
        reporter_phone: Some(format!("+34 6{:08}", i % 100_000_000)),
    }
}

/// The queries of each kind, the same for both engines.
struct Queries {
    text: Vec<String>,
    filtered: Vec<(String, String)>,
    geo: Vec<(f64, f64)>,
}

fn queries(n: usize) -> Queries {
    let mut rng = Rng(42);
    let mut q = Queries {
        text: vec![],
        filtered: vec![],
        geo: vec![],
    };
    for _ in 0..n {
        let words = if rng.chance(0.6) { 1 } else { 2 };
        q.text.push(sentence(&mut rng, words, words));
        q.filtered
            .push((sentence(&mut rng, 1, 1), (*rng.pick(DEPARTMENTS)).to_owned()));
        q.geo.push((
            CENTER.0 + (rng.unit() - 0.5) * 0.15,
            CENTER.1 + (rng.unit() - 0.5) * 0.15,
        ));
    }
    q
}

const OPEN_STATUSES: [Status; 3] = [Status::Open, Status::Acknowledged, Status::InProgress];

fn filtered_query(text: &str, since: DateTime<Utc>) -> SearchQuery {
    SearchQuery::new(J).text(format!("{text} ")).filter(SearchFilter {
        statuses: OPEN_STATUSES.to_vec(),
        open311: Some(Open311Status::Open),
        requested: DateRange {
            from: Some(since),
            to: None,
        },
        ..Default::default()
    })
}

fn geo_query(lat: f64, long: f64) -> SearchQuery {
    SearchQuery::new(J)
        .filter(SearchFilter {
            near: Some(Near {
                lat,
                long,
                radius_m: 1_000.0,
            }),
            ..Default::default()
        })
        .sort(SortOrder::Distance { lat, long })
}

/// Nanoseconds of CPU all of this process's threads have run (from
/// `/proc/self/task/*/schedstat`): unlike wall time, it does not grow when
/// other processes take the cores, so it shows what a query costs on an idle
/// machine (a query runs on one thread).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

/// Latencies of one kind of query. Each query runs `repeat` times: `best`
/// keeps each query's fastest wall time, `raw` every run, `cpu` each
/// query's smallest CPU time.
#[derive(Debug, Default)]
struct Latency {
    raw: Vec<Duration>,
    best: Vec<Duration>,
    cpu: Vec<Duration>,
    matched: u64,
}

/// One query's runs: wall time and CPU time of each.
struct Runs {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Latency {
    fn add(&mut self, runs: &Runs, matched: u64) {
        self.raw.extend_from_slice(&runs.wall);
        self.best.extend(runs.wall.iter().min().copied());
        self.cpu.extend(runs.cpu.iter().min().copied());
        self.matched += matched;
    }

    fn report(&mut self, label: &str) {
        let stats = |v: &mut Vec<Duration>| {
            v.sort();
            let n = v.len().max(1);
            let at = |p: f64| {
                v.get(((n as f64 * p).ceil() as usize).saturating_sub(1).min(n - 1))
                    .copied()
            };
            let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
            (ms(at(0.50)), ms(at(0.99)))
        };
        let (b50, b99) = stats(&mut self.best);
        let (r50, r99) = stats(&mut self.raw);
        let (c50, c99) = stats(&mut self.cpu);
        println!(
            "  {label:<34} p50 {b50:>6.2} ms  p99 {b99:>6.2} ms | every run p50 {r50:>6.2} p99 {r99:>6.2} | CPU p50 {c50:>6.2} p99 {c99:>6.2} | {} matches",
            self.matched / self.best.len().max(1) as u64
        );
    }
}

/// Runs `f` `repeat` times, returning each run's times and the last result.
async fn timed<T, F, Fut>(repeat: usize, mut f: F) -> Res<(Runs, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Res<T>>,
{
    let mut runs = Runs {
        wall: Vec::with_capacity(repeat),
        cpu: Vec::with_capacity(repeat),
    };
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let c = cpu_ns();
        let s = Instant::now();
        last = Some(f().await?);
        runs.wall.push(s.elapsed());
        runs.cpu.push(Duration::from_nanos(cpu_ns().saturating_sub(c)));
    }
    let last = last.ok_or("no run")?;
    Ok((runs, last))
}

fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    format!("RSS {} MiB (peak {} MiB)", field("VmRSS:"), field("VmHWM:"))
}

struct Args {
    docs: u64,
    queries: usize,
    repeat: usize,
    store_reindex: u64,
    postgres: Option<String>,
    reuse: Option<std::path::PathBuf>,
    /// Only this kind of query: text, filtered or geo.
    only: Option<String>,
}

fn args() -> Res<Args> {
    let mut a = Args {
        docs: std::env::var("TOWNHALL_BENCH_DOCS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000),
        queries: 500,
        repeat: 3,
        store_reindex: 20_000,
        postgres: Some(
            std::env::var("TOWNHALL_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        ),
        reuse: None,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--docs" => a.docs = value()?.replace('_', "").parse()?,
            "--queries" => a.queries = value()?.parse()?,
            "--repeat" => a.repeat = value()?.parse()?,
            "--store-reindex" => a.store_reindex = value()?.parse()?,
            "--postgres-url" => a.postgres = Some(value()?),
            "--skip-postgres" => a.postgres = None,
            "--reuse" => a.reuse = Some(value()?.into()),
            "--only" => a.only = Some(value()?),
            _ => {} // `cargo bench` passes `--bench`; ignore what we do not know.
        }
    }
    a.queries = a.queries.max(10);
    Ok(a)
}

fn main() -> Res<()> {
    let args = args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> Res<()> {
    println!(
        "townhall-search benchmark: {} requests, {} queries per kind, {} cores",
        args.docs,
        args.queries,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let qs = queries(args.queries);
    let since = t0() - chrono::Duration::days(365);
    let data = tempfile::tempdir()?;

    // ---- tantivy: full rebuild ----
    let index_home = args.reuse.clone().unwrap_or_else(|| data.path().to_path_buf());
    let options = TantivyOptions::in_data_dir(&index_home);
    let ix = SearchIndex::open(&SearchConfig::Embedded(options.clone())).await?;
    let reuse = args.reuse.is_some() && !ix.needs_rebuild();
    println!(
        "\n[tantivy 0.27, embedded; writer: {} threads, {} MiB]",
        options.writer_threads,
        options.writer_memory_bytes >> 20
    );
    if reuse {
        println!("  (reusing the index in {}; no rebuild)", index_home.display());
    } else {
        rebuild(&ix, &args).await?;
    }
    println!(
        "  index size on disk                 {:>10.1} MiB",
        ix.disk_usage().unwrap_or(0) as f64 / 1048576.0
    );
    println!("  memory after rebuild               {}", memory());
    queries_tantivy(&ix, &args, &qs, since).await?;
    ix.shutdown().await?;
    drop(ix);

    if args.store_reindex > 0 {
        store_reindex(args.store_reindex, data.path()).await?;
    }
    if let Some(url) = &args.postgres {
        postgres(url, &args, &qs, since).await?;
    }
    Ok(())
}

async fn rebuild(ix: &SearchIndex, args: &Args) -> Res<()> {
    let started = Instant::now();
    for i in 0..args.docs.min(100_000) {
        std::hint::black_box(generate(i));
    }
    let gen_rate = args.docs.min(100_000) as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let batch = 5_000u64;
    let mut rebuild = ix.begin_rebuild().await?;
    let mut i = 0;
    while i < args.docs {
        let end = (i + batch).min(args.docs);
        rebuild.add((i..end).map(generate).collect()).await?;
        i = end;
    }
    rebuild.finish().await?;
    let took = started.elapsed();
    // The rebuild ends by merging its segments in the background; measure
    // queries on the merged index, as it is most of the time.
    let merging = Instant::now();
    let segments_before = ix.segments().unwrap_or(0);
    while ix.segments().unwrap_or(0) > 1 && merging.elapsed() < Duration::from_secs(1800) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let merged = merging.elapsed();
    println!(
        "  full rebuild                       {:>10.0} docs/s  ({} docs in {:.1} s; generating alone: {:.0} docs/s)",
        args.docs as f64 / took.as_secs_f64(),
        args.docs,
        took.as_secs_f64(),
        gen_rate
    );
    println!(
        "  then merging {segments_before} segments into {}       {:>10.1} s (in the background; searchable meanwhile)",
        ix.segments().unwrap_or(0),
        merged.as_secs_f64()
    );
    Ok(())
}

async fn queries_tantivy(ix: &SearchIndex, args: &Args, qs: &Queries, since: DateTime<Utc>) -> Res<()> {
    // Warm up, then measure.
    let public = Viewer::Public;
    for t in qs.text.iter().take(50) {
        ix.search(&public, &SearchQuery::new(J).text(t.clone())).await?;
    }
    let rep = args.repeat;
    let only = |kind: &str| args.only.as_deref().is_none_or(|o| o == kind);
    let mut text = Latency::default();
    for t in qs.text.iter().filter(|_| only("text")) {
        let q = SearchQuery::new(J).text(format!("{t} ")).without_facets();
        let (runs, r) = timed(rep, || async { Ok(ix.search(&public, &q).await?) }).await?;
        text.add(&runs, r.total);
    }
    let mut filtered = Latency::default();
    for (t, dept) in qs.filtered.iter().filter(|_| only("filtered")) {
        let staff = Viewer::Staff {
            departments: vec![dept.clone()],
        };
        let q = filtered_query(t, since);
        let (runs, r) = timed(rep, || async { Ok(ix.search(&staff, &q).await?) }).await?;
        if std::env::var("BENCH_DEBUG").is_ok() {
            eprintln!("DEBUG {:?} {t} {dept} {}", runs.cpu.iter().min(), r.total);
        }
        filtered.add(&runs, r.total);
    }
    let mut geo = Latency::default();
    for &(lat, long) in qs.geo.iter().filter(|_| only("geo")) {
        let q = geo_query(lat, long);
        let (runs, r) = timed(rep, || async { Ok(ix.search(&public, &q).await?) }).await?;
        geo.add(&runs, r.total);
    }
    text.report("text only (public, top 20)");
    filtered.report("text + filters + facets (staff)");
    geo.report("geo 1 km radius + facets, nearest");
    println!("  memory after queries               {}", memory());
    Ok(())
}

/// `reindex` from an SQLite store: what `townhall reindex` costs per request
/// (one history and one contact read each).
async fn store_reindex(n: u64, dir: &std::path::Path) -> Res<()> {
    println!("\n[reindex from the database: SQLite store, {n} requests]");
    let store = Store::connect(&StoreOptions::sqlite_in(dir)).await?;
    store.migrate().await?;
    store
        .upsert_jurisdiction(
            &Jurisdiction {
                id: J.into(),
                name: "Bench".into(),
                timezone: chrono_tz::Europe::Madrid,
                bounds: None,
                holidays: vec![],
                is_default: true,
            },
            t0(),
        )
        .await?;
    for d in DEPARTMENTS {
        store
            .upsert_department(
                &Department {
                    jurisdiction_id: J.into(),
                    code: (*d).into(),
                    name: (*d).into(),
                    description: String::new(),
                    email: None,
                },
                t0(),
            )
            .await?;
    }
    for (code, name, dept, sensitive) in SERVICES {
        let s = ServiceDefinition {
            jurisdiction_id: J.into(),
            code: (*code).into(),
            name: (*name).into(),
            description: String::new(),
            group: None,
            keywords: vec![],
            attributes: vec![],
            default_priority: Priority::Medium,
            sla: SlaTarget::business_days(5),
            department_id: Some((*dept).into()),
            plugin_id: None,
            active: true,
            public: true,
            address_sensitive: *sensitive,
            anonymous_allowed: true,
            answers_with_token: false,
        };
        store.upsert_service(&s, 0, t0()).await?;
    }
    let started = Instant::now();
    for i in 0..n {
        let d = generate(i);
        let new = NewRequest {
            id: Uuid::now_v7(),
            jurisdiction_id: J.into(),
            tracking_year: 2026,
            intake: ValidIntake {
                service_code: d.service_code.clone(),
                description: d.description.clone(),
                lat: d.lat,
                long: d.long,
                address: d.address.clone(),
                address_id: None,
                zipcode: None,
                attributes: serde_json::Map::new(),
                media_url: None,
                reporter: Reporter {
                    first_name: Some("Ana".into()),
                    email: d.reporter_email.clone(),
                    ..Default::default()
                },
                device_id: None,
            },
            status: Status::Open,
            priority: d.priority,
            department_code: d.department_code.clone(),
            queue: None,
            requested_at: d.requested_at,
            expected_at: None,
            channel: Channel::Web,
            public: true,
        };
        store
            .submit(new, NewEvent::new(EventKind::Created, Actor::reporter()), vec![], t0())
            .await?;
    }
    println!(
        "  loading the store                  {:>10.0} requests/s",
        n as f64 / started.elapsed().as_secs_f64()
    );
    let ix = SearchIndex::open(&SearchConfig::embedded(&dir.join("reindex"))).await?;
    let stats = townhall_search::reindex(&store, &ix, |_, _| {}).await?;
    println!(
        "  townhall_search::reindex           {:>10.0} docs/s  ({} docs in {:.1} s)",
        stats.per_second(),
        stats.indexed,
        stats.elapsed.as_secs_f64()
    );
    ix.shutdown().await?;
    store.close().await;
    Ok(())
}

fn copy_escape(out: &mut String, s: Option<&str>) {
    match s {
        None => out.push_str("\\N"),
        Some(s) => {
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

fn copy_row(out: &mut String, d: &SearchDocument) {
    let private = [
        d.internal_notes.join(" "),
        d.reporter_name.clone().unwrap_or_default(),
        d.reporter_email.clone().unwrap_or_default(),
        d.reporter_phone.clone().unwrap_or_default(),
    ]
    .join(" ");
    let public = format!(
        "{} {} {} {}",
        d.tracking_number,
        d.service_name,
        d.description.as_deref().unwrap_or(""),
        d.public_notes.join(" ")
    );
    let fields: [Option<String>; 13] = [
        Some(d.id.to_string()),
        Some(d.jurisdiction_id.clone()),
        Some(d.service_code.clone()),
        d.department_code.clone(),
        Some(d.status.as_str().into()),
        Some(d.priority.as_str().into()),
        Some(if d.public { "t".into() } else { "f".into() }),
        Some(d.requested_at.to_rfc3339()),
        Some(d.updated_at.to_rfc3339()),
        d.lat.map(|v| v.to_string()),
        d.long.map(|v| v.to_string()),
        Some(public),
        Some(private),
    ];
    for (k, f) in fields.iter().enumerate() {
        if k > 0 {
            out.push('\t');
        }
        copy_escape(out, f.as_deref());
    }
    out.push('\n');
}

const PG_TEXT: &str = "plainto_tsquery('th_bench', $1)";

async fn postgres(admin_url: &str, args: &Args, qs: &Queries, since: DateTime<Utc>) -> Res<()> {
    let db = format!("townhall_bench_{}", std::process::id());
    let admin = PgPoolOptions::new().max_connections(1).connect(admin_url).await?;
    q(&format!("DROP DATABASE IF EXISTS {db}")).execute(&admin).await?;
    q(&format!("CREATE DATABASE {db}")).execute(&admin).await?;
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&format!("{base}/{db}"))
        .await?;
    let result = postgres_in(&pool, args, qs, since).await;
    pool.close().await;
    q(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    result
}

async fn postgres_in(pool: &PgPool, args: &Args, qs: &Queries, since: DateTime<Utc>) -> Res<()> {
    let version: String = q("SHOW server_version").fetch_one(pool).await?.try_get(0)?;
    println!("\n[PostgreSQL {version} full-text search: GIN, ts_rank, GROUP BY GROUPING SETS]");
    for stmt in [
        "CREATE EXTENSION IF NOT EXISTS unaccent",
        "CREATE TEXT SEARCH CONFIGURATION th_bench (COPY = english)",
        "ALTER TEXT SEARCH CONFIGURATION th_bench ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem",
        "CREATE TABLE bench_requests (
            id uuid PRIMARY KEY, jurisdiction_id text NOT NULL, service_code text NOT NULL, department text,
            status text NOT NULL, priority text NOT NULL, public boolean NOT NULL,
            requested_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, lat float8, long float8,
            public_text text, private_text text,
            tsv_public tsvector GENERATED ALWAYS AS (to_tsvector('th_bench'::regconfig, coalesce(public_text, ''))) STORED,
            tsv_private tsvector GENERATED ALWAYS AS (to_tsvector('th_bench'::regconfig, coalesce(private_text, ''))) STORED
        )",
    ] {
        q(stmt).execute(pool).await?;
    }
    let started = Instant::now();
    let mut i = 0;
    while i < args.docs {
        let end = (i + 20_000).min(args.docs);
        let mut buf = String::with_capacity(20_000 * 400);
        for k in i..end {
            copy_row(&mut buf, &generate(k));
        }
        let mut copy = pool
            .copy_in_raw(
                "COPY bench_requests (id, jurisdiction_id, service_code, department, status, priority, public, \
                 requested_at, updated_at, lat, long, public_text, private_text) FROM STDIN",
            )
            .await?;
        copy.send(buf.into_bytes()).await?;
        copy.finish().await?;
        i = end;
    }
    let loaded = started.elapsed();
    for stmt in [
        "CREATE INDEX ON bench_requests USING gin (tsv_public)",
        "CREATE INDEX ON bench_requests USING gin (tsv_private)",
        "CREATE INDEX ON bench_requests (jurisdiction_id, requested_at)",
        "CREATE INDEX ON bench_requests (lat, long)",
        "ANALYZE bench_requests",
    ] {
        q(stmt).execute(pool).await?;
    }
    let took = started.elapsed();
    println!(
        "  COPY + tsvector + indexes          {:>10.0} rows/s  (COPY {:.1} s, indexes {:.1} s)",
        args.docs as f64 / took.as_secs_f64(),
        loaded.as_secs_f64(),
        (took - loaded).as_secs_f64()
    );
    let size: i64 = q("SELECT pg_total_relation_size('bench_requests')")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    println!(
        "  table + indexes on disk            {:>10.1} MiB",
        size as f64 / 1048576.0
    );

    let facets = |cond: &str| {
        format!(
            "SELECT status, service_code, department, count(*), GROUPING(status, service_code, department) \
             FROM bench_requests WHERE {cond} GROUP BY GROUPING SETS ((status), (service_code), (department), ())"
        )
    };
    // text only: top 20 + total, public viewer
    let text_cond = format!("jurisdiction_id = 'bench' AND public AND tsv_public @@ {PG_TEXT}");
    let text_top = format!(
        "SELECT id FROM bench_requests WHERE {text_cond} ORDER BY ts_rank(tsv_public, {PG_TEXT}) DESC LIMIT 20"
    );
    let text_count = format!("SELECT count(*) FROM bench_requests WHERE {text_cond}");
    let mut text = Latency::default();
    for t in qs.text.iter().take(20) {
        q(&text_top).bind(t).fetch_all(pool).await?;
    }
    for t in &qs.text {
        let (runs, n) = timed(args.repeat, || async {
            q(&text_top).bind(t).fetch_all(pool).await?;
            let n: i64 = q(&text_count).bind(t).fetch_one(pool).await?.try_get(0)?;
            Ok(n)
        })
        .await?;
        text.add(&runs, n as u64);
    }
    // text + filters + facets, staff of one department
    let filtered_cond = format!(
        "jurisdiction_id = 'bench' AND (public OR department = $2) \
         AND (tsv_public @@ {PG_TEXT} OR (department = $2 AND tsv_private @@ {PG_TEXT})) \
         AND status IN ('open', 'acknowledged', 'in_progress') AND requested_at >= $3"
    );
    let filtered_top = format!(
        "SELECT id FROM bench_requests WHERE {filtered_cond} ORDER BY ts_rank(tsv_public, {PG_TEXT}) DESC LIMIT 20"
    );
    let filtered_facets = facets(&filtered_cond);
    let mut filtered = Latency::default();
    for (t, dept) in &qs.filtered {
        let (runs, rows) = timed(args.repeat, || async {
            q(&filtered_top).bind(t).bind(dept).bind(since).fetch_all(pool).await?;
            Ok(q(&filtered_facets)
                .bind(t)
                .bind(dept)
                .bind(since)
                .fetch_all(pool)
                .await?)
        })
        .await?;
        filtered.add(&runs, total_of(&rows));
    }
    // geo radius 1 km, nearest first, with facets
    let dist = "(2 * 6371008.8 * asin(sqrt(power(sin(radians(lat - $1) / 2), 2) + \
                cos(radians($1)) * cos(radians(lat)) * power(sin(radians(long - $2) / 2), 2))))";
    let geo_cond = format!(
        "jurisdiction_id = 'bench' AND public AND lat BETWEEN $3 AND $4 AND long BETWEEN $5 AND $6 AND {dist} <= 1000"
    );
    let geo_top = format!("SELECT id FROM bench_requests WHERE {geo_cond} ORDER BY {dist} LIMIT 20");
    let geo_facets = facets(&geo_cond);
    let mut geo = Latency::default();
    for &(lat, long) in &qs.geo {
        let b = townhall_search::geo::bbox_around(lat, long, 1_000.0);
        let bind = |sql: &str| {
            q(sql)
                .bind(lat)
                .bind(long)
                .bind(b.min_lat)
                .bind(b.max_lat)
                .bind(b.min_long)
                .bind(b.max_long)
        };
        let (runs, rows) = timed(args.repeat, || async {
            bind(&geo_top).fetch_all(pool).await?;
            Ok(bind(&geo_facets).fetch_all(pool).await?)
        })
        .await?;
        geo.add(&runs, total_of(&rows));
    }
    text.report("text only (public, top 20)");
    filtered.report("text + filters + facets (staff)");
    geo.report("geo 1 km radius + facets, nearest");
    Ok(())
}

/// The `()` grouping set's count: the total.
fn total_of(rows: &[sqlx::postgres::PgRow]) -> u64 {
    rows.iter()
        .find(|r| r.try_get::<i32, _>(4).is_ok_and(|g| g == 7))
        .and_then(|r| r.try_get::<i64, _>(3).ok())
        .map_or(0, |n| n as u64)
}
