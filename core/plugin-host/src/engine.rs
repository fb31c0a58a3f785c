//! The one wasmtime [`Engine`] of a process: pooling allocator, epoch
//! interruption driven by a ticker thread, and compiled components cached
//! on disk keyed by the engine's compatibility hash, so a restart does not
//! recompile.
//!
//! **Must never:** load a cached artifact from outside the host's own
//! cache folder, or from a folder written by an incompatible engine.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::HostConfig;
use crate::state::CallState;

/// One epoch tick.
pub const TICK: Duration = Duration::from_millis(2);

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Epoch ticks since the first engine of this process started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Bytes of each linear memory slot reset in place instead of released.
pub const KEEP_RESIDENT: usize = 1024 * 1024;

/// Epoch ticks covering `ms` milliseconds of CPU time.
pub fn ticks_for_ms(ms: u64) -> u64 {
    let tick_ms = u64::try_from(TICK.as_millis()).unwrap_or(1).max(1);
    ms.div_ceil(tick_ms).max(1)
}

/// Builds the engine and starts its epoch ticker (a thread that lives as
/// long as the process; it holds only a weak handle's worth of work).
pub fn build(config: &HostConfig) -> wasmtime::Result<Engine> {
    let mut cfg = Config::new();
    cfg.wasm_component_model(true);
    cfg.epoch_interruption(true);
    cfg.max_wasm_stack(512 * 1024);
    let n = config.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(8))
        .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_core_instances_per_component(16);
    // A call's instance is gone microseconds after it starts, and the next
    // one reuses its slot. Handing the slot's pages back to the kernel
    // (madvise) costs a page fault and a TLB shootdown per page on the next
    // call; where the kernel can list the pages a call dirtied
    // (PAGEMAP_SCAN, Linux 6.7+), those are reset in place instead and stay
    // resident (at most KEEP_RESIDENT per warm slot). Elsewhere the
    // releases are batched.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 * 1024)
            .pagemap_scan(wasmtime::Enabled::Yes);
    } else {
        pool.decommit_batch_size(32);
    }
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // For profiling plugins with `perf`: guest functions appear by name.
    if std::env::var_os("TOWNHALL_WASM_PERFMAP").is_some() {
        cfg.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&cfg)?;
    start_ticker(&engine);
    Ok(engine)
}

fn start_ticker(engine: &Engine) {
    static ENGINES: OnceLock<std::sync::Mutex<Vec<wasmtime::EngineWeak>>> = OnceLock::new();
    let list = ENGINES.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("townhall-plugin-epoch".to_owned())
            .spawn(|| {
                loop {
                    std::thread::sleep(TICK);
                    TICKS.fetch_add(1, Ordering::Relaxed);
                    if let Some(list) = ENGINES.get()
                        && let Ok(mut engines) = list.lock()
                    {
                        engines.retain(|w| match w.upgrade() {
                            Some(e) => {
                                e.increment_epoch();
                                true
                            }
                            None => false,
                        });
                    }
                }
            });
        std::sync::Mutex::new(Vec::new())
    });
    if let Ok(mut engines) = list.lock() {
        engines.push(engine.weak());
    }
}

/// The linker every plugin is instantiated with: WASI with an empty
/// context (see [`crate::state`]) plus the Townhall host capabilities.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    crate::bindings::v0_1_0::DepartmentPlugin::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(
        &mut linker,
        |s| s,
    )?;
    Ok(linker)
}

/// The cache folder for this engine's artifacts.
pub fn cache_dir(root: &Path, engine: &Engine) -> PathBuf {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    root.join(format!("wasmtime-48-{:016x}", h.finish()))
}

/// Compiles `bytes` (sha256 `sha256`), or loads the artifact cached by an
/// earlier run.
pub fn load_component(
    engine: &Engine,
    cache: Option<&Path>,
    sha256: &str,
    bytes: &[u8],
) -> wasmtime::Result<Component> {
    let path = cache.map(|c| c.join(format!("{sha256}.cwasm")));
    if let Some(p) = &path
        && p.is_file()
    {
        match deserialize(engine, p) {
            Ok(c) => return Ok(c),
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "ignoring unusable cached plugin artifact")
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let (Some(p), Some(dir)) = (&path, cache) {
        let written = std::fs::create_dir_all(dir).and_then(|()| {
            let tmp = dir.join(format!("{sha256}.{}.tmp", uuid::Uuid::now_v7().simple()));
            let artifact = component.serialize().map_err(std::io::Error::other)?;
            std::fs::write(&tmp, artifact)?;
            std::fs::rename(&tmp, p)
        });
        if let Err(e) = written {
            tracing::warn!(path = %p.display(), error = %e, "could not cache compiled plugin");
        }
    }
    Ok(component)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    if Engine::detect_precompiled_file(path)?.is_none() {
        wasmtime::bail!("not a precompiled artifact");
    }
    // SAFETY: the file lives in the host's own cache folder, named after the
    // sha256 of the component it was compiled from, inside a folder named
    // after this engine's compatibility hash; only this host writes there
    // (write to a temporary name, then rename), and wasmtime checks the
    // artifact's header against the engine before using it.
    unsafe { Component::deserialize_file(engine, path) }
}
