//! Calling into a loaded plugin: a fresh store and instance per call from
//! the pre-instantiated component, bounded by the install's limits, with
//! every way a call can fail turned into a [`PluginFault`].
//!
//! These functions block: callers run them on `spawn_blocking` threads.
//!
//! **Must never:** reuse an instance across calls (one resident's intake
//! must not be visible to the next call); let a guest error escape as
//! anything but a `PluginFault`; put guest-controlled text in the fault's
//! client-facing message.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use townhall_domain::clock::Clock;
use townhall_intake::{FaultKind, PluginFault};
use townhall_store::{Secrets, Store};
use wasmtime::component::ResourceTable;
use wasmtime::{Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::bindings::v0_1_0::exports::townhall::plugin::department as d;
use crate::bindings::v0_1_0::townhall::plugin::types as t;
use crate::bindings::v0_1_0::{DepartmentPlugin, DepartmentPluginPre};
use crate::engine;
use crate::limits::Limits;
use crate::state::{CallState, Hook, Limiter, Violation};

/// What a call into one install can reach.
pub struct PluginCtx {
    pub jurisdiction_id: String,
    pub plugin_id: String,
    pub grants: Vec<String>,
    pub config_json: String,
    pub secrets: Secrets,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
    pub store: Store,
    pub runtime: tokio::runtime::Handle,
    pub http: reqwest::Client,
}

/// The server's clock as WASI's wall clock.
struct WallClock(Arc<dyn Clock>);

impl wasmtime_wasi::HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        let ms = self.0.now().timestamp_millis();
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }
}

/// A failure with an admin-only detail (trap text, guest stderr) beside
/// the client-safe fault.
#[derive(Debug, Clone)]
pub struct CallFault {
    pub fault: PluginFault,
    pub detail: String,
}

fn fault(ctx: &PluginCtx, kind: FaultKind, message: impl Into<String>) -> CallFault {
    let message = message.into();
    CallFault {
        fault: PluginFault {
            plugin_id: ctx.plugin_id.clone(),
            kind,
            message: message.clone(),
        },
        detail: message,
    }
}

fn new_store(pre: &DepartmentPluginPre<CallState>, ctx: &Arc<PluginCtx>, hook: Hook) -> wasmtime::Store<CallState> {
    let socket_attempt = Arc::new(AtomicBool::new(false));
    let flag = socket_attempt.clone();
    let stderr = MemoryOutputPipe::new(4096);
    let mut wasi = WasiCtxBuilder::new();
    wasi.stderr(stderr.clone())
        .wall_clock(WallClock(ctx.clock.clone()))
        .allow_ip_name_lookup(false)
        .socket_addr_check(move |_, _| {
            flag.store(true, Ordering::Relaxed);
            Box::pin(async { false })
        });
    let state = CallState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        limiter: Limiter {
            max_memory: usize::try_from(ctx.limits.memory_bytes).unwrap_or(usize::MAX),
            out_of_memory: false,
        },
        plugin: ctx.clone(),
        hook,
        violation: None,
        socket_attempt,
        stderr,
        host_ticks: 0,
        host_time_left: Duration::from_millis(ctx.limits.host_call_timeout_ms),
        log_lines: 0,
    };
    let mut store = wasmtime::Store::new(pre.engine(), state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(engine::ticks_for_ms(ctx.limits.cpu_ms));
    store.epoch_deadline_callback(|mut cx| {
        let credit = std::mem::take(&mut cx.data_mut().host_ticks);
        if credit > 0 {
            Ok(UpdateDeadline::Continue(credit))
        } else {
            Err(Trap::Interrupt.into())
        }
    });
    store
}

