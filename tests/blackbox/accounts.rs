//! Residents' accounts against a real SMTP server (aiosmtpd): sign-up with
//! email verification, password reset, throttling, sessions and CSRF, API
//! keys, data export and account deletion — and no answer that tells
//! whether an account exists.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};
use townhall_server::config::SecretUrl;
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::{As, Session, TestApp};

struct Smtp {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start(dir: PathBuf) -> Smtp {
        let script = townhall_testkit::workspace_root().join("tests/python/smtp_sink.py");
        let mut child = Command::new(townhall_testkit::python())
            .arg(script)
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines.next().expect("smtp sink output").unwrap();
            if let Some(p) = line.strip_prefix("READY ") {
                break p.trim().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Smtp { child, dir, port }
    }

    /// Every message so far, decoded enough to read (soft line breaks joined).
    fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .replace("=\r\n", "")
                    .replace("=3D", "=")
            })
            .collect()
    }

    /// The newest message to `to`, waiting briefly for it.
    fn last_to(&self, to: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(m) = self
                .messages()
                .into_iter()
                .rev()
                .find(|m| m.starts_with(&format!("X-Envelope-To: {to}")))
            {
                return m;
            }
            assert!(Instant::now() < deadline, "no email to {to} arrived");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn count_to(&self, to: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.starts_with(&format!("X-Envelope-To: {to}")))
            .count()
    }
}

fn token_in(mail: &str, label: &str) -> String {
    mail.split(label)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no `{label}` in {mail}"))
        .to_owned()
}

async fn app_with_smtp(db: TestDb) -> (TestApp, Smtp) {
    let dir = db.data_dir().unwrap().join("smtp");
    let smtp = Smtp::start(dir);
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = TestApp::spawn_with(
        db,
        move |c| {
            c.mail.smtp_url = SecretUrl(url);
            c.auth.max_failures_per_ip = 12;
        },
        true,
    )
    .await;
    (app, smtp)
}

const SIGN_UP: &str =
    "mutation($e: String!, $p: String!) { signUp(email: $e, password: $p, displayName: \"Ana\") { ok message } }";

async fn try_login(app: &TestApp, email: &str, password: &str) -> Value {
    app.gql(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { csrfToken } }",
        json!({ "e": email, "p": password }),
    )
    .await
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

