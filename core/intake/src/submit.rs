//! Submitting a request: validate → route → commit → outbox.

use std::sync::Arc;

use serde_json::json;
use townhall_domain::intake::{self, Channel, IntakeInput};
use townhall_domain::routing::Routing;
use townhall_domain::service::ServiceDefinition;
use townhall_domain::{DomainError, EventKind, Status};
use townhall_store::{Actor, NewEvent, NewRequest, RequestRecord, StoreError};

use crate::Intake;
use crate::error::IntakeError;
use crate::events::{self, RequestEvent};
use crate::router::{FaultKind, PluginFault, RouteError};

/// A committed submission.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub request: RequestRecord,
    pub service: Arc<ServiceDefinition>,
}

impl Intake {
    /// The consumers that get outbox rows for changes to requests of `service`.
    pub(crate) fn consumers_for(&self, service: &ServiceDefinition) -> Vec<String> {
        let mut c = self.consumers.clone();
        if let Some(p) = &service.plugin_id {
            c.push(format!("plugin:{p}"));
        }
        c
    }

    async fn route(
        &self,
        service: &ServiceDefinition,
        valid: &intake::ValidIntake,
        channel: Channel,
    ) -> Result<Routing, IntakeError> {
        let defaults = Routing::defaults(service);
        let Some(plugin_id) = &service.plugin_id else {
            return Ok(defaults);
        };
        let Some(router) = &self.router else {
            return Err(PluginFault {
                plugin_id: plugin_id.clone(),
                kind: FaultKind::Unavailable,
                message: "the plugin host is not running on this server".into(),
            }
            .into());
        };
        let routing = match router.check_and_route(service, valid, channel, defaults.clone()).await {
            Ok(r) => r,
            Err(RouteError::Rejected(errors)) => return Err(DomainError::Invalid(errors).into()),
            Err(RouteError::Fault(f)) => return Err(f.into()),
        };
        if let Some(dept) = &routing.department_id
            && routing.department_id != defaults.department_id
        {
            match self.store.department(&service.jurisdiction_id, dept).await {
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => {
                    return Err(PluginFault {
                        plugin_id: plugin_id.clone(),
                        kind: FaultKind::BadOutput,
                        message: format!("it routed to department `{dept}`, which does not exist"),
                    }
                    .into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(routing)
    }

    /// Validates, routes and commits a submission from any channel.
    pub async fn submit(
        &self,
        jurisdiction: Option<&str>,
        input: IntakeInput,
        channel: Channel,
        actor: Actor,
    ) -> Result<Submitted, IntakeError> {
        self.activity.touch();
        let result = self.submit_inner(jurisdiction, input, channel, actor).await;
        let outcome = match &result {
            Ok(_) => "accepted",
            Err(IntakeError::Plugin(_)) => "plugin_fault",
            Err(IntakeError::Invalid(_) | IntakeError::UnknownService(_)) => "rejected",
            Err(_) => "error",
        };
        metrics::counter!("townhall_intake_total", "channel" => channel.as_str(), "outcome" => outcome).increment(1);
        result
    }

    async fn submit_inner(
        &self,
        jurisdiction: Option<&str>,
        input: IntakeInput,
        channel: Channel,
        actor: Actor,
    ) -> Result<Submitted, IntakeError> {
        let started = std::time::Instant::now();
        let jur = self.catalog.jurisdiction(jurisdiction).await?;
        let code = input.service_code.trim();
        if code.is_empty() {
            return Err(
                DomainError::field("service_code", "SERVICE_CODE_REQUIRED", "`service_code` is required").into(),
            );
        }
        let service = self.catalog.service(&jur.id, code).await?;
        let valid = intake::validate(&input, &service, jur.bounds.as_ref())?;
        let routing = self.route(&service, &valid, channel).await?;
        let routed = std::time::Instant::now();
        metrics::histogram!("townhall_intake_stage_seconds", "stage" => "validate_route")
            .record(routed.duration_since(started).as_secs_f64());

        let now = self.clock.now();
        let calendar = jur.calendar();
        let expected_at = Some(calendar.due(now, routing.sla));
        let mut created = NewEvent::new(EventKind::Created, actor);
        created.to_status = Some(Status::Open);
        created.data = Some(json!({
            "channel": channel.as_str(),
            "department": routing.department_id,
            "priority": routing.priority.as_str(),
            "queue": routing.queue,
            "sla": { "amount": routing.sla.amount, "unit": routing.sla.unit.as_str() },
        }));
        let id = townhall_domain::ids::id_at(now, now);
        let payload = RequestEvent::new(id, &service.code, Status::Open.as_str(), std::slice::from_ref(&created));
        let new = NewRequest {
            id,
            jurisdiction_id: jur.id.clone(),
            tracking_year: calendar.local_year(now),
            intake: valid,
            status: Status::Open,
            priority: routing.priority,
            department_code: routing.department_id.clone(),
            queue: routing.queue.clone(),
            requested_at: now,
            expected_at,
            channel,
            public: service.public,
        };
        let outbox = events::fan_out(
            &self.consumers_for(&service),
            events::topic::CREATED,
            &payload.to_json(),
        );
        let has_outbox = !outbox.is_empty();
        let (request, _) = self.store.submit(new, created, outbox, now).await?;
        metrics::histogram!("townhall_intake_stage_seconds", "stage" => "commit")
            .record(routed.elapsed().as_secs_f64());
        if has_outbox {
            self.wake.notify_one();
        }
        tracing::info!(
            request_id = %request.id,
            tracking_number = %request.tracking_number,
            service = %request.service_code,
            channel = channel.as_str(),
            "request submitted"
        );
        Ok(Submitted { request, service })
    }
}
