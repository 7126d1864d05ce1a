//! The write path on a real DynamoDB Local, through the ingest handler in-process.

use scan_failures_aws::dynamo::item::StateItem as _;
use std::collections::HashMap;

use ingest::handler::{Ingest, IngestError};
use integration_tests::fixtures::{self, failure};
use integration_tests::race::{all_in_flight_at_once, race, Span};
use integration_tests::{all_groups, fixed_now, fresh_store, samples};
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::event::{Operation, Origin};
use scan_failures_domain::group::GroupRecord;
use scan_failures_domain::retention::RetentionDays;
use serde_json::{json, Value};
use uuid::Uuid;

fn envelope(id: &str, time: &str, detail: Value) -> Value {
    fixtures::envelope(id, "test.producer", time, detail)
}

async fn group(store: &Store, id: &str) -> GroupRecord {
    let id = Uuid::parse_str(id).unwrap();
    store.reader().get(&id).await.unwrap().unwrap_or_else(|| panic!("group {id} not stored"))
}

fn handler(store: &Store) -> Ingest {
    Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now)
}

#[tokio::test]
async fn each_operation_and_origin_creates_a_group_and_a_success_creates_none() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let mut ids = Vec::new();
    for (i, op) in Operation::NATIVE.iter().enumerate() {
        for (j, origin) in Origin::NATIVE.iter().enumerate() {
            let image = format!("quay.io/acme/app{i}{j}:1");
            let ev = envelope(
                &format!("ev-{i}-{j}"),
                "2026-11-25T10:00:00Z",
                failure(op.as_str(), origin.as_str(), &image, "context deadline exceeded"),
            );
            let r = ingest.handle(ev).await.unwrap();
            assert_eq!(r.result, "created");
            let g = group(&store, r.group_id.as_deref().unwrap()).await;
            assert_eq!(g.op_counts, HashMap::from([(op.key().to_owned(), 1)]));
            assert_eq!(g.origin_counts, HashMap::from([(origin.as_str().to_owned(), 1)]));
            assert_eq!(g.resource_name, image);
            ids.push(g.id);
        }
    }
    let mut success = failure("image scan", "roxctl", "nginx", "");
    success["outcome"] = json!("success");
    let r = ingest.handle(envelope("ev-success", "2026-11-25T10:00:00Z", success)).await.unwrap();
    assert_eq!(r.result, "ignored_success");
    assert_eq!(all_groups(&store).await.len(), 8);
}

