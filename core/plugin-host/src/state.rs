//! What one call into a plugin carries: its WASI context (empty: no
//! files, no environment, no network), its memory limiter, the install's
//! grants and settings, and any violation a host capability recorded.
//!
//! A fresh `CallState` (and a fresh wasm instance) is made for every call,
//! so nothing of one resident's intake is visible to the next call.
//!
//! **Must never:** inherit the server's environment, stdio, files or
//! network; outlive the call it was made for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::runtime::PluginCtx;

/// Which export is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Manifest,
    Validate,
    Route,
    OnEvent,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Manifest => "manifest",
            Hook::Validate => "validate",
            Hook::Route => "route",
            Hook::OnEvent => "on_event",
        }
    }

    /// Before-hooks have no side effects (read-only key-value store).
    pub fn is_before_hook(self) -> bool {
        matches!(self, Hook::Manifest | Hook::Validate | Hook::Route)
    }
}

/// A rule a host capability saw broken; it ends the call with a trap and
/// decides the fault kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("used capability `{0}` without a grant")]
    Denied(String),
    #[error("a host call ({0}) ran past its time limit")]
    HostTimeout(&'static str),
}

/// Caps linear memory per call and remembers that the guest hit the cap.
pub struct Limiter {
    pub max_memory: usize,
    pub out_of_memory: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.out_of_memory = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

pub struct CallState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: Limiter,
    pub plugin: Arc<PluginCtx>,
    pub hook: Hook,
    pub violation: Option<Violation>,
    /// Set by the socket address check (any attempt is a violation).
    pub socket_attempt: Arc<AtomicBool>,
    /// What the guest wrote to stderr (panic messages), for the admin log.
    pub stderr: MemoryOutputPipe,
    /// Epoch ticks spent inside host calls, credited back to the CPU budget.
    pub host_ticks: u64,
    /// Wall-clock time left for host calls in this call.
    pub host_time_left: Duration,
    pub log_lines: u32,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl CallState {
    /// Records a violation and returns the trap that ends the call.
    pub fn violate(&mut self, v: Violation) -> wasmtime::Error {
        if self.violation.is_none() {
            self.violation = Some(v.clone());
        }
        wasmtime::Error::new(v)
    }

    pub fn socket_attempted(&self) -> bool {
        self.socket_attempt.load(Ordering::Relaxed)
    }

    /// Runs a blocking host operation under the call's host-time budget.
    /// The time it takes is credited back to the guest's CPU budget.
    /// Returns `None` when it ran out of time.
    pub fn blocking<F, R>(&mut self, what: &'static str, fut: F) -> Result<R, wasmtime::Error>
    where
        F: std::future::Future<Output = R>,
    {
        let limit = Duration::from_millis(self.plugin.limits.host_call_timeout_ms).min(self.host_time_left);
        if limit.is_zero() {
            return Err(self.violate(Violation::HostTimeout(what)));
        }
        let started = Instant::now();
        let ticks_before = crate::engine::ticks();
        let out = self
            .plugin
            .runtime
            .block_on(async { tokio::time::timeout(limit, fut).await });
        self.host_ticks += crate::engine::ticks().saturating_sub(ticks_before);
        self.host_time_left = self.host_time_left.saturating_sub(started.elapsed());
        match out {
            Ok(r) => Ok(r),
            Err(_) => Err(self.violate(Violation::HostTimeout(what))),
        }
    }
}
