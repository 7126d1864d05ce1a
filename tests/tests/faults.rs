//! Faults on the write path: a DynamoDB Local killed and restarted mid-run through the real
//! runtime path, throttling and 5xx from a mocked DynamoDB (faults a real server cannot be made
//! to produce on demand), writes whose outcome is unknown, and mass redelivery under
//! concurrency. Each test prints its tally for RELIABILITY.md.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use ingest::handler::{Ingest, IngestError};
use integration_tests::race::{all_in_flight_at_once, Span};
use integration_tests::{
    dynamodb_client, dynamodb_endpoint, fixtures, free_port, fresh_store, spawn_dynamodb_local, FaultProxy, Watch,
};
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::classify::Reason;
use scan_failures_domain::fingerprint::group_id;
use scan_failures_domain::retention::RetentionDays;
use serde_json::Value;

const GROUPS: usize = 20;

fn image(n: usize) -> String {
    format!("quay.io/acme/svc{}:1", n % GROUPS)
}

/// An event dated within the last hours of the real clock (these tests run the real binary).
fn envelope(id: &str, n: usize) -> Value {
    let base = time::OffsetDateTime::now_utc() - time::Duration::hours(4);
    let at = scan_failures_domain::time_fmt::format(base + time::Duration::seconds(n as i64));
    let detail = fixtures::failure_at("image check", "api", &image(n), "context deadline exceeded", &at);
    fixtures::envelope(id, "test.faults", &at, detail)
}

async fn total(store: &Store, groups: usize) -> u64 {
    counts(store, groups).await.iter().sum()
}

/// Each of the first `groups` groups' count of occurrences (0 for a group not stored).
async fn counts(store: &Store, groups: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for n in 0..groups {
        let reference = scan_failures_domain::image::ImageRef::parse(&image(n)).unwrap().normalized();
        let group = store.reader().get(&group_id(&reference, Reason::Timeout, "")).await.unwrap();
        out.push(group.map_or(0, |g| g.num_occurrences));
    }
    out
}

/// What each group counts once events `0..events` are each stored once (event `n` is of group
/// `n % GROUPS`): checked group by group, since a loss in one group and a double count in
/// another leave the total right.
fn once_each(events: usize) -> Vec<u64> {
    (0..GROUPS).map(|g| (g..events).step_by(GROUPS).count() as u64).collect()
}

/// Prints, for each group whose count is off, its count and which of its envelopes have an
/// idempotency marker and which were reported failed: tells a lost acknowledged write (no
/// marker) from a marker stored without its group update (marker, count short). Then prints the
/// function's log lines of each envelope of those groups that was never `created`/`updated`.
async fn explain_mismatch(store: &Store, events: usize, failed: &[usize], log: &std::path::Path) {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    use aws_sdk_dynamodb::types::AttributeValue;
    for g in 0..GROUPS {
        let reference = scan_failures_domain::image::ImageRef::parse(&image(g)).unwrap().normalized();
        let count = store
            .reader()
            .get(&group_id(&reference, Reason::Timeout, ""))
            .await
            .unwrap()
            .map_or(0, |r| r.num_occurrences);
        let expected = (g..events).step_by(GROUPS).count() as u64;
        if count == expected {
            continue;
        }
        let mut without_marker = Vec::new();
        for n in (g..events).step_by(GROUPS) {
            let key = AttributeValue::S(format!("e#kill-{n}"));
            let got = store
                .client()
                .get_item()
                .table_name(store.table())
                .key(scan_failures_aws::dynamo::schema::PARTITION_KEY, key)
                .send()
                .await
                .unwrap();
            if got.item().is_none() {
                without_marker.push(n);
            }
        }
        let failed_here: Vec<usize> = failed.iter().copied().filter(|n| n % GROUPS == g).collect();
        println!("MISMATCH group {g}: count {count}, expected {expected}; envelopes without a marker {without_marker:?}; reported failed {failed_here:?}");
        for n in (g..events).step_by(GROUPS) {
            let id = format!("\"kill-{n}\"");
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
            if !lines.iter().any(|l| l.contains("\"result\":\"created\"") || l.contains("\"result\":\"updated\"")) {
                println!("NEVER COUNTED kill-{n}: {lines:#?}");
            }
        }
    }
}

/// Waits until nothing in DynamoDB Local's data directory has changed for a second (at most
/// 30 s): once the network is cut, what it acknowledged is on disk when its files stop changing.
/// (It was a fixed second, which a loaded machine's JVM may need more than.)
async fn until_settled(dir: &std::path::Path) {
    let state = || -> Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok().map(|m| (e.file_name(), m.len(), m.modified().ok())))
            .collect();
        files.sort();
        files
    };
    let started = std::time::Instant::now();
    let mut last = state();
    let mut quiet_since = std::time::Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(1) && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = state();
        if now != last {
            (last, quiet_since) = (now, std::time::Instant::now());
        }
    }
}

fn tally(test: &str, sent: u64, stored: u64, failed_then_replayed: usize, faults: &str) {
    let lost = sent.saturating_sub(stored);
    let double = stored.saturating_sub(sent);
    println!(
        "TALLY {test}: sent={sent} stored={stored} failed_then_replayed={failed_then_replayed} lost={lost} double_counted={double} faults={faults}"
    );
}

