//! The store against real databases: every test runs on SQLite and on
//! PostgreSQL (`TOWNHALL_TEST_POSTGRES_URL`, default the local server).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::json;
use townhall_domain::intake::{BoundingBox, Channel, Reporter, ValidIntake};
use townhall_domain::priority::Priority;
use townhall_domain::service::ServiceDefinition;
use townhall_domain::sla::SlaTarget;
use townhall_domain::{DomainError, EventKind, Status};
use townhall_migrations::MigratorTrait;
use townhall_store::*;
use townhall_testkit::{TestDb, both_databases};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap()
}

async fn store(db: &TestDb) -> Store {
    let s = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    s.migrate().await.unwrap();
    s
}

async fn catalog(s: &Store) {
    s.upsert_jurisdiction(
        &Jurisdiction {
            id: "riverton".into(),
            name: "City of Riverton".into(),
            timezone: chrono_tz::America::Chicago,
            bounds: None,
            holidays: vec![],
            is_default: true,
        },
        now(),
    )
    .await
    .unwrap();
    s.upsert_department(
        &Department {
            jurisdiction_id: "riverton".into(),
            code: "public-works".into(),
            name: "Public Works".into(),
            description: String::new(),
            email: None,
        },
        now(),
    )
    .await
    .unwrap();
    for code in ["pothole", "graffiti"] {
        s.upsert_service(
            &ServiceDefinition {
                jurisdiction_id: "riverton".into(),
                code: code.into(),
                name: code.into(),
                description: String::new(),
                group: Some("Streets".into()),
                keywords: vec!["road".into()],
                attributes: vec![],
                default_priority: Priority::High,
                sla: SlaTarget::business_days(5),
                department_id: Some("public-works".into()),
                plugin_id: None,
                active: true,
                public: true,
                address_sensitive: false,
                anonymous_allowed: true,
                answers_with_token: false,
            },
            0,
            now(),
        )
        .await
        .unwrap();
    }
}

fn new_request(service: &str, lat: f64, at: DateTime<Utc>) -> NewRequest {
    NewRequest {
        id: townhall_domain::ids::id_at(at, now()),
        jurisdiction_id: "riverton".into(),
        tracking_year: 2026,
        intake: ValidIntake {
            service_code: service.into(),
            description: Some("Deep pothole".into()),
            lat: Some(lat),
            long: Some(-89.6),
            address: None,
            address_id: None,
            zipcode: None,
            attributes: serde_json::Map::new(),
            media_url: None,
            reporter: Reporter {
                first_name: Some("Ana".into()),
                email: Some("ana@example.org".into()),
                ..Default::default()
            },
            device_id: None,
        },
        status: Status::Open,
        priority: Priority::High,
        department_code: Some("public-works".into()),
        queue: None,
        requested_at: at,
        expected_at: Some(at + Duration::days(7)),
        channel: Channel::Web,
        public: true,
    }
}

async fn submit(s: &Store, service: &str, lat: f64, at: DateTime<Utc>) -> RequestRecord {
    let outbox = vec![OutboxSpec {
        consumer: "search".into(),
        topic: "request.created".into(),
        payload: json!({}),
    }];
    s.submit(
        new_request(service, lat, at),
        NewEvent::new(EventKind::Created, Actor::reporter()),
        outbox,
        at,
    )
    .await
    .unwrap()
    .0
}

both_databases!(migrations_go_up_down_and_up_again, |db: TestDb| async move {
    let s = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    let all = Migrator::migrations().len();
    assert!(all >= 6);
    assert_eq!(s.pending_migrations().await.unwrap().len(), all);
    assert_eq!(s.migrate().await.unwrap(), all);
    assert!(s.pending_migrations().await.unwrap().is_empty());
    catalog(&s).await;
    s.migrate_down(None).await.unwrap();
    assert_eq!(s.pending_migrations().await.unwrap().len(), all);
    // The tables are really gone.
    let conn = Database::connect(db.url.as_str()).await.unwrap();
    assert!(conn.execute_unprepared("SELECT 1 FROM service_requests").await.is_err());
    assert_eq!(s.migrate().await.unwrap(), all);
    catalog(&s).await;
    assert_eq!(s.services("riverton", false).await.unwrap().len(), 2);
});

