//! A native mock of the plugin host for `cargo test`.
//!
//! It records what the plugin logged, wrote to its key-value store and
//! asked of the network; it enforces the same grants as the real host
//! (through [`crate::capability`]), including the read-only key-value store
//! during `validate` and `route`; and it answers HTTP with responses the
//! test scripted. A request no script matches fails the call with
//! `HttpError::Failed`, like an unreachable server.
//!
//! ```
//! use townhall_sdk::testing::MockHost;
//! use townhall_sdk::{HttpRequest, HttpResponse};
//!
//! let host = MockHost::new()
//!     .grant("http:api.example.org")
//!     .respond("https://api.example.org/", HttpResponse::new(200, "ok"));
//! let body = host.run(|| townhall_sdk::http::fetch(&HttpRequest::get("https://api.example.org/x")).unwrap().body);
//! assert_eq!(body, b"ok");
//! assert_eq!(host.requests().len(), 1);
//! ```
//!
//! **Must never:** reach the real network or file system.

#![cfg(not(target_arch = "wasm32"))]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::Department;
use crate::capability;
use crate::host::{HttpError, HttpRequest, HttpResponse, KvError, Level, MAX_KV_KEY, MAX_KV_VALUE};
use crate::types::{Action, Event, FieldError, Intake, Routing};

/// One line the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// One change to the key-value store (`None` for a delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvWrite {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

#[derive(Default)]
struct State {
    config: String,
    secrets: BTreeMap<String, String>,
    grants: Vec<String>,
    now_millis: i64,
    kv: BTreeMap<String, Vec<u8>>,
    read_only: bool,
    logs: Vec<LogLine>,
    kv_writes: Vec<KvWrite>,
    requests: Vec<HttpRequest>,
    responses: Vec<(String, Result<HttpResponse, HttpError>)>,
    denials: Vec<String>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
}

/// A scripted host. Build it, then run plugin code inside [`MockHost::run`]
/// (or the [`MockHost::validate`], [`MockHost::route`] and
/// [`MockHost::on_event`] shortcuts), then inspect what it recorded.
#[derive(Clone)]
pub struct MockHost {
    state: Rc<RefCell<State>>,
}

impl Default for MockHost {
    fn default() -> Self {
        Self::new()
    }
}

impl MockHost {
    /// Nothing granted, configuration `{}`, the clock at 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        let state = State {
            config: "{}".to_owned(),
            now_millis: 1_767_225_600_000,
            ..State::default()
        };
        Self {
            state: Rc::new(RefCell::new(state)),
        }
    }

    /// Sets the install's configuration.
    pub fn config(self, config: serde_json::Value) -> Self {
        self.state.borrow_mut().config = config.to_string();
        self
    }

    pub fn secret(self, name: &str, value: &str) -> Self {
        self.state
            .borrow_mut()
            .secrets
            .insert(name.to_owned(), value.to_owned());
        self
    }

    /// Grants a capability (`kv`, `http:HOST[:PORT]`).
    pub fn grant(self, capability: &str) -> Self {
        self.state.borrow_mut().grants.push(capability.to_owned());
        self
    }

    /// Sets the clock (milliseconds since the Unix epoch).
    pub fn now_millis(self, at: i64) -> Self {
        self.state.borrow_mut().now_millis = at;
        self
    }

    /// Pre-fills the key-value store.
    pub fn kv_entry(self, key: &str, value: &[u8]) -> Self {
        self.state.borrow_mut().kv.insert(key.to_owned(), value.to_vec());
        self
    }

    /// Answers requests whose URL starts with `url_prefix` (first match wins).
    pub fn respond(self, url_prefix: &str, response: HttpResponse) -> Self {
        self.state
            .borrow_mut()
            .responses
            .push((url_prefix.to_owned(), Ok(response)));
        self
    }

    /// Fails requests whose URL starts with `url_prefix`.
    pub fn respond_error(self, url_prefix: &str, error: HttpError) -> Self {
        self.state
            .borrow_mut()
            .responses
            .push((url_prefix.to_owned(), Err(error)));
        self
    }

    /// Runs `f` with this host installed on the current thread.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let previous = CURRENT.with(|c| c.replace(Some(self.state.clone())));
        let out = f();
        CURRENT.with(|c| c.replace(previous));
        out
    }

    fn run_read_only<R>(&self, f: impl FnOnce() -> R) -> R {
        let before = std::mem::replace(&mut self.state.borrow_mut().read_only, true);
        let out = self.run(f);
        self.state.borrow_mut().read_only = before;
        out
    }

    /// Calls `P::validate` as the host does (key-value store read-only).
    pub fn validate<P: Department>(&self, intake: &Intake) -> Result<(), Vec<FieldError>> {
        self.run_read_only(|| P::validate(intake))
    }

    /// Calls `P::route` as the host does (key-value store read-only).
    pub fn route<P: Department>(&self, intake: &Intake, defaults: Routing) -> Routing {
        self.run_read_only(|| P::route(intake, defaults))
    }

    /// Calls `P::on_event` as the host does.
    pub fn on_event<P: Department>(&self, event: &Event) -> Vec<Action> {
        self.run(|| P::on_event(event))
    }

    pub fn logs(&self) -> Vec<LogLine> {
        self.state.borrow().logs.clone()
    }

    /// The key-value store's current contents.
    pub fn kv(&self) -> BTreeMap<String, Vec<u8>> {
        self.state.borrow().kv.clone()
    }

    /// Every successful write and delete, in order.
    pub fn kv_writes(&self) -> Vec<KvWrite> {
        self.state.borrow().kv_writes.clone()
    }

    /// Every HTTP request the plugin was allowed to make, in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.state.borrow().requests.clone()
    }

    /// Capabilities the plugin tried to use without a grant. The real host
    /// fails such a call with `PLUGIN_CAPABILITY_DENIED`.
    pub fn denials(&self) -> Vec<String> {
        self.state.borrow().denials.clone()
    }
}

