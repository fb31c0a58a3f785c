use serde_json::json;
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::TestApp;

both_databases!(
    demo_lists_the_nine_services_with_departments_and_slas,
    |db: TestDb| async move {
        let app = TestApp::demo(db).await;
        let d = app
            .data(
                "{ serviceDefinitions { code name department { name } slaHours defaultPriority } }",
                json!({}),
            )
            .await;
        let services = d["serviceDefinitions"].as_array().unwrap();
        assert_eq!(services.len(), 9, "{d}");
        let by_code = |c: &str| services.iter().find(|s| s["code"] == c).unwrap().clone();
        assert_eq!(by_code("pothole")["department"]["name"], "Public Works");
        assert_eq!(by_code("pothole")["slaHours"], 7 * 24);
        assert_eq!(by_code("abandoned-vehicle")["slaHours"], 72);
        assert_eq!(by_code("water-sewer")["defaultPriority"], "CRITICAL");
        assert_eq!(by_code("water-sewer")["department"]["name"], "Utilities");
        assert_eq!(by_code("missed-trash")["department"]["name"], "Sanitation");
        let depts = app.data("{ departments { code } }", json!({})).await;
        assert_eq!(depts["departments"].as_array().unwrap().len(), 6);
    }
);

both_databases!(service_definition_exposes_the_form, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let d = app
        .data(
            "{ serviceDefinition(code: \"illegal-dumping\") { metadata attributes { code datatype required order description values { key name } } } }",
            json!({}),
        )
        .await;
    let s = &d["serviceDefinition"];
    assert_eq!(s["metadata"], true);
    let a = &s["attributes"][0];
    assert_eq!(a["code"], "MATERIALS");
    assert_eq!(a["datatype"], "MULTIVALUELIST");
    assert_eq!(a["required"], true);
    assert!(a["values"].as_array().unwrap().iter().any(|v| v["key"] == "tires"));
    let missing = app
        .data("{ serviceDefinition(code: \"nope\") { code } }", json!({}))
        .await;
    assert!(missing["serviceDefinition"].is_null());
    // Inactive services are for administrators only.
    let code = app
        .error_code("{ serviceDefinitions(includeInactive: true) { code } }", json!({}))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
});

both_databases!(an_unknown_jurisdiction_is_refused, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let code = app
        .error_code(
            "{ serviceDefinitions(jurisdictionId: \"atlantis\") { code } }",
            json!({}),
        )
        .await;
    assert_eq!(code, "UNKNOWN_JURISDICTION");
    let d = app
        .data(
            "{ serviceDefinitions(jurisdictionId: \"riverbend\") { code } jurisdictions { id isDefault } }",
            json!({}),
        )
        .await;
    assert_eq!(d["serviceDefinitions"].as_array().unwrap().len(), 9);
    assert_eq!(d["jurisdictions"], json!([{ "id": "riverbend", "isDefault": true }]));
});
