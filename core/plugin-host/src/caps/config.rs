//! `config`: the install's configuration and secrets.
//!
//! **Must never:** hand out another install's configuration or secrets.

use crate::bindings::v0_1_0::townhall::plugin::config::Host;
use crate::state::CallState;

impl Host for CallState {
    fn get_config(&mut self) -> wasmtime::Result<String> {
        Ok(self.plugin.config_json.clone())
    }

    fn get_secret(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.plugin.secrets.get(&name).map(str::to_owned))
    }
}
