//! Full-text, faceted and geographic search, and "is it already reported?".
//!
//! Both queries run against the search index (`townhall-search`) as a
//! [`Viewer`] derived from the caller's permissions, so what the caller may
//! not see is excluded inside the engine's query: it can be neither found,
//! counted nor faceted. Staff reads of private text (snippets of internal
//! notes or reporter details) are written to the audit trail.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use townhall_access::Action;
use townhall_domain::intake::BoundingBox;
use townhall_search::{
    DateRange, DuplicateCandidate, DuplicateQuery, Hit, Near, SearchFilter, SearchIndex, SearchQuery, SearchResults,
    Snippet, SnippetField, SortOrder, Viewer,
};

use super::query::load_visible;
use super::types::{BoundingBoxInput, Open311StatusGql, PriorityGql, ServiceRequestGql, StatusGql};
use super::{Can, Ctx, ctx};
use crate::error::{ApiError, GqlResultExt};

/// Most duplicate candidates one call returns.
const MAX_DUPLICATES: i32 = 20;
/// Oldest a duplicate candidate may be, in days.
const MAX_DUPLICATE_AGE_DAYS: i32 = 365;

#[derive(Default)]
pub struct SearchQueryRoot;

/// A circle on the map.
#[derive(InputObject, Clone, Copy)]
pub struct NearInput {
    pub lat: f64,
    pub long: f64,
    /// Radius in metres (at most 100 km).
    pub radius_m: f64,
}

/// A point on the map.
#[derive(InputObject, Clone, Copy)]
pub struct PointInput {
    pub lat: f64,
    pub long: f64,
}

/// What search results must match; every given filter must hold.
#[derive(InputObject, Default)]
pub struct SearchFilterInput {
    pub statuses: Option<Vec<StatusGql>>,
    /// `OPEN` or `CLOSED` (every internal status maps to one).
    pub open311_status: Option<Open311StatusGql>,
    pub service_codes: Option<Vec<String>>,
    pub department_codes: Option<Vec<String>>,
    pub priorities: Option<Vec<PriorityGql>>,
    pub requested_from: Option<DateTime<Utc>>,
    pub requested_to: Option<DateTime<Utc>>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    pub bbox: Option<BoundingBoxInput>,
    /// Within a radius of a point.
    pub near: Option<NearInput>,
}

/// Result order.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum SearchSort {
    /// Best text match first (newest first when there is no text).
    #[default]
    Relevance,
    Newest,
    Oldest,
    RecentlyUpdated,
    /// Nearest to `from` (or to the centre of `filter.near`) first.
    Distance,
}

/// Which field a snippet was cut from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "townhall_search::SnippetField", name = "SnippetField")]
pub enum SnippetFieldGql {
    Description,
    Address,
    PublicNote,
    /// Private: staff of the responsible department and administrators.
    InternalNote,
    /// Private: staff of the responsible department and administrators.
    ReporterName,
    /// Private: staff of the responsible department and administrators.
    ReporterEmail,
    /// Private: staff of the responsible department and administrators.
    ReporterPhone,
}

fn private_field(f: SnippetField) -> bool {
    matches!(
        f,
        SnippetField::InternalNote
            | SnippetField::ReporterName
            | SnippetField::ReporterEmail
            | SnippetField::ReporterPhone
    )
}

/// A matched part of a snippet, in characters (not bytes) of `text`.
#[derive(SimpleObject)]
pub struct HighlightRange {
    pub start: i32,
    pub end: i32,
}

/// A passage of a field with the matching words marked.
pub struct SnippetGql(Snippet);

#[Object(name = "Snippet")]
impl SnippetGql {
    async fn field(&self) -> SnippetFieldGql {
        self.0.field.into()
    }
    /// The passage as plain text (`…` marks a cut).
    async fn text(&self) -> &str {
        &self.0.text
    }
    /// The passage as HTML: escaped, matches wrapped in `<mark>`.
    async fn html(&self) -> String {
        self.0.to_html()
    }
    /// The matched parts of `text`, as character offsets.
    async fn highlights(&self) -> Vec<HighlightRange> {
        let chars = |byte: usize| i32::try_from(self.0.text.get(..byte).map_or(0, |s| s.chars().count())).unwrap_or(0);
        self.0
            .highlights
            .iter()
            .map(|&(a, b)| HighlightRange {
                start: chars(a),
                end: chars(b),
            })
            .collect()
    }
}

