use serde_json::json;
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::{As, TestApp};

const CHANGE: &str = "mutation($id: ID!, $s: RequestStatus!, $p: String, $i: String) { changeStatus(id: $id, status: $s, publicNote: $p, internalNote: $i) { status closedAt history { kind body public fromStatus toStatus } } }";

both_databases!(staff_move_a_request_through_its_life, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let staff = As::User(app.user("pw.crew@riverbend.example", &["staff@public-works"]).await);
    let r = app.submit_pothole("Hole by the bus stop").await;
    let id = r["trackingNumber"].clone();

    let d = app
        .data_as(
            &staff,
            CHANGE,
            json!({ "id": id, "s": "IN_PROGRESS", "p": "Crew on the way", "i": "Bring the big patcher" }),
        )
        .await;
    let h = d["changeStatus"]["history"].as_array().unwrap();
    assert_eq!(d["changeStatus"]["status"], "IN_PROGRESS");
    assert_eq!(h.len(), 4, "{h:?}");
    assert_eq!(h[1]["kind"], "STATUS_CHANGED");
    assert_eq!(h[1]["fromStatus"], "OPEN");
    assert_eq!(h[2]["body"], "Crew on the way");
    assert_eq!(h[3]["body"], "Bring the big patcher");
    assert_eq!(h[3]["public"], false);

    // The public sees the public note but not the internal one.
    let public = app
        .data(
            "query($t: String) { serviceRequest(trackingNumber: $t) { history { kind body } } }",
            json!({ "t": id }),
        )
        .await;
    let text = public.to_string();
    assert!(text.contains("Crew on the way"));
    assert!(!text.contains("big patcher"), "{text}");

    let d = app
        .data_as(&staff, CHANGE, json!({ "id": id, "s": "FIXED", "p": "Patched" }))
        .await;
    assert_eq!(d["changeStatus"]["status"], "FIXED");
    assert!(d["changeStatus"]["closedAt"].is_string());
    // Closing a closed request is refused, and writes nothing.
    let code = app
        .error_code_as(&staff, CHANGE, json!({ "id": id, "s": "CLOSED" }))
        .await;
    assert_eq!(code, "INVALID_STATUS_TRANSITION");
    let code = app
        .error_code_as(&staff, CHANGE, json!({ "id": id, "s": "FIXED" }))
        .await;
    assert_eq!(code, "INVALID_STATUS_TRANSITION");
    let d = app
        .data_as(&staff, CHANGE, json!({ "id": id, "s": "REOPENED", "p": "It is back" }))
        .await;
    assert_eq!(d["changeStatus"]["status"], "REOPENED");
    assert!(d["changeStatus"]["closedAt"].is_null());
    assert_eq!(d["changeStatus"]["history"].as_array().unwrap().len(), 8);
    let code = app
        .error_code_as(&staff, CHANGE, json!({ "id": id, "s": "DUPLICATE" }))
        .await;
    assert_eq!(code, "USE_MERGE_FOR_DUPLICATE");
    let code = app
        .error_code_as(&staff, CHANGE, json!({ "id": id, "s": "CLOSED", "p": "" }))
        .await;
    assert_eq!(code, "DESCRIPTION_EMPTY");
    let code = app
        .error_code_as(&staff, CHANGE, json!({ "id": "2026-999999", "s": "CLOSED" }))
        .await;
    assert_eq!(code, "NOT_FOUND");
});

both_databases!(notes_assignment_and_merging, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let boss = app
        .user("pw.boss@riverbend.example", &["supervisor@public-works"])
        .await;
    let crew = app.user("pw.crew@riverbend.example", &["staff@public-works"]).await;
    let sup = As::User(boss);
    let a = app.submit_pothole("Pothole on Elm").await;
    let b = app.submit_pothole("Same pothole on Elm, reported again").await;

    let note = "mutation($id: ID!, $b: String!, $v: NoteVisibility) { addNote(id: $id, body: $b, visibility: $v) { kind body public } }";
    let d = app
        .data_as(
            &sup,
            note,
            json!({ "id": a["id"], "b": "Neighbors called too", "v": "INTERNAL" }),
        )
        .await;
    assert_eq!(
        d["addNote"],
        json!({ "kind": "INTERNAL_NOTE", "body": "Neighbors called too", "public": false })
    );

    let assign =
        "mutation($id: ID!, $u: ID, $q: String) { assign(id: $id, assigneeId: $u, queue: $q) { assigneeId queue } }";
    let d = app
        .data_as(&sup, assign, json!({ "id": a["id"], "u": crew.user_id, "q": "Crew B" }))
        .await;
    assert_eq!(d["assign"], json!({ "assigneeId": crew.user_id, "queue": "Crew B" }));
    let code = app
        .error_code_as(
            &sup,
            assign,
            json!({ "id": a["id"], "u": "0190f5d2-0000-7000-8000-000000000000" }),
        )
        .await;
    assert_eq!(code, "UNKNOWN_ASSIGNEE");
    // Staff may not assign (supervisors do).
    let code = app
        .error_code_as(&As::User(crew), assign, json!({ "id": a["id"], "q": "Crew A" }))
        .await;
    assert_eq!(code, "FORBIDDEN");

    let merge = "mutation($d: ID!, $i: ID!) { mergeRequests(duplicateId: $d, intoId: $i, publicNote: \"Already reported\") { duplicate { status mergedInto closedAt } into { status history { kind } } } }";
    let d = app.data_as(&sup, merge, json!({ "d": b["id"], "i": a["id"] })).await;
    let m = &d["mergeRequests"];
    assert_eq!(m["duplicate"]["status"], "DUPLICATE");
    assert_eq!(m["duplicate"]["mergedInto"], a["id"]);
    assert!(m["duplicate"]["closedAt"].is_string());
    assert_eq!(m["into"]["status"], "OPEN");
    assert!(
        m["into"]["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "MERGED")
    );
    // Merging again, into itself, or into a duplicate is refused.
    assert_eq!(
        app.error_code_as(&sup, merge, json!({ "d": b["id"], "i": a["id"] }))
            .await,
        "INVALID_STATUS_TRANSITION"
    );
    assert_eq!(
        app.error_code_as(&sup, merge, json!({ "d": a["id"], "i": a["id"] }))
            .await,
        "MERGE_INTO_SELF"
    );
    assert_eq!(
        app.error_code_as(&sup, merge, json!({ "d": a["id"], "i": b["id"] }))
            .await,
        "MERGE_TARGET_IS_DUPLICATE"
    );
});
