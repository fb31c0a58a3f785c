//! What a caller may ask of the index, who is asking, and what comes back.
//!
//! [`Viewer`] travels with every query and is turned into part of the query
//! itself by each backend, so a request or a field the viewer may not see
//! can never match, be counted in `total`, or appear in a facet count:
//!
//! | viewer | requests that can match | text that can match |
//! |---|---|---|
//! | `Public` | public ones | public text |
//! | `Resident` | public ones and their own | public text |
//! | `Staff` | public ones and their departments' | public text; private text of their departments' requests |
//! | `Admin` | all | all |
//!
//! (Public and private text are defined in [`crate::document`].)
//!
//! **Must never:** trust a viewer it did not get from the caller, or let a
//! backend see an unvalidated query ([`SearchQuery::plan`] checks every
//! limit first).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use townhall_domain::intake::{BoundingBox, check_coordinates};
use townhall_domain::{Open311Status, Priority, Status};

use crate::error::SearchError;
use crate::highlight::Snippet;
use crate::text::{self, QueryWord};

/// Page size when the caller names none.
pub const DEFAULT_PAGE: usize = 20;
/// Largest page.
pub const MAX_PAGE: usize = 100;
/// How deep pagination may go (offset + page).
pub const MAX_WINDOW: usize = 10_000;
/// Longest query text, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Largest radius of a `near` filter, in metres.
pub const MAX_RADIUS_M: f64 = 100_000.0;

/// Who is searching. The API builds it from the authenticated principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Viewer {
    /// Anonymous: public requests, public text.
    Public,
    /// A signed-in resident: public requests and their own, public text.
    Resident { user_id: Uuid },
    /// Staff of some departments: everything of their departments' requests,
    /// public requests and public text of the others.
    Staff { departments: Vec<String> },
    /// Administrators: everything.
    Admin,
}

impl Viewer {
    /// Whether the viewer may match private text of a request of this department.
    pub fn privileged_for(&self, department: Option<&str>) -> bool {
        match self {
            Viewer::Admin => true,
            Viewer::Staff { departments } => department.is_some_and(|d| departments.iter().any(|x| x == d)),
            Viewer::Public | Viewer::Resident { .. } => false,
        }
    }
}

/// An inclusive time range; `None` leaves that side open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl DateRange {
    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// Requests within `radius_m` metres of a point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Near {
    pub lat: f64,
    pub long: f64,
    pub radius_m: f64,
}

/// Filters; empty lists and `None` mean "any". All given filters must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchFilter {
    /// Internal statuses (any of).
    pub statuses: Vec<Status>,
    /// Open311 open/closed.
    pub open311: Option<Open311Status>,
    pub service_codes: Vec<String>,
    pub department_codes: Vec<String>,
    pub priorities: Vec<Priority>,
    pub requested: DateRange,
    pub updated: DateRange,
    pub bbox: Option<BoundingBox>,
    pub near: Option<Near>,
}

/// Result order. Ties keep index order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum SortOrder {
    /// Best text match first; without text, the same as `Newest`.
    #[default]
    Relevance,
    /// Most recently requested first.
    Newest,
    /// Least recently requested first.
    Oldest,
    /// Most recently updated first.
    RecentlyUpdated,
    /// Nearest to the point first; requests without a location last.
    Distance { lat: f64, long: f64 },
}

/// A search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    pub jurisdiction_id: String,
    /// Free text; typo-tolerant, every word must match.
    pub text: Option<String>,
    pub filter: SearchFilter,
    pub sort: SortOrder,
    /// Page size; 0 means [`DEFAULT_PAGE`].
    pub first: usize,
    /// The `end_cursor` (or a hit's `cursor`) of the previous page.
    pub after: Option<String>,
    /// Leave the facet counts empty (saves their cost when not shown).
    pub skip_facets: bool,
}

impl SearchQuery {
    pub fn new(jurisdiction_id: impl Into<String>) -> Self {
        Self {
            jurisdiction_id: jurisdiction_id.into(),
            ..Default::default()
        }
    }

    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    pub fn filter(mut self, filter: SearchFilter) -> Self {
        self.filter = filter;
        self
    }

    pub fn sort(mut self, sort: SortOrder) -> Self {
        self.sort = sort;
        self
    }

    pub fn first(mut self, first: usize) -> Self {
        self.first = first;
        self
    }

    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    pub fn without_facets(mut self) -> Self {
        self.skip_facets = true;
        self
    }

