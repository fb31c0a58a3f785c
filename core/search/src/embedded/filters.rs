//! Structured conditions (jurisdiction, statuses, services, departments,
//! priorities, the viewer's visibility) as cached per-segment bitsets, and
//! the predicate that applies them with the remaining range checks (dates,
//! geography).
//!
//! Segments never change once written, so the set of documents a
//! combination of term conditions selects in a segment can be computed once
//! (from its posting lists) and reused by every later query with the same
//! conditions — the filter cache search engines keep. A query then tests
//! one bit per candidate instead of decoding dense posting lists ("public",
//! "open") or reading several columns; without text, the bitset itself
//! drives the search.
//!
//! **Must never:** cache anything that depends on more than the segment and
//! the terms in the key (ranges and distances are evaluated per query), or
//! grow past its byte budget.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tantivy::columnar::{Column, ColumnType, MonotonicallyMappableToU64};
use tantivy::index::SegmentId;
use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{BitSet, DateTime, DocId, DocSet, Score, SeekDangerResult, SegmentReader, TERMINATED, Term};

use super::schema::{F_LAT, F_LONG, F_REQUESTED, F_UPDATED};
use crate::geo;

/// Documents of a segment meeting every term condition; `None` when the
/// conditions hold for every document.
type Selection = Option<Arc<BitSet>>;

/// Any of these terms (possibly of different fields).
pub(crate) type AnyOf = Vec<Term>;

/// Per-segment bitsets of term conditions, bounded in bytes.
pub(crate) struct FilterCache {
    inner: Mutex<CacheInner>,
    budget: usize,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<(SegmentId, Vec<AnyOf>), Selection>,
    order: VecDeque<(SegmentId, Vec<AnyOf>)>,
    bytes: usize,
}

fn size_of(s: &Selection) -> usize {
    s.as_ref().map_or(0, |b| b.max_value() as usize / 8 + 64)
}

impl FilterCache {
    pub(crate) fn new(budget_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(CacheInner::default()),
            budget: budget_bytes,
        }
    }

    fn get(&self, key: &(SegmentId, Vec<AnyOf>)) -> Option<Selection> {
        self.inner.lock().ok().and_then(|c| c.map.get(key).cloned())
    }

    fn put(&self, key: (SegmentId, Vec<AnyOf>), value: Selection) {
        let Ok(mut c) = self.inner.lock() else { return };
        if c.map.contains_key(&key) {
            return;
        }
        c.bytes += size_of(&value);
        c.order.push_back(key.clone());
        c.map.insert(key, value);
        while c.bytes > self.budget {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            if let Some(v) = c.map.remove(&old) {
                c.bytes = c.bytes.saturating_sub(size_of(&v));
            }
        }
    }

    /// The documents of `segment` meeting every condition.
    fn select(&self, segment: &SegmentReader, conditions: &[AnyOf]) -> tantivy::Result<Selection> {
        if conditions.is_empty() {
            return Ok(None);
        }
        let key = (segment.segment_id(), conditions.to_vec());
        if let Some(hit) = self.get(&key) {
            return Ok(hit);
        }
        let mut result: Option<BitSet> = None;
        for any in conditions {
            let Some(bits) = docs_of(segment, any)? else {
                continue;
            };
            result = Some(match result {
                None => bits,
                Some(acc) => intersect(&acc, &bits, segment.max_doc()),
            });
        }
        let value = result.map(Arc::new);
        self.put(key, value.clone());
        Ok(value)
    }
}

/// Documents having any of the terms; `None` if that is every document.
fn docs_of(segment: &SegmentReader, any: &[Term]) -> tantivy::Result<Option<BitSet>> {
    let max_doc = segment.max_doc();
    let mut bits = BitSet::with_max_value(max_doc.max(1));
    for term in any {
        let inverted = segment.inverted_index(term.field())?;
        if let Some(mut postings) = inverted.read_postings(term, IndexRecordOption::Basic)? {
            let mut doc = postings.doc();
            while doc != TERMINATED {
                bits.insert(doc);
                doc = postings.advance();
            }
        }
    }
    Ok(if bits.len() as u64 >= u64::from(max_doc) {
        None
    } else {
        Some(bits)
    })
}

/// The 64 documents of a bucket of a bitset, as a word.
#[inline]
fn word(bits: &BitSet, bucket: u32) -> u64 {
    u64::from_le_bytes(bits.tinyset(bucket).into_bytes())
}

fn intersect(a: &BitSet, b: &BitSet, max_doc: DocId) -> BitSet {
    let mut out = BitSet::with_max_value(max_doc.max(1));
    for bucket in 0..max_doc.max(1).div_ceil(64) {
        let mut w = word(a, bucket) & word(b, bucket);
        while w != 0 {
            out.insert(bucket * 64 + w.trailing_zeros());
            w &= w - 1;
        }
    }
    out
}

