//! `POST requests` (submit), `GET requests` (search), `GET requests/{id}`
//! and `GET media/{id}` (uploaded photos).
//!
//! `service_request_id` is the request's tracking number (`2026-000123`,
//! what residents quote); the UUID is accepted wherever an id is read.
//!
//! **Must never:** show a non-public request, an address-sensitive
//! service's location, or any reporter detail; store a photo that still
//! carries its metadata; submit around `Intake::submit`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use townhall_access::{Action, actor};
use townhall_domain::ids::RequestRef;
use townhall_domain::intake::{Channel, IntakeInput, Reporter};
use townhall_domain::service::ServiceDefinition;
use townhall_domain::sla::SlaUnit;
use townhall_domain::{EventKind, Status};
use townhall_store::{EventRecord, RequestQuery, RequestRecord, StoreError};
use uuid::Uuid;

use super::media::{self, CleanPhoto};
use super::params::Params;
use super::{Fmt, Open311, V, base_url, datetime, fail, fmt_of, name_and_fmt, ok, tokens};
use crate::auth::AuthContext;
use crate::error::{ApiError, Open311Error};

/// The largest form body (without a photo).
pub const MAX_FORM_BYTES: usize = 1024 * 1024;
/// The largest photo.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// The largest multipart body (a photo and the form).
pub const MAX_MULTIPART_BYTES: usize = 16 * 1024 * 1024;
/// At most this many ids in one `service_request_id` list.
const MAX_IDS: usize = 1000;
/// The default and largest page (the specification's "first 1000").
pub const MAX_PAGE: u64 = 1000;

/// A submission as it came off the wire.
pub(crate) struct Incoming {
    pub params: Params,
    pub photo: Option<Vec<u8>>,
}

fn field_names_for_photo(name: &str) -> bool {
    matches!(name, "media" | "photo" | "image" | "file" | "media_file")
}

/// Reads a form-urlencoded or multipart body (the query string counts
/// too: some clients put `api_key` and `jurisdiction_id` there).
pub(crate) async fn read_body(query: Option<String>, req: Request) -> Result<Incoming, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut params = Params::default();
    let mut photo = None;
    if ct.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&ct).map_err(|_| Open311Error::MalformedMultipart)?;
        // Read it all (bounded) before parsing, so an oversize photo is
        // answered with its own code rather than a reset connection.
        let body = axum::body::to_bytes(req.into_body(), MAX_MULTIPART_BYTES)
            .await
            .map_err(|_| Open311Error::BodyTooLarge(MAX_MULTIPART_BYTES))?;
        let limits = multer::SizeLimit::new().per_field(MAX_PHOTO_BYTES as u64);
        let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
        let mut mp =
            multer::Multipart::with_constraints(stream, boundary, multer::Constraints::new().size_limit(limits));
        let size_error = |e: multer::Error| -> ApiError {
            match e {
                multer::Error::FieldSizeExceeded { .. } => Open311Error::PhotoTooLarge(MAX_PHOTO_BYTES).into(),
                _ => Open311Error::MalformedMultipart.into(),
            }
        };
        while let Some(field) = mp.next_field().await.map_err(size_error)? {
            let name = field.name().unwrap_or("").to_owned();
            let is_file = field.file_name().is_some() || field_names_for_photo(&name);
            if is_file {
                let bytes = field.bytes().await.map_err(size_error)?;
                if photo.is_none() && !bytes.is_empty() {
                    photo = Some(bytes.to_vec());
                }
            } else {
                let text = field.text().await.map_err(size_error)?;
                params.0.push((name, text));
            }
        }
    } else if ct.is_empty() || ct.starts_with("application/x-www-form-urlencoded") {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| Open311Error::BodyTooLarge(MAX_FORM_BYTES))?;
        params = Params::parse(&bytes);
    } else {
        return Err(Open311Error::UnsupportedContentType.into());
    }
    params.extend(Params::parse(query.unwrap_or_default().as_bytes()));
    Ok(Incoming { params, photo })
}