/// One search result: the request's public face, plus whatever private
/// passages the caller may see.
#[derive(SimpleObject)]
#[graphql(name = "SearchHit", complex)]
pub struct SearchHitGql {
    pub id: ID,
    pub tracking_number: String,
    pub service_code: String,
    pub service_name: String,
    pub department_code: Option<String>,
    pub status: StatusGql,
    pub open311_status: Open311StatusGql,
    pub priority: PriorityGql,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub description: Option<String>,
    /// `null` when there is none, or the service hides home addresses from
    /// the caller.
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    /// `lat`/`long` are the centre of a grid cell, not the exact point.
    pub location_is_approximate: bool,
    /// Metres from the point of a distance sort or a `near` filter.
    pub distance_m: Option<f64>,
    /// Relevance, when sorted by relevance.
    pub score: Option<f32>,
    pub snippets: Vec<SnippetGql>,
    /// Pass as `after` to continue after this hit.
    pub cursor: String,
    #[graphql(skip)]
    pub jurisdiction_id: String,
}

#[ComplexObject]
impl SearchHitGql {
    /// The whole request, as the caller may see it (one more look-up).
    async fn request(&self, c: &Context<'_>) -> async_graphql::Result<Option<ServiceRequestGql>> {
        let cx = ctx(c)?;
        load_visible(&cx, &self.jurisdiction_id, &self.id.0).await
    }
}

impl SearchHitGql {
    fn new(jurisdiction_id: &str, h: Hit) -> Self {
        SearchHitGql {
            id: ID(h.id.to_string()),
            tracking_number: h.tracking_number,
            service_code: h.service_code,
            service_name: h.service_name,
            department_code: h.department_code,
            status: h.status.into(),
            open311_status: h.status.open311().into(),
            priority: h.priority.into(),
            requested_at: h.requested_at,
            updated_at: h.updated_at,
            description: h.description,
            address: h.address,
            lat: h.lat,
            long: h.long,
            location_is_approximate: h.location_is_approximate,
            distance_m: h.distance_m,
            score: h.score,
            snippets: h.snippets.into_iter().map(SnippetGql).collect(),
            cursor: h.cursor,
            jurisdiction_id: jurisdiction_id.to_owned(),
        }
    }
}

/// How many matching requests share a value.
#[derive(SimpleObject)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Counts over every request the search matches (not only this page).
#[derive(SimpleObject)]
pub struct SearchFacets {
    /// By internal status (`open`, `in_progress`, …).
    pub status: Vec<FacetCount>,
    /// By service code.
    pub service: Vec<FacetCount>,
    /// By department code.
    pub department: Vec<FacetCount>,
}

#[derive(SimpleObject)]
pub struct SearchPageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// A page of search results.
#[derive(SimpleObject)]
pub struct SearchResult {
    /// How many requests match in all.
    pub total: u64,
    pub hits: Vec<SearchHitGql>,
    /// Counted only when asked for.
    pub facets: SearchFacets,
    pub page_info: SearchPageInfo,
}

/// A request that may be the one being reported.
#[derive(SimpleObject)]
pub struct DuplicateCandidateGql {
    pub request: SearchHitGql,
    pub distance_m: f64,
    /// Share of the new description's words found in the candidate's (0–1).
    pub text_similarity: f64,
    /// How likely a duplicate, 0–1.
    pub score: f64,
}

fn index<'a>(cx: &Ctx<'a>) -> async_graphql::Result<&'a SearchIndex> {
    cx.state.search.as_ref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "SEARCH_UNAVAILABLE",
            "search is not available on this server",
        )
        .into_graphql()
    })
}

