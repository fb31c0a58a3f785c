//! Search through the GraphQL API on the running server: fed from the
//! outbox, permission-aware down to facet counts, "is it already
//! reported?", bad input, and `townhall reindex`.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use townhall_search::{SearchConfig, SearchIndex, SearchQuery, Viewer};
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::{As, Proc, TestApp, run_cli};

const SEARCH: &str = "query($q: String, $f: SearchFilterInput, $sort: SearchSort, $from: PointInput, $first: Int, $after: String) {
  search(query: $q, filter: $f, sort: $sort, from: $from, first: $first, after: $after) {
    total
    hits { id trackingNumber serviceCode departmentCode status requestedAt description address lat long locationIsApproximate distanceM score
           snippets { field text html highlights { start end } } cursor request { id trackingNumber } }
    facets { status { value count } service { value count } department { value count } }
    pageInfo { hasNextPage endCursor }
  } }";

const DUPLICATES: &str = "query($s: String!, $lat: Float!, $long: Float!, $d: String, $r: Float, $limit: Int) {
  possibleDuplicates(serviceCode: $s, lat: $lat, long: $long, description: $d, radiusM: $r, limit: $limit) {
    distanceM textSimilarity score request { id trackingNumber serviceCode description }
  } }";

async fn search_as(app: &TestApp, who: &As, vars: Value) -> Value {
    app.data_as(who, SEARCH, vars).await["search"].clone()
}

async fn search(app: &TestApp, vars: Value) -> Value {
    search_as(app, &As::Anonymous, vars).await
}

