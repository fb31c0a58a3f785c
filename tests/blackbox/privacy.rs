//! No anonymous surface returns a reporter's personal data: every public
//! response is searched for every seeded name, email and phone number, and
//! for the exact addresses of services marked address-sensitive.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::TestApp;

/// Everything that must never appear publicly.
async fn secrets(app: &TestApp) -> BTreeSet<String> {
    let conn = Database::connect(app.db_url()).await.unwrap();
    let b = conn.get_database_backend();
    let mut out = BTreeSet::new();
    for row in conn
        .query_all_raw(Statement::from_string(
            b,
            "SELECT first_name, last_name, email, phone FROM contacts",
        ))
        .await
        .unwrap()
    {
        let first: Option<String> = row.try_get("", "first_name").unwrap();
        let last: Option<String> = row.try_get("", "last_name").unwrap();
        let email: Option<String> = row.try_get("", "email").unwrap();
        let phone: Option<String> = row.try_get("", "phone").unwrap();
        out.extend(email);
        out.extend(phone);
        out.extend(last);
        if let Some(f) = first {
            out.insert(f);
        }
    }
    // Exact addresses of sensitive services (unless the same address is
    // also, legitimately, on a public request).
    let addresses = |sensitive: bool| {
        let conn = &conn;
        async move {
            let sql = format!(
                "SELECT r.address FROM service_requests r JOIN service_definitions s \
                 ON s.jurisdiction_id = r.jurisdiction_id AND s.code = r.service_code \
                 WHERE s.address_sensitive = {} AND r.address IS NOT NULL",
                if sensitive { "true" } else { "false" }
            );
            conn.query_all_raw(Statement::from_string(b, sql))
                .await
                .unwrap()
                .into_iter()
                .map(|row| row.try_get::<String>("", "address").unwrap())
                .collect::<BTreeSet<String>>()
        }
    };
    let public = addresses(false).await;
    out.extend(addresses(true).await.into_iter().filter(|a| !public.contains(a)));
    // First names alone are too short to search for honestly ("Ana" is in
    // "Banana"); the rest are distinctive.
    out.retain(|s| s.len() >= 6);
    assert!(
        out.len() > 50,
        "the demo should have plenty of personal data to look for"
    );
    out
}

fn leaks<'a>(text: &str, secrets: &'a BTreeSet<String>) -> Vec<&'a String> {
    secrets.iter().filter(|s| text.contains(s.as_str())).collect()
}

/// Every GraphQL field an anonymous caller can ask for, over every request.
const EVERYTHING: &str = "query($after: String) { serviceRequests(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node {
    id trackingNumber serviceCode description status open311Status priority lat long address addressId zipcode
    department { code name } queue assigneeId requestedAt updatedAt expectedAt closedAt channel attributes mediaUrl mergedInto public
    reporter { firstName lastName email phone }
    service { code name attributes { code values { key name } } }
    history { id kind at fromStatus toStatus body public actorType actorId data }
} } } }";

both_databases!(no_public_surface_returns_personal_data, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let secrets = secrets(&app).await;
    // The public sees every public request…
    let mut after: Option<String> = None;
    let mut seen = 0;
    let mut bodies = Vec::new();
    loop {
        let body = app.gql(EVERYTHING, json!({ "after": after })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let conn = &body["data"]["serviceRequests"];
        seen += conn["edges"].as_array().unwrap().len();
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        let more = conn["pageInfo"]["hasNextPage"].as_bool().unwrap();
        bodies.push(body.to_string());
        if !more {
            break;
        }
    }
    assert_eq!(seen, 200);
    // …by id and tracking number too, and their histories.
    let one: Value = app
        .data(
            "{ serviceRequests(first: 20) { edges { node { id trackingNumber } } } }",
            json!({}),
        )
        .await;
    for e in one["serviceRequests"]["edges"].as_array().unwrap() {
        let n = &e["node"];
        bodies.push(
            app.gql("query($i: ID, $t: String) { a: serviceRequest(id: $i) { reporter { email } address description } b: serviceRequest(trackingNumber: $t) { address history { body data } } }", json!({ "i": n["id"], "t": n["trackingNumber"] }))
                .await
                .to_string(),
        );
        bodies.push(
            app.gql(
                "query($i: ID!) { requestHistory(id: $i) { body data actorId } }",
                json!({ "i": n["id"] }),
            )
            .await
            .to_string(),
        );
    }
    // Other public documents.
    bodies.push(app.gql("{ serviceDefinitions { code name description attributes { code description } } departments { code name } jurisdictions { id name } me { email } apiKeyScopes { name } }", json!({})).await.to_string());
    for path in ["/healthz", "/readyz", "/metrics", "/auth/providers"] {
        bodies.push(
            app.client
                .get(app.url(path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    // Search: every public request's search view, and no personal datum is
    // findable — not as a hit, not in a count, not in a facet.
    app.settle().await;
    let mut after: Option<String> = None;
    let mut found = 0;
    loop {
        let body = app
            .gql(
                "query($after: String) { search(first: 100, after: $after) { total hits { id trackingNumber description address lat long snippets { text html } request { address description } } facets { status { value count } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        let page = &body["data"]["search"];
        found += page["hits"].as_array().unwrap().len();
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        let more = page["pageInfo"]["hasNextPage"].as_bool().unwrap();
        bodies.push(body.to_string());
        if !more {
            break;
        }
    }
    assert_eq!(found, 200);
    for secret in &secrets {
        let body = app
            .gql(
                "query($q: String) { search(query: $q, first: 5) { total hits { description snippets { field text } } facets { status { count } service { count } department { count } } } }",
                json!({ "q": secret }),
            )
            .await;
        assert_eq!(
            body["data"]["search"]["total"], 0,
            "an anonymous search for a private value found something: {body}"
        );
        assert!(
            body["data"]["search"]["facets"]["status"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{body}"
        );
    }
    for service in ["pothole", "missed-trash", "code-violation", "graffiti"] {
        bodies.push(
            app.gql(
                "query($s: String!) { possibleDuplicates(serviceCode: $s, lat: 39.78, long: -89.65, radiusM: 50000, maxAgeDays: 365, limit: 20) { request { description address lat long snippets { text } } } }",
                json!({ "s": service }),
            )
            .await
            .to_string(),
        );
    }
    // Open311, in both formats.
    for path in [
        "/open311/v2/requests.json?extensions=true&page_size=1000&start_date=2000-01-01T00:00:00Z&end_date=2100-01-01T00:00:00Z",
        "/open311/v2/requests.xml?extensions=true&page_size=1000&start_date=2000-01-01T00:00:00Z&end_date=2100-01-01T00:00:00Z",
        "/open311/v2/servicerequestupdates.json?start_date=2000-01-01T00:00:00Z&end_date=2100-01-01T00:00:00Z",
        "/open311/v2/services.json",
    ] {
        let text = app
            .client
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.len() > 100, "{path}: {text}");
        bodies.push(text);
    }
    for b in &bodies {
        let found = leaks(b, &secrets);
        assert!(found.is_empty(), "personal data in a public response: {found:?}");
    }
    // The test can see the data when it is allowed to: staff of Sanitation do.
    let staff = crate::helpers::As::User(app.user("san@riverbend.example", &["staff@sanitation"]).await);
    let body = app
        .gql_as(&staff, EVERYTHING, json!({ "after": null }))
        .await
        .to_string();
    assert!(
        !leaks(&body, &secrets).is_empty(),
        "staff should see their department's reporters"
    );
});
