use townhall_sdk::testing::MockHost;

use super::*;

fn demo() -> MockHost {
    let config: serde_json::Value =
        serde_json::from_str(include_str!("../demo-config.json")).expect("demo config is JSON");
    MockHost::new().config(config)
}

fn defaults() -> Routing {
    Routing {
        department: Some(PUBLIC_WORKS.into()),
        priority: Priority::High,
        queue: None,
        sla: Sla::BusinessDays(7),
    }
}

fn pothole(lat: f64, long: f64) -> Intake {
    Intake {
        service_code: POTHOLE.into(),
        description: Some("Deep hole".into()),
        location: Some(Location { lat, long }),
        channel: "web".into(),
        ..Intake::default()
    }
    .with_answer("hazard_in_lane", "no")
    .with_answer("size", "small")
}

#[test]
fn manifest_declares_three_services_and_no_capabilities() {
    let m = PublicWorks::manifest();
    let codes: Vec<_> = m.services.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(codes, [POTHOLE, ROAD_DAMAGE, STREETLIGHT]);
    assert_eq!(m.services[2].department, UTILITIES);
    assert!(m.capabilities.is_empty());
    for c in &m.capabilities {
        townhall_sdk::capability::check(c).unwrap();
    }
}

#[test]
fn routes_to_the_district_crew_with_configured_sla() {
    let host = demo();
    // North-east of the center.
    let r = host.route::<PublicWorks>(&pothole(39.80, -89.62), defaults());
    assert_eq!(r.department.as_deref(), Some(PUBLIC_WORKS));
    assert_eq!(r.queue.as_deref(), Some("streets-northeast"));
    assert_eq!(r.priority, Priority::High);
    assert_eq!(r.sla, Sla::BusinessDays(5));
    // South-west.
    let r = host.route::<PublicWorks>(&pothole(39.75, -89.70), defaults());
    assert_eq!(r.queue.as_deref(), Some("streets-southwest"));
    // Outside every district: the dispatch crew.
    let r = host.route::<PublicWorks>(&pothole(40.5, -89.0), defaults());
    assert_eq!(r.queue.as_deref(), Some("streets-dispatch"));
    assert!(host.logs().iter().any(|l| l.message == "routed"));
}

#[test]
fn hazards_raise_priority_and_shorten_the_sla() {
    let host = demo();
    let mut i = pothole(39.80, -89.62);
    i.answers.clear();
    let i = i.with_answer("hazard_in_lane", "yes").with_answer("size", "small");
    let r = host.route::<PublicWorks>(&i, defaults());
    assert_eq!(r.priority, Priority::Critical);
    assert_eq!(r.sla, Sla::BusinessDays(1));
}

#[test]
fn streetlights_go_to_utilities_lighting_crews() {
    let host = demo();
    let i = Intake {
        service_code: STREETLIGHT.into(),
        location: Some(Location {
            lat: 39.79,
            long: -89.70,
        }),
        ..Intake::default()
    }
    .with_answer("pole_number", "SL-10423")
    .with_answer("problem", "out");
    host.validate::<PublicWorks>(&i).unwrap();
    let r = host.route::<PublicWorks>(&i, defaults());
    assert_eq!(r.department.as_deref(), Some(UTILITIES));
    assert_eq!(r.queue.as_deref(), Some("lighting-northwest"));
    assert_eq!(r.sla, Sla::BusinessDays(3));
}

#[test]
fn validation_reports_each_problem() {
    let host = demo();
    let mut i = pothole(0.0, 0.0);
    i.location = None;
    let i = i.with_answer("depth_inches", "90");
    let errors = host.validate::<PublicWorks>(&i).unwrap_err();
    let codes: Vec<_> = errors.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["LOCATION_REQUIRED", "DEPTH_OUT_OF_RANGE"]);

    let light = Intake {
        service_code: STREETLIGHT.into(),
        address: Some("1 Main St".into()),
        ..Intake::default()
    }
    .with_answer("pole_number", "pole #7!");
    let errors = host.validate::<PublicWorks>(&light).unwrap_err();
    assert_eq!(errors[0].field, "attribute[pole_number]");
    assert_eq!(errors[0].code, "INVALID_POLE_NUMBER");
}

#[test]
fn outside_districts_can_be_refused() {
    let mut config: serde_json::Value = serde_json::from_str(include_str!("../demo-config.json")).unwrap();
    config["reject_outside_districts"] = serde_json::Value::Bool(true);
    let host = MockHost::new().config(config);
    let errors = host.validate::<PublicWorks>(&pothole(41.0, -87.6)).unwrap_err();
    assert_eq!(errors[0].code, "OUTSIDE_SERVICE_AREA");
    host.validate::<PublicWorks>(&pothole(39.78, -89.65)).unwrap();
}