/// Turns a failed call into a fault, most specific cause first.
fn classify(ctx: &PluginCtx, state: &CallState, err: &wasmtime::Error) -> CallFault {
    let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
    let detail = if stderr.trim().is_empty() {
        format!("{err:#}")
    } else {
        format!("{err:#}; guest stderr: {}", stderr.trim())
    };
    let (kind, message) = if let Some(v) = &state.violation {
        match v {
            Violation::Denied(cap) => (
                FaultKind::CapabilityDenied,
                format!("it used `{cap}`, which was not granted"),
            ),
            Violation::HostTimeout(what) => (
                FaultKind::Timeout,
                format!("a host call ({what}) ran past {} ms", ctx.limits.host_call_timeout_ms),
            ),
        }
    } else if state.socket_attempted() {
        (
            FaultKind::CapabilityDenied,
            "it tried to open a network socket".to_owned(),
        )
    } else if state.limiter.out_of_memory {
        (
            FaultKind::OutOfMemory,
            format!(
                "it tried to use more than {} MiB of memory",
                ctx.limits.memory_bytes / (1024 * 1024)
            ),
        )
    } else {
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => (
                FaultKind::Timeout,
                format!("it ran past its CPU budget of {} ms", ctx.limits.cpu_ms),
            ),
            Some(Trap::StackOverflow) => (FaultKind::Trapped, "it overflowed its stack".to_owned()),
            Some(Trap::UnreachableCodeReached) => (FaultKind::Trapped, "it panicked or aborted".to_owned()),
            Some(trap) => (FaultKind::Trapped, format!("it trapped: {trap}")),
            None => (FaultKind::Trapped, "it failed".to_owned()),
        }
    };
    let mut f = fault(ctx, kind, message);
    f.detail = detail;
    f
}

/// A call that did not trap still fails if it broke a rule on the way
/// (e.g. tried a socket and carried on after the error).
fn after_success(ctx: &PluginCtx, state: &CallState) -> Result<(), CallFault> {
    if state.socket_attempted() {
        return Err(fault(
            ctx,
            FaultKind::CapabilityDenied,
            "it tried to open a network socket",
        ));
    }
    if let Some(v) = &state.violation {
        let kind = match v {
            Violation::Denied(_) => FaultKind::CapabilityDenied,
            Violation::HostTimeout(_) => FaultKind::Timeout,
        };
        return Err(fault(ctx, kind, v.to_string()));
    }
    Ok(())
}

pub(crate) fn instantiate(
    pre: &DepartmentPluginPre<CallState>,
    ctx: &Arc<PluginCtx>,
    hook: Hook,
) -> Result<(wasmtime::Store<CallState>, DepartmentPlugin), CallFault> {
    let mut store = new_store(pre, ctx, hook);
    match pre.instantiate(&mut store) {
        Ok(i) => Ok((store, i)),
        Err(e) => {
            let mut f = classify(ctx, store.data(), &e);
            if f.fault.kind == FaultKind::Trapped {
                f.fault.kind = FaultKind::Unavailable;
                f.fault.message = "it could not be started".to_owned();
            }
            Err(f)
        }
    }
}

fn check_size(ctx: &PluginCtx, size: usize, cap: u64) -> Result<(), CallFault> {
    if u64::try_from(size).unwrap_or(u64::MAX) > cap {
        return Err(fault(
            ctx,
            FaultKind::OutputTooLarge,
            format!("it returned {size} bytes; the limit is {cap}"),
        ));
    }
    Ok(())
}