/// DynamoDB Local does not keep a write it acknowledged just before a `SIGKILL`: in a run of
/// this test that killed it directly, the transaction of `kill-664` was answered with success
/// (logged `updated`, 8 WCU), the next event's write failed on the killed server, and after the
/// restart `kill-664` was gone, marker and count. DynamoDB acknowledges a write only once it is durable, so the test does what a real
/// outage does to a durable store: the network is cut first (the fault proxy resets the
/// connections, so requests in flight lose their answers whether or not they were applied),
/// DynamoDB Local is given until its files stop changing to settle, then killed, kept down and restarted, and the network
/// comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_cut_off_killed_and_restarted_mid_run_loses_nothing_and_double_counts_nothing() {
    let dir = std::env::temp_dir().join(format!("ddb-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut server = spawn_dynamodb_local(port, Some(&dir));
    let endpoint = format!("http://127.0.0.1:{port}");
    let store = Store::new(dynamodb_client(&endpoint), "faults");
    scan_failures_aws::dynamo::table::create(&store, scan_failures_aws::dynamo::table::Ttl::Disabled).await.unwrap();
    let proxy = FaultProxy::start(port);
    let through_proxy = format!("http://127.0.0.1:{}", proxy.port);
    let log = dir.with_extension("log");
    let watch = Arc::new(Watch::start_logged(&["ingest"], "faults", &[], Some(&through_proxy), Some(&log)));

    const EVENTS: usize = 2_000;
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::<usize>::new()));
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (watch, next, failed) = (watch.clone(), next.clone(), failed.clone());
            std::thread::spawn(move || loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= EVENTS {
                    break;
                }
                if watch.invoke_http("ingest", &envelope(&format!("kill-{n}"), n)).is_err() {
                    failed.lock().unwrap().push(n);
                }
            })
        })
        .collect();
    // A third of the way in: cut the network, let the server settle, kill it hard, keep it
    // down, restart it on the same port and data directory, restore the network.
    while next.load(Ordering::SeqCst) < EVENTS / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.partition();
    until_settled(&dir).await;
    let killed = std::process::Command::new("pkill")
        .args(["-KILL", "-f", &format!("DynamoDBLocal.jar -dbPath {}", dir.display())])
        .status()
        .expect("pkill (procps) runs: apt-get install procps");
    assert!(killed.success(), "DynamoDB Local was not running");
    let _ = server.wait();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server = spawn_dynamodb_local(port, Some(&dir));
    proxy.heal();
    for s in senders {
        s.join().unwrap();
    }
    let failed: Vec<usize> = failed.lock().unwrap().clone();
    assert!(!failed.is_empty(), "the outage failed no event: the fault was not injected");

    // Replay what was reported failed, as Lambda's retries and the dead-letter queue would.
    for &n in &failed {
        let mut attempts = 0;
        while let Err(e) = watch.invoke_http("ingest", &envelope(&format!("kill-{n}"), n)) {
            attempts += 1;
            assert!(attempts < 20, "event {n} still failing after replay: {e}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let stored = total(&store, GROUPS).await;
    let faults = "network cut, then DynamoDB Local SIGKILL, 3 s down, restart";
    tally("cut_kill_restart", EVENTS as u64, stored, failed.len(), faults);
    if stored != EVENTS as u64 {
        explain_mismatch(&store, EVENTS, &failed, &log).await;
    }
    assert_eq!(stored, EVENTS as u64);
    assert_eq!(counts(&store, GROUPS).await, once_each(EVENTS));
    drop(watch);
    integration_tests::stop_dynamodb_local(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
}

/// A DynamoDB that accepts connections and stops answering (a black hole, not a refusal): each
/// attempt is cut at `SDK_ATTEMPT_TIMEOUT_MS`, the SDK's three attempts fail, and the invocation
/// returns the function's error instead of hanging until the Lambda timeout, so the event goes
/// back to Lambda's retry at once. Its retry after the fault counts it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamodb_that_stops_answering_fails_the_invocation_by_attempt_timeouts_and_its_retry_counts_once() {
    let store = fresh_store().await;
    let port = dynamodb_endpoint().rsplit(':').next().and_then(|p| p.parse().ok()).unwrap();
    let proxy = FaultProxy::start(port);
    let through_proxy = format!("http://127.0.0.1:{}", proxy.port);
    let env = [("SDK_ATTEMPT_TIMEOUT_MS", "1000")];
    let watch = Watch::start(&["ingest"], store.table(), &env, Some(&through_proxy));
    assert_eq!(watch.invoke_http("ingest", &envelope("stall-0", 0)).unwrap()["result"], "created");

    proxy.stall();
    let err = watch.invoke_http("ingest", &envelope("stall-1", GROUPS)).unwrap_err();
    let err: Value = serde_json::from_str(&err).unwrap_or_else(|_| {
        panic!("the invocation did not return the function's error (it hung until the client's read timeout): {err}")
    });
    assert_eq!(err["errorType"], "StoreUnavailable");
    assert_eq!(
        err["errorMessage"],
        "event not stored: DynamoDB TransactWriteItems failed: unhandled error: request has timed out: operation attempt timeout (single attempt) occurred after 1s"
    );
    // The stall was reached (the pooled connection the stall reset may fail one attempt at once,
    // the others wait in it), and the invocation answered with the attempts' timeout, not a
    // Lambda or client timeout (the message above says which).
    assert!(proxy.held() >= 2, "attempts held by the stall: {}", proxy.held());

    proxy.heal();
    assert_eq!(watch.invoke_http("ingest", &envelope("stall-1", GROUPS)).unwrap()["result"], "updated");
    assert_eq!(watch.invoke_http("ingest", &envelope("stall-1", GROUPS)).unwrap()["result"], "duplicate");
    assert_eq!(total(&store, 1).await, 2);
    println!(
        "TALLY stalled_dynamodb: sent=2 reported_failed=1 (attempt timeouts, then returned to Lambda for retry) stored_after_retry=2 lost=0 double_counted=0 faults=connections accepted and never answered"
    );
}

fn one_event_ingest(client: aws_sdk_dynamodb::Client) -> Ingest {
    Ingest::new(Store::new(client, "mocked"), RetentionDays::default())
}

/// Throttling and 5xx answers are retried by the SDK's standard retry, then the event is
/// reported failed to Lambda; a short fault is absorbed. Mocked: DynamoDB Local neither
/// throttles nor answers 500 or 503 on demand.
#[tokio::test]
async fn throttling_and_5xx_are_retried_by_the_sdk_then_reported_failed() {
    let throttled = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
    let cases: [(&str, u16, Option<&str>); 3] =
        [("throttling", 400, Some(throttled)), ("internal 500", 500, None), ("unavailable 503", 503, None)];
    for (name, status, body) in cases {
        let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .sequence()
            .http_status(status, body.map(str::to_owned))
            .times(3)
            .build();
        let ingest = one_event_ingest(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]));
        let err = ingest.handle(envelope("mocked-1", 1)).await.unwrap_err();
        assert!(matches!(err, IngestError::Store(_)), "{name}: {err}");
        assert_eq!(rule.num_calls(), 3, "{name}: the SDK's standard retry makes 3 attempts");
    }
    // Two failures then success: the SDK's retries absorb a short fault.
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .http_status(503, None)
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let ingest = one_event_ingest(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]));
    assert_eq!(ingest.handle(envelope("mocked-2", 2)).await.unwrap().result, "updated");
    assert_eq!(rule.num_calls(), 3);
    println!(
        "TALLY mocked_5xx_throttling: sent=4 reported_failed=3 (returned to Lambda for retry) stored_after_sdk_retry=1 lost=0 double_counted=0 faults=3x throttling, 3x 500, 3x 503, 2x 503 then success"
    );
}

