//! `http`: outbound HTTP(S), only to hosts granted at install.
//!
//! **Must never:** follow redirects (a granted host could bounce the call
//! to one that is not), send to a host without an `http:` grant for it, or
//! wait longer than the install's host-call timeout.

use townhall_sdk::capability;

use crate::bindings::v0_1_0::townhall::plugin::http::{Host, HttpError, Request, Response};
use crate::state::{CallState, Violation};

const MAX_RESPONSE: usize = 1024 * 1024;
const MAX_REQUEST: usize = 1024 * 1024;

impl Host for CallState {
    fn fetch(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let target = match capability::parse_url(&request.url) {
            Ok(t) => t,
            Err(m) => return Ok(Err(HttpError::InvalidRequest(m))),
        };
        if !capability::http_allowed(&self.plugin.grants, &target) {
            let what = if target.explicit_port {
                format!("http:{}:{}", target.host, target.port)
            } else {
                format!("http:{}", target.host)
            };
            return Err(self.violate(Violation::Denied(what)));
        }
        let method = match request.method.to_ascii_uppercase().as_str() {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "PATCH" => reqwest::Method::PATCH,
            "DELETE" => reqwest::Method::DELETE,
            other => {
                return Ok(Err(HttpError::InvalidRequest(format!(
                    "method `{other}` is not allowed"
                ))));
            }
        };
        if request.body.len() > MAX_REQUEST {
            return Ok(Err(HttpError::InvalidRequest("request body over 1 MiB".to_owned())));
        }
        let client = self.plugin.http.clone();
        let mut builder = client.request(method, &request.url).body(request.body);
        for (k, v) in request.headers.iter().take(50) {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let result = self.blocking("http", async move {
            let resp = builder.send().await.map_err(|e| HttpError::Failed(e.to_string()))?;
            let status = resp.status().as_u16();
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .take(100)
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut resp = resp;
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| HttpError::Failed(e.to_string()))? {
                if body.len() + chunk.len() > MAX_RESPONSE {
                    return Err(HttpError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response { status, headers, body })
        })?;
        Ok(result)
    }
}
