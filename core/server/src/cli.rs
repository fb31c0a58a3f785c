//! The `townhall` command line.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use townhall_access::{AccessService, RoleGrant};
use townhall_domain::clock::{Clock, SystemClock};

use crate::app::{self, App, StartOptions};
use crate::config::{Config, LogFormat, Overrides};
use crate::seed;

#[derive(Parser, Debug)]
#[command(name = "townhall", version, about = "Townhall: a self-hosted virtual city hall")]
pub struct Cli {
    /// A TOML configuration file (see docs/configuration.md).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives; every command that touches the database takes these.
#[derive(Args, Debug, Clone, Default)]
pub struct DbArgs {
    /// The data directory (SQLite database, search index, plugin cache).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        db: DbArgs,
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Load the demo city (Riverbend) when the database is empty.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations (serve does this too).
    Migrate {
        #[command(flatten)]
        db: DbArgs,
        /// Only list pending migrations.
        #[arg(long)]
        status: bool,
    },
    /// Load the demo city: departments, the nine services, ~200 requests.
    SeedDemo {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys for Open311 clients and integrations.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Install, list and remove plugins (a running server picks changes up
    /// within a second).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Rebuild the search index from the database, with a progress bar.
    /// The embedded index has one writer: stop the server first (with
    /// Meilisearch, servers may keep running).
    Reindex {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print the effective configuration (secrets redacted) and exit.
    Config {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account (or reset its password) and grant roles. Reads the
    /// password from standard input.
    Add {
        email: String,
        /// `admin`, `staff@DEPARTMENT` or `supervisor@DEPARTMENT`; repeatable.
        #[arg(long = "role", value_name = "ROLE[@DEPARTMENT]")]
        roles: Vec<String>,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Install (or with --upgrade, replace) a plugin component.
    Install {
        /// The `.wasm` component.
        file: PathBuf,
        /// A capability to grant (`kv`, `http:HOST[:PORT]`); repeatable.
        #[arg(long = "grant", value_name = "CAPABILITY")]
        grants: Vec<String>,
        /// A JSON file with the plugin's configuration.
        #[arg(long = "config-file", value_name = "FILE.json")]
        config_file: Option<PathBuf>,
        /// A secret as NAME=VALUE; repeatable.
        #[arg(long = "secret", value_name = "NAME=VALUE")]
        secrets: Vec<String>,
        /// Detached ed25519 signature (default: FILE.sig when it exists).
        #[arg(long)]
        signature: Option<PathBuf>,
        #[arg(long)]
        jurisdiction: Option<String>,
        /// Replace the installed version.
        #[arg(long)]
        upgrade: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List installed plugins with their grants and state.
    List {
        #[arg(long)]
        jurisdiction: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove a plugin; its services leave the catalog, requests stay.
    Uninstall {
        plugin_id: String,
        #[arg(long)]
        jurisdiction: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Create a new plugin crate from the template.
    New {
        name: String,
        /// Where to create it (default: the current directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Path to the townhall-sdk crate (default: the published crate).
        #[arg(long, value_name = "DIR")]
        sdk_path: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key; prints it (shown only this once) as the last line.
    Create {
        #[arg(long)]
        name: String,
        /// `open311:write`, `requests:update`, `requests:read_private`; repeatable.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a key by id.
    Revoke {
        id: uuid::Uuid,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// A progress bar on standard error (a line per tenth when it is not a
/// terminal, so logs stay readable).
struct Progress {
    tty: bool,
    last_tenth: std::sync::atomic::AtomicU64,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Progress {
            tty: std::io::stderr().is_terminal(),
            last_tenth: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }

    fn show(&self, done: u64, total: u64) {
        let total = total.max(done);
        let frac = if total == 0 { 1.0 } else { done as f64 / total as f64 };
        let mut err = std::io::stderr().lock();
        if self.tty {
            const WIDTH: usize = 40;
            let filled = ((frac * WIDTH as f64) as usize).min(WIDTH);
            let _ = write!(
                err,
                "\r[{}{}] {done}/{total} requests ({:.0}%)",
                "#".repeat(filled),
                " ".repeat(WIDTH - filled),
                frac * 100.0
            );
            let _ = err.flush();
        } else {
            let tenth = (frac * 10.0) as u64;
            if self.last_tenth.swap(tenth, std::sync::atomic::Ordering::Relaxed) != tenth {
                let _ = writeln!(err, "reindex: {done}/{total} requests ({:.0}%)", frac * 100.0);
            }
        }
    }

    fn finish(&self) {
        if self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn overrides(db: &DbArgs, listen: Option<SocketAddr>) -> Overrides {
    Overrides {
        listen,
        data_dir: db.data_dir.clone(),
        database_url: db.database_url.clone(),
    }
}

pub fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

async fn access(config: &Config) -> anyhow::Result<(townhall_store::Store, AccessService)> {
    let store = app::open_store(config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let access = AccessService::new(store.clone(), clock, app::access_config(config), app::mailer(config)?).await?;
    Ok((store, access))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let file = cli.config.as_deref();
    match cli.command {
        Command::Serve { db, listen, demo } => {
            let config = Config::load(file, &overrides(&db, listen))?;
            init_tracing(&config);
            tracing::debug!(config = ?config, "configuration");
            let app = App::start(config, StartOptions { demo }).await?;
            println!("Townhall is listening on http://{}/graphql", app.addr);
            app::shutdown_signal().await;
            app.shutdown().await
        }
        Command::Migrate { db, status } => {
            let config = Config::load(file, &overrides(&db, None))?;
            init_tracing(&config);
            let store = townhall_store::Store::connect(&config.store_options()).await?;
            let pending = store.pending_migrations().await?;
            if status {
                if pending.is_empty() {
                    println!("the database is up to date");
                }
                for m in pending {
                    println!("pending: {m}");
                }
                return Ok(());
            }
            std::fs::create_dir_all(&config.server.data_dir).ok();
            let n = store.migrate().await?;
            println!("applied {n} migration(s)");
            Ok(())
        }
        Command::SeedDemo { db } => {
            let config = Config::load(file, &overrides(&db, None))?;
            init_tracing(&config);
            let store = app::open_store(&config).await?;
            let s = seed::seed_demo(&store, SystemClock.now(), &app::consumers()).await?;
            println!(
                "demo city `{}`: {} departments, {} services, {} new requests",
                seed::DEMO_JURISDICTION,
                s.departments,
                s.services,
                s.requests
            );
            Ok(())
        }
        Command::User(UserCommand::Add { email, roles, db }) => {
            let config = Config::load(file, &overrides(&db, None))?;
            init_tracing(&config);
            let grants = roles
                .iter()
                .map(|r| RoleGrant::parse(r).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let (_, access) = access(&config).await?;
            let user = access
                .add_user(&email, password, &grants)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let roles: Vec<String> = access
                .roles(user.id)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .iter()
                .map(ToString::to_string)
                .collect();
            println!(
                "user {} ({}) roles: {}",
                user.email,
                user.id,
                if roles.is_empty() {
                    "none".into()
                } else {
                    roles.join(", ")
                }
            );
            Ok(())
        }
        Command::Reindex { db } => {
            let config = Config::load(file, &overrides(&db, None))?;
            init_tracing(&config);
            let store = app::open_store(&config).await?;
            let search = app::open_search(&config).await?;
            let bar = Progress::new();
            let result = townhall_search::reindex(&store, &search, |done, total| bar.show(done, total)).await;
            bar.finish();
            let closed = search.shutdown().await;
            let stats = result.map_err(|e| anyhow::anyhow!("the rebuild failed: {e}"))?;
            closed.map_err(|e| anyhow::anyhow!("the index could not be closed: {e}"))?;
            println!(
                "reindexed {} request(s) in {:.1} s ({:.0}/s) into the {} index",
                stats.indexed,
                stats.elapsed.as_secs_f64(),
                stats.per_second(),
                search.engine()
            );
            Ok(())
        }
        Command::ApiKey(cmd) => api_key(file, cmd).await,
        Command::Plugin(cmd) => plugin(file, cmd).await,
        Command::Config { db } => {
            let config = Config::load(file, &overrides(&db, None))?;
            println!("{config:#?}");
            Ok(())
        }
    }
}

async fn api_key(file: Option<&std::path::Path>, cmd: ApiKeyCommand) -> anyhow::Result<()> {
    let db = match &cmd {
        ApiKeyCommand::Create { db, .. } | ApiKeyCommand::List { db } | ApiKeyCommand::Revoke { db, .. } => db.clone(),
    };
    let config = Config::load(file, &overrides(&db, None))?;
    init_tracing(&config);
    let (_, access) = access(&config).await?;
    let mut out = std::io::stdout().lock();
    match cmd {
        ApiKeyCommand::Create { name, scopes, .. } => {
            let (row, secret) = access
                .create_api_key(&name, &scopes, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(
                out,
                "created API key `{}` ({}) with scopes: {}",
                row.name,
                row.id,
                if row.scopes.is_empty() {
                    "none".into()
                } else {
                    row.scopes.join(", ")
                }
            )?;
            writeln!(out, "store it now; it is shown only this once:")?;
            writeln!(out, "{secret}")?;
        }
        ApiKeyCommand::List { .. } => {
            for k in access.api_keys().await.map_err(|e| anyhow::anyhow!("{e}"))? {
                writeln!(
                    out,
                    "{}  th_{}_…  {}  scopes: {}  {}",
                    k.id,
                    k.prefix,
                    k.name,
                    k.scopes.join(","),
                    if k.revoked_at.is_some() { "REVOKED" } else { "active" }
                )?;
            }
        }
        ApiKeyCommand::Revoke { id, .. } => {
            access.revoke_api_key(id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(out, "revoked {id}")?;
        }
    }
    Ok(())
}

async fn plugin(file: Option<&std::path::Path>, cmd: PluginCommand) -> anyhow::Result<()> {
    use townhall_plugin_host::cli as pcli;
    let mut out = std::io::stdout().lock();
    if let PluginCommand::New { name, dir, sdk_path } = &cmd {
        let dir = dir.clone().unwrap_or_else(|| PathBuf::from("."));
        pcli::new_plugin(name, &dir, sdk_path.as_deref(), &mut out).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(());
    }
    let db = match &cmd {
        PluginCommand::Install { db, .. } | PluginCommand::List { db, .. } | PluginCommand::Uninstall { db, .. } => {
            db.clone()
        }
        PluginCommand::New { .. } => DbArgs::default(),
    };
    let config = Config::load(file, &overrides(&db, None))?;
    init_tracing(&config);
    let store = app::open_store(&config).await?;
    let data_dir = config.server.data_dir.clone();
    let result = match cmd {
        PluginCommand::Install {
            file,
            grants,
            config_file,
            secrets,
            signature,
            jurisdiction,
            upgrade,
            ..
        } => {
            let args = pcli::InstallArgs {
                file,
                grants,
                config_file,
                secrets,
                signature,
                jurisdiction,
                upgrade,
            };
            pcli::install(store, &data_dir, &config.plugins, &args, &mut out).await
        }
        PluginCommand::List { jurisdiction, .. } => pcli::list(store, jurisdiction.as_deref(), &mut out).await,
        PluginCommand::Uninstall {
            plugin_id,
            jurisdiction,
            ..
        } => {
            pcli::uninstall(
                store,
                &data_dir,
                &config.plugins,
                jurisdiction.as_deref(),
                &plugin_id,
                &mut out,
            )
            .await
        }
        PluginCommand::New { .. } => Ok(()),
    };
    result.map_err(|e| anyhow::anyhow!("{} ({})", e, e.code()))
}