/// A group first seen by its tag learns its digest from a later occurrence that names one, and
/// moves to the digest a newer occurrence names (the tag pushed again); an older occurrence
/// changes nothing. `filter.resourceId` finds the group by its current digest.
#[tokio::test]
async fn a_group_first_seen_by_tag_takes_the_digest_its_latest_occurrence_names() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let (d1, d2) = (format!("sha256:{}", "a1".repeat(32)), format!("sha256:{}", "b2".repeat(32)));
    let at = |minute: u32| format!("2026-11-25T10:{minute:02}:00Z");
    let send = |id: &'static str, minute: u32, digest: Option<&str>| {
        let mut detail = fixtures::failure_at("image scan", "roxctl", "quay.io/acme/web:1", "i/o timeout", &at(minute));
        if let Some(d) = digest {
            detail["image"]["digest"] = json!(d);
        }
        ingest.handle(envelope(id, &at(minute), detail))
    };
    let id = send("dg-1", 1, None).await.unwrap().group_id.unwrap();
    assert_eq!(group(&store, &id).await.resource_id, None);
    send("dg-2", 2, Some(&d1)).await.unwrap();
    assert_eq!(group(&store, &id).await.resource_id.as_deref(), Some(d1.as_str()));
    send("dg-3", 4, Some(&d2)).await.unwrap();
    send("dg-4", 3, Some(&d1)).await.unwrap();
    assert_eq!(group(&store, &id).await.resource_id.as_deref(), Some(d2.as_str()));
    let found = |digest: &str| {
        let req = scan_failures_domain::query::ListRequest {
            filters: scan_failures_domain::query::Filters {
                resource_id: vec![digest.to_owned()],
                ..Default::default()
            },
            page: scan_failures_domain::query::Page::default(),
        };
        let store = store.clone();
        async move {
            let page = store.reader().list(&req, fixed_now(), RetentionDays::default()).await.unwrap();
            page.groups.into_iter().map(|g| g.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(found(&d2).await, [id]);
    assert_eq!(found(&d1).await, Vec::<String>::new());
}

#[tokio::test]
async fn identical_failures_in_shuffled_order_make_one_group_spanning_earliest_to_latest() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    // 50 minutes, visited in a fixed pseudo-random order (a permutation by a step coprime to 50).
    let order: Vec<u32> = (0..50).map(|i| (i * 17 + 11) % 50).collect();
    let mut group_id = String::new();
    for (n, minute) in order.iter().enumerate() {
        let t = format!("2026-11-25T{:02}:{:02}:00Z", 8 + minute / 60, minute % 60);
        let detail = json!({"operation": "image scan", "origin": "api", "image": {"name": "nginx"},
            "error": {"message": format!("scan {n}: context deadline exceeded")}, "occurredAt": t});
        let r = ingest.handle(envelope(&format!("shuffled-{n}"), "2026-11-25T12:00:00Z", detail)).await.unwrap();
        group_id = r.group_id.unwrap();
    }
    let g = group(&store, &group_id).await;
    assert_eq!(g.num_occurrences, 50);
    assert_eq!(g.created_at, "2026-11-25T08:00:00.000Z");
    assert_eq!(g.last_occurred_at, "2026-11-25T08:49:00.000Z");
    // The message kept is the one of the latest occurrence (minute 49 was sent as number n).
    let n_of_latest = order.iter().position(|m| *m == 49).unwrap();
    assert_eq!(g.message, format!("scan {n_of_latest}: context deadline exceeded"));
    assert_eq!(all_groups(&store).await.len(), 1);
}

#[tokio::test]
async fn the_same_envelope_delivered_three_times_counts_once() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let ev = envelope(
        "redelivered",
        "2026-11-25T10:00:00Z",
        failure("image check", "roxctl", "alpine", "no image scanners are integrated"),
    );
    let results: Vec<&str> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(ingest.handle(ev.clone()).await.unwrap().result);
        }
        v
    };
    assert_eq!(results, ["created", "duplicate", "duplicate"]);
    let groups = all_groups(&store).await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].num_occurrences, 1);
    assert_eq!(groups[0].reason, "NO_SCANNER_INTEGRATION");
}