both_databases!(sign_up_verify_and_reset_by_email, |db: TestDb| async move {
    let (app, smtp) = app_with_smtp(db).await;
    let d = app
        .data(
            SIGN_UP,
            json!({ "e": "Ana.Resident@Example.NET", "p": "a good long password" }),
        )
        .await;
    let first_answer = d["signUp"].clone();
    let mail = smtp.last_to("ana.resident@example.net");
    assert!(mail.contains("Confirm your email"), "{mail}");
    let token = token_in(&mail, "Verification token: ");

    // The same address again: the same answer, and the owner is told.
    let again = app
        .data(
            SIGN_UP,
            json!({ "e": "ana.resident@example.net", "p": "another long password" }),
        )
        .await;
    assert_eq!(
        again["signUp"], first_answer,
        "sign-up must not reveal existing accounts"
    );
    assert!(smtp.last_to("ana.resident@example.net").contains("already has one"));
    // The first password still works; the second attempt changed nothing.
    assert!(code(&try_login(&app, "ana.resident@example.net", "another long password").await) == "INVALID_CREDENTIALS");

    // Weak passwords and junk addresses are refused precisely.
    assert_eq!(
        app.error_code(SIGN_UP, json!({ "e": "b@example.net", "p": "short" }))
            .await,
        "WEAK_PASSWORD"
    );
    assert_eq!(
        app.error_code(SIGN_UP, json!({ "e": "not-an-email", "p": "a good long password" }))
            .await,
        "INVALID_INPUT"
    );

    let verify = "mutation($t: String!) { verifyEmail(token: $t) { ok } }";
    assert_eq!(
        app.error_code(verify, json!({ "t": "0".repeat(64) })).await,
        "INVALID_TOKEN"
    );
    app.data(verify, json!({ "t": token })).await;
    assert_eq!(
        app.error_code(verify, json!({ "t": token })).await,
        "INVALID_TOKEN",
        "tokens work once"
    );

    let s = app.login("ana.resident@example.net", "a good long password").await;
    let me = app
        .data_as(&As::User(s.clone()), "{ me { email emailVerified roles } }", json!({}))
        .await;
    assert_eq!(
        me["me"],
        json!({ "email": "ana.resident@example.net", "emailVerified": true, "roles": [] })
    );

    // Password reset: same answer for unknown addresses, and no email for them.
    let reset = "mutation($e: String!) { requestPasswordReset(email: $e) { ok message } }";
    let known = app.data(reset, json!({ "e": "ana.resident@example.net" })).await;
    let unknown = app.data(reset, json!({ "e": "nobody.here@example.net" })).await;
    assert_eq!(known, unknown);
    assert_eq!(smtp.count_to("nobody.here@example.net"), 0);
    let mail = smtp.last_to("ana.resident@example.net");
    let token = token_in(&mail, "Reset token: ");
    let set = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { ok } }";
    assert_eq!(
        app.error_code(set, json!({ "t": token, "p": "short" })).await,
        "WEAK_PASSWORD"
    );
    app.data(set, json!({ "t": token, "p": "a brand new password" })).await;
    assert_eq!(
        app.error_code(set, json!({ "t": token, "p": "yet another password" }))
            .await,
        "INVALID_TOKEN"
    );
    // The old session ended with the reset; the new password works, the old does not.
    let body = app.gql_as(&As::User(s), "{ me { email } }", json!({})).await;
    assert_eq!(code(&body), "INVALID_SESSION");
    assert_eq!(
        code(&try_login(&app, "ana.resident@example.net", "a good long password").await),
        "INVALID_CREDENTIALS"
    );
    app.login("ana.resident@example.net", "a brand new password").await;
});

both_databases!(sign_in_is_throttled_and_tells_nothing, |db: TestDb| async move {
    let (app, _smtp) = app_with_smtp(db).await;
    let access = app.app().access.clone();
    access
        .add_user("target@example.net", "correct horse battery", &[])
        .await
        .unwrap();
    access
        .add_user("innocent@example.net", "correct horse battery", &[])
        .await
        .unwrap();
    let wrong = try_login(&app, "target@example.net", "not the password").await;
    let nobody = try_login(&app, "ghost@example.net", "not the password").await;
    assert_eq!(code(&wrong), "INVALID_CREDENTIALS");
    assert_eq!(
        wrong["errors"][0]["message"], nobody["errors"][0]["message"],
        "no enumeration"
    );
    for _ in 0..4 {
        try_login(&app, "target@example.net", "not the password").await;
    }
    // Five failures: even the right password is refused for a while.
    assert_eq!(
        code(&try_login(&app, "target@example.net", "correct horse battery").await),
        "TOO_MANY_ATTEMPTS"
    );
    // Per address: many accounts from one client are throttled too (limit 12 here).
    for i in 0..7 {
        try_login(&app, &format!("spray{i}@example.net"), "guess guess guess").await;
    }
    assert_eq!(
        code(&try_login(&app, "innocent@example.net", "correct horse battery").await),
        "TOO_MANY_ATTEMPTS"
    );
});

