//! Townhall's storage layer: one [`Store`] over SQLite or PostgreSQL.
//!
//! - On SQLite (the embedded default) every write goes through a single
//!   connection, so writers never fight over the database lock, while reads
//!   use a pool (WAL mode lets them run beside the writer).
//! - On PostgreSQL reads and writes share one pool; row locks
//!   (`FOR UPDATE`, `SKIP LOCKED`) coordinate several server replicas.
//!
//! Every change to a request is one transaction: the row, its history entry
//! and its outbox rows commit together or not at all.
//!
//! **Must never:** know about HTTP, GraphQL or plugins; decide who may see
//! what (callers do); read the wall clock (times are passed in).

mod access;
mod attachments;
mod catalog;
mod convert;
mod entities;
mod entities_access;
mod entities_open311;
pub mod error;
mod open311;
mod outbox;
mod people;
mod plugins;
pub mod records;
pub use access::{ApiKeyRow, AuditEntry, PolicyRow, SessionRow};
pub use attachments::Attachment;
pub use open311::{PendingSubmission, PublicPhoto, SubmissionState};
pub use outbox::OutboxStats;
pub use people::User;
pub use plugins::{PluginFaultRecord, PluginInstall, PluginUpdate, Secrets};
mod pg_group;
mod requests;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use tokio::sync::Mutex;
use townhall_migrations::MigratorTrait;

pub use error::{Result, StoreError};
pub use records::*;
pub use townhall_migrations::Migrator;

/// Which database engine is behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// SQLite's `synchronous` setting. `Normal` (the default) survives a crash
/// of the process (`kill -9`); `Full` also survives a power cut, at the cost
/// of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    #[default]
    Normal,
    Full,
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    /// Pool size for reads (and, on PostgreSQL, writes).
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub sqlite_sync: SqliteSync,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            sqlite_sync: SqliteSync::Normal,
        }
    }

    /// The URL for an SQLite file inside `data_dir`.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::new(format!("sqlite://{}?mode=rwc", data_dir.join("townhall.db").display()))
    }
}

/// Pool figures for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub read_size: u32,
    pub read_idle: u32,
    pub write_size: u32,
    pub write_idle: u32,
}

struct Inner {
    read: DatabaseConnection,
    write: DatabaseConnection,
    backend: Backend,
    /// PostgreSQL tracking-number sequences known to exist.
    sequences: Mutex<HashSet<String>>,
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.inner.backend).finish()
    }
}