    /// Checks every limit and turns the query into what backends execute.
    pub(crate) fn plan(&self, viewer: &Viewer, facets: bool) -> Result<Plan, SearchError> {
        if self.jurisdiction_id.trim().is_empty() {
            return Err(invalid(
                "jurisdictionId",
                "JURISDICTION_REQUIRED",
                "a search names its jurisdiction",
            ));
        }
        let text = self.text.as_deref().unwrap_or("");
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid(
                "query",
                "QUERY_TOO_LONG",
                format!("a search text is at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let first = if self.first == 0 { DEFAULT_PAGE } else { self.first };
        if first > MAX_PAGE {
            return Err(invalid(
                "first",
                "PAGE_TOO_LARGE",
                format!("`first` is at most {MAX_PAGE}"),
            ));
        }
        let offset = match &self.after {
            None => 0,
            Some(c) => decode_cursor(c)?,
        };
        if offset + first > MAX_WINDOW {
            return Err(invalid(
                "after",
                "PAGE_TOO_DEEP",
                format!("results beyond the first {MAX_WINDOW} cannot be paged to; narrow the search"),
            ));
        }
        let f = &self.filter;
        if let Some(b) = &f.bbox {
            b.check("filter.bbox").map_err(|_| {
                invalid(
                    "filter.bbox",
                    "INVALID_BOUNDING_BOX",
                    "a bounding box needs minLat <= maxLat within [-90, 90] and minLong <= maxLong within [-180, 180]",
                )
            })?;
        }
        if let Some(n) = &f.near {
            check_point("filter.near", n.lat, n.long)?;
            if !(n.radius_m.is_finite() && n.radius_m > 0.0 && n.radius_m <= MAX_RADIUS_M) {
                return Err(invalid(
                    "filter.near.radius",
                    "INVALID_RADIUS",
                    format!("a radius is more than 0 and at most {MAX_RADIUS_M} metres"),
                ));
            }
        }
        for (field, r) in [("filter.requested", &f.requested), ("filter.updated", &f.updated)] {
            if let (Some(a), Some(b)) = (r.from, r.to)
                && a > b
            {
                return Err(invalid(field, "INVALID_DATE_RANGE", "`from` is after `to`"));
            }
        }
        let words = text::query_words(text);
        let sort = match self.sort {
            SortOrder::Relevance if words.is_empty() => PlanSort::RequestedDesc,
            SortOrder::Relevance => PlanSort::Relevance,
            SortOrder::Newest => PlanSort::RequestedDesc,
            SortOrder::Oldest => PlanSort::RequestedAsc,
            SortOrder::RecentlyUpdated => PlanSort::UpdatedDesc,
            SortOrder::Distance { lat, long } => {
                check_point("sort.distance", lat, long)?;
                PlanSort::Distance { lat, long }
            }
        };
        if let Viewer::Staff { departments } = viewer
            && departments.iter().any(|d| d.trim().is_empty())
        {
            return Err(invalid("viewer", "INVALID_VIEWER", "a department code is never empty"));
        }
        Ok(Plan {
            jurisdiction_id: self.jurisdiction_id.clone(),
            words,
            viewer: viewer.clone(),
            filter: f.clone(),
            sort,
            offset,
            limit: first,
            facets,
        })
    }
}

fn check_point(field: &'static str, lat: f64, long: f64) -> Result<(), SearchError> {
    check_coordinates(lat, long).map_err(|_| {
        invalid(
            field,
            "INVALID_COORDINATES",
            "latitude within [-90, 90] and longitude within [-180, 180]",
        )
    })
}

pub(crate) fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> SearchError {
    SearchError::InvalidQuery {
        field,
        code,
        message: message.into(),
    }
}

/// Cursors are opaque to clients; today they carry an offset.
pub(crate) fn encode_cursor(offset: usize) -> String {
    format!("o{offset:x}")
}

fn decode_cursor(c: &str) -> Result<usize, SearchError> {
    c.strip_prefix('o')
        .and_then(|h| usize::from_str_radix(h, 16).ok())
        .filter(|o| *o <= MAX_WINDOW)
        .ok_or_else(|| {
            invalid(
                "after",
                "INVALID_CURSOR",
                "`after` is not a cursor this search returned",
            )
        })
}

/// How results are ordered, after validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PlanSort {
    Relevance,
    RequestedDesc,
    RequestedAsc,
    UpdatedDesc,
    Distance { lat: f64, long: f64 },
}

/// A validated query, as backends execute it.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub jurisdiction_id: String,
    pub words: Vec<QueryWord>,
    pub viewer: Viewer,
    pub filter: SearchFilter,
    pub sort: PlanSort,
    pub offset: usize,
    pub limit: usize,
    pub facets: bool,
}

/// How many matching requests share a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Counts over every request matching the query (not only the page), for
/// the facets a client shows beside the results. Most frequent first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facets {
    pub status: Vec<FacetCount>,
    pub service: Vec<FacetCount>,
    pub department: Vec<FacetCount>,
}

impl Facets {
    pub(crate) fn normalize(&mut self) {
        for v in [&mut self.status, &mut self.service, &mut self.department] {
            v.retain(|f| f.count > 0);
            v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        }
    }
}

/// One matching request, showing only what the viewer may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: Uuid,
    pub tracking_number: String,
    pub service_code: String,
    pub service_name: String,
    pub department_code: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub description: Option<String>,
    /// `None` when the request has none or the viewer may not see it.
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    /// The coordinates are the centre of a grid cell, not the exact point
    /// (an address-sensitive service, for a viewer without access to it).
    pub location_is_approximate: bool,
    /// From the point of a distance sort or a `near` filter.
    pub distance_m: Option<f64>,
    /// Relevance score, when sorted by relevance.
    pub score: Option<f32>,
    /// Matching passages of the fields the viewer may search.
    pub snippets: Vec<Snippet>,
    /// Pass as `after` to continue after this hit.
    pub cursor: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// A page of results, with the total and facets of the whole result set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    pub total: u64,
    pub hits: Vec<Hit>,
    pub facets: Facets,
    pub page_info: PageInfo,
}
