use serde_json::{Value, json};
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::{Proc, SUBMIT};

async fn post(base: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

both_databases!(
    an_accepted_request_survives_kill_9_and_a_restart,
    |db: TestDb| async move {
        let p = Proc::serve(&db, &["--demo"]).await;
        let base = p.base.clone();
        let body = post(
        &base,
        SUBMIT,
        json!({ "input": { "serviceCode": "streetlight", "description": "Dark corner", "address": "1 Oak Ave", "attributes": { "PROBLEM": "out" } } }),
    )
    .await;
        let tn = body["data"]["submitRequest"]["trackingNumber"]
            .as_str()
            .unwrap()
            .to_owned();
        // Crash right after the 2xx.
        p.kill9();

        let p = Proc::serve(&db, &[]).await;
        let q = "query($t: String) { serviceRequest(trackingNumber: $t) { description status history { kind } } }";
        let back = post(&p.base, q, json!({ "t": tn })).await;
        assert_eq!(back["data"]["serviceRequest"]["description"], "Dark corner", "{back}");
        assert_eq!(
            back["data"]["serviceRequest"]["history"],
            json!([{ "kind": "CREATED" }])
        );
        // The demo is not loaded twice.
        let total = post(&p.base, "{ serviceRequests { totalCount } }", json!({})).await;
        assert_eq!(total["data"]["serviceRequests"]["totalCount"], 201);
        // SIGTERM: a clean exit.
        let status = p.terminate();
        assert!(status.success(), "{status:?}");
    }
);
