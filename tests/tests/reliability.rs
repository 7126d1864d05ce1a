//! The edges where a count, a notification or a group was lost, doubled or wrong (RELIABILITY.md,
//! "Closed edges"), each on a real DynamoDB Local through the ingest handler, the store and the
//! maintenance job in-process. Each test says what it saw before the fix.

use std::time::Instant;

use ingest::handler::Ingest;
use integration_tests::{envelope, failure_at, fixed_now, free_port, fresh_store, FaultProxy};
use scan_failures_aws::config::SdkTimeouts;
use scan_failures_aws::dynamo::Store;
use scan_failures_aws::eventbridge::Notifier;
use scan_failures_domain::fingerprint;
use scan_failures_domain::group::triage::{TriageRequest, TriageState};
use scan_failures_domain::image::ImageRef;
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::time_fmt;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const ADMIN: &str = "arn:aws:iam::123456789012:role/SecurityAdmin";

/// A timeout of `image` that occurred at `at`, delivered as envelope `id`.
fn timeout(id: &str, image: &str, at: OffsetDateTime) -> Value {
    let at = time_fmt::format(at);
    envelope(id, "test.producer", &at, failure_at("image scan", "roxctl", image, "context deadline exceeded", &at))
}

fn group_of(image: &str) -> Uuid {
    let reference = ImageRef::parse(image).unwrap().normalized();
    fingerprint::group_id(&reference, scan_failures_domain::classify::Reason::Timeout, "")
}

/// An SQS event whose messages carry `bodies`, message ids `m-0`, `m-1`, ...
fn sqs(bodies: &[Value]) -> ingest::handler::SqsEvent {
    let records: Vec<Value> =
        bodies.iter().enumerate().map(|(i, b)| json!({"messageId": format!("m-{i}"), "body": b.to_string()})).collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// The detail types and thresholds of the notifications waiting in the outbox.
async fn outbox(store: &Store) -> Vec<(String, Option<u64>, String)> {
    let mut out: Vec<(String, Option<u64>, String)> = integration_tests::pending_notifications(store)
        .await
        .into_iter()
        .map(|(kind, d)| (kind, d["threshold"].as_u64(), d["notificationId"].as_str().unwrap_or("").to_owned()))
        .collect();
    out.sort();
    out
}

/// Case 3. Before: a batch of 100 identical failures created its group with 95 occurrences and
/// wrote "opened" only; "threshold 10", crossed by the same write, was never notified.
#[tokio::test]
async fn thresholds_crossed_by_the_write_that_creates_a_group_are_notified() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default())
        .with_clock(fixed_now)
        .with_transitions(vec![10, 100, 1000]);
    let at = fixed_now() - Duration::minutes(5);
    let bodies: Vec<Value> = (0..100).map(|n| timeout(&format!("storm-{n}"), "nginx:1.25", at)).collect();
    let report = ingest.handle_batch_report(sqs(&bodies)).await.unwrap();
    assert!(report.response.batch_item_failures.is_empty());
    let stored = store.reader().get(&group_of("nginx:1.25")).await.unwrap().unwrap();
    assert_eq!(stored.num_occurrences, 100);
    let kinds: Vec<(String, Option<u64>)> = outbox(&store).await.into_iter().map(|(d, t, _)| (d, t)).collect();
    assert_eq!(
        kinds,
        [
            ("Scan Failure Group Opened".to_owned(), None),
            ("Scan Failure Threshold Crossed".to_owned(), Some(10)),
            ("Scan Failure Threshold Crossed".to_owned(), Some(100)),
        ]
    );
}

/// The clock of the second life: eleven days after [`fixed_now`], past the 4-day retention of
/// everything stored at [`fixed_now`].
fn eleven_days_later() -> OffsetDateTime {
    fixed_now() + Duration::days(11)
}

/// The first life of `image`'s group: `n` timeouts 30 minutes before [`fixed_now`], in one SQS
/// batch, notified at `thresholds`; its id.
async fn first_life(store: &Store, path: &str, image: &str, n: usize, thresholds: &[u64]) -> Uuid {
    let first = Ingest::new(store.clone(), RetentionDays::default())
        .with_clock(fixed_now)
        .with_transitions(thresholds.to_vec());
    let at = fixed_now() - Duration::minutes(30);
    let bodies: Vec<Value> = (0..n).map(|i| timeout(&format!("{path}-first-{i}"), image, at)).collect();
    assert!(first.handle_batch_report(sqs(&bodies)).await.unwrap().response.batch_item_failures.is_empty());
    group_of(image)
}

/// Case 5. Before: a group past the retention that TTL had not deleted yet was updated by the
/// next occurrence: count 58, its old `createdAt`, still a false positive, no notification.
#[tokio::test]
async fn a_group_past_the_retention_is_started_anew_by_its_next_occurrence_on_both_paths() {
    for (path, image) in [("direct", "redis:7"), ("sqs", "redis:8")] {
        let store = fresh_store().await;
        let thresholds = vec![10, 100, 1000];
        let id = first_life(&store, path, image, 57, &thresholds).await;
        let fp =
            TriageRequest { state: TriageState::FalsePositive, note: Some("scanner bug".into()), if_version: None };
        store.admin().triage(&id, &fp, ADMIN, fixed_now(), RetentionDays::default()).await.unwrap().set().unwrap();
        let first_life = outbox(&store).await;
        assert_eq!(first_life.len(), 2, "{path}: opened and threshold 10");

        let again = Ingest::new(store.clone(), RetentionDays::default())
            .with_clock(eleven_days_later)
            .with_transitions(thresholds);
        let later = eleven_days_later() - Duration::minutes(1);
        let new = timeout(&format!("{path}-new"), image, later);
        let result = match path {
            "direct" => again.handle(new).await.unwrap().result,
            _ => again.handle_batch_report(sqs(&[new])).await.unwrap().results[0].1,
        };
        assert_eq!(result, "created", "{path}");
        let item = store.reader().get_item(&id).await.unwrap().unwrap();
        let state =
            <scan_failures_domain::group::GroupState as scan_failures_aws::dynamo::item::StateItem>::of_item(&item);
        let stored = store.reader().get(&id).await.unwrap().unwrap();
        assert_eq!(
            (stored.num_occurrences, stored.created_at.as_str(), state.triage.state, state.triage.history.len()),
            (1, time_fmt::format(later).as_str(), TriageState::Open, 0),
            "{path}"
        );
        let both_lives = outbox(&store).await;
        let opened: Vec<&(String, Option<u64>, String)> =
            both_lives.iter().filter(|(d, _, _)| d == "Scan Failure Group Opened").collect();
        assert_eq!(opened.len(), 2, "{path}: a second \"opened\", under an id of its own: {both_lives:?}");
        assert_ne!(opened[0].2, opened[1].2);
    }
}

