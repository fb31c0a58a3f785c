//! `clock`: the server's [`townhall_domain::clock::Clock`], so tests that
//! move time move it for plugins too.
//!
//! **Must never:** read the machine's clock directly.

use crate::bindings::v0_1_0::townhall::plugin::clock::Host;
use crate::state::CallState;

impl Host for CallState {
    fn now(&mut self) -> wasmtime::Result<i64> {
        Ok(self.plugin.clock.now().timestamp_millis())
    }
}
