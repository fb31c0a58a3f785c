//! The shared engine: one Meilisearch index for several server replicas.
//!
//! Meilisearch does no stemming, so documents carry text already analyzed
//! by [`crate::text`] and queries send analyzed words; its own typo and
//! prefix rules (5/9 characters, last word) match ours. Public text is
//! one attribute; the private text of each department's requests is an
//! attribute of its own (`p_<hex of the department code>`), so a staff
//! query searches exactly the private attributes of the viewer's
//! departments — the viewer's rules stay inside the query, counts and
//! facets included. The full document is kept under `doc`, which is never
//! searchable.
//!
//! Writes return once Meilisearch has accepted the task (it is durable from
//! then on); [`flush`](SearchBackend::flush) waits until it is processed.
//!
//! **Must never:** let `doc` or a raw text field become searchable, or send
//! a search without `attributesToSearchOn` for a non-administrator.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use meilisearch_sdk::client::Client;
use meilisearch_sdk::errors::{Error as MeiliError, ErrorCode};
use meilisearch_sdk::indexes::Index;
use meilisearch_sdk::search::{MatchingStrategies, SearchQuery as MeiliQuery, Selectors};
use meilisearch_sdk::settings::{
    FacetingSettings, MinWordSizeForTypos, PaginationSetting, Settings, TypoToleranceSettings,
};
use meilisearch_sdk::task_info::TaskInfo;
use meilisearch_sdk::tasks::Task;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::backend::{RawHit, RawResults, Recovery, SearchBackend};
use crate::document::SearchDocument;
use crate::error::SearchError;
use crate::geo;
use crate::query::{DateRange, FacetCount, Facets, Plan, PlanSort, Viewer};
use crate::text::{self, QueryWord};

/// How to reach Meilisearch.
#[derive(Clone)]
pub struct MeiliOptions {
    /// e.g. `http://127.0.0.1:7700`
    pub url: String,
    pub api_key: Option<String>,
    /// The index holding requests.
    pub index_uid: String,
    /// Longest wait for a task in [`flush`](crate::SearchIndex::flush) and at open.
    pub task_timeout: Duration,
}

impl MeiliOptions {
    pub fn new(url: impl Into<String>, api_key: Option<String>) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_owned(),
            api_key,
            index_uid: "townhall_requests".into(),
            task_timeout: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for MeiliOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeiliOptions")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("index_uid", &self.index_uid)
            .finish()
    }
}

const PUBLIC_TEXT: &str = "t_public";
const STATE_ID: &str = "townhall_state";
const FACETS: [&str; 3] = ["status", "service_code", "department"];
const FILTERABLE: [&str; 13] = [
    "jurisdiction_id",
    "service_code",
    "department",
    "status",
    "open311",
    "priority",
    "public",
    "reporter_user",
    "requested_at",
    "updated_at",
    "lat",
    "lng",
    "_geo",
];
/// How long a stale list of searchable attributes may serve staff queries.
const FIELDS_REFRESH: Duration = Duration::from_secs(5);

/// The attribute holding the private text of a department's requests.
pub(crate) fn private_field(department: Option<&str>) -> String {
    let mut s = String::from("p_");
    for b in department.unwrap_or("").bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A document as Meilisearch stores it.
pub(crate) fn to_meili(d: &SearchDocument) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(d.id.to_string()));
    m.insert("jurisdiction_id".into(), json!(d.jurisdiction_id));
    m.insert("service_code".into(), json!(d.service_code));
    if let Some(dep) = &d.department_code {
        m.insert("department".into(), json!(dep));
    }
    m.insert("status".into(), json!(d.status.as_str()));
    m.insert("open311".into(), json!(d.status.open311().as_str()));
    m.insert("priority".into(), json!(d.priority.as_str()));
    m.insert("public".into(), json!(d.public));
    if let Some(u) = d.reporter_user_id {
        m.insert("reporter_user".into(), json!(u.to_string()));
    }
    m.insert("requested_at".into(), json!(d.requested_at.timestamp()));
    m.insert("updated_at".into(), json!(d.updated_at.timestamp()));
    if let Some((lat, lng)) = d.search_point() {
        m.insert("_geo".into(), json!({ "lat": lat, "lng": lng }));
        m.insert("lat".into(), json!(lat));
        m.insert("lng".into(), json!(lng));
    }
    m.insert(PUBLIC_TEXT.into(), json!(text::terms_joined(&d.public_text())));
    let private = text::terms_joined(&d.private_text());
    if !private.is_empty() {
        m.insert(private_field(d.department_code.as_deref()), json!(private));
    }
    m.insert("doc".into(), json!(d));
    Value::Object(m)
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<String> = values.into_iter().map(quote).collect();
    format!("[{}]", v.join(", "))
}