/// Conditions checked on each candidate's fast fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ranges {
    /// Unix seconds, inclusive; `None` leaves that side open.
    pub requested: Option<(Option<i64>, Option<i64>)>,
    pub updated: Option<(Option<i64>, Option<i64>)>,
    /// (min lat, max lat, min long, max long)
    pub bbox: Option<(f64, f64, f64, f64)>,
    /// (lat, long, radius in metres)
    pub near: Option<(f64, f64, f64)>,
}

/// Term conditions (from the cache) and range conditions. On its own it is
/// a query that matches without scoring, driven by its selection; wrapped
/// in a [`Filtered`] it checks the candidates another query produces.
#[derive(Clone)]
pub(crate) struct Filter {
    pub cache: Arc<FilterCache>,
    pub terms: Vec<AnyOf>,
    pub ranges: Ranges,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("terms", &self.terms)
            .field("ranges", &self.ranges)
            .finish()
    }
}

/// A date column read as its raw, order-preserving `u64`s.
type RawDates = (Column<u64>, u64, u64);

fn raw_bound(secs: Option<i64>, open: u64) -> u64 {
    // Far enough for any request, near enough not to overflow nanoseconds.
    const LIMIT: i64 = 200 * 365 * 86_400;
    secs.map_or(open, |s| DateTime::from_timestamp_secs(s.clamp(-LIMIT, LIMIT)).to_u64())
}

fn raw_dates(
    segment: &SegmentReader,
    field: &str,
    range: Option<(Option<i64>, Option<i64>)>,
) -> tantivy::Result<Option<RawDates>> {
    let Some((lo, hi)) = range else {
        return Ok(None);
    };
    let column = segment
        .fast_fields()
        .u64_lenient_for_type(Some(&[ColumnType::DateTime]), field)?
        .map(|(c, _)| c);
    let column = column.unwrap_or_else(|| Column::build_empty_column(segment.max_doc()));
    Ok(Some((column, raw_bound(lo, 0), raw_bound(hi, u64::MAX))))
}

/// A [`Filter`] evaluated on one segment: whether a document holds.
struct Predicate {
    max_doc: DocId,
    bits: Option<Arc<BitSet>>,
    requested: Option<RawDates>,
    updated: Option<RawDates>,
    lats: Option<(Column<f64>, Column<f64>)>,
    bbox: Option<(f64, f64, f64, f64)>,
    near: Option<(f64, f64, f64)>,
}

impl Predicate {
    fn new(filter: &Filter, segment: &SegmentReader) -> tantivy::Result<Predicate> {
        let bits = filter.cache.select(segment, &filter.terms)?;
        let empty = bits.as_ref().is_some_and(|b| b.len() == 0);
        let r = &filter.ranges;
        let lats = if r.bbox.is_some() || r.near.is_some() {
            Some((segment.fast_fields().f64(F_LAT)?, segment.fast_fields().f64(F_LONG)?))
        } else {
            None
        };
        Ok(Predicate {
            max_doc: if empty { 0 } else { segment.max_doc() },
            bits,
            requested: raw_dates(segment, F_REQUESTED, r.requested)?,
            updated: raw_dates(segment, F_UPDATED, r.updated)?,
            lats,
            bbox: r.bbox,
            near: r.near,
        })
    }

    /// Nothing in the segment can hold.
    fn is_empty(&self) -> bool {
        self.max_doc == 0
    }

    /// Whether `doc` meets every condition.
    #[inline]
    fn holds(&self, doc: DocId) -> bool {
        if doc >= self.max_doc {
            return false;
        }
        if let Some(b) = &self.bits
            && !b.contains(doc)
        {
            return false;
        }
        self.ranges_hold(doc)
    }

    /// Whether `doc` meets the range conditions (dates, geography).
    #[inline]
    fn ranges_hold(&self, doc: DocId) -> bool {
        for (c, lo, hi) in [&self.requested, &self.updated].into_iter().flatten() {
            match c.first(doc) {
                Some(v) if (*lo..=*hi).contains(&v) => {}
                _ => return false,
            }
        }
        if let Some((lats, longs)) = &self.lats {
            let (Some(lat), Some(long)) = (lats.first(doc), longs.first(doc)) else {
                return false;
            };
            if let Some((a, b, c, d)) = self.bbox
                && !((a..=b).contains(&lat) && (c..=d).contains(&long))
            {
                return false;
            }
            if let Some((clat, clong, r)) = self.near
                && geo::distance_m(clat, clong, lat, long) > r
            {
                return false;
            }
        }
        true
    }