/// The native implementation of [`crate::host`].
pub(crate) mod backend {
    use super::*;

    fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
        CURRENT.with(|c| c.borrow().as_ref().map(|s| f(&mut s.borrow_mut())))
    }

    pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        let line = LogLine {
            level,
            message: message.to_owned(),
            fields: fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        };
        if with(|s| s.logs.push(line.clone())).is_none() {
            eprintln!("[{:?}] {} {:?}", line.level, line.message, line.fields);
        }
    }

    pub fn now_millis() -> i64 {
        with(|s| s.now_millis).unwrap_or(1_767_225_600_000)
    }

    pub fn config() -> String {
        with(|s| s.config.clone()).unwrap_or_else(|| "{}".to_owned())
    }

    pub fn secret(name: &str) -> Option<String> {
        with(|s| s.secrets.get(name).cloned()).flatten()
    }

    fn kv_check(s: &mut State, key: &str, write: bool) -> Result<(), KvError> {
        if !capability::kv_allowed(&s.grants) {
            s.denials.push(capability::KV.to_owned());
            return Err(KvError::Denied);
        }
        if key.len() > MAX_KV_KEY {
            return Err(KvError::TooLarge);
        }
        if write && s.read_only {
            return Err(KvError::ReadOnly);
        }
        Ok(())
    }

    pub fn kv_get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        with(|s| {
            kv_check(s, key, false)?;
            Ok(s.kv.get(key).cloned())
        })
        .unwrap_or(Err(KvError::Denied))
    }

    pub fn kv_set(key: &str, value: &[u8]) -> Result<(), KvError> {
        with(|s| {
            kv_check(s, key, true)?;
            if value.len() > MAX_KV_VALUE {
                return Err(KvError::TooLarge);
            }
            s.kv.insert(key.to_owned(), value.to_vec());
            s.kv_writes.push(KvWrite {
                key: key.to_owned(),
                value: Some(value.to_vec()),
            });
            Ok(())
        })
        .unwrap_or(Err(KvError::Denied))
    }

    pub fn kv_delete(key: &str) -> Result<(), KvError> {
        with(|s| {
            kv_check(s, key, true)?;
            s.kv.remove(key);
            s.kv_writes.push(KvWrite {
                key: key.to_owned(),
                value: None,
            });
            Ok(())
        })
        .unwrap_or(Err(KvError::Denied))
    }

    pub fn kv_list(prefix: &str) -> Result<Vec<String>, KvError> {
        with(|s| {
            kv_check(s, prefix, false)?;
            Ok(s.kv
                .keys()
                .filter(|k| k.starts_with(prefix))
                .take(1000)
                .cloned()
                .collect())
        })
        .unwrap_or(Err(KvError::Denied))
    }

    pub fn fetch(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        with(|s| {
            let target = capability::parse_url(&request.url).map_err(HttpError::InvalidRequest)?;
            if !capability::http_allowed(&s.grants, &target) {
                let what = if target.explicit_port {
                    format!("http:{}:{}", target.host, target.port)
                } else {
                    format!("http:{}", target.host)
                };
                s.denials.push(what.clone());
                return Err(HttpError::Denied(what));
            }
            s.requests.push(request.clone());
            s.responses
                .iter()
                .find(|(prefix, _)| request.url.starts_with(prefix.as_str()))
                .map(|(_, r)| r.clone())
                .unwrap_or_else(|| Err(HttpError::Failed(format!("no scripted response for {}", request.url))))
        })
        .unwrap_or_else(|| Err(HttpError::Denied(request.url.clone())))
    }
}
