//! Public Works: potholes, road damage and streetlight outages.
//!
//! - **Validate**: a location is required for road reports, a pole number
//!   of the right shape for streetlights, depths and lane counts in range;
//!   optionally, reports outside every district are refused.
//! - **Route**: the report's point is looked up in the district polygons
//!   (GeoJSON in the install's configuration) and sent to that district's
//!   crew (queue) of the responsible department (`public-works` for road
//!   reports, `utilities` for streetlights); hazards (in the travel lane, a
//!   large pothole, a sinkhole or washout, exposed wiring or a damaged pole)
//!   raise the priority and get the hazard SLA; SLAs are business days
//!   from the configuration.
//! - **On event**: when a request moves to `action_scheduled`, posts a
//!   public note saying the work is scheduled and which crew has it.
//!
//! **Must never:** keep state between calls outside the key-value store
//! (each call runs in a fresh instance), or see the reporter's contact
//! details (the host never passes them).

pub mod geo;

use std::collections::BTreeMap;
#[cfg(target_arch = "wasm32")]
use std::sync::OnceLock;

use serde::Deserialize;
use townhall_sdk::*;

pub const ID: &str = "public-works";
pub const POTHOLE: &str = "pothole";
pub const ROAD_DAMAGE: &str = "road-damage";
pub const STREETLIGHT: &str = "streetlight";
pub const PUBLIC_WORKS: &str = "public-works";
pub const UTILITIES: &str = "utilities";

/// The per-install configuration (JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// District polygons, a GeoJSON FeatureCollection of `Polygon`s and
    /// `MultiPolygon`s; each feature's `properties` has `name` and `crews`
    /// (department code → crew queue). Searched when a call needs it
    /// ([`district`]); if it turns out malformed, that is logged and
    /// routing goes on as if no district matched.
    #[serde(default)]
    pub districts: Option<Districts>,
    /// SLA per service code, in business days.
    #[serde(default)]
    pub sla_business_days: BTreeMap<String, u32>,
    /// SLA for hazards, in business days (default 1).
    #[serde(default = "one")]
    pub hazard_sla_business_days: u32,
    /// Queue when no district matches (per department code).
    #[serde(default)]
    pub default_crews: BTreeMap<String, String>,
    /// Refuse reports whose location is in no district.
    #[serde(default)]
    pub reject_outside_districts: bool,
    /// The public note posted when work is scheduled; `{crew}` and
    /// `{tracking}` are replaced.
    #[serde(default)]
    pub scheduled_note: Option<String>,
}

/// The `districts` of a [`Config`], as read.
#[derive(Debug, Clone)]
pub enum Districts {
    /// The GeoJSON text, searched on demand.
    Text(Box<serde_json::value::RawValue>),
    /// Searched for one location while the configuration was read
    /// ([`Config::read`]): a call is about one intake and runs in a fresh
    /// instance, so the text is read once instead of twice (keep it, then
    /// search it).
    Searched {
        at: Location,
        found: Option<geo::DistrictProperties>,
    },
}

thread_local! {
    /// Where [`Districts`] being deserialized should be searched, if anywhere.
    static SEARCH_AT: std::cell::Cell<Option<Location>> = const { std::cell::Cell::new(None) };
}

impl<'de> Deserialize<'de> for Districts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match SEARCH_AT.with(std::cell::Cell::get) {
            Some(at) => geo::search(d, at.lat, at.long).map(|found| Districts::Searched { at, found }),
            None => Box::<serde_json::value::RawValue>::deserialize(d).map(Districts::Text),
        }
    }
}

fn one() -> u32 {
    1
}

impl Default for Config {
    fn default() -> Self {
        Self {
            districts: None,
            sla_business_days: BTreeMap::new(),
            hazard_sla_business_days: 1,
            default_crews: BTreeMap::new(),
            reject_outside_districts: false,
            scheduled_note: None,
        }
    }
}