/// Case 13. Before: a group that DynamoDB's TTL had deleted left nothing in the table, so its
/// next occurrence created it as a first life would, and notified "opened" under the id of the
/// first life's "opened": a consumer that deduplicates on the id (as the notification contract
/// invites) dropped the news that it broke again. Each life's notifications now have ids
/// derived from its `createdAt`.
#[tokio::test]
async fn a_group_deleted_by_ttl_and_seen_again_notifies_under_ids_of_its_own() {
    for (path, image) in [("direct", "redis:9"), ("sqs", "redis:10")] {
        let store = fresh_store().await;
        let thresholds = vec![10, 100];
        let id = first_life(&store, path, image, 12, &thresholds).await;
        let first_life = outbox(&store).await;
        assert_eq!(first_life.len(), 2, "{path}: opened and threshold 10");
        integration_tests::ttl_delete(&store, &id, eleven_days_later()).await;
        assert!(store.reader().get_item(&id).await.unwrap().is_none(), "{path}: nothing of the group is left");

        let again = Ingest::new(store.clone(), RetentionDays::default())
            .with_clock(eleven_days_later)
            .with_transitions(thresholds);
        let later = eleven_days_later() - Duration::minutes(1);
        let bodies: Vec<Value> = (0..12).map(|n| timeout(&format!("{path}-second-{n}"), image, later)).collect();
        match path {
            "direct" => {
                for body in bodies {
                    again.handle(body).await.unwrap();
                }
            }
            _ => {
                assert!(again.handle_batch_report(sqs(&bodies)).await.unwrap().response.batch_item_failures.is_empty())
            }
        }
        assert_eq!(store.reader().get(&id).await.unwrap().unwrap().num_occurrences, 12, "{path}");
        let both_lives = outbox(&store).await;
        let ids: std::collections::BTreeSet<&str> = both_lives.iter().map(|(_, _, id)| id.as_str()).collect();
        assert_eq!(both_lives.len(), 4, "{path}: opened and threshold 10, once per life: {both_lives:?}");
        assert_eq!(ids.len(), 4, "{path}: no id of the second life repeats one of the first: {both_lives:?}");
    }
}

/// Case 1. Before: after 30 days (job finished), 7, then 30 again within minutes, the next run
/// saw "target 30, finished" and did nothing, so a group stamped with 7 days in between kept a
/// TTL 23 days early.
#[tokio::test]
async fn a_retention_change_undone_before_the_job_runs_still_re_stamps_what_was_stamped_between() {
    let store = fresh_store().await;
    let thirty = RetentionDays::new(30).unwrap();
    let seven = RetentionDays::new(7).unwrap();
    let t0 = OffsetDateTime::now_utc() - Duration::minutes(30);
    let old = Ingest::new(store.clone(), thirty);
    old.handle(timeout("before", "alpine:3", t0)).await.unwrap();
    store.settings().put_retention_setting(thirty, ADMIN, t0).await.unwrap();
    let done = maintenance::run(&store, RetentionDays::default(), 100, t0 + Duration::minutes(3), None).await.unwrap();
    assert_eq!(done.status, "finished");

    store.settings().put_retention_setting(seven, ADMIN, t0 + Duration::minutes(5)).await.unwrap();
    // An ingest instance that read "7 days" stamps a new group with it.
    let stamped_with_seven = OffsetDateTime::now_utc() - Duration::minutes(1);
    Ingest::new(store.clone(), seven).handle(timeout("between", "busybox:1", stamped_with_seven)).await.unwrap();
    store.settings().put_retention_setting(thirty, ADMIN, t0 + Duration::minutes(6)).await.unwrap();

    // Run at the time the writes were made: the walk takes the groups last seen before its start
    // and 8 minutes (`retention::restamp_walk_bound`).
    let report =
        maintenance::run(&store, RetentionDays::default(), 100, OffsetDateTime::now_utc(), None).await.unwrap();
    let progress = report.progress.unwrap();
    assert_eq!((report.status, progress.examined, progress.restamped), ("finished", 2, 1));
    for image in ["alpine:3", "busybox:1"] {
        let g = store.reader().get(&group_of(image)).await.unwrap().unwrap();
        let last = time_fmt::parse(&g.last_occurred_at).unwrap();
        assert_eq!(g.expires_at, (last + Duration::days(30)).unix_timestamp(), "{image}");
    }
}

