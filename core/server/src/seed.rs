//! Demo data: the fictional City of Riverbend with the nine service
//! categories every city expects, its departments, ~200 requests in mixed
//! states with histories, and fictional reporters whose details stay private.
//!
//! Requests go through the real intake pipeline and workflow (with a clock
//! moved back in time), so the demo data obeys every rule real data does.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use townhall_domain::Status;
use townhall_domain::attributes::AttributeInput;
use townhall_domain::clock::{Clock, ManualClock};
use townhall_domain::intake::{BoundingBox, Channel, IntakeInput, Reporter};
use townhall_domain::priority::Priority;
use townhall_domain::service::{AttributeDef, AttributeValueDef, Datatype, ServiceDefinition};
use townhall_domain::sla::SlaTarget;
use townhall_intake::{Intake, StatusChange};
use townhall_store::{Actor, Department, Jurisdiction, Store};

pub const DEMO_JURISDICTION: &str = "riverbend";
pub const CENTER: (f64, f64) = (39.7817, -89.6501);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedSummary {
    pub departments: usize,
    pub services: usize,
    pub requests: usize,
}

fn values(pairs: &[(&str, &str)]) -> Vec<AttributeValueDef> {
    pairs
        .iter()
        .map(|(k, n)| AttributeValueDef {
            key: (*k).to_owned(),
            name: (*n).to_owned(),
        })
        .collect()
}

fn attr(
    code: &str,
    datatype: Datatype,
    required: bool,
    order: i32,
    question: &str,
    vals: &[(&str, &str)],
) -> AttributeDef {
    AttributeDef {
        code: code.into(),
        variable: true,
        datatype,
        required,
        datatype_description: None,
        order,
        description: question.into(),
        values: values(vals),
    }
}

const YES_NO: &[(&str, &str)] = &[("yes", "Yes"), ("no", "No")];

struct Spec {
    code: &'static str,
    name: &'static str,
    group: &'static str,
    department: &'static str,
    sla: SlaTarget,
    priority: Priority,
    keywords: &'static [&'static str],
    description: &'static str,
    attributes: Vec<AttributeDef>,
    address_sensitive: bool,
    descriptions: &'static [&'static str],
    weight: u32,
}