impl Config {
    /// Parses a configuration; with `at`, the districts are searched for
    /// that location in the same pass. Malformed districts do not make the
    /// configuration invalid: they are kept as text, and [`district`] logs
    /// the problem when it searches them.
    pub fn read(text: &str, at: Option<Location>) -> Result<Config, serde_json::Error> {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                SEARCH_AT.with(|c| c.set(None));
            }
        }
        if at.is_some() {
            let _reset = Reset;
            SEARCH_AT.with(|c| c.set(at));
            if let Ok(c) = serde_json::from_str(text) {
                return Ok(c);
            }
        }
        serde_json::from_str(text)
    }
}

/// Parses the install's configuration, searching the districts for `at`.
/// A configuration that does not parse is logged and replaced by the
/// defaults, so a typo does not take intake down.
pub fn load_config(at: Option<Location>) -> Config {
    match Config::read(&townhall_sdk::config::raw(), at) {
        Ok(c) => c,
        Err(e) => {
            log::error(
                "invalid public-works configuration; using defaults",
                &[("error", &e.to_string())],
            );
            Config::default()
        }
    }
}

/// Runs `f` with the configuration, its districts searched for `at`:
/// parsed once per instance inside the component (validate and route of
/// one intake share it), every time natively (each test installs its own
/// mock host).
#[cfg(target_arch = "wasm32")]
fn with_config<R>(at: Option<Location>, f: impl FnOnce(&Config) -> R) -> R {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    f(CONFIG.get_or_init(|| load_config(at)))
}

#[cfg(not(target_arch = "wasm32"))]
fn with_config<R>(at: Option<Location>, f: impl FnOnce(&Config) -> R) -> R {
    f(&load_config(at))
}

pub struct PublicWorks;

const YES_NO: &[(&str, &str)] = &[("yes", "Yes"), ("no", "No")];

