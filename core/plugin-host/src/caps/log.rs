//! `log`: structured lines into the server's log, tagged with the plugin.
//!
//! **Must never:** let a plugin flood the log (lines and sizes are capped
//! per call) or forge another plugin's tag.

use crate::bindings::v0_1_0::townhall::plugin::log::{Host, Level};
use crate::state::CallState;

const MAX_LINES: u32 = 100;
const MAX_LEN: usize = 4_096;

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_LEN).collect();
    out.retain(|c| !c.is_control() || c == '\t');
    out
}

impl Host for CallState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > MAX_LINES {
            return Ok(());
        }
        let message = clip(&message);
        let fields: Vec<String> = fields
            .iter()
            .take(20)
            .map(|(k, v)| format!("{}={}", clip(k), clip(v)))
            .collect();
        let fields = fields.join(" ");
        let plugin = self.plugin.plugin_id.as_str();
        let jurisdiction = self.plugin.jurisdiction_id.as_str();
        let hook = self.hook.as_str();
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", plugin, jurisdiction, hook, fields, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", plugin, jurisdiction, hook, fields, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "plugin", plugin, jurisdiction, hook, fields, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "plugin", plugin, jurisdiction, hook, fields, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "plugin", plugin, jurisdiction, hook, fields, "{message}")
            }
        }
        Ok(())
    }
}
