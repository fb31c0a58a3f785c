//! Where a request goes and how urgent it is.

use serde::{Deserialize, Serialize};

use crate::priority::Priority;
use crate::service::ServiceDefinition;
use crate::sla::SlaTarget;

/// The routing decision for one intake: made from the service's defaults,
/// possibly refined by the owning plugin's `route`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Routing {
    pub department_id: Option<String>,
    pub priority: Priority,
    /// A work queue or crew within the department, if the router chose one.
    pub queue: Option<String>,
    pub sla: SlaTarget,
}

impl Routing {
    /// The catalog's defaults for a service.
    pub fn defaults(service: &ServiceDefinition) -> Self {
        Self {
            department_id: service.department_id.clone(),
            priority: service.default_priority,
            queue: None,
            sla: service.sla,
        }
    }
}