/// A cancelled transaction whose items' reasons are `codes`, in order.
fn cancelled(codes: &[&str]) -> aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError {
    use aws_sdk_dynamodb::types::{error::TransactionCanceledException, CancellationReason};
    let reasons = codes.iter().map(|c| CancellationReason::builder().code(*c).build()).collect();
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder().set_cancellation_reasons(Some(reasons)).build(),
    )
}

/// A throttled or conflicting write of a transaction's outbox record (its items after the group
/// update: every notification shares the outbox's index partition) is retried as one of the
/// marker or the group is, not a permanent `Cancelled` naming only the first codes. Mocked: a
/// cancellation reason on the outbox item is not something DynamoDB Local can be made to give.
#[tokio::test]
async fn a_throttled_outbox_record_in_the_transaction_is_retried_like_the_others() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .error(|| cancelled(&["None", "None", "ThrottlingError"]))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let ingest = one_event_ingest(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]));
    let answer = ingest.handle(envelope("mocked-outbox", 1)).await;
    assert_eq!(answer.map(|a| a.result.to_string()).map_err(|e| e.to_string()), Ok("updated".to_owned()));
    assert_eq!(rule.num_calls(), 2, "the throttled transaction was sent again");
}

/// A transaction cancelled for `ProvisionedThroughputExceeded` (a table, index or key range on
/// provisioned capacity) is sent again after a backoff, as a throttle is. Before, it was a
/// permanent `Cancelled`, and the event went to its retries at once. Mocked: DynamoDB Local
/// cannot be made to throttle.
#[tokio::test]
async fn a_transaction_cancelled_for_provisioned_throughput_is_sent_again() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .error(|| cancelled(&["None", "ProvisionedThroughputExceeded"]))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let ingest = one_event_ingest(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]));
    let answer = ingest.handle(envelope("mocked-provisioned", 1)).await;
    assert_eq!(answer.map(|a| a.result.to_string()).map_err(|e| e.to_string()), Ok("updated".to_owned()));
    assert_eq!(rule.num_calls(), 2, "the throttled transaction was sent again");
}

/// Each `TransactWriteItems`' (operation timeout, attempt timeout), as the call was
/// configured (the client's and a call's own, merged).
#[derive(Debug, Default)]
struct Timeouts(Mutex<Vec<(Option<Duration>, Option<Duration>)>>);

#[derive(Debug)]
struct SeenTimeouts(Arc<Timeouts>);

impl aws_sdk_dynamodb::config::Intercept for SeenTimeouts {
    fn name(&self) -> &'static str {
        "SeenTimeouts"
    }
    // After the operation's configuration is applied and merged (not `read_before_execution`).
    fn read_before_serialization(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
        if context.input().downcast_ref::<TransactWriteItemsInput>().is_some() {
            let t = cfg.load::<TimeoutConfig>();
            let seen = (t.and_then(|t| t.operation_timeout()), t.and_then(|t| t.operation_attempt_timeout()));
            self.0 .0.lock().unwrap().push(seen);
        }
        Ok(())
    }
}

/// The client's attempt timeout in the conflict tests below.
const ATTEMPT: Duration = Duration::from_secs(2);

/// An ingest whose every transaction is cancelled by a conflict (twelve times), the rule, and
/// the timeouts each was sent with.
fn conflicting_ingest() -> (Ingest, aws_smithy_mocks::Rule, Arc<Timeouts>) {
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .error(|| cancelled(&["None", "TransactionConflict"]))
        .times(12)
        .build();
    let seen = Arc::new(Timeouts::default());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule], |b| b
        .interceptor(SeenTimeouts(seen.clone()))
        .timeout_config(TimeoutConfig::builder().operation_attempt_timeout(ATTEMPT).build()));
    (one_event_ingest(client), rule, seen)
}