fn opt(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

pub fn routing_size(r: &t::Routing) -> usize {
    16 + opt(&r.department) + opt(&r.queue)
}

fn errors_size(e: &[t::FieldError]) -> usize {
    e.iter()
        .map(|e| 8 + e.field.len() + e.code.len() + e.message.len())
        .sum()
}

fn actions_size(a: &[d::Action]) -> usize {
    a.iter()
        .map(|a| {
            8 + match a {
                d::Action::SetStatus(s) => s.status.len() + opt(&s.public_note) + opt(&s.internal_note),
                d::Action::AddNote(n) => n.body.len(),
                d::Action::AssignQueue(q) => opt(q),
                d::Action::Notify(n) => n.recipient.len() + n.subject.len() + n.body.len(),
                d::Action::Invoke(c) => c.capability.len() + c.payload.len(),
            }
        })
        .sum()
}

fn manifest_size(m: &d::DepartmentManifest) -> usize {
    let services: usize = m
        .services
        .iter()
        .map(|s| {
            s.code.len()
                + s.name.len()
                + s.description.len()
                + opt(&s.group)
                + s.keywords.iter().map(String::len).sum::<usize>()
                + s.department.len()
                + s.attributes
                    .iter()
                    .map(|a| {
                        a.code.len()
                            + a.description.len()
                            + opt(&a.datatype_description)
                            + a.values.iter().map(|v| v.key.len() + v.name.len()).sum::<usize>()
                    })
                    .sum::<usize>()
        })
        .sum();
    m.id.len()
        + m.name.len()
        + m.version.len()
        + m.description.len()
        + services
        + m.workflow.iter().map(String::len).sum::<usize>()
        + m.capabilities.iter().map(String::len).sum::<usize>()
}

/// What validate+route decided.
#[derive(Debug, Clone)]
pub enum Decision {
    Rejected(Vec<t::FieldError>),
    Routed(t::Routing),
}

/// Runs `validate` then (if it passed) `route` on one fresh instance.
pub fn validate_and_route(
    pre: &DepartmentPluginPre<CallState>,
    ctx: &Arc<PluginCtx>,
    intake: &t::Intake,
    defaults: &t::Routing,
) -> Result<Decision, CallFault> {
    let (mut store, instance) = instantiate(pre, ctx, Hook::Validate)?;
    let guest = instance.townhall_plugin_department();
    let verdict = match guest.call_validate(&mut store, intake) {
        Ok(v) => v,
        Err(e) => return Err(classify(ctx, store.data(), &e)),
    };
    after_success(ctx, store.data())?;
    if let Err(errors) = verdict {
        check_size(ctx, errors_size(&errors), ctx.limits.output_bytes)?;
        return Ok(Decision::Rejected(errors));
    }
    store.data_mut().hook = Hook::Route;
    let routing = match guest.call_route(&mut store, intake, defaults) {
        Ok(r) => r,
        Err(e) => return Err(classify(ctx, store.data(), &e)),
    };
    after_success(ctx, store.data())?;
    check_size(ctx, routing_size(&routing), ctx.limits.output_bytes)?;
    Ok(Decision::Routed(routing))
}

/// Runs `on-event` on a fresh instance.
pub fn on_event(
    pre: &DepartmentPluginPre<CallState>,
    ctx: &Arc<PluginCtx>,
    event: &d::Event,
) -> Result<Vec<d::Action>, CallFault> {
    let (mut store, instance) = instantiate(pre, ctx, Hook::OnEvent)?;
    let actions = match instance.townhall_plugin_department().call_on_event(&mut store, event) {
        Ok(a) => a,
        Err(e) => return Err(classify(ctx, store.data(), &e)),
    };
    after_success(ctx, store.data())?;
    check_size(ctx, actions_size(&actions), ctx.limits.output_bytes)?;
    Ok(actions)
}

/// Runs `manifest` on a fresh instance (the manifest may be up to 1 MiB).
pub fn manifest(
    pre: &DepartmentPluginPre<CallState>,
    ctx: &Arc<PluginCtx>,
) -> Result<d::DepartmentManifest, CallFault> {
    let (mut store, instance) = instantiate(pre, ctx, Hook::Manifest)?;
    let m = match instance.townhall_plugin_department().call_manifest(&mut store) {
        Ok(m) => m,
        Err(e) => return Err(classify(ctx, store.data(), &e)),
    };
    after_success(ctx, store.data())?;
    check_size(ctx, manifest_size(&m), ctx.limits.output_bytes.max(1024 * 1024))?;
    Ok(m)
}