fn specs() -> Vec<Spec> {
    vec![
        Spec {
            code: "pothole",
            name: "Pothole or road damage",
            group: "Streets",
            department: "public-works",
            sla: SlaTarget::business_days(7),
            priority: Priority::High,
            keywords: &["pothole", "road", "pavement", "bache", "calle"],
            description: "A hole, crack or sinking in a street or alley.",
            attributes: vec![
                attr(
                    "SIZE",
                    Datatype::Singlevaluelist,
                    true,
                    1,
                    "About how big is it?",
                    &[
                        ("small", "Smaller than a dinner plate"),
                        ("medium", "Up to a car tire"),
                        ("large", "Larger than a car tire"),
                    ],
                ),
                attr(
                    "HAZARD",
                    Datatype::Singlevaluelist,
                    false,
                    2,
                    "Is it in a traffic lane?",
                    YES_NO,
                ),
            ],
            address_sensitive: false,
            descriptions: &[
                "Deep pothole in the right lane, cars swerving around it",
                "Road surface crumbling near the crosswalk",
                "Pothole filled with water after the rain, hard to see at night",
                "Sinking pavement over the utility cut",
                "Bache grande frente a la escuela",
            ],
            weight: 30,
        },
        Spec {
            code: "streetlight",
            name: "Streetlight outage",
            group: "Streets",
            department: "utilities",
            sla: SlaTarget::business_days(5),
            priority: Priority::High,
            keywords: &["light", "lamp", "dark", "streetlight", "luz"],
            description: "A streetlight that is out, flickering or damaged.",
            attributes: vec![
                attr(
                    "POLE",
                    Datatype::String,
                    false,
                    1,
                    "Pole number (on a tag on the pole), if you can see it",
                    &[],
                ),
                attr(
                    "PROBLEM",
                    Datatype::Singlevaluelist,
                    true,
                    2,
                    "What is wrong?",
                    &[
                        ("out", "Light is out"),
                        ("flickering", "Flickering"),
                        ("day_burning", "On during the day"),
                        ("damaged", "Pole or fixture damaged"),
                    ],
                ),
            ],
            address_sensitive: false,
            descriptions: &[
                "Streetlight out on the corner, whole block is dark",
                "Light flickers on and off all night",
                "Lamp stays on during the day",
                "Pole leaning after a car hit it",
            ],
            weight: 22,
        },
        Spec {
            code: "graffiti",
            name: "Graffiti removal",
            group: "Neighborhoods",
            department: "parks",
            sla: SlaTarget::business_days(10),
            priority: Priority::Medium,
            keywords: &["graffiti", "tag", "vandalism", "paint"],
            description: "Graffiti on public property or visible from the street.",
            attributes: vec![
                attr(
                    "SURFACE",
                    Datatype::Singlevaluelist,
                    true,
                    1,
                    "Where is it?",
                    &[
                        ("public", "Public property (park, sign, bridge)"),
                        ("private", "Private building or fence"),
                    ],
                ),
                attr(
                    "OFFENSIVE",
                    Datatype::Singlevaluelist,
                    false,
                    2,
                    "Is it offensive or hateful?",
                    YES_NO,
                ),
            ],
            address_sensitive: false,
            descriptions: &[
                "Graffiti on the park restroom wall",
                "Tags painted on the bridge underpass",
                "Spray paint on the stop sign",
            ],
            weight: 14,
        },
        Spec {
            code: "abandoned-vehicle",
            name: "Abandoned vehicle",
            group: "Streets",
            department: "police-parking",
            sla: SlaTarget::hours(72),
            priority: Priority::High,
            keywords: &["car", "vehicle", "abandoned", "parking"],
            description: "A vehicle left on a public street for more than 72 hours.",
            attributes: vec![
                attr(
                    "PLATE",
                    Datatype::String,
                    true,
                    1,
                    "License plate (write UNKNOWN if there is none)",
                    &[],
                ),
                attr("MAKE_MODEL", Datatype::String, false, 2, "Make and model", &[]),
                attr("COLOR", Datatype::String, false, 3, "Color", &[]),
                attr(
                    "DAYS",
                    Datatype::Number,
                    false,
                    4,
                    "How many days has it been there?",
                    &[],
                ),
            ],
            address_sensitive: false,
            descriptions: &[
                "Car with flat tires has not moved in two weeks",
                "Van with expired plates parked in front of the hydrant",
                "Truck abandoned on the shoulder, windows broken",
            ],
            weight: 10,
        },
        Spec {
            code: "illegal-dumping",
            name: "Illegal dumping",
            group: "Sanitation",
            department: "sanitation",
            sla: SlaTarget::business_days(4),
            priority: Priority::High,
            keywords: &["dumping", "trash", "junk", "mattress", "basura"],
            description: "Trash, furniture or debris dumped on public property.",
            attributes: vec![attr(
                "MATERIALS",
                Datatype::Multivaluelist,
                true,
                1,
                "What was dumped?",
                &[
                    ("furniture", "Furniture or mattresses"),
                    ("appliances", "Appliances"),
                    ("tires", "Tires"),
                    ("construction", "Construction debris"),
                    ("household", "Household trash"),
                    ("hazardous", "Paint, oil or chemicals"),
                ],
            )],
            address_sensitive: false,
            descriptions: &[
                "Mattress and couch dumped in the alley",
                "Pile of tires behind the shopping center",
                "Construction debris left on the vacant lot",
            ],
            weight: 12,
        },
        Spec {
            code: "tree",
            name: "Tree trimming or hazard",
            group: "Parks & Trees",
            department: "parks",
            sla: SlaTarget::business_days(15),
            priority: Priority::Medium,
            keywords: &["tree", "branch", "limb", "arbol"],
            description: "A city tree that needs trimming or is a hazard.",
            attributes: vec![attr(
                "HAZARD",
                Datatype::Singlevaluelist,
                true,
                1,
                "Is it a hazard right now?",
                &[
                    ("blocking", "Blocking a street or sidewalk"),
                    ("wires", "Touching power lines"),
                    ("fallen", "Fallen or split"),
                    ("none", "No, it just needs trimming"),
                ],
            )],
            address_sensitive: false,
            descriptions: &[
                "Large branch hanging over the sidewalk",
                "Tree limb resting on power lines",
                "Dead tree leaning toward the playground",
            ],
            weight: 10,
        },
        Spec {
            code: "code-violation",
            name: "Code violation",
            group: "Neighborhoods",
            department: "code-enforcement",
            sla: SlaTarget::business_days(7),
            priority: Priority::Medium,
            keywords: &["code", "violation", "overgrown", "junk", "property"],
            description: "A property that breaks city code (overgrown, junk, unsafe structure).",
            attributes: vec![attr(
                "VIOLATION",
                Datatype::Singlevaluelist,
                true,
                1,
                "What kind of violation?",
                &[
                    ("overgrown", "Overgrown grass or weeds"),
                    ("junk", "Junk or trash in the yard"),
                    ("structure", "Unsafe structure"),
                    ("signs", "Illegal signs"),
                    ("other", "Something else"),
                ],
            )],
            address_sensitive: true,
            descriptions: &[
                "Grass over two feet tall, rats seen",
                "Yard full of old appliances and trash bags",
                "Porch roof collapsing over the front steps",
            ],
            weight: 10,
        },
        Spec {
            code: "missed-trash",
            name: "Missed trash pickup",
            group: "Sanitation",
            department: "sanitation",
            sla: SlaTarget::business_days(1),
            priority: Priority::Medium,
            keywords: &["trash", "garbage", "recycling", "pickup", "missed"],
            description: "Your cart was out on time but was not collected.",
            attributes: vec![
                attr(
                    "COLLECTION",
                    Datatype::Singlevaluelist,
                    true,
                    1,
                    "What was missed?",
                    &[("trash", "Trash"), ("recycling", "Recycling"), ("yard", "Yard waste")],
                ),
                attr(
                    "ROUTE_DAY",
                    Datatype::Singlevaluelist,
                    false,
                    2,
                    "Your collection day",
                    &[
                        ("mon", "Monday"),
                        ("tue", "Tuesday"),
                        ("wed", "Wednesday"),
                        ("thu", "Thursday"),
                        ("fri", "Friday"),
                    ],
                ),
            ],
            address_sensitive: true,
            descriptions: &[
                "Recycling cart not emptied this week",
                "Whole street skipped on trash day",
                "Yard waste bags left at the curb",
            ],
            weight: 16,
        },
        Spec {
            code: "water-sewer",
            name: "Water or sewer problem",
            group: "Water",
            department: "utilities",
            sla: SlaTarget::hours(48),
            priority: Priority::Critical,
            keywords: &["water", "leak", "sewer", "main", "flood", "agua"],
            description: "Water main breaks, leaks, no water, sewer backups. Call 911 if anyone is in danger.",
            attributes: vec![
                attr(
                    "ISSUE",
                    Datatype::Singlevaluelist,
                    true,
                    1,
                    "What is happening?",
                    &[
                        ("main_break", "Water gushing from the street"),
                        ("leak", "Leak or wet spot"),
                        ("no_water", "No water at my address"),
                        ("sewer_backup", "Sewer backing up"),
                        ("manhole", "Missing or loose manhole cover"),
                    ],
                ),
                attr(
                    "EMERGENCY",
                    Datatype::Singlevaluelist,
                    true,
                    2,
                    "Is water flowing into a street or building?",
                    YES_NO,
                ),
            ],
            address_sensitive: false,
            descriptions: &[
                "Water bubbling up through the pavement",
                "Sewer backing up into basements on the block",
                "Manhole cover missing in the bike lane",
            ],
            weight: 12,
        },
    ]
}

