//! Staff single sign-on against a real OpenID provider (`oidc-provider`
//! from npm, started by the test): the whole authorization-code flow with
//! PKCE, roles from groups, and the refusals — bad state, expired token,
//! wrong audience, wrong nonce.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use townhall_server::config::{Config, OidcProviderConfig, Secret};
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::{As, Session, TestApp, free_port};

struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider(townhall_base: &str) -> Provider {
    let dir = townhall_testkit::node_dir();
    let mut child = Command::new("node")
        .arg(dir.join("oidc-provider.mjs"))
        .arg(townhall_base)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let issuer = loop {
        let line = lines.next().expect("provider output").unwrap();
        if let Some(i) = line.strip_prefix("READY ") {
            break i.trim().to_owned();
        }
    };
    // Keep draining its output: a closed pipe would kill it on its next log line.
    std::thread::spawn(move || for _ in lines {});
    Provider { child, issuer }
}

fn providers(issuer: &str, pw_crew_role: &str) -> Vec<OidcProviderConfig> {
    [
        ("city", "townhall"),
        ("expired", "townhall-expired"),
        ("wrongaud", "townhall-wrongaud"),
        ("badnonce", "townhall-badnonce"),
    ]
    .into_iter()
    .map(|(name, client)| OidcProviderConfig {
        name: name.into(),
        issuer: issuer.into(),
        client_id: client.into(),
        client_secret: Secret(format!("secret-{client}")),
        scopes: vec!["openid".into(), "email".into(), "profile".into(), "groups".into()],
        groups_claim: "groups".into(),
        role_map: [
            ("pw-crew".to_owned(), vec![pw_crew_role.to_owned()]),
            ("admins".to_owned(), vec!["admin".to_owned()]),
        ]
        .into_iter()
        .collect(),
        allowed_domains: vec!["riverbend.example".into()],
    })
    .collect()
}

fn configure(c: &mut Config, port: u16, issuer: &str, pw_crew_role: &str) {
    c.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
    c.server.public_url = format!("http://127.0.0.1:{port}");
    c.auth.oidc = providers(issuer, pw_crew_role);
}

fn location(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_owned()
    } else {
        format!("{base}{loc}")
    }
}

