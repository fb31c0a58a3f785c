//! What a plugin may ask of the host: logging, the clock, its install's
//! configuration and secrets, a private key-value store (`kv` grant) and
//! outbound HTTP to granted hosts (`http:HOST` grants).
//!
//! Inside the component these call the WIT imports; in a native
//! `cargo test` they call the [`crate::testing::MockHost`] installed on the
//! current thread (with none installed: empty configuration, nothing
//! granted, logs to stderr).

use serde::de::DeserializeOwned;

#[cfg(not(target_arch = "wasm32"))]
use crate::testing::backend;
#[cfg(target_arch = "wasm32")]
use crate::wasm::backend;

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Structured logging into the server's log, tagged with the plugin id.
pub mod log {
    use super::{Level, backend};

    pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        backend::log(level, message, fields);
    }

    pub fn debug(message: &str, fields: &[(&str, &str)]) {
        log(Level::Debug, message, fields);
    }

    pub fn info(message: &str, fields: &[(&str, &str)]) {
        log(Level::Info, message, fields);
    }

    pub fn warn(message: &str, fields: &[(&str, &str)]) {
        log(Level::Warn, message, fields);
    }

    pub fn error(message: &str, fields: &[(&str, &str)]) {
        log(Level::Error, message, fields);
    }
}

/// The server's clock.
pub mod clock {
    use super::backend;

    /// Milliseconds since the Unix epoch, as the server's clock reads.
    pub fn now_millis() -> i64 {
        backend::now_millis()
    }
}

/// The install's configuration and secrets.
pub mod config {
    use super::{DeserializeOwned, backend};

    /// The raw configuration JSON (`{}` when none was given).
    pub fn raw() -> String {
        backend::config()
    }

    /// The configuration parsed into `T`.
    pub fn get<T: DeserializeOwned>() -> Result<T, serde_json::Error> {
        serde_json::from_str(&raw())
    }

    /// A secret set by the administrator for this install.
    pub fn secret(name: &str) -> Option<String> {
        backend::secret(name)
    }
}

/// Why a key-value call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The install was not granted `kv`.
    Denied,
    /// Writes are not allowed while validating or routing.
    ReadOnly,
    /// Key over 256 bytes or value over 64 KiB.
    TooLarge,
    Unavailable(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::Denied => f.write_str("the kv capability was not granted"),
            KvError::ReadOnly => f.write_str("the kv store is read-only in validate and route"),
            KvError::TooLarge => f.write_str("key or value too large"),
            KvError::Unavailable(m) => write!(f, "kv store unavailable: {m}"),
        }
    }
}

impl std::error::Error for KvError {}

/// Largest key, in bytes.
pub const MAX_KV_KEY: usize = 256;
/// Largest value, in bytes.
pub const MAX_KV_VALUE: usize = 64 * 1024;

/// The install's private key-value store (needs the `kv` grant).
pub mod kv {
    use super::{KvError, backend};

    pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        backend::kv_get(key)
    }

    pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
        backend::kv_set(key, value)
    }

    pub fn delete(key: &str) -> Result<(), KvError> {
        backend::kv_delete(key)
    }

    pub fn list_keys(prefix: &str) -> Result<Vec<String>, KvError> {
        backend::kv_list(prefix)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn get(url: &str) -> Self {
        Self {
            method: "GET".to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A POST with a JSON body.
    pub fn post_json(url: &str, body: &serde_json::Value) -> Self {
        Self {
            method: "POST".to_owned(),
            url: url.to_owned(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host was not granted (the host also ends the call with
    /// `PLUGIN_CAPABILITY_DENIED`).
    Denied(String),
    InvalidRequest(String),
    Timeout,
    TooLarge,
    Failed(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Denied(h) => write!(f, "HTTP to `{h}` was not granted"),
            HttpError::InvalidRequest(m) => write!(f, "invalid HTTP request: {m}"),
            HttpError::Timeout => f.write_str("HTTP request timed out"),
            HttpError::TooLarge => f.write_str("HTTP response too large"),
            HttpError::Failed(m) => write!(f, "HTTP request failed: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Outbound HTTP to granted hosts.
pub mod http {
    use super::{HttpError, HttpRequest, HttpResponse, backend};

    pub fn fetch(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        backend::fetch(request)
    }
}