/// A write that keeps meeting conflicts on the SQS path starts no further attempt past the
/// batch's time to answer (`WRITE_MARGIN` before its deadline): its message is reported failed
/// with the group's `OutOfTime`, rather than the write going on through its twelve attempts,
/// each up to the SDK's three, past the invocation's end (then the whole batch came back, its
/// written messages too). A retry that starts keeps the margin to end in: its operation timeout
/// is the time to the batch's answer (about 10 s), not to the time to start writes. Mocked: a
/// DynamoDB that answers every transaction with a conflict is not something DynamoDB Local can
/// be made to be.
#[tokio::test]
async fn a_conflicting_write_on_the_sqs_path_stops_its_retries_at_the_batchs_time_to_answer() {
    use ingest::handler::WRITE_MARGIN;

    let (ingest, rule, seen) = conflicting_ingest();
    let body = envelope("mocked-conflicts", 1).to_string();
    let batch: ingest::handler::SqsEvent =
        serde_json::from_value(integration_tests::fixtures::sqs_event(&[("m-1".to_owned(), body)])).unwrap();
    // 300 ms to write in: the first attempt starts; the conflicts' pauses (5, 10, 20, 40 ms …)
    // pass the time within a few attempts, where the twelve take about two seconds.
    let deadline = std::time::Instant::now() + WRITE_MARGIN + Duration::from_millis(300);
    let report = ingest.handle_batch_until(batch, Some(deadline)).await.unwrap();
    let failed: Vec<&str> = report.response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m-1"]);
    let calls = rule.num_calls();
    assert!((2..12).contains(&calls), "attempts made: {calls}");
    let seen = seen.0.lock().unwrap();
    assert_eq!(seen[0], (None, Some(ATTEMPT)), "the first attempt as the client is configured");
    for (n, (operation, _)) in seen.iter().enumerate().skip(1) {
        let margin = WRITE_MARGIN - Duration::from_secs(1)..WRITE_MARGIN + Duration::from_millis(300);
        assert!(operation.is_some_and(|t| margin.contains(&t)), "retry {n}: operation timeout {operation:?}");
    }
}

/// A write that keeps meeting conflicts on the direct path retries until the invocation's time
/// to answer (its deadline less `RESPONSE_MARGIN`) and no longer: every retry is sent with the
/// time left as its operation timeout (the SDK's own attempts and back-off included; the
/// client's attempt timeout kept), none starts with less than `MIN_CALL_TIME` left, and the
/// event is answered an error naming `OutOfTime`, logged, counted and retried by Lambda, before
/// its deadline. Before, the twelve attempts, each up to the SDK's three of 2 s, ran on into the
/// function's 10 s timeout. The write itself always starts, and runs as the client is
/// configured. Mocked: DynamoDB Local cannot be made to answer every transaction with a conflict.
#[tokio::test]
async fn a_conflicting_write_on_the_direct_path_retries_only_within_its_time_to_answer() {
    use scan_failures_aws::dynamo::write::MIN_CALL_TIME;
    use scan_failures_aws::dynamo::StoreError;
    use scan_failures_aws::publisher::RESPONSE_MARGIN;

    // (time to retry in, attempts allowed): 300 ms lets a few retries start (the pauses are 5,
    // 10, 20, 40 ms …; the twelve take about two seconds); none leaves only the first.
    for (retrying, attempts) in [(Duration::from_millis(300), 2..12), (Duration::ZERO, 1..2)] {
        let (ingest, rule, seen) = conflicting_ingest();
        let deadline = std::time::Instant::now() + RESPONSE_MARGIN + retrying;
        let error = ingest.handle_any_until(envelope("mocked-direct-conflicts", 1), Some(deadline)).await.unwrap_err();
        assert!(std::time::Instant::now() < deadline, "answered past the deadline");
        let message = error.to_string();
        assert!(
            message.starts_with("event not stored: the write of group ")
                && message.ends_with("another would end past the invocation's deadline"),
            "{message}"
        );
        assert!(matches!(&error, IngestError::Store(e) if matches!(**e, StoreError::OutOfTime { .. })), "{error:?}");
        let calls = rule.num_calls();
        assert!(attempts.contains(&calls), "attempts made: {calls}, allowed {attempts:?}");
        let seen = seen.0.lock().unwrap();
        assert_eq!(seen.len(), calls);
        assert_eq!(seen[0], (None, Some(ATTEMPT)), "the first attempt as the client is configured");
        for (n, (operation, per_attempt)) in seen.iter().enumerate().skip(1) {
            assert!(
                operation.is_some_and(|t| (MIN_CALL_TIME..=retrying).contains(&t)),
                "retry {n}: operation timeout {operation:?}"
            );
            assert_eq!(*per_attempt, Some(ATTEMPT), "retry {n}: the client's attempt timeout kept");
        }
    }
}