/// Eight invokers, each with its own client as separate Lambda instances have, released together
/// for each of 100 rounds (one event each per round, the 8 of a round on one of 5 groups): most
/// rounds have all 8 in flight at once, and every group counts exactly what it was sent, its
/// first round creating it once; and a round of 8 creators of one new group all in flight at
/// once creates it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_invokers_of_100_events_over_5_groups_count_exactly_800() {
    const ROUNDS: usize = 100;
    let store = fresh_store().await;
    let own: Vec<Store> = (0..8)
        .map(|_| Store::new(integration_tests::dynamodb_client(integration_tests::dynamodb_endpoint()), store.table()))
        .collect();
    let (mut overlapped, mut results) = (0, Vec::new());
    for n in 0..ROUNDS {
        let raced = race(8, |invoker| {
            let ingest = Ingest::new(own[invoker].clone(), RetentionDays::default()).with_clock(fixed_now);
            let image = format!("quay.io/acme/svc{}:1", n % 5);
            let t = format!("2026-11-25T10:{:02}:{:02}Z", n % 60, invoker);
            let detail = json!({"operation": "image scan", "origin": "api", "image": {"name": image},
                "cluster": format!("cluster-{invoker}"), "error": {"message": "context deadline exceeded"}, "occurredAt": t});
            async move { ingest.handle(envelope(&format!("c-{invoker}-{n}"), "2026-11-25T11:00:00Z", detail)).await.unwrap().result }
        })
        .await;
        let spans: Vec<Span> = raced.iter().map(|(_, span)| *span).collect();
        overlapped += usize::from(all_in_flight_at_once(&spans));
        results.extend(raced.into_iter().map(|(result, _)| result));
    }
    println!("RACE eight_invokers: {overlapped} of {ROUNDS} rounds had all 8 in flight at once");
    assert!(overlapped * 2 > ROUNDS, "only {overlapped} of {ROUNDS} rounds had their 8 invokers in flight at once");
    let created = results.iter().filter(|r| **r == "created").count();
    assert_eq!((created, results.len() - created), (5, 795));
    let groups = all_groups(&store).await;
    assert_eq!(groups.len(), 5);
    assert_eq!(groups.iter().map(|g| g.num_occurrences).sum::<u64>(), 800);
    for g in &groups {
        assert_eq!(g.num_occurrences, 160);
        assert_eq!(g.clusters.len(), 8);
        assert_eq!(g.op_counts["image_scan"], 160);
    }

    // The overlap above is over all rounds; the race to create a group is the first round's of
    // each. So it is run again on a fresh image until one round has all 8 in flight at once (at
    // most 5 tries), and that round creates the group exactly once.
    let fresh = fresh_store().await;
    let own: Vec<Store> = (0..8)
        .map(|_| Store::new(integration_tests::dynamodb_client(integration_tests::dynamodb_endpoint()), fresh.table()))
        .collect();
    let mut proven = None;
    for attempt in 0..5 {
        let raced = race(8, |invoker| {
            let ingest = Ingest::new(own[invoker].clone(), RetentionDays::default()).with_clock(fixed_now);
            let detail = json!({"operation": "image scan", "origin": "api", "image": {"name": format!("quay.io/acme/new{attempt}:1")},
                "error": {"message": "context deadline exceeded"}, "occurredAt": format!("2026-11-25T10:00:{invoker:02}Z")});
            async move { ingest.handle(envelope(&format!("n-{invoker}-{attempt}"), "2026-11-25T11:00:00Z", detail)).await.unwrap().result }
        })
        .await;
        let spans: Vec<Span> = raced.iter().map(|(_, span)| *span).collect();
        if all_in_flight_at_once(&spans) {
            proven = Some(raced.into_iter().map(|(result, _)| result).collect::<Vec<_>>());
            break;
        }
    }
    let results = proven.expect("no try had all 8 creators of one group in flight at once");
    assert_eq!(results.iter().filter(|r| **r == "created").count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| **r == "updated").count(), 7, "{results:?}");
    let groups = all_groups(&fresh).await;
    assert_eq!(groups.iter().map(|g| g.num_occurrences).collect::<Vec<_>>(), vec![8; groups.len()]);
}

