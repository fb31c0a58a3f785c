//! Query strings and form bodies as Open311 clients send them: repeated
//! keys, comma lists, `attribute[CODE]` / `attribute[CODE][]`, and dates
//! in ISO 8601 (with `+` offsets that form decoding turned into spaces).
//!
//! **Must never:** treat an empty parameter as given (the specification
//! says it counts as absent).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use townhall_domain::attributes::AttributeInput;

use crate::error::Open311Error;

/// Decoded `key=value` pairs, in order.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(raw: &[u8]) -> Params {
        Params(
            form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn extend(&mut self, other: Params) {
        self.0.extend(other.0);
    }

    /// The first non-blank value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .find(|v| !v.is_empty())
    }

    pub fn owned(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// Every non-blank item of `name`, repeated keys and comma lists alike.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn f64(&self, name: &str) -> Result<Option<f64>, Open311Error> {
        self.get(name)
            .map(|v| {
                v.parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| {
                    Open311Error::InvalidParameter(name.to_owned(), format!("`{name}` must be a number"))
                })
            })
            .transpose()
    }

    pub fn u64(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, Open311Error> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| {
                        Open311Error::InvalidParameter(
                            name.to_owned(),
                            format!("`{name}` must be a whole number from {min} to {max}"),
                        )
                    })
            })
            .transpose()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
    }

    pub fn date(&self, name: &str, tz: Tz) -> Result<Option<DateTime<Utc>>, Open311Error> {
        self.get(name)
            .map(|v| parse_datetime(v, tz).ok_or_else(|| Open311Error::InvalidDate(name.to_owned())))
            .transpose()
    }

    /// `attribute[CODE]=v` and `attribute[CODE][]=v` answers.
    pub fn attributes(&self) -> BTreeMap<String, AttributeInput> {
        let mut out: BTreeMap<String, AttributeInput> = BTreeMap::new();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix("attribute[") else {
                continue;
            };
            let (code, many) = if let Some(c) = rest.strip_suffix("][]") {
                (c, true)
            } else if let Some(c) = rest.strip_suffix(']') {
                (c, false)
            } else {
                continue;
            };
            if code.is_empty() {
                continue;
            }
            let entry = out.remove(code);
            let next = match (entry, many) {
                (None, false) => AttributeInput::One(v.clone()),
                (None, true) => AttributeInput::Many(vec![v.clone()]),
                (Some(AttributeInput::One(a)), _) => AttributeInput::Many(vec![a, v.clone()]),
                (Some(AttributeInput::Many(mut l)), _) => {
                    l.push(v.clone());
                    AttributeInput::Many(l)
                }
            };
            out.insert(code.to_owned(), next);
        }
        out
    }
}

/// ISO 8601: with an offset or `Z`; without one (local time of the
/// jurisdiction); or a bare date (its start, locally).
pub fn parse_datetime(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let try_one = |s: &str| -> Option<DateTime<Utc>> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.with_timezone(&Utc));
        }
        for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%z"] {
            if let Ok(t) = DateTime::parse_from_str(s, f) {
                return Some(t.with_timezone(&Utc));
            }
        }
        for f in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S",
        ] {
            if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
                return tz.from_local_datetime(&t).earliest().map(|t| t.with_timezone(&Utc));
            }
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| tz.from_local_datetime(&t).earliest())
            .map(|t| t.with_timezone(&Utc))
    };
    try_one(s).or_else(|| {
        if s.contains(' ') {
            try_one(&s.replace(' ', "+"))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_single_and_multi() {
        let p = Params::parse(
            b"attribute[SIZE]=large&attribute[M][]=a&attribute[M][]=b&attribute[]=x&attribute[X=1&service_code=p",
        );
        let a = p.attributes();
        assert_eq!(a["SIZE"], AttributeInput::One("large".into()));
        assert_eq!(a["M"], AttributeInput::Many(vec!["a".into(), "b".into()]));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn empty_parameters_count_as_absent_and_lists_split() {
        let p = Params::parse(b"jurisdiction_id=&service_code=a,b&service_code=c&status=%20");
        assert_eq!(p.get("jurisdiction_id"), None);
        assert_eq!(p.get("status"), None);
        assert_eq!(p.list("service_code"), ["a", "b", "c"]);
    }

    #[test]
    fn dates_in_the_forms_clients_send() {
        let tz: Tz = "America/Chicago".parse().unwrap();
        let want = "2026-05-01T19:30:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(parse_datetime("2026-05-01T14:30:00-05:00", tz), Some(want));
        assert_eq!(parse_datetime("2026-05-01T19:30:00Z", tz), Some(want));
        assert_eq!(parse_datetime("2026-05-01T14:30:00", tz), Some(want));
        // `+` decoded as a space by form decoding.
        assert_eq!(parse_datetime("2026-05-01T21:30:00 02:00", tz), Some(want));
        assert_eq!(parse_datetime("2026-05-01", tz), "2026-05-01T05:00:00Z".parse().ok());
        assert_eq!(parse_datetime("yesterday", tz), None);
    }
}