/// Case 31. `RETENTION_DAYS` changed from 4 to 30 with no setting stored: the job for 30 days
/// walks nothing until 180 s after the run that first saw the change, as a stored change
/// waits, and then re-stamps. Before, the walk went at once, and a group an ingest instance
/// of the old configuration (in flight, or updated after maintenance) wrote behind it kept its
/// 4-day TTL under a retention of 30.
#[tokio::test]
async fn a_change_of_the_default_retention_waits_as_a_stored_change_does_before_its_walk() {
    let store = fresh_store().await;
    let (four, thirty) = (RetentionDays::new(4).unwrap(), RetentionDays::new(30).unwrap());
    let t0 = OffsetDateTime::now_utc() - Duration::minutes(30);
    Ingest::new(store.clone(), four).handle(timeout("before", "alpine:3", t0)).await.unwrap();
    let first = maintenance::run(&store, four, 100, t0 + Duration::minutes(1), None).await.unwrap();
    assert_eq!(first.status, "finished", "a table with no job on record walks at once");

    let seen = t0 + Duration::minutes(5);
    // An ingest instance still on RETENTION_DAYS=4 writes while the job waits.
    Ingest::new(store.clone(), four).handle(timeout("behind", "busybox:1", t0 + Duration::minutes(6))).await.unwrap();
    for (after, lag) in [(Duration::ZERO, 0), (Duration::seconds(179), 179)] {
        let report = maintenance::run(&store, thirty, 100, seen + after, None).await.unwrap();
        assert_eq!(
            (report.status, report.retention_days, report.lag_seconds, report.progress.is_none()),
            ("settling", 30, lag, true)
        );
    }
    let progress = store.settings().restamp_progress().await.unwrap().unwrap();
    assert_eq!((progress.target_retention_days, progress.examined, progress.finished), (30, 0, false));

    let report = maintenance::run(&store, thirty, 100, seen + Duration::seconds(180), None).await.unwrap();
    let progress = report.progress.unwrap();
    assert_eq!((report.status, progress.examined, progress.restamped), ("finished", 2, 2));
    for image in ["alpine:3", "busybox:1"] {
        let g = store.reader().get(&group_of(image)).await.unwrap().unwrap();
        let last = time_fmt::parse(&g.last_occurred_at).unwrap();
        assert_eq!(g.expires_at, (last + Duration::days(30)).unix_timestamp(), "{image}");
    }
}

/// Case 32. A re-stamp walk ends though every group moves to the newest end of the index
/// between its runs, more of them than one run reads: it walks the groups last seen before its
/// start and 8 minutes (`retention::restamp_walk_bound`), and those seen later were stamped by
/// ingest with the job's retention. Before, each run read again the groups that had moved past
/// its cursor, and the job never finished (its `RestampLag` growing without end).
#[tokio::test]
async fn a_re_stamp_walk_ends_though_every_group_moves_between_its_runs() {
    let store = fresh_store().await;
    let (four, thirty) = (RetentionDays::new(4).unwrap(), RetentionDays::new(30).unwrap());
    let t0 = OffsetDateTime::now_utc() - Duration::hours(1);
    let images: Vec<String> = (0..10).map(|n| format!("quay.io/acme/moving{n}:1")).collect();
    for (n, image) in images.iter().enumerate() {
        let at = t0 - Duration::minutes(30) + Duration::seconds(n as i64);
        Ingest::new(store.clone(), four).handle(timeout(&format!("old-{n}"), image, at)).await.unwrap();
    }
    store.settings().put_retention_setting(thirty, ADMIN, t0 - Duration::minutes(10)).await.unwrap();
    let mut examined = Vec::new();
    for run in 0..3 {
        let report = maintenance::run(&store, four, 4, t0 + Duration::minutes(5 * run), None).await.unwrap();
        examined.push((report.status, report.progress.unwrap().this_run.examined));
        // Every group occurs again (now, past the walk's bound), stamped by ingest with 30 days.
        for (n, image) in images.iter().enumerate() {
            let at = OffsetDateTime::now_utc() - Duration::seconds(20 - n as i64);
            Ingest::new(store.clone(), thirty).handle(timeout(&format!("r{run}-{n}"), image, at)).await.unwrap();
        }
    }
    assert_eq!(examined, [("running", 4), ("finished", 0), ("finished", 0)]);
    for image in &images {
        let g = store.reader().get(&group_of(image)).await.unwrap().unwrap();
        let last = time_fmt::parse(&g.last_occurred_at).unwrap();
        assert_eq!(g.expires_at, (last + Duration::days(30)).unix_timestamp(), "{image}");
    }
}

/// A re-stamp job saved by a walk before it was bounded, its cursor past the bound (a busy
/// table's job, some runs on), finishes at the next run: DynamoDB refuses a start key outside
/// the query's key condition, so every run failed on it, its progress saved back unchanged.
#[tokio::test]
async fn a_re_stamp_cursor_saved_past_the_walks_bound_finishes_the_job() {
    use aws_sdk_dynamodb::types::AttributeValue::{Bool, M, N, S};

    let store = fresh_store().await;
    let thirty = RetentionDays::new(30).unwrap();
    let t0 = OffsetDateTime::now_utc() - Duration::hours(2);
    store.settings().put_retention_setting(thirty, ADMIN, t0 - Duration::minutes(10)).await.unwrap();
    let generation = store.settings().retention_setting().await.unwrap().unwrap().updated_at;
    let id = group_of("alpine:3");
    let past = format!("{}#{id}", time_fmt::format(t0 + Duration::hours(1)));
    let cursor = [("pk", S(format!("group#{id}"))), ("gsiAll", S("ALL".into())), ("timeSk", S(past))];
    let cursor = cursor.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", S("config#restamp".into()))
        .item("targetRetentionDays", N("30".into()))
        .item("generation", S(generation))
        .item("examined", N("3".into()))
        .item("restamped", N("3".into()))
        .item("finished", Bool(false))
        .item("startedAt", S(time_fmt::format(t0)))
        .item("updatedAt", S(time_fmt::format(t0)))
        .item("cursor", M(cursor))
        .send()
        .await
        .unwrap();
    let report = maintenance::run(&store, RetentionDays::default(), 100, t0 + Duration::minutes(20), None).await;
    let report = report.unwrap_or_else(|e| panic!("{}", scan_failures_domain::text::error_chain(&e)));
    let progress = report.progress.unwrap();
    assert_eq!((report.status, progress.examined, progress.finished), ("finished", 3, true));
}