impl Store {
    /// Connects (creating the SQLite file if needed). Does not migrate.
    pub async fn connect(opts: &StoreOptions) -> Result<Store> {
        let backend = if opts.url.starts_with("postgres://") || opts.url.starts_with("postgresql://") {
            Backend::Postgres
        } else if opts.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Unavailable(
                "the database URL must start with sqlite:// or postgres://".to_owned(),
            ));
        };
        let (read, write) = match backend {
            Backend::Sqlite => {
                let reads = sqlite_options(opts, opts.max_connections.max(1), false);
                // The writer never checkpoints: copying the WAL back into the
                // database (and its two fsyncs) would hold up every write
                // queued behind it. `checkpoints` does it beside the writer.
                let writes = sqlite_options(opts, 1, true);
                // Open the writer first: it creates the file and switches it to WAL.
                let write = Database::connect(writes).await?;
                write.execute_unprepared("SELECT 1").await?;
                let read = Database::connect(reads).await?;
                (read, write)
            }
            Backend::Postgres => {
                let mut o = ConnectOptions::new(opts.url.clone());
                o.max_connections(opts.max_connections.max(2))
                    .min_connections(1)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_timeout(opts.acquire_timeout)
                    .sqlx_logging(false)
                    .set_application_name("townhall");
                let pool = Database::connect(o).await?;
                (pool.clone(), pool)
            }
        };
        let inner = Arc::new(Inner {
            read,
            write,
            backend,
            sequences: Mutex::new(HashSet::new()),
        });
        if backend == Backend::Sqlite {
            tokio::spawn(checkpoints(Arc::downgrade(&inner)));
        }
        Ok(Store { inner })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub(crate) fn read(&self) -> &DatabaseConnection {
        &self.inner.read
    }

    pub(crate) fn write(&self) -> &DatabaseConnection {
        &self.inner.write
    }

    /// Applies every pending migration. Returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        let pending = Migrator::get_pending_migrations(self.write()).await?.len();
        Migrator::up(self.write(), None).await?;
        Ok(pending)
    }

    /// Names of migrations not yet applied.
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        Ok(Migrator::get_pending_migrations(self.write())
            .await?
            .iter()
            .map(|m| m.name().to_owned())
            .collect())
    }

    /// Rolls back `steps` migrations (all when `None`). For tests and repair.
    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<()> {
        Migrator::down(self.write(), steps).await?;
        Ok(())
    }

    /// Checks the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        self.read().execute_unprepared("SELECT 1").await?;
        if self.inner.backend == Backend::Sqlite {
            self.write().execute_unprepared("SELECT 1").await?;
        }
        Ok(())
    }

    pub fn pool_stats(&self) -> PoolStats {
        let (rs, ri) = pool_numbers(self.read());
        let (ws, wi) = match self.inner.backend {
            Backend::Sqlite => pool_numbers(self.write()),
            Backend::Postgres => (rs, ri),
        };
        PoolStats {
            read_size: rs,
            read_idle: ri,
            write_size: ws,
            write_idle: wi,
        }
    }

    /// Runs `op` again when SQLite reports the database busy or the
    /// transaction's snapshot stale (another process wrote between its read
    /// and its write: the transaction must restart, which waiting in
    /// `busy_timeout` cannot do). Up to about 5 s, then the error stands.
    pub(crate) async fn retry_busy<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut attempt: u64 = 0;
        loop {
            match op().await {
                Err(e) if self.inner.backend == Backend::Sqlite && attempt < 40 && error::is_sqlite_busy(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * attempt.min(10))).await;
                }
                r => return r,
            }
        }
    }

    /// Closes every connection (at shutdown, after in-flight work is done).
    pub async fn close(&self) {
        let _ = self.inner.read.close_by_ref().await;
        if self.inner.backend == Backend::Sqlite {
            let _ = self.inner.write.close_by_ref().await;
        }
    }
}

/// How often the WAL is copied back into an SQLite database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A WAL this many pages long (about 400 MB) is worth a warning: a reader
/// that never lets go keeps the checkpoints from finishing.
const WAL_WARN_PAGES: i64 = 100_000;

/// Checkpoints an SQLite database from a reading connection, beside the
/// writer (which never does, see [`Store::connect`]), until the store is
/// dropped. PASSIVE: it copies what no reader still needs and never waits
/// for, or holds up, the writer or the readers.
async fn checkpoints(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let started = std::time::Instant::now();
        let stmt = sea_orm::Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)");
        match inner.read.query_one_raw(stmt).await {
            Ok(Some(row)) => {
                // (busy, frames in the WAL, frames copied back)
                let wal: i64 = row.try_get_by_index(1).unwrap_or(0);
                let copied: i64 = row.try_get_by_index(2).unwrap_or(0);
                if copied > 0 {
                    metrics::histogram!("townhall_store_checkpoint_seconds").record(started.elapsed().as_secs_f64());
                }
                if wal > WAL_WARN_PAGES && !warned {
                    tracing::warn!(
                        pages = wal,
                        copied,
                        "the SQLite WAL keeps growing: a long read may be holding it"
                    );
                }
                warned = wal > WAL_WARN_PAGES;
            }
            Ok(None) => {}
            // Closed at shutdown, or busy: the next tick tries again.
            Err(e) => tracing::debug!(error = %e, "SQLite checkpoint failed"),
        }
    }
}

fn pool_numbers(conn: &DatabaseConnection) -> (u32, u32) {
    match conn.get_database_backend() {
        DbBackend::Sqlite => {
            let p = conn.get_sqlite_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX))
        }
        _ => {
            let p = conn.get_postgres_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX))
        }
    }
}

fn sqlite_options(opts: &StoreOptions, max: u32, writer: bool) -> ConnectOptions {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    let sync = match opts.sqlite_sync {
        SqliteSync::Normal => SqliteSynchronous::Normal,
        SqliteSync::Full => SqliteSynchronous::Full,
    };
    let mut o = ConnectOptions::new(opts.url.clone());
    o.max_connections(max)
        .min_connections(1)
        .acquire_timeout(opts.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |s| {
            let s = s
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(sync)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if writer { s.pragma("wal_autocheckpoint", "0") } else { s }
        });
    o
}
