//! Starting the real server and talking to it over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use townhall_server::app::{App, StartOptions};
use townhall_server::config::{Config, SecretUrl};
use townhall_testkit::{Kind, TestDb};

/// The server, running in this process on a free port against `db`.
pub struct TestApp {
    pub app: Option<App>,
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub data_dir: PathBuf,
}

pub fn config_for(db: &TestDb, data_dir: &Path) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().unwrap();
    c.server.data_dir = data_dir.to_path_buf();
    c.server.shutdown_grace_secs = 5;
    c.database.url = SecretUrl(db.url.clone());
    c
}

/// A signed-in session: the cookie and the CSRF token to echo.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub user_id: String,
}

#[derive(Clone, Debug)]
pub enum As {
    Anonymous,
    User(Session),
    Key(String),
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}, false).await
    }

    /// With the demo city loaded.
    pub async fn demo(db: TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}, true).await
    }

    pub async fn spawn_with(db: TestDb, tweak: impl FnOnce(&mut Config), demo: bool) -> TestApp {
        let data_dir = db.data_dir().unwrap().to_path_buf();
        let mut config = config_for(&db, &data_dir);
        tweak(&mut config);
        let app = App::start(config, StartOptions { demo }).await.expect("server starts");
        let base = format!("http://{}", app.addr);
        TestApp {
            app: Some(app),
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            db,
            data_dir,
        }
    }

    /// Stops the server and starts it again on the same database and data
    /// directory with a changed configuration.
    pub async fn restart_with(&mut self, tweak: impl FnOnce(&mut Config)) {
        self.stop().await;
        let mut config = config_for(&self.db, &self.data_dir);
        tweak(&mut config);
        let app = App::start(config, StartOptions { demo: false })
            .await
            .expect("server restarts");
        self.base = format!("http://{}", app.addr);
        self.app = Some(app);
    }

    /// The database URL the server runs on (for checks behind its back).
    pub fn db_url(&self) -> &str {
        &self.db.url
    }

    pub fn app(&self) -> &App {
        self.app.as_ref().unwrap()
    }

    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs a GraphQL document and returns the whole response body.
    pub async fn gql_as(&self, who: &As, query: &str, variables: Value) -> Value {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        match who {
            As::Anonymous => {}
            As::User(s) => {
                req = req
                    .header("cookie", format!("townhall_session={}", s.cookie))
                    .header("x-csrf-token", &s.csrf);
            }
            As::Key(k) => req = req.bearer_auth(k),
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success() || body.get("errors").is_some(),
            "HTTP {status} with body {body}"
        );
        body
    }

    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(&As::Anonymous, query, variables).await
    }

    /// Asserts success and returns `data`.
    pub async fn data_as(&self, who: &As, query: &str, variables: Value) -> Value {
        let body = self.gql_as(who, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    pub async fn data(&self, query: &str, variables: Value) -> Value {
        self.data_as(&As::Anonymous, query, variables).await
    }

    /// Asserts failure and returns the first error's code.
    pub async fn error_code_as(&self, who: &As, query: &str, variables: Value) -> String {
        let body = self.gql_as(who, query, variables).await;
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("expected errors, got {body}"));
        errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("error without code: {body}"))
            .to_owned()
    }

    pub async fn error_code(&self, query: &str, variables: Value) -> String {
        self.error_code_as(&As::Anonymous, query, variables).await
    }

    /// Creates an account with roles directly (as `townhall user add` does).
    pub async fn user(&self, email: &str, roles: &[&str]) -> Session {
        let grants: Vec<_> = roles
            .iter()
            .map(|r| townhall_access::RoleGrant::parse(r).unwrap())
            .collect();
        self.app()
            .access
            .add_user(email, "correct horse battery", &grants)
            .await
            .unwrap();
        self.login(email, "correct horse battery").await
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        let resp = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({
                "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { csrfToken me { id } } }",
                "variables": { "e": email, "p": password },
            }))
            .send()
            .await
            .unwrap();
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.strip_prefix("townhall_session=")
                    .map(|r| r.split(';').next().unwrap_or("").to_owned())
            })
            .unwrap_or_default();
        let body: Value = resp.json().await.unwrap();
        assert!(body.get("errors").is_none(), "login failed: {body}");
        Session {
            cookie,
            csrf: body["data"]["login"]["csrfToken"].as_str().unwrap().to_owned(),
            user_id: body["data"]["login"]["me"]["id"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn admin(&self) -> As {
        As::User(self.user("admin@riverbend.example", &["admin"]).await)
    }

    /// Waits until every outbox row (the search index's among them) has
    /// been handled, then until the index made what it accepted searchable.
    pub async fn settle(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let stats = self.app().store.outbox_stats().await.unwrap();
            if stats.pending == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the outbox did not drain: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.app().search.flush().await.unwrap();
    }

    /// Submits a valid pothole report and returns `{id trackingNumber status}`.
    pub async fn submit_pothole(&self, description: &str) -> Value {
        let d = self
            .data(
                SUBMIT,
                json!({ "input": {
                    "serviceCode": "pothole",
                    "description": description,
                    "lat": 39.78, "long": -89.65,
                    "address": "100 Elm St",
                    "attributes": { "SIZE": "large", "HAZARD": "yes" },
                    "reporter": { "firstName": "Zed", "lastName": "Quill", "email": "zed.quill@example.net", "phone": "+1 217 555 0199" }
                }}),
            )
            .await;
        d["submitRequest"].clone()
    }
}

pub const SUBMIT: &str = "mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id trackingNumber status priority department { code } expectedAt } }";

/// The `townhall` binary, run as its own process (killed if a test panics
/// before stopping it).
pub struct Proc {
    child: Option<Child>,
    pub base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_townhall")
}

pub fn db_args(db: &TestDb) -> Vec<String> {
    let mut v = vec!["--data-dir".to_owned(), db.data_dir().unwrap().display().to_string()];
    if db.kind == Kind::Postgres {
        v.push("--database-url".into());
        v.push(db.url.clone());
    }
    v
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Proc {
    /// Starts `townhall serve` and waits until `/readyz` answers.
    pub async fn serve(db: &TestDb, extra: &[&str]) -> Proc {
        let port = free_port();
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .args(db_args(db))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"));
        cmd.args(extra);
        cmd.env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().unwrap();
        let p = Proc {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", p.base)).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "townhall did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        p
    }

    pub fn kill9(mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        let pid = c.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        c.wait().unwrap()
    }
}

/// Runs a `townhall` subcommand to completion with `stdin`.
pub fn run_cli(args: &[&str], db: &TestDb, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .args(db_args(db))
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}