/// A group stored with a last occurrence in the last day of 9999 (outside data: no ingest
/// admits one) stops no run. Once, adding the retention to it panicked, and every later run
/// aborted on the same page before the drain and the rest; it was then re-stamped to the latest
/// time there is. Now it lies past every walk's bound (its job's start and 8 minutes: a group
/// last seen later was stamped by its writer), and keeps the TTL it was stored with.
#[tokio::test]
async fn a_group_last_seen_at_the_end_of_time_is_past_every_walk_and_stops_no_run() {
    let store = fresh_store().await;
    let now = OffsetDateTime::now_utc();
    let mut g =
        integration_tests::synthetic_group(1, "nginx:1", scan_failures_domain::classify::Reason::Timeout, now, 0);
    g.last_occurred_at = "9999-12-31T00:00:00.000Z".into();
    integration_tests::seed_groups(&store, std::slice::from_ref(&g)).await;
    store
        .settings()
        .put_retention_setting(RetentionDays::new(30).unwrap(), ADMIN, now - Duration::minutes(5))
        .await
        .unwrap();
    let report = maintenance::run(&store, RetentionDays::default(), 100, now, None).await.unwrap();
    let progress = report.progress.unwrap();
    assert_eq!((report.status, progress.examined, progress.restamped), ("finished", 0, 0));
    let stored = store.reader().get(&g.id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.expires_at, g.expires_at);
}

/// A re-stamp run whose update fails mid-run (the 550th of 600: one of the second page's)
/// keeps what its first page did, and the run still drains the outbox before it fails; the next
/// run goes on from the second page. Before, the failure lost the whole run's place (every run
/// started again where the last saved one had, and under steady throttling the job never got
/// past it), and the run returned before the reconciliation, the drain and the metrics.
#[tokio::test]
async fn a_re_stamp_failing_mid_run_keeps_its_pages_done_and_the_run_still_drains_the_outbox() {
    use integration_tests::fail_nth::failing_nth_update;
    use integration_tests::stack::Moto;
    use maintenance::scheduled::Parts;
    let store = fresh_store().await;
    let (groups, thirty) = six_hundred_groups_to_re_stamp(&store).await;
    let now = OffsetDateTime::now_utc();
    // A notification waiting in the outbox, its lease released, as after a failed publish.
    Ingest::new(store.clone(), thirty)
        .with_transitions(vec![10])
        .handle(timeout("waiting", "nginx:1.25", now))
        .await
        .unwrap();
    for p in store.outbox().pending(10).await.unwrap() {
        store.outbox().release(&p.key, i64::MAX).await.unwrap();
    }
    let moto = Moto::start(free_port());
    let publisher = scan_failures_aws::publisher::Publisher::new(Notifier::new(
        events_client(&moto.endpoint),
        "default",
        "scan-failures",
    ));
    let (client, seen) = failing_nth_update(store.client(), 550);
    let faulty = Store::new(client, store.table());
    let table = store.table().to_owned();
    let config = maintenance::MaintenanceConfig::from_env(|k| (k == "TABLE_NAME").then(|| table.clone())).unwrap();
    let sink = scan_failures_aws::metrics::Sink::new(config.metrics.clone());
    let aws = integration_tests::bus::moto_config(&moto.endpoint);
    let (streams, sqs) = (aws_sdk_dynamodbstreams::Client::new(&aws), aws_sdk_sqs::Client::new(&aws));
    let parts = Parts {
        store: &faulty,
        config: &config,
        sink: &sink,
        inspector: None,
        streams: &streams,
        sqs: &sqs,
        publisher: Some(&publisher),
    };

    let failed = parts.scheduled(OffsetDateTime::now_utc(), None).await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 550, "the fault was reached");
    let kept = store.settings().restamp_progress().await.unwrap().unwrap();
    assert_eq!(
        (kept.examined, kept.finished, kept.cursor.is_some()),
        (500, false, true),
        "the first page's place kept"
    );
    assert_eq!(store.outbox().pending(10).await.unwrap(), vec![], "drained, though the re-stamp failed");

    let next = parts.scheduled(OffsetDateTime::now_utc(), None).await.unwrap();
    let progress = next.progress.unwrap();
    assert_eq!((next.status, progress.examined, progress.this_run.examined), ("finished", 601, 101));
    // Those the failed page had updated before the fault (49, or 50 when ingest's group, stamped
    // with 30 days already, was on the first page) are right already: not counted again.
    assert!((550..=551).contains(&progress.restamped), "{progress:?}");
    assert_re_stamped(&store, &groups, thirty).await;
}

/// 600 groups stored with the default retention's TTL, and a retention of 30 days set 30 minutes
/// ago (settled): a re-stamp job of 600 updates, pages of 500.
async fn six_hundred_groups_to_re_stamp(
    store: &Store,
) -> (Vec<scan_failures_domain::group::GroupRecord>, RetentionDays) {
    use scan_failures_domain::classify::Reason;
    let now = OffsetDateTime::now_utc();
    let groups: Vec<_> = (0..600)
        .map(|n| {
            integration_tests::fixtures::synthetic_group(n, &format!("quay.io/acme/s{n}:1"), Reason::Timeout, now, 5)
        })
        .collect();
    integration_tests::stack::seed_groups(store, &groups).await;
    let thirty = RetentionDays::new(30).unwrap();
    store.settings().put_retention_setting(thirty, ADMIN, now - Duration::minutes(30)).await.unwrap();
    (groups, thirty)
}

/// Every group of `groups` stamped `lastOccurredAt + retention`.
async fn assert_re_stamped(
    store: &Store,
    groups: &[scan_failures_domain::group::GroupRecord],
    retention: RetentionDays,
) {
    for g in groups {
        let stored = store.reader().get(&Uuid::parse_str(&g.id).unwrap()).await.unwrap().unwrap();
        let last = time_fmt::parse(&stored.last_occurred_at).unwrap();
        assert_eq!(stored.expires_at, (last + retention.duration()).unix_timestamp(), "{}", g.id);
    }
}

