//! A [`Plan`] as a tantivy query, and one pass over the index that collects
//! the page, the total and the facet counts together.
//!
//! The viewer's rules are clauses of the query (see [`crate::query`]): a
//! request the viewer may not see never matches, and private text only
//! matches together with a department the viewer works for.
//!
//! **Must never:** filter documents after collection (totals and facets
//! would then count what the viewer may not see), or run on an async worker.

use std::collections::HashMap;
use std::sync::Arc;

use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::StrColumn;

use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{
    DateTime, DocAddress, DocId, Order, Score, Searcher, SegmentOrdinal, SegmentReader, TantivyDocument, Term,
};

use super::filters::{AnyOf, Filter, FilterCache, Filtered, Ranges};
use super::schema::{
    F_DEPARTMENT, F_LAT, F_LONG, F_REQUESTED, F_SERVICE, F_STATUS, F_UPDATED, Fields, GEO_LEVELS, MAX_CELLS, cell_key,
};
use crate::backend::{RawHit, RawResults};
use crate::document::SearchDocument;
use crate::error::SearchError;
use crate::geo;
use townhall_domain::Status;

use crate::query::{DateRange, FacetCount, Facets, Plan, PlanSort, Viewer};
use crate::text::QueryWord;

type Clause = (Occur, Box<dyn Query>);

/// Most dictionary terms one query word expands to (typos, prefixes).
const MAX_EXPANSIONS: usize = 64;
/// Weight of a typo or prefix match relative to an exact one.
const VARIANT_BOOST: f32 = 0.5;

fn term(field: Field, value: &str) -> Term {
    Term::from_field_text(field, value)
}

fn term_query(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(term(field, value), IndexRecordOption::Basic))
}

/// Any of the values (posting lists, read lazily: no bitset is built).
fn any_of<'a>(field: Field, values: impl IntoIterator<Item = &'a str>) -> Box<dyn Query> {
    let mut qs: Vec<Box<dyn Query>> = values.into_iter().map(|v| term_query(field, v)).collect();
    if qs.len() == 1 {
        qs.remove(0)
    } else {
        Box::new(should(qs))
    }
}

fn should(clauses: Vec<Box<dyn Query>>) -> BooleanQuery {
    BooleanQuery::new(clauses.into_iter().map(|q| (Occur::Should, q)).collect())
}

