//! Rows to records. A row that does not decode is reported as
//! [`StoreError::Corrupt`], never silently patched up.

use townhall_domain::intake::BoundingBox;
use townhall_domain::service::{AttributeDef, ServiceDefinition};
use townhall_domain::sla::{SlaTarget, SlaUnit};
use townhall_domain::{EventKind, Priority, Status};

use crate::entities::{contact, department, event, jurisdiction, request, service};
use crate::error::{Result, StoreError};
use crate::records::*;

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

pub fn jurisdiction(m: jurisdiction::Model) -> Result<Jurisdiction> {
    let timezone = m
        .timezone
        .parse::<chrono_tz::Tz>()
        .map_err(|e| corrupt("jurisdictions.timezone", e))?;
    let bounds: Option<BoundingBox> = match m.bounds {
        None | Some(serde_json::Value::Null) => None,
        Some(b) => Some(serde_json::from_value(b).map_err(|e| corrupt("jurisdictions.bounds", e))?),
    };
    let holidays = serde_json::from_value(m.holidays).map_err(|e| corrupt("jurisdictions.holidays", e))?;
    Ok(Jurisdiction {
        id: m.id,
        name: m.name,
        timezone,
        bounds,
        holidays,
        is_default: m.is_default,
    })
}

pub fn department(m: department::Model) -> Department {
    Department {
        jurisdiction_id: m.jurisdiction_id,
        code: m.code,
        name: m.name,
        description: m.description,
        email: m.email,
    }
}

pub fn service(m: service::Model) -> Result<ServiceDefinition> {
    let keywords: Vec<String> =
        serde_json::from_value(m.keywords).map_err(|e| corrupt("service_definitions.keywords", e))?;
    let attributes: Vec<AttributeDef> =
        serde_json::from_value(m.attributes).map_err(|e| corrupt("service_definitions.attributes", e))?;
    let unit: SlaUnit = m
        .sla_unit
        .parse()
        .map_err(|e| corrupt("service_definitions.sla_unit", e))?;
    Ok(ServiceDefinition {
        jurisdiction_id: m.jurisdiction_id,
        code: m.code,
        name: m.name,
        description: m.description,
        group: m.group_name,
        keywords,
        attributes,
        default_priority: m
            .default_priority
            .parse::<Priority>()
            .map_err(|e| corrupt("service_definitions.default_priority", e))?,
        sla: SlaTarget {
            amount: u32::try_from(m.sla_amount).map_err(|e| corrupt("service_definitions.sla_amount", e))?,
            unit,
        },
        department_id: m.department_code,
        plugin_id: m.plugin_id,
        active: m.active,
        public: m.public,
        address_sensitive: m.address_sensitive,
        anonymous_allowed: m.anonymous_allowed,
        answers_with_token: m.answers_with_token,
    })
}

pub fn request(m: request::Model) -> Result<RequestRecord> {
    Ok(RequestRecord {
        id: m.id,
        jurisdiction_id: m.jurisdiction_id,
        tracking_number: m.tracking_number,
        service_code: m.service_code,
        description: m.description,
        status: m
            .status
            .parse::<Status>()
            .map_err(|e| corrupt("service_requests.status", e))?,
        priority: m
            .priority
            .parse::<Priority>()
            .map_err(|e| corrupt("service_requests.priority", e))?,
        lat: m.lat,
        long: m.long,
        address: m.address,
        address_id: m.address_id,
        zipcode: m.zipcode,
        department_code: m.department_code,
        queue: m.queue,
        assignee_id: m.assignee_id,
        requested_at: m.requested_at,
        updated_at: m.updated_at,
        expected_at: m.expected_at,
        closed_at: m.closed_at,
        channel: m.channel.parse().map_err(|e| corrupt("service_requests.channel", e))?,
        reporter_id: m.reporter_id,
        attributes: m.attributes,
        media_url: m.media_url,
        device_id: m.device_id,
        merged_into: m.merged_into,
        public: m.public,
        version: m.version,
    })
}

fn status_opt(s: Option<String>, col: &str) -> Result<Option<Status>> {
    s.map(|s| s.parse::<Status>().map_err(|e| corrupt(col, e))).transpose()
}

pub fn event(m: event::Model) -> Result<EventRecord> {
    Ok(EventRecord {
        id: m.id,
        request_id: m.request_id,
        kind: m
            .kind
            .parse::<EventKind>()
            .map_err(|e| corrupt("request_events.kind", e))?,
        actor: Actor {
            kind: ActorKind::parse(&m.actor_type).ok_or_else(|| corrupt("request_events.actor_type", &m.actor_type))?,
            id: m.actor_id,
        },
        from_status: status_opt(m.from_status, "request_events.from_status")?,
        to_status: status_opt(m.to_status, "request_events.to_status")?,
        body: m.body,
        data: m.data,
        public: m.public,
        created_at: m.created_at,
    })
}

pub fn contact(m: contact::Model) -> Contact {
    Contact {
        id: m.id,
        user_id: m.user_id,
        first_name: m.first_name,
        last_name: m.last_name,
        email: m.email,
        phone: m.phone,
        anonymized: m.anonymized_at.is_some(),
    }
}