/// Who the caller is, as the search index understands it.
async fn viewer(cx: &Ctx<'_>, jurisdiction_id: &str) -> async_graphql::Result<Viewer> {
    let private_in = cx.departments_for(Action::ReadPrivate, jurisdiction_id).await?;
    Ok(if private_in.iter().any(|d| d == "*") {
        Viewer::Admin
    } else if !private_in.is_empty() {
        Viewer::Staff {
            departments: private_in,
        }
    } else if let Some(user_id) = cx.who().user_id() {
        Viewer::Resident { user_id }
    } else {
        Viewer::Public
    })
}

/// Writes one audit entry when the caller was shown private passages.
async fn audit_private(cx: &Ctx<'_>, what: &str, hits: &[&Hit]) -> async_graphql::Result<()> {
    let mut fields: Vec<SnippetField> = Vec::new();
    let mut requests = Vec::new();
    for h in hits {
        let private: Vec<SnippetField> = h
            .snippets
            .iter()
            .map(|s| s.field)
            .filter(|f| private_field(*f))
            .collect();
        if !private.is_empty() {
            requests.push(h.tracking_number.clone());
            for f in private {
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
        }
    }
    if requests.is_empty() {
        return Ok(());
    }
    cx.state
        .access
        .audit(
            cx.who(),
            "read_private",
            what,
            None,
            Some(serde_json::json!({ "fields": fields, "tracking_numbers": requests })),
        )
        .await
        .gql()
}

fn filter(f: SearchFilterInput) -> SearchFilter {
    SearchFilter {
        statuses: f.statuses.unwrap_or_default().into_iter().map(Into::into).collect(),
        open311: f.open311_status.map(Into::into),
        service_codes: f.service_codes.unwrap_or_default(),
        department_codes: f.department_codes.unwrap_or_default(),
        priorities: f.priorities.unwrap_or_default().into_iter().map(Into::into).collect(),
        requested: DateRange {
            from: f.requested_from,
            to: f.requested_to,
        },
        updated: DateRange {
            from: f.updated_from,
            to: f.updated_to,
        },
        bbox: f.bbox.map(|b| BoundingBox {
            min_lat: b.min_lat,
            min_long: b.min_long,
            max_lat: b.max_lat,
            max_long: b.max_long,
        }),
        near: f.near.map(|n| Near {
            lat: n.lat,
            long: n.long,
            radius_m: n.radius_m,
        }),
    }
}

fn count(v: Vec<townhall_search::FacetCount>) -> Vec<FacetCount> {
    v.into_iter()
        .map(|f| FacetCount {
            value: f.value,
            count: f.count,
        })
        .collect()
}

#[Object]
impl SearchQueryRoot {
    /// Searches requests: typo-tolerant full text over description,
    /// address, notes and service name (English and Spanish stemming,
    /// accents folded; every word must match, the last one may be a
    /// prefix), with filters, sorts, facet counts and highlighted
    /// snippets. Anonymous callers and residents see public requests and
    /// public text; staff also find their departments' requests by their
    /// internal notes and reporters; administrators find everything.
    #[graphql(guard = "Can(Action::ReadPublic)")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        c: &Context<'_>,
        query: Option<String>,
        filter: Option<SearchFilterInput>,
        #[graphql(desc = "Default `RELEVANCE`.")] sort: Option<SearchSort>,
        #[graphql(desc = "The point of a `DISTANCE` sort (default: the centre of `filter.near`).")] from: Option<
            PointInput,
        >,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        after: Option<String>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<SearchResult> {
        let first = first.unwrap_or(20);
        let cx = ctx(c)?;
        let index = index(&cx)?;
        if !(1..=i32::try_from(townhall_search::query::MAX_PAGE).unwrap_or(100)).contains(&first) {
            return Err(ApiError::bad_request(
                "INVALID_ARGUMENT",
                format!("`first` must be between 1 and {}", townhall_search::query::MAX_PAGE),
            )
            .into_graphql());
        }
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let filter = self::filter(filter.unwrap_or_default());
        let sort = match sort.unwrap_or_default() {
            SearchSort::Relevance => SortOrder::Relevance,
            SearchSort::Newest => SortOrder::Newest,
            SearchSort::Oldest => SortOrder::Oldest,
            SearchSort::RecentlyUpdated => SortOrder::RecentlyUpdated,
            SearchSort::Distance => match (from, filter.near) {
                (Some(p), _) => SortOrder::Distance {
                    lat: p.lat,
                    long: p.long,
                },
                (None, Some(n)) => SortOrder::Distance {
                    lat: n.lat,
                    long: n.long,
                },
                (None, None) => {
                    return Err(ApiError::bad_request(
                        "INVALID_ARGUMENT",
                        "a DISTANCE sort needs `from` or `filter.near`",
                    )
                    .into_graphql());
                }
            },
        };
        let wants_facets = c.look_ahead().field("facets").exists();
        let q = SearchQuery {
            jurisdiction_id: j.id.clone(),
            text: query,
            filter,
            sort,
            first: usize::try_from(first).unwrap_or(20),
            after,
            skip_facets: !wants_facets,
        };
        let viewer = viewer(&cx, &j.id).await?;
        let SearchResults {
            total,
            hits,
            facets,
            page_info,
        } = index.search(&viewer, &q).await.gql()?;
        audit_private(&cx, "search", &hits.iter().collect::<Vec<_>>()).await?;
        Ok(SearchResult {
            total,
            hits: hits.into_iter().map(|h| SearchHitGql::new(&j.id, h)).collect(),
            facets: SearchFacets {
                status: count(facets.status),
                service: count(facets.service),
                department: count(facets.department),
            },
            page_info: SearchPageInfo {
                has_next_page: page_info.has_next_page,
                end_cursor: page_info.end_cursor,
            },
        })
    }

    /// "Is it already reported?": open requests of the same service near
    /// the point, reported recently, that the caller may see, most likely
    /// first (text similarity and nearness). Defaults come from the
    /// server's `[search]` settings.
    #[graphql(guard = "Can(Action::ReadPublic)")]
    #[allow(clippy::too_many_arguments)]
    async fn possible_duplicates(
        &self,
        c: &Context<'_>,
        service_code: String,
        lat: f64,
        long: f64,
        description: Option<String>,
        #[graphql(desc = "How far away a duplicate may be, in metres.")] radius_m: Option<f64>,
        #[graphql(desc = "How old a duplicate may be, in days.")] max_age_days: Option<i32>,
        #[graphql(desc = "Most candidates, 1 to 20 (default 5).")] limit: Option<i32>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Vec<DuplicateCandidateGql>> {
        let limit = limit.unwrap_or(5);
        let cx = ctx(c)?;
        let index = index(&cx)?;
        if !(1..=MAX_DUPLICATES).contains(&limit) {
            return Err(ApiError::bad_request(
                "INVALID_ARGUMENT",
                format!("`limit` must be between 1 and {MAX_DUPLICATES}"),
            )
            .into_graphql());
        }
        let days = max_age_days.unwrap_or(cx.state.config.duplicate_max_age_days);
        if !(1..=MAX_DUPLICATE_AGE_DAYS).contains(&days) {
            return Err(ApiError::bad_request(
                "INVALID_ARGUMENT",
                format!("`maxAgeDays` must be between 1 and {MAX_DUPLICATE_AGE_DAYS}"),
            )
            .into_graphql());
        }
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        // An unknown or inactive service is an error, not an empty answer.
        cx.state.intake.catalog().service(&j.id, &service_code).await.gql()?;
        let mut q = DuplicateQuery::new(
            &j.id,
            service_code,
            lat,
            long,
            description,
            cx.state.intake.clock().now(),
        );
        q.radius_m = radius_m.unwrap_or(cx.state.config.duplicate_radius_m);
        q.max_age = chrono::Duration::days(i64::from(days));
        q.limit = usize::try_from(limit).unwrap_or(5);
        let viewer = viewer(&cx, &j.id).await?;
        let found: Vec<DuplicateCandidate> = index.possible_duplicates(&viewer, &q).await.gql()?;
        audit_private(&cx, "duplicates", &found.iter().map(|d| &d.request).collect::<Vec<_>>()).await?;
        Ok(found
            .into_iter()
            .map(|d| DuplicateCandidateGql {
                request: SearchHitGql::new(&j.id, d.request),
                distance_m: d.distance_m,
                text_similarity: d.text_similarity,
                score: d.score,
            })
            .collect())
    }
}
