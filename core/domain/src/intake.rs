//! What makes a submission acceptable, whatever channel it came through.
//!
//! [`validate`] collects every problem at once so a client can fix a form in
//! one round trip. It never touches storage: the caller has already looked up
//! the service definition.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::attributes::{self, AttributeInput};
use crate::error::{DomainError, FieldError};
use crate::service::ServiceDefinition;

pub const MAX_DESCRIPTION_LEN: usize = 4_000;
pub const MAX_ADDRESS_LEN: usize = 500;
pub const MAX_NOTE_LEN: usize = 10_000;

/// How a request reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Mobile,
    Api,
    Open311,
    Email,
    Sms,
    Phone,
    Staff,
}

impl Channel {
    pub const ALL: [Channel; 8] = [
        Channel::Web,
        Channel::Mobile,
        Channel::Api,
        Channel::Open311,
        Channel::Email,
        Channel::Sms,
        Channel::Phone,
        Channel::Staff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Mobile => "mobile",
            Channel::Api => "api",
            Channel::Open311 => "open311",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Phone => "phone",
            Channel::Staff => "staff",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| DomainError::field("channel", "UNKNOWN_CHANNEL", format!("`{s}` is not a channel")))
    }
}

/// Who reported it. Private: never shown on a public surface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reporter {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The signed-in account that reported it, if any.
    pub user_id: Option<uuid::Uuid>,
}

impl Reporter {
    pub fn is_empty(&self) -> bool {
        self.first_name.is_none()
            && self.last_name.is_none()
            && self.email.is_none()
            && self.phone.is_none()
            && self.user_id.is_none()
    }
}

/// A submission as it arrives, before any check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntakeInput {
    pub service_code: String,
    pub description: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub attributes: BTreeMap<String, AttributeInput>,
    pub media_url: Option<String>,
    pub reporter: Reporter,
    pub device_id: Option<String>,
}

/// A rectangle in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    pub min_lat: f64,
    pub min_long: f64,
    pub max_lat: f64,
    pub max_long: f64,
}

impl BoundingBox {
    pub fn contains(&self, lat: f64, long: f64) -> bool {
        (self.min_lat..=self.max_lat).contains(&lat) && (self.min_long..=self.max_long).contains(&long)
    }

    /// Checks that the box is well formed (used for query filters too).
    pub fn check(&self, field: &str) -> Result<(), DomainError> {
        let ok = check_coordinates(self.min_lat, self.min_long).is_ok()
            && check_coordinates(self.max_lat, self.max_long).is_ok()
            && self.min_lat <= self.max_lat
            && self.min_long <= self.max_long;
        if ok {
            Ok(())
        } else {
            Err(DomainError::field(
                field,
                "INVALID_BOUNDING_BOX",
                "a bounding box needs minLat <= maxLat within [-90, 90] and minLong <= maxLong within [-180, 180]",
            ))
        }
    }
}

/// A submission that passed every rule, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidIntake {
    pub service_code: String,
    pub description: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub attributes: Map<String, Value>,
    pub media_url: Option<String>,
    pub reporter: Reporter,
    pub device_id: Option<String>,
}

pub fn check_coordinates(lat: f64, long: f64) -> Result<(), FieldError> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(FieldError::new(
            "lat",
            "INVALID_COORDINATES",
            format!("latitude {lat} is outside [-90, 90]"),
        ));
    }
    if !long.is_finite() || !(-180.0..=180.0).contains(&long) {
        return Err(FieldError::new(
            "long",
            "INVALID_COORDINATES",
            format!("longitude {long} is outside [-180, 180]"),
        ));
    }
    Ok(())
}

/// Trims a free-text field and checks its length and characters. `None` and
/// blank strings both mean "not given".
fn clean_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &Option<String>,
    max: usize,
    allow_newlines: bool,
) -> Option<String> {
    let v = value.as_deref()?.trim();
    if v.is_empty() {
        return None;
    }
    let n = v.chars().count();
    if n > max {
        errors.push(FieldError::new(
            field,
            "TOO_LONG",
            format!("`{field}` is {n} characters; at most {max} are allowed"),
        ));
        return None;
    }
    if let Some(c) = v
        .chars()
        .find(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
    {
        errors.push(FieldError::new(
            field,
            "INVALID_CHARACTERS",
            format!("`{field}` contains a control character (U+{:04X})", c as u32),
        ));
        return None;
    }
    Some(v.to_owned())
}

/// Checks a description (also used for notes, with another limit).
pub fn check_description(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(FieldError::new(
            field,
            "DESCRIPTION_EMPTY",
            format!("`{field}` is empty"),
        ));
    }
    let n = v.chars().count();
    if n > max {
        return Err(FieldError::new(
            field,
            "DESCRIPTION_TOO_LONG",
            format!("`{field}` is {n} characters; at most {max} are allowed"),
        ));
    }
    if let Some(c) = v.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(FieldError::new(
            field,
            "INVALID_CHARACTERS",
            format!("`{field}` contains a control character (U+{:04X})", c as u32),
        ));
    }
    if looks_like_markup(v) {
        return Err(FieldError::new(
            field,
            "DESCRIPTION_MARKUP",
            format!("`{field}` must be plain text, without HTML tags"),
        ));
    }
    Ok(v.to_owned())
}

