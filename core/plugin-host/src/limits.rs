//! Per-install limits on every call into a plugin.

use serde::{Deserialize, Serialize};

/// Bounds on one call (validate+route, on-event, manifest). Stored as JSON
/// on the install; missing fields take the host's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Guest CPU time per call, in milliseconds (epoch deadline; time spent
    /// in host calls does not count).
    pub cpu_ms: u64,
    /// Linear memory, in bytes.
    pub memory_bytes: u64,
    /// Size of what one call may return, in bytes.
    pub output_bytes: u64,
    /// Wall-clock bound on each host call (HTTP, key-value), and on all host
    /// calls of one plugin call together, in milliseconds.
    pub host_call_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_ms: 50,
            memory_bytes: 64 * 1024 * 1024,
            output_bytes: 64 * 1024,
            host_call_timeout_ms: 5_000,
        }
    }
}

impl Limits {
    /// Reads limits stored on an install, falling back to `defaults` for
    /// anything missing or malformed, and clamping to the host's ceilings.
    pub fn from_json(value: &serde_json::Value, defaults: Limits, max_memory_bytes: u64) -> Limits {
        let mut l = match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                let mut merged = serde_json::to_value(defaults).unwrap_or_default();
                if let serde_json::Value::Object(m) = &mut merged {
                    for (k, v) in map {
                        m.insert(k.clone(), v.clone());
                    }
                }
                serde_json::from_value(merged).unwrap_or(defaults)
            }
            _ => defaults,
        };
        l.cpu_ms = l.cpu_ms.clamp(1, 60_000);
        l.memory_bytes = l.memory_bytes.clamp(1024 * 1024, max_memory_bytes.max(1024 * 1024));
        l.output_bytes = l.output_bytes.clamp(1024, 16 * 1024 * 1024);
        l.host_call_timeout_ms = l.host_call_timeout_ms.clamp(1, 120_000);
        l
    }
}
