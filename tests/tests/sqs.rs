//! The buffered path: SQS batches of envelopes on a real DynamoDB Local, through the ingest
//! handler in-process.

use ingest::handler::{Ingest, Output};
use integration_tests::{dynamodb_client, dynamodb_endpoint, fixed_now, fixtures, fresh_store};
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::retention::RetentionDays;
use serde_json::{json, Value};
use uuid::Uuid;

fn envelope(id: &str, image: &str, minute: u32) -> Value {
    // The detail's fields in the order they have always been sent in (the SQS body is text).
    let detail = json!({"operation": "image scan", "origin": "roxctl", "image": {"name": image},
        "cluster": format!("cluster-{}", minute % 3),
        "error": {"message": "context deadline exceeded"},
        "occurredAt": format!("2026-11-25T10:{:02}:{:02}Z", minute / 60 % 60, minute % 60)});
    fixtures::envelope(id, "test.producer", "2026-11-25T11:00:00Z", detail)
}

fn failures(output: Output) -> Vec<String> {
    match output {
        Output::Batch(b) => b.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
        Output::Event(e) => panic!("expected a batch response, got {e:?}"),
    }
}

async fn count_of(store: &Store, image: &str) -> u64 {
    let reference = scan_failures_domain::image::ImageRef::parse(image).unwrap().normalized();
    let id =
        scan_failures_domain::fingerprint::group_id(&reference, scan_failures_domain::classify::Reason::Timeout, "");
    store.reader().get(&id).await.unwrap().map_or(0, |g| g.num_occurrences)
}

/// A storm of 1,000 identical failures at a batch size: the final count and the write requests.
async fn storm(batch_size: usize) -> (u64, u32) {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let mut requests = 0;
    for start in (0..1000).step_by(batch_size) {
        let messages: Vec<(String, String)> = (start..start + batch_size)
            .map(|n| (format!("m-{n}"), envelope(&format!("storm-{n}"), "nginx", n as u32).to_string()))
            .collect();
        let batch = serde_json::from_value(fixtures::sqs_event(&messages)).unwrap();
        let (response, cost) = ingest.handle_batch_with_cost(batch).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        requests += cost.requests;
    }
    (count_of(&store, "nginx").await, requests)
}

#[tokio::test]
async fn a_storm_of_1000_identical_failures_counts_exactly_through_batches_of_10_and_100() {
    for batch_size in [10, 100] {
        let (count, requests) = storm(batch_size).await;
        assert_eq!(count, 1000, "batch size {batch_size}");
        // One transaction per group per 99 envelopes, plus one for creating the group (the
        // first write assumes it exists): 100 batches of 10 → 101 writes, 10 batches of 100 →
        // 21 writes (0.021 per event).
        assert_eq!(requests, if batch_size == 10 { 101 } else { 21 }, "batch size {batch_size}");
    }
}

#[tokio::test]
async fn only_invalid_and_unwritten_messages_are_reported_as_batch_item_failures() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let mut bad_operation = envelope("bad-op", "nginx", 1);
    bad_operation["detail"]["operation"] = json!("image delete");
    let messages = vec![
        ("ok-1".to_owned(), envelope("e-1", "nginx", 1).to_string()),
        ("not-json".to_owned(), "{not json".to_owned()),
        ("ok-2".to_owned(), envelope("e-2", "nginx", 2).to_string()),
        ("bad-op".to_owned(), bad_operation.to_string()),
        ("ok-3".to_owned(), envelope("e-3", "alpine", 3).to_string()),
        ("dup-of-1".to_owned(), envelope("e-1", "nginx", 1).to_string()),
    ];
    let out = ingest.handle_any(fixtures::sqs_event(&messages)).await.unwrap();
    assert_eq!(failures(out), ["not-json", "bad-op"]);
    assert_eq!(count_of(&store, "nginx").await, 2);
    assert_eq!(count_of(&store, "alpine").await, 1);

    // The whole batch redelivered (as SQS does after a partial failure) counts nothing again.
    let out = ingest.handle_any(fixtures::sqs_event(&messages)).await.unwrap();
    assert_eq!(failures(out), ["not-json", "bad-op"]);
    assert_eq!(count_of(&store, "nginx").await, 2);

    // A write that fails reports exactly its messages: here the table does not exist.
    let missing = Store::new(dynamodb_client(dynamodb_endpoint()), format!("missing-{}", Uuid::new_v4().simple()));
    let out = Ingest::new(missing, RetentionDays::default())
        .with_clock(fixed_now)
        .handle_any(fixtures::sqs_event(&messages))
        .await
        .unwrap();
    let mut failed = failures(out);
    failed.sort();
    assert_eq!(failed, ["bad-op", "dup-of-1", "not-json", "ok-1", "ok-2", "ok-3"]);
}

