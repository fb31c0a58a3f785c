//! The guest side of `townhall:plugin@0.1.0`: the wit-bindgen bindings, the
//! host calls behind [`crate::host`], and the conversions the
//! [`crate::export_department!`] glue uses. Compiled only for wasm32.
//!
//! **Must never:** be needed by a plugin author directly; everything here
//! is reached through the SDK's plain types and the export macro.

#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code)]

pub use wit_bindgen;

pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/v0.1.0",
        world: "department-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_department_plugin",
        default_bindings_module: "townhall_sdk::__private::bindings",
        runtime_path: "townhall_sdk::__private::wit_bindgen::rt",
    });
}

use bindings::exports::townhall::plugin::department as d;
use bindings::townhall::plugin::{
    clock as wclock, config as wconfig, http as whttp, kv as wkv, log as wlog, types as t,
};

pub use d::Guest as DepartmentGuest;

use crate::Department;
use crate::host::{HttpError, HttpRequest, HttpResponse, KvError, Level};
use crate::types::*;

pub(crate) mod backend {
    use super::*;

    pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        let level = match level {
            Level::Trace => wlog::Level::Trace,
            Level::Debug => wlog::Level::Debug,
            Level::Info => wlog::Level::Info,
            Level::Warn => wlog::Level::Warn,
            Level::Error => wlog::Level::Error,
        };
        let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        wlog::log(level, message, &fields);
    }

    pub fn now_millis() -> i64 {
        wclock::now()
    }

    pub fn config() -> String {
        wconfig::get_config()
    }

    pub fn secret(name: &str) -> Option<String> {
        wconfig::get_secret(name)
    }

    fn kv_err(e: wkv::KvError) -> KvError {
        match e {
            wkv::KvError::Denied => KvError::Denied,
            wkv::KvError::ReadOnly => KvError::ReadOnly,
            wkv::KvError::TooLarge => KvError::TooLarge,
            wkv::KvError::Unavailable(m) => KvError::Unavailable(m),
        }
    }

    pub fn kv_get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        wkv::get(key).map_err(kv_err)
    }

    pub fn kv_set(key: &str, value: &[u8]) -> Result<(), KvError> {
        wkv::set(key, value).map_err(kv_err)
    }

    pub fn kv_delete(key: &str) -> Result<(), KvError> {
        wkv::delete(key).map_err(kv_err)
    }

    pub fn kv_list(prefix: &str) -> Result<Vec<String>, KvError> {
        wkv::list_keys(prefix).map_err(kv_err)
    }

    pub fn fetch(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let req = whttp::Request {
            method: request.method.clone(),
            url: request.url.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
        };
        match whttp::fetch(&req) {
            Ok(r) => Ok(HttpResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(e) => Err(match e {
                whttp::HttpError::Denied(h) => HttpError::Denied(h),
                whttp::HttpError::InvalidRequest(m) => HttpError::InvalidRequest(m),
                whttp::HttpError::Timeout => HttpError::Timeout,
                whttp::HttpError::TooLarge => HttpError::TooLarge,
                whttp::HttpError::Failed(m) => HttpError::Failed(m),
            }),
        }
    }
}

fn priority_out(p: Priority) -> t::Priority {
    match p {
        Priority::Low => t::Priority::Low,
        Priority::Medium => t::Priority::Medium,
        Priority::High => t::Priority::High,
        Priority::Critical => t::Priority::Critical,
    }
}

fn priority_in(p: t::Priority) -> Priority {
    match p {
        t::Priority::Low => Priority::Low,
        t::Priority::Medium => Priority::Medium,
        t::Priority::High => Priority::High,
        t::Priority::Critical => Priority::Critical,
    }
}

fn sla_out(s: Sla) -> t::Sla {
    match s {
        Sla::Hours(h) => t::Sla::Hours(h),
        Sla::BusinessDays(d) => t::Sla::BusinessDays(d),
    }
}

fn sla_in(s: t::Sla) -> Sla {
    match s {
        t::Sla::Hours(h) => Sla::Hours(h),
        t::Sla::BusinessDays(d) => Sla::BusinessDays(d),
    }
}

fn datatype_out(d: Datatype) -> t::Datatype {
    match d {
        Datatype::String => t::Datatype::String,
        Datatype::Number => t::Datatype::Number,
        Datatype::Datetime => t::Datatype::Datetime,
        Datatype::Text => t::Datatype::Text,
        Datatype::Singlevaluelist => t::Datatype::Singlevaluelist,
        Datatype::Multivaluelist => t::Datatype::Multivaluelist,
    }
}