/// A re-stamp run whose 100th update is slow enough to pass its stop time stops before the
/// 101st group, inside its first page, and saves that place; the next run re-stamps the other
/// 500, each group examined once over the two (the page's other 400 are read again). Before, the run finished the page it was in (500
/// groups, past its stop time by as many updates: a throttled table ran it into the function's
/// timeout).
#[tokio::test]
async fn a_re_stamp_past_its_stop_time_stops_within_its_page_and_the_next_run_goes_on_from_there() {
    let store = fresh_store().await;
    let (groups, thirty) = six_hundred_groups_to_re_stamp(&store).await;
    // The stop time far enough for 99 updates on a loaded machine; the 100th held until after it.
    let stop_at = Instant::now() + std::time::Duration::from_secs(15);
    let (client, seen) = integration_tests::fail_nth::holding_nth_update_until(
        store.client(),
        100,
        stop_at + std::time::Duration::from_millis(50),
    );
    let slow = Store::new(client, store.table());
    let now = OffsetDateTime::now_utc();
    let report = maintenance::run(&slow, RetentionDays::default(), 10_000, now, Some(stop_at)).await.unwrap();
    assert!(Instant::now() > stop_at, "the stop time passed during the run");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 100, "no update after the slow one");
    let progress = report.progress.unwrap();
    assert_eq!((report.status, progress.examined, progress.this_run.examined), ("running", 100, 100));
    let kept = store.settings().restamp_progress().await.unwrap().unwrap();
    assert_eq!((kept.examined, kept.finished, kept.cursor.is_some()), (100, false, true));

    let next = maintenance::run(&store, RetentionDays::default(), 10_000, now, None).await.unwrap();
    let progress = next.progress.unwrap();
    assert_eq!(
        (next.status, progress.examined, progress.this_run.examined, progress.restamped),
        ("finished", 600, 500, 600)
    );
    assert_re_stamped(&store, &groups, thirty).await;
}

/// A re-stamp run cut short in its second page (its task aborted while the 550th update is
/// held, as a timeout or a crash ends a function) keeps its first page's place: the next run
/// goes on from the second page (the cut page's updates done before the cut are found right). Before, the place was saved only when a run ended, so the cut
/// run's 500 groups were read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_stamp_run_cut_short_keeps_the_place_of_each_page_it_finished() {
    let store = fresh_store().await;
    let (groups, thirty) = six_hundred_groups_to_re_stamp(&store).await;
    let (client, seen) =
        integration_tests::fail_nth::holding_nth_update(store.client(), 550, std::time::Duration::from_secs(2));
    let held = Store::new(client, store.table());
    let now = OffsetDateTime::now_utc();
    let run = tokio::spawn(async move { maintenance::run(&held, RetentionDays::default(), 10_000, now, None).await });
    let waited = Instant::now();
    while seen.load(std::sync::atomic::Ordering::SeqCst) < 550 {
        assert!(waited.elapsed() < std::time::Duration::from_secs(120), "the 550th update was never reached");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    run.abort();
    let cut = run.await;
    assert!(cut.as_ref().is_err_and(|e| e.is_cancelled()), "the run was cut, not finished: {cut:?}");
    let kept = store.settings().restamp_progress().await.unwrap().expect("the first page's place was saved");
    assert_eq!((kept.examined, kept.finished, kept.cursor.is_some()), (500, false, true));

    let next = maintenance::run(&store, RetentionDays::default(), 10_000, now, None).await.unwrap();
    let progress = next.progress.unwrap();
    assert_eq!((next.status, progress.examined, progress.this_run.examined), ("finished", 600, 100));
    assert_re_stamped(&store, &groups, thirty).await;
}

/// An EventBridge client on `endpoint` whose attempts time out after 1 s (as the functions'
/// `SDK_ATTEMPT_TIMEOUT_MS` bounds them).
fn events_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new("testing", "testing", None, None, "static"))
        .endpoint_url(endpoint)
        .http_client(scan_failures_aws::sdk::http_client())
        .timeout_config(scan_failures_aws::sdk::timeout_config(SdkTimeouts {
            attempt: std::time::Duration::from_secs(1),
        }))
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

/// Case 4. Before: the outbox was drained before the event's own write, with a `PutEvents` of 3
/// attempts; with EventBridge hanging the invocation spent its time there before writing (here
/// 3 attempts of 1 s and their back-off, past the 2.5 s deadline), on every retry.
#[tokio::test]
async fn a_stalled_notification_bus_neither_delays_nor_loses_the_events_write() {
    let store = fresh_store().await;
    let thresholds = vec![10, 100, 1000];
    // A notification an earlier invocation failed to publish: in the outbox, its lease
    // released, so a drain claims and publishes it.
    Ingest::new(store.clone(), RetentionDays::default())
        .with_clock(fixed_now)
        .with_transitions(thresholds.clone())
        .handle(timeout("earlier", "nginx:1.25", fixed_now() - Duration::minutes(3)))
        .await
        .unwrap();
    for p in store.outbox().pending(10).await.unwrap() {
        store.outbox().release(&p.key, i64::MAX).await.unwrap();
    }
    let bus = FaultProxy::start(free_port());
    bus.stall();
    let notifier = Notifier::new(events_client(&format!("http://127.0.0.1:{}", bus.port)), "default", "scan-failures");
    let ingest = Ingest::new(store.clone(), RetentionDays::default())
        .with_clock(fixed_now)
        .with_transitions(thresholds)
        .with_notifier(Some(notifier));

    let deadline = Instant::now() + std::time::Duration::from_millis(2500);
    let event = timeout("during-stall", "alpine:3", fixed_now() - Duration::minutes(1));
    let answered = ingest.handle_any_until(event, Some(deadline)).await.unwrap();
    let answered_at = Instant::now();

    assert_eq!(serde_json::to_value(&answered).unwrap()["result"], "created");
    assert!(answered_at < deadline, "answered {:?} after the deadline", answered_at - deadline);
    assert!(bus.held() >= 1, "the fault did not happen: nothing reached the stalled bus");
    let kinds: Vec<String> = outbox(&store).await.into_iter().map(|(d, _, _)| d).collect();
    assert_eq!(kinds, ["Scan Failure Group Opened", "Scan Failure Group Opened"], "both kept for a later drain");
    assert_eq!(store.reader().get(&group_of("alpine:3")).await.unwrap().unwrap().num_occurrences, 1);
}