/// A write on the SQS path that finds its group expired once the batch's time to answer has
/// passed reads the retention no more (a call of its own, up to the SDK's three attempts of 2 s,
/// which ended past the invocation's deadline): its message is reported failed with
/// `OutOfTime`. The transaction answers 60 ms late (an interceptor's pause), after the time to
/// answer. Mocked: DynamoDB Local cannot be made to answer late on demand.
#[tokio::test]
async fn an_expired_group_found_past_the_batchs_time_to_answer_reads_the_retention_no_more() {
    use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
    use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
    use aws_sdk_dynamodb::error::BoxError;
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
    use aws_sdk_dynamodb::types::{error::TransactionCanceledException, AttributeValue, CancellationReason};
    use ingest::handler::WRITE_MARGIN;

    /// Every `TransactWriteItems` starts 60 ms late.
    #[derive(Debug)]
    struct LateTransactions;
    impl Intercept for LateTransactions {
        fn name(&self) -> &'static str {
            "LateTransactions"
        }
        fn read_before_execution(
            &self,
            context: &BeforeSerializationInterceptorContextRef<'_>,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            if context.input().downcast_ref::<TransactWriteItemsInput>().is_some() {
                std::thread::sleep(Duration::from_millis(60));
            }
            Ok(())
        }
    }
    let read = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .item("pk", AttributeValue::S("config#retention".into()))
            .item("retentionDays", AttributeValue::N("4".into()))
            .build()
    });
    let expired = || {
        let group = CancellationReason::builder()
            .code("ConditionalCheckFailed")
            .item("lastOccurredAt", AttributeValue::S("2000-01-01T00:00:00.000Z".into()))
            .build();
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .cancellation_reasons(CancellationReason::builder().code("None").build())
                .cancellation_reasons(group)
                .build(),
        )
    };
    let write = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(expired);
    let client =
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &write], |b| b.interceptor(LateTransactions));
    let ingest = Ingest::new(Store::new(client, "mocked"), RetentionDays::default())
        .with_live_retention_ages(Duration::from_secs(3600), Duration::from_secs(120));
    let body = envelope("mocked-expired", 1).to_string();
    let batch: ingest::handler::SqsEvent =
        serde_json::from_value(integration_tests::fixtures::sqs_event(&[("m-1".to_owned(), body)])).unwrap();
    let deadline = std::time::Instant::now() + WRITE_MARGIN + Duration::from_millis(30);
    let report = ingest.handle_batch_until(batch, Some(deadline)).await.unwrap();
    let failed: Vec<&str> = report.response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m-1"]);
    assert_eq!(write.num_calls(), 1, "the transaction was reached");
    assert_eq!(read.num_calls(), 1, "the batch's own read of the retention, and no other");
}

/// The retention setting cannot be read and this instance never read it: the occurrence fails
/// (back to Lambda's retry, or on the SQS path its message), instead of being judged by the
/// template's default, which may be shorter than the setting an admin stored and would drop it
/// as expired. Mocked: DynamoDB Local cannot be made to fail a `GetItem` while accepting the
/// write after it, the fault a throttled or timed-out read makes in production.
#[tokio::test]
async fn an_occurrence_fails_rather_than_be_judged_by_the_default_retention_when_the_setting_was_never_read() {
    let read = mock!(aws_sdk_dynamodb::Client::get_item).sequence().http_status(500, None).times(3).build();
    let write = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &write]);
    let ingest = Ingest::new(Store::new(client, "mocked"), RetentionDays::default()).with_live_retention();
    // Six days old: past the default 4 days, within the 30 an admin may have stored.
    let at = scan_failures_domain::time_fmt::format(time::OffsetDateTime::now_utc() - time::Duration::days(6));
    let detail = fixtures::failure_at("image check", "api", &image(1), "context deadline exceeded", &at);
    let err = ingest.handle(fixtures::envelope("old-1", "test.faults", &at, detail)).await.unwrap_err();
    assert!(matches!(err, IngestError::Store(_)), "{err}");
    assert_eq!(read.num_calls(), 3, "the SDK's three attempts at the setting");
    assert_eq!(write.num_calls(), 0);
}

/// The retention setting cannot be read again, and the value this instance read last is older
/// than the stand-in age: the occurrence fails for a retry, rather than be admitted and stamped
/// by a value the setting may have left, with the re-stamp job's correction done behind it
/// (before, any value read, however old, stood in). Within the age it still stands in. Mocked:
/// DynamoDB Local cannot be made to fail a `GetItem` while accepting the write after it.
#[tokio::test]
async fn a_retention_read_longer_ago_than_the_stand_in_age_does_not_stand_in_for_a_failed_read() {
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::types::AttributeValue;
    let stored = || {
        GetItemOutput::builder()
            .item("pk", AttributeValue::S("config#retention".into()))
            .item("retentionDays", AttributeValue::N("30".into()))
            .build()
    };
    // Six days old: past the default 4 days, within the stored 30.
    let at = scan_failures_domain::time_fmt::format(time::OffsetDateTime::now_utc() - time::Duration::days(6));
    let event = |id: &str| {
        let detail = fixtures::failure_at("image check", "api", &image(1), "context deadline exceeded", &at);
        fixtures::envelope(id, "test.faults", &at, detail)
    };
    for (stand_in, written) in [(Duration::ZERO, 1), (Duration::from_secs(3600), 2)] {
        let read =
            mock!(aws_sdk_dynamodb::Client::get_item).sequence().output(stored).http_status(500, None).times(3).build();
        let write = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .then_output(|| TransactWriteItemsOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &write]);
        // Every call reads the setting again (no cache age): the second one's read fails.
        let ingest = Ingest::new(Store::new(client, "mocked"), RetentionDays::default())
            .with_live_retention_ages(Duration::ZERO, stand_in);
        assert_eq!(ingest.handle(event("old-1")).await.unwrap().result, "updated");
        let second = ingest.handle(event("old-2")).await;
        assert_eq!(read.num_calls(), 4, "one read, then the SDK's three attempts at the setting");
        assert_eq!(write.num_calls(), written, "stand-in age {stand_in:?}");
        match written {
            1 => assert!(matches!(second, Err(IngestError::Store(_))), "{second:?}"),
            _ => assert_eq!(second.unwrap().result, "updated"),
        }
    }
}

