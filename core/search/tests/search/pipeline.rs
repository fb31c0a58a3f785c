//! The index fed from a real database, on SQLite and PostgreSQL: the
//! outbox handler, `reindex` and `catch_up`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use townhall_domain::Status;
use townhall_domain::clock::{Clock, ManualClock};
use townhall_domain::intake::{Channel, IntakeInput, Reporter};
use townhall_domain::priority::Priority;
use townhall_domain::service::ServiceDefinition;
use townhall_domain::sla::SlaTarget;
use townhall_intake::outbox::{OutboxWorker, WorkerConfig};
use townhall_intake::{Intake, StatusChange};
use townhall_search::*;
use townhall_store::{Actor, Department, Jurisdiction, Store, StoreOptions};
use townhall_testkit::{TestDb, both_databases};
use uuid::Uuid;

use crate::common::*;

const J: &str = "riverton";

async fn store(db: &TestDb) -> Store {
    let s = Store::connect(&StoreOptions::new(db.url.clone())).await.unwrap();
    s.migrate().await.unwrap();
    s.upsert_jurisdiction(
        &Jurisdiction {
            id: J.into(),
            name: "City of Riverton".into(),
            timezone: chrono_tz::America::Chicago,
            bounds: None,
            holidays: vec![],
            is_default: true,
        },
        t0(),
    )
    .await
    .unwrap();
    s.upsert_department(
        &Department {
            jurisdiction_id: J.into(),
            code: "streets".into(),
            name: "Streets".into(),
            description: String::new(),
            email: None,
        },
        t0(),
    )
    .await
    .unwrap();
    for (code, name, sensitive) in [("pothole", "Pothole", false), ("noise", "Noise complaint", true)] {
        s.upsert_service(
            &ServiceDefinition {
                jurisdiction_id: J.into(),
                code: code.into(),
                name: name.into(),
                description: String::new(),
                group: None,
                keywords: vec![],
                attributes: vec![],
                default_priority: Priority::Medium,
                sla: SlaTarget::business_days(5),
                department_id: Some("streets".into()),
                plugin_id: None,
                active: true,
                public: true,
                address_sensitive: sensitive,
                anonymous_allowed: true,
                answers_with_token: false,
            },
            0,
            t0(),
        )
        .await
        .unwrap();
    }
    s
}

fn input(service: &str, description: &str, address: &str) -> IntakeInput {
    IntakeInput {
        service_code: service.into(),
        description: Some(description.into()),
        lat: Some(41.59),
        long: Some(-93.62),
        address: Some(address.into()),
        reporter: Reporter {
            first_name: Some("Marisol".into()),
            last_name: Some("Vantongeren".into()),
            email: Some("marisol@example.org".into()),
            phone: Some("+15550142".into()),
            user_id: None,
        },
        ..Default::default()
    }
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(t0()))
}

async fn embedded(dir: &std::path::Path) -> SearchIndex {
    SearchIndex::open(&SearchConfig::Embedded(options(dir))).await.unwrap()
}

fn staff() -> Viewer {
    Viewer::Staff {
        departments: vec!["streets".into()],
    }
}