/// Sixteen invokers with notification thresholds on, all on one group and released together
/// for 20 rounds, a round's occurrences the older the later its invoker (so most writes meet a
/// newer one and are planned again from the stored item): every write lands and the count is
/// exact, each threshold crossed once. Before, a re-plan asserted the stored count exactly,
/// which every other write to the group made stale, and writes could run out of their attempts
/// (`Contention`), failing the event to its retries and dead-letter queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_invokers_on_one_group_with_thresholds_all_land_and_count_exactly() {
    const ROUNDS: usize = 20;
    const INVOKERS: usize = 16;
    let store = fresh_store().await;
    let own: Vec<Store> = (0..INVOKERS)
        .map(|_| Store::new(integration_tests::dynamodb_client(integration_tests::dynamodb_endpoint()), store.table()))
        .collect();
    let (mut overlapped, mut failed, mut landed) = (0, Vec::new(), 0);
    for n in 0..ROUNDS {
        let raced = race(INVOKERS, |invoker| {
            let ingest = Ingest::new(own[invoker].clone(), RetentionDays::default())
                .with_transitions(vec![10, 100, 1000])
                .with_clock(fixed_now);
            let t = format!("2026-11-25T10:{n:02}:{:02}Z", 59 - invoker);
            let detail = json!({"operation": "image scan", "origin": "api", "image": {"name": "quay.io/acme/storm:1"},
                "error": {"message": "context deadline exceeded"}, "occurredAt": t});
            async move {
                ingest
                    .handle(envelope(&format!("s-{invoker}-{n}"), "2026-11-25T11:00:00Z", detail))
                    .await
                    .map(|r| r.result)
            }
        })
        .await;
        let spans: Vec<Span> = raced.iter().map(|(_, span)| *span).collect();
        overlapped += usize::from(all_in_flight_at_once(&spans));
        for (result, _) in raced {
            match result {
                Ok(_) => landed += 1,
                Err(e) => failed.push(scan_failures_domain::text::error_chain(&e)),
            }
        }
    }
    println!("RACE sixteen_invokers: {overlapped} of {ROUNDS} rounds had all {INVOKERS} in flight at once");
    assert!(overlapped * 2 > ROUNDS, "only {overlapped} of {ROUNDS} rounds had their invokers in flight at once");
    assert!(
        failed.is_empty(),
        "{} of {} writes failed: {:?}",
        failed.len(),
        ROUNDS * INVOKERS,
        &failed[..failed.len().min(3)]
    );
    assert_eq!(landed, ROUNDS * INVOKERS);
    let groups = all_groups(&store).await;
    assert_eq!(groups.iter().map(|g| g.num_occurrences).collect::<Vec<_>>(), vec![(ROUNDS * INVOKERS) as u64]);
    let mut crossings: Vec<(String, String, Option<u64>)> = integration_tests::pending_notifications(&store)
        .await
        .into_iter()
        .map(|(kind, d)| (kind, d["transition"].as_str().unwrap_or_default().to_owned(), d["threshold"].as_u64()))
        .collect();
    crossings.sort_by_key(|c| c.2);
    use scan_failures_domain::group::notification::{OPENED, THRESHOLD_CROSSED};
    let expected = |t: &str, n| (if t == "opened" { OPENED } else { THRESHOLD_CROSSED }.to_owned(), t.to_owned(), n);
    assert_eq!(
        crossings,
        [expected("opened", None), expected("threshold_crossed", Some(10)), expected("threshold_crossed", Some(100))],
        "each once"
    );
}

#[tokio::test]
async fn expires_at_is_last_occurrence_plus_retention_days() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::new(7).unwrap()).with_clock(fixed_now);
    let mut detail = failure("image scan", "api", "nginx", "context deadline exceeded");
    detail["occurredAt"] = json!("2026-11-20T06:00:00Z");
    let r = ingest.handle(envelope("ttl-1", "2026-11-20T06:00:05Z", detail.clone())).await.unwrap();
    detail["occurredAt"] = json!("2026-11-21T06:00:00Z");
    ingest.handle(envelope("ttl-2", "2026-11-21T06:00:05Z", detail)).await.unwrap();
    let g = group(&store, r.group_id.as_deref().unwrap()).await;
    assert_eq!(g.last_occurred_at, "2026-11-21T06:00:00.000Z");
    // 2026-11-28T06:00:00Z
    assert_eq!(g.expires_at, 1_795_845_600);
}

#[tokio::test]
async fn sets_keep_the_20_most_recent_values_and_drop_the_oldest() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let mut group_id = String::new();
    for n in 0..25 {
        let mut d = failure("image scan", "api", "nginx", "context deadline exceeded");
        d["cluster"] = json!(format!("cluster-{n:02}"));
        d["occurredAt"] = json!(format!("2026-11-25T10:{n:02}:00Z"));
        group_id =
            ingest.handle(envelope(&format!("set-{n}"), "2026-11-25T11:00:00Z", d)).await.unwrap().group_id.unwrap();
    }
    let g = group(&store, &group_id).await;
    let kept = scan_failures_domain::group::most_recent_first(&g.clusters);
    let expected: Vec<String> = (5..25).rev().map(|n| format!("cluster-{n:02}")).collect();
    assert_eq!(kept, expected);
    assert_eq!(g.num_occurrences, 25);
}

