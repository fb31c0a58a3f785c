//! The one configuration struct.
//!
//! Layers, later wins: built-in defaults < TOML file (`--config FILE`) <
//! environment (`TOWNHALL__SECTION__KEY`, plus `DATABASE_URL` and
//! `MEILISEARCH_URL`/`MEILISEARCH_KEY`) < command-line flags. Unknown keys
//! are errors in every layer. Secrets print as `***` in `Debug`.
//! The defaults run with no file: SQLite under `./data`, listening on
//! `127.0.0.1:8080`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A string that never appears in logs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("***")
        }
    }
}

/// A URL whose password (if any) is hidden in `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(pub String);

impl SecretUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        let s = &self.0;
        let Some(scheme_end) = s.find("://") else {
            return s.clone();
        };
        let rest = &s[scheme_end + 3..];
        let Some(at) = rest.find('@') else {
            return s.clone();
        };
        let creds = &rest[..at];
        match creds.split_once(':') {
            Some((user, _)) => format!("{}://{user}:***@{}", &s[..scheme_end], &rest[at + 1..]),
            None => s.clone(),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub jurisdiction: JurisdictionConfig,
    pub log: LogConfig,
    pub mail: MailConfig,
    pub auth: AuthConfig,
    /// The plugin host: signatures, trusted keys, default limits.
    pub plugins: townhall_plugin_host::HostConfig,
    pub search: SearchConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Where the SQLite database, search index and plugin cache live.
    pub data_dir: PathBuf,
    /// How residents reach this server (links in emails, OIDC redirects).
    pub public_url: String,
    /// Mark the session cookie `Secure` (set behind HTTPS).
    pub cookie_secure: bool,
    /// Trust `X-Forwarded-For` (set behind a reverse proxy).
    pub trust_proxy: bool,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            public_url: "http://127.0.0.1:8080".into(),
            cookie_secure: false,
            trust_proxy: false,
            shutdown_grace_secs: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://…` for PostgreSQL; empty for SQLite in the data directory.
    pub url: SecretUrl,
    pub max_connections: u32,
    /// SQLite durability: `normal` survives a process crash, `full` a power cut.
    pub sqlite_sync: townhall_store::SqliteSync,
    /// Days a finished after-commit work item (outbox row) is kept before
    /// it is deleted; 0 keeps them forever. Failed (dead) items are kept.
    pub outbox_keep_days: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretUrl::default(),
            max_connections: 16,
            sqlite_sync: townhall_store::SqliteSync::Normal,
            outbox_keep_days: 7,
        }
    }
}

/// The jurisdiction created on first start when the database has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JurisdictionConfig {
    pub id: String,
    pub name: String,
    /// IANA time zone, e.g. `America/Chicago`: SLA business days count in it.
    pub timezone: String,
}

impl Default for JurisdictionConfig {
    fn default() -> Self {
        Self {
            id: "default".into(),
            name: "Townhall".into(),
            timezone: "UTC".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `townhall=debug,info`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `smtp://user:pass@host:port` (add `?tls=required` for STARTTLS) or
    /// `smtps://…`. Empty: emails are written to `<data_dir>/mail/` instead.
    pub smtp_url: SecretUrl,
    pub from: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: SecretUrl::default(),
            from: "Townhall <no-reply@townhall.localhost>".into(),
        }
    }
}

/// Search: the embedded tantivy index (default) or a Meilisearch server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// A Meilisearch server (`http://host:7700`) shared by every replica.
    /// Empty: the embedded index under `index_dir`. The `MEILISEARCH_URL`
    /// environment variable also sets it.
    pub meilisearch_url: SecretUrl,
    /// Meilisearch API key (also `MEILISEARCH_KEY`).
    pub meilisearch_key: Secret,
    /// Where the embedded index lives (default
    /// `<data_dir>/search/tantivy-v<schema version>`).
    pub index_dir: Option<PathBuf>,
    /// "Is it already reported?": how far away a likely duplicate may be,
    /// in metres…
    pub duplicate_radius_m: f64,
    /// …and how old, in days.
    pub duplicate_max_age_days: i32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            meilisearch_url: SecretUrl::default(),
            meilisearch_key: Secret::default(),
            index_dir: None,
            duplicate_radius_m: 150.0,
            duplicate_max_age_days: 30,
        }
    }
}

