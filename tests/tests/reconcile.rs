//! The Inspector coverage reconciler (`functions/maintenance/src/reconcile.rs`) on DynamoDB
//! Local, with the ingest handler in-process for the events.
//!
//! Amazon Inspector has no local server (moto has no `ListCoverage`), so its answers come from
//! aws-smithy-mocks: whole HTTP responses in the shape of Inspector's API reference (restJson1,
//! `coveredResources`, `scanStatus`, epoch-second `lastScannedAt`, `nextToken`) that the SDK's
//! own deserializer reads, each rule matched by the request's `nextToken`. Everything else (the
//! table, the writer, the stored progress) is real.
//!
//! The clock is the real one (the progress' times are compared with it) and the retention a
//! year, which the sample event's fixed date stays inside.

use std::time::Duration;

use aws_sdk_inspector2::operation::list_coverage::ListCoverageInput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use ingest::handler::Ingest;
use integration_tests::{fresh_store, samples};
use maintenance::reconcile::{run, PageCounts, ReconcileConfig};
use scan_failures_aws::dynamo::settings::RetentionCache;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::query::Filters;
use scan_failures_domain::retention::RetentionDays;
use serde_json::{json, Value};
use time::OffsetDateTime;

const DIGEST: &str = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678";
/// The `eventTimestamp` of `events/aws-inspector-01-access-denied.json`.
const EVENT_SCAN_TIME: i64 = 1_795_604_460; // 2026-11-25T11:01:00Z

/// A `CoveredResource` of an inactive ECR image, as Inspector's API returns it.
fn covered(account: &str, region: &str, repository: &str, digest: &str, reason: &str, scanned: Option<i64>) -> Value {
    let mut r = json!({
        "accountId": account,
        "resourceId": format!("arn:aws:ecr:{region}:{account}:repository/{repository}/{digest}"),
        "resourceType": "AWS_ECR_CONTAINER_IMAGE",
        "scanType": "PACKAGE",
        "scanStatus": {"statusCode": "INACTIVE", "reason": reason},
        "resourceMetadata": {"ecrImage": {"tags": [], "imagePulledAt": 1_795_500_000}},
    });
    if let Some(t) = scanned {
        r["lastScannedAt"] = json!(t);
    }
    r
}

/// Two inactive images `svc/{prefix}{from}` and the next, denied access, scanned at the
/// sample event's time.
fn two_inactive(prefix: &str, from: u32) -> Vec<Value> {
    (from..from + 2)
        .map(|n| {
            let repository = format!("svc/{prefix}{n}");
            covered("123456789012", "us-west-2", &repository, &digest(n), "ACCESS_DENIED", Some(EVENT_SCAN_TIME))
        })
        .collect()
}

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

/// A `ListCoverage` answer: `resources`, then `next` if there is a next page.
fn page(resources: Vec<Value>, next: Option<&str>) -> String {
    let mut body = json!({ "coveredResources": resources });
    if let Some(t) = next {
        body["nextToken"] = json!(t);
    }
    body.to_string()
}

/// The rule answering the request whose `nextToken` is `token` with `body`, `times` times.
fn answer(token: Option<&'static str>, body: String, times: usize) -> Rule {
    mock!(aws_sdk_inspector2::Client::list_coverage)
        .match_requests(move |r: &ListCoverageInput| r.next_token() == token)
        .sequence()
        .http_status(200, Some(body))
        .times(times)
        .build()
}

fn inspector(rules: &[&Rule]) -> aws_sdk_inspector2::Client {
    mock_client!(aws_sdk_inspector2, RuleMode::MatchAny, rules)
}

/// Notifications on: a group the reconciler opens leaves its notification in the outbox.
const THRESHOLDS: Option<&[u64]> = Some(&[10, 100]);

/// A year: the sample event's fixed date stays inside it.
fn retention() -> RetentionDays {
    RetentionDays::new(365).unwrap()
}