/// Case 7. Before: an update of an existing group by one SQS batch with 20 values in each
/// remembered set and 90 distinct days passed DynamoDB's 4 KB expression limit; DynamoDB refused
/// it on every retry and every message of the batch was reported failed (to end in the
/// dead-letter queue).
#[tokio::test]
async fn a_backdated_batch_over_90_days_with_full_sets_is_counted_in_writes_that_fit() {
    let store = fresh_store().await;
    let year = RetentionDays::new(365).unwrap();
    let ingest = Ingest::new(store.clone(), year).with_clock(fixed_now);
    ingest.handle(timeout("first", "postgres:16", fixed_now() - Duration::minutes(1))).await.unwrap();
    let bodies: Vec<Value> = (0..90)
        .map(|n| {
            let at = fixed_now() - Duration::days(n) - Duration::minutes(2);
            let mut e = timeout(&format!("backdated-{n}"), "postgres:16", at);
            e["detail"]["cluster"] = json!(format!("cluster-{n:02}"));
            e["detail"]["deployment"] = json!({"namespace": format!("team-{n:02}"), "name": format!("api-{n:02}")});
            e["detail"]["initiator"] =
                json!({"id": format!("arn:aws:iam::123456789012:user/ci-{n:02}"), "userAgent": format!("roxctl/4.{n}")});
            e
        })
        .collect();
    let report = ingest.handle_batch_report(sqs(&bodies)).await.unwrap();
    assert_eq!(report.response.batch_item_failures.len(), 0, "{:?}", report.results);
    // 90 envelopes whose sets are full from the first: each write holds what fits in 4 KB.
    assert_eq!(report.cost.requests, 16, "the batch was split into writes that fit");
    let stored = store.reader().get(&group_of("postgres:16")).await.unwrap().unwrap();
    assert_eq!(stored.num_occurrences, 91);
    assert_eq!((stored.clusters.len(), stored.deployments.len(), stored.initiators.len()), (20, 20, 20));
}

/// Case 6. Before: cleanup read the groups, then deleted them with unconditional
/// `BatchWriteItem`s; an occurrence counted in between vanished with its group, and its
/// idempotency marker made every retry a duplicate, so it was lost for good. The race is
/// forced, not hoped for: the occurrence lands between the cleanup's read and its delete.
#[tokio::test]
async fn an_occurrence_counted_between_a_cleanups_read_and_its_delete_keeps_its_group() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let before = fixed_now() - Duration::minutes(5);
    for (id, image) in [("api-1", "quay.io/acme/api:1"), ("api-2", "quay.io/acme/api:2")] {
        assert_eq!(ingest.handle(timeout(id, image, before)).await.unwrap().result, "created");
    }
    let filters = scan_failures_domain::query::CleanupRequest {
        filters: scan_failures_domain::query::Filters {
            repository: vec!["quay.io/acme/api".into()],
            ..Default::default()
        },
        cursor: None,
    };
    let (read, _) = store.admin().matching(&filters, 100, u64::MAX).await.unwrap();
    assert_eq!(read.len(), 2);

    let racer = timeout("api-1-again", "quay.io/acme/api:1", fixed_now() - Duration::minutes(1));
    assert_eq!(ingest.handle(racer.clone()).await.unwrap().result, "updated");
    let (deleted, kept, _) = store.admin().delete_unchanged(&read).await.unwrap();

    assert_eq!((deleted, kept), (1, 1));
    assert!(store.reader().get(&group_of("quay.io/acme/api:2")).await.unwrap().is_none());
    let survivor = store.reader().get(&group_of("quay.io/acme/api:1")).await.unwrap();
    assert_eq!(survivor.map(|g| g.num_occurrences), Some(2), "the occurrence counted between read and delete");
    // A retry of it is a duplicate of an occurrence that is still counted.
    assert_eq!(ingest.handle(racer).await.unwrap().result, "duplicate");
    // The same cleanup request, run again, deletes what changed (its whole reading had no
    // cursor to go on from: the kept group is among the newest, where it starts).
    let again = store.admin().delete_matching(&filters, 100, u64::MAX).await.unwrap();
    assert_eq!((again.deleted, again.kept, again.more, again.next_cursor), (1, 0, false, None));

    // A group gone between the read and the delete (another cleanup, TTL) is neither deleted
    // nor kept: the condition fails on it as on a changed one, and only a changed one comes back.
    for (id, image) in [("api-3", "quay.io/acme/api:3"), ("api-4", "quay.io/acme/api:4")] {
        assert_eq!(ingest.handle(timeout(id, image, before)).await.unwrap().result, "created");
    }
    let (read, _) = store.admin().matching(&filters, 100, u64::MAX).await.unwrap();
    assert_eq!(read.len(), 2);
    let gone = aws_sdk_dynamodb::types::AttributeValue::S(read[0].key.clone());
    store.client().delete_item().table_name(store.table()).key("pk", gone).send().await.unwrap();
    let (deleted, kept, _) = store.admin().delete_unchanged(&read).await.unwrap();
    assert_eq!((deleted, kept), (1, 0));

    // A group that starts a new life between the read and the delete (TTL removed it, or it had
    // expired, and a failure made it again) holds the count it was read with, 1, when it holds
    // one occurrence again: the count alone let the delete take the new occurrence, and its
    // marker then made every retry a duplicate. Its last occurrence tells the two lives apart.
    assert_eq!(ingest.handle(timeout("api-5", "quay.io/acme/api:5", before)).await.unwrap().result, "created");
    let (read, _) = store.admin().matching(&filters, 100, u64::MAX).await.unwrap();
    assert_eq!(read.iter().map(|g| g.occurrences).collect::<Vec<_>>(), [1]);
    let swept = aws_sdk_dynamodb::types::AttributeValue::S(read[0].key.clone());
    store.client().delete_item().table_name(store.table()).key("pk", swept).send().await.unwrap();
    let again = timeout("api-5-again", "quay.io/acme/api:5", fixed_now() - Duration::minutes(1));
    assert_eq!(ingest.handle(again.clone()).await.unwrap().result, "created");
    let (deleted, kept, _) = store.admin().delete_unchanged(&read).await.unwrap();
    assert_eq!((deleted, kept), (0, 1), "the new life was deleted with the old one's count");
    let survivor = store.reader().get(&group_of("quay.io/acme/api:5")).await.unwrap();
    assert_eq!(survivor.map(|g| g.num_occurrences), Some(1));
}

