//! `kv`: the install's private key-value store, kept in the database.
//!
//! **Must never:** work without the `kv` grant; write during a before-hook
//! (validate, route, manifest); reach another install's keys.

use townhall_sdk::capability;
use townhall_sdk::host::{MAX_KV_KEY, MAX_KV_VALUE};

use crate::bindings::v0_1_0::townhall::plugin::kv::{Host, KvError};
use crate::state::{CallState, Violation};

const MAX_KEYS: u64 = 1_000;

impl CallState {
    fn kv_check(&mut self, key: &str, write: bool) -> wasmtime::Result<Result<(), KvError>> {
        if !capability::kv_allowed(&self.plugin.grants) {
            return Err(self.violate(Violation::Denied(capability::KV.to_owned())));
        }
        if key.len() > MAX_KV_KEY {
            return Ok(Err(KvError::TooLarge));
        }
        if write && self.hook.is_before_hook() {
            return Ok(Err(KvError::ReadOnly));
        }
        Ok(Ok(()))
    }
}

fn unavailable(e: townhall_store::StoreError) -> KvError {
    tracing::warn!(error = %e, "plugin kv store error");
    KvError::Unavailable("the key-value store is unavailable".to_owned())
}

impl Host for CallState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        if let Err(e) = self.kv_check(&key, false)? {
            return Ok(Err(e));
        }
        let p = self.plugin.clone();
        let r = self.blocking("kv", async move {
            p.store.plugin_kv_get(&p.jurisdiction_id, &p.plugin_id, &key).await
        })?;
        Ok(r.map_err(unavailable))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        if let Err(e) = self.kv_check(&key, true)? {
            return Ok(Err(e));
        }
        if value.len() > MAX_KV_VALUE {
            return Ok(Err(KvError::TooLarge));
        }
        let p = self.plugin.clone();
        let now = p.clock.now();
        let r = self.blocking("kv", async move {
            p.store
                .plugin_kv_set(&p.jurisdiction_id, &p.plugin_id, &key, &value, now)
                .await
        })?;
        Ok(r.map_err(unavailable))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), KvError>> {
        if let Err(e) = self.kv_check(&key, true)? {
            return Ok(Err(e));
        }
        let p = self.plugin.clone();
        let r = self.blocking("kv", async move {
            p.store.plugin_kv_delete(&p.jurisdiction_id, &p.plugin_id, &key).await
        })?;
        Ok(r.map_err(unavailable))
    }

    fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, KvError>> {
        if let Err(e) = self.kv_check(&prefix, false)? {
            return Ok(Err(e));
        }
        let p = self.plugin.clone();
        let r = self.blocking("kv", async move {
            p.store
                .plugin_kv_keys(&p.jurisdiction_id, &p.plugin_id, &prefix, MAX_KEYS)
                .await
        })?;
        Ok(r.map_err(unavailable))
    }
}