/// A write that DynamoDB applied but whose answer was lost (the proxy closes the connection as
/// the answer starts: the server acted, the client cannot know) counts once, whether the SDK's
/// next attempt is answered or all three lose theirs and the invocation fails, so that Lambda
/// delivers the event again and the retry finds its marker. The group exists first, so the write
/// plan's first transaction is the one applied (for a new group it is cancelled and re-planned:
/// no write to lose). (Before, this test sent each envelope twice with every answer delivered:
/// no answer was ever lost.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_is_lost_counts_once_whether_the_sdk_or_lambda_sends_it_again() {
    let store = fresh_store().await;
    let port = dynamodb_endpoint().rsplit(':').next().and_then(|p| p.parse().ok()).unwrap();
    let proxy = FaultProxy::start(port);
    let through_proxy = Store::new(dynamodb_client(&format!("http://127.0.0.1:{}", proxy.port)), store.table());
    let ingest = Ingest::new(through_proxy, RetentionDays::default());
    assert_eq!(ingest.handle(envelope("lost-0", 0)).await.unwrap().result, "created");

    // One answer lost: the SDK sends the same transaction again, with the same
    // ClientRequestToken, and DynamoDB answers it as the write it applied: `updated`, counted once.
    proxy.lose_responses(1);
    assert_eq!(ingest.handle(envelope("lost-1", GROUPS)).await.unwrap().result, "updated");
    assert_eq!(proxy.lost(), 1, "the first attempt's answer was lost");
    assert_eq!(total(&store, 1).await, 2);
    // Every attempt's answer lost: the invocation fails, and Lambda's retry finds it stored.
    proxy.lose_responses(3);
    let err = ingest.handle(envelope("lost-2", 2 * GROUPS)).await.unwrap_err();
    assert!(matches!(err, IngestError::Store(_)), "{err}");
    assert_eq!(proxy.lost(), 4, "the three attempts' answers were lost");
    assert_eq!(total(&store, 1).await, 3, "the first attempt was applied");
    assert_eq!(ingest.handle(envelope("lost-2", 2 * GROUPS)).await.unwrap().result, "duplicate");
    assert_eq!(total(&store, 1).await, 3);
    println!("TALLY lost_answers: sent=3 stored=3 lost=0 double_counted=0 faults=4 answers lost after the write");
}

/// How many of the events, each delivered by 3 invokers, had all 3 copies in flight at once:
/// the proof that the copies raced.
fn raced(spans: &std::collections::HashMap<String, Vec<Span>>) -> usize {
    spans.values().filter(|s| s.len() == 3 && all_in_flight_at_once(s)).count()
}

/// 9 invokers in rounds: in each round every invoker waits at a barrier, then all deliver at
/// once; the 3 copies of an event are in the same round on 3 different invokers. Before, the
/// copies of event n were at positions i, i+10000 and i+20000 of one list dealt to 8 invokers:
/// 10000 is a multiple of 8, so all three went to the same invoker, one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_delivered_three_times_at_once_by_nine_concurrent_invokers_counts_exactly_once() {
    const EVENTS: usize = 9_999;
    const INVOKERS: usize = 9;
    let store = fresh_store().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(INVOKERS));
    let spans = Arc::new(Mutex::new(std::collections::HashMap::<String, Vec<Span>>::new()));
    let mut tasks = Vec::new();
    for invoker in 0..INVOKERS {
        let (table, barrier, spans) = (store.table().to_owned(), barrier.clone(), spans.clone());
        tasks.push(tokio::spawn(async move {
            let own = Store::new(dynamodb_client(integration_tests::dynamodb_endpoint()), table);
            let ingest = Ingest::new(own, RetentionDays::default());
            let (mut counted, mut duplicates) = (0u64, 0u64);
            // Round r: events 3r, 3r+1, 3r+2; invokers 0-2 deliver the first, 3-5 the second, 6-8 the third.
            for round in 0..EVENTS / 3 {
                let n = 3 * round + invoker / 3;
                let id = format!("redeliver-{n}");
                barrier.wait().await;
                let start = std::time::Instant::now();
                let result = ingest.handle(envelope(&id, n)).await.unwrap().result;
                spans.lock().unwrap().entry(id).or_default().push((start, std::time::Instant::now()));
                match result {
                    "duplicate" => duplicates += 1,
                    _ => counted += 1,
                }
            }
            (counted, duplicates)
        }));
    }
    let (mut counted, mut duplicates) = (0, 0);
    for t in tasks {
        let (c, d) = t.await.unwrap();
        counted += c;
        duplicates += d;
    }
    let raced = raced(&spans.lock().unwrap());
    println!("RACE redeliver_x3_9_invokers: {raced} of {EVENTS} events had their 3 copies in flight at once");
    assert!(raced * 2 > EVENTS, "only {raced} of {EVENTS} events had their copies in flight at once");
    assert_eq!((counted, duplicates), (EVENTS as u64, 2 * EVENTS as u64));
    let stored = total(&store, GROUPS).await;
    tally(
        "redeliver_x3_9_invokers",
        EVENTS as u64,
        stored,
        0,
        "every event delivered 3 times at once, 9 concurrent invokers",
    );
    assert_eq!(stored, EVENTS as u64);
    assert_eq!(counts(&store, GROUPS).await, once_each(EVENTS));
}

