//! Capability names and how a grant is matched. The host and the mock host
//! both use this module, so a plugin tested with `cargo test` is held to the
//! exact rules it meets when installed.
//!
//! - `kv` — the install's private key-value store.
//! - `http:HOST` — HTTP(S) to `HOST` on its scheme's default port;
//!   `http:HOST:PORT` — that port only; `http:*.example.org` — any
//!   subdomain of `example.org` (not `example.org` itself).
//!
//! Logging, the clock and the install's own configuration need no grant.

/// The key-value store capability.
pub const KV: &str = "kv";

/// Checks a capability string's shape. Returns a message saying what is
/// wrong, for install-time errors.
pub fn check(capability: &str) -> Result<(), String> {
    if capability == KV {
        return Ok(());
    }
    if let Some(target) = capability.strip_prefix("http:") {
        let (host, port) = split_host_port(target);
        let bare = host.strip_prefix("*.").unwrap_or(host);
        let host_ok = !bare.is_empty()
            && bare.len() <= 253
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']'));
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
        if host_ok && port_ok {
            return Ok(());
        }
        return Err(format!(
            "`{capability}` is not a valid HTTP grant; expected http:HOST or http:HOST:PORT"
        ));
    }
    Err(format!(
        "unknown capability `{capability}`; known: kv, http:HOST[:PORT]"
    ))
}

fn split_host_port(target: &str) -> (&str, Option<&str>) {
    if let Some(rest) = target.strip_prefix('[') {
        // [v6]:port
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (target, None),
        };
    }
    match target.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (target, None),
    }
}

/// The parts of a URL that grants are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Whether the URL named its port explicitly.
    pub explicit_port: bool,
}

/// Parses an `http://` or `https://` URL far enough to check it against
/// grants. URLs with user info (`user@host`) are refused: they are a
/// classic way to make a URL look like it goes somewhere else.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{}` is not an absolute URL", short(url)))?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => {
            return Err(format!("scheme `{scheme}` is not allowed; use http or https"));
        }
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("URLs with user info are not allowed".to_owned());
    }
    let (host, port) = split_host_port(authority);
    if host.is_empty() {
        return Err(format!("`{}` has no host", short(url)));
    }
    let (port, explicit_port) = match port {
        Some(p) => (
            p.parse::<u16>().map_err(|_| format!("bad port in `{}`", short(url)))?,
            true,
        ),
        None => (default_port, false),
    };
    Ok(Target {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
        explicit_port,
    })
}

fn short(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Whether `grants` allow an HTTP request to `target`.
pub fn http_allowed(grants: &[String], target: &Target) -> bool {
    grants.iter().filter_map(|g| g.strip_prefix("http:")).any(|g| {
        let (host, port) = split_host_port(g);
        let host = host.to_ascii_lowercase();
        let host_ok = match host.strip_prefix("*.") {
            Some(parent) => target.host.ends_with(&format!(".{parent}")),
            None => target.host == host,
        };
        let port_ok = match port.and_then(|p| p.parse::<u16>().ok()) {
            Some(p) => p == target.port,
            None => target.port == 80 || target.port == 443,
        };
        host_ok && port_ok
    })
}

/// Whether `grants` include the key-value store.
pub fn kv_allowed(grants: &[String]) -> bool {
    grants.iter().any(|g| g == KV)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn http_grants_match_host_and_port() {
        let g = grants(&["http:api.example.org", "http:127.0.0.1:8080", "http:*.city.gov"]);
        let ok = |u: &str| http_allowed(&g, &parse_url(u).unwrap());
        assert!(ok("https://api.example.org/v1/orders"));
        assert!(ok("http://API.example.org"));
        assert!(!ok("https://api.example.org:8443/"));
        assert!(!ok("https://evil.example.org/"));
        assert!(!ok("https://api.example.org.evil.net/"));
        assert!(ok("http://127.0.0.1:8080/x"));
        assert!(!ok("http://127.0.0.1:5432/"));
        assert!(ok("https://gis.city.gov/"));
        assert!(!ok("https://city.gov/"));
        assert!(parse_url("https://a@api.example.org/").is_err());
        assert!(parse_url("file:///etc/passwd").is_err());
    }

    #[test]
    fn capability_shapes_are_checked() {
        assert!(check("kv").is_ok());
        assert!(check("http:example.org:443").is_ok());
        assert!(check("http:").is_err());
        assert!(check("filesystem").is_err());
        assert!(check("http:exa mple.org").is_err());
    }
}