both_databases!(
    submit_commits_request_history_contact_and_outbox,
    |db: TestDb| async move {
        let s = store(&db).await;
        catalog(&s).await;
        let a = submit(&s, "pothole", 41.0, now()).await;
        let b = submit(&s, "pothole", 41.0, now()).await;
        assert_eq!(a.tracking_number, "2026-000001");
        assert_eq!(b.tracking_number, "2026-000002");
        assert_eq!(a.id.get_version_num(), 7);

        let back = s.request_by_tracking("riverton", "2026-000001").await.unwrap();
        assert_eq!(back, s.request("riverton", a.id).await.unwrap());
        assert_eq!(back.description.as_deref(), Some("Deep pothole"));
        assert_eq!(back.status, Status::Open);
        // Another jurisdiction cannot see it.
        assert!(matches!(
            s.request("elsewhere", a.id).await,
            Err(StoreError::NotFound { .. })
        ));

        let contact = s.contact(back.reporter_id.unwrap()).await.unwrap();
        assert_eq!(contact.email.as_deref(), Some("ana@example.org"));

        let history = s.history(a.id, true).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].kind, EventKind::Created);

        let claimed = s.claim_outbox("w1", 10, Duration::seconds(30), now()).await.unwrap();
        assert_eq!(claimed.len(), 2);
        assert_eq!(claimed[0].aggregate_id, Some(a.id));
        // Leased rows are not handed out twice.
        assert!(
            s.claim_outbox("w2", 10, Duration::seconds(30), now())
                .await
                .unwrap()
                .is_empty()
        );
        s.complete_outbox(claimed[0].id, now()).await.unwrap();
        s.fail_outbox(claimed[1].id, "boom", Some(now() + Duration::seconds(5)), now())
            .await
            .unwrap();
        assert!(
            s.claim_outbox("w2", 10, Duration::seconds(30), now())
                .await
                .unwrap()
                .is_empty()
        );
        let retry = s
            .claim_outbox("w2", 10, Duration::seconds(30), now() + Duration::seconds(6))
            .await
            .unwrap();
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].attempts, 2);
        s.fail_outbox(retry[0].id, "gave up", None, now()).await.unwrap();
        let stats = s.outbox_stats().await.unwrap();
        assert_eq!((stats.pending, stats.dead), (0, 1));
    }
);

both_databases!(
    concurrent_submissions_commit_in_groups_exactly_as_returned,
    |db: TestDb| async move {
        let s = store(&db).await;
        catalog(&s).await;
        // Submitted all at once, they are committed in groups (one
        // statement per group on PostgreSQL); one bad submission (a
        // service that does not exist) fails alone.
        let mut tasks = Vec::new();
        for i in 0..40u32 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let at = now() + Duration::microseconds(i64::from(i) * 1_001);
                let mut new = new_request(if i == 17 { "no-such-service" } else { "pothole" }, 41.0, at);
                new.intake.lat = Some(41.123_456_789_012_3 + f64::from(i) * 1e-9);
                new.intake.description = Some(format!("Pothole \"{i}\" ✓ with a quote and a \\ backslash"));
                new.intake.attributes = serde_json::Map::from_iter([
                    ("size".to_owned(), json!("large")),
                    ("depth".to_owned(), json!(3.25)),
                    ("tags".to_owned(), json!(["a", {"b": null}])),
                ]);
                if i % 2 == 0 {
                    new.intake.reporter = Reporter::default();
                }
                let mut created = NewEvent::new(EventKind::Created, Actor::reporter());
                created.data = Some(json!({"channel": "web", "n": i}));
                let outbox = vec![
                    OutboxSpec {
                        consumer: "search".into(),
                        topic: "request.created".into(),
                        payload: json!({"n": i}),
                    },
                    OutboxSpec {
                        consumer: "plugin:x".into(),
                        topic: "request.created".into(),
                        payload: json!("text payload"),
                    },
                ];
                (i, s.submit(new, created, outbox, at).await)
            }));
        }
        let mut numbers = HashSet::new();
        let mut ok = Vec::new();
        for t in tasks {
            let (i, r) = t.await.unwrap();
            if i == 17 {
                assert!(r.is_err(), "a request for an unknown service was committed");
                continue;
            }
            let (record, event) = r.unwrap();
            assert!(numbers.insert(record.tracking_number.clone()));
            ok.push((i, record, event));
        }
        assert_eq!(ok.len(), 39);
        for (i, record, event) in &ok {
            // What submit returned is exactly what was stored.
            assert_eq!(&s.request("riverton", record.id).await.unwrap(), record);
            assert_eq!(s.history(record.id, true).await.unwrap(), vec![event.clone()]);
            assert_eq!(event.data, Some(json!({"channel": "web", "n": i})));
            match record.reporter_id {
                Some(c) => {
                    assert_eq!(i % 2, 1);
                    assert_eq!(s.contact(c).await.unwrap().email.as_deref(), Some("ana@example.org"));
                }
                None => assert_eq!(i % 2, 0),
            }
        }
        // Every row is due once the last submission's time has passed.
        let later = now() + Duration::seconds(1);
        let claimed = s.claim_outbox("w1", 200, Duration::seconds(30), later).await.unwrap();
        assert_eq!(claimed.len(), 78);
        let texts = claimed.iter().filter(|c| c.payload == json!("text payload")).count();
        assert_eq!(texts, 39);
    }
);