both_databases!(sessions_cookies_and_csrf, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    // The cookie's attributes.
    app.app()
        .access
        .add_user("cookie@example.net", "correct horse battery", &[])
        .await
        .unwrap();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "mutation { login(email: \"cookie@example.net\", password: \"correct horse battery\") { csrfToken } }" }))
        .send()
        .await
        .unwrap();
    let set_cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let s = app.login("cookie@example.net", "correct horse battery").await;
    let post = |cookie: String, csrf: Option<String>| {
        let mut r = app
            .client
            .post(app.url("/graphql"))
            .header("cookie", format!("townhall_session={cookie}"))
            .json(&json!({ "query": "{ me { email } }" }));
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.send()
    };
    // Without or with a wrong CSRF token: refused, nothing runs.
    let r = post(s.cookie.clone(), None).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "CSRF_TOKEN_INVALID"
    );
    let r = post(s.cookie.clone(), Some("0".repeat(64))).await.unwrap();
    assert_eq!(r.status(), 403);
    // A tampered cookie: 401, and the cookie is cleared.
    let mut tampered = s.cookie.clone();
    tampered.replace_range(0..1, if tampered.starts_with('a') { "b" } else { "a" });
    let r = post(tampered, Some(s.csrf.clone())).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], "INVALID_SESSION");
    // An expired session is refused the same way.
    let conn = Database::connect(app.db_url()).await.unwrap();
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "UPDATE sessions SET expires_at = $1",
        _ => "UPDATE sessions SET expires_at = ?",
    };
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [chrono::Utc::now()
            .checked_sub_signed(chrono::Duration::hours(1))
            .unwrap()
            .into()],
    ))
    .await
    .unwrap();
    let r = post(s.cookie.clone(), Some(s.csrf.clone())).await.unwrap();
    assert_eq!(r.status(), 401);
    // Logging out ends the session for good.
    let s = app.login("cookie@example.net", "correct horse battery").await;
    app.data_as(&As::User(s.clone()), "mutation { logout { ok } }", json!({}))
        .await;
    let body = app.gql_as(&As::User(s), "{ me { email } }", json!({})).await;
    assert_eq!(code(&body), "INVALID_SESSION");
});

both_databases!(api_keys_shown_once_hashed_scoped_revocable, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let admin = app.admin().await;
    let d = app
        .data_as(&admin, "mutation { createApiKey(name: \"FixMyStreet\", scopes: [\"open311:write\"]) { key { id prefix lastUsedAt } secret } }", json!({}))
        .await;
    let secret = d["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let id = d["createApiKey"]["key"]["id"].clone();
    assert!(d["createApiKey"]["key"]["lastUsedAt"].is_null());
    // Never shown again, never stored in the clear.
    let listed = app
        .data_as(&admin, "{ apiKeys { id name lastUsedAt } }", json!({}))
        .await;
    assert!(!listed.to_string().contains(&secret[10..]));
    let conn = Database::connect(app.db_url()).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT secret_hash, prefix FROM api_keys",
        ))
        .await
        .unwrap();
    for row in rows {
        let h: String = row.try_get("", "secret_hash").unwrap();
        assert!(!secret.contains(&h) && !h.contains(&secret[16..]));
    }
    // It works, within its scope, and its use is recorded.
    let key = As::Key(secret.clone());
    app.data_as(&key, crate::helpers::SUBMIT, json!({ "input": { "serviceCode": "graffiti", "description": "by key", "address": "9 Oak Ave", "attributes": { "SURFACE": "public" } } }))
        .await;
    let r = app.submit_pothole("for the key").await;
    let code_ = app
        .error_code_as(
            &key,
            "mutation($i: ID!) { changeStatus(id: $i, status: FIXED) { status } }",
            json!({ "i": r["id"] }),
        )
        .await;
    assert_eq!(code_, "FORBIDDEN");
    let listed = app.data_as(&admin, "{ apiKeys { id lastUsedAt } }", json!({})).await;
    let mine = listed["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap()
        .clone();
    assert!(mine["lastUsedAt"].is_string(), "{mine}");
    // Revoked, unknown and malformed keys: 401 with a precise code.
    app.data_as(&admin, "mutation($i: ID!) { revokeApiKey(id: $i) }", json!({ "i": id }))
        .await;
    for (k, want) in [
        (secret.clone(), "API_KEY_REVOKED"),
        (format!("th_{}_{}", "a".repeat(12), "b".repeat(48)), "INVALID_API_KEY"),
        ("nonsense".to_owned(), "INVALID_API_KEY"),
    ] {
        let r = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&k)
            .json(&json!({ "query": "{ me { id } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["code"], want);
    }
});

both_databases!(residents_export_and_delete_their_data, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let s: Session = app.user("mira@example.net", &[]).await;
    let me = As::User(s.clone());
    let d = app
        .data_as(
            &me,
            crate::helpers::SUBMIT,
            json!({ "input": { "serviceCode": "tree", "description": "Branch over my driveway", "address": "12 Cedar Ln", "attributes": { "HAZARD": "blocking" }, "reporter": { "firstName": "Mira", "phone": "+1 217 555 0142" } } }),
        )
        .await;
    let id = d["submitRequest"]["id"].clone();
    // The reporter sees their own details; the public does not.
    let own = app
        .data_as(
            &me,
            "query($i: ID) { serviceRequest(id: $i) { reporter { firstName phone } } }",
            json!({ "i": id }),
        )
        .await;
    assert_eq!(own["serviceRequest"]["reporter"]["firstName"], "Mira");
    let data = app.data_as(&me, "{ myData }", json!({})).await;
    let text = data["myData"].to_string();
    assert!(
        text.contains("mira@example.net") && text.contains("Branch over my driveway") && text.contains("555 0142"),
        "{text}"
    );

    let code_ = app
        .error_code_as(
            &me,
            "mutation { deleteMyAccount(confirmEmail: \"wrong@example.net\") { ok } }",
            json!({}),
        )
        .await;
    assert_eq!(code_, "CONFIRMATION_MISMATCH");
    app.data_as(
        &me,
        "mutation { deleteMyAccount(confirmEmail: \"mira@example.net\") { ok } }",
        json!({}),
    )
    .await;
    // The request stays; the person is gone from it.
    let admin = app.admin().await;
    let r = app
        .data_as(
            &admin,
            "query($i: ID) { serviceRequest(id: $i) { description reporter { firstName phone email anonymized } } }",
            json!({ "i": id }),
        )
        .await;
    assert_eq!(r["serviceRequest"]["description"], "Branch over my driveway");
    assert_eq!(
        r["serviceRequest"]["reporter"],
        json!({ "firstName": null, "phone": null, "email": null, "anonymized": true })
    );
    assert_eq!(
        code(&try_login(&app, "mira@example.net", "correct horse battery").await),
        "INVALID_CREDENTIALS"
    );
});