fn event(to: &str, by_self: bool) -> Event {
    Event {
        topic: "request.status_changed".into(),
        request_id: "0190".into(),
        tracking_number: "2026-000042".into(),
        service_code: POTHOLE.into(),
        status: to.into(),
        priority: Priority::High,
        department: Some(PUBLIC_WORKS.into()),
        queue: Some("streets-northeast".into()),
        location: None,
        changes: vec![Change {
            kind: "status_changed".into(),
            from_status: Some("open".into()),
            to_status: Some(to.into()),
            public_note: None,
        }],
        by_self,
        occurred_at: 0,
    }
}

#[test]
fn posts_a_public_note_when_work_is_scheduled() {
    let host = demo();
    let actions = host.on_event::<PublicWorks>(&event("action_scheduled", false));
    assert_eq!(
        actions,
        vec![Action::public_note(
            "Good news: work on 2026-000042 is scheduled. The streets-northeast crew will take care of it."
        )]
    );
    assert!(host.on_event::<PublicWorks>(&event("fixed", false)).is_empty());
    assert!(
        host.on_event::<PublicWorks>(&event("action_scheduled", true))
            .is_empty()
    );
    // It asked for nothing it was not granted.
    assert!(host.denials().is_empty());
}

#[test]
fn a_broken_configuration_falls_back_to_defaults() {
    let host = MockHost::new().config(serde_json::json!({"districts": 7}));
    let r = host.route::<PublicWorks>(&pothole(39.8, -89.6), defaults());
    assert_eq!(r.queue, None);
    assert_eq!(r.sla, Sla::BusinessDays(7));
    assert!(host.logs().iter().any(|l| l.level == Level::Error));
}

#[test]
fn reading_the_configuration_for_a_location_finds_what_searching_it_later_finds() {
    let text = include_str!("../demo-config.json");
    let kept = Config::read(text, None).unwrap();
    assert!(matches!(kept.districts, Some(Districts::Text(_))));
    let host = demo();
    let mut names = std::collections::BTreeSet::new();
    for lat in [39.60, 39.70, 39.7017, 39.75, 39.7817, 39.80, 39.85, 39.95] {
        for long in [-89.80, -89.7501, -89.70, -89.6501, -89.62, -89.5501, -89.50] {
            let at = Location { lat, long };
            let read = Config::read(text, Some(at)).unwrap();
            let Some(Districts::Searched { at: searched_at, found }) = &read.districts else {
                panic!("districts not searched while reading: {:?}", read.districts);
            };
            assert_eq!(*searched_at, at);
            let later = host.run(|| district(&kept, at));
            assert_eq!(*found, later, "at {lat},{long}");
            assert_eq!(host.run(|| district(&read, at)), later);
            names.insert(later.map_or_else(|| "none".to_owned(), |d| d.name));
            assert_eq!(read.sla_business_days, kept.sla_business_days);
            assert_eq!(read.default_crews, kept.default_crews);
            assert_eq!(read.scheduled_note, kept.scheduled_note);
        }
    }
    // Every ward and the outside were among the points.
    assert_eq!(names.len(), 5, "{names:?}");
    // Asked about another location than it was read for, it reads the
    // text again instead of answering for the wrong place.
    let read = Config::read(
        text,
        Some(Location {
            lat: 39.80,
            long: -89.62,
        }),
    )
    .unwrap();
    let elsewhere = Location {
        lat: 39.75,
        long: -89.70,
    };
    assert_eq!(
        host.run(|| district(&read, elsewhere)).map(|d| d.name),
        Some("Ward 3 - Southwest".to_owned())
    );
}

#[test]
fn malformed_districts_leave_the_rest_of_the_configuration_working() {
    let config = serde_json::json!({
        "districts": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "A"}, "geometry": {"type": "Polygon", "coordinates": "oops"}}
        ]},
        "default_crews": {"public-works": "streets-dispatch"},
        "sla_business_days": {"pothole": 4}
    });
    let at = Location {
        lat: 39.80,
        long: -89.62,
    };
    let read = Config::read(&config.to_string(), Some(at)).unwrap();
    assert!(matches!(read.districts, Some(Districts::Text(_))));
    let host = MockHost::new().config(config);
    let r = host.route::<PublicWorks>(&pothole(at.lat, at.long), defaults());
    assert_eq!(r.queue.as_deref(), Some("streets-dispatch"));
    assert_eq!(r.sla, Sla::BusinessDays(4));
    assert!(
        host.logs().iter().any(|l| l.message.starts_with("invalid districts")),
        "{:?}",
        host.logs()
    );
    // A configuration that is wrong outside the districts is still refused.
    assert!(Config::read(r#"{"sla_business_days": {"pothole": 4}, "typo": 1}"#, Some(at)).is_err());
    assert!(
        Config::read(r#"{"districts": null}"#, Some(at))
            .unwrap()
            .districts
            .is_none()
    );
}