/// The retention as the maintenance function gives it: the stored setting read at once (a year
/// when none is stored).
fn settled() -> RetentionCache {
    RetentionCache::new(retention(), Duration::ZERO)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_millisecond(0).unwrap()
}

fn config(max_pages: u32) -> ReconcileConfig {
    ReconcileConfig { max_pages, every: Duration::from_secs(6 * 3600) }
}

async fn count(store: &Store) -> u64 {
    store.reader().count(&Filters::default(), now(), retention()).await.unwrap().0
}

async fn occurrences(store: &Store, repository_suffix: &str) -> Vec<(String, u64, String, String)> {
    let page = store.reader().list(&Default::default(), now(), retention()).await.unwrap();
    let mut found: Vec<(String, u64, String, String)> = page
        .groups
        .into_iter()
        .filter(|g| g.repository.ends_with(repository_suffix))
        .map(|g| (g.reason, g.num_occurrences, g.account, g.region))
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn a_failure_reported_by_its_event_and_found_by_the_reconciler_counts_once() {
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), retention()).with_clock(now);
    let (_, event) = samples("aws-inspector-01").remove(0);
    assert_eq!(ingest.handle(event.clone()).await.unwrap().result, "created");
    // The same failure through a second delivery path (another EventBridge id) is the same
    // occurrence: the key is the resource, reason and scan time, not the id.
    let mut again = event;
    again["id"] = json!("00001a50-0000-4000-8000-00000000ffff");
    assert_eq!(ingest.handle(again).await.unwrap().result, "duplicate");

    // Inspector's coverage: that image (scanned when the event said), an image whose event
    // never came (another account and region), an inactive reason that is no failure, and an
    // entry that cannot be read.
    let body = page(
        vec![
            covered("123456789012", "us-east-1", "team/worker", DIGEST, "ACCESS_DENIED", Some(EVENT_SCAN_TIME)),
            covered(
                "210987654321",
                "eu-central-1",
                "team/batch",
                &digest(1),
                "INTERNAL_ERROR",
                Some(EVENT_SCAN_TIME + 600),
            ),
            covered("123456789012", "us-east-1", "team/new", &digest(2), "PENDING_INITIAL_SCAN", None),
            // A resource id past its bound (2 KiB) cannot be read: counted as refused, not as
            // ignored (which says "no failure"), and logged.
            covered("123456789012", "us-east-1", &"x".repeat(2100), &digest(3), "ACCESS_DENIED", None),
        ],
        None,
    );
    let first = answer(None, body, 2);
    let client = inspector(&[&first]);
    let start = now();
    let report = run(&store, &client, &config(10), THRESHOLDS, &settled(), start, None).await.unwrap();
    assert_eq!(report.status, "finished");
    assert_eq!(report.this_run, PageCounts { examined: 4, recorded: 1, duplicates: 1, ignored: 1, refused: 1 });
    assert_eq!(count(&store).await, 2);
    assert_eq!(
        occurrences(&store, "team/worker").await,
        [("ACCESS_DENIED".into(), 1, "123456789012".into(), "us-east-1".into())]
    );
    assert_eq!(
        occurrences(&store, "team/batch").await,
        [("INTERNAL_ERROR".into(), 1, "210987654321".into(), "eu-central-1".into())]
    );
    // The group it opened waits in the outbox for the ingest function's drain; the one the
    // event opened was recorded without notifications (this test's ingest has none).
    let pending = store.outbox().pending(10).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].detail_type, "Scan Failure Group Opened");
    assert!(pending[0].detail.contains("team/batch"), "{}", pending[0].detail);

    // Before the next pass is due, a run reads nothing; once due, the same coverage is all
    // duplicates.
    let waiting = run(&store, &client, &config(10), THRESHOLDS, &settled(), start + time::Duration::hours(1), None)
        .await
        .unwrap();
    let due = scan_failures_domain::time_fmt::format(start + time::Duration::hours(6));
    assert_eq!((waiting.status, waiting.next_pass_at.as_deref()), ("waiting", Some(due.as_str())));
    assert_eq!(first.num_calls(), 1);
    let again = run(&store, &client, &config(10), THRESHOLDS, &settled(), start + time::Duration::hours(6), None)
        .await
        .unwrap();
    assert_eq!(again.this_run, PageCounts { examined: 4, recorded: 0, duplicates: 2, ignored: 1, refused: 1 });
    assert_eq!(first.num_calls(), 2);
    assert_eq!(count(&store).await, 2);
    assert_eq!(occurrences(&store, "team/worker").await[0].1, 1);
}