/// The intake input an Open311 form describes.
pub(crate) fn intake_input(p: &Params) -> Result<IntakeInput, ApiError> {
    Ok(IntakeInput {
        service_code: p.owned("service_code").unwrap_or_default(),
        description: p.owned("description"),
        lat: p.f64("lat")?,
        long: p.f64("long")?,
        address: p.owned("address_string").or_else(|| p.owned("address")),
        address_id: p.owned("address_id"),
        zipcode: p.owned("zipcode"),
        attributes: p.attributes(),
        media_url: p.owned("media_url"),
        reporter: Reporter {
            first_name: p.owned("first_name"),
            last_name: p.owned("last_name"),
            email: p.owned("email"),
            phone: p.owned("phone"),
            user_id: None,
        },
        device_id: p.owned("device_id"),
    })
}

/// A photo cleaned and given its id and public URL.
pub(crate) struct PreparedPhoto {
    pub id: Uuid,
    pub url: String,
    pub clean: CleanPhoto,
    pub sha256: String,
}

pub(crate) fn prepare_photo(bytes: &[u8], base: &str) -> Result<PreparedPhoto, ApiError> {
    let clean = media::clean(bytes)?;
    let id = Uuid::now_v7();
    let sha256 = Sha256::digest(&clean.data).iter().map(|b| format!("{b:02x}")).collect();
    Ok(PreparedPhoto {
        id,
        url: format!("{base}/open311/v2/media/{id}"),
        clean,
        sha256,
    })
}

pub(crate) fn sla_notice(s: &ServiceDefinition) -> String {
    match s.sla.unit {
        SlaUnit::Hours => format!("{}: the city aims to respond within {} hours.", s.name, s.sla.amount),
        SlaUnit::BusinessDays => format!(
            "{}: the city aims to resolve this within {} business days.",
            s.name, s.sla.amount
        ),
    }
}

/// `POST requests.fmt`.
pub async fn submit(
    State(o): State<Arc<Open311>>,
    Extension(auth): Extension<AuthContext>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    let fmt = fmt_of(req.uri().path());
    let headers = req.headers().clone();
    match submit_inner(&o, &auth, &headers, q, req).await {
        Ok(v) => ok(fmt, StatusCode::CREATED, "service_requests", &v),
        Err(e) => fail(fmt, e),
    }
}

async fn submit_inner(
    o: &Open311,
    auth: &AuthContext,
    headers: &HeaderMap,
    q: Option<String>,
    req: Request,
) -> Result<V, ApiError> {
    let incoming = read_body(q, req).await?;
    let p = &incoming.params;
    let who = o.key_holder(p.get("api_key"), auth).await?;
    if !o.api.access.can(&who, Action::Submit, None) {
        return Err(Open311Error::KeyScope("submit requests", "open311:write").into());
    }
    let j = o.jurisdiction(p.get("jurisdiction_id")).await?;
    let mut input = intake_input(p)?;
    let photo = match &incoming.photo {
        None => None,
        Some(bytes) => {
            if input.media_url.is_some() {
                return Err(Open311Error::PhotoAndMediaUrl.into());
            }
            let prepared = prepare_photo(bytes, &base_url(&o.api, headers))?;
            input.media_url = Some(prepared.url.clone());
            Some(prepared)
        }
    };
    let code = input.service_code.trim().to_owned();
    let service = if code.is_empty() {
        None
    } else {
        Some(o.api.intake.catalog().service(&j.id, &code).await?)
    };
    if let Some(s) = service.as_ref().filter(|s| s.answers_with_token) {
        let token = tokens::accept(o, &j, s, input, actor(&who), photo).await?;
        return Ok(V::List(
            "request",
            vec![V::Obj(vec![
                ("token", V::Str(token)),
                ("service_notice", V::Str(sla_notice(s))),
                ("account_id", V::Null),
            ])],
        ));
    }
    let submitted = o
        .api
        .intake
        .submit(Some(&j.id), input, Channel::Open311, actor(&who))
        .await?;
    let mut notice = sla_notice(&submitted.service);
    if let Some(ph) = photo
        && let Err(e) = store_photo(o, &j.id, submitted.request.id, ph).await
    {
        tracing::error!(request_id = %submitted.request.id, error = %e, "could not store an Open311 photo");
        notice.push_str(" The photo could not be stored; please send it again.");
    }
    Ok(V::List(
        "request",
        vec![V::Obj(vec![
            ("service_request_id", V::Str(submitted.request.tracking_number)),
            ("service_notice", V::Str(notice)),
            ("account_id", V::Null),
        ])],
    ))
}

