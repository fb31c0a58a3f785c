//! The tantivy schema and how a [`SearchDocument`] maps onto it.
//!
//! Filters and facets read `STRING` and fast fields; the two text fields
//! hold the analyzed public and private text ([`crate::text`]); the whole
//! document is stored once, as JSON, to rebuild hits.
//!
//! **Must never:** change without bumping [`SCHEMA_VERSION`]: the index
//! directory is named after it, so a new version starts a fresh index that
//! is rebuilt from the database.

use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions,
};
use tantivy::{DateTime, TantivyDocument};

use crate::document::SearchDocument;
use crate::error::SearchError;
use crate::text::ANALYZER;

pub(crate) const SCHEMA_VERSION: u32 = 1;

pub(crate) const F_STATUS: &str = "status";
pub(crate) const F_SERVICE: &str = "service";
pub(crate) const F_DEPARTMENT: &str = "department";

/// Grid sizes (degrees) of the geographic cells each request is indexed
/// in, coarsest first; a geographic filter reads the postings of the cells
/// covering it instead of scanning every coordinate.
pub(crate) const GEO_LEVELS: [f64; 3] = [1.0, 0.1, 0.01];
/// Most cells a geographic filter reads before trying a coarser level.
pub(crate) const MAX_CELLS: i64 = 64;

pub(crate) fn cell_key(level: usize, lat_index: i64, long_index: i64) -> String {
    format!("{level}:{lat_index}:{long_index}")
}
pub(crate) const F_LAT: &str = "lat";
pub(crate) const F_LONG: &str = "long";
pub(crate) const F_REQUESTED: &str = "requested_at";
pub(crate) const F_UPDATED: &str = "updated_at";

#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub id: Field,
    pub jurisdiction: Field,
    pub service: Field,
    pub department: Field,
    pub status: Field,
    pub open: Field,
    pub priority: Field,
    pub public: Field,
    pub reporter_user: Field,
    pub requested_at: Field,
    pub updated_at: Field,
    pub lat: Field,
    pub long: Field,
    pub geo_cells: Field,
    pub t_public: Field,
    pub t_private: Field,
    pub doc: Field,
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let date = DateOptions::from(INDEXED)
        .set_fast()
        .set_precision(DateTimePrecision::Seconds);
    let fields = Fields {
        id: b.add_text_field("id", STRING),
        jurisdiction: b.add_text_field("jurisdiction", STRING),
        service: b.add_text_field(F_SERVICE, STRING | FAST),
        department: b.add_text_field(F_DEPARTMENT, STRING | FAST),
        status: b.add_text_field(F_STATUS, STRING | FAST),
        open: b.add_text_field("open311", STRING),
        priority: b.add_text_field("priority", STRING),
        public: b.add_bool_field("public", INDEXED),
        reporter_user: b.add_text_field("reporter_user", STRING),
        requested_at: b.add_date_field(F_REQUESTED, date.clone()),
        updated_at: b.add_date_field(F_UPDATED, date),
        lat: b.add_f64_field(F_LAT, INDEXED | FAST),
        long: b.add_f64_field(F_LONG, INDEXED | FAST),
        geo_cells: b.add_text_field("geo_cells", STRING),
        t_public: b.add_text_field("t_public", text.clone()),
        t_private: b.add_text_field("t_private", text),
        doc: b.add_bytes_field("doc", STORED),
    };
    (b.build(), fields)
}

pub(crate) fn seconds(t: chrono::DateTime<chrono::Utc>) -> DateTime {
    DateTime::from_timestamp_secs(t.timestamp())
}

pub(crate) fn to_tantivy(f: &Fields, d: &SearchDocument) -> Result<TantivyDocument, SearchError> {
    let mut t = TantivyDocument::default();
    t.add_text(f.id, d.id.to_string());
    t.add_text(f.jurisdiction, &d.jurisdiction_id);
    t.add_text(f.service, &d.service_code);
    if let Some(dep) = &d.department_code {
        t.add_text(f.department, dep);
    }
    t.add_text(f.status, d.status.as_str());
    t.add_text(f.open, d.status.open311().as_str());
    t.add_text(f.priority, d.priority.as_str());
    t.add_bool(f.public, d.public);
    if let Some(u) = d.reporter_user_id {
        t.add_text(f.reporter_user, u.to_string());
    }
    t.add_date(f.requested_at, seconds(d.requested_at));
    t.add_date(f.updated_at, seconds(d.updated_at));
    if let Some((lat, long)) = d.search_point() {
        t.add_f64(f.lat, lat);
        t.add_f64(f.long, long);
        for (level, size) in GEO_LEVELS.iter().enumerate() {
            let key = cell_key(level, (lat / size).floor() as i64, (long / size).floor() as i64);
            t.add_text(f.geo_cells, key);
        }
    }
    t.add_text(f.t_public, d.public_text());
    let private = d.private_text();
    if !private.is_empty() {
        t.add_text(f.t_private, private);
    }
    let json = serde_json::to_vec(d).map_err(SearchError::engine)?;
    t.add_bytes(f.doc, &json);
    Ok(t)
}