impl Department for PublicWorks {
    fn manifest() -> Manifest {
        let mut pothole = Service::new(POTHOLE, "Pothole", PUBLIC_WORKS, Priority::High, Sla::BusinessDays(5));
        pothole.description = "A hole in the road surface.".into();
        pothole.group = Some("Streets".into());
        pothole.keywords = vec!["road".into(), "street".into(), "hole".into()];
        pothole.attributes = vec![
            Attribute::new(
                "hazard_in_lane",
                Datatype::Singlevaluelist,
                "Is it in a travel lane, where cars must swerve?",
            )
            .required()
            .order(1)
            .values(YES_NO),
            Attribute::new("size", Datatype::Singlevaluelist, "How big is it?")
                .required()
                .order(2)
                .values(&[
                    ("small", "Smaller than a dinner plate"),
                    ("medium", "Up to a car tire"),
                    ("large", "Larger than a car tire"),
                ]),
            Attribute::new("depth_inches", Datatype::Number, "About how deep is it, in inches?").order(3),
        ];

        let mut road = Service::new(
            ROAD_DAMAGE,
            "Road damage",
            PUBLIC_WORKS,
            Priority::Medium,
            Sla::BusinessDays(10),
        );
        road.description = "Cracks, sinkholes, washouts or debris on a road.".into();
        road.group = Some("Streets".into());
        road.keywords = vec!["road".into(), "crack".into(), "sinkhole".into()];
        road.attributes = vec![
            Attribute::new("damage_type", Datatype::Singlevaluelist, "What kind of damage?")
                .required()
                .order(1)
                .values(&[
                    ("crack", "Cracked pavement"),
                    ("sinkhole", "Sinkhole"),
                    ("washout", "Washed-out road"),
                    ("debris", "Debris on the road"),
                    ("other", "Something else"),
                ]),
            Attribute::new(
                "hazard_in_lane",
                Datatype::Singlevaluelist,
                "Is a travel lane affected?",
            )
            .required()
            .order(2)
            .values(YES_NO),
            Attribute::new("lanes_blocked", Datatype::Number, "How many lanes are blocked?").order(3),
        ];

        let mut light = Service::new(
            STREETLIGHT,
            "Streetlight outage",
            UTILITIES,
            Priority::High,
            Sla::BusinessDays(3),
        );
        light.description = "A streetlight that is out, flickering or damaged.".into();
        light.group = Some("Lighting".into());
        light.keywords = vec!["light".into(), "lamp".into(), "dark".into()];
        light.attributes = vec![
            Attribute::new(
                "pole_number",
                Datatype::String,
                "The number on the pole's tag (e.g. SL-10423).",
            )
            .required()
            .order(1),
            Attribute::new("problem", Datatype::Singlevaluelist, "What is wrong?")
                .required()
                .order(2)
                .values(&[
                    ("out", "Light is out"),
                    ("flickering", "Light flickers"),
                    ("day_burning", "On during the day"),
                    ("damaged_pole", "Pole is damaged or leaning"),
                ]),
            Attribute::new(
                "exposed_wiring",
                Datatype::Singlevaluelist,
                "Can you see exposed wiring?",
            )
            .order(3)
            .values(YES_NO),
        ];

        Manifest {
            id: ID.into(),
            name: "Public Works".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Potholes, road damage and streetlight outages, routed to district crews.".into(),
            services: vec![pothole, road, light],
            workflow: [
                "open",
                "acknowledged",
                "action_scheduled",
                "in_progress",
                "fixed",
                "closed",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            capabilities: vec![],
        }
    }

    fn validate(intake: &Intake) -> Result<(), Vec<FieldError>> {
        with_config(intake.location, |c| validate_with(c, intake))
    }

    fn route(intake: &Intake, defaults: Routing) -> Routing {
        with_config(intake.location, |c| route_with(c, intake, defaults))
    }

    fn on_event(event: &Event) -> Vec<Action> {
        with_config(None, |c| on_event_with(c, event))
    }
}

townhall_sdk::export_department!(PublicWorks);

fn number(intake: &Intake, code: &str) -> Option<Result<f64, ()>> {
    intake.answer(code).map(|v| v.parse::<f64>().map_err(|_| ()))
}

fn pole_number_ok(p: &str) -> bool {
    (2..=20).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The validation rules with an explicit configuration.
pub fn validate_with(config: &Config, intake: &Intake) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    match intake.service_code.as_str() {
        POTHOLE | ROAD_DAMAGE => {
            if intake.location.is_none() {
                errors.push(FieldError::new(
                    "lat",
                    "LOCATION_REQUIRED",
                    "Drop a pin on the map (or share your location) so the crew can find it.",
                ));
            }
            match number(intake, "depth_inches") {
                Some(Ok(d)) if !(0.0..=48.0).contains(&d) => errors.push(FieldError::attribute(
                    "depth_inches",
                    "DEPTH_OUT_OF_RANGE",
                    "The depth must be between 0 and 48 inches.",
                )),
                Some(Err(())) => errors.push(FieldError::attribute(
                    "depth_inches",
                    "NOT_A_NUMBER",
                    "The depth must be a number.",
                )),
                _ => {}
            }
            match number(intake, "lanes_blocked") {
                Some(Ok(n)) if !(0.0..=12.0).contains(&n) || n.fract() != 0.0 => errors.push(FieldError::attribute(
                    "lanes_blocked",
                    "LANES_OUT_OF_RANGE",
                    "The number of blocked lanes must be a whole number from 0 to 12.",
                )),
                Some(Err(())) => errors.push(FieldError::attribute(
                    "lanes_blocked",
                    "NOT_A_NUMBER",
                    "The number of blocked lanes must be a number.",
                )),
                _ => {}
            }
        }
        STREETLIGHT => {
            if intake.location.is_none() && intake.address.is_none() {
                errors.push(FieldError::new(
                    "address",
                    "LOCATION_REQUIRED",
                    "Give the address nearest the light, or drop a pin on the map.",
                ));
            }
            match intake.answer("pole_number") {
                Some(p) if !pole_number_ok(p) => errors.push(FieldError::attribute(
                    "pole_number",
                    "INVALID_POLE_NUMBER",
                    "A pole number is 2 to 20 letters, digits or dashes, as printed on the pole's tag (e.g. SL-10423).",
                )),
                _ => {}
            }
        }
        _ => {}
    }
    if config.reject_outside_districts
        && let Some(loc) = intake.location
        && district(config, loc).is_none()
    {
        errors.push(FieldError::new(
            "lat",
            "OUTSIDE_SERVICE_AREA",
            "That location is outside the areas Public Works serves.",
        ));
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// The district containing `loc`, if any (first match in file order).
pub fn district(config: &Config, loc: Location) -> Option<geo::DistrictProperties> {
    let found = match config.districts.as_ref()? {
        Districts::Searched { at, found } if *at == loc => return found.clone(),
        Districts::Text(text) => geo::find_district(text.get(), loc.lat, loc.long),
        // Read for another location: read the text again.
        Districts::Searched { .. } => match Config::read(&townhall_sdk::config::raw(), None) {
            Ok(Config {
                districts: Some(Districts::Text(text)),
                ..
            }) => geo::find_district(text.get(), loc.lat, loc.long),
            _ => Ok(None),
        },
    };
    match found {
        Ok(found) => found,
        Err(e) => {
            log::error(
                "invalid districts in the public-works configuration; routing without them",
                &[("error", &e.to_string())],
            );
            None
        }
    }
}

/// Whether the report describes a hazard to traffic or people.
pub fn is_hazard(intake: &Intake) -> bool {
    let yes = |code: &str| intake.answer(code) == Some("yes");
    match intake.service_code.as_str() {
        POTHOLE => yes("hazard_in_lane") || intake.answer("size") == Some("large"),
        ROAD_DAMAGE => yes("hazard_in_lane") || matches!(intake.answer("damage_type"), Some("sinkhole" | "washout")),
        STREETLIGHT => yes("exposed_wiring") || intake.answer("problem") == Some("damaged_pole"),
        _ => false,
    }
}

/// The routing rules with an explicit configuration.
pub fn route_with(config: &Config, intake: &Intake, defaults: Routing) -> Routing {
    let department = match intake.service_code.as_str() {
        STREETLIGHT => UTILITIES.to_owned(),
        POTHOLE | ROAD_DAMAGE => PUBLIC_WORKS.to_owned(),
        _ => defaults.department.clone().unwrap_or_else(|| PUBLIC_WORKS.to_owned()),
    };
    let found = intake.location.and_then(|loc| district(config, loc));
    let queue = found
        .as_ref()
        .and_then(|d| d.crews.get(&department).cloned())
        .or_else(|| config.default_crews.get(&department).cloned())
        .or(defaults.queue.clone());
    let hazard = is_hazard(intake);
    let mut sla = match config.sla_business_days.get(&intake.service_code) {
        Some(days) => Sla::BusinessDays(*days),
        None => defaults.sla,
    };
    let mut priority = defaults.priority;
    if hazard {
        priority = priority.raised();
        let h = Sla::BusinessDays(config.hazard_sla_business_days);
        if business_days(h) < business_days(sla) {
            sla = h;
        }
    }
    log::debug(
        "routed",
        &[
            ("service", intake.service_code.as_str()),
            ("district", found.as_ref().map_or("none", |d| d.name.as_str())),
            ("hazard", if hazard { "yes" } else { "no" }),
        ],
    );
    Routing {
        department: Some(department),
        priority,
        queue,
        sla,
    }
}

fn business_days(s: Sla) -> u32 {
    match s {
        Sla::BusinessDays(d) => d,
        Sla::Hours(h) => h.div_ceil(24),
    }
}

/// The on-event rules with an explicit configuration.
pub fn on_event_with(config: &Config, event: &Event) -> Vec<Action> {
    if event.by_self || !event.moved_to("action_scheduled") {
        return Vec::new();
    }
    let crew = event.queue.clone().unwrap_or_else(|| "a city crew".to_owned());
    let template = config.scheduled_note.clone().unwrap_or_else(|| {
        "Work on {tracking} is scheduled: {crew} will take care of it. Thank you for reporting it.".to_owned()
    });
    let body = template
        .replace("{crew}", &crew)
        .replace("{tracking}", &event.tracking_number);
    log::info(
        "work scheduled; posting public note",
        &[("request", event.request_id.as_str())],
    );
    vec![Action::public_note(body)]
}

#[cfg(test)]
mod tests;