pub(crate) async fn store_photo(
    o: &Open311,
    jurisdiction_id: &str,
    request_id: Uuid,
    ph: PreparedPhoto,
) -> Result<(), StoreError> {
    o.api
        .store()
        .open311_add_photo(
            ph.id,
            jurisdiction_id,
            request_id,
            ph.clean.content_type,
            &ph.sha256,
            ph.clean.data,
            o.api.intake.clock().now(),
        )
        .await
}

/// What rendering a page of requests needs besides the rows.
struct Page {
    tz: Tz,
    services: HashMap<String, Arc<ServiceDefinition>>,
    departments: HashMap<String, String>,
    notes: HashMap<Uuid, String>,
    /// With `extensions=true`.
    history: Option<HashMap<Uuid, Vec<EventRecord>>>,
    photos: Option<HashMap<Uuid, Vec<(Uuid, String)>>>,
    base: String,
}

async fn page_for(
    o: &Open311,
    j: &townhall_store::Jurisdiction,
    rows: &[RequestRecord],
    notes: Option<HashMap<Uuid, String>>,
    extensions: bool,
    base: String,
) -> Result<Page, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let services = o
        .services(&j.id)
        .await?
        .iter()
        .map(|s| (s.code.clone(), s.clone()))
        .collect();
    let departments = o
        .departments(&j.id)
        .await?
        .iter()
        .map(|d| (d.code.clone(), d.name.clone()))
        .collect();
    let store = o.api.store();
    let notes = match notes {
        Some(n) => n,
        None => store.open311_latest_public_notes(&ids).await?,
    };
    let (history, photos) = if extensions {
        (
            Some(store.open311_public_history(&ids).await?),
            Some(store.open311_photos(&ids).await?),
        )
    } else {
        (None, None)
    };
    Ok(Page {
        tz: j.timezone,
        services,
        departments,
        notes,
        history,
        photos,
        base,
    })
}

fn note_v(e: &EventRecord, tz: Tz) -> Option<V> {
    let (kind, status) = match e.kind {
        EventKind::Created => ("created", e.to_status),
        EventKind::StatusChanged => ("status_changed", e.to_status),
        EventKind::PublicNote => ("note", None),
        EventKind::Merged => ("merged", e.to_status),
        _ => return None,
    };
    Some(V::Obj(vec![
        ("datetime", datetime(e.created_at, tz)),
        ("type", V::str(kind)),
        ("status", V::opt_str(status.map(|s| s.update_feed_name()))),
        ("description", V::opt_str(e.body.clone())),
    ]))
}

