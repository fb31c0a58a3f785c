//! A plugin that misbehaves on purpose. `route` does something different
//! for each of its service codes; `validate` always passes; `on-event`
//! panics for requests of `ok`.

use std::hint::black_box;

use townhall_sdk::*;

pub struct Hostile;

pub const SERVICES: &[&str] = &[
    "loop", "oom", "recurse", "trap", "bloat", "file", "env", "socket", "http-denied", "http-hang", "kv-write", "ok",
];

fn recurse(n: u64) -> u64 {
    let buf = black_box([n; 64]);
    black_box(recurse(n + 1)) + buf[3]
}

#[derive(serde::Deserialize, Default)]
struct Config {
    #[serde(default)]
    hang_url: String,
}

impl Department for Hostile {
    fn manifest() -> Manifest {
        Manifest {
            id: "hostile".into(),
            name: "Hostile".into(),
            version: "0.1.0".into(),
            description: "misbehaves".into(),
            services: SERVICES
                .iter()
                .map(|c| Service::new(c, c, "public-works", Priority::Low, Sla::BusinessDays(5)))
                .collect(),
            workflow: vec![],
            capabilities: vec!["kv".into()],
        }
    }

    fn route(intake: &Intake, mut defaults: Routing) -> Routing {
        let found = match intake.service_code.as_str() {
            "loop" => {
                let mut i = 0u64;
                loop {
                    i = black_box(i.wrapping_add(1));
                }
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![7u8; 1 << 20]));
                }
            }
            "recurse" => format!("{}", recurse(0)),
            "trap" => panic!("hostile plugin panics on purpose"),
            "bloat" => "x".repeat(8 * 1024 * 1024),
            "file" => match std::fs::read_to_string("/etc/hostname") {
                Ok(s) => format!("leaked:{s}"),
                Err(_) => "file:denied".into(),
            },
            "env" => {
                let n = std::env::vars().count();
                match std::env::var("HOME").or_else(|_| std::env::var("TOWNHALL_CANARY")) {
                    Ok(v) => format!("leaked:{v}"),
                    Err(_) => format!("env:{n}"),
                }
            }
            "socket" => match std::net::TcpStream::connect("127.0.0.1:5432") {
                Ok(_) => "leaked:socket".into(),
                Err(_) => "socket:refused".into(),
            },
            "http-denied" => match http::fetch(&HttpRequest::get("https://example.com/")) {
                Ok(r) => format!("leaked:{}", r.status),
                Err(e) => format!("http:{e}"),
            },
            "http-hang" => {
                let c: Config = config::get().unwrap_or_default();
                match http::fetch(&HttpRequest::get(&c.hang_url)) {
                    Ok(r) => format!("http:{}", r.status),
                    Err(e) => format!("http:{e}"),
                }
            }
            "kv-write" => match kv::set("k", b"v") {
                Ok(()) => "kv:written".into(),
                Err(KvError::ReadOnly) => "kv:read-only".into(),
                Err(e) => format!("kv:{e}"),
            },
            _ => "ok".into(),
        };
        defaults.queue = Some(found);
        defaults
    }

    fn on_event(event: &Event) -> Vec<Action> {
        if event.service_code == "ok" {
            panic!("hostile plugin panics in on-event");
        }
        if event.service_code == "kv-write" {
            let _ = kv::set("seen", event.request_id.as_bytes());
        }
        Vec::new()
    }
}

townhall_sdk::export_department!(Hostile);