const DEPARTMENTS: &[(&str, &str, &str)] = &[
    ("public-works", "Public Works", "Streets, sidewalks and road repair."),
    ("utilities", "Utilities", "Water, sewer and street lighting."),
    (
        "parks",
        "Parks & Urban Forestry",
        "Parks, city trees and graffiti removal.",
    ),
    (
        "police-parking",
        "Police – Parking Enforcement",
        "Abandoned vehicles and parking.",
    ),
    ("sanitation", "Sanitation", "Trash, recycling and illegal dumping."),
    (
        "code-enforcement",
        "Code Enforcement",
        "Property maintenance and building code.",
    ),
];

const FIRST: &[&str] = &[
    "Ana", "Marcus", "Priya", "Tomás", "Keisha", "Wen", "Olga", "Dmitri", "Fatima", "Liam", "Rosa", "Jamal", "Mei",
    "Hugo", "Aisha", "Noah",
];
const LAST: &[&str] = &[
    "Alvarez",
    "Okafor",
    "Nguyen",
    "Schmidt",
    "Haddad",
    "Kowalski",
    "Brennan",
    "Moreau",
    "Tanaka",
    "Osei",
    "Lindqvist",
    "Romero",
];
const STREETS: &[&str] = &[
    "Elm St",
    "Oak Ave",
    "Maple Dr",
    "Lincoln Blvd",
    "Washington St",
    "River Rd",
    "Cedar Ln",
    "Adams St",
    "Monroe St",
    "Jefferson Ave",
    "Walnut St",
    "Grand Ave",
];