fn ids(result: &Value) -> Vec<String> {
    result["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

fn facet(result: &Value, kind: &str, value: &str) -> u64 {
    result["facets"][kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["value"] == value)
        .map_or(0, |f| f["count"].as_u64().unwrap())
}

async fn submit(app: &TestApp, who: &As, input: Value) -> Value {
    let d = app
        .data_as(who, crate::helpers::SUBMIT, json!({ "input": input }))
        .await;
    d["submitRequest"].clone()
}

both_databases!(
    search_finds_requests_by_text_with_filters_facets_and_paging,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        app.settle().await;

        // Everything: the demo's 200 requests, with facets that agree with the database.
        let all = search(&app, json!({ "first": 5 })).await;
        assert_eq!(all["total"], 200, "{all}");
        assert_eq!(all["hits"].as_array().unwrap().len(), 5);
        assert_eq!(all["pageInfo"]["hasNextPage"], true);
        let by_service: u64 = all["facets"]["service"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["count"].as_u64().unwrap())
            .sum();
        assert_eq!(by_service, 200);
        let potholes = app
            .data(
                "{ serviceRequests(first: 1, filter: { serviceCodes: [\"pothole\"] }) { totalCount } }",
                json!({}),
            )
            .await["serviceRequests"]["totalCount"]
            .as_u64()
            .unwrap();
        assert!(potholes > 0);
        assert_eq!(facet(&all, "service", "pothole"), potholes);
        let open = app
            .data(
                "{ serviceRequests(first: 1, filter: { statuses: [OPEN] }) { totalCount } }",
                json!({}),
            )
            .await["serviceRequests"]["totalCount"]
            .as_u64()
            .unwrap();
        assert_eq!(facet(&all, "status", "open"), open);

        // A new report is found by its words, with typos, by prefix, and highlighted.
        let anon = As::Anonymous;
        let new = submit(
        &app,
        &anon,
        json!({ "serviceCode": "pothole", "description": "Enormous sinkhole swallowing bicycles near Lincoln school",
                "lat": 39.7817, "long": -89.6501, "address": "210 Elm St", "attributes": { "SIZE": "large", "HAZARD": "yes" } }),
    )
    .await;
        let id = new["id"].as_str().unwrap().to_owned();
        app.settle().await;
        for q in [
            "sinkhole bicycles",
            "sinkhoel",
            "Lincoln bicyc",
            "SWALLOWING",
            "sinkholes bicycle",
        ] {
            let r = search(&app, json!({ "q": q })).await;
            assert_eq!(ids(&r), vec![id.clone()], "query {q:?}: {r}");
        }
        let r = search(&app, json!({ "q": "sinkhole" })).await;
        let hit = &r["hits"][0];
        assert_eq!(hit["request"]["id"], id.as_str());
        assert_eq!(hit["trackingNumber"], new["trackingNumber"]);
        assert_eq!(hit["departmentCode"], "public-works");
        let snippet = &hit["snippets"][0];
        assert_eq!(snippet["field"], "DESCRIPTION");
        assert!(
            snippet["html"].as_str().unwrap().contains("<mark>sinkhole</mark>"),
            "{snippet}"
        );
        let range = &snippet["highlights"][0];
        let text: Vec<char> = snippet["text"].as_str().unwrap().chars().collect();
        let (a, b) = (
            range["start"].as_u64().unwrap() as usize,
            range["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(text[a..b].iter().collect::<String>(), "sinkhole");
        // Facets count the whole result, not the page.
        assert_eq!(facet(&r, "service", "pothole"), 1);
        assert_eq!(r["total"], 1);

        // Spanish stemming and folded accents.
        let es = submit(
            &app,
            &anon,
            json!({ "serviceCode": "streetlight", "description": "Las farolas de la avenida Colón están apagadas",
                "lat": 39.7790, "long": -89.6440, "attributes": { "POLE": "SL-1234", "PROBLEM": "out" } }),
        )
        .await;
        app.settle().await;
        for q in ["farola apagada", "colon", "COLÓN", "farolas avenida"] {
            let r = search(&app, json!({ "q": q })).await;
            assert!(
                ids(&r).contains(&es["id"].as_str().unwrap().to_owned()),
                "query {q:?}: {r}"
            );
        }

        // Filters hold together with the text.
        let none = search(&app, json!({ "q": "sinkhole", "f": { "serviceCodes": ["graffiti"] } })).await;
        assert_eq!(none["total"], 0);
        assert!(none["facets"]["service"].as_array().unwrap().is_empty());
        let closed = search(&app, json!({ "q": "sinkhole", "f": { "open311Status": "CLOSED" } })).await;
        assert_eq!(closed["total"], 0);
        let near = search(
            &app,
            json!({ "f": { "near": { "lat": 39.7817, "long": -89.6501, "radiusM": 30.0 } }, "sort": "DISTANCE" }),
        )
        .await;
        assert_eq!(ids(&near)[0], id);
        assert!(near["hits"][0]["distanceM"].as_f64().unwrap() < 1.0);
        let from = search(
            &app,
            json!({ "sort": "DISTANCE", "from": { "lat": 39.7817, "long": -89.6501 }, "first": 3 }),
        )
        .await;
        assert_eq!(ids(&from)[0], id);
        let d: Vec<f64> = from["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["distanceM"].as_f64().unwrap())
            .collect();
        assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
        let boxed = search(
        &app,
        json!({ "q": "sinkhole", "f": { "bbox": { "minLat": 39.70, "minLong": -89.70, "maxLat": 39.75, "maxLong": -89.60 } } }),
    )
    .await;
        assert_eq!(boxed["total"], 0, "the request lies north of the box");
        let since = (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
        let recent = search(&app, json!({ "f": { "requestedFrom": since }, "sort": "NEWEST" })).await;
        assert_eq!(recent["total"], 2);
        let mut got = ids(&recent);
        got.sort();
        let mut want = vec![es["id"].as_str().unwrap().to_owned(), id.clone()];
        want.sort();
        assert_eq!(got, want);
        // Date sorts over the demo's spread-out requests.
        for (sort, newest_first) in [("NEWEST", true), ("OLDEST", false)] {
            let page = search(&app, json!({ "sort": sort, "first": 50 })).await;
            let at: Vec<String> = page["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["requestedAt"].as_str().unwrap().to_owned())
                .collect();
            // The index orders by the second (requests within one second tie).
            let times: Vec<i64> = at
                .iter()
                .map(|t| t.parse::<chrono::DateTime<Utc>>().unwrap().timestamp())
                .collect();
            assert!(
                times
                    .windows(2)
                    .all(|w| if newest_first { w[0] >= w[1] } else { w[0] <= w[1] }),
                "{sort}: {at:?}"
            );
        }

        // Paging with cursors visits every result once.
        let mut seen = std::collections::BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let page = search(
                &app,
                json!({ "f": { "serviceCodes": ["pothole"] }, "sort": "OLDEST", "first": 7, "after": after }),
            )
            .await;
            for i in ids(&page) {
                assert!(seen.insert(i), "a request came twice");
            }
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        assert_eq!(seen.len() as u64, potholes + 1);
    }
);

both_databases!(
    search_never_finds_or_counts_what_the_caller_may_not_see,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        let admin = app.admin().await;
        let pw_staff = As::User(app.user("pw.searcher@riverbend.example", &["staff@public-works"]).await);
        let parks = As::User(app.user("parks.searcher@riverbend.example", &["staff@parks"]).await);
        let san = As::User(app.user("san.searcher@riverbend.example", &["staff@sanitation"]).await);
        let resident = As::User(app.user("curious.neighbor@example.net", &[]).await);

        // A Public Works request with a reporter and an internal note.
        let r = app.submit_pothole("Crumbling edge of the road by the bakery").await;
        app.data_as(
        &admin,
        "mutation($i: ID!) { addNote(id: $i, body: \"Xylophonist next door saw the truck\", visibility: INTERNAL) { id } }",
        json!({ "i": r["id"] }),
    )
    .await;
        // A request of a service whose requests are not public.
        let store = &app.app().store;
        let mut hidden = store.service("riverbend", "missed-trash").await.unwrap();
        hidden.code = "internal-inspection".into();
        hidden.name = "Internal inspection".into();
        hidden.public = false;
        hidden.address_sensitive = false;
        hidden.attributes = vec![];
        store.upsert_service(&hidden, 60, Utc::now()).await.unwrap();
        let secret = submit(
        &app,
        &admin,
        json!({ "serviceCode": "internal-inspection", "description": "Quarterly zeppelin hangar inspection", "address": "1 Depot Rd" }),
    )
    .await;
        assert!(secret["id"].is_string(), "{secret}");
        // An address-sensitive request at a home.
        let home = submit(
        &app,
        &resident,
        json!({ "serviceCode": "missed-trash", "description": "Bins were skipped again", "address": "4411 Juniper Court",
                "lat": 39.7712, "long": -89.6611, "attributes": { "COLLECTION": "trash" } }),
    )
    .await;
        assert!(home["id"].is_string(), "{home}");
        app.settle().await;

        let count = |v: &Value| v["total"].as_u64().unwrap();
        let empty_facets = |v: &Value| {
            ["status", "service", "department"]
                .iter()
                .all(|k| v["facets"][*k].as_array().unwrap().is_empty())
        };

        // The internal note: only Public Works staff and administrators find it.
        for (who, name, findable) in [
            (&As::Anonymous, "anonymous", false),
            (&resident, "resident", false),
            (&parks, "parks staff", false),
            (&san, "sanitation staff", false),
            (&pw_staff, "public works staff", true),
            (&admin, "admin", true),
        ] {
            let v = search_as(&app, who, json!({ "q": "xylophonist" })).await;
            if findable {
                assert_eq!(ids(&v), vec![r["id"].as_str().unwrap().to_owned()], "{name}: {v}");
                assert!(
                    v["hits"][0]["snippets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|s| s["field"] == "INTERNAL_NOTE"),
                    "{v}"
                );
            } else {
                assert_eq!(count(&v), 0, "{name} found an internal note: {v}");
                assert!(empty_facets(&v), "{name} sees facet counts of an internal note: {v}");
            }
            // The reporter's name and email likewise.
            for q in ["Quill", "zed.quill@example.net"] {
                let v = search_as(&app, who, json!({ "q": q })).await;
                assert_eq!(count(&v) > 0, findable, "{name} searching {q}: {v}");
                if !findable {
                    assert!(empty_facets(&v));
                }
            }
        }

        // The non-public request: absent for the public, present for its department.
        for (who, name, findable) in [
            (&As::Anonymous, "anonymous", false),
            (&parks, "parks", false),
            (&san, "sanitation", true),
            (&admin, "admin", true),
        ] {
            let v = search_as(&app, who, json!({ "q": "zeppelin" })).await;
            assert_eq!(count(&v) == 1, findable, "{name}: {v}");
            let all = search_as(&app, who, json!({ "first": 1 })).await;
            assert_eq!(
                facet(&all, "service", "internal-inspection") == 1,
                findable,
                "{name} facet: {all}"
            );
        }
        let everything_public = search(&app, json!({ "first": 1 })).await;
        let everything_admin = search_as(&app, &admin, json!({ "first": 1 })).await;
        assert_eq!(count(&everything_admin), count(&everything_public) + 1);

        // The home address: not searchable and not shown to the public; shown to Sanitation.
        let v = search(&app, json!({ "q": "juniper" })).await;
        assert_eq!(count(&v), 0, "{v}");
        let v = search(&app, json!({ "q": "skipped bins" })).await;
        assert_eq!(ids(&v), vec![home["id"].as_str().unwrap().to_owned()]);
        let hit = &v["hits"][0];
        assert!(hit["address"].is_null(), "{hit}");
        assert_eq!(hit["locationIsApproximate"], true);
        assert_ne!(hit["lat"].as_f64().unwrap(), 39.7712);
        let v = search_as(&app, &san, json!({ "q": "juniper" })).await;
        assert_eq!(v["hits"][0]["address"], "4411 Juniper Court");
        assert_eq!(v["hits"][0]["lat"].as_f64().unwrap(), 39.7712);

        // Staff reads of private passages are audited.
        let log = app
            .data_as(
                &admin,
                "{ auditLog(first: 500) { action targetType actorId details } }",
                json!({}),
            )
            .await;
        let As::User(pw) = &pw_staff else { unreachable!() };
        let entry = log["auditLog"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["targetType"] == "search" && e["actorId"] == pw.user_id.as_str())
            .unwrap_or_else(|| panic!("no audit entry for the staff search: {log}"));
        assert_eq!(entry["action"], "read_private");
        assert!(
            entry["details"]["tracking_numbers"]
                .as_array()
                .unwrap()
                .contains(&r["trackingNumber"]),
            "{entry}"
        );
    }
);

both_databases!(
    possible_duplicates_are_open_nearby_reports_of_the_same_service,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        let admin = app.admin().await;
        let anon = As::Anonymous;
        let r = submit(
            &app,
            &anon,
            json!({ "serviceCode": "pothole", "description": "Deep pothole in the right lane by the school",
                "lat": 39.7850, "long": -89.6450, "attributes": { "SIZE": "large", "HAZARD": "yes" } }),
        )
        .await;
        let id = r["id"].as_str().unwrap().to_owned();
        app.settle().await;

        let q =
            json!({ "s": "pothole", "lat": 39.7851, "long": -89.6451, "d": "big pothole in right lane near school" });
        let found = app.data(DUPLICATES, q.clone()).await["possibleDuplicates"].clone();
        let first = &found[0];
        assert_eq!(first["request"]["id"], id.as_str(), "{found}");
        assert!(first["distanceM"].as_f64().unwrap() < 30.0);
        assert!(first["textSimilarity"].as_f64().unwrap() >= 0.6, "{first}");
        let scores: Vec<f64> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        assert!(
            found
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["request"]["serviceCode"] == "pothole")
        );

        // Another service, a point far away, or a tight radius: not a candidate.
        for vars in [
            json!({ "s": "graffiti", "lat": 39.7851, "long": -89.6451 }),
            json!({ "s": "pothole", "lat": 39.8300, "long": -89.6451 }),
            json!({ "s": "pothole", "lat": 39.7860, "long": -89.6451, "r": 20.0 }),
        ] {
            let f = app.data(DUPLICATES, vars.clone()).await["possibleDuplicates"].clone();
            assert!(
                !f.as_array().unwrap().iter().any(|c| c["request"]["id"] == id.as_str()),
                "{vars}: {f}"
            );
        }
        // Once closed, it is no longer a likely duplicate.
        app.data_as(
            &admin,
            "mutation($i: ID!) { changeStatus(id: $i, status: CLOSED, publicNote: \"Filled\") { status } }",
            json!({ "i": id }),
        )
        .await;
        app.settle().await;
        let f = app.data(DUPLICATES, q).await["possibleDuplicates"].clone();
        assert!(
            !f.as_array().unwrap().iter().any(|c| c["request"]["id"] == id.as_str()),
            "{f}"
        );

        // Bad input.
        for (vars, code) in [
            (
                json!({ "s": "no-such-service", "lat": 39.78, "long": -89.64 }),
                "UNKNOWN_SERVICE",
            ),
            (
                json!({ "s": "pothole", "lat": 39.78, "long": -89.64, "r": -5.0 }),
                "INVALID_RADIUS",
            ),
            (
                json!({ "s": "pothole", "lat": 39.78, "long": -89.64, "r": 1.0e7 }),
                "INVALID_RADIUS",
            ),
            (
                json!({ "s": "pothole", "lat": 95.0, "long": -89.64 }),
                "INVALID_COORDINATES",
            ),
            (
                json!({ "s": "pothole", "lat": 39.78, "long": -89.64, "limit": 0 }),
                "INVALID_ARGUMENT",
            ),
        ] {
            assert_eq!(app.error_code(DUPLICATES, vars.clone()).await, code, "{vars}");
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_rejects_bad_input_with_precise_codes() {
    let app = TestApp::demo(townhall_testkit::sqlite().await).await;
    let long = "word ".repeat(101);
    for (vars, code) in [
        (json!({ "q": long }), "QUERY_TOO_LONG"),
        (json!({ "first": 0 }), "INVALID_ARGUMENT"),
        (json!({ "first": 101 }), "INVALID_ARGUMENT"),
        (json!({ "after": "not-a-cursor" }), "INVALID_CURSOR"),
        (json!({ "after": "o2710" }), "PAGE_TOO_DEEP"),
        (json!({ "sort": "DISTANCE" }), "INVALID_ARGUMENT"),
        (
            json!({ "sort": "DISTANCE", "from": { "lat": 91.0, "long": 0.0 } }),
            "INVALID_COORDINATES",
        ),
        (
            json!({ "f": { "bbox": { "minLat": 40.0, "minLong": -89.0, "maxLat": 39.0, "maxLong": -88.0 } } }),
            "INVALID_BOUNDING_BOX",
        ),
        (
            json!({ "f": { "near": { "lat": 39.78, "long": -89.65, "radiusM": 0.0 } } }),
            "INVALID_RADIUS",
        ),
        (
            json!({ "f": { "requestedFrom": "2026-05-02T00:00:00Z", "requestedTo": "2026-05-01T00:00:00Z" } }),
            "INVALID_DATE_RANGE",
        ),
    ] {
        let body = app.gql(SEARCH, vars.clone()).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{vars}: {body}");
        assert!(body["data"].is_null() || body["data"]["search"].is_null(), "{body}");
    }
    // Text that is all punctuation or markup is a search for nothing in particular, not an error.
    let v = search(&app, json!({ "q": "<script>\"' %%% ;--", "first": 1 })).await;
    assert!(v["total"].as_u64().is_some(), "{v}");
}

both_databases!(reindex_rebuilds_the_index_from_the_database, |db: TestDb| async move {
    let out = run_cli(&["seed-demo"], &db, "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run_cli(&["reindex"], &db, "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("reindexed 200 request(s)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("reindex: 200/200 requests (100%)"),
        "progress: {stderr}"
    );

    // The index on disk holds every request, without any server having run.
    let data_dir = db.data_dir().unwrap().to_path_buf();
    {
        let index = SearchIndex::open(&SearchConfig::embedded(&data_dir)).await.unwrap();
        assert!(!index.needs_rebuild());
        let all = index
            .search(&Viewer::Admin, &SearchQuery::new("riverbend").first(1))
            .await
            .unwrap();
        assert_eq!(all.total, 200);
        index.shutdown().await.unwrap();
    }

    // A running server holds the embedded index: reindex says so and changes nothing.
    let server = Proc::serve(&db, &[]).await;
    let out = run_cli(&["reindex"], &db, "");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another Townhall process"), "{stderr}");
    assert_eq!(server.terminate().code(), Some(0));

    // A lost index is rebuilt when the server starts.
    std::fs::remove_dir_all(data_dir.join("search")).unwrap();
    let server = Proc::serve(&db, &[]).await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: Value = client
            .post(format!("{}/graphql", server.base))
            .json(&json!({ "query": "{ search(first: 1) { total } }" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["data"]["search"]["total"] == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the index was not rebuilt: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.terminate().code(), Some(0));
});
