//! The outbox worker against real databases (SQLite and PostgreSQL):
//! finished work is deleted once it is older than `keep_done`; dead and
//! pending work stays.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use tokio::sync::Notify;
use townhall_domain::clock::{Clock, ManualClock};
use townhall_intake::outbox::{HandlerError, OutboxHandler, OutboxWorker, WorkerConfig};
use townhall_store::{OutboxItem, OutboxSpec, Store, StoreOptions};
use townhall_testkit::{TestDb, both_databases};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap()
}

/// Succeeds for `{"ok": true}`, gives up at once on anything else.
struct OkOrDead;

#[async_trait]
impl OutboxHandler for OkOrDead {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandlerError> {
        if item.payload["ok"] == json!(true) {
            Ok(())
        } else {
            Err(HandlerError::permanent("not ok"))
        }
    }
}

async fn rows(db: &TestDb) -> i64 {
    let conn = Database::connect(db.url.as_str()).await.unwrap();
    let backend = conn.get_database_backend();
    conn.query_one_raw(sea_orm::Statement::from_string(backend, "SELECT COUNT(*) FROM outbox"))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

both_databases!(finished_work_is_deleted_after_keep_done, |db: TestDb| async move {
    let store = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let week = Duration::from_secs(7 * 24 * 3600);
    let worker = |keep_done| {
        let w = OutboxWorker::new(
            store.clone(),
            clock.clone(),
            Arc::new(Notify::new()),
            WorkerConfig {
                keep_done,
                ..WorkerConfig::default()
            },
        );
        w.register("c", Arc::new(OkOrDead));
        w
    };
    let spec = |ok: bool| OutboxSpec {
        consumer: "c".into(),
        topic: "t".into(),
        payload: json!({ "ok": ok }),
    };
    for ok in [true, true, true, false] {
        store.enqueue("riverton", &spec(ok), t0()).await.unwrap();
    }
    let w = worker(Some(week));
    assert_eq!(w.run_once().await, 4);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead), (0, 1));

    // A week later to the second, nothing is old enough yet.
    clock.advance(chrono::Duration::days(7));
    assert_eq!(w.purge_done().await, 0);
    assert_eq!(rows(&db).await, 4);

    // New work arrives; the old finished work goes, and only it.
    clock.advance(chrono::Duration::seconds(1));
    store.enqueue("riverton", &spec(true), clock.now()).await.unwrap();
    // A worker told to keep finished work forever deletes nothing, and so
    // does one given a retention longer than the calendar (the largest
    // `outbox_keep_days`), without overflowing.
    assert_eq!(worker(None).purge_done().await, 0);
    let longest = Duration::from_secs(u64::from(u32::MAX) * 24 * 3600);
    assert_eq!(worker(Some(longest)).purge_done().await, 0);
    assert_eq!(rows(&db).await, 5);
    assert_eq!(w.purge_done().await, 3);
    assert_eq!(rows(&db).await, 2);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead), (1, 1));
    // The new item is still handed out and finished.
    assert_eq!(w.run_once().await, 1);
    assert_eq!(store.outbox_stats().await.unwrap().pending, 0);
});
