//! The plugin platform end to end: install a component into a running
//! server (through GraphQL and through the CLI), see its services in the
//! catalog, have it validate and route submissions, and react after commit.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use townhall_plugin_fixtures::{PUBLIC_WORKS, PUBLIC_WORKS_CONFIG};
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::{As, Proc, SUBMIT, TestApp, run_cli};

/// Installs a component through the GraphQL multipart upload.
async fn install(app: &TestApp, admin: &As, grants: &[&str]) -> Value {
    let As::User(s) = admin else {
        panic!("admin session expected")
    };
    let config: Value = serde_json::from_str(&std::fs::read_to_string(PUBLIC_WORKS_CONFIG).unwrap()).unwrap();
    let operations = json!({
        "query": "mutation($c: Upload!, $g: [String!]!, $cfg: JSON) { installPlugin(component: $c, grants: $g, config: $cfg) { plugin { id version services enabled grants requestedCapabilities } notGranted } }",
        "variables": { "c": null, "g": grants, "cfg": config },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.c"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(std::fs::read(PUBLIC_WORKS).unwrap()).file_name("public_works.wasm"),
        );
    app.client
        .post(app.url("/graphql"))
        .header("cookie", format!("townhall_session={}", s.cookie))
        .header("x-csrf-token", &s.csrf)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

both_databases!(
    a_plugin_installed_at_run_time_validates_routes_and_reacts,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        let admin = app.admin().await;

        // Only administrators install.
        let crew = As::User(app.user("crew@riverbend.example", &["staff@public-works"]).await);
        let denied = app.error_code_as(&crew, "{ plugins { id } }", json!({})).await;
        assert_eq!(denied, "FORBIDDEN");

        let body = install(&app, &admin, &[]).await;
        assert!(body.get("errors").is_none(), "{body}");
        let p = &body["data"]["installPlugin"]["plugin"];
        assert_eq!(p["id"], "public-works");
        assert_eq!(p["enabled"], true);
        assert_eq!(p["services"], json!(["pothole", "road-damage", "streetlight"]));

        // The catalog now has its services, with its form.
        let d = app
            .data(
                "{ serviceDefinitions { code pluginId attributes { code } } }",
                json!({}),
            )
            .await;
        let services = d["serviceDefinitions"].as_array().unwrap();
        let road = services
            .iter()
            .find(|s| s["code"] == "road-damage")
            .expect("road-damage in the catalog");
        assert_eq!(road["pluginId"], "public-works");
        let pothole = services.iter().find(|s| s["code"] == "pothole").unwrap();
        assert_eq!(pothole["pluginId"], "public-works");
        assert!(
            pothole["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["code"] == "hazard_in_lane")
        );
        assert_eq!(services.len(), 10);

        // A hazard in Ward 1 goes to that ward's crew at raised priority.
        let input = |attrs: Value| json!({ "input": { "serviceCode": "pothole", "description": "Crater in the lane", "lat": 39.80, "long": -89.70, "attributes": attrs } });
        let d = app
        .data(
            "mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id trackingNumber priority queue department { code } } }",
            input(json!({ "hazard_in_lane": "yes", "size": "large" })),
        )
        .await;
        let r = &d["submitRequest"];
        assert_eq!(r["queue"], "streets-northwest", "{d}");
        assert_eq!(r["priority"], "CRITICAL");
        assert_eq!(r["department"]["code"], "public-works");
        let calm = app
            .data(
                "mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { priority } }",
                input(json!({ "hazard_in_lane": "no", "size": "small" })),
            )
            .await;
        assert_eq!(calm["submitRequest"]["priority"], "HIGH");

        // The plugin's own validation refuses with its own codes; nothing is written.
        let code = app
            .error_code(
                SUBMIT,
                input(json!({ "hazard_in_lane": "no", "size": "small", "depth_inches": "99" })),
            )
            .await;
        assert_eq!(code, "DEPTH_OUT_OF_RANGE");

        // After commit: scheduling the work makes the plugin post a public note.
        let staff = As::User(app.user("pw.lead@riverbend.example", &["staff@public-works"]).await);
        app.data_as(
            &staff,
            "mutation($id: ID!) { changeStatus(id: $id, status: ACTION_SCHEDULED) { status } }",
            json!({ "id": r["id"] }),
        )
        .await;
        // After-commit work: a plugin call that timed out on a busy machine
        // is retried with backoff, so allow for a retry or two.
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let h = app
                .data(
                    "query($i: ID) { serviceRequest(id: $i) { history { kind body actorType } } }",
                    json!({ "i": r["id"] }),
                )
                .await;
            let notes: Vec<&Value> = h["serviceRequest"]["history"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == "PUBLIC_NOTE" && e["actorType"] == "plugin")
                .collect();
            if let Some(n) = notes.first() {
                let body = n["body"].as_str().unwrap();
                assert!(
                    body.contains(r["trackingNumber"].as_str().unwrap()) && body.contains("streets-northwest"),
                    "{body}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "the plugin's note did not arrive: {h}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Disabled: its services answer with a plugin fault; enabled again, they work.
        let d = app
            .data_as(
                &admin,
                "mutation { disablePlugin(id: \"public-works\", reason: \"maintenance\") { enabled disabledReason } }",
                json!({}),
            )
            .await;
        assert_eq!(
            d["disablePlugin"],
            json!({ "enabled": false, "disabledReason": "maintenance" })
        );
        let code = app
            .error_code(SUBMIT, input(json!({ "hazard_in_lane": "no", "size": "small" })))
            .await;
        assert_eq!(code, "PLUGIN_DISABLED");
        app.data_as(
            &admin,
            "mutation { enablePlugin(id: \"public-works\") { enabled } }",
            json!({}),
        )
        .await;
        app.data(SUBMIT, input(json!({ "hazard_in_lane": "no", "size": "small" })))
            .await;

        // Uninstalled: its services leave the catalog; its requests keep their history.
        let d = app
            .data_as(&admin, "mutation { uninstallPlugin(id: \"public-works\") }", json!({}))
            .await;
        assert!(d["uninstallPlugin"].as_array().unwrap().contains(&json!("road-damage")));
        let codes: Vec<String> = app.data("{ serviceDefinitions { code } }", json!({})).await["serviceDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            !codes.contains(&"road-damage".to_owned()) && !codes.contains(&"pothole".to_owned()),
            "{codes:?}"
        );
        let h = app
            .data(
                "query($i: ID) { serviceRequest(id: $i) { history { kind } } }",
                json!({ "i": r["id"] }),
            )
            .await;
        assert!(h["serviceRequest"]["history"].as_array().unwrap().len() >= 3, "{h}");
        // The audit trail has it all.
        let log = app
            .data_as(&admin, "{ auditLog(targetId: \"public-works\") { action } }", json!({}))
            .await;
        let actions: Vec<&str> = log["auditLog"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for a in ["install_plugin", "disable_plugin", "enable_plugin", "uninstall_plugin"] {
            assert!(actions.contains(&a), "{actions:?}");
        }
    }
);

both_databases!(
    the_cli_installs_into_a_running_server_within_a_second,
    |db: TestDb| async move {
        let p = Proc::serve(&db, &["--demo"]).await;
        let o = run_cli(
            &["plugin", "install", PUBLIC_WORKS, "--config-file", PUBLIC_WORKS_CONFIG],
            &db,
            "",
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = run_cli(&["plugin", "list"], &db, "");
        assert!(String::from_utf8_lossy(&o.stdout).contains("public-works"));
        let c = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let d: Value = c
                .post(format!("{}/graphql", p.base))
                .json(&json!({ "query": "{ serviceDefinition(code: \"road-damage\") { pluginId } }" }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if d["data"]["serviceDefinition"]["pluginId"] == "public-works" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the running server did not pick the plugin up: {d}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let o = run_cli(&["plugin", "install", PUBLIC_WORKS], &db, "");
        assert!(!o.status.success(), "installing twice without --upgrade is refused");
        assert!(String::from_utf8_lossy(&o.stderr).contains("PLUGIN_ALREADY_INSTALLED"));
        let o = run_cli(&["plugin", "uninstall", "public-works"], &db, "");
        assert!(o.status.success());
        p.terminate();
    }
);

/// The guide's path, end to end: `townhall plugin new`, a plain
/// `cargo build --release --target wasm32-wasip2`, install into a running
/// server without a restart, and a GraphQL submission validated and routed
/// by the new plugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_written_from_the_guide_installs_and_routes() {
    let db = townhall_testkit::sqlite().await;
    let work = tempfile::tempdir().unwrap();
    let root = townhall_testkit::workspace_root();
    let o = std::process::Command::new(crate::helpers::bin())
        .args(["plugin", "new", "snow-removal", "--dir"])
        .arg(work.path())
        .arg("--sdk-path")
        .arg(root.join("sdk"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let krate = work.path().join("snow-removal");
    // A plain build, as the guide says (its own target folder, shared between runs).
    let target = root.join("target/plugin-guide");
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target)
        .current_dir(&krate)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .unwrap();
    assert!(status.success(), "the scaffolded plugin must build");
    let wasm = target.join("wasm32-wasip2/release/snow_removal.wasm");
    assert!(wasm.exists(), "{}", wasm.display());

    let p = Proc::serve(&db, &["--demo"]).await;
    let cfg = work.path().join("snow.json");
    std::fs::write(&cfg, r#"{ "crew": "plow-1" }"#).unwrap();
    let o = run_cli(
        &[
            "plugin",
            "install",
            wasm.to_str().unwrap(),
            "--config-file",
            cfg.to_str().unwrap(),
        ],
        &db,
        "",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let c = reqwest::Client::new();
    let post = |q: &'static str, v: Value| {
        let c = c.clone();
        let base = p.base.clone();
        async move {
            c.post(format!("{base}/graphql"))
                .json(&json!({ "query": q, "variables": v }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let d = post(
            "{ serviceDefinition(code: \"snow-removal\") { pluginId department { code } } }",
            json!({}),
        )
        .await;
        if d["data"]["serviceDefinition"]["pluginId"] == "snow-removal" {
            break;
        }
        assert!(Instant::now() < deadline, "the new service never appeared: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let submit = "mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { queue priority } }";
    let routed = post(submit, json!({ "input": { "serviceCode": "snow-removal", "description": "Unplowed hill", "lat": 39.78, "long": -89.65, "attributes": { "urgent": "yes" } } })).await;
    assert_eq!(
        routed["data"]["submitRequest"],
        json!({ "queue": "plow-1", "priority": "HIGH" }),
        "{routed}"
    );
    // Its own validation runs too.
    let refused = post(submit, json!({ "input": { "serviceCode": "snow-removal", "description": "Somewhere", "address": "1 Elm St", "attributes": { "urgent": "no" } } })).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "LOCATION_REQUIRED",
        "{refused}"
    );
    p.terminate();
}