both_databases!(batch_reads_match_the_one_by_one_reads, |db: TestDb| async move {
    let s = store(&db).await;
    catalog(&s).await;
    let a = submit(&s, "pothole", 41.0, now()).await;
    let b = submit(&s, "graffiti", 41.1, now()).await;
    s.update_request("riverton", b.id, now(), |_| {
        let mut e = NewEvent::new(EventKind::InternalNote, Actor::system());
        e.body = Some("private note".into());
        Ok(Change {
            events: vec![e],
            ..Default::default()
        })
    })
    .await
    .unwrap();
    let missing = uuid::Uuid::now_v7();

    let mut found = s.requests_by_ids(&[b.id, missing, a.id]).await.unwrap();
    found.sort_by_key(|r| r.id);
    assert_eq!(
        found,
        vec![
            s.request("riverton", a.id).await.unwrap(),
            s.request("riverton", b.id).await.unwrap()
        ]
    );

    let all = s.histories(&[a.id, b.id, missing], true).await.unwrap();
    assert_eq!(all.get(&a.id), Some(&s.history(a.id, true).await.unwrap()));
    assert_eq!(all.get(&b.id), Some(&s.history(b.id, true).await.unwrap()));
    assert_eq!(all[&b.id].len(), 2);
    assert!(!all.contains_key(&missing));
    let public = s.histories(&[b.id], false).await.unwrap();
    assert_eq!(public[&b.id], s.history(b.id, false).await.unwrap());
    assert_eq!(public[&b.id].len(), 1);

    let cids: Vec<_> = found.iter().filter_map(|r| r.reporter_id).collect();
    let contacts = s.contacts(&cids).await.unwrap();
    assert_eq!(contacts.len(), 2);
    for c in &cids {
        assert_eq!(contacts[c], s.contact(*c).await.unwrap());
    }
    assert!(s.contacts(&[missing]).await.unwrap().is_empty());

    // Completing many outbox rows at once.
    let claimed = s.claim_outbox("w1", 10, Duration::seconds(30), now()).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
    s.complete_outbox_many(&ids, now()).await.unwrap();
    s.complete_outbox_many(&[], now()).await.unwrap();
    assert_eq!(s.outbox_stats().await.unwrap().pending, 0);
    assert!(
        s.claim_outbox("w2", 10, Duration::seconds(30), now() + Duration::minutes(5))
            .await
            .unwrap()
            .is_empty()
    );
});

both_databases!(refused_changes_write_nothing, |db: TestDb| async move {
    let s = store(&db).await;
    catalog(&s).await;
    let r = submit(&s, "pothole", 41.0, now()).await;
    let later = now() + Duration::hours(1);
    let (closed, events) = s
        .update_request("riverton", r.id, later, |cur| {
            cur.status.check_transition(Status::Closed)?;
            let mut e = NewEvent::new(EventKind::StatusChanged, Actor::system());
            e.from_status = Some(cur.status);
            e.to_status = Some(Status::Closed);
            Ok(Change {
                patch: RequestPatch {
                    status: Some(Status::Closed),
                    closed_at: Some(Some(later)),
                    ..Default::default()
                },
                events: vec![e],
                outbox: vec![],
            })
        })
        .await
        .unwrap();
    assert_eq!(closed.status, Status::Closed);
    assert_eq!(closed.version, 2);
    assert_eq!(events.len(), 1);

    let err = s
        .update_request("riverton", r.id, later, |cur| {
            cur.status.check_transition(Status::Fixed)?;
            Ok(Change::default())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Rejected(DomainError::InvalidTransition { .. })),
        "{err:?}"
    );
    let after = s.request("riverton", r.id).await.unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(s.history(r.id, true).await.unwrap().len(), 2);
});

both_databases!(history_is_append_only, |db: TestDb| async move {
    let s = store(&db).await;
    catalog(&s).await;
    submit(&s, "pothole", 41.0, now()).await;
    let conn = Database::connect(db.url.as_str()).await.unwrap();
    assert!(
        conn.execute_unprepared("UPDATE request_events SET body = 'x'")
            .await
            .is_err()
    );
    assert!(conn.execute_unprepared("DELETE FROM request_events").await.is_err());
});