/// Drives a browser through the provider's login and consent pages until
/// the provider redirects back to Townhall; returns that redirect URL.
async fn browser_flow(
    client: &reqwest::Client,
    townhall: &str,
    issuer: &str,
    provider: &str,
    login: &str,
    return_to: &str,
) -> String {
    let r = client
        .get(format!("{townhall}/auth/oidc/{provider}/login?return_to={return_to}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "login starts with a redirect");
    let mut url = location(&r).unwrap();
    assert!(
        url.starts_with(issuer) && url.contains("code_challenge=") && url.contains("nonce=") && url.contains("state="),
        "{url}"
    );
    for _ in 0..20 {
        if url.starts_with(townhall) {
            return url;
        }
        let r = client.get(&url).send().await.unwrap();
        if r.status().is_redirection() {
            url = absolute(issuer, &location(&r).unwrap());
            continue;
        }
        let page = r.text().await.unwrap();
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a form")
            .to_owned();
        let form: Vec<(&str, &str)> = if page.contains("value=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "whatever")]
        } else {
            vec![("prompt", "consent")]
        };
        let r = client.post(absolute(issuer, &action)).form(&form).send().await.unwrap();
        assert!(r.status().is_redirection(), "form post answered {}", r.status());
        url = absolute(issuer, &location(&r).unwrap());
    }
    panic!("the provider never sent the browser back");
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// Completes the sign-in and returns the session, or the error body.
async fn sign_in(app: &TestApp, issuer: &str, provider: &str, login: &str) -> Result<(Session, String), (u16, Value)> {
    let b = browser();
    let back = browser_flow(&b, &app.base, issuer, provider, login, "/staff/queue").await;
    let r = b.get(&back).send().await.unwrap();
    let status = r.status().as_u16();
    if status != 303 {
        return Err((status, r.json().await.unwrap_or(Value::Null)));
    }
    let to = location(&r).unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix("townhall_session=")
                .map(|x| x.split(';').next().unwrap().to_owned())
        })
        .expect("a session cookie");
    let s: Value = app
        .client
        .get(app.url("/auth/session"))
        .header("cookie", format!("townhall_session={cookie}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Ok((
        Session {
            cookie,
            csrf: s["csrfToken"].as_str().unwrap().to_owned(),
            user_id: s["user"]["id"].as_str().unwrap().to_owned(),
        },
        to,
    ))
}

both_databases!(staff_sign_in_with_openid_connect, |db: TestDb| async move {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = start_provider(&base);
    let issuer = provider.issuer.clone();
    let iss = issuer.clone();
    let mut app = TestApp::spawn_with(db, move |c| configure(c, port, &iss, "staff@public-works"), true).await;

    let listed: Value = app
        .client
        .get(app.url("/auth/providers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["providers"], json!(["badnonce", "city", "expired", "wrongaud"]));

    // Alice: a crew member by her groups.
    let (alice, to) = sign_in(&app, &issuer, "city", "alice").await.expect("alice signs in");
    assert_eq!(to, "/staff/queue");
    let me = app
        .data_as(
            &As::User(alice.clone()),
            "{ me { email roles emailVerified } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["me"],
        json!({ "email": "alice@riverbend.example", "roles": ["staff@public-works"], "emailVerified": true })
    );
    // …and can act as staff, with the session's CSRF token.
    let r = app.submit_pothole("Signed-in staff test").await;
    let d = app
        .data_as(
            &As::User(alice.clone()),
            "mutation($id: ID!) { changeStatus(id: $id, status: ACKNOWLEDGED) { status } }",
            json!({ "id": r["id"] }),
        )
        .await;
    assert_eq!(d["changeStatus"]["status"], "ACKNOWLEDGED");

    // Bob: an administrator by his groups.
    let (bob, _) = sign_in(&app, &issuer, "city", "bob").await.expect("bob signs in");
    let me = app.data_as(&As::User(bob), "{ me { roles } }", json!({})).await;
    assert_eq!(me["me"]["roles"], json!(["admin"]));

    // Refusals: a token made for someone else, expired, or with another nonce.
    for (p, status, code) in [
        ("wrongaud", 401, "OIDC_WRONG_AUDIENCE"),
        ("expired", 401, "OIDC_TOKEN_EXPIRED"),
        ("badnonce", 401, "OIDC_NONCE_MISMATCH"),
    ] {
        let (got, body) = sign_in(&app, &issuer, p, "carol").await.expect_err("must be refused");
        assert_eq!(
            (got, body["errors"][0]["code"].as_str().unwrap()),
            (status, code),
            "{p}: {body}"
        );
    }

    // A forged or replayed state is refused.
    let b = browser();
    let back = browser_flow(&b, &app.base, &issuer, "city", "alice", "/").await;
    let forged = back.replace("state=", "state=forged");
    let r = b.get(&forged).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"][0]["code"],
        "OIDC_STATE_MISMATCH"
    );
    let r = b.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 303, "the genuine answer still works once");
    let r = b.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 400, "…and only once");

    // Only relative return paths are followed.
    let b = browser();
    let back = browser_flow(&b, &app.base, &issuer, "city", "alice", "https://evil.example/").await;
    let r = b.get(&back).send().await.unwrap();
    assert_eq!(location(&r).as_deref(), Some("/"));

    // A group that now maps elsewhere moves the role at the next sign-in.
    let iss = issuer.clone();
    app.restart_with(move |c| configure(c, port, &iss, "staff@parks")).await;
    let (alice, _) = sign_in(&app, &issuer, "city", "alice")
        .await
        .expect("alice signs in again");
    let me = app.data_as(&As::User(alice), "{ me { roles } }", json!({})).await;
    assert_eq!(me["me"]["roles"], json!(["staff@parks"]));
    drop(provider);
});