fn request_v(r: &RequestRecord, page: &Page) -> V {
    let service = page.services.get(&r.service_code);
    let hidden = service.is_none_or(|s| s.address_sensitive);
    let place = |v: V| if hidden { V::Null } else { v };
    let mut fields = vec![
        ("service_request_id", V::str(&r.tracking_number)),
        ("status", V::str(r.status.open311().as_str())),
        ("status_notes", V::opt_str(page.notes.get(&r.id).cloned())),
        ("service_name", V::opt_str(service.map(|s| s.name.clone()))),
        ("service_code", V::str(&r.service_code)),
        ("description", V::opt_str(r.description.clone())),
        (
            "agency_responsible",
            V::opt_str(
                r.department_code
                    .as_ref()
                    .and_then(|d| page.departments.get(d).cloned()),
            ),
        ),
        ("service_notice", V::opt_str(service.map(|s| sla_notice(s)))),
        ("requested_datetime", datetime(r.requested_at, page.tz)),
        ("updated_datetime", datetime(r.updated_at, page.tz)),
        (
            "expected_datetime",
            r.expected_at.map_or(V::Null, |t| datetime(t, page.tz)),
        ),
        ("address", place(V::opt_str(r.address.clone()))),
        ("address_id", place(V::opt_str(r.address_id.clone()))),
        ("zipcode", V::opt_str(r.zipcode.clone())),
        ("lat", place(V::opt_num(r.lat))),
        ("long", place(V::opt_num(r.long))),
        ("media_url", V::opt_str(r.media_url.clone())),
    ];
    if let (Some(history), Some(photos)) = (&page.history, &page.photos) {
        let notes = history
            .get(&r.id)
            .map(|h| h.iter().filter_map(|e| note_v(e, page.tz)).collect())
            .unwrap_or_default();
        let photos = photos
            .get(&r.id)
            .map(|ps| {
                ps.iter()
                    .map(|(id, ct)| {
                        V::Obj(vec![
                            ("media_url", V::Str(format!("{}/open311/v2/media/{id}", page.base))),
                            ("content_type", V::str(ct)),
                        ])
                    })
                    .collect()
            })
            .unwrap_or_default();
        fields.extend([
            ("detailed_status", V::str(r.status.update_feed_name())),
            ("channel", V::str(r.channel.as_str())),
            ("priority", V::str(r.priority.as_str())),
            ("closed_datetime", r.closed_at.map_or(V::Null, |t| datetime(t, page.tz))),
            ("photos", V::List("photo", photos)),
            ("notes", V::List("note", notes)),
        ]);
    }
    V::Obj(fields)
}

fn params(q: Option<String>) -> Params {
    Params::parse(q.unwrap_or_default().as_bytes())
}

/// Open311 `status` values: `open`/`closed`, or (extension) any richer
/// status name, FixMyStreet's included.
fn statuses(p: &Params) -> Result<Vec<Status>, ApiError> {
    let mut out: Vec<Status> = Vec::new();
    for s in p.list("status") {
        let group: Vec<Status> = match s.to_ascii_lowercase().as_str() {
            "open" => Status::ALL.into_iter().filter(|s| !s.is_closed()).collect(),
            "closed" => Status::ALL.into_iter().filter(|s| s.is_closed()).collect(),
            other => vec![other.parse::<Status>()?],
        };
        for st in group {
            if !out.contains(&st) {
                out.push(st);
            }
        }
    }
    Ok(out)
}

/// `GET requests.fmt`.
pub async fn search(State(o): State<Arc<Open311>>, RawQuery(q): RawQuery, req: Request) -> Response {
    let fmt = fmt_of(req.uri().path());
    match search_inner(&o, params(q), req.headers()).await {
        Ok(v) => ok(fmt, StatusCode::OK, "service_requests", &v),
        Err(e) => fail(fmt, e),
    }
}

