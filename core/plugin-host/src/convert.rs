//! Between Townhall's domain types and the WIT types of
//! `townhall:plugin@0.1.0`, checking everything that comes back from a
//! plugin.
//!
//! **Must never:** pass the reporter's contact details to a plugin, or
//! accept plugin output without checking its shape.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use townhall_domain::FieldError;
use townhall_domain::intake::ValidIntake;
use townhall_domain::priority::Priority;
use townhall_domain::routing::Routing;
use townhall_domain::service::{AttributeDef, AttributeValueDef, Datatype};
use townhall_domain::sla::{SlaTarget, SlaUnit};

use crate::bindings::v0_1_0::townhall::plugin::types as t;

fn answer_values(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(answer_values).collect(),
        other => vec![other.to_string()],
    }
}

/// The intake as a plugin sees it: no reporter, no device id.
pub fn intake(i: &ValidIntake, channel: &str) -> t::Intake {
    t::Intake {
        service_code: i.service_code.clone(),
        description: i.description.clone(),
        location: match (i.lat, i.long) {
            (Some(lat), Some(long)) => Some(t::Location { lat, long }),
            _ => None,
        },
        address: i.address.clone(),
        zipcode: i.zipcode.clone(),
        answers: i
            .attributes
            .iter()
            .map(|(code, v)| t::Answer {
                code: code.clone(),
                values: answer_values(v),
            })
            .collect(),
        media_url: i.media_url.clone(),
        channel: channel.to_owned(),
    }
}

pub fn priority_out(p: Priority) -> t::Priority {
    match p {
        Priority::Low => t::Priority::Low,
        Priority::Medium => t::Priority::Medium,
        Priority::High => t::Priority::High,
        Priority::Critical => t::Priority::Critical,
    }
}

pub fn priority_in(p: t::Priority) -> Priority {
    match p {
        t::Priority::Low => Priority::Low,
        t::Priority::Medium => Priority::Medium,
        t::Priority::High => Priority::High,
        t::Priority::Critical => Priority::Critical,
    }
}

pub fn sla_out(s: SlaTarget) -> t::Sla {
    match s.unit {
        SlaUnit::Hours => t::Sla::Hours(s.amount),
        SlaUnit::BusinessDays => t::Sla::BusinessDays(s.amount),
    }
}

/// An SLA from a plugin: 1 hour to 10 years.
pub fn sla_in(s: t::Sla) -> Result<SlaTarget, String> {
    let (target, ok) = match s {
        t::Sla::Hours(h) => (SlaTarget::hours(h), (1..=87_600).contains(&h)),
        t::Sla::BusinessDays(d) => (SlaTarget::business_days(d), (1..=2_600).contains(&d)),
    };
    if ok {
        Ok(target)
    } else {
        Err(format!("its SLA `{target}` is out of range"))
    }
}

pub fn routing_out(r: &Routing) -> t::Routing {
    t::Routing {
        department: r.department_id.clone(),
        priority: priority_out(r.priority),
        queue: r.queue.clone(),
        sla: sla_out(r.sla),
    }
}

fn plain(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

/// A routing decision from a plugin, checked. `None` for the department
/// keeps the catalog's.
pub fn routing_in(r: t::Routing, defaults: &Routing) -> Result<Routing, String> {
    let department_id = match r.department {
        None => defaults.department_id.clone(),
        Some(d) if plain(&d, 64) => Some(d),
        Some(_) => return Err("it returned a malformed department code".to_owned()),
    };
    let queue = match r.queue.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()) {
        None => None,
        Some(q) if plain(&q, 100) => Some(q),
        Some(_) => {
            return Err("it returned a malformed queue name (at most 100 plain characters)".to_owned());
        }
    };
    Ok(Routing {
        department_id,
        priority: priority_in(r.priority),
        queue,
        sla: sla_in(r.sla)?,
    })
}

/// Error codes from plugins become `&'static str` like every other field
/// error code. Each distinct code is kept once; a plugin inventing codes
/// without end gets a generic one past the cap.
fn intern(code: &str) -> &'static str {
    const CAP: usize = 10_000;
    static CODES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let well_formed = (1..=64).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        return "PLUGIN_REJECTED";
    }
    let Ok(mut set) = CODES.get_or_init(|| Mutex::new(HashSet::new())).lock() else {
        return "PLUGIN_REJECTED";
    };
    if let Some(c) = set.get(code) {
        return c;
    }
    if set.len() >= CAP {
        return "PLUGIN_REJECTED";
    }
    let leaked: &'static str = Box::leak(code.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control() || *c == '\n').take(max).collect()
}

/// Field errors from a plugin's `validate`. An empty list still rejects.
pub fn field_errors(errors: Vec<t::FieldError>) -> Vec<FieldError> {
    if errors.is_empty() {
        return vec![FieldError::new(
            "",
            "PLUGIN_REJECTED",
            "the service's plugin did not accept this report",
        )];
    }
    errors
        .into_iter()
        .take(50)
        .map(|e| FieldError::new(clip(&e.field, 100), intern(&e.code), clip(&e.message, 1_000)))
        .collect()
}

pub fn datatype_in(d: t::Datatype) -> Datatype {
    match d {
        t::Datatype::String => Datatype::String,
        t::Datatype::Number => Datatype::Number,
        t::Datatype::Datetime => Datatype::Datetime,
        t::Datatype::Text => Datatype::Text,
        t::Datatype::Singlevaluelist => Datatype::Singlevaluelist,
        t::Datatype::Multivaluelist => Datatype::Multivaluelist,
    }
}

pub fn attribute_in(a: t::Attribute) -> AttributeDef {
    AttributeDef {
        code: a.code,
        variable: a.variable,
        datatype: datatype_in(a.datatype),
        required: a.required,
        datatype_description: a.datatype_description,
        order: a.order,
        description: a.description,
        values: a
            .values
            .into_iter()
            .map(|v| AttributeValueDef {
                key: v.key,
                name: v.name,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_error_codes_are_interned_or_replaced() {
        assert_eq!(intern("POTHOLE_TOO_SMALL"), "POTHOLE_TOO_SMALL");
        assert!(std::ptr::eq(intern("SAME_CODE"), intern("SAME_CODE")));
        assert_eq!(intern("lower-case"), "PLUGIN_REJECTED");
        assert_eq!(intern(""), "PLUGIN_REJECTED");
        assert_eq!(field_errors(vec![])[0].code, "PLUGIN_REJECTED");
    }

    #[test]
    fn routing_from_plugins_is_checked() {
        let defaults = Routing {
            department_id: Some("public-works".into()),
            priority: Priority::Medium,
            queue: None,
            sla: SlaTarget::business_days(5),
        };
        let ok = routing_in(
            t::Routing {
                department: None,
                priority: t::Priority::High,
                queue: Some(" north ".into()),
                sla: t::Sla::Hours(48),
            },
            &defaults,
        )
        .unwrap();
        assert_eq!(ok.department_id.as_deref(), Some("public-works"));
        assert_eq!(ok.queue.as_deref(), Some("north"));
        assert_eq!(ok.sla, SlaTarget::hours(48));
        let bad = t::Routing {
            department: None,
            priority: t::Priority::High,
            queue: Some("x\u{7}".into()),
            sla: t::Sla::Hours(48),
        };
        assert!(routing_in(bad, &defaults).is_err());
        let zero = t::Routing {
            department: None,
            priority: t::Priority::High,
            queue: None,
            sla: t::Sla::BusinessDays(0),
        };
        assert!(routing_in(zero, &defaults).is_err());
    }
}