both_databases!(listing_filters_and_pages, |db: TestDb| async move {
    let s = store(&db).await;
    catalog(&s).await;
    let mut ids = vec![];
    for i in 0..7 {
        let svc = if i % 2 == 0 { "pothole" } else { "graffiti" };
        ids.push(
            submit(&s, svc, 40.0 + f64::from(i), now() - Duration::days(10 - i64::from(i)))
                .await
                .id,
        );
    }
    let base = RequestQuery {
        jurisdiction_id: "riverton".into(),
        limit: 3,
        ..Default::default()
    };
    let page1 = s.list_requests(&base).await.unwrap();
    assert_eq!(
        page1.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[6], ids[5], ids[4]]
    );
    let page2 = s
        .list_requests(&RequestQuery {
            after: Some(ids[4]),
            ..base.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[3], ids[2], ids[1]]
    );

    let graffiti = RequestQuery {
        service_codes: vec!["graffiti".into()],
        limit: 100,
        ..base.clone()
    };
    assert_eq!(s.count_requests(&graffiti).await.unwrap(), 3);
    let boxed = RequestQuery {
        bbox: Some(BoundingBox {
            min_lat: 41.5,
            min_long: -90.0,
            max_lat: 43.5,
            max_long: -89.0,
        }),
        limit: 100,
        ..base.clone()
    };
    assert_eq!(s.list_requests(&boxed).await.unwrap().len(), 2);
    let window = RequestQuery {
        requested_from: Some(now() - Duration::days(5)),
        limit: 100,
        ..base.clone()
    };
    assert_eq!(s.count_requests(&window).await.unwrap(), 2);
    let closed = RequestQuery {
        statuses: vec![Status::Closed],
        limit: 100,
        ..base
    };
    assert!(s.list_requests(&closed).await.unwrap().is_empty());
});

both_databases!(
    concurrent_submissions_get_distinct_tracking_numbers,
    |db: TestDb| async move {
        let s = store(&db).await;
        catalog(&s).await;
        let mut tasks = vec![];
        for i in 0..40 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                submit(&s, "pothole", 41.0 + f64::from(i) / 100.0, now()).await
            }));
        }
        let mut numbers = HashSet::new();
        for t in tasks {
            numbers.insert(t.await.unwrap().tracking_number);
        }
        assert_eq!(numbers.len(), 40);
        assert!(numbers.contains("2026-000040"));
    }
);

