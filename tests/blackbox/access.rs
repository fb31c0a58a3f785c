//! The authorization matrix of `docs/access.md`, checked cell by cell, plus
//! the schema-coverage check that keeps the table complete.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::{As, Session, TestApp};

const COLUMNS: [&str; 8] = [
    "anon",
    "resident",
    "pw-staff",
    "pw-sup",
    "parks-staff",
    "admin",
    "key-311",
    "key-upd",
];

/// `(operation, [allow?; 8])` rows read from docs/access.md.
fn matrix() -> Vec<(String, Vec<bool>)> {
    let doc = std::fs::read_to_string(townhall_testkit::workspace_root().join("docs/access.md")).unwrap();
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in doc.lines() {
        if line.starts_with("| Operation |") {
            let header: Vec<&str> = line.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
            assert_eq!(&header[1..], &COLUMNS, "the matrix columns changed");
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
        if cells[0].starts_with("---") {
            continue;
        }
        let op = cells[0].trim_matches('`').to_owned();
        let allow = cells[1..]
            .iter()
            .map(|c| match *c {
                "allow" => true,
                "deny" => false,
                other => panic!("cell `{other}` in row {op}"),
            })
            .collect::<Vec<_>>();
        assert_eq!(allow.len(), COLUMNS.len(), "row {op}");
        rows.push((op, allow));
    }
    assert!(rows.len() > 40, "the matrix was not found");
    rows
}

fn denied_code(body: &Value) -> bool {
    matches!(
        body["errors"][0]["extensions"]["code"].as_str(),
        Some("UNAUTHENTICATED" | "FORBIDDEN")
    )
}

struct World {
    principals: Vec<As>,
    /// A Public Works request with a reporter, an assignee and an internal note.
    known: Value,
}

impl World {
    fn who(&self, col: usize) -> &As {
        &self.principals[col]
    }
}

async fn principal(app: &TestApp, col: usize, n: usize) -> As {
    let store_key = |scope: &str| {
        let access = app.app().access.clone();
        let scope = scope.to_owned();
        async move {
            access
                .create_api_key(&format!("key {n}"), &[scope], None)
                .await
                .unwrap()
                .1
        }
    };
    match COLUMNS[col] {
        "anon" => As::Anonymous,
        "resident" => As::User(app.user(&format!("resident{n}@example.net"), &[]).await),
        "pw-staff" => As::User(
            app.user(&format!("pwstaff{n}@riverbend.example"), &["staff@public-works"])
                .await,
        ),
        "pw-sup" => As::User(
            app.user(&format!("pwsup{n}@riverbend.example"), &["supervisor@public-works"])
                .await,
        ),
        "parks-staff" => As::User(app.user(&format!("parks{n}@riverbend.example"), &["staff@parks"]).await),
        "admin" => As::User(app.user(&format!("admin{n}@riverbend.example"), &["admin"]).await),
        "key-311" => As::Key(store_key("open311:write").await),
        "key-upd" => As::Key(store_key("requests:update").await),
        other => panic!("{other}"),
    }
}

async fn fresh_request(app: &TestApp) -> String {
    app.submit_pothole("matrix request").await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn gql_allowed(app: &TestApp, who: &As, q: &str, vars: Value) -> bool {
    let body = app.gql_as(who, q, vars).await;
    !denied_code(&body)
}

/// Runs one cell; returns whether the operation was allowed.
async fn run(app: &TestApp, w: &World, op: &str, col: usize, n: usize) -> bool {
    let who = w.who(col);
    let known = w.known["id"].clone();
    match op {
        "Query.jurisdictions" => gql_allowed(app, who, "{ jurisdictions { id } }", json!({})).await,
        "Query.departments" => gql_allowed(app, who, "{ departments { code } }", json!({})).await,
        "Query.serviceDefinitions" => gql_allowed(app, who, "{ serviceDefinitions { code } }", json!({})).await,
        "Query.serviceDefinitions(includeInactive)" => {
            gql_allowed(
                app,
                who,
                "{ serviceDefinitions(includeInactive: true) { code } }",
                json!({}),
            )
            .await
        }
        "Query.serviceDefinition" => {
            gql_allowed(app, who, "{ serviceDefinition(code: \"pothole\") { code } }", json!({})).await
        }
        "Query.serviceRequest" => {
            gql_allowed(
                app,
                who,
                "query($i: ID) { serviceRequest(id: $i) { id } }",
                json!({ "i": known }),
            )
            .await
        }
        "Query.serviceRequests" => {
            gql_allowed(app, who, "{ serviceRequests(first: 5) { totalCount } }", json!({})).await
        }
        "Query.requestHistory" => {
            gql_allowed(
                app,
                who,
                "query($i: ID!) { requestHistory(id: $i) { kind } }",
                json!({ "i": known }),
            )
            .await
        }
        "Query.search" => {
            gql_allowed(
                app,
                who,
                "{ search(query: \"pothole\", first: 1) { total } }",
                json!({}),
            )
            .await
        }
        "Query.possibleDuplicates" => {
            gql_allowed(
                app,
                who,
                "{ possibleDuplicates(serviceCode: \"pothole\", lat: 39.78, long: -89.65) { score } }",
                json!({}),
            )
            .await
        }
        "Field SearchHit.snippets(internal)" => {
            let d = app
                .data_as(
                    who,
                    "{ search(query: \"secret detail\") { hits { id snippets { field } } } }",
                    json!({}),
                )
                .await;
            let hits = d["search"]["hits"].as_array().unwrap();
            let found = hits.iter().any(|h| h["id"] == known);
            if found {
                assert!(
                    hits[0]["snippets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|s| s["field"] == "INTERNAL_NOTE"),
                    "{d}"
                );
            }
            found
        }
        "Query.me" => gql_allowed(app, who, "{ me { id } }", json!({})).await,
        "Query.myData" => gql_allowed(app, who, "{ myData }", json!({})).await,
        "Query.apiKeys" => gql_allowed(app, who, "{ apiKeys { id } }", json!({})).await,
        "Query.apiKeyScopes" => gql_allowed(app, who, "{ apiKeyScopes { name } }", json!({})).await,
        "Query.users" => gql_allowed(app, who, "{ users { id } }", json!({})).await,
        "Query.accessPolicy" => gql_allowed(app, who, "{ accessPolicy { ptype } }", json!({})).await,
        "Query.auditLog" => gql_allowed(app, who, "{ auditLog { id } }", json!({})).await,
        "Query.plugins" => gql_allowed(app, who, "{ plugins { id } }", json!({})).await,
        "Query.pluginFaults" => {
            gql_allowed(app, who, "{ pluginFaults(id: \"public-works\") { kind } }", json!({})).await
        }
        "Field ServiceRequest.reporter"
        | "Field ServiceRequest.assigneeId"
        | "Field ServiceRequest.history(internal)" => {
            let d = app
                .data_as(
                    who,
                    "query($i: ID) { serviceRequest(id: $i) { reporter { email } assigneeId history { kind } } }",
                    json!({ "i": known }),
                )
                .await;
            let r = &d["serviceRequest"];
            match op {
                "Field ServiceRequest.reporter" => {
                    let shown = !r["reporter"].is_null();
                    if shown {
                        assert_eq!(r["reporter"]["email"], "zed.quill@example.net");
                    }
                    shown
                }
                "Field ServiceRequest.assigneeId" => !r["assigneeId"].is_null(),
                _ => r["history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["kind"] == "INTERNAL_NOTE"),
            }
        }
        "Mutation.submitRequest" => {
            let body = app
                .gql_as(
                    who,
                    crate::helpers::SUBMIT,
                    json!({ "input": { "serviceCode": "graffiti", "description": "tags", "address": "1 Elm St", "attributes": { "SURFACE": "public" } } }),
                )
                .await;
            assert!(denied_code(&body) || body.get("errors").is_none(), "{body}");
            !denied_code(&body)
        }
        "Mutation.changeStatus" => {
            let id = fresh_request(app).await;
            gql_allowed(
                app,
                who,
                "mutation($i: ID!) { changeStatus(id: $i, status: ACKNOWLEDGED) { status } }",
                json!({ "i": id }),
            )
            .await
        }
        "Mutation.addNote(public)" | "Mutation.addNote(internal)" => {
            let v = if op.contains("public") { "PUBLIC" } else { "INTERNAL" };
            gql_allowed(
                app,
                who,
                "mutation($i: ID!, $v: NoteVisibility) { addNote(id: $i, body: \"hello\", visibility: $v) { id } }",
                json!({ "i": known, "v": v }),
            )
            .await
        }
        "Mutation.assign" => {
            let id = fresh_request(app).await;
            gql_allowed(
                app,
                who,
                "mutation($i: ID!) { assign(id: $i, queue: \"Crew Z\") { queue } }",
                json!({ "i": id }),
            )
            .await
        }
        "Mutation.mergeRequests" => {
            let (a, b) = (fresh_request(app).await, fresh_request(app).await);
            gql_allowed(
                app,
                who,
                "mutation($a: ID!, $b: ID!) { mergeRequests(duplicateId: $a, intoId: $b) { into { id } } }",
                json!({ "a": a, "b": b }),
            )
            .await
        }
        "Mutation.signUp" => {
            gql_allowed(
                app,
                who,
                "mutation($e: String!) { signUp(email: $e, password: \"long enough password\") { ok } }",
                json!({ "e": format!("signup{n}-{col}@example.net") }),
            )
            .await
        }
        "Mutation.verifyEmail" => {
            gql_allowed(app, who, "mutation { verifyEmail(token: \"nope\") { ok } }", json!({})).await
        }
        "Mutation.login" => {
            gql_allowed(
                app,
                who,
                "mutation { login(email: \"nobody@example.net\", password: \"wrong password!\") { csrfToken } }",
                json!({}),
            )
            .await
        }
        "Mutation.logout" => {
            let fresh = principal(app, col, n + 1000).await;
            gql_allowed(app, &fresh, "mutation { logout { ok } }", json!({})).await
        }
        "Mutation.requestPasswordReset" => {
            gql_allowed(
                app,
                who,
                "mutation { requestPasswordReset(email: \"nobody@example.net\") { ok } }",
                json!({}),
            )
            .await
        }
        "Mutation.resetPassword" => {
            gql_allowed(
                app,
                who,
                "mutation { resetPassword(token: \"nope\", newPassword: \"long enough password\") { ok } }",
                json!({}),
            )
            .await
        }
        "Mutation.deleteMyAccount" => {
            let fresh = principal(app, col, n + 2000).await;
            let email = match &fresh {
                As::User(_) => app.data_as(&fresh, "{ me { email } }", json!({})).await["me"]["email"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                _ => "x@example.net".to_owned(),
            };
            gql_allowed(
                app,
                &fresh,
                "mutation($e: String!) { deleteMyAccount(confirmEmail: $e) { ok } }",
                json!({ "e": email }),
            )
            .await
        }
        "Mutation.createApiKey" => {
            gql_allowed(
                app,
                who,
                "mutation { createApiKey(name: \"k\", scopes: [\"open311:write\"]) { secret } }",
                json!({}),
            )
            .await
        }
        "Mutation.revokeApiKey" => {
            let (row, _) = app.app().access.create_api_key("victim", &[], None).await.unwrap();
            gql_allowed(
                app,
                who,
                "mutation($i: ID!) { revokeApiKey(id: $i) }",
                json!({ "i": row.id.to_string() }),
            )
            .await
        }
        "Mutation.grantRole" | "Mutation.revokeRole" => {
            let target = app.user(&format!("target{n}-{col}@example.net"), &[]).await;
            let m = if op.ends_with("grantRole") {
                "grantRole"
            } else {
                "revokeRole"
            };
            gql_allowed(
                app,
                who,
                &format!("mutation($u: ID!) {{ {m}(userId: $u, role: \"staff@parks\") }}"),
                json!({ "u": target.user_id }),
            )
            .await
        }
        "Mutation.addPolicy" => {
            gql_allowed(
                app,
                who,
                "mutation { addPolicy(role: \"resident\", domain: \"*\", object: \"catalog\", action: \"read\") }",
                json!({}),
            )
            .await
        }
        "Mutation.removePolicy" => {
            gql_allowed(
                app,
                who,
                "mutation { removePolicy(role: \"nobody\", domain: \"*\", object: \"x\", action: \"y\") }",
                json!({}),
            )
            .await
        }
        "Mutation.inspectPlugin" | "Mutation.installPlugin" => {
            let m = if op.ends_with("inspectPlugin") {
                "inspectPlugin(component: $c) { id }"
            } else {
                "installPlugin(component: $c) { notGranted }"
            };
            let body = upload(app, who, &format!("mutation($c: Upload!) {{ {m} }}")).await;
            !denied_code(&body)
        }
        "Mutation.grantPluginCapabilities" => {
            gql_allowed(
                app,
                who,
                "mutation { grantPluginCapabilities(id: \"nope\", capabilities: [\"kv\"]) { id } }",
                json!({}),
            )
            .await
        }
        "Mutation.revokePluginCapabilities" => {
            gql_allowed(
                app,
                who,
                "mutation { revokePluginCapabilities(id: \"nope\", capabilities: [\"kv\"]) { id } }",
                json!({}),
            )
            .await
        }
        "Mutation.enablePlugin" => {
            gql_allowed(app, who, "mutation { enablePlugin(id: \"nope\") { id } }", json!({})).await
        }
        "Mutation.disablePlugin" => {
            gql_allowed(
                app,
                who,
                "mutation { disablePlugin(id: \"nope\", reason: \"x\") { id } }",
                json!({}),
            )
            .await
        }
        "Mutation.configurePlugin" => {
            gql_allowed(app, who, "mutation { configurePlugin(id: \"nope\") { id } }", json!({})).await
        }
        "Mutation.uninstallPlugin" => {
            gql_allowed(app, who, "mutation { uninstallPlugin(id: \"nope\") }", json!({})).await
        }
        rest if rest.starts_with("POST /open311/") => {
            let path = &rest[5..];
            let tracking = w.known["trackingNumber"].as_str().unwrap().to_owned();
            let form: Vec<(&str, &str)> = if path.contains("servicerequestupdates") {
                vec![
                    ("service_request_id", tracking.as_str()),
                    ("description", "matrix update"),
                ]
            } else {
                vec![
                    ("service_code", "graffiti"),
                    ("address_string", "1 Elm St"),
                    ("attribute[SURFACE]", "public"),
                    ("description", "tags"),
                ]
            };
            let mut req = app.client.post(app.url(path)).form(&form);
            match who {
                As::Anonymous => {}
                As::User(s) => {
                    req = req
                        .header("cookie", format!("townhall_session={}", s.cookie))
                        .header("x-csrf-token", &s.csrf)
                }
                As::Key(k) => req = req.bearer_auth(k),
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            assert!(status < 500, "{rest}: {status} {body}");
            !matches!(status, 401 | 403)
        }
        rest if rest.starts_with("GET ") => {
            let path = &rest[4..];
            let mut req = app.client.get(app.url(path));
            match who {
                As::Anonymous => {}
                As::User(s) => req = req.header("cookie", format!("townhall_session={}", s.cookie)),
                As::Key(k) => req = req.bearer_auth(k),
            }
            let status = req.send().await.unwrap().status().as_u16();
            !matches!(status, 401 | 403)
        }
        other => panic!("docs/access.md names `{other}`, which this test does not know how to run"),
    }
}

async fn upload(app: &TestApp, who: &As, query: &str) -> Value {
    let operations = json!({ "query": query, "variables": { "c": null } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.c"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(b"not a component".to_vec()).file_name("x.wasm"),
        );
    let mut req = app.client.post(app.url("/graphql")).multipart(form);
    match who {
        As::Anonymous => {}
        As::User(s) => {
            req = req
                .header("cookie", format!("townhall_session={}", s.cookie))
                .header("x-csrf-token", &s.csrf)
        }
        As::Key(k) => req = req.bearer_auth(k),
    }
    req.send().await.unwrap().json().await.unwrap()
}

both_databases!(the_authorization_matrix_holds, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let rows = matrix();

    // Every query and mutation of the schema has a row.
    let schema = app
        .data(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    let documented: BTreeSet<String> = rows
        .iter()
        .map(|(op, _)| op.split('(').next().unwrap().to_owned())
        .collect();
    for (kind, key) in [("Query", "queryType"), ("Mutation", "mutationType")] {
        for f in schema["__schema"][key]["fields"].as_array().unwrap() {
            let name = format!("{kind}.{}", f["name"].as_str().unwrap());
            assert!(
                documented.contains(&name),
                "{name} is missing from the matrix in docs/access.md"
            );
        }
    }

    let mut principals = Vec::new();
    for col in 0..COLUMNS.len() {
        principals.push(principal(&app, col, 0).await);
    }
    // The known request: reported by Zed Quill, assigned, with an internal note.
    let known = app.submit_pothole("known request").await;
    let sup = app
        .user("setup.sup@riverbend.example", &["supervisor@public-works"])
        .await;
    let sup = As::User(sup);
    let As::User(Session { user_id, .. }) = &principals[2] else {
        unreachable!()
    };
    app.data_as(
        &sup,
        "mutation($i: ID!, $u: ID) { assign(id: $i, assigneeId: $u) { id } }",
        json!({ "i": known["id"], "u": user_id }),
    )
    .await;
    app.data_as(
        &sup,
        "mutation($i: ID!) { addNote(id: $i, body: \"secret detail\", visibility: INTERNAL) { id } }",
        json!({ "i": known["id"] }),
    )
    .await;
    app.settle().await;
    let world = World { principals, known };

    let mut wrong = Vec::new();
    for (n, (op, expected)) in rows.iter().enumerate() {
        for (col, want) in expected.iter().enumerate() {
            let got = run(&app, &world, op, col, n).await;
            if got != *want {
                wrong.push(format!(
                    "{op} / {}: expected {}, got {}",
                    COLUMNS[col],
                    if *want { "allow" } else { "deny" },
                    if got { "allow" } else { "deny" }
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "the matrix does not hold:\n{}", wrong.join("\n"));
});

both_databases!(a_resident_cannot_escalate, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let me = app.user("sneaky@example.net", &[]).await;
    let who = As::User(me.clone());
    for (q, vars) in [
        (
            "mutation($u: ID!) { grantRole(userId: $u, role: \"admin\") }",
            json!({ "u": me.user_id }),
        ),
        (
            "mutation { addPolicy(role: \"resident\", domain: \"*\", object: \"*\", action: \"*\") }",
            json!({}),
        ),
        (
            "mutation { createApiKey(name: \"mine\", scopes: [\"requests:read_private\"]) { secret } }",
            json!({}),
        ),
    ] {
        assert_eq!(app.error_code_as(&who, q, vars).await, "FORBIDDEN", "{q}");
    }
    let roles = app.data_as(&who, "{ me { roles } }", json!({})).await;
    assert_eq!(roles["me"]["roles"], json!([]));
    // Policy unchanged: a resident still cannot read private data.
    let r = app.submit_pothole("after escalation attempts").await;
    let d = app
        .data_as(
            &who,
            "query($i: ID) { serviceRequest(id: $i) { reporter { email } } }",
            json!({ "i": r["id"] }),
        )
        .await;
    assert!(d["serviceRequest"]["reporter"].is_null());
});

both_databases!(policy_changes_apply_without_restart, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let admin = app.admin().await;
    let staff = As::User(app.user("parks.crew@riverbend.example", &["staff@parks"]).await);
    let r = app.submit_pothole("needs a second department").await;
    let assign = "mutation($i: ID!) { assign(id: $i, queue: \"Parks crew\") { queue } }";
    // Staff may not assign by default…
    assert_eq!(
        app.error_code_as(&staff, assign, json!({ "i": r["id"] })).await,
        "FORBIDDEN"
    );
    // …until an administrator lets staff of Public Works assign, and gives this person that role.
    app.data_as(
        &admin,
        "mutation { addPolicy(role: \"staff\", domain: \"public-works\", object: \"request\", action: \"assign\") }",
        json!({}),
    )
    .await;
    let As::User(s) = &staff else { unreachable!() };
    app.data_as(
        &admin,
        "mutation($u: ID!) { grantRole(userId: $u, role: \"staff@public-works\") }",
        json!({ "u": s.user_id }),
    )
    .await;
    let d = app.data_as(&staff, assign, json!({ "i": r["id"] })).await;
    assert_eq!(d["assign"]["queue"], "Parks crew");
    // Removing the permission takes it away again.
    app.data_as(
        &admin,
        "mutation { removePolicy(role: \"staff\", domain: \"public-works\", object: \"request\", action: \"assign\") }",
        json!({}),
    )
    .await;
    assert_eq!(
        app.error_code_as(&staff, assign, json!({ "i": r["id"] })).await,
        "FORBIDDEN"
    );
    // Bad lines are refused.
    let code = app
        .error_code_as(
            &admin,
            "mutation { addPolicy(role: \"a,b\", domain: \"*\", object: \"x\", action: \"y\") }",
            json!({}),
        )
        .await;
    assert_eq!(code, "INVALID_INPUT");
});