fn service_out(s: Service) -> t::Service {
    t::Service {
        code: s.code,
        name: s.name,
        description: s.description,
        group: s.group,
        keywords: s.keywords,
        attributes: s
            .attributes
            .into_iter()
            .map(|a| t::Attribute {
                code: a.code,
                variable: a.variable,
                datatype: datatype_out(a.datatype),
                required: a.required,
                datatype_description: a.datatype_description,
                order: a.order,
                description: a.description,
                values: a
                    .values
                    .into_iter()
                    .map(|v| t::AttributeValue {
                        key: v.key,
                        name: v.name,
                    })
                    .collect(),
            })
            .collect(),
        department: s.department,
        default_priority: priority_out(s.default_priority),
        sla: sla_out(s.sla),
        public: s.public,
        address_sensitive: s.address_sensitive,
        anonymous_allowed: s.anonymous_allowed,
    }
}

fn location_in(l: Option<t::Location>) -> Option<Location> {
    l.map(|l| Location {
        lat: l.lat,
        long: l.long,
    })
}

fn intake_in(i: t::Intake) -> Intake {
    Intake {
        service_code: i.service_code,
        description: i.description,
        location: location_in(i.location),
        address: i.address,
        zipcode: i.zipcode,
        answers: i
            .answers
            .into_iter()
            .map(|a| Answer {
                code: a.code,
                values: a.values,
            })
            .collect(),
        media_url: i.media_url,
        channel: i.channel,
    }
}

fn routing_in(r: t::Routing) -> Routing {
    Routing {
        department: r.department,
        priority: priority_in(r.priority),
        queue: r.queue,
        sla: sla_in(r.sla),
    }
}

fn routing_out(r: Routing) -> t::Routing {
    t::Routing {
        department: r.department,
        priority: priority_out(r.priority),
        queue: r.queue,
        sla: sla_out(r.sla),
    }
}

fn event_in(e: d::Event) -> Event {
    Event {
        topic: e.topic,
        request_id: e.request_id,
        tracking_number: e.tracking_number,
        service_code: e.service_code,
        status: e.status,
        priority: priority_in(e.priority),
        department: e.department,
        queue: e.queue,
        location: location_in(e.location),
        changes: e
            .changes
            .into_iter()
            .map(|c| Change {
                kind: c.kind,
                from_status: c.from_status,
                to_status: c.to_status,
                public_note: c.public_note,
            })
            .collect(),
        by_self: e.by_self,
        occurred_at: e.occurred_at,
    }
}

fn action_out(a: Action) -> d::Action {
    match a {
        Action::SetStatus(s) => d::Action::SetStatus(d::StatusChange {
            status: s.status,
            public_note: s.public_note,
            internal_note: s.internal_note,
        }),
        Action::AddNote(n) => d::Action::AddNote(d::Note {
            body: n.body,
            public: n.public,
        }),
        Action::AssignQueue(q) => d::Action::AssignQueue(q),
        Action::Notify(n) => d::Action::Notify(d::Notification {
            recipient: n.recipient,
            subject: n.subject,
            body: n.body,
        }),
        Action::Invoke(c) => d::Action::Invoke(d::CapabilityCall {
            capability: c.capability,
            payload: c.payload,
        }),
    }
}

pub fn manifest<P: Department>() -> d::DepartmentManifest {
    let m = P::manifest();
    d::DepartmentManifest {
        id: m.id,
        name: m.name,
        version: m.version,
        description: m.description,
        services: m.services.into_iter().map(service_out).collect(),
        workflow: m.workflow,
        capabilities: m.capabilities,
    }
}

pub fn validate<P: Department>(intake: t::Intake) -> Result<(), Vec<t::FieldError>> {
    P::validate(&intake_in(intake)).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| t::FieldError {
                field: e.field,
                code: e.code,
                message: e.message,
            })
            .collect()
    })
}

pub fn route<P: Department>(intake: t::Intake, defaults: t::Routing) -> t::Routing {
    routing_out(P::route(&intake_in(intake), routing_in(defaults)))
}

pub fn on_event<P: Department>(event: d::Event) -> Vec<d::Action> {
    P::on_event(&event_in(event)).into_iter().map(action_out).collect()
}

pub type WitManifest = d::DepartmentManifest;
pub type WitIntake = t::Intake;
pub type WitRouting = t::Routing;
pub type WitFieldError = t::FieldError;
pub type WitEvent = d::Event;
pub type WitAction = d::Action;
