//! The seam between intake and whatever validates and routes
//! plugin-owned services (the WebAssembly plugin host implements it).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use townhall_domain::FieldError;
use townhall_domain::intake::{Channel, ValidIntake};
use townhall_domain::routing::Routing;
use townhall_domain::service::ServiceDefinition;

/// How a plugin call failed. Each maps to a documented error code that
/// names the plugin fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The guest trapped or panicked.
    Trapped,
    /// It ran past its CPU budget or a host call timed out.
    Timeout,
    /// It tried to grow past its memory limit.
    OutOfMemory,
    /// It returned more data than allowed.
    OutputTooLarge,
    /// It used a capability (host, secret, …) it was not granted.
    CapabilityDenied,
    /// It returned something the host cannot use (e.g. an unknown department).
    BadOutput,
    /// It is disabled (by an administrator or after repeated faults).
    Disabled,
    /// It is not installed, or could not be instantiated.
    Unavailable,
}

impl FaultKind {
    pub fn code(self) -> &'static str {
        match self {
            FaultKind::Trapped => "PLUGIN_TRAPPED",
            FaultKind::Timeout => "PLUGIN_TIMEOUT",
            FaultKind::OutOfMemory => "PLUGIN_OUT_OF_MEMORY",
            FaultKind::OutputTooLarge => "PLUGIN_OUTPUT_TOO_LARGE",
            FaultKind::CapabilityDenied => "PLUGIN_CAPABILITY_DENIED",
            FaultKind::BadOutput => "PLUGIN_BAD_OUTPUT",
            FaultKind::Disabled => "PLUGIN_DISABLED",
            FaultKind::Unavailable => "PLUGIN_UNAVAILABLE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("plugin `{plugin_id}` failed ({}): {message}", kind.code())]
pub struct PluginFault {
    pub plugin_id: String,
    pub kind: FaultKind,
    /// Safe to show to the submitter: says what failed, never guest data.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteError {
    /// The plugin's `validate` refused the intake.
    Rejected(Vec<FieldError>),
    /// The plugin failed.
    Fault(PluginFault),
}

/// Validates and routes intakes of services owned by plugins.
#[async_trait]
pub trait Router: Send + Sync {
    /// Runs the owning plugin's `validate` then `route`. `defaults` is the
    /// catalog's routing; the result replaces it.
    async fn check_and_route(
        &self,
        service: &ServiceDefinition,
        intake: &ValidIntake,
        channel: Channel,
        defaults: Routing,
    ) -> Result<Routing, RouteError>;
}
