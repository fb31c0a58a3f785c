use serde_json::{Value, json};
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::{SUBMIT, TestApp};

fn pothole(over: Value) -> Value {
    let mut input = json!({
        "serviceCode": "pothole",
        "description": "Deep hole near the school",
        "lat": 39.78, "long": -89.65,
        "attributes": { "SIZE": "medium" }
    });
    for (k, v) in over.as_object().unwrap() {
        input[k] = v.clone();
    }
    json!({ "input": input })
}

async fn total(app: &TestApp) -> u64 {
    app.data("{ serviceRequests { totalCount } }", json!({})).await["serviceRequests"]["totalCount"]
        .as_u64()
        .unwrap()
}

both_databases!(
    submit_returns_a_tracking_number_and_the_request_reads_back,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        let r = app.submit_pothole("Pothole big enough to swallow a tire").await;
        let tn = r["trackingNumber"].as_str().unwrap();
        assert!(regex_like_tracking(tn), "{tn}");
        assert_eq!(r["status"], "OPEN");
        assert_eq!(r["priority"], "HIGH");
        assert_eq!(r["department"]["code"], "public-works");
        assert!(r["expectedAt"].is_string());

        let q = "query($t: String, $i: ID) { serviceRequest(trackingNumber: $t, id: $i) { id trackingNumber description open311Status attributes reporter { email } history { kind toStatus } } }";
        let by_tn = app.data(q, json!({ "t": tn })).await;
        let by_id = app.data(q, json!({ "i": r["id"] })).await;
        assert_eq!(by_tn, by_id);
        let sr = &by_tn["serviceRequest"];
        assert_eq!(sr["description"], "Pothole big enough to swallow a tire");
        assert_eq!(sr["open311Status"], "OPEN");
        assert_eq!(sr["attributes"], json!({ "SIZE": "large", "HAZARD": "yes" }));
        assert!(sr["reporter"].is_null(), "the public never sees the reporter: {sr}");
        assert_eq!(sr["history"], json!([{ "kind": "CREATED", "toStatus": "OPEN" }]));
        // The id form is a UUIDv7.
        assert_eq!(r["id"].as_str().unwrap().chars().nth(14), Some('7'));
    }
);

fn regex_like_tracking(s: &str) -> bool {
    let (y, n) = s.split_once('-').unwrap_or(("", ""));
    y.len() == 4 && n.len() >= 6 && y.chars().chain(n.chars()).all(|c| c.is_ascii_digit())
}

both_databases!(
    bad_input_gets_precise_codes_and_writes_nothing,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        let before = total(&app).await;
        let cases = [
            (pothole(json!({ "lat": 95.0 })), "INVALID_COORDINATES"),
            (pothole(json!({ "long": -200.0 })), "INVALID_COORDINATES"),
            (
                pothole(json!({ "lat": 45.0, "long": -120.0 })),
                "LOCATION_OUTSIDE_JURISDICTION",
            ),
            (pothole(json!({ "serviceCode": "unicorn-sighting" })), "UNKNOWN_SERVICE"),
            (pothole(json!({ "description": "" })), "DESCRIPTION_EMPTY"),
            (
                pothole(json!({ "description": "x".repeat(4001) })),
                "DESCRIPTION_TOO_LONG",
            ),
            (pothole(json!({ "description": "<b>bold</b>" })), "DESCRIPTION_MARKUP"),
            (pothole(json!({ "attributes": {} })), "ATTRIBUTE_REQUIRED"),
            (
                pothole(json!({ "attributes": { "SIZE": "gigantic" } })),
                "ATTRIBUTE_INVALID_VALUE",
            ),
            (
                pothole(json!({ "attributes": { "SIZE": "small", "COLOR": "red" } })),
                "ATTRIBUTE_UNKNOWN",
            ),
            (pothole(json!({ "lat": null, "long": null })), "LOCATION_REQUIRED"),
            (pothole(json!({ "reporter": { "email": "nope" } })), "INVALID_EMAIL"),
        ];
        for (vars, code) in cases {
            assert_eq!(app.error_code(SUBMIT, vars.clone()).await, code, "{vars}");
        }
        // Several problems come back together, each with its field.
        let body = app
            .gql(
                SUBMIT,
                pothole(json!({ "lat": 95.0, "description": "", "attributes": {} })),
            )
            .await;
        let fields: Vec<&str> = body["errors"][0]["extensions"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["DESCRIPTION_EMPTY", "INVALID_COORDINATES", "ATTRIBUTE_REQUIRED"]
        );
        // Malformed ids.
        let code = app
            .error_code("{ serviceRequest(id: \"12; DROP TABLE\") { id } }", json!({}))
            .await;
        assert_eq!(code, "MALFORMED_ID");
        let code = app
            .error_code(
                "{ serviceRequest(id: \"x\", trackingNumber: \"2026-000001\") { id } }",
                json!({}),
            )
            .await;
        assert_eq!(code, "INVALID_ARGUMENT");
        assert_eq!(total(&app).await, before, "a refused submission wrote something");
        // And the server keeps serving.
        app.submit_pothole("still works").await;
        assert_eq!(total(&app).await, before + 1);
    }
);