fn date_filter(out: &mut Vec<String>, attr: &str, r: &DateRange) {
    if let Some(f) = r.from {
        out.push(format!("{attr} >= {}", f.timestamp()));
    }
    if let Some(t) = r.to {
        out.push(format!("{attr} <= {}", t.timestamp()));
    }
}

/// The plan's filters, the viewer's included, as a Meilisearch filter.
pub(crate) fn filter_for(plan: &Plan) -> String {
    let mut c = vec![format!("jurisdiction_id = {}", quote(&plan.jurisdiction_id))];
    match &plan.viewer {
        Viewer::Admin => {}
        Viewer::Public => c.push("public = true".into()),
        Viewer::Resident { user_id } => {
            c.push(format!(
                "(public = true OR reporter_user = {})",
                quote(&user_id.to_string())
            ));
        }
        Viewer::Staff { departments } if departments.is_empty() => c.push("public = true".into()),
        Viewer::Staff { departments } => c.push(format!(
            "(public = true OR department IN {})",
            list(departments.iter().map(String::as_str))
        )),
    }
    let f = &plan.filter;
    if !f.statuses.is_empty() {
        c.push(format!("status IN {}", list(f.statuses.iter().map(|s| s.as_str()))));
    }
    if let Some(o) = f.open311 {
        c.push(format!("open311 = {}", quote(o.as_str())));
    }
    if !f.service_codes.is_empty() {
        c.push(format!(
            "service_code IN {}",
            list(f.service_codes.iter().map(String::as_str))
        ));
    }
    if !f.department_codes.is_empty() {
        c.push(format!(
            "department IN {}",
            list(f.department_codes.iter().map(String::as_str))
        ));
    }
    if !f.priorities.is_empty() {
        c.push(format!("priority IN {}", list(f.priorities.iter().map(|p| p.as_str()))));
    }
    date_filter(&mut c, "requested_at", &f.requested);
    date_filter(&mut c, "updated_at", &f.updated);
    if let Some(b) = f.bbox {
        c.push(format!(
            "lat >= {} AND lat <= {} AND lng >= {} AND lng <= {}",
            b.min_lat, b.max_lat, b.min_long, b.max_long
        ));
    }
    if let Some(n) = f.near {
        let b = geo::bbox_around(n.lat, n.long, n.radius_m);
        c.push(format!(
            "lat >= {} AND lat <= {} AND lng >= {} AND lng <= {}",
            b.min_lat, b.max_lat, b.min_long, b.max_long
        ));
        c.push(format!("_geoRadius({}, {}, {})", n.lat, n.long, n.radius_m));
    }
    c.join(" AND ")
}

/// The analyzed words as a Meilisearch query: the prefix word last, and a
/// trailing space when no word is a prefix (Meilisearch treats an open
/// last word as a prefix).
pub(crate) fn query_string(words: &[QueryWord]) -> String {
    let mut ordered: Vec<&QueryWord> = words.iter().filter(|w| !w.prefix).collect();
    let prefix: Vec<&QueryWord> = words.iter().filter(|w| w.prefix).collect();
    let open = !prefix.is_empty();
    ordered.extend(prefix);
    let mut q = ordered.iter().map(|w| w.term.as_str()).collect::<Vec<_>>().join(" ");
    if !open {
        q.push(' ');
    }
    q
}

