//! The host's configuration: the `[plugins]` section of the server's
//! configuration file (`TOWNHALL__PLUGINS__…` in the environment).

use serde::{Deserialize, Serialize};

use crate::limits::Limits;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Only install components signed (ed25519) by one of `trusted_keys`.
    pub require_signed: bool,
    /// Trusted ed25519 public keys, 32 bytes each, hex or base64.
    pub trusted_keys: Vec<String>,
    /// Limits for installs that set none.
    pub default_limits: Limits,
    /// The most memory any install may be given, in bytes (sizes the pool).
    pub max_memory_bytes: u64,
    /// Plugin instances alive at once (sizes the pooling allocator; calls
    /// beyond it wait).
    pub max_instances: u32,
    /// Disable a plugin after this many faults within `fault_window_secs`
    /// (0 never disables).
    pub auto_disable_after: u32,
    pub fault_window_secs: u64,
    /// How often to look for changes made by other processes, in ms.
    pub sync_interval_ms: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            require_signed: false,
            trusted_keys: Vec::new(),
            default_limits: Limits::default(),
            max_memory_bytes: 256 * 1024 * 1024,
            max_instances: 64,
            auto_disable_after: 5,
            fault_window_secs: 60,
            sync_interval_ms: 500,
        }
    }
}