/// A full set keeps the 20 most recently seen values whatever order they arrive in: a late
/// occurrence's cluster seen before every stored one is not remembered (nothing is evicted for
/// it), one seen after some of them takes the place of the least recently seen. Before, a late
/// value always took the place of the least recently seen, pushing out a more recent one.
#[tokio::test]
async fn a_full_set_keeps_the_20_most_recently_seen_when_late_occurrences_arrive() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let record = |id: String, cluster: String, at: String| {
        let ingest = &ingest;
        async move {
            let mut d = failure("image scan", "api", "nginx", "context deadline exceeded");
            d["cluster"] = json!(cluster);
            d["occurredAt"] = json!(at);
            ingest.handle(envelope(&id, "2026-11-25T11:00:00Z", d)).await.unwrap().group_id.unwrap()
        }
    };
    let mut group_id = String::new();
    for n in 0..20 {
        group_id = record(format!("full-{n}"), format!("cluster-{n:02}"), format!("2026-11-25T10:{n:02}:00Z")).await;
    }
    record("full-late".into(), "late".into(), "2026-11-25T09:00:00Z".into()).await;
    let g = group(&store, &group_id).await;
    let expected: Vec<String> = (0..20).rev().map(|n| format!("cluster-{n:02}")).collect();
    assert_eq!(scan_failures_domain::group::most_recent_first(&g.clusters), expected);
    assert_eq!(g.num_occurrences, 21);
    record("full-mid".into(), "mid".into(), "2026-11-25T10:05:30Z".into()).await;
    let g = group(&store, &group_id).await;
    let kept = scan_failures_domain::group::most_recent_first(&g.clusters);
    assert_eq!(
        (kept.len(), kept.contains(&"mid".to_owned()), g.clusters.contains_key("cluster-00")),
        (20, true, false)
    );
    assert_eq!(g.num_occurrences, 22);
}

/// A late occurrence, older than the group's last, moves a cluster's last-seen time forward
/// when it is later than the stored one, and never back: cluster A seen at 09:00, the group
/// last at 11:00 on B, then A at 10:30 (late) makes A's 10:30, and A at 09:30 (later still)
/// leaves it. Before, an older write only added a value it lacked, and A stayed at 09:00.
#[tokio::test]
async fn a_late_occurrence_moves_its_clusters_last_seen_forward_never_back() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let mut group_id = String::new();
    for (n, (cluster, at)) in [("a", "09:00"), ("b", "11:00"), ("a", "10:30"), ("a", "09:30")].into_iter().enumerate() {
        let mut d = failure("image scan", "api", "nginx", "context deadline exceeded");
        d["cluster"] = json!(cluster);
        d["occurredAt"] = json!(format!("2026-11-25T{at}:00Z"));
        group_id =
            ingest.handle(envelope(&format!("late-{n}"), "2026-11-25T11:00:00Z", d)).await.unwrap().group_id.unwrap();
    }
    let g = group(&store, &group_id).await;
    assert_eq!(g.clusters.get("a").map(String::as_str), Some("2026-11-25T10:30:00.000Z"));
    assert_eq!(g.clusters.get("b").map(String::as_str), Some("2026-11-25T11:00:00.000Z"));
    assert_eq!((g.num_occurrences, g.last_occurred_at.as_str()), (4, "2026-11-25T11:00:00.000Z"));
}

#[tokio::test]
async fn unknown_messages_differing_only_in_numbers_digests_and_ids_share_a_group() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let a = "scanner said: blob 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 failed 3 times (request 5f0c2f4e-8e0b-4c4e-9a57-0c6f2b3d1e7a) zz";
    let b = "scanner said: blob 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae failed 12 times (request 0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d) zz";
    let ra =
        ingest.handle(envelope("u-1", "2026-11-25T10:00:00Z", failure("image scan", "api", "nginx", a))).await.unwrap();
    let rb =
        ingest.handle(envelope("u-2", "2026-11-25T10:01:00Z", failure("image scan", "api", "nginx", b))).await.unwrap();
    assert_eq!(ra.reason, Some("UNKNOWN"));
    assert_eq!((ra.result, rb.result), ("created", "updated"));
    assert_eq!(ra.group_id, rb.group_id);
    assert_eq!(group(&store, ra.group_id.as_deref().unwrap()).await.num_occurrences, 2);
}

