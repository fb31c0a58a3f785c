//! Open311 GeoReport v2 at `/open311/v2/`, end to end: the published JSON
//! Schemas and the XML mirror (`tests/open311/conformance.py`), third-party
//! clients from PyPI (`tests/open311/client.py`), schemathesis fuzzing the
//! OpenAPI document, and the rules a conforming server must keep:
//! submissions through the intake pipeline, privacy, token mode, photos,
//! the updates feed.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use townhall_plugin_fixtures::{PUBLIC_WORKS, PUBLIC_WORKS_CONFIG};
use townhall_testkit::{TestDb, both_databases, workspace_root};

use crate::helpers::TestApp;

const J: &str = "riverbend";
/// A service configured to answer with a token.
const TOKEN_SERVICE: &str = "bulky-pickup";
/// A service whose requests are not public.
const HIDDEN_SERVICE: &str = "internal-inspection";

async fn key(app: &TestApp, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    app.app()
        .access
        .create_api_key("open311 test client", &scopes, None)
        .await
        .unwrap()
        .1
}

/// Adds a token-mode service and a non-public one to the demo catalog.
async fn extra_services(app: &TestApp) {
    let store = &app.app().store;
    let base = store.service(J, "missed-trash").await.unwrap();
    let mut token = base.clone();
    token.code = TOKEN_SERVICE.into();
    token.name = "Bulky item pickup".into();
    token.description = "Furniture or appliances to collect at the curb.".into();
    token.answers_with_token = true;
    token.address_sensitive = false;
    token.attributes = vec![];
    store.upsert_service(&token, 50, Utc::now()).await.unwrap();
    let mut hidden = base;
    hidden.code = HIDDEN_SERVICE.into();
    hidden.name = "Internal inspection".into();
    hidden.public = false;
    hidden.address_sensitive = false;
    hidden.attributes = vec![];
    store.upsert_service(&hidden, 51, Utc::now()).await.unwrap();
}

fn url(app: &TestApp, path: &str) -> String {
    app.url(&format!("/open311/v2{path}"))
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = app.client.get(url(app, path)).send().await.unwrap();
    let s = r.status();
    (s, r.text().await.unwrap())
}

async fn get_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let (s, body) = get(app, path).await;
    (
        s,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}")),
    )
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = app.client.post(url(app, path)).form(form).send().await.unwrap();
    let s = r.status();
    let body = r.text().await.unwrap();
    (
        s,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}")),
    )
}

fn codes(errors: &Value) -> Vec<String> {
    errors
        .as_array()
        .unwrap_or_else(|| panic!("not an error list: {errors}"))
        .iter()
        .map(|e| {
            assert!(e["description"].is_string(), "{e}");
            e["code"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn python(script: &str, args: &[&str]) -> String {
    let py = townhall_testkit::python();
    let path = workspace_root().join("tests/open311").join(script);
    let out = tokio::process::Command::new(py)
        .arg(path)
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    stdout
}

both_databases!(
    open311_every_endpoint_matches_the_published_schemas_in_xml_and_json,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        extra_services(&app).await;
        let k = key(&app, &["open311:write"]).await;
        let out = python("conformance.py", &[&app.base, &k, TOKEN_SERVICE]).await;
        assert!(out.contains("every endpoint in XML and JSON: OK"), "{out}");
        assert!(
            out.contains("multivaluelist") && out.contains("number") && out.contains("singlevaluelist"),
            "{out}"
        );
    }
);

both_databases!(
    open311_third_party_clients_list_submit_resolve_and_read_back,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        extra_services(&app).await;
        let k = key(&app, &["open311:write"]).await;
        let out = python("client.py", &[&app.base, &k, TOKEN_SERVICE]).await;
        assert!(out.contains("read back in JSON and XML: OK"), "{out}");
    }
);

both_databases!(
    open311_schemathesis_finds_no_server_error_and_no_schema_violation,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        extra_services(&app).await;
        let k = key(&app, &["open311:write", "requests:update"]).await;
        let st = townhall_testkit::python().with_file_name("st");
        let report = app.data_dir.join("schemathesis");
        let out = tokio::process::Command::new(st)
            .args(["run", &url(&app, "/openapi.json"), "--url", &url(&app, "")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples",
                "40",
                "--phases",
                "examples,coverage,fuzzing",
                "--workers",
                "2",
                "--seed",
                "311",
                "--request-timeout",
                "20",
                "--max-time",
                "100",
                "--generation-allow-x00",
                "false",
                "--report-dir",
            ])
            .arg(&report)
            .args(["-H", &format!("Authorization: Bearer {k}")])
            // Its `.schemathesis` cache goes to the test's folder, not the repository.
            .current_dir(&app.data_dir)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "schemathesis found problems:\n{stdout}\n{stderr}");
        eprintln!("{stdout}");
        assert!(!stdout.contains("No test cases"), "{stdout}");
        // It really exercised the API (every operation, hundreds of cases).
        assert!(
            stdout.contains("createRequest") || stdout.contains("POST /requests.json"),
            "{stdout}"
        );
    }
);