#[derive(Debug, Deserialize)]
struct HitBody {
    doc: SearchDocument,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateDoc {
    id: String,
    complete: bool,
}

pub(crate) struct MeiliBackend {
    client: Client,
    index: Index,
    options: MeiliOptions,
    created: AtomicBool,
    complete: AtomicBool,
    /// Searchable attributes the server has (`t_public` and `p_…`).
    fields: RwLock<(BTreeSet<String>, Instant)>,
    settings: tokio::sync::Mutex<()>,
    last_task: Mutex<Option<TaskInfo>>,
}

fn unavailable(e: MeiliError) -> SearchError {
    match e {
        MeiliError::Meilisearch(m) => SearchError::Engine(format!("{:?}: {}", m.error_code, m.error_message)),
        other => SearchError::Unavailable(other.to_string()),
    }
}

impl MeiliBackend {
    pub(crate) async fn open(options: MeiliOptions) -> Result<MeiliBackend, SearchError> {
        let client = Client::new(options.url.clone(), options.api_key.clone()).map_err(unavailable)?;
        let (index, created) = match client.get_index(&options.index_uid).await {
            Ok(index) => (index, false),
            Err(MeiliError::Meilisearch(m)) if matches!(m.error_code, ErrorCode::IndexNotFound) => {
                let task = client
                    .create_index(&options.index_uid, Some("id"))
                    .await
                    .map_err(unavailable)?;
                wait(&client, task, options.task_timeout).await?;
                (client.index(&options.index_uid), true)
            }
            Err(e) => return Err(unavailable(e)),
        };
        let existing = index.get_searchable_attributes().await.map_err(unavailable)?;
        let mut fields: BTreeSet<String> = existing.into_iter().filter(|a| a.starts_with("p_")).collect();
        fields.insert(PUBLIC_TEXT.into());
        let task = index.set_settings(&settings(&fields)).await.map_err(unavailable)?;
        wait(&client, task, options.task_timeout).await?;
        let complete = match index.get_document::<StateDoc>(STATE_ID).await {
            Ok(s) => s.complete,
            Err(MeiliError::Meilisearch(m)) if matches!(m.error_code, ErrorCode::DocumentNotFound) => false,
            Err(e) => return Err(unavailable(e)),
        };
        Ok(MeiliBackend {
            client,
            index,
            options,
            created: AtomicBool::new(created),
            complete: AtomicBool::new(complete),
            fields: RwLock::new((fields, Instant::now())),
            settings: tokio::sync::Mutex::new(()),
            last_task: Mutex::new(None),
        })
    }

    fn remember(&self, task: TaskInfo) {
        if let Ok(mut last) = self.last_task.lock() {
            let newer = last.as_ref().is_none_or(|t| t.task_uid < task.task_uid);
            if newer {
                *last = Some(task);
            }
        }
    }

    fn known_fields(&self) -> BTreeSet<String> {
        self.fields.read().map(|f| f.0.clone()).unwrap_or_default()
    }

    /// Makes the private attributes of these departments searchable.
    async fn ensure_fields(&self, wanted: BTreeSet<String>) -> Result<(), SearchError> {
        let missing = |known: &BTreeSet<String>| wanted.iter().any(|f| !known.contains(f));
        if !missing(&self.known_fields()) {
            return Ok(());
        }
        let _guard = self.settings.lock().await;
        let mut all = self.known_fields();
        if !missing(&all) {
            return Ok(());
        }
        let server = self.index.get_searchable_attributes().await.map_err(unavailable)?;
        all.extend(server.into_iter().filter(|a| a.starts_with("p_")));
        all.extend(wanted);
        let task = self.index.set_searchable_attributes(&all).await.map_err(unavailable)?;
        wait(&self.client, task, self.options.task_timeout).await?;
        if let Ok(mut f) = self.fields.write() {
            *f = (all, Instant::now());
        }
        Ok(())
    }