#[tokio::test]
async fn malformed_events_are_rejected_naming_the_field_and_write_nothing() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let ok =
        || envelope("bad", "2026-11-25T10:00:00Z", failure("image scan", "api", "nginx", "context deadline exceeded"));
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut v = ok();
    v.as_object_mut().unwrap().remove("detail");
    cases.push((v, "."));
    let mut v = ok();
    v["detail"]["image"]["name"] = json!(7);
    cases.push((v, "detail.image.name"));
    let mut v = ok();
    v["detail"]["operation"] = json!("image delete");
    cases.push((v, "detail.operation"));
    let mut v = ok();
    v["detail"]["image"]["name"] = json!("");
    cases.push((v, "detail.image.name"));
    let mut v = ok();
    v["detail"]["image"]["digest"] = json!("sha256:1234");
    cases.push((v, "detail.image.digest"));
    let mut v = ok();
    v["detail"]["error"]["message"] = json!("x".repeat(300_000));
    cases.push((v, "detail.error.message"));
    cases.push((json!({"Records": [{"body": "{}"}]}), "."));
    cases.push((json!("just a string"), "."));
    for (event, field) in cases {
        match ingest.handle(event).await {
            Err(IngestError::Rejected(e)) => {
                assert_eq!(e.field(), field);
                let message = e.to_string();
                assert!(message.starts_with(&format!("{field}: ")), "{message}");
            }
            other => panic!("expected a rejection naming {field}, got {other:?}"),
        }
    }
    assert!(all_groups(&store).await.is_empty());
}

#[tokio::test]
async fn every_sample_event_is_accepted() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let mut results = Vec::new();
    for (name, event) in samples("ingest-") {
        let r = ingest.handle(event).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        results.push((name, r.result, r.reason));
    }
    let reasons: Vec<Option<&str>> = results.iter().map(|r| r.2).collect();
    assert_eq!(
        reasons,
        [
            Some("REGISTRY_UNAUTHORIZED"),
            Some("IMAGE_NOT_FOUND"),
            Some("NO_REGISTRY_INTEGRATION"),
            Some("SCANNER_UNAVAILABLE"),
            Some("TIMEOUT"),
            Some("NO_SCANNER_INTEGRATION"),
            Some("RATE_LIMITED"),
            Some("DELEGATED_SCAN_FAILED"),
            None
        ]
    );
    assert_eq!(all_groups(&store).await.len(), 8);
}

#[tokio::test]
async fn an_event_older_than_retention_creates_no_group_and_a_future_one_is_clamped_to_now() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let mut old = failure("image scan", "api", "nginx", "context deadline exceeded");
    old["occurredAt"] = json!("2026-11-21T11:59:59Z");
    let r = ingest.handle(envelope("too-old", "2026-11-25T11:00:00Z", old)).await.unwrap();
    assert_eq!((r.result, r.group_id), ("ignored_expired", None));
    assert!(all_groups(&store).await.is_empty());

    let mut future = failure("image scan", "api", "nginx", "context deadline exceeded");
    future["occurredAt"] = json!("2031-01-01T00:00:00Z");
    let r = ingest.handle(envelope("future", "2026-11-25T11:00:00Z", future)).await.unwrap();
    let g = group(&store, r.group_id.as_deref().unwrap()).await;
    assert_eq!(g.last_occurred_at, "2026-11-25T12:00:00.000Z");
    assert_eq!(g.expires_at, time::macros::datetime!(2026-11-29 12:00 UTC).unix_timestamp());
}

/// The stored per-day counts of a group.
async fn daily(store: &Store, id: &str) -> std::collections::BTreeMap<String, u64> {
    let item = store.reader().get_item(&Uuid::parse_str(id).unwrap()).await.unwrap().unwrap();
    scan_failures_domain::group::GroupState::of_item(&item).daily
}

fn at(t: time::OffsetDateTime) -> String {
    scan_failures_domain::time_fmt::format(t)
}