/// `<b>`, `</p>`, `<!--`, `<?xml`: a tag. `a < b` and `<3` are not.
fn looks_like_markup(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?')))
}

fn check_email(errors: &mut Vec<FieldError>, value: &Option<String>) -> Option<String> {
    let v = clean_text(errors, "email", value, 254, false)?;
    let valid = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.chars().any(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if valid {
        Some(v)
    } else {
        errors.push(FieldError::new(
            "email",
            "INVALID_EMAIL",
            "`email` is not an email address",
        ));
        None
    }
}

fn check_phone(errors: &mut Vec<FieldError>, value: &Option<String>) -> Option<String> {
    let v = clean_text(errors, "phone", value, 40, false)?;
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let allowed = v.chars().all(|c| c.is_ascii_digit() || " +-().x".contains(c));
    if allowed && (5..=20).contains(&digits) {
        Some(v)
    } else {
        errors.push(FieldError::new(
            "phone",
            "INVALID_PHONE",
            "`phone` is not a phone number",
        ));
        None
    }
}

fn check_media_url(errors: &mut Vec<FieldError>, value: &Option<String>) -> Option<String> {
    let v = clean_text(errors, "media_url", value, 2_000, false)?;
    let lower = v.to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && v.len() > "https://".len()
        && !v.chars().any(char::is_whitespace);
    if ok {
        Some(v)
    } else {
        errors.push(FieldError::new(
            "media_url",
            "INVALID_MEDIA_URL",
            "`media_url` must be an http(s) URL",
        ));
        None
    }
}

/// Checks a submission against the rules every channel shares and against
/// its service's form. `bounds` is the jurisdiction's area, when configured.
pub fn validate(
    input: &IntakeInput,
    service: &ServiceDefinition,
    bounds: Option<&BoundingBox>,
) -> Result<ValidIntake, DomainError> {
    let mut errors = Vec::new();

    let description = match &input.description {
        None => None,
        Some(d) => match check_description("description", d, MAX_DESCRIPTION_LEN) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };

    let (lat, long) = match (input.lat, input.long) {
        (Some(lat), Some(long)) => match check_coordinates(lat, long) {
            Ok(()) => {
                if let Some(b) = bounds.filter(|b| !b.contains(lat, long)) {
                    errors.push(FieldError::new(
                        "lat",
                        "LOCATION_OUTSIDE_JURISDICTION",
                        format!(
                            "({lat}, {long}) is outside this jurisdiction (latitude {}..{}, longitude {}..{})",
                            b.min_lat, b.max_lat, b.min_long, b.max_long
                        ),
                    ));
                }
                (Some(lat), Some(long))
            }
            Err(e) => {
                errors.push(e);
                (None, None)
            }
        },
        (None, None) => (None, None),
        (Some(_), None) | (None, Some(_)) => {
            errors.push(FieldError::new(
                if input.lat.is_none() { "lat" } else { "long" },
                "LOCATION_INCOMPLETE",
                "give both `lat` and `long`, or neither",
            ));
            (None, None)
        }
    };

    let address = clean_text(&mut errors, "address", &input.address, MAX_ADDRESS_LEN, false);
    let address_id = clean_text(&mut errors, "address_id", &input.address_id, 100, false);
    let zipcode = clean_text(&mut errors, "zipcode", &input.zipcode, 20, false);
    let had_location_error = errors.iter().any(|e| matches!(e.field.as_str(), "lat" | "long"));
    if lat.is_none() && address.is_none() && address_id.is_none() && !had_location_error {
        errors.push(FieldError::new(
            "location",
            "LOCATION_REQUIRED",
            "give a location: `lat` and `long`, an `address`, or an `address_id`",
        ));
    }

    let reporter = Reporter {
        first_name: clean_text(&mut errors, "first_name", &input.reporter.first_name, 100, false),
        last_name: clean_text(&mut errors, "last_name", &input.reporter.last_name, 100, false),
        email: check_email(&mut errors, &input.reporter.email),
        phone: check_phone(&mut errors, &input.reporter.phone),
        user_id: input.reporter.user_id,
    };
    let media_url = check_media_url(&mut errors, &input.media_url);
    let device_id = clean_text(&mut errors, "device_id", &input.device_id, 200, false);

    let attributes = match attributes::validate(&service.attributes, &input.attributes) {
        Ok(a) => a,
        Err(mut errs) => {
            errors.append(&mut errs);
            Map::new()
        }
    };

    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    Ok(ValidIntake {
        service_code: service.code.clone(),
        description,
        lat,
        long,
        address,
        address_id,
        zipcode,
        attributes,
        media_url,
        reporter,
        device_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::priority::Priority;
    use crate::sla::SlaTarget;

    fn service() -> ServiceDefinition {
        ServiceDefinition {
            jurisdiction_id: "demo".into(),
            code: "pothole".into(),
            name: "Pothole".into(),
            description: String::new(),
            group: None,
            keywords: vec![],
            attributes: vec![],
            default_priority: Priority::High,
            sla: SlaTarget::business_days(5),
            department_id: None,
            plugin_id: None,
            active: true,
            public: true,
            address_sensitive: false,
            anonymous_allowed: true,
            answers_with_token: false,
        }
    }

    fn input() -> IntakeInput {
        IntakeInput {
            service_code: "pothole".into(),
            description: Some("  Deep hole in the right lane  ".into()),
            lat: Some(41.5),
            long: Some(-87.6),
            ..Default::default()
        }
    }

    fn codes(err: DomainError) -> Vec<&'static str> {
        err.field_errors().iter().map(|e| e.code).collect()
    }

    #[test]
    fn accepts_and_trims_a_good_submission() {
        let ok = validate(&input(), &service(), None).unwrap();
        assert_eq!(ok.description.as_deref(), Some("Deep hole in the right lane"));
        assert_eq!(ok.lat, Some(41.5));
    }

    #[test]
    fn rejects_out_of_range_and_half_coordinates() {
        let mut i = input();
        i.lat = Some(91.0);
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["INVALID_COORDINATES"]
        );
        i.lat = Some(f64::NAN);
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["INVALID_COORDINATES"]
        );
        i.lat = Some(10.0);
        i.long = Some(-180.5);
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["INVALID_COORDINATES"]
        );
        i.long = None;
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["LOCATION_INCOMPLETE"]
        );
    }

    #[test]
    fn requires_some_location_and_respects_bounds() {
        let mut i = input();
        i.lat = None;
        i.long = None;
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["LOCATION_REQUIRED"]
        );
        i.address = Some("12 Elm St".into());
        validate(&i, &service(), None).unwrap();

        let b = BoundingBox {
            min_lat: 41.0,
            min_long: -88.0,
            max_lat: 42.0,
            max_long: -87.0,
        };
        let mut far = input();
        far.lat = Some(45.0);
        assert_eq!(
            codes(validate(&far, &service(), Some(&b)).unwrap_err()),
            ["LOCATION_OUTSIDE_JURISDICTION"]
        );
        validate(&input(), &service(), Some(&b)).unwrap();
    }

    #[test]
    fn rejects_empty_oversize_and_marked_up_descriptions() {
        let mut i = input();
        i.description = Some("   ".into());
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["DESCRIPTION_EMPTY"]
        );
        i.description = Some("x".repeat(MAX_DESCRIPTION_LEN + 1));
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["DESCRIPTION_TOO_LONG"]
        );
        i.description = Some("é".repeat(MAX_DESCRIPTION_LEN));
        validate(&i, &service(), None).unwrap();
        i.description = Some("see <script>alert(1)</script>".into());
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["DESCRIPTION_MARKUP"]
        );
        i.description = Some("depth < 3 inches <3".into());
        validate(&i, &service(), None).unwrap();
        i.description = Some("nul\0byte".into());
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["INVALID_CHARACTERS"]
        );
    }

    #[test]
    fn checks_contact_fields() {
        let mut i = input();
        i.reporter.email = Some("not-an-email".into());
        i.reporter.phone = Some("call me".into());
        i.media_url = Some("javascript:alert(1)".into());
        assert_eq!(
            codes(validate(&i, &service(), None).unwrap_err()),
            ["INVALID_EMAIL", "INVALID_PHONE", "INVALID_MEDIA_URL"]
        );
        i.reporter.email = Some("ana@example.org".into());
        i.reporter.phone = Some("+1 (555) 010-2345".into());
        i.media_url = Some("https://img.example.org/p.jpg".into());
        validate(&i, &service(), None).unwrap();
    }
}
