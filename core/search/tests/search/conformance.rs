//! The suite every engine passes. Each case uses its own jurisdiction, so
//! cases can share one Meilisearch index.

use townhall_domain::intake::BoundingBox;
use townhall_domain::{Open311Status, Priority, Status};
use townhall_search::*;
use uuid::Uuid;

use crate::common::*;

macro_rules! conformance_suite {
    ($($case:ident),* $(,)?) => {
        mod tantivy_engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (ix, _dir) = crate::common::tantivy().await;
                    super::$case(&ix).await;
                    ix.shutdown().await.unwrap();
                }
            )*
        }

        #[cfg(meilisearch_tests)]
        mod meilisearch_engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let ix = crate::common::meilisearch().await;
                    super::$case(&ix).await;
                }
            )*
        }
    };
}

conformance_suite!(
    finds_text_with_typos_stems_accents_and_prefixes,
    every_word_must_match,
    ranks_exact_matches_before_typos,
    filters_by_status_service_department_and_priority,
    filters_by_date_ranges,
    filters_by_bounding_box_and_radius,
    sorts_by_date_and_distance,
    counts_facets_over_every_match,
    pages_with_cursors,
    highlights_matching_words,
    updates_replace_and_deletes_remove,
    public_viewers_cannot_find_private_fields_or_requests,
    staff_search_private_fields_of_their_departments_only,
    residents_see_their_own_requests,
    address_sensitive_requests_are_approximate_for_others,
    finds_likely_duplicates,
    rejects_invalid_queries,
    agrees_with_a_scan_of_every_document,
);

#[cfg(not(meilisearch_tests))]
#[test]
fn meilisearch_engine_skipped_set_meilisearch_url_to_run_it() {
    eprintln!("SKIPPED: the Meilisearch conformance suite (MEILISEARCH_URL is not set)");
}

async fn finds_text_with_typos_stems_accents_and_prefixes(ix: &SearchIndex) {
    let j = jurisdiction("text");
    let a = described(&j, "Deep pothole on Elm Street near the school");
    let b = described(&j, "Baches en la Cállé Mayor, junto al mercado");
    let c = described(&j, "Streetlights out on Oak Avenue");
    let d = described(&j, "Graffiti on the wall of the library");
    put(ix, &[a.clone(), b.clone(), c.clone(), d.clone()]).await;
    let p = Viewer::Public;
    for (q, want) in [
        ("pothole", a.id),
        ("Potholes", a.id),
        ("schol", a.id),  // a typo
        ("libary", d.id), // a typo
        ("bache", b.id),  // Spanish plural
        ("calle", b.id),  // accents folded
        ("CALLE MAYOR", b.id),
        ("mercados", b.id),
        ("streetlight", c.id),     // English plural
        ("graff", d.id),           // prefix of the last word
        ("the pothole", a.id),     // stop words dropped
        ("2026-000001 elm", a.id), // tracking number
    ] {
        assert_eq!(text_ids(ix, &p, &j, q).await, vec![want], "query {q:?}");
    }
    assert!(text_ids(ix, &p, &j, "zebra").await.is_empty());
    // A query of stop words alone matches like no query.
    assert_eq!(run(ix, &p, SearchQuery::new(&j).text("the")).await.total, 4);
}

async fn every_word_must_match(ix: &SearchIndex) {
    let j = jurisdiction("words");
    let a = described(&j, "Pothole on Elm Street");
    let b = described(&j, "Pothole on Oak Avenue");
    put(ix, &[a.clone(), b.clone()]).await;
    let p = Viewer::Public;
    assert_eq!(sorted(text_ids(ix, &p, &j, "pothole").await), sorted(vec![a.id, b.id]));
    assert_eq!(text_ids(ix, &p, &j, "pothole elm ").await, vec![a.id]);
    assert!(text_ids(ix, &p, &j, "pothole library ").await.is_empty());
}

async fn ranks_exact_matches_before_typos(ix: &SearchIndex) {
    let j = jurisdiction("rank");
    let typo = described(&j, "Reported a pothle near the bridge");
    let exact = described(&j, "Reported a pothole near the bridge");
    put(ix, &[typo.clone(), exact.clone()]).await;
    let got = text_ids(ix, &Viewer::Public, &j, "pothole ").await;
    assert_eq!(got, vec![exact.id, typo.id]);
    let r = run(ix, &Viewer::Public, SearchQuery::new(&j).text("pothole ")).await;
    assert!(r.hits.iter().all(|h| h.score.is_some()));
}