#[tokio::test]
async fn per_day_counts_are_written_with_the_group_and_sum_to_its_occurrences() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let mut id = String::new();
    // Two failures on the 23rd, three on the 24th, one on the 25th, out of order.
    for (n, t) in [
        "2026-11-24T10:00:00Z",
        "2026-11-23T01:00:00Z",
        "2026-11-25T11:00:00Z",
        "2026-11-24T23:59:59Z",
        "2026-11-23T23:00:00Z",
        "2026-11-24T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        let mut d = failure("image scan", "api", "nginx", "context deadline exceeded");
        d["occurredAt"] = json!(t);
        id = ingest.handle(envelope(&format!("day-{n}"), "2026-11-25T11:00:00Z", d)).await.unwrap().group_id.unwrap();
    }
    assert_eq!(
        daily(&store, &id).await,
        std::collections::BTreeMap::from([
            ("2026-11-23".to_owned(), 2),
            ("2026-11-24".to_owned(), 3),
            ("2026-11-25".to_owned(), 1)
        ])
    );
    assert_eq!(group(&store, &id).await.num_occurrences, 6);
}

#[tokio::test]
async fn per_day_counts_keep_the_last_91_days_and_stale_days_are_evicted_when_the_map_is_full() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::new(365).unwrap()).with_clock(fixed_now);
    let now = fixed_now();
    let mut id = String::new();
    // One failure a day for 120 days, oldest first: the 29 days before the horizon are counted
    // in numOccurrences but not kept per day.
    for back in (0..120).rev() {
        let mut d = failure("image scan", "api", "alpine", "context deadline exceeded");
        d["occurredAt"] = json!(at(now - time::Duration::days(back)));
        id = ingest.handle(envelope(&format!("d-{back}"), "2026-11-25T11:00:00Z", d)).await.unwrap().group_id.unwrap();
    }
    let days = daily(&store, &id).await;
    assert_eq!(days.len(), 91);
    assert_eq!(days.keys().next().map(String::as_str), Some("2026-08-27"));
    assert_eq!(days.keys().last().map(String::as_str), Some("2026-11-25"));
    assert!(days.values().all(|n| *n == 1));
    assert_eq!(group(&store, &id).await.num_occurrences, 120);

    // A map left full of days that are no longer asked for (a group that failed long ago, then
    // went quiet) is emptied of them by the next write.
    let stale: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = (0..92)
        .map(|n| {
            let day = scan_failures_domain::group::daily::day_key(now - time::Duration::days(200 + n));
            (day, aws_sdk_dynamodb::types::AttributeValue::N("3".into()))
        })
        .collect();
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("g#{id}")))
        .update_expression("SET daily = :m")
        .expression_attribute_values(":m", aws_sdk_dynamodb::types::AttributeValue::M(stale))
        .send()
        .await
        .unwrap();
    let mut d = failure("image scan", "api", "alpine", "context deadline exceeded");
    d["occurredAt"] = json!("2026-11-25T11:30:00Z");
    ingest.handle(envelope("after-gap", "2026-11-25T11:30:00Z", d)).await.unwrap();
    assert_eq!(daily(&store, &id).await, std::collections::BTreeMap::from([("2026-11-25".to_owned(), 1)]));
}

#[tokio::test]
async fn a_group_stored_before_per_day_counts_gets_a_map_on_its_next_write() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let mut d = failure("image scan", "api", "redis", "context deadline exceeded");
    d["occurredAt"] = json!("2026-11-24T10:00:00Z");
    let id = ingest.handle(envelope("old-1", "2026-11-25T10:00:00Z", d.clone())).await.unwrap().group_id.unwrap();
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("g#{id}")))
        .update_expression("REMOVE daily")
        .send()
        .await
        .unwrap();
    assert!(daily(&store, &id).await.is_empty());
    d["occurredAt"] = json!("2026-11-25T10:00:00Z");
    assert_eq!(ingest.handle(envelope("old-2", "2026-11-25T10:00:00Z", d)).await.unwrap().result, "updated");
    assert_eq!(daily(&store, &id).await, std::collections::BTreeMap::from([("2026-11-25".to_owned(), 1)]));
    assert_eq!(group(&store, &id).await.num_occurrences, 2);
}

