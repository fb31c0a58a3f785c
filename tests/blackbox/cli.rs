use std::io::Write;

use serde_json::json;
use townhall_testkit::{TestDb, both_databases};

use crate::helpers::{Proc, bin, run_cli};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

both_databases!(
    migrate_seed_users_and_api_keys_from_the_command_line,
    |db: TestDb| async move {
        let o = run_cli(&["migrate", "--status"], &db, "");
        assert!(o.status.success());
        assert!(stdout(&o).contains("pending: m0001_catalog"), "{}", stdout(&o));
        let o = run_cli(&["migrate"], &db, "");
        assert!(o.status.success(), "{o:?}");
        assert!(stdout(&o).contains("applied"), "{}", stdout(&o));
        let o = run_cli(&["migrate", "--status"], &db, "");
        assert!(stdout(&o).contains("up to date"));

        let o = run_cli(&["seed-demo"], &db, "");
        assert!(o.status.success(), "{o:?}");
        assert!(stdout(&o).contains("200 new requests"), "{}", stdout(&o));
        let o = run_cli(&["seed-demo"], &db, "");
        assert!(
            stdout(&o).contains("0 new requests"),
            "seeding twice adds nothing: {}",
            stdout(&o)
        );

        let o = run_cli(
            &[
                "user",
                "add",
                "chief@riverbend.example",
                "--role",
                "admin",
                "--role",
                "staff@parks",
            ],
            &db,
            "a long enough password\n",
        );
        assert!(o.status.success(), "{o:?}");
        assert!(stdout(&o).contains("admin"));
        let o = run_cli(
            &["user", "add", "x@riverbend.example", "--role", "mayor"],
            &db,
            "a long enough password\n",
        );
        assert!(!o.status.success());
        let o = run_cli(&["user", "add", "y@riverbend.example"], &db, "short\n");
        assert!(!o.status.success());

        let o = run_cli(
            &[
                "api-key",
                "create",
                "--name",
                "FixMyStreet bridge",
                "--scope",
                "open311:write",
            ],
            &db,
            "",
        );
        assert!(o.status.success(), "{o:?}");
        let key = stdout(&o).lines().last().unwrap().trim().to_owned();
        assert!(key.starts_with("th_"), "{key}");
        let o = run_cli(&["api-key", "create", "--name", "bad", "--scope", "root"], &db, "");
        assert!(!o.status.success());

        // The key and the account work against a running server.
        let p = Proc::serve(&db, &[]).await;
        let c = reqwest::Client::new();
        let me = c
            .post(format!("{}/graphql", p.base))
            .bearer_auth(&key)
            .json(&json!({ "query": "{ me { email } serviceDefinitions { code } }" }))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert!(
            me["data"]["me"].is_null() && me["data"]["serviceDefinitions"].as_array().unwrap().len() == 9,
            "{me}"
        );
        let login = c
        .post(format!("{}/graphql", p.base))
        .json(&json!({ "query": "mutation { login(email: \"chief@riverbend.example\", password: \"a long enough password\") { me { roles } } }" }))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
        let roles = login["data"]["login"]["me"]["roles"].as_array().unwrap().clone();
        assert!(
            roles.contains(&json!("admin")) && roles.contains(&json!("staff@parks")),
            "{login}"
        );
        p.terminate();
    }
);

both_databases!(configuration_errors_are_reported, |db: TestDb| async move {
    let dir = db.data_dir().unwrap();
    let path = dir.join("bad.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "[server]\nlisten = \"127.0.0.1:0\"\nlisen = 1").unwrap();
    let o = std::process::Command::new(bin())
        .args(["--config", path.to_str().unwrap(), "config"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("lisen"), "{err}");
    // Secrets never print.
    let o = std::process::Command::new(bin())
        .args([
            "config",
            "--database-url",
            "postgres://townhall:hunter2@db.internal/townhall",
        ])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(
        o.status.success() && out.contains("***") && !out.contains("hunter2"),
        "{out}"
    );
});