both_databases!(
    open311_submissions_go_through_the_pipeline_and_keep_reporters_private,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        let k = key(&app, &["open311:write"]).await;
        // A multivaluelist and a number, as form fields.
        let (s, body) = post_form(
            &app,
            "/requests.json",
            &[
                ("api_key", k.as_str()),
                ("service_code", "illegal-dumping"),
                ("lat", "39.781"),
                ("long", "-89.651"),
                ("address_string", "400 Oak Ave"),
                ("description", "Couch and four tires behind the library"),
                ("attribute[MATERIALS][]", "furniture"),
                ("attribute[MATERIALS][]", "tires"),
                ("first_name", "Zelda"),
                ("last_name", "Quartermaine"),
                ("email", "zelda.q@example.net"),
                ("phone", "+1 217 555 0142"),
                ("device_id", "device-123"),
                ("account_id", "acct-77"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let id = body[0]["service_request_id"].as_str().unwrap().to_owned();
        assert!(
            body[0]["service_notice"].as_str().unwrap().contains("business days"),
            "{body}"
        );
        assert!(body[0]["account_id"].is_null());

        // It went through the one pipeline: the GraphQL view has the normalized
        // answers, the channel, the routing, and the (private) reporter.
        let admin = app.admin().await;
        let d = app
        .data_as(
            &admin,
            "query($t: String) { serviceRequest(trackingNumber: $t) { channel attributes department { code } reporter { email } } }",
            json!({ "t": id }),
        )
        .await;
        let sr = &d["serviceRequest"];
        assert_eq!(sr["channel"], "OPEN_311");
        assert_eq!(sr["attributes"], json!({ "MATERIALS": ["furniture", "tires"] }));
        assert_eq!(sr["department"]["code"], "sanitation");
        assert_eq!(sr["reporter"]["email"], "zelda.q@example.net");

        // Nothing personal in any Open311 response, in either format.
        let mut seen = String::new();
        for path in [
            format!("/requests/{id}.json"),
            format!("/requests/{id}.xml"),
            format!("/requests/{id}.json?extensions=true"),
            "/requests.json?extensions=true".to_owned(),
            "/requests.xml?extensions=true".to_owned(),
            "/servicerequestupdates.json".to_owned(),
            "/servicerequestupdates.xml".to_owned(),
        ] {
            let (s, text) = get(&app, &path).await;
            assert_eq!(s, StatusCode::OK, "{path}: {text}");
            seen.push_str(&text);
        }
        assert!(seen.contains(&id));
        for private in [
            "Zelda",
            "Quartermaine",
            "zelda.q@example.net",
            "555 0142",
            "device-123",
            "acct-77",
            "@example.com",
            "+1 217 555",
        ] {
            assert!(!seen.contains(private), "`{private}` leaked into an Open311 response");
        }

        // Several problems at once, each with its own code, and nothing written.
        let before = get_json(&app, "/requests.json?service_code=pothole")
            .await
            .1
            .as_array()
            .unwrap()
            .len();
        let (s, errs) = post_form(
            &app,
            "/requests.json",
            &[
                ("api_key", k.as_str()),
                ("service_code", "pothole"),
                ("lat", "95"),
                ("long", "-89.6"),
                ("description", "<b>bold</b>"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            codes(&errs),
            ["DESCRIPTION_MARKUP", "INVALID_COORDINATES", "ATTRIBUTE_REQUIRED"]
        );
        let (s, errs) = post_form(
            &app,
            "/requests.json",
            &[("api_key", k.as_str()), ("service_code", "pothole"), ("lat", "north")],
        )
        .await;
        assert_eq!(
            (s, codes(&errs)),
            (StatusCode::BAD_REQUEST, vec!["INVALID_PARAMETER".to_owned()])
        );
        let (s, errs) = post_form(
            &app,
            "/requests.json",
            &[
                ("api_key", k.as_str()),
                ("service_code", "unicorns"),
                ("lat", "39.78"),
                ("long", "-89.65"),
            ],
        )
        .await;
        assert_eq!(
            (s, codes(&errs)),
            (StatusCode::NOT_FOUND, vec!["UNKNOWN_SERVICE".to_owned()])
        );
        let (s, errs) = post_form(
            &app,
            "/requests.json",
            &[
                ("api_key", k.as_str()),
                ("jurisdiction_id", "atlantis"),
                ("service_code", "pothole"),
            ],
        )
        .await;
        assert_eq!(
            (s, codes(&errs)),
            (StatusCode::NOT_FOUND, vec!["UNKNOWN_JURISDICTION".to_owned()])
        );
        assert_eq!(
            get_json(&app, "/requests.json?service_code=pothole")
                .await
                .1
                .as_array()
                .unwrap()
                .len(),
            before
        );

        // Keys: missing, bad, revoked-looking, and without the scope are 403s.
        let pothole = [
            ("service_code", "pothole"),
            ("lat", "39.78"),
            ("long", "-89.65"),
            ("attribute[SIZE]", "large"),
        ];
        let (s, errs) = post_form(&app, "/requests.json", &pothole).await;
        assert_eq!(
            (s, codes(&errs)),
            (StatusCode::FORBIDDEN, vec!["API_KEY_REQUIRED".to_owned()])
        );
        let mut with_bad = pothole.to_vec();
        with_bad.push((
            "api_key",
            "th_000000000000_000000000000000000000000000000000000000000000000",
        ));
        let (s, errs) = post_form(&app, "/requests.json", &with_bad).await;
        assert_eq!(
            (s, codes(&errs)),
            (StatusCode::FORBIDDEN, vec!["INVALID_API_KEY".to_owned()])
        );
        let reader = key(&app, &["requests:update"]).await;
        let mut with_reader = pothole.to_vec();
        with_reader.push(("api_key", reader.as_str()));
        let (s, errs) = post_form(&app, "/requests.json", &with_reader).await;
        assert_eq!(
            (s, codes(&errs)),
            (StatusCode::FORBIDDEN, vec!["API_KEY_SCOPE".to_owned()])
        );
        // The key may also come in the query string, or as a Bearer header.
        let r = app
            .client
            .post(url(&app, &format!("/requests.xml?api_key={k}")))
            .form(&pothole)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let xml = r.text().await.unwrap();
        assert!(
            xml.starts_with("<?xml") && xml.contains("<service_requests><request><service_request_id>"),
            "{xml}"
        );
        let r = app
            .client
            .post(url(&app, "/requests.json"))
            .bearer_auth(&k)
            .form(&pothole)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        // Other bodies are refused.
        let r = app
            .client
            .post(url(&app, "/requests.json"))
            .bearer_auth(&k)
            .json(&json!({ "service_code": "pothole" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(codes(&r.json().await.unwrap()), ["UNSUPPORTED_CONTENT_TYPE"]);
    }
);

both_databases!(
    open311_plugin_services_are_validated_and_routed_by_their_plugin,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        let config: Value = serde_json::from_str(&std::fs::read_to_string(PUBLIC_WORKS_CONFIG).unwrap()).unwrap();
        app.app()
            .plugins
            .install(townhall_plugin_host::InstallRequest {
                jurisdiction_id: None,
                component: std::fs::read(PUBLIC_WORKS).unwrap(),
                signature: None,
                grants: vec![],
                config: Some(config),
                secrets: Default::default(),
                limits: None,
            })
            .await
            .unwrap();
        let k = key(&app, &["open311:write"]).await;
        // The plugin's form is the definition Open311 clients see.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, d) = get_json(&app, "/services/pothole.json").await;
            if d["attributes"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["code"] == "hazard_in_lane"))
            {
                break;
            }
            assert!(Instant::now() < deadline, "the plugin's form never showed: {d}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let form = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
            let mut f = vec![
                ("service_code", "pothole"),
                ("lat", "39.80"),
                ("long", "-89.70"),
                ("description", "Crater in the lane"),
            ];
            f.extend_from_slice(extra);
            f
        };
        let mut refused: Vec<(&str, &str)> = form(&[
            ("attribute[hazard_in_lane]", "no"),
            ("attribute[size]", "small"),
            ("attribute[depth_inches]", "99"),
        ]);
        refused.push(("api_key", k.as_str()));
        let (s, errs) = post_form(&app, "/requests.json", &refused).await;
        assert_eq!(
            (s, codes(&errs)),
            (StatusCode::BAD_REQUEST, vec!["DEPTH_OUT_OF_RANGE".to_owned()])
        );
        let mut good: Vec<(&str, &str)> = form(&[("attribute[hazard_in_lane]", "yes"), ("attribute[size]", "large")]);
        good.push(("api_key", k.as_str()));
        let (s, body) = post_form(&app, "/requests.json", &good).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let id = body[0]["service_request_id"].as_str().unwrap();
        let (_, one) = get_json(&app, &format!("/requests/{id}.json?extensions=true")).await;
        assert_eq!(one[0]["priority"], "critical", "{one}");
        assert_eq!(one[0]["agency_responsible"], "Public Works");
        assert_eq!(one[0]["channel"], "open311");
    }
);

both_databases!(open311_search_filters_windows_and_pages, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let (s, all) = get_json(&app, "/requests.json").await;
    assert_eq!(s, StatusCode::OK);
    let all = all.as_array().unwrap().clone();
    assert_eq!(
        all.len(),
        200,
        "the demo's last 60 days are inside the default 90-day window"
    );
    let times: Vec<&str> = all.iter().map(|r| r["requested_datetime"].as_str().unwrap()).collect();
    let parsed: Vec<chrono::DateTime<chrono::FixedOffset>> = times
        .iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
        .collect();
    assert!(parsed.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(
        times[0].ends_with("-06:00") || times[0].ends_with("-05:00"),
        "in the city's own offset: {}",
        times[0]
    );

    // Comma lists.
    let (_, two) = get_json(&app, "/requests.json?service_code=pothole,streetlight").await;
    let two = two.as_array().unwrap();
    assert!(
        !two.is_empty()
            && two
                .iter()
                .all(|r| r["service_code"] == "pothole" || r["service_code"] == "streetlight")
    );
    let expected = all
        .iter()
        .filter(|r| r["service_code"] == "pothole" || r["service_code"] == "streetlight")
        .count();
    assert_eq!(two.len(), expected);
    let (_, closed) = get_json(&app, "/requests.json?status=closed").await;
    let closed = closed.as_array().unwrap();
    assert!(!closed.is_empty() && closed.iter().all(|r| r["status"] == "closed"));
    let (_, both_statuses) = get_json(&app, "/requests.json?status=open,closed").await;
    assert_eq!(both_statuses.as_array().unwrap().len(), 200);
    // Richer statuses (extension), in FixMyStreet's names too.
    let (_, fixed) = get_json(
        &app,
        "/requests.json?status=fixed,not_councils_responsibility&extensions=true",
    )
    .await;
    assert!(
        fixed
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["detailed_status"] == "fixed" || r["detailed_status"] == "not_councils_responsibility")
    );
    let (s, errs) = get_json(&app, "/requests.json?status=sleeping").await;
    assert_eq!(
        (s, codes(&errs)),
        (StatusCode::BAD_REQUEST, vec!["UNKNOWN_STATUS".to_owned()])
    );

    // service_request_id overrides every other filter.
    let ids = format!(
        "{},{}",
        all[0]["service_request_id"].as_str().unwrap(),
        all[5]["service_request_id"].as_str().unwrap()
    );
    let (_, by_id) = get_json(&app, &format!("/requests.json?service_request_id={ids}&service_code=nothing&status=closed&start_date=1999-01-01T00:00:00Z&end_date=1999-01-02T00:00:00Z")).await;
    assert_eq!(by_id.as_array().unwrap().len(), 2, "{by_id}");

    // Date windows: requested_datetime between start and end.
    let mid = parsed[100].with_timezone(&Utc);
    let start = (mid - chrono::Duration::days(3)).to_rfc3339();
    // Output is to the second: the end of that second includes it.
    let end = (mid + chrono::Duration::milliseconds(999)).to_rfc3339();
    let q = format!(
        "/requests.json?start_date={}&end_date={}",
        urlencode(&start),
        urlencode(&end)
    );
    let (_, window) = get_json(&app, &q).await;
    let window = window.as_array().unwrap();
    let want = parsed
        .iter()
        .filter(|t| **t >= chrono::DateTime::parse_from_rfc3339(&start).unwrap() && **t <= parsed[100])
        .count();
    assert_eq!(window.len(), want);
    let (s, errs) = get_json(
        &app,
        &format!(
            "/requests.json?start_date={}&end_date={}",
            urlencode(&end),
            urlencode(&start)
        ),
    )
    .await;
    assert_eq!(
        (s, codes(&errs)),
        (StatusCode::BAD_REQUEST, vec!["INVALID_PARAMETER".to_owned()])
    );
    // Far in the past: nothing.
    let (_, none) = get_json(&app, "/requests.json?end_date=2001-01-01T00:00:00Z").await;
    assert_eq!(none, json!([]));

    // Paging (extension): disjoint pages that add up to the whole.
    let mut paged = Vec::new();
    for page in 1..=5 {
        let (_, p) = get_json(&app, &format!("/requests.json?page_size=45&page={page}")).await;
        paged.extend(p.as_array().unwrap().iter().map(|r| r["service_request_id"].clone()));
    }
    assert_eq!(
        paged,
        all.iter().map(|r| r["service_request_id"].clone()).collect::<Vec<_>>()
    );
    let (s, _) = get_json(&app, "/requests.json?page_size=1001").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // updated_after / updated_before (extension).
    let newest_update = all
        .iter()
        .map(|r| chrono::DateTime::parse_from_rfc3339(r["updated_datetime"].as_str().unwrap()).unwrap())
        .max()
        .unwrap();
    let (_, recent) = get_json(
        &app,
        &format!(
            "/requests.json?updated_after={}",
            urlencode(&newest_update.to_rfc3339())
        ),
    )
    .await;
    assert!(!recent.as_array().unwrap().is_empty());
    assert!(recent.as_array().unwrap().iter().all(|r| {
        chrono::DateTime::parse_from_rfc3339(r["updated_datetime"].as_str().unwrap()).unwrap() >= newest_update
    }));
    let (_, old) = get_json(&app, "/requests.json?updated_before=2001-01-01T00:00:00Z").await;
    assert_eq!(old, json!([]));

    // GET one: an array of one, by tracking number or id; unknown is 404.
    let (s, one) = get_json(
        &app,
        &format!("/requests/{}.json", all[3]["service_request_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one, json!([all[3].clone()]));
    let (s, errs) = get_json(&app, "/requests/1999-000001.json").await;
    assert_eq!((s, codes(&errs)), (StatusCode::NOT_FOUND, vec!["NOT_FOUND".to_owned()]));
    let (s, errs) = get_json(&app, "/requests/..%3B.json").await;
    assert_eq!(
        (s, codes(&errs)),
        (StatusCode::BAD_REQUEST, vec!["MALFORMED_ID".to_owned()])
    );
    let (s, errs) = get_json(
        &app,
        &format!("/requests/{}.yaml", all[3]["service_request_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        (s, codes(&errs)),
        (StatusCode::NOT_FOUND, vec!["UNSUPPORTED_FORMAT".to_owned()])
    );
});

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

both_databases!(
    open311_leaves_out_non_public_requests_and_sensitive_addresses,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        extra_services(&app).await;
        let k = key(&app, &["open311:write"]).await;
        let (s, body) = post_form(
            &app,
            "/requests.json",
            &[
                ("api_key", k.as_str()),
                ("service_code", HIDDEN_SERVICE),
                ("address_string", "12 Secret Ln"),
                ("description", "Quiet inspection"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let hidden = body[0]["service_request_id"].as_str().unwrap().to_owned();
        let (s, _) = get(&app, &format!("/requests/{hidden}.json")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = get(&app, &format!("/requests/{hidden}.xml")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        for path in [
            "/requests.json".to_owned(),
            format!("/requests.json?service_request_id={hidden}"),
            format!("/requests.json?service_code={HIDDEN_SERVICE}"),
            "/requests.xml".to_owned(),
            "/servicerequestupdates.json".to_owned(),
        ] {
            let (_, text) = get(&app, &path).await;
            assert!(
                !text.contains(&hidden) && !text.contains("Secret Ln"),
                "{path} shows the non-public request"
            );
        }
        // The service list shows it (residents may report it) but its requests stay hidden.
        let (_, services) = get_json(&app, "/services.json").await;
        assert!(
            services
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["service_code"] == HIDDEN_SERVICE)
        );

        // Address-sensitive services (missed trash at a home): no address, id or coordinates.
        let (_, trash) = get_json(
            &app,
            "/requests.json?service_code=missed-trash,code-violation&extensions=true",
        )
        .await;
        let trash = trash.as_array().unwrap();
        assert!(!trash.is_empty());
        for r in trash {
            for f in ["address", "address_id", "lat", "long"] {
                assert!(r[f].is_null(), "{f} of a sensitive request is shown: {r}");
            }
        }
        let (_, potholes) = get_json(&app, "/requests.json?service_code=pothole").await;
        assert!(
            potholes
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["lat"].is_number() && r["address"].is_string())
        );
    }
);

const EXIF: &[u8] = b"Exif\0\0MM\0*GPSLatitude 39 46 54.1N GPSLongitude 89 39 0.4W BodySerialNumber CAM-4471";

/// A JPEG whose EXIF block carries GPS coordinates and a camera serial.
fn jpeg_with_gps() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    j.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    j.extend_from_slice(&[0xFF, 0xE1]);
    j.extend_from_slice(&u16::try_from(EXIF.len() + 2).unwrap().to_be_bytes());
    j.extend_from_slice(EXIF);
    j.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x04, 0x00, 0x01]);
    j.extend_from_slice(&[
        0xFF, 0xDA, 0x00, 0x04, 0x01, 0x00, 0xAB, 0xCD, 0xFF, 0x00, 0xEF, 0xFF, 0xD9,
    ]);
    j
}

fn photo_form(k: &str, bytes: Vec<u8>, declared: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("api_key", k.to_owned())
        .text("service_code", "graffiti")
        .text("lat", "39.782")
        .text("long", "-89.652")
        .text("description", "Tags on the bridge")
        .text("attribute[SURFACE]", "public")
        .part(
            "media",
            reqwest::multipart::Part::bytes(bytes)
                .file_name("photo.jpg")
                .mime_str(declared)
                .unwrap(),
        )
}

both_databases!(
    open311_photos_are_sniffed_limited_and_stripped_before_storing,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        let k = key(&app, &["open311:write"]).await;
        let original = jpeg_with_gps();
        // The client says PNG; the bytes say JPEG, and the bytes win.
        let r = app
            .client
            .post(url(&app, "/requests.json"))
            .multipart(photo_form(&k, original.clone(), "image/png"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        let id = body[0]["service_request_id"].as_str().unwrap();
        let (_, one) = get_json(&app, &format!("/requests/{id}.json?extensions=true")).await;
        let media = one[0]["media_url"].as_str().unwrap().to_owned();
        assert!(
            media.starts_with(&app.base) && media.contains("/open311/v2/media/"),
            "{media}"
        );
        assert_eq!(one[0]["photos"][0]["media_url"], media.as_str());
        let photo = app.client.get(&media).send().await.unwrap();
        assert_eq!(photo.status(), StatusCode::OK);
        assert_eq!(photo.headers()["content-type"], "image/jpeg");
        let bytes = photo.bytes().await.unwrap().to_vec();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("GPS") && !text.contains("CAM-4471") && !text.contains("Exif"),
            "metadata survived"
        );
        assert!(bytes.starts_with(&[0xFF, 0xD8]) && bytes.ends_with(&[0xAB, 0xCD, 0xFF, 0x00, 0xEF, 0xFF, 0xD9]));
        assert_eq!(
            bytes.len(),
            original.len() - (4 + EXIF.len()),
            "exactly the EXIF segment went"
        );
        // Nor is the original kept anywhere in the database.
        let stored = app.app().store.attachments_for(uuid_of(&app, id).await).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].byte_size as usize, bytes.len());

        // Not an image, HEIC, damaged, too large: refused, nothing written.
        let gif = b"GIF89a\x01\0\x01\0\0\0\0;".to_vec();
        let mut heic = vec![0, 0, 0, 24];
        heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
        heic.extend_from_slice(&[0; 64]);
        let mut damaged = original.clone();
        damaged.truncate(30);
        let mut huge = original.clone();
        huge.resize(10 * 1024 * 1024 + 100, 0);
        for (bytes, code) in [
            (gif, "PHOTO_UNSUPPORTED"),
            (heic, "PHOTO_HEIC_UNSUPPORTED"),
            (damaged, "PHOTO_INVALID"),
            (huge, "PHOTO_TOO_LARGE"),
        ] {
            let r = app
                .client
                .post(url(&app, "/requests.json"))
                .multipart(photo_form(&k, bytes, "image/jpeg"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{code}");
            assert_eq!(codes(&r.json().await.unwrap()), [code]);
        }
        // A client-given media_url is kept as it is.
        let (s, body) = post_form(
            &app,
            "/requests.json",
            &[
                ("api_key", k.as_str()),
                ("service_code", "graffiti"),
                ("lat", "39.78"),
                ("long", "-89.65"),
                ("attribute[SURFACE]", "public"),
                ("media_url", "https://photos.example.org/p/1.jpg"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let (_, one) = get_json(
            &app,
            &format!("/requests/{}.json", body[0]["service_request_id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(one[0]["media_url"], "https://photos.example.org/p/1.jpg");
        // Unknown photos are 404s.
        let (s, _) = get(&app, "/media/0190c5a4-0000-7000-8000-000000000000").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
);

async fn uuid_of(app: &TestApp, tracking: &str) -> uuid::Uuid {
    app.app().store.request_by_tracking(J, tracking).await.unwrap().id
}

both_databases!(
    open311_token_mode_accepts_durably_then_resolves,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        extra_services(&app).await;
        let k = key(&app, &["open311:write"]).await;
        let (_, services) = get_json(&app, "/services.json").await;
        let svc = services
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service_code"] == TOKEN_SERVICE)
            .unwrap()
            .clone();
        assert_eq!(svc["type"], "batch");
        // Bad input is still refused at once.
        let (s, errs) = post_form(
            &app,
            "/requests.json",
            &[
                ("api_key", k.as_str()),
                ("service_code", TOKEN_SERVICE),
                ("description", "no location"),
            ],
        )
        .await;
        assert_eq!(
            (s, codes(&errs)),
            (StatusCode::BAD_REQUEST, vec!["LOCATION_REQUIRED".to_owned()])
        );
        let mut tokens = Vec::new();
        for i in 0..5 {
            let d = format!("Old sofa number {i}");
            let (s, body) = post_form(
                &app,
                "/requests.json",
                &[
                    ("api_key", k.as_str()),
                    ("service_code", TOKEN_SERVICE),
                    ("address_string", "300 Maple Dr"),
                    ("description", &d),
                ],
            )
            .await;
            assert_eq!(s, StatusCode::CREATED, "{body}");
            assert!(body[0].get("service_request_id").is_none(), "{body}");
            tokens.push(body[0]["token"].as_str().unwrap().to_owned());
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for t in &tokens {
            let id = loop {
                let (s, r) = get_json(&app, &format!("/tokens/{t}.json")).await;
                assert_eq!(s, StatusCode::OK, "{r}");
                assert_eq!(r[0]["token"], t.as_str());
                if let Some(id) = r[0]["service_request_id"].as_str() {
                    break id.to_owned();
                }
                assert!(Instant::now() < deadline, "token {t} did not resolve");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let (s, one) = get_json(&app, &format!("/requests/{id}.json")).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(one[0]["service_code"], TOKEN_SERVICE);
            let (_, x) = get(&app, &format!("/tokens/{t}.xml")).await;
            assert!(
                x.contains(&format!(
                    "<service_request_id>{id}</service_request_id><token>{t}</token>"
                )),
                "{x}"
            );
        }
        let (s, errs) = get_json(&app, "/tokens/0000000000000000.json").await;
        assert_eq!((s, codes(&errs)), (StatusCode::NOT_FOUND, vec!["NOT_FOUND".to_owned()]));
    }
);

both_databases!(open311_token_submissions_survive_a_crash, |db: TestDb| async move {
    // Seed the catalog with a first run, then submit to a real process and
    // kill it at once: after a restart every token resolves.
    let mut app = TestApp::demo(db).await;
    extra_services(&app).await;
    let k = key(&app, &["open311:write"]).await;
    app.stop().await;
    let proc = crate::helpers::Proc::serve(&app.db, &[]).await;
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..20 {
        let d = format!("Crash-test fridge {i}");
        let r = client
            .post(format!("{}/open311/v2/requests.json", proc.base))
            .form(&[
                ("api_key", k.as_str()),
                ("service_code", TOKEN_SERVICE),
                ("address_string", "9 River Rd"),
                ("description", &d),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        tokens.push(v[0]["token"].as_str().unwrap().to_owned());
    }
    proc.kill9();
    let proc = crate::helpers::Proc::serve(&app.db, &[]).await;
    // A claim interrupted by the crash is a lease: taken again when it runs out.
    let deadline = Instant::now() + Duration::from_secs(90);
    for t in &tokens {
        loop {
            let v: Value = client
                .get(format!("{}/open311/v2/tokens/{t}.json", proc.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v[0]["service_request_id"].is_string() {
                break;
            }
            assert!(Instant::now() < deadline, "token {t} was lost: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let v: Value = client
        .get(format!(
            "{}/open311/v2/requests.json?service_code={TOKEN_SERVICE}",
            proc.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let crash: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["description"].as_str().unwrap_or("").starts_with("Crash-test"))
        .collect();
    assert!(crash.len() >= 20, "{} of 20 submissions became requests", crash.len());
    proc.terminate();
});

both_databases!(open311_updates_feed_and_back_office_pushes, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let writer = key(&app, &["open311:write"]).await;
    let office = key(&app, &["requests:update"]).await;
    let (_, body) = post_form(
        &app,
        "/requests.json",
        &[
            ("api_key", writer.as_str()),
            ("service_code", "pothole"),
            ("lat", "39.78"),
            ("long", "-89.65"),
            ("attribute[SIZE]", "small"),
        ],
    )
    .await;
    let id = body[0]["service_request_id"].as_str().unwrap().to_owned();
    let t0 = Utc::now() - chrono::Duration::seconds(1);
    let push = |status: &'static str, note: Option<&'static str>, k: String| {
        let id = id.clone();
        let app = &app;
        async move {
            let mut f = vec![
                ("api_key", k),
                ("service_request_id", id),
                ("status", status.to_owned()),
            ];
            if let Some(n) = note {
                f.push(("description", n.to_owned()));
            }
            let r = app
                .client
                .post(url(app, "/servicerequestupdates.json"))
                .form(&f)
                .send()
                .await
                .unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap())
        }
    };
    // Without the scope: 403; an unknown status: 400.
    let (s, errs) = push("in_progress", None, writer.clone()).await;
    assert_eq!(
        (s, codes(&errs)),
        (StatusCode::FORBIDDEN, vec!["API_KEY_SCOPE".to_owned()])
    );
    let (s, errs) = push("asleep", None, office.clone()).await;
    assert_eq!(
        (s, codes(&errs)),
        (StatusCode::BAD_REQUEST, vec!["UNKNOWN_STATUS".to_owned()])
    );
    // Richer statuses, with a note; Open311 sees open/closed.
    let (s, up) = push("in_progress", Some("Crew dispatched."), office.clone()).await;
    assert_eq!(s, StatusCode::OK, "{up}");
    let first_update = up[0]["update_id"].as_str().unwrap().to_owned();
    let (_, one) = get_json(&app, &format!("/requests/{id}.json?extensions=true")).await;
    assert_eq!(
        (one[0]["status"].as_str(), one[0]["detailed_status"].as_str()),
        (Some("open"), Some("in_progress"))
    );
    assert_eq!(one[0]["status_notes"], "Crew dispatched.");
    let (s, _) = push("fixed", Some("Patched."), office.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let (_, one) = get_json(&app, &format!("/requests/{id}.json")).await;
    assert_eq!(one[0]["status"], "closed");
    // Closing a closed request is refused (reopen first); `open` reopens.
    let (s, errs) = push("closed", None, office.clone()).await;
    assert_eq!(
        (s, codes(&errs)),
        (StatusCode::BAD_REQUEST, vec!["INVALID_STATUS_TRANSITION".to_owned()])
    );
    let (s, _) = push("open", Some("It came back."), office.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let (_, one) = get_json(&app, &format!("/requests/{id}.json?extensions=true")).await;
    assert_eq!(
        (one[0]["status"].as_str(), one[0]["detailed_status"].as_str()),
        (Some("open"), Some("reopen"))
    );
    // An internal note (GraphQL, staff) never shows in the feed.
    let admin = app.admin().await;
    app.data_as(
        &admin,
        "mutation($id: ID!) { addNote(id: $id, body: \"Internal: budget code 7731\", visibility: INTERNAL) { kind } }",
        json!({ "id": uuid_of(&app, &id).await.to_string() }),
    )
    .await;

    let since = format!("/servicerequestupdates.json?start_date={}", urlencode(&t0.to_rfc3339()));
    let (s, feed) = get_json(&app, &since).await;
    assert_eq!(s, StatusCode::OK);
    let mine: Vec<&Value> = feed
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["service_request_id"] == id.as_str())
        .collect();
    let statuses: Vec<&str> = mine.iter().map(|u| u["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["in_progress", "fixed", "reopen"], "{mine:?}");
    assert_eq!(mine[0]["update_id"], first_update.as_str());
    assert_eq!(mine[0]["description"], "Crew dispatched.");
    let (_, xml) = get(&app, &since.replace(".json", ".xml")).await;
    assert!(xml.contains("<service_requests_updates><request_update>") && xml.contains("<status>reopen</status>"));
    assert!(!xml.contains("budget code") && !serde_json::to_string(&feed).unwrap().contains("budget code"));
    // A window in the past is empty.
    let (_, old) = get_json(
        &app,
        "/servicerequestupdates.json?start_date=2001-01-01T00:00:00Z&end_date=2001-02-01T00:00:00Z",
    )
    .await;
    assert_eq!(old, json!([]));
});