    /// Re-reads the searchable attributes if a staff query needs one this
    /// replica has not seen (another replica may have added it).
    async fn refresh_fields_for(&self, wanted: &[String]) {
        let (stale, missing) = match self.fields.read() {
            Ok(f) => (f.1.elapsed() > FIELDS_REFRESH, wanted.iter().any(|w| !f.0.contains(w))),
            Err(_) => (false, false),
        };
        if !(stale && missing) {
            return;
        }
        if let Ok(server) = self.index.get_searchable_attributes().await
            && let Ok(mut f) = self.fields.write()
        {
            f.0.extend(server.into_iter().filter(|a| a.starts_with("p_")));
            f.1 = Instant::now();
        }
    }

    async fn attributes_to_search_on(&self, viewer: &Viewer) -> Option<Vec<String>> {
        match viewer {
            Viewer::Admin => None,
            Viewer::Public | Viewer::Resident { .. } => Some(vec![PUBLIC_TEXT.to_owned()]),
            Viewer::Staff { departments } => {
                let wanted: Vec<String> = departments.iter().map(|d| private_field(Some(d))).collect();
                self.refresh_fields_for(&wanted).await;
                let known = self.known_fields();
                let mut on = vec![PUBLIC_TEXT.to_owned()];
                on.extend(wanted.into_iter().filter(|w| known.contains(w)));
                Some(on)
            }
        }
    }
}

fn settings(searchable: &BTreeSet<String>) -> Settings {
    Settings::new()
        .with_searchable_attributes(searchable)
        .with_filterable_attributes(FILTERABLE)
        .with_sortable_attributes(["requested_at", "updated_at", "_geo"])
        .with_ranking_rules(["sort", "words", "typo", "proximity", "attribute", "exactness"])
        .with_pagination(PaginationSetting {
            max_total_hits: 10_000_000,
        })
        .with_faceting(FacetingSettings {
            max_values_per_facet: 1000,
            sort_facet_values_by: None,
        })
        .with_typo_tolerance(TypoToleranceSettings {
            enabled: Some(true),
            min_word_size_for_typos: Some(MinWordSizeForTypos {
                one_typo: Some(5),
                two_typos: Some(9),
            }),
            ..Default::default()
        })
        .with_proximity_precision("byAttribute")
}

async fn wait(client: &Client, task: TaskInfo, timeout: Duration) -> Result<(), SearchError> {
    let done = client
        .wait_for_task(task, Some(Duration::from_millis(25)), Some(timeout))
        .await
        .map_err(unavailable)?;
    match done {
        Task::Failed { content } => Err(SearchError::Engine(format!(
            "Meilisearch task failed: {:?}: {}",
            content.error.error_code, content.error.error_message
        ))),
        _ => Ok(()),
    }
}

#[async_trait]
impl SearchBackend for MeiliBackend {
    fn name(&self) -> &'static str {
        "meilisearch"
    }

    fn needs_rebuild(&self) -> bool {
        self.created.load(Ordering::Acquire) || !self.complete.load(Ordering::Acquire)
    }

    fn recovery(&self) -> Recovery {
        Recovery::Durable
    }