both_databases!(
    a_submission_queued_behind_a_commit_is_committed_even_if_its_submitter_leaves,
    |db: TestDb| async move {
        let s = store(&db).await;
        catalog(&s).await;
        // Another connection holds up every write to the requests table, so
        // the commits that take the store's turns (one on SQLite, two on
        // PostgreSQL) stall in the database.
        let blocker = Database::connect(db.url.as_str()).await.unwrap();
        let hold = blocker.begin().await.unwrap();
        let turns = match db.kind {
            townhall_testkit::Kind::Sqlite => {
                hold.execute_unprepared("UPDATE service_requests SET version = version")
                    .await
                    .unwrap();
                1
            }
            townhall_testkit::Kind::Postgres => {
                hold.execute_unprepared("LOCK TABLE service_requests IN SHARE MODE")
                    .await
                    .unwrap();
                2
            }
        };
        let mut committing = Vec::new();
        for i in 0..turns {
            let s = s.clone();
            committing.push(tokio::spawn(async move {
                submit(&s, "pothole", 41.0 + f64::from(i), now()).await
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // This one can only queue; its submitter then goes away (a client
        // that disconnects) while the stalled commits still hold the turns.
        let queued = new_request("graffiti", 42.0, now());
        let queued_id = queued.id;
        let leaver = {
            let s = s.clone();
            tokio::spawn(async move {
                s.submit(
                    queued,
                    NewEvent::new(EventKind::Created, Actor::reporter()),
                    vec![],
                    now(),
                )
                .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!leaver.is_finished(), "the queued submission did not wait for a turn");
        leaver.abort();
        assert!(leaver.await.unwrap_err().is_cancelled());
        hold.rollback().await.unwrap();
        let mut numbers = HashSet::new();
        for t in committing {
            numbers.insert(t.await.unwrap().tracking_number);
        }
        // The turn holders' commits take what queued meanwhile before they
        // give their turns back: the request is stored without anyone
        // submitting after it.
        let started = std::time::Instant::now();
        let stored = loop {
            match s.request("riverton", queued_id).await {
                Ok(r) => break r,
                Err(StoreError::NotFound { .. }) if started.elapsed() < std::time::Duration::from_secs(5) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the queued submission was not committed: {e}"),
            }
        };
        assert_eq!(stored.service_code, "graffiti");
        assert!(numbers.insert(stored.tracking_number.clone()));
        let expected: HashSet<String> = (1..=turns + 1).map(|n| format!("2026-{n:06}")).collect();
        assert_eq!(numbers, expected, "every submission got its own number, none skipped");
    }
);

/// SQLite: the writer leaves checkpoints to the store's checkpointer, which
/// copies the WAL back into the database file beside it (every 500 ms).
#[tokio::test]
async fn sqlite_wal_is_copied_back_beside_the_writer() {
    let db = townhall_testkit::sqlite().await;
    let s = store(&db).await;
    catalog(&s).await;
    for i in 0..300 {
        submit(&s, "pothole", 39.8, now() + Duration::seconds(i)).await;
    }
    // Three of the checkpointer's ticks, and nothing writing meanwhile.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let file = db.data_dir().unwrap().join("townhall.db");
    let on_disk = std::fs::metadata(&file).unwrap().len();
    let probe = Database::connect(db.url.as_str()).await.unwrap();
    let number = |sql: &'static str| {
        let probe = &probe;
        async move {
            let row = probe
                .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    let pages = number("PRAGMA page_count").await;
    let page_size = number("PRAGMA page_size").await;
    // Everything the 300 submissions wrote is in the database file itself,
    // not only in the WAL (which is where it would still be: the writer
    // does not checkpoint, and the data is under SQLite's 1000-page
    // automatic checkpoint anyway).
    assert!(pages > 50, "the submissions wrote only {pages} pages");
    assert_eq!(
        on_disk,
        u64::try_from(pages * page_size).unwrap(),
        "the database file is {on_disk} bytes; its {pages} pages of {page_size} are not all checkpointed"
    );
}

both_databases!(
    purging_deletes_only_finished_work_older_than_the_cutoff,
    |db: TestDb| async move {
        let s = store(&db).await;
        let spec = |n: i64| OutboxSpec {
            consumer: "c".into(),
            topic: "t".into(),
            payload: json!({ "n": n }),
        };
        for n in 0..6 {
            s.enqueue("riverton", &spec(n), now()).await.unwrap();
        }
        let claimed = s.claim_outbox("w1", 5, Duration::seconds(30), now()).await.unwrap();
        assert_eq!(claimed.len(), 5);
        // Three done, one dead, one leased and waiting for a retry, one never claimed.
        let done: Vec<i64> = claimed[..3].iter().map(|c| c.id).collect();
        s.complete_outbox_many(&done, now()).await.unwrap();
        s.fail_outbox(claimed[3].id, "gave up", None, now()).await.unwrap();
        s.fail_outbox(claimed[4].id, "later", Some(now() + Duration::hours(1)), now())
            .await
            .unwrap();
        let conn = Database::connect(db.url.as_str()).await.unwrap();
        let rows = || {
            let conn = &conn;
            async move {
                let backend = conn.get_database_backend();
                let row = conn
                    .query_one_raw(sea_orm::Statement::from_string(backend, "SELECT COUNT(*) FROM outbox"))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get_by_index::<i64>(0).unwrap()
            }
        };
        assert_eq!(rows().await, 6);
        // Finished exactly at the cutoff is not older than it.
        assert_eq!(s.purge_outbox_done(now(), 10).await.unwrap(), 0);
        // In batches: two, then the last one, then nothing.
        let later = now() + Duration::seconds(1);
        assert_eq!(s.purge_outbox_done(later, 2).await.unwrap(), 2);
        assert_eq!(rows().await, 4);
        assert_eq!(s.purge_outbox_done(later, 2).await.unwrap(), 1);
        assert_eq!(s.purge_outbox_done(later, 2).await.unwrap(), 0);
        assert_eq!(rows().await, 3);
        // What is left is the work that is not finished: nothing lost.
        let stats = s.outbox_stats().await.unwrap();
        assert_eq!((stats.pending, stats.dead), (2, 1));
        let due = s
            .claim_outbox("w2", 10, Duration::seconds(30), now() + Duration::hours(2))
            .await
            .unwrap();
        let mut left: Vec<i64> = due.iter().map(|i| i.id).collect();
        left.sort_unstable();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&claimed[4].id));
        assert!(!left.iter().any(|id| done.contains(id)));
    }
);