/// A batch answers with its failed items, which only SQS's event source mapping reads: records
/// from anywhere else (the same shape invoked directly, asynchronously, where Lambda drops the
/// answer) fail the invocation whole, so Lambda retries it and its on-failure destination keeps
/// it. Before, such a batch's failures were dropped with the invocation a success. And a batch
/// refused for its shape says why in bounded words: serde quotes what it refused, and a 250 KB
/// string went whole into the log line and Lambda's on-failure record.
#[tokio::test]
async fn records_not_from_sqs_and_a_batch_of_the_wrong_shape_fail_the_invocation_in_bounded_words() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let mut batch = fixtures::sqs_event(&[("m-1".to_owned(), envelope("e-1", "nginx", 1).to_string())]);
    batch["Records"][0]["eventSource"] = json!("aws:sns");
    let e = ingest.handle_any(batch).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "SQS batch rejected: Records[0].eventSource: not aws:sqs: only the buffer queue's event source mapping sends batches"
    );
    assert_eq!(count_of(&store, "nginx").await, 0);
    let e = ingest.handle_any(json!({ "Records": "x".repeat(250_000) })).await.unwrap_err().to_string();
    assert!(e.starts_with("SQS batch rejected: Records: invalid type: string \"xxx"), "{:.80}", e);
    assert!(e.len() < 1_100, "{} bytes", e.len());
}

#[tokio::test]
async fn one_batch_of_150_events_of_one_group_is_two_writes_with_merged_sets_and_times_and_one_created() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let messages: Vec<(String, String)> = (0..150)
        .map(|n| (format!("m-{n}"), envelope(&format!("e-{n}"), "quay.io/acme/web:1", n).to_string()))
        .collect();
    let report =
        ingest.handle_batch_report(serde_json::from_value(fixtures::sqs_event(&messages)).unwrap()).await.unwrap();
    assert_eq!(report.response.batch_item_failures.len(), 0);
    // One group made: its first message created it, every other one (in either write) added to it.
    let created: Vec<&str> = report.results.iter().filter(|(_, r)| *r == "created").map(|(m, _)| m.as_str()).collect();
    assert_eq!(created, ["m-0"]);
    assert_eq!(report.results.iter().filter(|(_, r)| *r == "updated").count(), 149);
    let reference = "quay.io/acme/web:1";
    let id =
        scan_failures_domain::fingerprint::group_id(reference, scan_failures_domain::classify::Reason::Timeout, "");
    let g = store.reader().get(&id).await.unwrap().unwrap();
    assert_eq!(g.num_occurrences, 150);
    assert_eq!(g.created_at, "2026-11-25T10:00:00.000Z");
    assert_eq!(g.last_occurred_at, "2026-11-25T10:02:29.000Z");
    assert_eq!(g.clusters.len(), 3);
    assert_eq!(g.op_counts["image_scan"], 150);
    assert_eq!(g.origin_counts["roxctl"], 150);
}