    /// The first document at or after `from` in the term selection (every
    /// document when there is none), or `TERMINATED`.
    #[inline]
    fn next_selected(&self, from: DocId) -> DocId {
        if from >= self.max_doc {
            return TERMINATED;
        }
        let Some(bits) = &self.bits else { return from };
        let bucket = from / 64;
        let here = word(bits, bucket) & (u64::MAX << (from % 64));
        let found = if here != 0 {
            bucket * 64 + here.trailing_zeros()
        } else if bucket + 1 >= self.max_doc.div_ceil(64) {
            return TERMINATED;
        } else {
            match bits.first_non_empty_bucket(bucket + 1) {
                Some(b) => b * 64 + word(bits, b).trailing_zeros(),
                None => return TERMINATED,
            }
        };
        if found < self.max_doc { found } else { TERMINATED }
    }

    /// The first matching document at or after `from`, or `TERMINATED`.
    fn next_match(&self, from: DocId) -> DocId {
        let mut d = self.next_selected(from);
        while d != TERMINATED && !self.ranges_hold(d) {
            d = self.next_selected(d + 1);
        }
        d
    }
}

/// A [`Filter`] on its own: iterates the documents meeting it.
pub(crate) struct FilterScorer {
    doc: DocId,
    predicate: Predicate,
}

impl DocSet for FilterScorer {
    fn advance(&mut self) -> DocId {
        if self.doc != TERMINATED {
            self.doc = self.predicate.next_match(self.doc + 1);
        }
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc != TERMINATED && self.doc < target {
            self.doc = self.predicate.next_match(target);
        }
        self.doc
    }

    fn seek_danger(&mut self, target: DocId) -> SeekDangerResult {
        if target >= self.predicate.max_doc {
            self.doc = TERMINATED;
            return SeekDangerResult::SeekLowerBound(TERMINATED);
        }
        if self.predicate.holds(target) {
            self.doc = target;
            SeekDangerResult::Found
        } else {
            SeekDangerResult::SeekLowerBound(target + 1)
        }
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        match &self.predicate.bits {
            Some(b) => b.len() as u32,
            None => self.predicate.max_doc,
        }
    }
}

impl Scorer for FilterScorer {
    fn score(&mut self) -> Score {
        0.0
    }
}

impl Filter {
    fn segment_scorer(&self, segment: &SegmentReader) -> tantivy::Result<FilterScorer> {
        let predicate = Predicate::new(self, segment)?;
        let doc = predicate.next_match(0);
        Ok(FilterScorer { doc, predicate })
    }
}

impl Query for Filter {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for Filter {
    fn scorer(&self, segment: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(self.segment_scorer(segment)?))
    }

    fn explain(&self, segment: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if Predicate::new(self, segment)?.holds(doc) {
            Ok(Explanation::new("Filter", 0.0))
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!(
                "document #{doc} does not match the filter"
            )))
        }
    }
}

/// The documents of `inner` that meet `filter`, scored by `inner`: the
/// inner query produces the candidates (text, geographic cells) and each
/// one is checked against the filter.
pub(crate) struct Filtered {
    pub inner: Box<dyn Query>,
    pub filter: Filter,
}

impl Clone for Filtered {
    fn clone(&self) -> Self {
        Filtered {
            inner: self.inner.box_clone(),
            filter: self.filter.clone(),
        }
    }
}

impl std::fmt::Debug for Filtered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filtered")
            .field("inner", &self.inner)
            .field("filter", &self.filter)
            .finish()
    }
}

impl Query for Filtered {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(FilteredWeight {
            inner: self.inner.weight(scoring)?,
            filter: self.filter.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

struct FilteredWeight {
    inner: Box<dyn Weight>,
    filter: Filter,
}

impl Weight for FilteredWeight {
    fn scorer(&self, segment: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let predicate = Predicate::new(&self.filter, segment)?;
        if predicate.is_empty() {
            return Ok(Box::new(EmptyScorer));
        }
        let mut scorer = FilteredScorer {
            inner: self.inner.scorer(segment, boost)?,
            predicate,
        };
        let first = scorer.inner.doc();
        scorer.settle(first);
        Ok(Box::new(scorer))
    }

    fn explain(&self, segment: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if !Predicate::new(&self.filter, segment)?.holds(doc) {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document #{doc} does not match the filter"
            )));
        }
        self.inner.explain(segment, doc)
    }
}

/// The per-segment form of a [`Filtered`] query. Always positioned on a
/// document of `inner` that meets the filter (or `TERMINATED`).
struct FilteredScorer {
    inner: Box<dyn Scorer>,
    predicate: Predicate,
}

impl FilteredScorer {
    /// From `inner`'s current document `doc`, advances `inner` to the first
    /// one that meets the filter.
    #[inline]
    fn settle(&mut self, mut doc: DocId) -> DocId {
        while doc != TERMINATED && !self.predicate.holds(doc) {
            doc = self.inner.advance();
        }
        doc
    }
}

impl DocSet for FilteredScorer {
    fn advance(&mut self) -> DocId {
        let doc = self.inner.advance();
        self.settle(doc)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let doc = self.inner.seek(target);
        self.settle(doc)
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }

    fn cost(&self) -> u64 {
        self.inner.cost()
    }
}

impl Scorer for FilteredScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}