/// The SQS path: every batch of 10 envelopes delivered to 3 invokers at once (as a batch whose
/// visibility timeout lapsed while it was still being processed, or moved back from the
/// dead-letter queue, comes back while its first delivery is in flight).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_sqs_batch_delivered_three_times_at_once_counts_each_event_exactly_once() {
    const BATCHES: usize = 300;
    const INVOKERS: usize = 9;
    let store = fresh_store().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(INVOKERS));
    let spans = Arc::new(Mutex::new(std::collections::HashMap::<String, Vec<Span>>::new()));
    let mut tasks = Vec::new();
    for invoker in 0..INVOKERS {
        let (table, barrier, spans) = (store.table().to_owned(), barrier.clone(), spans.clone());
        tasks.push(tokio::spawn(async move {
            let own = Store::new(dynamodb_client(integration_tests::dynamodb_endpoint()), table);
            let ingest = Ingest::new(own, RetentionDays::default());
            let mut results: Vec<&'static str> = Vec::new();
            for round in 0..BATCHES / 3 {
                let batch = 3 * round + invoker / 3;
                let records: Vec<Value> = (0..10)
                    .map(|k| {
                        let n = 10 * batch + k;
                        serde_json::json!({"messageId": format!("m-{n}"), "body": envelope(&format!("sqs-{n}"), n).to_string()})
                    })
                    .collect();
                let event: ingest::handler::SqsEvent = serde_json::from_value(serde_json::json!({"Records": records})).unwrap();
                barrier.wait().await;
                let start = std::time::Instant::now();
                let report = ingest.handle_batch_report(event).await.unwrap();
                spans.lock().unwrap().entry(format!("batch-{batch}")).or_default().push((start, std::time::Instant::now()));
                assert!(report.response.batch_item_failures.is_empty());
                results.extend(report.results.into_iter().map(|(_, r)| r));
            }
            results
        }));
    }
    let mut results: Vec<&'static str> = Vec::new();
    for t in tasks {
        results.extend(t.await.unwrap());
    }
    let raced = raced(&spans.lock().unwrap());
    println!("RACE sqs_batches_x3_9_invokers: {raced} of {BATCHES} batches had their 3 copies in flight at once");
    assert!(raced * 2 > BATCHES, "only {raced} of {BATCHES} batches had their copies in flight at once");
    let duplicates = results.iter().filter(|r| **r == "duplicate").count();
    assert_eq!((results.len() - duplicates, duplicates), (10 * BATCHES, 20 * BATCHES));
    let stored = total(&store, GROUPS).await;
    tally("sqs_batches_x3_9_invokers", (10 * BATCHES) as u64, stored, 0, "every SQS batch delivered 3 times at once");
    assert_eq!(stored, (10 * BATCHES) as u64);
    assert_eq!(counts(&store, GROUPS).await, once_each(10 * BATCHES));
}

/// DynamoDB's answer to a single-item write of an item a transaction is writing at that moment.
const TRANSACTION_CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"Transaction is ongoing for the item"}"#;

/// A triage that meets an occurrence's transaction in flight on its group is sent again by the
/// SDK (`dynamo::conflicts`) and answers the triaged group; with a client built without that
/// classifier the same fault reaches the administrator as an error after one attempt, which
/// shows the fault happened and what absorbs it. Mocked: DynamoDB Local never answers
/// `TransactionConflictException` (1,666 transactions of 25 items beside 872 `UpdateItem`s and
/// `DeleteItem`s of the same item from other threads, 15 s: not one conflict), while DynamoDB
/// does whenever the two overlap.
#[tokio::test]
async fn a_triage_that_meets_a_transaction_on_its_group_is_sent_again_and_answers_the_triaged_group() {
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
    use aws_sdk_dynamodb::types::AttributeValue;
    use scan_failures_aws::dynamo::conflicts::with_conflict_retries;
    use scan_failures_aws::dynamo::item::GroupItem as _;
    use scan_failures_domain::group::triage::{TriageRequest, TriageState};

    let now = time::OffsetDateTime::now_utc();
    let group = fixtures::synthetic_group(1, &image(1), Reason::Timeout, now, 30);
    let id = uuid::Uuid::parse_str(&group.id).unwrap();
    let mut item = group.to_item().unwrap();
    item.insert("pk".to_owned(), AttributeValue::S(format!("g#{id}")));
    let request = TriageRequest { state: TriageState::Acknowledged, note: None, if_version: None };
    let rules = || {
        let stored = item.clone();
        let read = mock!(aws_sdk_dynamodb::Client::get_item)
            .then_output(move || GetItemOutput::builder().set_item(Some(stored.clone())).build());
        let triaged = item.clone();
        let update = mock!(aws_sdk_dynamodb::Client::update_item)
            .sequence()
            .http_status(400, Some(TRANSACTION_CONFLICT.to_owned()))
            .times(2)
            .output(move || UpdateItemOutput::builder().set_attributes(Some(triaged.clone())).build())
            .build();
        (read, update)
    };

    let (read, update) = rules();
    let store = Store::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &update], with_conflict_retries),
        "mocked",
    );
    let (record, _) =
        store.admin().triage(&id, &request, "admin", now, RetentionDays::default()).await.unwrap().set().unwrap();
    assert_eq!(record.id, group.id);
    assert_eq!((read.num_calls(), update.num_calls()), (1, 3), "one read, two conflicts and the write");

    let (read, update) = rules();
    let store = Store::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &update]), "mocked");
    let err = store.admin().triage(&id, &request, "admin", now, RetentionDays::default()).await.unwrap_err();
    let source = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert!(source.contains("TransactionConflictException"), "{err}: {source}");
    assert_eq!(update.num_calls(), 1, "without the classifier the SDK does not retry a conflict");
}

/// A cleanup's conditional delete and the retention setting's put that meet a transaction are
/// sent again the same way: the classifier retries each kind of single-item write the product
/// makes (`PutItem`, `UpdateItem` above, `DeleteItem`), through the store's own calls; every
/// function builds its table client with it (`dynamo::conflicts::client` in each `main.rs`).
/// Mocked, as above.
#[tokio::test]
async fn a_cleanup_delete_and_a_put_that_meet_a_transaction_are_sent_again() {
    use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
    use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
    use scan_failures_aws::dynamo::admin::ReadGroup;
    use scan_failures_aws::dynamo::conflicts::with_conflict_retries;

    let delete = mock!(aws_sdk_dynamodb::Client::delete_item)
        .sequence()
        .http_status(400, Some(TRANSACTION_CONFLICT.to_owned()))
        .output(|| DeleteItemOutput::builder().build())
        .build();
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .sequence()
        .http_status(400, Some(TRANSACTION_CONFLICT.to_owned()))
        .times(2)
        .output(|| PutItemOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&delete, &put], with_conflict_retries);
    let store = Store::new(client, "mocked");
    let read = [ReadGroup {
        key: "g#00000000-0000-5000-8000-000000000001".into(),
        occurrences: 3,
        last_occurred_at: "2026-11-25T10:00:00.000Z".into(),
    }];
    let (deleted, kept, _) = store.admin().delete_unchanged(&read).await.unwrap();
    assert_eq!((deleted, kept, delete.num_calls()), (1, 0, 2));
    let days = RetentionDays::new(30).unwrap();
    let set = store.settings().put_retention_setting(days, "admin", time::OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!((set.days, put.num_calls()), (days, 3));
}