both_databases!(listing_filters_and_cursor_pagination, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    // Walk every page: no duplicates, no gaps.
    let mut seen = std::collections::HashSet::new();
    let mut after: Option<String> = None;
    let q = "query($after: String) { serviceRequests(first: 37, after: $after) { pageInfo { hasNextPage endCursor } edges { cursor node { id requestedAt } } } }";
    let mut last_time: Option<String> = None;
    loop {
        let d = app.data(q, json!({ "after": after })).await;
        let conn = &d["serviceRequests"];
        for e in conn["edges"].as_array().unwrap() {
            assert!(seen.insert(e["node"]["id"].as_str().unwrap().to_owned()));
            let t = e["node"]["requestedAt"].as_str().unwrap().to_owned();
            if let Some(prev) = &last_time {
                assert!(t <= *prev, "newest first");
            }
            last_time = Some(t);
        }
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 200);

    let count = |filter: Value| {
        let app = &app;
        async move {
            app.data(
                "query($f: RequestFilter) { serviceRequests(filter: $f) { totalCount } }",
                json!({ "f": filter }),
            )
            .await["serviceRequests"]["totalCount"]
                .as_u64()
                .unwrap()
        }
    };
    let open = count(json!({ "open311Status": "OPEN" })).await;
    let closed = count(json!({ "open311Status": "CLOSED" })).await;
    assert_eq!(open + closed, 200);
    assert!(open > 0 && closed > 0);
    let potholes = count(json!({ "serviceCodes": ["pothole"] })).await;
    let pw = count(json!({ "departmentCodes": ["public-works"] })).await;
    assert_eq!(potholes, pw);
    let fixed_or_closed = count(json!({ "statuses": ["FIXED", "CLOSED"] })).await;
    assert!(fixed_or_closed <= closed);
    assert_eq!(
        count(json!({ "statuses": ["OPEN"], "open311Status": "CLOSED" })).await,
        0
    );
    let north =
        count(json!({ "bbox": { "minLat": 39.7817, "minLong": -90.0, "maxLat": 40.0, "maxLong": -89.0 } })).await;
    let south =
        count(json!({ "bbox": { "minLat": 39.0, "minLong": -90.0, "maxLat": 39.78169, "maxLong": -89.0 } })).await;
    assert_eq!(north + south, 200);
    let all = count(json!({ "requestedFrom": "2000-01-01T00:00:00Z", "requestedTo": "2100-01-01T00:00:00Z" })).await;
    assert_eq!(all, 200);
    assert_eq!(count(json!({ "requestedTo": "2000-01-01T00:00:00Z" })).await, 0);

    for (query, code) in [
        ("{ serviceRequests(first: 0) { totalCount } }", "INVALID_ARGUMENT"),
        ("{ serviceRequests(first: 101) { totalCount } }", "INVALID_ARGUMENT"),
        (
            "{ serviceRequests(after: \"garbage!\") { totalCount } }",
            "INVALID_CURSOR",
        ),
        (
            "{ serviceRequests(filter: { bbox: { minLat: 50, minLong: 0, maxLat: 40, maxLong: 1 } }) { totalCount } }",
            "INVALID_BOUNDING_BOX",
        ),
        (
            "{ serviceRequests(filter: { requestedFrom: \"2026-02-01T00:00:00Z\", requestedTo: \"2026-01-01T00:00:00Z\" }) { totalCount } }",
            "INVALID_DATE_RANGE",
        ),
        (
            "{ serviceRequests(filter: { mine: true }) { totalCount } }",
            "UNAUTHENTICATED",
        ),
    ] {
        assert_eq!(app.error_code(query, json!({})).await, code, "{query}");
    }
});
