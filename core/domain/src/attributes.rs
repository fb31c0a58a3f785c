//! Checking and normalizing a submission's answers to a service's form.
//!
//! Values arrive as strings (Open311 form fields) or lists of strings
//! (`attribute[CODE][]`). They leave as JSON: numbers as numbers, datetimes
//! as RFC 3339 strings in UTC, multi-value lists as arrays of keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::service::{AttributeDef, Datatype};

pub const MAX_STRING_LEN: usize = 1_000;
pub const MAX_TEXT_LEN: usize = 4_000;
pub const MAX_LIST_VALUES: usize = 100;

/// A raw answer as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeInput {
    One(String),
    Many(Vec<String>),
}

impl AttributeInput {
    fn values(&self) -> Vec<&str> {
        match self {
            AttributeInput::One(v) => vec![v.as_str()],
            AttributeInput::Many(vs) => vs.iter().map(String::as_str).collect(),
        }
    }
}

fn field(code: &str) -> String {
    format!("attribute[{code}]")
}

/// Checks `input` against `defs`, returning the normalized answers or every
/// problem found.
pub fn validate(
    defs: &[AttributeDef],
    input: &BTreeMap<String, AttributeInput>,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Map::new();

    for code in input.keys() {
        if !defs.iter().any(|d| &d.code == code) {
            errors.push(FieldError::new(
                field(code),
                "ATTRIBUTE_UNKNOWN",
                format!("this service has no attribute `{}`", truncate(code, 64)),
            ));
        }
    }

    for def in defs {
        let given = input.get(&def.code);
        let values: Vec<&str> = given
            .map(|g| {
                g.values()
                    .into_iter()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if !def.variable {
            if !values.is_empty() {
                errors.push(FieldError::new(
                    field(&def.code),
                    "ATTRIBUTE_NOT_VARIABLE",
                    format!("`{}` is informational and takes no answer", def.code),
                ));
            }
            continue;
        }
        if values.is_empty() {
            if def.required {
                errors.push(FieldError::new(
                    field(&def.code),
                    "ATTRIBUTE_REQUIRED",
                    format!("`{}` is required: {}", def.code, def.description),
                ));
            }
            continue;
        }
        match normalize(def, &values) {
            Ok(v) => {
                out.insert(def.code.clone(), v);
            }
            Err(e) => errors.push(e),
        }
    }

    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn normalize(def: &AttributeDef, values: &[&str]) -> Result<Value, FieldError> {
    let invalid = |code: &'static str, msg: String| FieldError::new(field(&def.code), code, msg);
    if def.datatype != Datatype::Multivaluelist && values.len() > 1 {
        return Err(invalid(
            "ATTRIBUTE_INVALID",
            format!("`{}` takes one value, got {}", def.code, values.len()),
        ));
    }
    let first = values.first().copied().unwrap_or_default();
    for v in values {
        if let Some(bad) = v.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(invalid(
                "ATTRIBUTE_INVALID",
                format!("`{}` contains a control character (U+{:04X})", def.code, bad as u32),
            ));
        }
    }
    match def.datatype {
        Datatype::String | Datatype::Text => {
            let max = if def.datatype == Datatype::String {
                MAX_STRING_LEN
            } else {
                MAX_TEXT_LEN
            };
            let n = first.chars().count();
            if n > max {
                return Err(invalid(
                    "ATTRIBUTE_TOO_LONG",
                    format!("`{}` is {n} characters; at most {max} are allowed", def.code),
                ));
            }
            Ok(Value::String(first.to_owned()))
        }
        Datatype::Number => first
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(|n| {
                if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    Some(Value::from(n as i64))
                } else {
                    serde_json::Number::from_f64(n).map(Value::Number)
                }
            })
            .ok_or_else(|| {
                invalid(
                    "ATTRIBUTE_INVALID",
                    format!("`{}` must be a number, got `{}`", def.code, truncate(first, 40)),
                )
            }),
        Datatype::Datetime => DateTime::parse_from_rfc3339(first)
            .map(|t| Value::String(t.with_timezone(&Utc).to_rfc3339()))
            .map_err(|_| {
                invalid(
                    "ATTRIBUTE_INVALID",
                    format!(
                        "`{}` must be an ISO 8601 date and time with a zone, e.g. 2026-05-01T14:30:00-05:00; got `{}`",
                        def.code,
                        truncate(first, 40)
                    ),
                )
            }),
        Datatype::Singlevaluelist | Datatype::Multivaluelist => {
            if values.len() > MAX_LIST_VALUES {
                return Err(invalid(
                    "ATTRIBUTE_INVALID",
                    format!("`{}` has too many values", def.code),
                ));
            }
            let mut keys = Vec::with_capacity(values.len());
            for v in values {
                if !def.values.iter().any(|allowed| allowed.key == *v) {
                    let allowed: Vec<&str> = def.values.iter().map(|a| a.key.as_str()).collect();
                    return Err(invalid(
                        "ATTRIBUTE_INVALID_VALUE",
                        format!(
                            "`{}` is not an allowed value of `{}`; expected one of: {}",
                            truncate(v, 40),
                            def.code,
                            allowed.join(", ")
                        ),
                    ));
                }
                if !keys.contains(v) {
                    keys.push(*v);
                }
            }
            if def.datatype == Datatype::Singlevaluelist {
                Ok(Value::String(first.to_owned()))
            } else {
                Ok(Value::Array(
                    keys.into_iter().map(|k| Value::String(k.to_owned())).collect(),
                ))
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::AttributeValueDef;

    fn def(code: &str, datatype: Datatype, required: bool) -> AttributeDef {
        AttributeDef {
            code: code.into(),
            variable: true,
            datatype,
            required,
            datatype_description: None,
            order: 0,
            description: format!("question {code}"),
            values: vec![
                AttributeValueDef {
                    key: "a".into(),
                    name: "A".into(),
                },
                AttributeValueDef {
                    key: "b".into(),
                    name: "B".into(),
                },
            ],
        }
    }

    fn one(v: &str) -> AttributeInput {
        AttributeInput::One(v.into())
    }

    #[test]
    fn normalizes_every_datatype() {
        let defs = vec![
            def("S", Datatype::String, true),
            def("N", Datatype::Number, true),
            def("D", Datatype::Datetime, false),
            def("T", Datatype::Text, false),
            def("L", Datatype::Singlevaluelist, false),
            def("M", Datatype::Multivaluelist, false),
        ];
        let input = BTreeMap::from([
            ("S".to_owned(), one(" hello ")),
            ("N".to_owned(), one("3")),
            ("D".to_owned(), one("2026-05-01T14:30:00-05:00")),
            ("T".to_owned(), one("long\ntext")),
            ("L".to_owned(), one("b")),
            (
                "M".to_owned(),
                AttributeInput::Many(vec!["a".into(), "b".into(), "a".into()]),
            ),
        ]);
        let out = validate(&defs, &input).unwrap();
        assert_eq!(out["S"], "hello");
        assert_eq!(out["N"], 3);
        assert_eq!(out["D"], "2026-05-01T19:30:00+00:00");
        assert_eq!(out["T"], "long\ntext");
        assert_eq!(out["L"], "b");
        assert_eq!(out["M"], serde_json::json!(["a", "b"]));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let defs = vec![
            def("REQ", Datatype::String, true),
            def("N", Datatype::Number, false),
            def("L", Datatype::Singlevaluelist, false),
            def("D", Datatype::Datetime, false),
        ];
        let input = BTreeMap::from([
            ("N".to_owned(), one("lots")),
            ("L".to_owned(), one("z")),
            ("D".to_owned(), one("yesterday")),
            ("EXTRA".to_owned(), one("x")),
        ]);
        let errors = validate(&defs, &input).unwrap_err();
        let codes: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("attribute[EXTRA]", "ATTRIBUTE_UNKNOWN"),
                ("attribute[REQ]", "ATTRIBUTE_REQUIRED"),
                ("attribute[N]", "ATTRIBUTE_INVALID"),
                ("attribute[L]", "ATTRIBUTE_INVALID_VALUE"),
                ("attribute[D]", "ATTRIBUTE_INVALID"),
            ]
        );
    }

    #[test]
    fn rejects_lists_on_single_fields_and_non_finite_numbers() {
        let defs = vec![def("N", Datatype::Number, false), def("S", Datatype::String, false)];
        for (code, v) in [
            ("N", one("NaN")),
            ("N", one("inf")),
            ("S", AttributeInput::Many(vec!["a".into(), "b".into()])),
        ] {
            let input = BTreeMap::from([(code.to_owned(), v)]);
            assert_eq!(validate(&defs, &input).unwrap_err()[0].code, "ATTRIBUTE_INVALID");
        }
        let long = "x".repeat(MAX_STRING_LEN + 1);
        let input = BTreeMap::from([("S".to_owned(), one(&long))]);
        assert_eq!(validate(&defs, &input).unwrap_err()[0].code, "ATTRIBUTE_TOO_LONG");
    }

    #[test]
    fn informational_attributes_take_no_answer() {
        let mut info = def("INFO", Datatype::String, false);
        info.variable = false;
        let input = BTreeMap::from([("INFO".to_owned(), one("x"))]);
        assert_eq!(validate(&[info], &input).unwrap_err()[0].code, "ATTRIBUTE_NOT_VARIABLE");
    }
}