/// An SQS client of moto at `endpoint` in `region`.
fn queues_in(endpoint: &str, region: &'static str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(region))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "static"))
        .endpoint_url(endpoint)
        .http_client(scan_failures_aws::sdk::http_client())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// Case 2 (the replay). Before, the README's advice was to publish dead letters again with
/// `aws events put-events`, which mints a new envelope id (and a new time when the event has no
/// `occurredAt`): an envelope that had in fact been stored, its answer lost, counted twice. The
/// replay script hands each dead letter's own envelope to the buffer queue: the one stored
/// before is a duplicate, the one never stored is counted, both under their original ids.
#[tokio::test]
async fn dead_letters_replayed_by_the_script_keep_their_envelope_ids_and_count_once() {
    let store = fresh_store().await;
    let moto = integration_tests::Moto::start(free_port());
    let queues = queues_in(&moto.endpoint, "us-east-1");
    let dead = queues.create_queue().queue_name("dead-letters").send().await.unwrap().queue_url.unwrap();
    let buffer = queues.create_queue().queue_name("buffer").send().await.unwrap().queue_url.unwrap();
    let ingest = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    let at = fixed_now() - Duration::minutes(10);
    // Stored, but its delivery still failed (the answer was lost): a rule's dead letter.
    let stored = timeout("stored-then-dead", "nginx:1.25", at);
    assert_eq!(ingest.handle(stored.clone()).await.unwrap().result, "created");
    queues.send_message().queue_url(&dead).message_body(stored.to_string()).send().await.unwrap();
    // Never stored: the direct path's on-failure record, the envelope under requestPayload.
    let never = timeout("never-stored", "alpine:3", at);
    let record = json!({"version": "1.0", "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": never, "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorType": "StoreUnavailable", "errorMessage": "event not stored"}});
    queues.send_message().queue_url(&dead).message_body(record.to_string()).send().await.unwrap();

    let root = integration_tests::repo_root();
    let out = std::process::Command::new(root.join(".tools/venv/bin/python"))
        .arg(root.join("scripts/replay-dead-letters.py"))
        .args(["--dead-letter-queue-url", &dead, "--buffer-queue-url", &buffer, "--endpoint-url", &moto.endpoint])
        .envs([
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ])
        .output()
        .unwrap_or_else(|e| panic!("run the replay script: {e}; {}", integration_tests::INSTALL_HINT));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("replay-dead-letters: 2 replayed, 0 kept"), "{said}");

    let replayed = queues.receive_message().queue_url(&buffer).max_number_of_messages(10).send().await.unwrap();
    let bodies: Vec<Value> =
        replayed.messages().iter().map(|m| serde_json::from_str(m.body().unwrap_or("")).unwrap()).collect();
    let mut ids: Vec<&str> = bodies.iter().map(|b| b["id"].as_str().unwrap_or("")).collect();
    ids.sort();
    assert_eq!(ids, ["never-stored", "stored-then-dead"]);
    assert!(bodies.iter().all(|b| b["time"] == json!(time_fmt::format(at))), "original times kept");
    let report = ingest.handle_batch_report(sqs(&bodies)).await.unwrap();
    let mut results: Vec<&str> = report.results.iter().map(|(_, r)| *r).collect();
    results.sort();
    assert_eq!(results, ["created", "duplicate"]);
    assert_eq!(store.reader().get(&group_of("nginx:1.25")).await.unwrap().unwrap().num_occurrences, 1);
    let left = queues.receive_message().queue_url(&dead).send().await.unwrap();
    assert!(left.messages().is_empty(), "the dead-letter queue is emptied");
}

/// The replay script run with `args` (and `--endpoint-url endpoint`), with the test's
/// credentials and us-east-1.
fn replay_script(args: &[&str], endpoint: &str) -> std::process::Output {
    let root = integration_tests::repo_root();
    std::process::Command::new(root.join(".tools/venv/bin/python"))
        .arg(root.join("scripts/replay-dead-letters.py"))
        .args(args)
        .args(["--endpoint-url", endpoint])
        .envs([
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ])
        .output()
        .unwrap_or_else(|e| panic!("run the replay script: {e}; {}", integration_tests::INSTALL_HINT))
}

