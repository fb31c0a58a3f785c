//! What every handler can reach.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use townhall_access::AccessService;
use townhall_intake::Intake;
use townhall_store::Store;

/// Facts about the running build, for `/metrics` and `/healthz`.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: &'static str,
    pub backend: &'static str,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Mark cookies `Secure` (on behind HTTPS; off for plain-HTTP laptops).
    pub cookie_secure: bool,
    /// Trust `X-Forwarded-For` for the client address (behind a proxy).
    pub trust_proxy: bool,
    /// Largest JSON body accepted.
    pub max_body_bytes: usize,
    pub graphql_max_depth: usize,
    pub graphql_max_complexity: usize,
    /// "Is it already reported?" defaults: how far away, in metres…
    pub duplicate_radius_m: f64,
    /// …and how old, in days, a likely duplicate may be.
    pub duplicate_max_age_days: i32,
    pub build: BuildInfo,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            cookie_secure: false,
            trust_proxy: false,
            max_body_bytes: 1024 * 1024,
            graphql_max_depth: 12,
            graphql_max_complexity: 2_000,
            duplicate_radius_m: 150.0,
            duplicate_max_age_days: 30,
            build: BuildInfo {
                version: env!("CARGO_PKG_VERSION"),
                backend: "unknown",
            },
        }
    }
}

pub struct ApiState {
    pub intake: Arc<Intake>,
    pub access: Arc<AccessService>,
    /// The plugin host (absent in tools that run without one).
    pub plugins: Option<townhall_plugin_host::PluginHost>,
    /// Staff single sign-on (absent when no provider is configured).
    pub oidc: Option<Arc<townhall_access::Oidc>>,
    /// The search index (absent in tools that run without one).
    pub search: Option<townhall_search::SearchIndex>,
    pub metrics: Option<PrometheusHandle>,
    pub config: ApiConfig,
}

impl ApiState {
    pub fn store(&self) -> &Store {
        self.intake.store()
    }
}
