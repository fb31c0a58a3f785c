//! One response tree, two renderings: Open311's XML (the mandatory format)
//! and its JSON mirror.
//!
//! A handler builds a [`V`]; [`respond`] renders it in the format the URL
//! asked for. Lists carry the XML name of their items, so that
//! `List("service", …)` is a bare JSON array and a run of `<service>`
//! elements in XML. `Null` is JSON `null` and an empty XML element.
//!
//! **Must never:** decide what goes into a response (handlers do), or emit
//! XML that a strict parser would refuse (text is escaped and characters
//! XML 1.0 forbids are dropped).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::ser::{SerializeMap, SerializeSeq};

/// The format a URL asked for (`.xml` / `.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Xml,
    Json,
}

impl Fmt {
    pub fn parse(ext: &str) -> Option<Fmt> {
        match ext {
            "xml" => Some(Fmt::Xml),
            "json" => Some(Fmt::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Fmt::Xml => "text/xml; charset=utf-8",
            Fmt::Json => "application/json",
        }
    }
}

/// Splits `name.ext` at its last dot.
pub fn split_ext(file: &str) -> Option<(&str, &str)> {
    file.rsplit_once('.')
}

/// A response value.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    /// Fields in order (XML child elements, JSON object members).
    Obj(Vec<(&'static str, V)>),
    /// Items, each rendered in XML as an element with this name.
    List(&'static str, Vec<V>),
}

impl V {
    pub fn str(s: impl Into<String>) -> V {
        V::Str(s.into())
    }

    pub fn opt_str(s: Option<impl Into<String>>) -> V {
        s.map_or(V::Null, |s| V::Str(s.into()))
    }

    pub fn opt_num(n: Option<f64>) -> V {
        n.filter(|n| n.is_finite()).map_or(V::Null, V::Num)
    }
}

impl serde::Serialize for V {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            V::Null => s.serialize_none(),
            V::Bool(b) => s.serialize_bool(*b),
            V::Int(i) => s.serialize_i64(*i),
            V::Num(n) if n.is_finite() => s.serialize_f64(*n),
            V::Num(_) => s.serialize_none(),
            V::Str(t) => s.serialize_str(t),
            V::Obj(fields) => {
                let mut m = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            V::List(_, items) => {
                let mut q = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    q.serialize_element(i)?;
                }
                q.end()
            }
        }
    }
}

/// Escapes text for XML, dropping characters XML 1.0 cannot carry.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

fn element(out: &mut String, name: &str, v: &V) {
    match v {
        V::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        V::Obj(fields) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            for (k, f) in fields {
                element(out, k, f);
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        V::List(item, items) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            for i in items {
                element(out, item, i);
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        scalar => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            match scalar {
                V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                V::Int(i) => out.push_str(&i.to_string()),
                V::Num(n) if n.is_finite() => out.push_str(&n.to_string()),
                V::Str(t) => escape_into(out, t),
                _ => {}
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

/// Renders `v` as an XML document whose root element is `root`.
pub fn to_xml(root: &str, v: &V) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    element(&mut out, root, v);
    out
}

/// Renders `v` in `fmt` with `status`; `root` names the XML root element.
pub fn respond(fmt: Fmt, status: StatusCode, root: &str, v: &V) -> Response {
    let body = match fmt {
        Fmt::Xml => to_xml(root, v).into_bytes(),
        Fmt::Json => match serde_json::to_vec(v) {
            Ok(b) => b,
            // A `V` always serializes; this is unreachable in practice.
            Err(_) => b"[]".to_vec(),
        },
    };
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(fmt.content_type()));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_mirrors_json() {
        let v = V::List(
            "service",
            vec![V::Obj(vec![
                ("service_code", V::str("a&b")),
                ("metadata", V::Bool(true)),
                ("group", V::Null),
                ("lat", V::Num(39.78)),
                ("values", V::List("value", vec![V::Obj(vec![("key", V::str("<k>"))])])),
            ])],
        );
        assert_eq!(
            to_xml("services", &v),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>a&amp;b</service_code>\
             <metadata>true</metadata><group/><lat>39.78</lat><values><value><key>&lt;k&gt;</key></value></values>\
             </service></services>"
        );
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"[{"service_code":"a&b","metadata":true,"group":null,"lat":39.78,"values":[{"key":"<k>"}]}]"#
        );
    }

    #[test]
    fn drops_characters_xml_cannot_carry() {
        let mut s = String::new();
        escape_into(&mut s, "a\u{1}b\tc\u{FFFE}");
        assert_eq!(s, "ab\tc");
    }
}
