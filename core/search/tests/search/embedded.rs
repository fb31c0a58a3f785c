//! What only the embedded (tantivy) engine does.

use std::time::{Duration, Instant};

use townhall_search::*;

use crate::common::*;

async fn open(dir: &std::path::Path) -> SearchIndex {
    SearchIndex::open(&SearchConfig::Embedded(options(dir))).await.unwrap()
}

fn index_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    options(data_dir).dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_searchable_within_a_second_without_flushing() {
    let (ix, _dir) = tantivy().await;
    let j = jurisdiction("fresh");
    let d = described(&j, "Water main burst on Calle Mayor");
    let started = Instant::now();
    ix.index_documents(vec![d.clone()]).await.unwrap();
    loop {
        let r = run(&ix, &Viewer::Public, SearchQuery::new(&j).text("water")).await;
        if r.total == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not searchable after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ix.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_index_needs_a_rebuild_until_one_finishes_and_keeps_its_documents() {
    let dir = tempfile::tempdir().unwrap();
    let ix = open(dir.path()).await;
    assert!(ix.needs_rebuild());
    let j = jurisdiction("reopen");
    put(&ix, &[described(&j, "Flooded underpass")]).await;
    ix.shutdown().await.unwrap();
    // Still incomplete: no rebuild ever finished.
    let ix = open(dir.path()).await;
    assert!(ix.needs_rebuild());
    assert_eq!(run(&ix, &Viewer::Public, SearchQuery::new(&j)).await.total, 1);
    ix.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_cannot_write_the_same_index() {
    let dir = tempfile::tempdir().unwrap();
    let ix = open(dir.path()).await;
    let err = SearchIndex::open(&SearchConfig::Embedded(options(dir.path())))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SEARCH_UNAVAILABLE", "{err}");
    ix.shutdown().await.unwrap();
    // Once the first one is gone, the index opens again, intact.
    let ix = open(dir.path()).await;
    ix.shutdown().await.unwrap();
}

async fn filled(dir: &std::path::Path, j: &str) {
    let ix = open(dir).await;
    let docs: Vec<SearchDocument> = (0..50).map(|i| described(j, &format!("Pothole number {i}"))).collect();
    put(&ix, &docs).await;
    ix.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_with_broken_metadata_is_recreated_empty() {
    let dir = tempfile::tempdir().unwrap();
    let j = jurisdiction("corrupt");
    filled(dir.path(), &j).await;
    std::fs::write(index_dir(dir.path()).join("meta.json"), b"{ this is not json").unwrap();
    let ix = open(dir.path()).await;
    assert!(ix.needs_rebuild());
    assert_eq!(run(&ix, &Viewer::Public, SearchQuery::new(&j)).await.total, 0);
    put(&ix, &[described(&j, "Pothole again")]).await;
    assert_eq!(run(&ix, &Viewer::Public, SearchQuery::new(&j)).await.total, 1);
    ix.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_with_damaged_or_missing_files_is_recreated_empty() {
    for damage in ["flip", "delete"] {
        let dir = tempfile::tempdir().unwrap();
        let j = jurisdiction("damaged");
        filled(dir.path(), &j).await;
        let idx = index_dir(dir.path());
        let victim = std::fs::read_dir(&idx)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "store"))
            .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .expect("a segment's doc store");
        if damage == "flip" {
            let mut bytes = std::fs::read(&victim).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            std::fs::write(&victim, bytes).unwrap();
        } else {
            std::fs::remove_file(&victim).unwrap();
        }
        let ix = open(dir.path()).await;
        assert!(ix.needs_rebuild(), "{damage}");
        assert_eq!(
            run(&ix, &Viewer::Public, SearchQuery::new(&j)).await.total,
            0,
            "{damage}"
        );
        ix.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_its_size_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path(), &jurisdiction("size")).await;
    let ix = open(dir.path()).await;
    assert!(ix.disk_usage().unwrap() > 1_000);
    assert_eq!(ix.engine(), "tantivy");
    ix.shutdown().await.unwrap();
}
