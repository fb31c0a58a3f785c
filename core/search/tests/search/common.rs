//! Fixtures shared by the test modules.

use chrono::{DateTime, Duration, TimeZone, Utc};
use townhall_domain::{Priority, Status};
use townhall_search::*;
use uuid::Uuid;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap()
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// A jurisdiction id no other test uses (the Meilisearch index is shared).
pub fn jurisdiction(name: &str) -> String {
    format!("{name}-{}", Uuid::now_v7().simple())
}

/// A fresh embedded index in a temporary data directory.
pub async fn tantivy() -> (SearchIndex, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ix = SearchIndex::open(&SearchConfig::Embedded(options(dir.path())))
        .await
        .unwrap();
    (ix, dir)
}

pub fn options(data_dir: &std::path::Path) -> TantivyOptions {
    let mut o = TantivyOptions::in_data_dir(data_dir);
    o.writer_threads = 1;
    o.writer_memory_bytes = 32 << 20;
    o
}

/// The Meilisearch server named by `MEILISEARCH_URL` (and `MEILISEARCH_KEY`).
#[cfg(meilisearch_tests)]
pub async fn meilisearch() -> SearchIndex {
    let url = std::env::var("MEILISEARCH_URL").unwrap();
    let key = std::env::var("MEILISEARCH_KEY")
        .or_else(|_| std::env::var("MEILISEARCH_API_KEY"))
        .ok();
    let mut o = MeiliOptions::new(url, key);
    o.index_uid = "townhall_conformance".into();
    SearchIndex::open(&SearchConfig::Meilisearch(o)).await.unwrap()
}

/// A public, open pothole in Madrid's Puerta del Sol, reported at `t0`.
pub fn doc(jurisdiction: &str) -> SearchDocument {
    SearchDocument {
        id: Uuid::now_v7(),
        jurisdiction_id: jurisdiction.into(),
        tracking_number: "2026-000001".into(),
        service_code: "pothole".into(),
        service_name: "Municipal service".into(),
        department_code: Some("streets".into()),
        status: Status::Open,
        priority: Priority::Medium,
        requested_at: t0(),
        updated_at: t0(),
        public: true,
        address_sensitive: false,
        reporter_user_id: None,
        description: None,
        address: None,
        lat: Some(40.4168),
        long: Some(-3.7038),
        public_notes: vec![],
        internal_notes: vec![],
        reporter_name: None,
        reporter_email: None,
        reporter_phone: None,
    }
}

pub fn described(jurisdiction: &str, text: &str) -> SearchDocument {
    SearchDocument {
        description: Some(text.into()),
        ..doc(jurisdiction)
    }
}

pub async fn put(ix: &SearchIndex, docs: &[SearchDocument]) {
    ix.index_documents(docs.to_vec()).await.unwrap();
    ix.flush().await.unwrap();
}

pub async fn run(ix: &SearchIndex, viewer: &Viewer, q: SearchQuery) -> SearchResults {
    ix.search(viewer, &q).await.unwrap()
}

pub async fn ids(ix: &SearchIndex, viewer: &Viewer, q: SearchQuery) -> Vec<Uuid> {
    run(ix, viewer, q).await.hits.into_iter().map(|h| h.id).collect()
}

pub async fn text_ids(ix: &SearchIndex, viewer: &Viewer, j: &str, text: &str) -> Vec<Uuid> {
    ids(ix, viewer, SearchQuery::new(j).text(text)).await
}

pub fn sorted(mut v: Vec<Uuid>) -> Vec<Uuid> {
    v.sort();
    v
}

pub fn count(f: &[FacetCount], value: &str) -> u64 {
    f.iter().find(|c| c.value == value).map_or(0, |c| c.count)
}