/// A batch of 16 envelopes of one group, each with its own cluster, deployment, initiator and
/// user agent, plans one write whose condition is under 4 KB but past DynamoDB's 300 operators
/// (338 in 3,931 bytes, as `Expr::fits` counts them: a `NOT (… > …)` and an `attribute_exists`
/// per value not at the newest time): it is written in two halves (178 each), every envelope
/// counted. DynamoDB Local does not enforce the operator limit, so what this shows is the
/// split; before, the one write was sent, and DynamoDB refuses such an expression on every
/// retry (a `ValidationException`, not transient), which sent the 16 messages to the
/// dead-letter queue.
#[tokio::test]
async fn a_batch_whose_write_would_pass_300_operators_is_written_in_halves_and_counts_every_envelope() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let first = envelope("ops-first", "quay.io/acme/ops:1", 0);
    ingest.handle_any(fixtures::sqs_event(&[("m-first".to_owned(), first.to_string())])).await.unwrap();
    let messages: Vec<(String, String)> = (0..16)
        .map(|n| {
            let mut e = envelope(&format!("ops-{n}"), "quay.io/acme/ops:1", 60 + n);
            let d = &mut e["detail"];
            d["cluster"] = json!(format!("cluster-{n}"));
            d["deployment"] = json!({"name": format!("deploy-{n}"), "namespace": "shop"});
            d["initiator"] =
                json!({"id": format!("arn:aws:iam::123456789012:role/ci-{n}"), "userAgent": format!("roxctl/4.{n}.0")});
            (format!("m-{n}"), e.to_string())
        })
        .collect();
    let (response, cost) =
        ingest.handle_batch_with_cost(serde_json::from_value(fixtures::sqs_event(&messages)).unwrap()).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(cost.requests, 2, "one write of 16 envelopes past 300 operators, split in two");
    assert_eq!(count_of(&store, "quay.io/acme/ops:1").await, 17);
}

/// A batch newer than the group that also holds an older copy of a cluster's failure leaves that
/// cluster's stored, later time as it is: a value's time never moves back (the batch's newest
/// time set every value it saw, and cluster-0 went back from 10:00:30 to 10:00:03).
#[tokio::test]
async fn a_merged_batch_never_moves_a_clusters_last_seen_time_back() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let image = "quay.io/acme/late:1";
    let first = [("m-1".to_owned(), envelope("e-1", image, 30).to_string())];
    ingest.handle_batch_report(serde_json::from_value(fixtures::sqs_event(&first)).unwrap()).await.unwrap();
    // cluster-0 at 10:00:03 (late) and cluster-1 at 10:01:01 (new), in one batch.
    let batch = [
        ("m-2".to_owned(), envelope("e-2", image, 3).to_string()),
        ("m-3".to_owned(), envelope("e-3", image, 61).to_string()),
    ];
    let report =
        ingest.handle_batch_report(serde_json::from_value(fixtures::sqs_event(&batch)).unwrap()).await.unwrap();
    assert_eq!(report.response.batch_item_failures.len(), 0);
    let id = scan_failures_domain::fingerprint::group_id(image, scan_failures_domain::classify::Reason::Timeout, "");
    let g = store.reader().get(&id).await.unwrap().unwrap();
    assert_eq!((g.num_occurrences, g.last_occurred_at.as_str()), (3, "2026-11-25T10:01:01.000Z"));
    let clusters: std::collections::BTreeMap<_, _> = g.clusters.into_iter().collect();
    assert_eq!(
        clusters,
        [("cluster-0", "2026-11-25T10:00:30.000Z"), ("cluster-1", "2026-11-25T10:01:01.000Z")]
            .map(|(c, t)| (c.to_owned(), t.to_owned()))
            .into()
    );
}

/// A batch whose deadline is too near to start its writes still answers: every message it did
/// not write is reported failed (SQS delivers it again) and none of them is half written; with
/// time enough, the same batch is written whole.
#[tokio::test]
async fn a_batch_too_near_its_deadline_reports_the_messages_it_did_not_write() {
    use ingest::handler::WRITE_MARGIN;
    use std::time::Instant;
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let images = ["nginx", "alpine", "redis"];
    let messages: Vec<(String, String)> = images
        .iter()
        .enumerate()
        .map(|(n, image)| (format!("d-{n}"), envelope(&format!("deadline-{n}"), image, n as u32).to_string()))
        .collect();
    let batch = || serde_json::from_value(fixtures::sqs_event(&messages)).unwrap();

    let report = ingest.handle_batch_until(batch(), Some(Instant::now() + WRITE_MARGIN / 2)).await.unwrap();
    let mut failed: Vec<String> = report.response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
    failed.sort();
    assert_eq!(failed, ["d-0", "d-1", "d-2"]);
    assert!(report.results.iter().all(|(_, result)| *result == "deferred"), "{:?}", report.results);
    for image in images {
        assert_eq!(count_of(&store, image).await, 0, "{image}");
    }

    let report = ingest.handle_batch_until(batch(), Some(Instant::now() + 2 * WRITE_MARGIN)).await.unwrap();
    assert!(report.response.batch_item_failures.is_empty(), "{:?}", report.results);
    for image in images {
        assert_eq!(count_of(&store, image).await, 1, "{image}");
    }
}