both_databases!(staff_reads_of_private_data_are_audited, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let r = app.submit_pothole("audit me").await;
    let staff = app.user("reader@riverbend.example", &["staff@public-works"]).await;
    let d = app
        .data_as(
            &As::User(staff.clone()),
            "query($i: ID) { serviceRequest(id: $i) { reporter { email } } }",
            json!({ "i": r["id"] }),
        )
        .await;
    assert_eq!(d["serviceRequest"]["reporter"]["email"], "zed.quill@example.net");
    let admin = app.admin().await;
    let log = app
        .data_as(
            &admin,
            "query($t: String) { auditLog(targetId: $t) { actorType actorId action details at } }",
            json!({ "t": r["id"] }),
        )
        .await;
    let entries = log["auditLog"].as_array().unwrap();
    let e = entries
        .iter()
        .find(|e| e["actorId"] == staff.user_id)
        .expect("the read was audited");
    assert_eq!(e["action"], "read_private");
    assert_eq!(e["actorType"], "user");
    assert_eq!(e["details"]["fields"], json!(["reporter"]));
    assert!(e["at"].is_string());
});

both_databases!(services_may_require_signing_in, |db: TestDb| async move {
    let app = TestApp::demo(db).await;
    let store = app.app().store.clone();
    let mut svc = store.service("riverbend", "code-violation").await.unwrap();
    svc.anonymous_allowed = false;
    store.upsert_service(&svc, 6, chrono::Utc::now()).await.unwrap();
    app.app().intake.catalog().invalidate();
    let vars = json!({ "input": { "serviceCode": "code-violation", "description": "Junk piled in the yard", "address": "40 Walnut St", "attributes": { "VIOLATION": "junk" } } });
    assert_eq!(
        app.error_code(crate::helpers::SUBMIT, vars.clone()).await,
        "SIGN_IN_REQUIRED"
    );
    let resident = As::User(app.user("neighbor@example.net", &[]).await);
    let d = app.data_as(&resident, crate::helpers::SUBMIT, vars).await;
    assert_eq!(d["submitRequest"]["status"], "OPEN");
    // Anonymous reporting stays open for the others.
    app.submit_pothole("anonymous is fine here").await;
});
