//! "Is it already reported?" — likely duplicates of a report about to be
//! made (the web form, intake) or being triaged (staff merging).
//!
//! Candidates are the open requests of the same service within a radius
//! and an age, that the viewer may see, nearest first; each is then scored
//! by how much of the new description its visible text covers (same
//! analysis and typo rules as search) and by how near it is.
//!
//! **Must never:** look beyond what the viewer may see, or read the clock
//! (the caller passes `now`).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use townhall_domain::Open311Status;

use crate::SearchIndex;
use crate::error::SearchError;
use crate::query::{DateRange, Hit, Near, SearchFilter, SearchQuery, SortOrder, Viewer, invalid};
use crate::text;

/// Most candidates looked at before scoring.
const CANDIDATES: usize = 100;

/// A report to check against what is already there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateQuery {
    pub jurisdiction_id: String,
    pub service_code: String,
    pub lat: f64,
    pub long: f64,
    pub description: Option<String>,
    /// How far away a duplicate may be, in metres.
    pub radius_m: f64,
    /// How old a duplicate may be.
    pub max_age: Duration,
    /// The current time (time is a parameter).
    pub now: DateTime<Utc>,
    /// Most candidates returned.
    pub limit: usize,
}

impl DuplicateQuery {
    /// Defaults: within 150 m, reported in the last 30 days, 5 candidates.
    pub fn new(
        jurisdiction_id: impl Into<String>,
        service_code: impl Into<String>,
        lat: f64,
        long: f64,
        description: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            jurisdiction_id: jurisdiction_id.into(),
            service_code: service_code.into(),
            lat,
            long,
            description,
            radius_m: 150.0,
            max_age: Duration::days(30),
            now,
            limit: 5,
        }
    }
}

/// A request that may already be the one being reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateCandidate {
    pub request: Hit,
    pub distance_m: f64,
    /// Share of the new description's words found in the candidate's
    /// description, typos allowed (0–1; 0 without a description).
    pub text_similarity: f64,
    /// 0–1, higher is more likely: 60 % text, 40 % nearness (only
    /// nearness when the new report has no description).
    pub score: f64,
}

pub(crate) async fn find(
    index: &SearchIndex,
    viewer: &Viewer,
    q: &DuplicateQuery,
) -> Result<Vec<DuplicateCandidate>, SearchError> {
    if q.service_code.trim().is_empty() {
        return Err(invalid(
            "serviceCode",
            "SERVICE_CODE_REQUIRED",
            "name the service being reported",
        ));
    }
    if q.max_age <= Duration::zero() {
        return Err(invalid("maxAge", "INVALID_MAX_AGE", "the age limit must be positive"));
    }
    let search = SearchQuery {
        jurisdiction_id: q.jurisdiction_id.clone(),
        text: None,
        filter: SearchFilter {
            service_codes: vec![q.service_code.clone()],
            open311: Some(Open311Status::Open),
            requested: DateRange {
                from: Some(q.now - q.max_age),
                to: None,
            },
            near: Some(Near {
                lat: q.lat,
                long: q.long,
                radius_m: q.radius_m,
            }),
            ..Default::default()
        },
        sort: SortOrder::Distance {
            lat: q.lat,
            long: q.long,
        },
        first: CANDIDATES,
        after: None,
        skip_facets: true,
    };
    let plan = search.plan(viewer, false)?;
    let hits = index.execute_plan(&plan).await?;
    let wanted: Vec<text::QueryWord> = q
        .description
        .as_deref()
        .map(text::query_words)
        .unwrap_or_default()
        .into_iter()
        .map(|mut w| {
            w.prefix = false;
            w
        })
        .collect();
    let mut out: Vec<DuplicateCandidate> = hits
        .into_iter()
        .map(|hit| {
            let distance_m = hit.distance_m.unwrap_or(q.radius_m);
            let nearness = (1.0 - distance_m / q.radius_m).clamp(0.0, 1.0);
            let text_similarity = if wanted.is_empty() {
                0.0
            } else {
                let terms = text::terms(hit.description.as_deref().unwrap_or(""));
                let found = wanted
                    .iter()
                    .filter(|w| terms.iter().any(|t| text::matches(w, t)))
                    .count();
                found as f64 / wanted.len() as f64
            };
            let score = if wanted.is_empty() {
                nearness
            } else {
                0.6 * text_similarity + 0.4 * nearness
            };
            DuplicateCandidate {
                request: hit,
                distance_m,
                text_similarity,
                score,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.distance_m.total_cmp(&b.distance_m)));
    out.truncate(q.limit.max(1));
    Ok(out)
}