/// The dictionary terms a query word matches in a field: itself, and its
/// typo and prefix variants found in any segment.
fn expand(searcher: &Searcher, field: Field, w: &QueryWord) -> Result<Vec<String>, SearchError> {
    let mut out: Vec<String> = Vec::new();
    let mut automata = Vec::new();
    if w.typos > 0 {
        automata.push(FuzzyTermQuery::new(term(field, &w.term), w.typos, true));
    }
    if w.prefix {
        automata.push(FuzzyTermQuery::new_prefix(term(field, &w.term), w.typos, true));
    }
    'all: for fuzzy in &automata {
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field)?;
            let mut stream = inverted
                .terms()
                .search(fuzzy.automaton()?)
                .into_stream()
                .map_err(SearchError::engine)?;
            while stream.advance() {
                if let Ok(t) = std::str::from_utf8(stream.key())
                    && t != w.term
                    && !out.iter().any(|o| o == t)
                {
                    out.push(t.to_owned());
                    if out.len() >= MAX_EXPANSIONS {
                        break 'all;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// One query word against one text field: the exact term and its
/// variants, each scored by BM25, variants at a lower weight.
fn word_terms(searcher: &Searcher, field: Field, w: &QueryWord) -> Result<Vec<Box<dyn Query>>, SearchError> {
    let mut clauses: Vec<Box<dyn Query>> = vec![Box::new(TermQuery::new(
        term(field, &w.term),
        IndexRecordOption::WithFreqs,
    ))];
    for v in expand(searcher, field, w)? {
        let q = TermQuery::new(term(field, &v), IndexRecordOption::WithFreqs);
        clauses.push(Box::new(BoostQuery::new(Box::new(q), VARIANT_BOOST)));
    }
    Ok(clauses)
}

fn one_of(mut clauses: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if clauses.len() == 1 {
        clauses.remove(0)
    } else {
        Box::new(should(clauses))
    }
}

/// Every word must match somewhere the viewer may search.
fn text_clauses(
    searcher: &Searcher,
    f: &Fields,
    cache: &Arc<FilterCache>,
    viewer: &Viewer,
    words: &[QueryWord],
) -> Result<Vec<Clause>, SearchError> {
    let mut out = Vec::with_capacity(words.len());
    for w in words {
        // One flat union per word: public terms, and private terms where
        // the viewer may match them.
        let mut any = word_terms(searcher, f.t_public, w)?;
        match viewer {
            Viewer::Public | Viewer::Resident { .. } => {}
            Viewer::Admin => any.extend(word_terms(searcher, f.t_private, w)?),
            Viewer::Staff { departments } if departments.is_empty() => {}
            Viewer::Staff { departments } => {
                // Private text counts only on their departments' requests.
                let own = Filtered {
                    inner: one_of(word_terms(searcher, f.t_private, w)?),
                    filter: in_departments(f, cache, departments),
                };
                any.push(Box::new(own));
            }
        }
        out.push((Occur::Must, one_of(any)));
    }
    Ok(out)
}

/// Requests of these departments (for the private-text branch of a staff
/// query).
fn in_departments(f: &Fields, cache: &Arc<FilterCache>, departments: &[String]) -> Filter {
    let mut any: AnyOf = departments.iter().map(|d| term(f.department, d)).collect();
    any.sort();
    Filter {
        cache: cache.clone(),
        terms: vec![any],
        ranges: Ranges::default(),
    }
}

/// Every structured condition of a plan: the term conditions (cached per
/// segment) and the ranges.
fn conditions(f: &Fields, cache: &Arc<FilterCache>, plan: &Plan) -> Filter {
    let flt = &plan.filter;
    let mut terms: Vec<AnyOf> = vec![vec![term(f.jurisdiction, &plan.jurisdiction_id)]];
    let mut statuses: Vec<Status> = flt.statuses.clone();
    if let Some(o) = flt.open311 {
        if statuses.is_empty() {
            statuses = Status::ALL.to_vec();
        }
        statuses.retain(|s| s.open311() == o);
        if statuses.is_empty() {
            // Nothing can match: a term no document has.
            terms.push(vec![term(f.status, "")]);
        }
    }
    let mut push = |field: Field, values: Vec<&str>| {
        if !values.is_empty() {
            let mut any: AnyOf = values.into_iter().map(|v| term(field, v)).collect();
            any.sort();
            any.dedup();
            terms.push(any);
        }
    };
    push(f.status, statuses.iter().map(|s| s.as_str()).collect());
    push(f.service, flt.service_codes.iter().map(String::as_str).collect());
    push(f.department, flt.department_codes.iter().map(String::as_str).collect());
    push(f.priority, flt.priorities.iter().map(|p| p.as_str()).collect());
    let public = Term::from_field_bool(f.public, true);
    match &plan.viewer {
        Viewer::Admin => {}
        Viewer::Public => terms.push(vec![public]),
        Viewer::Resident { user_id } => terms.push(vec![public, term(f.reporter_user, &user_id.to_string())]),
        Viewer::Staff { departments } => {
            let mut any = vec![public];
            any.extend(departments.iter().map(|d| term(f.department, d)));
            any.sort();
            terms.push(any);
        }
    }
    let secs = |r: &DateRange| (!r.is_open()).then(|| (r.from.map(|t| t.timestamp()), r.to.map(|t| t.timestamp())));
    Filter {
        cache: cache.clone(),
        terms,
        ranges: Ranges {
            requested: secs(&flt.requested),
            updated: secs(&flt.updated),
            bbox: flt.bbox.map(|b| (b.min_lat, b.max_lat, b.min_long, b.max_long)),
            near: flt.near.map(|n| (n.lat, n.long, n.radius_m)),
        },
    }
}

/// Grid cells covering a box, at the finest level that needs at most
/// [`MAX_CELLS`] of them.
fn cover(b: (f64, f64, f64, f64)) -> Option<Vec<String>> {
    let (min_lat, max_lat, min_long, max_long) = b;
    for level in (0..GEO_LEVELS.len()).rev() {
        let size = GEO_LEVELS[level];
        let (la0, la1) = ((min_lat / size).floor() as i64, (max_lat / size).floor() as i64);
        let (lo0, lo1) = ((min_long / size).floor() as i64, (max_long / size).floor() as i64);
        let n = (la1 - la0 + 1).saturating_mul(lo1 - lo0 + 1);
        if n <= MAX_CELLS {
            let mut cells = Vec::with_capacity(n as usize);
            for la in la0..=la1 {
                for lo in lo0..=lo1 {
                    cells.push(cell_key(level, la, lo));
                }
            }
            return Some(cells);
        }
    }
    None
}

/// The plan as a query. Candidates come from the text, else from the grid
/// cells of a geographic filter, else from the cached term conditions
/// themselves; every condition, the viewer's included, is checked on each
/// candidate before it can be counted, collected or faceted.
pub(crate) fn build_query(
    searcher: &Searcher,
    f: &Fields,
    cache: &Arc<FilterCache>,
    plan: &Plan,
) -> Result<Box<dyn Query>, SearchError> {
    let all = conditions(f, cache, plan);
    if !plan.words.is_empty() {
        let clauses = text_clauses(searcher, f, cache, &plan.viewer, &plan.words)?;
        return Ok(Box::new(Filtered {
            inner: Box::new(BooleanQuery::new(clauses)),
            filter: all,
        }));
    }
    let flt = &plan.filter;
    let geo_box = match (flt.near, flt.bbox) {
        (Some(n), _) => {
            let b = geo::bbox_around(n.lat, n.long, n.radius_m);
            Some((b.min_lat, b.max_lat, b.min_long, b.max_long))
        }
        (None, Some(b)) => Some((b.min_lat, b.max_lat, b.min_long, b.max_long)),
        (None, None) => None,
    };
    Ok(match geo_box.and_then(cover) {
        Some(cells) => Box::new(Filtered {
            inner: Box::new(ConstScoreQuery::new(
                any_of(f.geo_cells, cells.iter().map(String::as_str)),
                0.0,
            )),
            filter: all,
        }),
        None => Box::new(all),
    })
}

/// The facet fields: (name in the index, which facet).
const FACET_FIELDS: [&str; 3] = [F_STATUS, F_SERVICE, F_DEPARTMENT];

/// Counts the values of the facet fields over every collected document,
/// by term ordinal per segment (one array increment per field and
/// document), turning ordinals into values once per segment at the end.
struct FacetCollector;

/// Value → count, for each facet field.
type FacetTally = [HashMap<String, u64>; 3];

struct FacetSegment {
    /// For each facet field: its column (if the segment has one) and a
    /// count per term ordinal.
    columns: Vec<Option<(StrColumn, Vec<u64>)>>,
}

impl Collector for FacetCollector {
    type Fruit = FacetTally;
    type Child = FacetSegment;

    fn for_segment(&self, _ord: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<FacetSegment> {
        let mut columns = Vec::with_capacity(FACET_FIELDS.len());
        for name in FACET_FIELDS {
            columns.push(segment.fast_fields().str(name)?.map(|c| {
                let n = c.num_terms();
                (c, vec![0u64; n])
            }));
        }
        Ok(FacetSegment { columns })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<FacetTally>) -> tantivy::Result<FacetTally> {
        let mut out = FacetTally::default();
        for fruit in fruits {
            for (total, part) in out.iter_mut().zip(fruit) {
                for (value, n) in part {
                    *total.entry(value).or_default() += n;
                }
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for FacetSegment {
    type Fruit = FacetTally;

    #[inline]
    fn collect(&mut self, doc: DocId, _score: Score) {
        // Every facet field holds at most one value per request.
        for (column, counts) in self.columns.iter_mut().flatten() {
            if let Some(ord) = column.ords().first(doc)
                && let Some(c) = counts.get_mut(ord as usize)
            {
                *c += 1;
            }
        }
    }

    fn harvest(self) -> FacetTally {
        let mut out = FacetTally::default();
        let mut value = String::new();
        for (tally, column) in out.iter_mut().zip(self.columns) {
            let Some((column, counts)) = column else { continue };
            for (ord, n) in counts.into_iter().enumerate() {
                if n > 0 && matches!(column.ord_to_str(ord as u64, &mut value), Ok(true)) {
                    *tally.entry(value.clone()).or_default() += n;
                }
            }
        }
        out
    }
}

fn counts(tally: HashMap<String, u64>) -> Vec<FacetCount> {
    tally
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect()
}

type Collected<F> = (F, usize, Option<FacetTally>);

fn collect<C: Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    top: C,
    facets: bool,
) -> Result<Collected<C::Fruit>, SearchError> {
    Ok(if facets {
        let (t, c, a) = searcher.search(query, &(top, Count, FacetCollector))?;
        (t, c, Some(a))
    } else {
        let (t, c) = searcher.search(query, &(top, Count))?;
        (t, c, None)
    })
}

fn scored<K>(hits: Vec<(K, DocAddress)>, score: impl Fn(K) -> Option<f32>) -> Vec<(DocAddress, Option<f32>)> {
    hits.into_iter().map(|(k, a)| (a, score(k))).collect()
}

pub(crate) fn execute(
    searcher: &Searcher,
    f: &Fields,
    cache: &Arc<FilterCache>,
    plan: &Plan,
) -> Result<RawResults, SearchError> {
    let query = build_query(searcher, f, cache, plan)?;
    let agg = plan.facets;
    let top = TopDocs::for_doc_range(plan.offset..plan.offset + plan.limit.max(1));
    let (hits, total, aggs) = match plan.sort {
        PlanSort::Relevance => {
            let (h, c, a) = collect(searcher, query.as_ref(), top.order_by_score(), agg)?;
            (scored(h, |s: Score| Some(s)), c, a)
        }
        PlanSort::RequestedDesc | PlanSort::RequestedAsc | PlanSort::UpdatedDesc => {
            let (field, order) = match plan.sort {
                PlanSort::RequestedAsc => (F_REQUESTED, Order::Asc),
                PlanSort::UpdatedDesc => (F_UPDATED, Order::Desc),
                _ => (F_REQUESTED, Order::Desc),
            };
            let (h, c, a) = collect(
                searcher,
                query.as_ref(),
                top.order_by_fast_field::<DateTime>(field, order),
                agg,
            )?;
            (scored(h, |_| None), c, a)
        }
        PlanSort::Distance { lat, long } => {
            let by_distance = top.tweak_score(move |segment: &SegmentReader| {
                let lats = segment.fast_fields().f64(F_LAT).ok();
                let longs = segment.fast_fields().f64(F_LONG).ok();
                move |doc: DocId, _score: Score| -> f64 {
                    match (
                        lats.as_ref().and_then(|c| c.first(doc)),
                        longs.as_ref().and_then(|c| c.first(doc)),
                    ) {
                        (Some(a), Some(b)) => -geo::distance_m(lat, long, a, b),
                        _ => f64::NEG_INFINITY,
                    }
                }
            });
            let (h, c, a) = collect(searcher, query.as_ref(), by_distance, agg)?;
            (scored(h, |_| None), c, a)
        }
    };
    let mut docs = Vec::with_capacity(hits.len());
    for (addr, score) in hits {
        let stored: TantivyDocument = searcher.doc(addr)?;
        let bytes = stored
            .get_first(f.doc)
            .and_then(|v| v.as_bytes())
            .ok_or_else(|| SearchError::Engine("a document lost its stored body".into()))?;
        let doc: SearchDocument = serde_json::from_slice(bytes).map_err(SearchError::engine)?;
        docs.push(RawHit { doc, score });
    }
    let mut facets = match aggs {
        Some([status, service, department]) => Facets {
            status: counts(status),
            service: counts(service),
            department: counts(department),
        },
        None => Facets::default(),
    };
    facets.normalize();
    Ok(RawResults {
        total: total as u64,
        hits: docs,
        facets,
    })
}
