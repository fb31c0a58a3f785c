use serde_json::json;
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::TestApp;

both_databases!(health_readiness_and_metrics, |db: TestDb| async move {
    let app = TestApp::spawn(db).await;
    let c = &app.client;
    let h = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(h.status(), 200);
    assert!(h.headers().get("x-request-id").is_some());
    let r = c.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["database"], "ok");

    app.data("{ serviceDefinitions { code } }", json!({})).await;
    let m = c.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(m.status(), 200);
    let text = m.text().await.unwrap();
    for needle in [
        "townhall_http_requests_total{",
        "route=\"/graphql\"",
        "townhall_http_request_duration_seconds_bucket{",
        "townhall_db_pool_connections{",
        "townhall_build_info{",
    ] {
        assert!(text.contains(needle), "missing {needle} in metrics:\n{text}");
    }
    let missing = c.get(app.url("/no/such/thing")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.unwrap()["errors"][0]["code"],
        "NOT_FOUND"
    );
});

both_databases!(graphiql_and_query_limits, |db: TestDb| async move {
    let app = TestApp::spawn(db).await;
    let page = app.client.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));

    // A reasonable query passes.
    let nested = "{ jurisdictions { id } serviceRequests { edges { node { history { id } service { attributes { values { key } } department { name } } } } } }";
    let body = app.gql(nested, json!({})).await;
    assert!(body.get("errors").is_none(), "a reasonable query must pass: {body}");
    // Too deep: refused before it runs.
    let mut deep = String::from("name");
    for _ in 0..15 {
        deep = format!("name ofType {{ {deep} }}");
    }
    let body = app
        .gql(
            &format!("{{ __schema {{ types {{ fields {{ type {{ {deep} }} }} }} }} }}"),
            json!({}),
        )
        .await;
    let msg = body["errors"][0]["message"].as_str().unwrap_or("").to_lowercase();
    assert!(msg.contains("deep"), "{body}");
    // Too complex: refused before it runs.
    let big: String = (0..1500)
        .map(|i| format!("a{i}: serviceRequests(first: 1) {{ totalCount }} "))
        .collect();
    let body = app.gql(&format!("{{ {big} }}"), json!({})).await;
    let msg = body["errors"][0]["message"].as_str().unwrap_or("").to_lowercase();
    assert!(msg.contains("complex"), "{body}");
});