/// A merged write whose values fill a remembered set to exactly 20, one of them already in it,
/// is planned from the stored size rather than retried until it gives up.
#[tokio::test]
async fn a_merged_write_that_fills_a_set_to_20_with_a_value_already_in_it_is_stored() {
    let store = fresh_store().await;
    let ingest = handler(&store);
    let mut id = String::new();
    for n in 0..19 {
        let mut d = failure("image scan", "api", "busybox", "context deadline exceeded");
        d["cluster"] = json!(format!("c{n:02}"));
        d["occurredAt"] = json!(format!("2026-11-25T10:{n:02}:00Z"));
        id = ingest.handle(envelope(&format!("s-{n}"), "2026-11-25T11:00:00Z", d)).await.unwrap().group_id.unwrap();
    }
    let occurrences: Vec<scan_failures_domain::event::Occurrence> = [("m-1", "c00"), ("m-2", "c19")]
        .iter()
        .map(|(event, cluster)| {
            let mut d = failure("image scan", "api", "busybox", "context deadline exceeded");
            d["cluster"] = json!(cluster);
            d["occurredAt"] = json!("2026-11-25T10:30:00Z");
            match scan_failures_domain::event::parse(envelope(event, "2026-11-25T11:00:00Z", d)) {
                Ok(scan_failures_domain::event::Parsed::Failure(o)) => *o,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let refs: Vec<&scan_failures_domain::event::Occurrence> = occurrences.iter().collect();
    let uuid = Uuid::parse_str(&id).unwrap();
    let done = store.writer(None).record_group(&refs, &uuid, RetentionDays::default(), fixed_now()).await.unwrap();
    assert_eq!(done.outcomes.len(), 2);
    let g = group(&store, &id).await;
    assert_eq!((g.clusters.len(), g.num_occurrences), (20, 21));
}

/// The filter indexes' sort key moves only when an occurrence enters a later 10-minute bucket,
/// so a repeat inside the bucket writes the group item and moves its `byTime` entry (exact key)
/// only; a crossing also moves the keys-only filter index entries (a delete and a put each).
/// Costs are DynamoDB Local's `ConsumedCapacity` for the first sample, whose group item stays
/// within 1 KiB: a repeat is the marker 2 + the item 2 + its `byTime` entry's delete 2 and put 2
/// (the transactional rate, 2 WCU per KiB, applies to each); a new group is the marker 2 + the
/// item 2 + its four index entries (the sample has no digest) 2 each. With every index moving on every
/// occurrence, as before the buckets, and the derived attributes stored, a repeat cost 23.9 WCU
/// (BENCHMARKS.md).
#[tokio::test]
async fn a_repeat_inside_its_sort_bucket_writes_no_filter_index_and_a_crossing_moves_them_once() {
    use scan_failures_domain::event::{self, Parsed};
    let store = fresh_store().await;
    let (_, template) = samples("ingest-").into_iter().next().unwrap();
    let record = |id: &str, at: &str| {
        let mut e = template.clone();
        e["id"] = json!(id);
        e["time"] = json!(at);
        let store = store.clone();
        async move {
            let Ok(Parsed::Failure(o)) = event::parse(e) else { panic!("sample did not parse") };
            let gid = o.group_id();
            let (_, cost) = store.writer(None).record(&o, &gid, RetentionDays::default(), fixed_now()).await.unwrap();
            let item = store.reader().get_item(&gid).await.unwrap().unwrap();
            // What follows from other attributes is not stored (every byte is billed per event).
            let derived = scan_failures_domain::group::DERIVED_ATTRIBUTES;
            assert_eq!(item.keys().filter(|k| derived.contains(&k.as_str())).count(), 0);
            let sk = item["lastSk"].as_s().unwrap().clone();
            (cost.requests, cost.write_capacity_units, sk.split('#').next().unwrap().to_owned())
        }
    };
    // A new group: the update planned without a read is refused (no item), then the create.
    assert_eq!(record("b-1", "2026-11-25T10:01:00Z").await, (2, 12.0, "2026-11-25T10:00:00.000Z".to_owned()));
    record("b-2", "2026-11-25T10:02:00Z").await;
    assert_eq!(record("b-3", "2026-11-25T10:09:59Z").await, (1, 8.0, "2026-11-25T10:00:00.000Z".to_owned()));
    assert_eq!(record("b-4", "2026-11-25T10:10:00Z").await, (1, 20.0, "2026-11-25T10:10:00.000Z".to_owned()));
    assert_eq!(record("b-5", "2026-11-25T10:15:00Z").await, (1, 8.0, "2026-11-25T10:10:00.000Z".to_owned()));
}
