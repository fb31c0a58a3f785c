//! Discovery, the service list and service definitions (from the catalog:
//! core services and plugin-owned ones alike), and the OpenAPI document.
//!
//! **Must never:** list an inactive service, or anything about a service
//! beyond what a resident's form needs (no department routing, plugin
//! ids or SLA internals).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use townhall_domain::service::ServiceDefinition;

use super::params::Params;
use super::{Fmt, Open311, V, base_url, fail, fmt_of, name_and_fmt, ok};
use crate::error::ApiError;

/// When this Open311 surface last changed shape (discovery `changeset`).
const CHANGESET: &str = "2026-11-29T00:00:00Z";

const OPENAPI: &str = include_str!("openapi.json");

fn params(q: Option<String>) -> Params {
    Params::parse(q.unwrap_or_default().as_bytes())
}

pub async fn discovery(State(o): State<Arc<Open311>>, uri: Uri, headers: HeaderMap) -> Response {
    let fmt = fmt_of(uri.path());
    let base = base_url(&o.api, &headers);
    let contact = match o.jurisdiction(None).await {
        Ok(j) => format!("{} — {base}", j.name),
        Err(_) => base.clone(),
    };
    let v = V::Obj(vec![
        ("changeset", V::str(CHANGESET)),
        ("contact", V::Str(contact)),
        (
            "key_service",
            V::str(
                "API keys for POST are issued by the city's Townhall administrators (`townhall api-key create --scope open311:write`).",
            ),
        ),
        (
            "endpoints",
            V::List(
                "endpoint",
                vec![V::Obj(vec![
                    ("specification", V::str("http://wiki.open311.org/GeoReport_v2")),
                    ("url", V::Str(format!("{base}/open311/v2"))),
                    ("changeset", V::str(CHANGESET)),
                    ("type", V::str("production")),
                    (
                        "formats",
                        V::List("format", vec![V::str("text/xml"), V::str("application/json")]),
                    ),
                ])],
            ),
        ),
    ]);
    ok(fmt, StatusCode::OK, "discovery", &v)
}

fn service_v(s: &ServiceDefinition) -> V {
    V::Obj(vec![
        ("service_code", V::str(&s.code)),
        ("service_name", V::str(&s.name)),
        ("description", V::str(&s.description)),
        ("metadata", V::Bool(s.has_metadata())),
        // Token-mode services are processed after the answer: "batch".
        ("type", V::str(if s.answers_with_token { "batch" } else { "realtime" })),
        ("keywords", V::Str(s.keywords.join(", "))),
        ("group", V::opt_str(s.group.clone())),
    ])
}

pub async fn services(State(o): State<Arc<Open311>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let fmt = fmt_of(uri.path());
    let run = async {
        let p = params(q);
        let j = o.jurisdiction(p.get("jurisdiction_id")).await?;
        let list = o.services(&j.id).await?;
        let items = list.iter().filter(|s| s.active).map(|s| service_v(s)).collect();
        Ok::<_, ApiError>(V::List("service", items))
    };
    match run.await {
        Ok(v) => ok(fmt, StatusCode::OK, "services", &v),
        Err(e) => fail(fmt, e),
    }
}

fn definition_v(s: &ServiceDefinition) -> V {
    let mut attrs: Vec<_> = s.attributes.iter().collect();
    attrs.sort_by_key(|a| a.order);
    let attributes = attrs
        .into_iter()
        .map(|a| {
            V::Obj(vec![
                ("variable", V::Bool(a.variable)),
                ("code", V::str(&a.code)),
                ("datatype", V::str(a.datatype.as_str())),
                ("required", V::Bool(a.required)),
                ("datatype_description", V::opt_str(a.datatype_description.clone())),
                ("order", V::Int(i64::from(a.order))),
                ("description", V::str(&a.description)),
                (
                    "values",
                    V::List(
                        "value",
                        a.values
                            .iter()
                            .map(|v| V::Obj(vec![("key", V::str(&v.key)), ("name", V::str(&v.name))]))
                            .collect(),
                    ),
                ),
            ])
        })
        .collect();
    V::Obj(vec![
        ("service_code", V::str(&s.code)),
        ("attributes", V::List("attribute", attributes)),
    ])
}

pub async fn definition(State(o): State<Arc<Open311>>, Path(file): Path<String>, RawQuery(q): RawQuery) -> Response {
    let fmt = fmt_of(&file);
    let run = async {
        let (code, fmt) = name_and_fmt(&file)?;
        let p = params(q);
        let j = o.jurisdiction(p.get("jurisdiction_id")).await?;
        let s = o.api.intake.catalog().service(&j.id, code).await?;
        Ok::<_, ApiError>((fmt, definition_v(&s)))
    };
    match run.await {
        Ok((fmt, v)) => ok(fmt, StatusCode::OK, "service_definition", &v),
        Err(e) => fail(fmt, e),
    }
}

/// The OpenAPI 3 document of the JSON flavour.
pub async fn openapi() -> Response {
    let mut r = (StatusCode::OK, OPENAPI).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(Fmt::Json.content_type()));
    r
}