/// A dry run leaves every message visible again when it ends, so the replay run right after it
/// finds them all (before, they stayed hidden for their 60 s receive timeout: the replay said
/// "0 replayed, 0 kept" and exited 0 with the queue still full), and exits 1 when it would keep
/// one (before, 0: a scripted pre-check passed over forgeries). What the replay keeps is visible
/// at once for the next run too.
#[tokio::test]
async fn a_dry_run_hides_nothing_from_the_replay_after_it_and_fails_on_what_it_would_keep() {
    let moto = integration_tests::Moto::start(free_port());
    let queues = queues_in(&moto.endpoint, "us-east-1");
    let dead = queues.create_queue().queue_name("dead-letters").send().await.unwrap().queue_url.unwrap();
    let buffer = queues.create_queue().queue_name("buffer").send().await.unwrap().queue_url.unwrap();
    let at = fixed_now() - Duration::minutes(10);
    let mut forged = timeout("forged", "nginx:1.25", at);
    forged["detail-type"] = json!("Other");
    for body in [timeout("dead-1", "nginx:1.25", at), timeout("dead-2", "alpine:3", at), forged] {
        queues.send_message().queue_url(&dead).message_body(body.to_string()).send().await.unwrap();
    }
    let args = ["--dead-letter-queue-url", &dead, "--buffer-queue-url", &buffer];
    let dry = replay_script(&[&args[..], &["--dry-run"]].concat(), &moto.endpoint);
    let said = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(dry.status.code(), Some(1), "{said}{}", String::from_utf8_lossy(&dry.stderr));
    assert!(said.contains("replay-dead-letters: dry run: 2 would be replayed, 1 kept"), "{said}");
    let out = replay_script(&args, &moto.endpoint);
    let said = String::from_utf8_lossy(&out.stdout);
    let kept = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}{kept}");
    assert!(said.contains("replay-dead-letters: 2 replayed, 1 kept"), "{said}");
    assert!(kept.contains("not replayed: detail-type 'Other' is not one the stack takes"), "{kept}");
    let left = queues.receive_message().queue_url(&dead).max_number_of_messages(10).send().await.unwrap();
    let bodies: Vec<Value> =
        left.messages().iter().map(|m| serde_json::from_str(m.body().unwrap_or("")).unwrap()).collect();
    assert_eq!(
        bodies.iter().map(|b| b["id"].as_str().unwrap_or("")).collect::<Vec<_>>(),
        ["forged"],
        "visible at once"
    );
    let replayed = queues.receive_message().queue_url(&buffer).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(replayed.messages().len(), 2);
}

/// A member stack's dead letters are in the member's account and region: the replay reads them
/// with the member's profile (`--dead-letter-profile`) and delivers with the default credentials
/// (before, one set of credentials did both, and a member's queue could not be replayed to the
/// central stack). moto keeps each region's queues apart, so the queue is only found through the
/// profile's region. What the member's intake would not have taken (another account's event, an
/// AWS detail-type from a scanner's source, an ECR failure naming another account's registry) is
/// kept and named, not replayed past the bus policy.
#[tokio::test]
async fn a_members_dead_letters_are_read_with_its_profile_and_delivered_with_the_default_credentials() {
    let moto = integration_tests::Moto::start(free_port());
    let member = queues_in(&moto.endpoint, "eu-west-1");
    let central = queues_in(&moto.endpoint, "us-east-1");
    let dead = member.create_queue().queue_name("forward-dead-letters").send().await.unwrap().queue_url.unwrap();
    let buffer = central.create_queue().queue_name("buffer").send().await.unwrap().queue_url.unwrap();
    let forwarded = timeout("forwarded-then-dead", "nginx:1.25", fixed_now() - Duration::minutes(10));
    member.send_message().queue_url(&dead).message_body(forwarded.to_string()).send().await.unwrap();
    // Forgeries anyone the member's account lets send to the queue could put there: another
    // account's failure, and an ECR failure from a scanner's source. Kept, named, not replayed.
    let mut other_account = timeout("forged-account", "nginx:1.25", fixed_now() - Duration::minutes(10));
    other_account["account"] = json!("111122223333");
    let mut not_ecr = timeout("forged-ecr", "nginx:1.25", fixed_now() - Duration::minutes(10));
    not_ecr["detail-type"] = json!("ECR Image Scan");
    // An ECR failure in the member's own account whose repository ARN names another account's
    // registry: the intake takes the image's account from the ARN.
    let mut other_registry: Value = serde_json::from_str(
        &std::fs::read_to_string(integration_tests::repo_root().join("events/aws-ecr-01-failed.json")).unwrap(),
    )
    .unwrap();
    other_registry["id"] = json!("forged-registry");
    other_registry["resources"] = json!(["arn:aws:ecr:us-east-1:111122223333:repository/team/api"]);
    for forged in [&other_account, &not_ecr, &other_registry] {
        member.send_message().queue_url(&dead).message_body(forged.to_string()).send().await.unwrap();
    }

    let dir = std::env::temp_dir().join(format!("replay-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config"), "[profile member]\nregion = eu-west-1\n").unwrap();
    std::fs::write(dir.join("credentials"), "[member]\naws_access_key_id = member\naws_secret_access_key = member\n")
        .unwrap();
    let root = integration_tests::repo_root();
    let replay = |with_profile: bool| {
        let mut command = std::process::Command::new(root.join(".tools/venv/bin/python"));
        command
            .arg(root.join("scripts/replay-dead-letters.py"))
            .args(["--dead-letter-queue-url", &dead, "--buffer-queue-url", &buffer, "--endpoint-url", &moto.endpoint])
            .env("AWS_CONFIG_FILE", dir.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
            .envs([
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_DEFAULT_REGION", "us-east-1"),
            ]);
        if with_profile {
            command.args(["--dead-letter-profile", "member"]);
        }
        command.output().unwrap_or_else(|e| panic!("run the replay script: {e}; {}", integration_tests::INSTALL_HINT))
    };
    // With the central credentials alone, the member's queue is not there.
    let without = replay(false);
    let failed = String::from_utf8_lossy(&without.stderr);
    assert!(!without.status.success() && failed.contains("NonExistentQueue"), "{failed}");
    let out = replay(true);
    let said = String::from_utf8_lossy(&out.stdout);
    let refused = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}{refused}");
    assert!(said.contains("replay-dead-letters: 1 replayed, 3 kept"), "{said}");
    let mut kept: Vec<&str> =
        refused.lines().filter_map(|l| l.split_once(": not replayed: ").map(|(_, why)| why)).collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "ECR Image Scan from source 'test.producer': only aws.ecr sends it",
            "account '111122223333' is not the member's (123456789012)",
            "resource of account '111122223333' is not the member's (123456789012)",
        ],
        "{refused}"
    );
    let delivered = central.receive_message().queue_url(&buffer).send().await.unwrap();
    let bodies: Vec<Value> =
        delivered.messages().iter().map(|m| serde_json::from_str(m.body().unwrap_or("")).unwrap()).collect();
    assert_eq!(bodies, [forwarded]);
    std::fs::remove_dir_all(&dir).unwrap();
}