async fn filters_by_status_service_department_and_priority(ix: &SearchIndex) {
    let j = jurisdiction("filters");
    let open = doc(&j);
    let fixed = SearchDocument {
        status: Status::Fixed,
        ..doc(&j)
    };
    let in_progress = SearchDocument {
        status: Status::InProgress,
        service_code: "graffiti".into(),
        service_name: "Graffiti".into(),
        department_code: Some("parks".into()),
        priority: Priority::High,
        ..doc(&j)
    };
    put(ix, &[open.clone(), fixed.clone(), in_progress.clone()]).await;
    let p = Viewer::Public;
    let with = |filter: SearchFilter| SearchQuery::new(&j).filter(filter);
    let got = ids(
        ix,
        &p,
        with(SearchFilter {
            statuses: vec![Status::Fixed, Status::InProgress],
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(sorted(got), sorted(vec![fixed.id, in_progress.id]));
    let got = ids(
        ix,
        &p,
        with(SearchFilter {
            open311: Some(Open311Status::Open),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(sorted(got), sorted(vec![open.id, in_progress.id]));
    let got = ids(
        ix,
        &p,
        with(SearchFilter {
            open311: Some(Open311Status::Closed),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(got, vec![fixed.id]);
    let got = ids(
        ix,
        &p,
        with(SearchFilter {
            service_codes: vec!["graffiti".into()],
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(got, vec![in_progress.id]);
    let got = ids(
        ix,
        &p,
        with(SearchFilter {
            department_codes: vec!["streets".into()],
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(sorted(got), sorted(vec![open.id, fixed.id]));
    let got = ids(
        ix,
        &p,
        with(SearchFilter {
            priorities: vec![Priority::High, Priority::Critical],
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(got, vec![in_progress.id]);
    // Every filter must hold.
    let got = ids(
        ix,
        &p,
        with(SearchFilter {
            department_codes: vec!["streets".into()],
            open311: Some(Open311Status::Open),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(got, vec![open.id]);
    // Another jurisdiction sees none of them.
    assert_eq!(
        run(ix, &Viewer::Admin, SearchQuery::new(jurisdiction("other")))
            .await
            .total,
        0
    );
}

async fn filters_by_date_ranges(ix: &SearchIndex) {
    let j = jurisdiction("dates");
    let old = SearchDocument {
        requested_at: t0() - days(30),
        updated_at: t0() - days(1),
        ..doc(&j)
    };
    let new = SearchDocument {
        requested_at: t0() - days(2),
        updated_at: t0() - days(2),
        ..doc(&j)
    };
    put(ix, &[old.clone(), new.clone()]).await;
    let p = Viewer::Public;
    let q = |filter: SearchFilter| SearchQuery::new(&j).filter(filter);
    let range = |from, to| DateRange { from, to };
    let got = ids(
        ix,
        &p,
        q(SearchFilter {
            requested: range(Some(t0() - days(7)), None),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(got, vec![new.id]);
    let got = ids(
        ix,
        &p,
        q(SearchFilter {
            requested: range(None, Some(t0() - days(7))),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(got, vec![old.id]);
    // Bounds are inclusive.
    let got = ids(
        ix,
        &p,
        q(SearchFilter {
            requested: range(Some(t0() - days(2)), Some(t0() - days(2))),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(got, vec![new.id]);
    let got = ids(
        ix,
        &p,
        q(SearchFilter {
            updated: range(Some(t0() - days(1)), None),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(got, vec![old.id]);
}

async fn filters_by_bounding_box_and_radius(ix: &SearchIndex) {
    let j = jurisdiction("geo");
    let sol = doc(&j); // Puerta del Sol
    let retiro = SearchDocument {
        lat: Some(40.4153),
        long: Some(-3.6845), // ~1.6 km east
        ..doc(&j)
    };
    let barcelona = SearchDocument {
        lat: Some(41.3874),
        long: Some(2.1686),
        ..doc(&j)
    };
    let nowhere = SearchDocument {
        lat: None,
        long: None,
        ..doc(&j)
    };
    put(ix, &[sol.clone(), retiro.clone(), barcelona.clone(), nowhere.clone()]).await;
    let p = Viewer::Public;
    let q = |filter: SearchFilter| SearchQuery::new(&j).filter(filter);
    let madrid = BoundingBox {
        min_lat: 40.3,
        min_long: -3.9,
        max_lat: 40.6,
        max_long: -3.5,
    };
    let got = ids(
        ix,
        &p,
        q(SearchFilter {
            bbox: Some(madrid),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(sorted(got), sorted(vec![sol.id, retiro.id]));
    let near = |radius_m| SearchFilter {
        near: Some(Near {
            lat: 40.4168,
            long: -3.7038,
            radius_m,
        }),
        ..Default::default()
    };
    assert_eq!(ids(ix, &p, q(near(500.0))).await, vec![sol.id]);
    let got = ids(ix, &p, q(near(2_500.0))).await;
    assert_eq!(sorted(got), sorted(vec![sol.id, retiro.id]));
    let r = run(ix, &p, q(near(2_500.0))).await;
    let d = r
        .hits
        .iter()
        .find(|h| h.id == retiro.id)
        .and_then(|h| h.distance_m)
        .unwrap();
    assert!((1_500.0..1_800.0).contains(&d), "{d}");
}

async fn sorts_by_date_and_distance(ix: &SearchIndex) {
    let j = jurisdiction("sort");
    let first = SearchDocument {
        requested_at: t0() - days(3),
        updated_at: t0(),
        lat: Some(40.50),
        ..doc(&j)
    };
    let second = SearchDocument {
        requested_at: t0() - days(2),
        updated_at: t0() - days(2),
        lat: Some(40.42),
        ..doc(&j)
    };
    let third = SearchDocument {
        requested_at: t0() - days(1),
        updated_at: t0() - days(1),
        lat: Some(40.45),
        ..doc(&j)
    };
    let unlocated = SearchDocument {
        requested_at: t0() - days(4),
        updated_at: t0() - days(4),
        lat: None,
        long: None,
        ..doc(&j)
    };
    put(ix, &[first.clone(), second.clone(), third.clone(), unlocated.clone()]).await;
    let p = Viewer::Public;
    let by = |s| SearchQuery::new(&j).sort(s);
    assert_eq!(
        ids(ix, &p, by(SortOrder::Newest)).await,
        vec![third.id, second.id, first.id, unlocated.id]
    );
    assert_eq!(
        ids(ix, &p, by(SortOrder::Oldest)).await,
        vec![unlocated.id, first.id, second.id, third.id]
    );
    assert_eq!(
        ids(ix, &p, by(SortOrder::RecentlyUpdated)).await,
        vec![first.id, third.id, second.id, unlocated.id]
    );
    // Relevance without text is newest first.
    assert_eq!(
        ids(ix, &p, by(SortOrder::Relevance)).await,
        vec![third.id, second.id, first.id, unlocated.id]
    );
    let near = SortOrder::Distance {
        lat: 40.4168,
        long: -3.7038,
    };
    assert_eq!(
        ids(ix, &p, by(near)).await,
        vec![second.id, third.id, first.id, unlocated.id]
    );
    let r = run(ix, &p, by(near)).await;
    assert!(r.hits[0].distance_m.unwrap() < r.hits[1].distance_m.unwrap());
}

async fn counts_facets_over_every_match(ix: &SearchIndex) {
    let j = jurisdiction("facets");
    let mut docs = Vec::new();
    for (status, service, dept) in [
        (Status::Open, "pothole", "streets"),
        (Status::Open, "pothole", "streets"),
        (Status::Fixed, "pothole", "streets"),
        (Status::Open, "graffiti", "parks"),
        (Status::Closed, "graffiti", "parks"),
    ] {
        docs.push(SearchDocument {
            status,
            service_code: service.into(),
            department_code: Some(dept.into()),
            description: Some("broken thing".into()),
            ..doc(&j)
        });
    }
    docs.push(SearchDocument {
        department_code: None,
        description: Some("something else entirely".into()),
        ..doc(&j)
    });
    put(ix, &docs).await;
    let p = Viewer::Public;
    let r = run(ix, &p, SearchQuery::new(&j).text("broken").first(1)).await;
    assert_eq!(r.total, 5);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(count(&r.facets.status, "open"), 3);
    assert_eq!(count(&r.facets.status, "fixed"), 1);
    assert_eq!(count(&r.facets.status, "closed"), 1);
    assert_eq!(count(&r.facets.service, "pothole"), 3);
    assert_eq!(count(&r.facets.service, "graffiti"), 2);
    assert_eq!(count(&r.facets.department, "streets"), 3);
    assert_eq!(count(&r.facets.department, "parks"), 2);
    // Most frequent first.
    assert_eq!(r.facets.status[0].value, "open");
    // Facets follow the filters.
    let q = SearchQuery::new(&j).text("broken").filter(SearchFilter {
        service_codes: vec!["graffiti".into()],
        ..Default::default()
    });
    let r = run(ix, &p, q).await;
    assert_eq!(r.total, 2);
    assert_eq!(count(&r.facets.service, "pothole"), 0);
    assert_eq!(count(&r.facets.status, "open"), 1);
    // Requests without a department are counted, but not in a department bucket.
    let r = run(ix, &p, SearchQuery::new(&j)).await;
    assert_eq!(r.total, 6);
    assert_eq!(r.facets.department.iter().map(|c| c.count).sum::<u64>(), 5);
}

async fn pages_with_cursors(ix: &SearchIndex) {
    let j = jurisdiction("pages");
    let docs: Vec<SearchDocument> = (0..5)
        .map(|i| SearchDocument {
            requested_at: t0() - days(i),
            ..doc(&j)
        })
        .collect();
    put(ix, &docs).await;
    let p = Viewer::Public;
    let mut seen = Vec::new();
    let mut q = SearchQuery::new(&j).sort(SortOrder::Newest).first(2);
    let mut pages = 0;
    loop {
        let r = run(ix, &p, q.clone()).await;
        assert_eq!(r.total, 5);
        pages += 1;
        seen.extend(r.hits.iter().map(|h| h.id));
        if !r.page_info.has_next_page {
            break;
        }
        q = q.after(r.page_info.end_cursor.unwrap());
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, docs.iter().map(|d| d.id).collect::<Vec<_>>());
    // A hit's own cursor continues right after it.
    let r = run(ix, &p, SearchQuery::new(&j).sort(SortOrder::Newest).first(5)).await;
    let after_second = SearchQuery::new(&j)
        .sort(SortOrder::Newest)
        .first(1)
        .after(r.hits[1].cursor.clone());
    assert_eq!(ids(ix, &p, after_second).await, vec![docs[2].id]);
}

async fn highlights_matching_words(ix: &SearchIndex) {
    let j = jurisdiction("highlight");
    let a = SearchDocument {
        description: Some("Two deep potholes <next> to the school".into()),
        public_notes: vec!["Crew sent to fill the pothole".into()],
        ..doc(&j)
    };
    put(ix, std::slice::from_ref(&a)).await;
    let r = run(ix, &Viewer::Public, SearchQuery::new(&j).text("pothole")).await;
    let hit = &r.hits[0];
    let desc = hit
        .snippets
        .iter()
        .find(|s| s.field == SnippetField::Description)
        .unwrap();
    assert_eq!(desc.highlighted(), vec!["potholes"]);
    assert_eq!(
        desc.to_html(),
        "Two deep <mark>potholes</mark> &lt;next&gt; to the school"
    );
    let note = hit
        .snippets
        .iter()
        .find(|s| s.field == SnippetField::PublicNote)
        .unwrap();
    assert_eq!(note.highlighted(), vec!["pothole"]);
    // Without text there is nothing to highlight.
    let r = run(ix, &Viewer::Public, SearchQuery::new(&j)).await;
    assert!(r.hits[0].snippets.is_empty());
}

async fn updates_replace_and_deletes_remove(ix: &SearchIndex) {
    let j = jurisdiction("update");
    let a = described(&j, "Fallen tree blocking the road");
    put(ix, std::slice::from_ref(&a)).await;
    let fixed = SearchDocument {
        status: Status::Fixed,
        description: Some("Fallen branch blocking the road".into()),
        ..a.clone()
    };
    put(ix, std::slice::from_ref(&fixed)).await;
    let p = Viewer::Public;
    let r = run(ix, &p, SearchQuery::new(&j)).await;
    assert_eq!(r.total, 1);
    assert_eq!(r.hits[0].status, Status::Fixed);
    assert!(text_ids(ix, &p, &j, "tree").await.is_empty());
    assert_eq!(text_ids(ix, &p, &j, "branch").await, vec![a.id]);
    ix.remove(&[a.id]).await.unwrap();
    ix.flush().await.unwrap();
    assert_eq!(run(ix, &p, SearchQuery::new(&j)).await.total, 0);
}

/// Requests whose private fields must stay private.
struct Secrets {
    visible: SearchDocument,
    hidden: SearchDocument,
    other_department: SearchDocument,
    sensitive: SearchDocument,
}

fn secrets(j: &str) -> Secrets {
    Secrets {
        visible: SearchDocument {
            description: Some("Broken streetlight".into()),
            internal_notes: vec!["Contractor Xylophonics owes us a bulb".into()],
            reporter_name: Some("Zanzibar Quill".into()),
            reporter_email: Some("zquill@example.org".into()),
            reporter_phone: Some("+1 555 0199".into()),
            reporter_user_id: Some(Uuid::from_u128(7)),
            ..doc(j)
        },
        hidden: SearchDocument {
            public: false,
            service_code: "welfare-check".into(),
            service_name: "Welfare check".into(),
            status: Status::Investigating,
            description: Some("Neighbour worried about sinkhole".into()),
            reporter_user_id: Some(Uuid::from_u128(8)),
            ..doc(j)
        },
        other_department: SearchDocument {
            department_code: Some("parks".into()),
            service_code: "tree".into(),
            description: Some("Dead tree".into()),
            internal_notes: vec!["Quarantined for beetle infestation".into()],
            ..doc(j)
        },
        sensitive: SearchDocument {
            address_sensitive: true,
            service_code: "noise".into(),
            description: Some("Loud party every night".into()),
            address: Some("742 Evergreen Terrace".into()),
            lat: Some(40.41234),
            long: Some(-3.70111),
            ..doc(j)
        },
    }
}

async fn public_viewers_cannot_find_private_fields_or_requests(ix: &SearchIndex) {
    let j = jurisdiction("privacy");
    let s = secrets(&j);
    put(
        ix,
        &[
            s.visible.clone(),
            s.hidden.clone(),
            s.other_department.clone(),
            s.sensitive.clone(),
        ],
    )
    .await;
    let stranger = Viewer::Resident {
        user_id: Uuid::from_u128(99),
    };
    for viewer in [Viewer::Public, stranger] {
        for secret in [
            "xylophonics",
            "zanzibar",
            "quill",
            "zquill@example.org",
            "zquill",
            "555 0199",
            "0199",
            "beetle",
            "quarantined",
            "evergreen",
            "742",
            "sinkhole",
            "welfare",
            "neighbour",
        ] {
            let r = run(ix, &viewer, SearchQuery::new(&j).text(secret)).await;
            assert_eq!(r.total, 0, "{viewer:?} found {secret:?}");
            assert!(r.hits.is_empty());
            assert_eq!(r.facets, Facets::default(), "{viewer:?} got facets for {secret:?}");
        }
        // Totals and facets of everything count only public requests.
        let r = run(ix, &viewer, SearchQuery::new(&j)).await;
        assert_eq!(r.total, 3);
        assert_eq!(count(&r.facets.service, "welfare-check"), 0);
        assert_eq!(count(&r.facets.status, "investigating"), 0);
        assert!(!r.hits.iter().any(|h| h.id == s.hidden.id));
        // Filters cannot reveal them either.
        let q = SearchQuery::new(&j).filter(SearchFilter {
            service_codes: vec!["welfare-check".into()],
            ..Default::default()
        });
        let r = run(ix, &viewer, q).await;
        assert_eq!((r.total, r.hits.len()), (0, 0));
        // Snippets never show private fields.
        let r = run(ix, &viewer, SearchQuery::new(&j).text("streetlight")).await;
        assert_eq!(r.total, 1);
        assert!(r.hits[0].snippets.iter().all(|sn| matches!(
            sn.field,
            SnippetField::Description | SnippetField::Address | SnippetField::PublicNote
        )));
    }
    // Administrators find everything.
    for secret in [
        "xylophonics",
        "zanzibar",
        "zquill@example.org",
        "0199",
        "beetle",
        "evergreen",
        "sinkhole",
    ] {
        assert_eq!(
            run(ix, &Viewer::Admin, SearchQuery::new(&j).text(secret)).await.total,
            1,
            "{secret}"
        );
    }
    assert_eq!(run(ix, &Viewer::Admin, SearchQuery::new(&j)).await.total, 4);
}

async fn staff_search_private_fields_of_their_departments_only(ix: &SearchIndex) {
    let j = jurisdiction("staff");
    let s = secrets(&j);
    put(
        ix,
        &[
            s.visible.clone(),
            s.hidden.clone(),
            s.other_department.clone(),
            s.sensitive.clone(),
        ],
    )
    .await;
    let streets = Viewer::Staff {
        departments: vec!["streets".into()],
    };
    let parks = Viewer::Staff {
        departments: vec!["parks".into()],
    };
    // Their department's private text and requests.
    assert_eq!(text_ids(ix, &streets, &j, "xylophonics").await, vec![s.visible.id]);
    assert_eq!(
        text_ids(ix, &streets, &j, "zquill@example.org").await,
        vec![s.visible.id]
    );
    assert_eq!(text_ids(ix, &streets, &j, "sinkhole").await, vec![s.hidden.id]);
    assert_eq!(text_ids(ix, &streets, &j, "evergreen").await, vec![s.sensitive.id]);
    let r = run(ix, &streets, SearchQuery::new(&j).text("xylophonics")).await;
    assert!(
        r.hits[0]
            .snippets
            .iter()
            .any(|sn| sn.field == SnippetField::InternalNote)
    );
    // Not another department's.
    for secret in ["beetle", "quarantined"] {
        let r = run(ix, &streets, SearchQuery::new(&j).text(secret)).await;
        assert_eq!((r.total, r.facets.clone()), (0, Facets::default()), "{secret}");
    }
    // Another department sees this one's public side only.
    for secret in ["xylophonics", "zanzibar", "sinkhole", "evergreen"] {
        assert_eq!(
            run(ix, &parks, SearchQuery::new(&j).text(secret)).await.total,
            0,
            "{secret}"
        );
    }
    assert_eq!(text_ids(ix, &parks, &j, "beetle").await, vec![s.other_department.id]);
    assert_eq!(text_ids(ix, &parks, &j, "streetlight").await, vec![s.visible.id]);
    assert_eq!(run(ix, &parks, SearchQuery::new(&j)).await.total, 3);
    assert_eq!(run(ix, &streets, SearchQuery::new(&j)).await.total, 4);
    // Staff of several departments.
    let both = Viewer::Staff {
        departments: vec!["parks".into(), "streets".into()],
    };
    assert_eq!(run(ix, &both, SearchQuery::new(&j).text("beetle")).await.total, 1);
    assert_eq!(run(ix, &both, SearchQuery::new(&j).text("xylophonics")).await.total, 1);
}

async fn residents_see_their_own_requests(ix: &SearchIndex) {
    let j = jurisdiction("resident");
    let s = secrets(&j);
    put(
        ix,
        &[
            s.visible.clone(),
            s.hidden.clone(),
            s.other_department.clone(),
            s.sensitive.clone(),
        ],
    )
    .await;
    let owner = Viewer::Resident {
        user_id: Uuid::from_u128(8),
    };
    assert_eq!(text_ids(ix, &owner, &j, "sinkhole").await, vec![s.hidden.id]);
    let r = run(ix, &owner, SearchQuery::new(&j)).await;
    assert_eq!(r.total, 4);
    assert_eq!(count(&r.facets.service, "welfare-check"), 1);
    // Still public text only, even on their own requests.
    let reporter = Viewer::Resident {
        user_id: Uuid::from_u128(7),
    };
    assert_eq!(
        run(ix, &reporter, SearchQuery::new(&j).text("xylophonics")).await.total,
        0
    );
}

async fn address_sensitive_requests_are_approximate_for_others(ix: &SearchIndex) {
    let j = jurisdiction("sensitive");
    let s = secrets(&j);
    put(ix, std::slice::from_ref(&s.sensitive)).await;
    let r = run(ix, &Viewer::Public, SearchQuery::new(&j).text("party")).await;
    let hit = &r.hits[0];
    assert_eq!(hit.address, None);
    assert!(hit.location_is_approximate);
    assert_ne!((hit.lat, hit.long), (s.sensitive.lat, s.sensitive.long));
    assert!(townhall_search::geo::distance_m(hit.lat.unwrap(), hit.long.unwrap(), 40.41234, -3.70111) < 400.0);
    // A tiny radius around the exact point does not find it.
    let q = SearchQuery::new(&j).filter(SearchFilter {
        near: Some(Near {
            lat: 40.41234,
            long: -3.70111,
            radius_m: 20.0,
        }),
        ..Default::default()
    });
    assert_eq!(run(ix, &Viewer::Public, q).await.total, 0);
    // Staff of the department see the exact place.
    let staff = Viewer::Staff {
        departments: vec!["streets".into()],
    };
    let r = run(ix, &staff, SearchQuery::new(&j).text("party")).await;
    assert_eq!(r.hits[0].address.as_deref(), Some("742 Evergreen Terrace"));
    assert_eq!((r.hits[0].lat, r.hits[0].long), (s.sensitive.lat, s.sensitive.long));
    assert!(!r.hits[0].location_is_approximate);
}

async fn finds_likely_duplicates(ix: &SearchIndex) {
    let j = jurisdiction("dupes");
    let now = t0();
    let base = |text: &str, lat: f64| SearchDocument {
        description: Some(text.into()),
        lat: Some(lat),
        requested_at: now - days(3),
        ..doc(&j)
    };
    let same = base("Huge pothole in front of the bakery", 40.4169);
    let nearby_other_words = base("Road surface broken", 40.4170);
    let closed = SearchDocument {
        status: Status::Fixed,
        ..base("Huge pothole in front of the bakery", 40.4168)
    };
    let far = base("Huge pothole in front of the bakery", 40.4300);
    let old = SearchDocument {
        requested_at: now - days(90),
        ..base("Huge pothole in front of the bakery", 40.4168)
    };
    let other_service = SearchDocument {
        service_code: "graffiti".into(),
        ..base("Huge pothole in front of the bakery", 40.4168)
    };
    let private = SearchDocument {
        public: false,
        ..base("Huge pothole in front of the bakery", 40.4168)
    };
    put(
        ix,
        &[
            same.clone(),
            nearby_other_words.clone(),
            closed,
            far,
            old,
            other_service,
            private.clone(),
        ],
    )
    .await;
    let q = DuplicateQuery::new(
        &j,
        "pothole",
        40.4168,
        -3.7038,
        Some("pothole in front of the bakery".into()),
        now,
    );
    let got = ix.possible_duplicates(&Viewer::Public, &q).await.unwrap();
    let got_ids: Vec<Uuid> = got.iter().map(|c| c.request.id).collect();
    assert_eq!(got_ids, vec![same.id, nearby_other_words.id]);
    assert!(got[0].text_similarity > 0.99, "{}", got[0].text_similarity);
    assert_eq!(got[1].text_similarity, 0.0);
    assert!(got[0].distance_m < 20.0);
    // Staff of the department also see the private one.
    let staff = Viewer::Staff {
        departments: vec!["streets".into()],
    };
    let got = ix.possible_duplicates(&staff, &q).await.unwrap();
    assert!(got.iter().any(|c| c.request.id == private.id));
    // A wider radius reaches further.
    let wide = DuplicateQuery {
        radius_m: 2_000.0,
        limit: 10,
        ..q.clone()
    };
    assert_eq!(ix.possible_duplicates(&Viewer::Public, &wide).await.unwrap().len(), 3);
}

async fn rejects_invalid_queries(ix: &SearchIndex) {
    let j = jurisdiction("invalid");
    let p = Viewer::Public;
    let code = |r: Result<SearchResults, SearchError>| r.unwrap_err().code();
    assert_eq!(
        code(ix.search(&p, &SearchQuery::new(&j).first(101)).await),
        "PAGE_TOO_LARGE"
    );
    assert_eq!(
        code(ix.search(&p, &SearchQuery::new(&j).after("nonsense")).await),
        "INVALID_CURSOR"
    );
    assert_eq!(
        code(ix.search(&p, &SearchQuery::new("")).await),
        "JURISDICTION_REQUIRED"
    );
    assert_eq!(
        code(ix.search(&p, &SearchQuery::new(&j).text("x".repeat(501))).await),
        "QUERY_TOO_LONG"
    );
    let bad_box = SearchFilter {
        bbox: Some(BoundingBox {
            min_lat: 41.0,
            min_long: 0.0,
            max_lat: 40.0,
            max_long: 1.0,
        }),
        ..Default::default()
    };
    assert_eq!(
        code(ix.search(&p, &SearchQuery::new(&j).filter(bad_box)).await),
        "INVALID_BOUNDING_BOX"
    );
    let bad_radius = SearchFilter {
        near: Some(Near {
            lat: 40.0,
            long: 0.0,
            radius_m: 0.0,
        }),
        ..Default::default()
    };
    assert_eq!(
        code(ix.search(&p, &SearchQuery::new(&j).filter(bad_radius)).await),
        "INVALID_RADIUS"
    );
    let backwards = SearchFilter {
        requested: DateRange {
            from: Some(t0()),
            to: Some(t0() - days(1)),
        },
        ..Default::default()
    };
    assert_eq!(
        code(ix.search(&p, &SearchQuery::new(&j).filter(backwards)).await),
        "INVALID_DATE_RANGE"
    );
}

/// A fixed pseudo-random sequence (splitmix64).
struct Seq(u64);

impl Seq {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// What the index must answer, computed by looking at every document.
fn expected(docs: &[SearchDocument], viewer: &Viewer, text: &str, f: &SearchFilter) -> Vec<SearchDocument> {
    let words = townhall_search::text::query_words(text);
    docs.iter()
        .filter(|d| match viewer {
            Viewer::Admin => true,
            Viewer::Public => d.public,
            Viewer::Resident { user_id } => d.public || d.reporter_user_id == Some(*user_id),
            Viewer::Staff { .. } => d.public || viewer.privileged_for(d.department_code.as_deref()),
        })
        .filter(|d| {
            let public = townhall_search::text::terms(&d.public_text());
            let private = if viewer.privileged_for(d.department_code.as_deref()) {
                townhall_search::text::terms(&d.private_text())
            } else {
                Vec::new()
            };
            words.iter().all(|w| {
                public
                    .iter()
                    .chain(&private)
                    .any(|t| townhall_search::text::matches(w, t))
            })
        })
        .filter(|d| f.statuses.is_empty() || f.statuses.contains(&d.status))
        .filter(|d| f.service_codes.is_empty() || f.service_codes.contains(&d.service_code))
        .filter(|d| {
            f.department_codes.is_empty()
                || d.department_code
                    .as_ref()
                    .is_some_and(|c| f.department_codes.contains(c))
        })
        .filter(|d| f.requested.from.is_none_or(|from| d.requested_at >= from))
        .filter(|d| match (f.near, d.search_point()) {
            (None, _) => true,
            (Some(n), Some((lat, long))) => townhall_search::geo::distance_m(n.lat, n.long, lat, long) <= n.radius_m,
            (Some(_), None) => false,
        })
        .cloned()
        .collect()
}

fn expected_facets(docs: &[SearchDocument]) -> Facets {
    use std::collections::BTreeMap;
    let tally = |values: Vec<String>| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for v in values {
            *m.entry(v).or_default() += 1;
        }
        let mut v: Vec<FacetCount> = m
            .into_iter()
            .map(|(value, count)| FacetCount { value, count })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        v
    };
    Facets {
        status: tally(docs.iter().map(|d| d.status.as_str().to_owned()).collect()),
        service: tally(docs.iter().map(|d| d.service_code.clone()).collect()),
        department: tally(docs.iter().filter_map(|d| d.department_code.clone()).collect()),
    }
}

/// Many requests, written in several batches (several segments for the
/// embedded index), against every combination of viewer, text and filter:
/// the hits, the total and the facets are exactly what a scan of every
/// document finds.
async fn agrees_with_a_scan_of_every_document(ix: &SearchIndex) {
    let j = jurisdiction("scan");
    let mut rng = Seq(7);
    let words = [
        "pothole",
        "streetlight",
        "graffiti",
        "flooding",
        "mattress",
        "hydrant",
        "sidewalk",
        "farola",
    ];
    let services = [
        ("pothole", "streets"),
        ("graffiti", "parks"),
        ("noise", "code"),
        ("tree", "parks"),
    ];
    let statuses = [Status::Open, Status::InProgress, Status::Fixed, Status::Closed];
    let users = [Uuid::from_u128(1), Uuid::from_u128(2)];
    let mut docs = Vec::new();
    for i in 0..300i64 {
        let (service, department) = *rng.pick(&services);
        let description = (0..3).map(|_| *rng.pick(&words)).collect::<Vec<_>>().join(" ");
        docs.push(SearchDocument {
            id: Uuid::now_v7(),
            service_code: service.into(),
            department_code: (rng.below(10) > 0).then(|| department.into()),
            status: *rng.pick(&statuses),
            public: rng.below(3) > 0,
            address_sensitive: service == "noise",
            reporter_user_id: (rng.below(4) == 0).then(|| *rng.pick(&users)),
            description: Some(description),
            address: Some(format!("{} {} Street", i, rng.pick(&words))),
            internal_notes: if rng.below(3) == 0 {
                vec![format!("crew {}", rng.pick(&words))]
            } else {
                vec![]
            },
            requested_at: t0() - days(i % 60),
            lat: Some(40.4168 + (rng.below(1000) as f64 - 500.0) * 0.0001),
            long: Some(-3.7038 + (rng.below(1000) as f64 - 500.0) * 0.0001),
            ..doc(&j)
        });
    }
    for batch in docs.chunks(100) {
        put(ix, batch).await;
    }
    let viewers = [
        Viewer::Public,
        Viewer::Resident { user_id: users[0] },
        Viewer::Staff {
            departments: vec!["streets".into()],
        },
        Viewer::Staff {
            departments: vec!["parks".into(), "code".into()],
        },
        Viewer::Admin,
    ];
    let texts = [
        "",
        "pothole ",
        "graffiti flooding ",
        "potholr ",
        "crew ",
        "mattress crew ",
    ];
    let filters = [
        SearchFilter::default(),
        SearchFilter {
            statuses: vec![Status::Open, Status::InProgress],
            ..Default::default()
        },
        SearchFilter {
            department_codes: vec!["parks".into()],
            service_codes: vec!["graffiti".into(), "noise".into()],
            ..Default::default()
        },
        SearchFilter {
            requested: DateRange {
                from: Some(t0() - days(20)),
                to: None,
            },
            ..Default::default()
        },
        SearchFilter {
            near: Some(Near {
                lat: 40.4168,
                long: -3.7038,
                radius_m: 2_500.0,
            }),
            ..Default::default()
        },
    ];
    for viewer in &viewers {
        for text in texts {
            for filter in &filters {
                let want = expected(&docs, viewer, text, filter);
                let q = SearchQuery::new(&j).text(text).filter(filter.clone()).first(100);
                let mut got = Vec::new();
                let mut r = run(ix, viewer, q.clone()).await;
                let (total, facets) = (r.total, r.facets.clone());
                loop {
                    got.extend(r.hits.iter().map(|h| h.id));
                    let Some(after) = r.page_info.end_cursor.clone().filter(|_| r.page_info.has_next_page) else {
                        break;
                    };
                    r = run(ix, viewer, q.clone().after(after)).await;
                }
                let case = format!("{viewer:?} {text:?} {filter:?}");
                assert_eq!(total, want.len() as u64, "{case}");
                assert_eq!(sorted(got), sorted(want.iter().map(|d| d.id).collect()), "{case}");
                assert_eq!(facets, expected_facets(&want), "{case}");
            }
        }
    }
}
