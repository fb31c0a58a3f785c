//! Fresh databases for tests.
//!
//! Every test gets its own database: an SQLite file in a temporary folder,
//! or a new PostgreSQL database on the server named by
//! `TOWNHALL_TEST_POSTGRES_URL` (default: the local server,
//! `postgres://postgres@127.0.0.1:5432/postgres`). PostgreSQL databases are
//! named `townhall_test_<pid>_<n>`; those left by processes that are gone
//! are dropped the first time a process asks for one.

#![allow(clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tokio::sync::OnceCell;

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub kind: Kind,
    _dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl TestDb {
    /// A data directory for this test (for SQLite it holds the database).
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self._dir.as_ref().map(|d| d.path())
    }

    /// Keeps the temporary directory alive while held. `both_databases!`
    /// holds one for the whole test: a test body that only uses `db.url`
    /// captures just that field, and would otherwise drop the directory
    /// (and the SQLite file in it) before it runs.
    pub fn keep_alive(&self) -> Option<std::sync::Arc<tempfile::TempDir>> {
        self._dir.clone()
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("TOWNHALL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);
static CLEANED: OnceCell<()> = OnceCell::const_new();

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("townhall.db").display());
    TestDb {
        url,
        kind: Kind::Sqlite,
        _dir: Some(std::sync::Arc::new(dir)),
    }
}

async fn admin() -> DatabaseConnection {
    let url = postgres_admin_url();
    Database::connect(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url} (set TOWNHALL_TEST_POSTGRES_URL): {e}"))
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn drop_stale(db: &DatabaseConnection) {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT datname FROM pg_database WHERE datname LIKE 'townhall_test_%'",
        ))
        .await
        .expect("list test databases");
    for row in rows {
        let name: String = row.try_get("", "datname").expect("datname");
        let pid = name
            .trim_start_matches("townhall_test_")
            .split('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p != std::process::id() && !pid_alive(p)) {
            let _ = db
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// A new, empty PostgreSQL database.
pub async fn postgres() -> TestDb {
    let db = admin().await;
    CLEANED.get_or_init(|| drop_stale(&db)).await;
    let name = format!(
        "townhall_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let _ = db.close().await;
    TestDb {
        url: database_url(&postgres_admin_url(), &name),
        kind: Kind::Postgres,
        _dir: Some(std::sync::Arc::new(tempfile::tempdir().expect("temp dir"))),
    }
}

/// `url` with its database replaced by `name`, keeping its options
/// (`?sslmode=disable` and the like).
fn database_url(url: &str, name: &str) -> String {
    let (path, options) = url.split_once('?').map_or((url, None), |(p, o)| (p, Some(o)));
    let base = path.rsplit_once('/').map_or(path, |(b, _)| b);
    match options {
        Some(o) => format!("{base}/{name}?{o}"),
        None => format!("{base}/{name}"),
    }
}

/// The workspace's root folder.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Installs the suite's real peers (Python virtualenv, npm packages) once
/// per process with `scripts/test-deps.sh`.
pub fn ensure_test_deps() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let status = std::process::Command::new(workspace_root().join("scripts/test-deps.sh"))
            .status()
            .expect("run scripts/test-deps.sh");
        assert!(status.success(), "scripts/test-deps.sh failed");
    });
}

/// The test virtualenv's Python (with aiosmtpd, the Open311 client, …).
pub fn python() -> std::path::PathBuf {
    ensure_test_deps();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("test-venv/bin/python")
}

/// `tests/node`, with its `node_modules` installed.
pub fn node_dir() -> std::path::PathBuf {
    ensure_test_deps();
    workspace_root().join("tests/node")
}

/// Runs the same async test body against SQLite and PostgreSQL:
/// `both_databases!(name, |db| async move { ... });` defines
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_databases {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::sqlite().await;
                let _dir = db.keep_alive();
                ($body)(db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::postgres().await;
                let _dir = db.keep_alive();
                ($body)(db).await;
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn a_test_database_keeps_the_server_and_options() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@db/postgres?sslmode=disable&application_name=x", "t2"),
            "postgres://u:p@db/t2?sslmode=disable&application_name=x"
        );
    }
}