/// Polls until `query` (as `viewer`) finds `id`; fails after a second.
async fn found_within_a_second(ix: &SearchIndex, viewer: &Viewer, text: &str, id: Uuid) {
    let started = Instant::now();
    loop {
        let got = text_ids(ix, viewer, J, text).await;
        if got.contains(&id) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{text:?} not searchable within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

both_databases!(
    outbox_keeps_the_index_current_within_a_second,
    |db: TestDb| async move {
        let s = store(&db).await;
        let dir = tempfile::tempdir().unwrap();
        let ix = embedded(dir.path()).await;
        let clock = clock();
        let intake = Intake::new(s.clone(), clock.clone()).with_consumer(OUTBOX_CONSUMER);
        let worker = Arc::new(OutboxWorker::new(
            s.clone(),
            clock,
            intake.wake_handle(),
            WorkerConfig::default(),
        ));
        worker.register(OUTBOX_CONSUMER, Arc::new(ix.indexer(s.clone())));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(worker.clone().run(stopped));

        let sub = intake
            .submit(
                None,
                input("pothole", "Deep pothole by the fountain", "12 Elm Street"),
                Channel::Web,
                Actor::reporter(),
            )
            .await
            .unwrap();
        let id = sub.request.id;
        found_within_a_second(&ix, &Viewer::Public, "fountain", id).await;
        found_within_a_second(&ix, &staff(), "marisol@example.org", id).await;
        assert_eq!(
            run(&ix, &Viewer::Public, SearchQuery::new(J).text("vantongeren"))
                .await
                .total,
            0
        );

        let change = StatusChange {
            to: Status::InProgress,
            public_note: Some("Crew scheduled for Tuesday".into()),
            internal_note: Some("Borrow the Kowalski asphalt truck".into()),
        };
        intake.change_status(J, id, change, Actor::system()).await.unwrap();
        found_within_a_second(&ix, &staff(), "kowalski", id).await;
        found_within_a_second(&ix, &Viewer::Public, "tuesday", id).await;
        let r = run(&ix, &Viewer::Public, SearchQuery::new(J).text("kowalski")).await;
        assert_eq!((r.total, r.facets), (0, Facets::default()));
        let r = run(&ix, &Viewer::Public, SearchQuery::new(J)).await;
        assert_eq!(count(&r.facets.status, "in_progress"), 1);

        // An address-sensitive service: the address is private.
        let noise = intake
            .submit(
                None,
                input("noise", "Generator running all night", "9 Quixotic Lane"),
                Channel::Web,
                Actor::reporter(),
            )
            .await
            .unwrap();
        found_within_a_second(&ix, &staff(), "quixotic", noise.request.id).await;
        assert_eq!(
            run(&ix, &Viewer::Public, SearchQuery::new(J).text("quixotic"))
                .await
                .total,
            0
        );
        let r = run(&ix, &Viewer::Public, SearchQuery::new(J).text("generator")).await;
        assert_eq!(r.hits[0].address, None);

        stop.send(true).unwrap();
        running.await.unwrap();
        ix.shutdown().await.unwrap();
    }
);

both_databases!(
    reindex_rebuilds_from_the_database_with_progress,
    |db: TestDb| async move {
        let s = store(&db).await;
        // No consumer: nothing reaches the index on its own.
        let intake = Intake::new(s.clone(), clock());
        let mut ids = Vec::new();
        for i in 0..7 {
            let sub = intake
                .submit(
                    None,
                    input("pothole", &format!("Pothole number {i} near the depot"), "1 Main St"),
                    Channel::Web,
                    Actor::reporter(),
                )
                .await
                .unwrap();
            ids.push(sub.request.id);
        }
        intake
            .add_note(J, ids[3], "Caller is the depot's night guard", false, Actor::system())
            .await
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ix = embedded(dir.path()).await;
        assert!(ix.needs_rebuild());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let stats = reindex(&s, &ix, move |done, total| log.lock().unwrap().push((done, total)))
            .await
            .unwrap();
        assert_eq!(stats.indexed, 7);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.first(), Some(&(0, 7)));
        assert_eq!(seen.last(), Some(&(7, 7)));
        assert!(!ix.needs_rebuild());
        assert_eq!(
            run(&ix, &Viewer::Public, SearchQuery::new(J).text("depot")).await.total,
            7
        );
        assert_eq!(text_ids(&ix, &staff(), J, "guard").await, vec![ids[3]]);
        assert_eq!(
            run(&ix, &Viewer::Public, SearchQuery::new(J).text("guard")).await.total,
            0
        );
        ix.shutdown().await.unwrap();

        // A finished rebuild is remembered.
        let ix = embedded(dir.path()).await;
        assert!(!ix.needs_rebuild());
        assert_eq!(run(&ix, &Viewer::Public, SearchQuery::new(J)).await.total, 7);
        ix.shutdown().await.unwrap();
    }
);

both_databases!(catch_up_reads_what_the_index_may_have_missed, |db: TestDb| async move {
    let s = store(&db).await;
    let intake = Intake::new(s.clone(), clock());
    intake
        .submit(
            None,
            input("pothole", "Indexed pothole", "1 Main St"),
            Channel::Web,
            Actor::reporter(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ix = embedded(dir.path()).await;
    catch_up(&s, &ix, |_, _| {}).await.unwrap(); // a full rebuild: the index is new
    assert!(!ix.needs_rebuild());
    // Committed to the database, never indexed (as if the process died
    // between the outbox and the next commit).
    let missed = intake
        .submit(
            None,
            input("pothole", "Forgotten sinkhole", "2 Main St"),
            Channel::Web,
            Actor::reporter(),
        )
        .await
        .unwrap();
    ix.shutdown().await.unwrap();

    let ix = embedded(dir.path()).await;
    assert!(!ix.needs_rebuild());
    assert!(text_ids(&ix, &Viewer::Public, J, "sinkhole").await.is_empty());
    let stats = catch_up(&s, &ix, |_, _| {}).await.unwrap();
    assert!(stats.indexed >= 1);
    assert_eq!(
        text_ids(&ix, &Viewer::Public, J, "sinkhole").await,
        vec![missed.request.id]
    );
    ix.shutdown().await.unwrap();
});

both_databases!(documents_carry_what_the_store_knows, |db: TestDb| async move {
    let s = store(&db).await;
    let intake = Intake::new(s.clone(), clock());
    let sub = intake
        .submit(
            None,
            input("noise", "Barking at 3am", "5 Quiet Row"),
            Channel::Web,
            Actor::reporter(),
        )
        .await
        .unwrap();
    intake
        .add_note(J, sub.request.id, "Owner warned once", false, Actor::system())
        .await
        .unwrap();
    intake
        .add_note(J, sub.request.id, "We are looking into it", true, Actor::system())
        .await
        .unwrap();
    let d = load_document(&s, J, sub.request.id).await.unwrap().unwrap();
    assert!(d.address_sensitive);
    assert_eq!(d.service_name, "Noise complaint");
    assert_eq!(d.internal_notes, vec!["Owner warned once".to_owned()]);
    assert_eq!(d.public_notes, vec!["We are looking into it".to_owned()]);
    assert_eq!(d.reporter_name.as_deref(), Some("Marisol Vantongeren"));
    assert_eq!(d.reporter_email.as_deref(), Some("marisol@example.org"));
    assert!(d.private_text().contains("5 Quiet Row"));
    assert!(!d.public_text().contains("Quiet Row"));
    assert!(load_document(&s, J, Uuid::now_v7()).await.unwrap().is_none());
});