/// DynamoDB's answer when a table's throughput is exceeded.
const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Throughput exceeds the current capacity of your table or index."}"#;

/// The api's answer to `request`: status, `Retry-After`, and the JSON body.
async fn answer_of(api: &::api::handler::Api, request: lambda_http::Request) -> (u16, Option<String>, Value) {
    let res = api.handle(request).await;
    let after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match res.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("unexpected body {other:?}"),
    };
    (res.status().as_u16(), after, body)
}

/// A request the table cannot serve for now (throttled past the SDK's attempts, or a triage
/// still meeting transactions on its group after them) answers 503 with `Retry-After` and what
/// to do, and the same request is answered once that passed; a request DynamoDB refuses as
/// wrong stays an internal error (500). Mocked: DynamoDB Local neither throttles nor raises
/// `TransactionConflictException` (see above); `tests/cli.rs` shows the same 503 through the
/// real runtime path, from a DynamoDB out of reach.
#[tokio::test]
async fn a_table_busy_past_the_sdks_attempts_answers_503_with_retry_after_and_a_wrong_request_500() {
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
    use aws_sdk_dynamodb::types::AttributeValue;
    use integration_tests::{api_from_env, api_request, api_request_with};
    use scan_failures_aws::dynamo::conflicts::with_conflict_retries;
    use scan_failures_aws::dynamo::item::GroupItem as _;

    const ADMIN: &str = "arn:aws:iam::123456789012:user/admin";
    let env = [("ADMIN_VIEW_PRINCIPALS", ADMIN), ("ADMIN_WRITE_PRINCIPALS", ADMIN)];
    let is_group = |key: Option<&std::collections::HashMap<String, AttributeValue>>| {
        key.and_then(|k| k.get("pk")).and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with("g#"))
    };
    let busy_message = "the table is busy or out of reach for now (DynamoDB throttled the request, or it kept meeting \
                        other writes of the same items): send it again in 2 s; quote request id \"\" if it lasts";

    // A count whose read of the retention setting is throttled on each of the SDK's attempts.
    let setting = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .http_status(400, Some(THROTTLED.to_owned()))
        .times(3)
        .output(|| GetItemOutput::builder().build())
        .build();
    let store = Store::new(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&setting]), "mocked");
    let api = api_from_env(&store, &env);
    let count = || api_request("/v1/count/administration/events", "", Some(ADMIN), false);
    let (status, after, body) = answer_of(&api, count()).await;
    assert_eq!(
        (status, after.as_deref(), &body),
        (503, Some("2"), &serde_json::json!({"code": 503, "error": "unavailable", "message": busy_message}))
    );
    assert_eq!(setting.num_calls(), 3, "the SDK's three attempts, all throttled");

    // A triage whose write meets a transaction on each attempt, then the same triage once the
    // transactions passed.
    let now = time::OffsetDateTime::now_utc();
    let group = fixtures::synthetic_group(1, &image(1), Reason::Timeout, now, 30);
    let id = uuid::Uuid::parse_str(&group.id).unwrap();
    let mut item = group.to_item().unwrap();
    item.insert("pk".to_owned(), AttributeValue::S(format!("g#{id}")));
    let stored = item.clone();
    let read = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(move |r| is_group(r.key()))
        .then_output(move || GetItemOutput::builder().set_item(Some(stored.clone())).build());
    let no_setting = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(move |r| !is_group(r.key()))
        .then_output(|| GetItemOutput::builder().build());
    let update = mock!(aws_sdk_dynamodb::Client::update_item)
        .sequence()
        .http_status(400, Some(TRANSACTION_CONFLICT.to_owned()))
        .times(3)
        .output(move || UpdateItemOutput::builder().set_attributes(Some(item.clone())).build())
        .build();
    let client =
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &no_setting, &update], with_conflict_retries);
    let api = api_from_env(&Store::new(client, "mocked"), &env);
    let path = format!("/v1/administration/events/{id}/triage");
    let triage = || api_request_with("POST", &path, "", Some(r#"{"state":"acknowledged"}"#), Some(ADMIN), false);
    let (status, after, body) = answer_of(&api, triage()).await;
    assert_eq!((status, after.as_deref(), body["error"].as_str()), (503, Some("2"), Some("unavailable")), "{body}");
    assert_eq!(update.num_calls(), 3, "the SDK's three attempts, each meeting a transaction");
    let (status, after, body) = answer_of(&api, triage()).await;
    assert_eq!((status, after, body["event"]["id"].as_str()), (200, None, Some(group.id.as_str())), "{body}");
    assert_eq!(update.num_calls(), 4);

    // A request DynamoDB refuses as wrong is not worth sending again: a 500, no `Retry-After`.
    let refused = r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"One or more parameter values were invalid"}"#;
    let wrong = mock!(aws_sdk_dynamodb::Client::get_item).sequence().http_status(400, Some(refused.to_owned())).build();
    let store = Store::new(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&wrong]), "mocked");
    let (status, after, body) = answer_of(&api_from_env(&store, &env), count()).await;
    assert_eq!((status, after, body["error"].as_str()), (500, None, Some("internal error")), "{body}");
    assert_eq!(wrong.num_calls(), 1, "not retried by the SDK either");
}