    async fn upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        if docs.is_empty() {
            return Ok(());
        }
        let wanted: BTreeSet<String> = docs
            .iter()
            .filter(|d| !d.private_text().is_empty())
            .map(|d| private_field(d.department_code.as_deref()))
            .collect();
        self.ensure_fields(wanted).await?;
        let body: Vec<Value> = docs.iter().map(to_meili).collect();
        let task = self
            .index
            .add_or_replace(&body, Some("id"))
            .await
            .map_err(unavailable)?;
        self.remember(task);
        Ok(())
    }

    async fn delete(&self, ids: Vec<Uuid>) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let task = self.index.delete_documents(&ids).await.map_err(unavailable)?;
        self.remember(task);
        Ok(())
    }

    async fn clear(&self) -> Result<(), SearchError> {
        let task = self.index.delete_all_documents().await.map_err(unavailable)?;
        self.remember(task);
        self.complete.store(false, Ordering::Release);
        Ok(())
    }

    async fn flush(&self) -> Result<(), SearchError> {
        let last = self.last_task.lock().ok().and_then(|t| t.clone());
        match last {
            Some(task) => wait(&self.client, task, self.options.task_timeout).await,
            None => Ok(()),
        }
    }

    async fn begin_rebuild(&self) -> Result<(), SearchError> {
        self.set_complete(false).await
    }

    async fn bulk_upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        self.upsert(docs).await
    }

    async fn finish_rebuild(&self) -> Result<(), SearchError> {
        self.flush().await?;
        self.set_complete(true).await
    }

    async fn execute(&self, plan: &Plan) -> Result<RawResults, SearchError> {
        let filter = filter_for(plan);
        let text = if plan.words.is_empty() {
            None
        } else {
            Some(query_string(&plan.words))
        };
        let search_on = self.attributes_to_search_on(&plan.viewer).await;
        let search_on_refs: Option<Vec<&str>> = search_on.as_ref().map(|v| v.iter().map(String::as_str).collect());
        let sort: Vec<String> = match plan.sort {
            PlanSort::Relevance => vec![],
            PlanSort::RequestedDesc => vec!["requested_at:desc".into()],
            PlanSort::RequestedAsc => vec!["requested_at:asc".into()],
            PlanSort::UpdatedDesc => vec!["updated_at:desc".into()],
            PlanSort::Distance { lat, long } => vec![format!("_geoPoint({lat}, {long}):asc")],
        };
        let sort_refs: Vec<&str> = sort.iter().map(String::as_str).collect();
        let limit = plan.limit.max(1);
        // Page mode gives exact totals; a page must start at a multiple of
        // its size, so fetch from the start when the offset is not one.
        let (page, per_page, skip) = if plan.offset.is_multiple_of(limit) {
            (plan.offset / limit + 1, limit, 0)
        } else {
            (1, plan.offset + limit, plan.offset)
        };
        let retrieve = ["doc"];
        let mut q = MeiliQuery::new(&self.index);
        q.with_filter(&filter)
            .with_matching_strategy(MatchingStrategies::ALL)
            .with_attributes_to_retrieve(Selectors::Some(&retrieve))
            .with_page(page)
            .with_hits_per_page(per_page);
        if let Some(t) = &text {
            q.with_query(t);
        }
        if let Some(on) = &search_on_refs {
            q.with_attributes_to_search_on(on);
        }
        if !sort_refs.is_empty() {
            q.with_sort(&sort_refs);
        }
        if plan.facets {
            q.with_facets(Selectors::Some(&FACETS));
        }
        if plan.sort == PlanSort::Relevance {
            q.with_show_ranking_score(true);
        }
        let res = q.execute::<HitBody>().await.map_err(unavailable)?;
        let hits = res
            .hits
            .into_iter()
            .skip(skip)
            .map(|h| RawHit {
                score: h.ranking_score.map(|s| s as f32),
                doc: h.result.doc,
            })
            .collect();
        let total = res.total_hits.or(res.estimated_total_hits).unwrap_or(0) as u64;
        let dist = res.facet_distribution.unwrap_or_default();
        let counts = |name: &str| -> Vec<FacetCount> {
            dist.get(name)
                .map(|m| {
                    m.iter()
                        .map(|(value, count)| FacetCount {
                            value: value.clone(),
                            count: *count as u64,
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut facets = Facets {
            status: counts("status"),
            service: counts("service_code"),
            department: counts("department"),
        };
        facets.normalize();
        Ok(RawResults { total, hits, facets })
    }

    async fn shutdown(&self) -> Result<(), SearchError> {
        Ok(())
    }
}

impl MeiliBackend {
    async fn set_complete(&self, complete: bool) -> Result<(), SearchError> {
        let state = StateDoc {
            id: STATE_ID.into(),
            complete,
        };
        let task = self
            .index
            .add_or_replace(std::slice::from_ref(&state), Some("id"))
            .await
            .map_err(unavailable)?;
        wait(&self.client, task, self.options.task_timeout).await?;
        self.complete.store(complete, Ordering::Release);
        if complete {
            self.created.store(false, Ordering::Release);
        }
        Ok(())
    }
}