async fn search_inner(o: &Open311, p: Params, headers: &HeaderMap) -> Result<V, ApiError> {
    let j = o.jurisdiction(p.get("jurisdiction_id")).await?;
    let tz = j.timezone;
    let page_size = p.u64("page_size", 1, MAX_PAGE)?.unwrap_or(MAX_PAGE);
    let page = p.u64("page", 1, 1_000_000)?.unwrap_or(1);
    let mut q = RequestQuery {
        jurisdiction_id: j.id.clone(),
        public_only: true,
        limit: page_size,
        offset: (page - 1).saturating_mul(page_size),
        ..Default::default()
    };
    let ids = p.list("service_request_id");
    if !ids.is_empty() {
        // The ids override every other filter.
        if ids.len() > MAX_IDS {
            return Err(Open311Error::InvalidParameter(
                "service_request_id".into(),
                format!("ask for at most {MAX_IDS} ids at once"),
            )
            .into());
        }
        for id in ids {
            match id.parse::<RequestRef>()? {
                RequestRef::Id(u) => q.ids.push(u),
                RequestRef::Tracking(t) => q.tracking_numbers.push(t.to_string()),
            }
        }
    } else {
        q.service_codes = p.list("service_code");
        q.statuses = statuses(&p)?;
        let start = p.date("start_date", tz)?;
        let end = p.date("end_date", tz)?;
        q.updated_from = p.date("updated_after", tz)?;
        q.updated_to = p.date("updated_before", tz)?;
        let window = Duration::days(90);
        let by_update = q.updated_from.is_some() || q.updated_to.is_some();
        (q.requested_from, q.requested_to) = match (start, end) {
            (None, None) if by_update => (None, None),
            (None, None) => (o.api.intake.clock().now().checked_sub_signed(window), None),
            (Some(s), None) => (Some(s), s.checked_add_signed(window)),
            (None, Some(e)) => (e.checked_sub_signed(window), Some(e)),
            (Some(s), Some(e)) => {
                if s > e {
                    return Err(Open311Error::InvalidParameter(
                        "start_date".into(),
                        "`start_date` is after `end_date`".into(),
                    )
                    .into());
                }
                (Some(s), Some(e))
            }
        };
        if let (Some(a), Some(b)) = (q.updated_from, q.updated_to)
            && a > b
        {
            return Err(Open311Error::InvalidParameter(
                "updated_after".into(),
                "`updated_after` is after `updated_before`".into(),
            )
            .into());
        }
    }
    let found = o.api.store().open311_requests(&q).await?;
    let mut notes = HashMap::new();
    let mut rows = Vec::with_capacity(found.len());
    for (r, note) in found {
        if let Some(n) = note {
            notes.insert(r.id, n);
        }
        rows.push(r);
    }
    let page = page_for(
        o,
        &j,
        &rows,
        Some(notes),
        p.flag("extensions"),
        base_url(&o.api, headers),
    )
    .await?;
    Ok(V::List("request", rows.iter().map(|r| request_v(r, &page)).collect()))
}

/// `GET requests/{id}.fmt`: an array of one.
pub async fn one(
    State(o): State<Arc<Open311>>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let fmt = fmt_of(&file);
    let run = async {
        let (id, fmt) = name_and_fmt(&file)?;
        let p = params(q);
        let j = o.jurisdiction(p.get("jurisdiction_id")).await?;
        let store = o.api.store();
        let found = match id.parse::<RequestRef>()? {
            RequestRef::Id(u) => store.request(&j.id, u).await,
            RequestRef::Tracking(t) => store.request_by_tracking(&j.id, &t.to_string()).await,
        };
        let record = match found {
            Ok(r) if r.public => r,
            Ok(_) | Err(StoreError::NotFound { .. }) => return Err(ApiError::not_found("request")),
            Err(e) => return Err(e.into()),
        };
        let rows = [record];
        let page = page_for(&o, &j, &rows, None, p.flag("extensions"), base_url(&o.api, &headers)).await?;
        Ok::<_, ApiError>((
            fmt,
            V::List("request", rows.iter().map(|r| request_v(r, &page)).collect()),
        ))
    };
    match run.await {
        Ok((fmt, v)) => ok(fmt, StatusCode::OK, "service_requests", &v),
        Err(e) => fail(fmt, e),
    }
}

/// `GET media/{id}`: a public photo (metadata already stripped).
pub async fn photo(State(o): State<Arc<Open311>>, Path(id): Path<String>) -> Response {
    let id = id.split('.').next().unwrap_or("");
    let Ok(id) = Uuid::parse_str(id) else {
        return fail(Fmt::Json, ApiError::not_found("photo"));
    };
    match o.api.store().open311_public_photo(id).await {
        Ok(p) => {
            let mut r = (StatusCode::OK, Body::from(p.data)).into_response();
            let h = r.headers_mut();
            if let Ok(ct) = HeaderValue::from_str(&p.content_type) {
                h.insert(header::CONTENT_TYPE, ct);
            }
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400, immutable"),
            );
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", p.sha256)) {
                h.insert(header::ETAG, etag);
            }
            r
        }
        Err(StoreError::NotFound { .. }) => fail(Fmt::Json, ApiError::not_found("photo")),
        Err(e) => fail(Fmt::Json, e.into()),
    }
}