#[tokio::test]
async fn a_pass_over_several_pages_resumes_from_its_stored_progress_after_a_failed_run() {
    let store = fresh_store().await;
    let resources = |from: u32| two_inactive("app", from);
    let first = answer(None, page(resources(0), Some("page-2")), 1);
    let second = answer(Some("page-2"), page(resources(2), Some("page-3")), 1);
    // The third page fails (every attempt the SDK makes), then answers.
    let third = mock!(aws_sdk_inspector2::Client::list_coverage)
        .match_requests(|r: &ListCoverageInput| r.next_token() == Some("page-3"))
        .sequence()
        .http_status(500, Some(r#"{"message":"internal error"}"#.into()))
        .times(3)
        .http_status(200, Some(page(resources(4), None)))
        .build();
    let client = inspector(&[&first, &second, &third]);
    let now = now();

    // Run 1: two pages (the bound), progress stored after each.
    let one = run(&store, &client, &config(2), None, &settled(), now, None).await.unwrap();
    assert_eq!((one.status, one.pages, one.this_run.recorded), ("running", 2, 4));
    let stored = store.reconciliation().progress().await.unwrap().unwrap();
    assert_eq!((stored.next_token.as_deref(), stored.pages, stored.recorded), (Some("page-3"), 2, 4));
    assert_eq!((first.num_calls(), second.num_calls(), third.num_calls()), (1, 1, 0));

    // Run 2: the third page fails; the run fails and the stored progress is unchanged.
    let failed = run(&store, &client, &config(2), None, &settled(), now + time::Duration::minutes(15), None).await;
    let err = failed.unwrap_err();
    assert_eq!(err.to_string(), "the reconciler could not read Amazon Inspector's coverage");
    assert_eq!(third.num_calls(), 3, "the SDK's three attempts");
    assert_eq!(store.reconciliation().progress().await.unwrap().unwrap(), stored);

    // A run whose time is up (its stop before the first page) reads nothing and keeps its place.
    let stopped = run(
        &store,
        &client,
        &config(2),
        None,
        &settled(),
        now + time::Duration::minutes(20),
        Some(std::time::Instant::now()),
    )
    .await
    .unwrap();
    assert_eq!((stopped.status, stopped.pages), ("running", 0));
    assert_eq!(third.num_calls(), 3, "no page read");
    assert_eq!(store.reconciliation().progress().await.unwrap().unwrap(), stored);

    // Run 3: resumes at the third page, not the first, and finishes the pass.
    let three =
        run(&store, &client, &config(2), None, &settled(), now + time::Duration::minutes(30), None).await.unwrap();
    assert_eq!((three.status, three.pages, three.this_run.recorded), ("finished", 1, 2));
    assert_eq!((first.num_calls(), second.num_calls(), third.num_calls()), (1, 1, 4));
    let done = store.reconciliation().progress().await.unwrap().unwrap();
    assert_eq!((done.pages, done.examined, done.recorded, done.next_token), (3, 6, 6, None));
    let finished = scan_failures_domain::time_fmt::format(now + time::Duration::minutes(30));
    assert_eq!(done.finished_at.as_deref(), Some(finished.as_str()));
    assert_eq!(count(&store).await, 6);
}

/// A stored page token Inspector refuses (400 `ValidationException`: expired, or from a listing
/// it no longer holds) starts the pass over from its first page, rather than failing every run
/// at the same page for good. What the pages before recorded counts once: the new pass finds it
/// again as duplicates. Refused again, the pass ends, given up (the run fails, once), and the
/// next starts when due: before, every later run tried the stored token again and failed, for
/// good, whatever `ReconcileMaxPages` was raised to.
#[tokio::test]
async fn a_stored_page_token_inspector_refuses_starts_the_pass_over_once_then_ends_it() {
    let store = fresh_store().await;
    let resources = |from: u32| two_inactive("old", from);
    let first = answer(None, page(resources(0), Some("stale")), 2);
    let refused = mock!(aws_sdk_inspector2::Client::list_coverage)
        .match_requests(|r: &ListCoverageInput| r.next_token() == Some("stale"))
        .sequence()
        .http_status(400, Some(r#"{"__type":"ValidationException","message":"Invalid pagination token"}"#.into()))
        .times(3)
        .build();
    let whole = answer(None, page(resources(0), None), 1);
    let client = inspector(&[&first, &refused, &whole]);
    let now = now();
    let one = run(&store, &client, &config(1), None, &settled(), now, None).await.unwrap();
    assert_eq!((one.status, one.this_run.recorded), ("running", 2));
    // The next run meets the refusal, starts over, reads the first page again (its two as
    // duplicates), and its next page is refused again: that is an error, once restarted.
    let later = now + time::Duration::minutes(15);
    let err = run(&store, &client, &config(3), None, &settled(), later, None).await.unwrap_err();
    assert_eq!(err.to_string(), "the reconciler could not read Amazon Inspector's coverage");
    assert_eq!((first.num_calls(), refused.num_calls()), (2, 2));
    let stored = store.reconciliation().progress().await.unwrap().unwrap();
    let restarted_at = scan_failures_domain::time_fmt::format(later);
    assert_eq!(
        (stored.started_at.as_str(), stored.pages, stored.duplicates, stored.restarts, stored.given_up),
        (restarted_at.as_str(), 1, 2, 1, true)
    );
    assert_eq!((stored.next_token.as_deref(), stored.finished_at.as_deref()), (None, Some(restarted_at.as_str())));
    assert_eq!(count(&store).await, 2);
    // The pass ended: the next run waits for the next pass, and asks Inspector nothing.
    let third = run(&store, &client, &config(3), None, &settled(), later + time::Duration::minutes(15), None).await;
    let waiting = third.unwrap();
    assert_eq!(waiting.status, "waiting");
    assert_eq!((first.num_calls(), refused.num_calls()), (2, 2));
    // When due, a new pass from the first page, whole in one run here.
    let due = later + time::Duration::hours(6);
    let next = run(&store, &client, &config(3), None, &settled(), due, None).await.unwrap();
    assert_eq!((next.status, next.pages, next.this_run.duplicates), ("finished", 1, 2));
    let done = store.reconciliation().progress().await.unwrap().unwrap();
    assert_eq!((done.restarts, done.given_up), (0, false));
    assert_eq!(refused.num_calls(), 2);
}

/// A next page whose token is longer than the reconciler keeps (`MAX_TOKEN`): the page's entries
/// are recorded, and the pass ends there, given up, failing the run once; the next run waits for
/// the next pass. Before, the error came before the page was recorded and the stored progress
/// stayed where it was: every run asked for the same page again and failed, for good.
#[tokio::test]
async fn a_page_token_too_long_to_keep_records_its_page_and_ends_the_pass_once() {
    let store = fresh_store().await;
    let long: &'static str = "t".repeat(scan_failures_aws::inspector::MAX_TOKEN + 1).leak();
    let first = answer(None, page(two_inactive("long", 0), Some(long)), 1);
    let client = inspector(&[&first]);
    let now = now();
    let err = run(&store, &client, &config(3), None, &settled(), now, None).await.unwrap_err();
    assert_eq!(
        scan_failures_domain::text::error_chain(&err),
        "the reconciler could not read Amazon Inspector's coverage: Amazon Inspector returned a pagination token of 8193 bytes (at most 8192 are kept)"
    );
    let stored = store.reconciliation().progress().await.unwrap().unwrap();
    let at = scan_failures_domain::time_fmt::format(now);
    assert_eq!(
        (stored.pages, stored.recorded, stored.given_up, stored.next_token.as_deref(), stored.finished_at.as_deref()),
        (1, 2, true, None, Some(at.as_str()))
    );
    assert_eq!(count(&store).await, 2);
    let later = run(&store, &client, &config(3), None, &settled(), now + time::Duration::minutes(15), None).await;
    assert_eq!(later.unwrap().status, "waiting");
    assert_eq!(first.num_calls(), 1, "the page is not asked for again");
}

/// An inactive image stays in Inspector's coverage, and so at every pass, for as long as it is
/// inactive: each pass keeps its occurrence's marker, so the same scan never counts again
/// (before, once the marker expired, 20 days and 6 hours after the first pass, the next pass
/// counted the scan a second time; with the default retention, it opened a new group).
#[tokio::test]
async fn an_occurrence_listed_at_every_pass_counts_once_however_long_it_is_listed() {
    let store = fresh_store().await;
    let body = page(
        vec![covered(
            "210987654321",
            "eu-central-1",
            "team/batch",
            &digest(1),
            "INTERNAL_ERROR",
            Some(EVENT_SCAN_TIME),
        )],
        None,
    );
    let coverage = answer(None, body, 3);
    let client = inspector(&[&coverage]);
    let start = now();
    let remembered = scan_failures_aws::dynamo::write::redelivery::MARKER_SECONDS;
    let runs = [start, start + time::Duration::hours(6), start + time::Duration::seconds(remembered + 60)];
    let mut counted = Vec::new();
    for at in runs {
        let report = run(&store, &client, &config(10), None, &settled(), at, None).await.unwrap();
        counted.push((report.this_run.recorded, report.this_run.duplicates));
    }
    assert_eq!(coverage.num_calls(), 3, "three passes");
    assert_eq!(counted, [(1, 0), (0, 1), (0, 1)]);
    assert_eq!(occurrences(&store, "team/batch").await[0].1, 1);
}

/// A group the reconciler finds expired under the retention its run read is started anew only
/// if the setting, read again, still says so: an admin who made it longer meanwhile sees the
/// group again, with its count and first time. Before, the reconciler wrote by the retention
/// read at the start of its run (up to its whole run earlier): the group restarted at a count
/// of 1, with a second "opened" notification.
#[tokio::test]
async fn a_group_a_longer_retention_keeps_is_not_started_anew_by_a_run_that_read_a_shorter_one() {
    let store = fresh_store().await;
    let admin = "arn:aws:iam::123456789012:role/Admin";
    let days = |d| RetentionDays::new(d).unwrap();
    store.settings().put_retention_setting(days(30), admin, now()).await.unwrap();
    let (old, new) = (now() - time::Duration::days(13), now() - time::Duration::hours(1));
    let seen = |at: OffsetDateTime| {
        page(
            vec![covered("123456789012", "us-east-1", "team/kept", DIGEST, "ACCESS_DENIED", Some(at.unix_timestamp()))],
            None,
        )
    };
    let listing = mock!(aws_sdk_inspector2::Client::list_coverage)
        .sequence()
        .http_status(200, Some(seen(old)))
        .http_status(200, Some(seen(new)))
        .build();
    let client = inspector(&[&listing]);
    let first = run(&store, &client, &config(10), THRESHOLDS, &settled(), now(), None).await.unwrap();
    assert_eq!(first.this_run.recorded, 1);
    let opened = store.reader().list(&Default::default(), now(), days(30)).await.unwrap().groups;
    assert_eq!(opened.len(), 1);
    // A run that read 10 days (13 days old: expired under it), the setting 30 by then.
    let stale = RetentionCache::new(days(365), Duration::from_secs(3600));
    stale.set(days(10));
    let due = now() + time::Duration::hours(6);
    let second = run(&store, &client, &config(10), THRESHOLDS, &stale, due, None).await.unwrap();
    assert_eq!(second.this_run.recorded, 1);
    assert_eq!(listing.num_calls(), 2);
    let kept = store.reader().list(&Default::default(), now(), days(30)).await.unwrap().groups;
    assert_eq!(
        kept.iter().map(|g| (g.id.as_str(), g.num_occurrences, g.created_at.as_str())).collect::<Vec<_>>(),
        [(opened[0].id.as_str(), 2, opened[0].created_at.as_str())]
    );
    // One "opened" notification, of the first run.
    assert_eq!(store.outbox().pending(10).await.unwrap().len(), 1);
}

/// A page whose time runs out before its entries are recorded is left for the next run, whole:
/// the run answered past its stop time before (every entry's writes, each up to twelve
/// attempts, with nothing checking the time once the page was read), under a slow DynamoDB past
/// the function's timeout, with no metrics. The second pass's answer here takes 2 s, the run's
/// stop time 1 s after its start; its entries are new occurrences of the first pass's groups
/// (written at their first attempt) and a new group.
#[tokio::test]
async fn a_page_read_past_the_runs_stop_time_is_left_whole_for_the_next_run() {
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    let store = fresh_store().await;
    let entry = |n: u32, at: i64| {
        covered("123456789012", "us-west-2", &format!("svc/late{n}"), &digest(n), "ACCESS_DENIED", Some(at))
    };
    let later = EVENT_SCAN_TIME + 600;
    let second = page(vec![entry(0, later), entry(1, later), entry(2, later)], None);
    let slow = second.clone();
    let listing = mock!(aws_sdk_inspector2::Client::list_coverage)
        .sequence()
        .http_status(200, Some(page(vec![entry(0, EVENT_SCAN_TIME), entry(1, EVENT_SCAN_TIME)], None)))
        .http_response(move || {
            std::thread::sleep(Duration::from_secs(2));
            Response::new(StatusCode::try_from(200).unwrap(), slow.clone().into())
        })
        .http_status(200, Some(second))
        .build();
    let client = inspector(&[&listing]);
    let first = run(&store, &client, &config(10), None, &settled(), now(), None).await.unwrap();
    assert_eq!((first.status, first.this_run.recorded), ("finished", 2));
    let pass = store.reconciliation().progress().await.unwrap();
    let due = now() + time::Duration::hours(6);
    let stop_at = std::time::Instant::now() + Duration::from_secs(1);
    let cut = run(&store, &client, &config(10), None, &settled(), due, Some(stop_at)).await.unwrap();
    // The page was read (its answer came after the stop time), and nothing of it recorded.
    assert_eq!(listing.num_calls(), 2);
    assert!(std::time::Instant::now() > stop_at);
    assert_eq!((cut.status, cut.pages, cut.this_run), ("running", 0, PageCounts::default()));
    assert_eq!(occurrences(&store, "late0").await[0].1, 1);
    assert_eq!(count(&store).await, 2);
    assert_eq!(store.reconciliation().progress().await.unwrap(), pass, "the finished pass, as it was");
    // The next run reads it again and records it whole.
    let next = run(&store, &client, &config(10), None, &settled(), due, None).await.unwrap();
    assert_eq!((next.status, next.pages, next.this_run.recorded), ("finished", 1, 3));
    assert_eq!(occurrences(&store, "late0").await[0].1, 2);
    assert_eq!(count(&store).await, 3);
}