fn holidays() -> Vec<NaiveDate> {
    [
        (2026, 1, 1),
        (2026, 1, 19),
        (2026, 5, 25),
        (2026, 7, 3),
        (2026, 9, 7),
        (2026, 11, 11),
        (2026, 11, 26),
        (2026, 11, 27),
        (2026, 12, 25),
        (2027, 1, 1),
        (2027, 1, 18),
        (2027, 5, 31),
    ]
    .iter()
    .filter_map(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
    .collect()
}

/// The demo jurisdiction's catalog: departments and the nine services.
pub async fn seed_catalog(store: &Store, now: DateTime<Utc>) -> anyhow::Result<(usize, usize)> {
    let (lat, long) = CENTER;
    store
        .upsert_jurisdiction(
            &Jurisdiction {
                id: DEMO_JURISDICTION.into(),
                name: "City of Riverbend".into(),
                timezone: chrono_tz::America::Chicago,
                bounds: Some(BoundingBox {
                    min_lat: lat - 0.15,
                    min_long: long - 0.2,
                    max_lat: lat + 0.15,
                    max_long: long + 0.2,
                }),
                holidays: holidays(),
                is_default: true,
            },
            now,
        )
        .await?;
    for (code, name, description) in DEPARTMENTS {
        store
            .upsert_department(
                &Department {
                    jurisdiction_id: DEMO_JURISDICTION.into(),
                    code: (*code).into(),
                    name: (*name).into(),
                    description: (*description).into(),
                    email: Some(format!("{code}@riverbend.example")),
                },
                now,
            )
            .await?;
    }
    let specs = specs();
    for (i, s) in specs.iter().enumerate() {
        // A service owned by an installed plugin keeps its owner.
        if let Ok(existing) = store.service(DEMO_JURISDICTION, s.code).await
            && existing.plugin_id.is_some()
        {
            continue;
        }
        store
            .upsert_service(
                &ServiceDefinition {
                    jurisdiction_id: DEMO_JURISDICTION.into(),
                    code: s.code.into(),
                    name: s.name.into(),
                    description: s.description.into(),
                    group: Some(s.group.into()),
                    keywords: s.keywords.iter().map(|k| (*k).to_owned()).collect(),
                    attributes: s.attributes.clone(),
                    default_priority: s.priority,
                    sla: s.sla,
                    department_id: Some(s.department.into()),
                    plugin_id: None,
                    active: true,
                    public: true,
                    address_sensitive: s.address_sensitive,
                    anonymous_allowed: true,
                    answers_with_token: false,
                },
                i32::try_from(i).unwrap_or(0),
                now,
            )
            .await?;
    }
    Ok((DEPARTMENTS.len(), specs.len()))
}

fn answers(spec: &Spec, rng: &mut StdRng) -> std::collections::BTreeMap<String, AttributeInput> {
    let mut out = std::collections::BTreeMap::new();
    for a in &spec.attributes {
        if !a.required && rng.random_bool(0.4) {
            continue;
        }
        let v = match a.datatype {
            Datatype::Singlevaluelist => AttributeInput::One(a.values[rng.random_range(0..a.values.len())].key.clone()),
            Datatype::Multivaluelist => {
                let n = rng.random_range(1..=2.min(a.values.len()));
                AttributeInput::Many(
                    (0..n)
                        .map(|_| a.values[rng.random_range(0..a.values.len())].key.clone())
                        .collect(),
                )
            }
            Datatype::Number => AttributeInput::One(rng.random_range(3..30).to_string()),
            Datatype::String if a.code == "PLATE" => AttributeInput::One(format!(
                "RB{}{:04}",
                ["K", "M", "T", "X"][rng.random_range(0..4)],
                rng.random_range(0..10_000)
            )),
            Datatype::String if a.code == "POLE" => {
                AttributeInput::One(format!("SL-{:05}", rng.random_range(0..40_000)))
            }
            Datatype::String => AttributeInput::One(
                ["Blue", "Silver", "Ford Taurus", "Honda Civic", "White"][rng.random_range(0..5)].to_owned(),
            ),
            Datatype::Text | Datatype::Datetime => continue,
        };
        out.insert(a.code.clone(), v);
    }
    out
}

/// The workflow a demo request went through: (hours after submission, step).
fn storyline(rng: &mut StdRng, age_hours: i64) -> Vec<(i64, Status, Option<&'static str>, Option<&'static str>)> {
    let mut steps = vec![];
    let roll: f64 = rng.random();
    let closing = [
        (Status::Fixed, Some("Repaired. Thank you for reporting it."), None),
        (Status::Closed, Some("Work completed."), Some("Crew confirmed on site.")),
        (
            Status::NotResponsible,
            Some("This is on private property; we have contacted the owner."),
            None,
        ),
        (
            Status::NoFurtherAction,
            Some("Inspected; no action needed at this time."),
            Some("Checked twice, could not find it."),
        ),
    ];
    if roll < 0.15 || age_hours < 6 {
        return steps;
    }
    steps.push((rng.random_range(1..6), Status::Acknowledged, None, None));
    if roll < 0.3 {
        return steps;
    }
    steps.push((
        rng.random_range(6..30),
        Status::InProgress,
        None,
        Some("Assigned to the morning crew."),
    ));
    if roll < 0.45 {
        return steps;
    }
    steps.push((
        rng.random_range(30..70),
        Status::ActionScheduled,
        Some("Work is scheduled for this week."),
        None,
    ));
    if roll < 0.55 {
        return steps;
    }
    let (st, public, internal) = closing[rng.random_range(0..closing.len())];
    steps.push((rng.random_range(70..200), st, public, internal));
    if roll > 0.97 {
        steps.push((
            rng.random_range(200..260),
            Status::Reopened,
            Some("Reopened: the problem came back."),
            None,
        ));
    }
    steps.retain(|(h, ..)| *h < age_hours);
    steps
}

/// Loads the demo jurisdiction and, when it has none yet, ~200 requests.
/// `consumers` are the outbox consumers the server runs with (so the demo's
/// requests get indexed like any other).
pub async fn seed_demo(store: &Store, now: DateTime<Utc>, consumers: &[String]) -> anyhow::Result<SeedSummary> {
    let (departments, services) = seed_catalog(store, now).await?;
    if store.has_requests(DEMO_JURISDICTION).await? {
        return Ok(SeedSummary {
            departments,
            services,
            requests: 0,
        });
    }
    let clock = Arc::new(ManualClock::new(now));
    let mut intake = Intake::new(store.clone(), clock.clone() as Arc<dyn Clock>);
    for c in consumers {
        intake = intake.with_consumer(c.clone());
    }
    // Services a plugin owns by now are left out of the generated requests:
    // their forms are the plugin's, and seeding runs without the plugin host.
    let mut specs = specs();
    let mut owned = Vec::new();
    for s in &specs {
        if store
            .service(DEMO_JURISDICTION, s.code)
            .await
            .is_ok_and(|d| d.plugin_id.is_some())
        {
            owned.push(s.code);
        }
    }
    specs.retain(|s| !owned.contains(&s.code));
    if specs.is_empty() {
        return Ok(SeedSummary {
            departments,
            services,
            requests: 0,
        });
    }
    let total_weight: u32 = specs.iter().map(|s| s.weight).sum::<u32>().max(1);
    let mut rng = StdRng::seed_from_u64(311);
    let start = now - Duration::days(60);
    // Submission times, in order, so history is chronological.
    let mut times: Vec<DateTime<Utc>> = (0..200)
        .map(|_| start + Duration::minutes(rng.random_range(0..60 * 24 * 60)))
        .collect();
    times.sort();
    let mut plans = Vec::new();
    for at in times {
        let mut pick = rng.random_range(0..total_weight);
        let spec = specs
            .iter()
            .find(|s| {
                if pick < s.weight {
                    true
                } else {
                    pick -= s.weight;
                    false
                }
            })
            .unwrap_or(&specs[0]);
        let (lat, long) = CENTER;
        let dlat = rng.random_range(-0.03..0.03);
        let dlong = rng.random_range(-0.04..0.04);
        let reporter = if rng.random_bool(0.85) {
            let first = FIRST[rng.random_range(0..FIRST.len())];
            let last = LAST[rng.random_range(0..LAST.len())];
            Reporter {
                first_name: Some(first.into()),
                last_name: Some(last.into()),
                email: Some(format!(
                    "{}.{}@example.com",
                    first.to_lowercase().replace('á', "a"),
                    last.to_lowercase()
                )),
                phone: Some(format!("+1 217 555 01{:02}", rng.random_range(0..100))),
                user_id: None,
            }
        } else {
            Reporter::default()
        };
        let input = IntakeInput {
            service_code: spec.code.into(),
            description: Some(spec.descriptions[rng.random_range(0..spec.descriptions.len())].into()),
            lat: Some(lat + dlat),
            long: Some(long + dlong),
            address: Some(format!(
                "{} {}",
                rng.random_range(1..40) * 100 + rng.random_range(0..99),
                STREETS[rng.random_range(0..STREETS.len())]
            )),
            address_id: None,
            zipcode: Some(format!("6270{}", rng.random_range(1..9))),
            attributes: answers(spec, &mut rng),
            media_url: None,
            reporter,
            device_id: None,
        };
        let channel = [
            Channel::Web,
            Channel::Web,
            Channel::Mobile,
            Channel::Open311,
            Channel::Phone,
        ][rng.random_range(0..5)];
        let story = storyline(&mut rng, (now - at).num_hours());
        plans.push((at, input, channel, story));
    }

    // Submit everything, then play the workflow steps in time order.
    let mut steps = Vec::new();
    let mut count = 0;
    for (at, input, channel, story) in plans {
        clock.set(at);
        let sub = intake
            .submit(Some(DEMO_JURISDICTION), input, channel, Actor::reporter())
            .await?;
        count += 1;
        for (h, st, public, internal) in story {
            steps.push((at + Duration::hours(h), sub.request.id, st, public, internal));
        }
    }
    steps.sort_by_key(|(t, id, ..)| (*t, *id));
    let staff = Actor::system();
    for (t, id, st, public, internal) in steps {
        clock.set(t.min(now));
        intake
            .change_status(
                DEMO_JURISDICTION,
                id,
                StatusChange {
                    to: st,
                    public_note: public.map(str::to_owned),
                    internal_note: internal.map(str::to_owned),
                },
                staff.clone(),
            )
            .await?;
        if st == Status::InProgress {
            intake
                .assign(
                    DEMO_JURISDICTION,
                    id,
                    None,
                    Some(format!("Crew {}", ["A", "B", "C"][(id.as_u128() % 3) as usize])),
                    staff.clone(),
                )
                .await?;
        }
    }
    Ok(SeedSummary {
        departments,
        services,
        requests: count,
    })
}

/// A fixed "now" for reproducible demo data in tests.
pub fn demo_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
}