/// One OpenID Connect provider for staff sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Short name used in URLs: `/auth/oidc/<name>/login`.
    pub name: String,
    /// The issuer URL (its `/.well-known/openid-configuration` is fetched).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim holding group or role names (e.g. `groups`, `roles`).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Group name → roles (`admin`, `staff@public-works`, …).
    #[serde(default)]
    pub role_map: std::collections::BTreeMap<String, Vec<String>>,
    /// Only these email domains may sign in (empty: any).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

fn default_groups_claim() -> String {
    "groups".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Hours a session lasts without use.
    pub session_idle_hours: i64,
    pub max_failures_per_account: i32,
    pub max_failures_per_ip: i32,
    pub throttle_window_minutes: i64,
    pub min_password_len: usize,
    pub oidc: Vec<OidcProviderConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_idle_hours: 12,
            max_failures_per_account: 5,
            max_failures_per_ip: 30,
            throttle_window_minutes: 15,
            min_password_len: 10,
            oidc: vec![],
        }
    }
}

/// Flags that override everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads defaults < file < environment < flags.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(
            file,
            overrides,
            |k| std::env::var(k).ok(),
            Env::prefixed("TOWNHALL__").split("__"),
        )
    }

    fn load_from(
        file: Option<&Path>,
        overrides: &Overrides,
        var: impl Fn(&str) -> Option<String>,
        env: Env,
    ) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "the config file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(env);
        let mut cfg: Config = fig.extract().map_err(|e| ConfigError(e.to_string()))?;
        if let Some(url) = var("DATABASE_URL").filter(|u| !u.trim().is_empty()) {
            cfg.database.url = SecretUrl(url);
        }
        if cfg.search.meilisearch_url.is_empty()
            && let Some(url) = var("MEILISEARCH_URL").filter(|u| !u.trim().is_empty())
        {
            cfg.search.meilisearch_url = SecretUrl(url);
        }
        if cfg.search.meilisearch_key.is_empty()
            && let Some(key) = var("MEILISEARCH_KEY")
                .or_else(|| var("MEILISEARCH_API_KEY"))
                .filter(|k| !k.trim().is_empty())
        {
            cfg.search.meilisearch_key = Secret(key);
        }
        if let Some(l) = overrides.listen {
            cfg.server.listen = l;
        }
        if let Some(d) = &overrides.data_dir {
            cfg.server.data_dir = d.clone();
        }
        if let Some(u) = &overrides.database_url {
            cfg.database.url = SecretUrl(u.clone());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = self.database.url.expose();
        if !url.is_empty()
            && !["postgres://", "postgresql://", "sqlite:"]
                .iter()
                .any(|p| url.starts_with(p))
        {
            return Err(ConfigError(
                "database.url must start with postgres://, postgresql:// or sqlite: (or be empty for SQLite in the data directory)".into(),
            ));
        }
        self.jurisdiction.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
            ConfigError(format!(
                "jurisdiction.timezone `{}` is not an IANA time zone",
                self.jurisdiction.timezone
            ))
        })?;
        let id = &self.jurisdiction.id;
        if id.is_empty()
            || id.len() > 40
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ConfigError(format!(
                "jurisdiction.id `{id}` must be 1-40 characters of a-z, 0-9 and -"
            )));
        }
        let meili = self.search.meilisearch_url.expose();
        if !(meili.is_empty() || meili.starts_with("http://") || meili.starts_with("https://")) {
            return Err(ConfigError(
                "search.meilisearch_url must start with http:// or https://".into(),
            ));
        }
        if !(self.search.duplicate_radius_m.is_finite()
            && self.search.duplicate_radius_m > 0.0
            && self.search.duplicate_radius_m <= 100_000.0)
        {
            return Err(ConfigError(
                "search.duplicate_radius_m must be more than 0 and at most 100000".into(),
            ));
        }
        if !(1..=365).contains(&self.search.duplicate_max_age_days) {
            return Err(ConfigError(
                "search.duplicate_max_age_days must be between 1 and 365".into(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError("database.max_connections must be at least 1".into()));
        }
        for p in &self.auth.oidc {
            for roles in p.role_map.values() {
                for r in roles {
                    townhall_access::RoleGrant::parse(r)
                        .map_err(|e| ConfigError(format!("auth.oidc `{}` role_map: {e}", p.name)))?;
                }
            }
        }
        Ok(())
    }

    /// The search engine this configuration selects.
    pub fn search_config(&self) -> townhall_search::SearchConfig {
        let url = self.search.meilisearch_url.expose();
        if url.is_empty() {
            let mut opts = townhall_search::TantivyOptions::in_data_dir(&self.server.data_dir);
            if let Some(dir) = &self.search.index_dir {
                opts.dir = dir.clone();
            }
            townhall_search::SearchConfig::Embedded(opts)
        } else {
            let key = self.search.meilisearch_key.expose();
            townhall_search::SearchConfig::meilisearch(url, (!key.is_empty()).then(|| key.to_owned()))
        }
    }

    /// The store options this configuration selects.
    pub fn store_options(&self) -> townhall_store::StoreOptions {
        let mut o = if self.database.url.expose().is_empty() {
            townhall_store::StoreOptions::sqlite_in(&self.server.data_dir)
        } else {
            townhall_store::StoreOptions::new(self.database.url.expose())
        };
        o.max_connections = self.database.max_connections;
        o.sqlite_sync = self.database.sqlite_sync;
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn defaults_run_without_a_file() {
        let c = Config::load_from(None, &Overrides::default(), |_| None, Env::raw().only(&[])).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.data_dir, PathBuf::from("./data"));
        assert!(c.store_options().url.starts_with("sqlite://"));
    }

    #[test]
    fn layers_apply_in_order() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            "[server]\nlisten = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/from-file\"\n[log]\nformat = \"json\""
        )
        .unwrap();
        let env = figment::providers::Env::raw().only(&[]);
        let c = Config::load_from(Some(f.path()), &Overrides::default(), |_| None, env).unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.log.format, LogFormat::Json);

        let flags = Overrides {
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            database_url: Some("postgres://u:hunter2@db/townhall".into()),
            ..Default::default()
        };
        let c = Config::load_from(
            Some(f.path()),
            &flags,
            |k| (k == "DATABASE_URL").then(|| "postgres://x@y/z".to_owned()),
            figment::providers::Env::raw().only(&[]),
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 9100);
        assert_eq!(c.server.data_dir, PathBuf::from("/tmp/from-file"));
        assert_eq!(c.database.url.expose(), "postgres://u:hunter2@db/townhall");
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres://u:***@db/townhall"), "{printed}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail error type
    fn environment_overrides_the_file_and_unknown_variables_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("t.toml", "[server]\nlisten = \"127.0.0.1:9000\"\n")?;
            jail.set_env("TOWNHALL__SERVER__LISTEN", "127.0.0.1:9200");
            jail.set_env("TOWNHALL__LOG__LEVEL", "debug");
            let c = Config::load(Some(Path::new("t.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.server.listen.port(), 9200);
            assert_eq!(c.log.level, "debug");
            jail.set_env("TOWNHALL__SERVER__LISTNE", "x");
            let err = Config::load(Some(Path::new("t.toml")), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("listne"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[server]\nlisten = \"127.0.0.1:9000\"\nlistne = \"oops\"").unwrap();
        let err = Config::load_from(Some(f.path()), &Overrides::default(), |_| None, Env::raw().only(&[])).unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
        let mut g = tempfile::NamedTempFile::new().unwrap();
        writeln!(g, "[sever]\nlisten = \"127.0.0.1:9000\"").unwrap();
        assert!(Config::load_from(Some(g.path()), &Overrides::default(), |_| None, Env::raw().only(&[])).is_err());
    }

    #[test]
    fn bad_values_are_explained() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[jurisdiction]\ntimezone = \"Mars/Olympus\"").unwrap();
        let err = Config::load_from(Some(f.path()), &Overrides::default(), |_| None, Env::raw().only(&[])).unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"));
        let flags = Overrides {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        assert!(Config::load_from(None, &flags, |_| None, Env::raw().only(&[])).is_err());
        assert!(Config::load(Some(Path::new("/nonexistent/townhall.toml")), &Overrides::default()).is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(format!("{:?}", Secret("s3cret".into())), "***");
        assert_eq!(
            SecretUrl("smtp://mail:pw@host:25".into()).redacted(),
            "smtp://mail:***@host:25"
        );
        assert_eq!(SecretUrl("postgres://host/db".into()).redacted(), "postgres://host/db");
    }
}
