//! Notifications on moto's EventBridge: a rule on the default bus sends them to an SQS queue,
//! which the tests read. The group store is a real DynamoDB Local.

use ingest::handler::Ingest;
use integration_tests::race::{all_in_flight_at_once, race, Span};
use integration_tests::{
    api_from_env, api_request_with, dynamodb_client, dynamodb_endpoint, fixed_now, fixtures, free_port, fresh_store,
    respond, Moto,
};
use scan_failures_aws::dynamo::Store;
use scan_failures_aws::eventbridge::Notifier;
use scan_failures_domain::retention::RetentionDays;
use serde_json::{json, Value};

fn envelope(id: &str, image: &str, second: u32) -> Value {
    let at = format!("2026-11-25T11:{:02}:{:02}Z", second / 60 % 60, second % 60);
    envelope_at(id, image, &at, "2026-11-25T11:00:00Z")
}

/// [`envelope`] of a failure at `at`, sent at `sent`.
fn envelope_at(id: &str, image: &str, at: &str, sent: &str) -> Value {
    let detail = fixtures::failure_at("image scan", "api", image, "context deadline exceeded", at);
    fixtures::envelope(id, "test.notify", sent, detail)
}

struct Bus {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

/// A queue and a rule on moto's default bus sending every `scan-failures` event to it.
async fn setup_bus(endpoint: &str) -> Bus {
    let config = integration_tests::bus::moto_config(endpoint);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = sqs.create_queue().queue_name("notifications").send().await.unwrap().queue_url.unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn =
        attrs.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)).cloned().unwrap();
    events
        .put_rule()
        .name("to-queue")
        .event_bus_name("default")
        .event_pattern(json!({"source": ["scan-failures"]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("to-queue")
        .event_bus_name("default")
        .targets(aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn).build().unwrap())
        .send()
        .await
        .unwrap();
    Bus { events, sqs, queue_url }
}

impl Bus {
    /// Every notification delivered so far: (detail-type, group id, threshold).
    async fn drain(&self) -> Vec<(String, String, Option<u64>)> {
        let mut out = Vec::new();
        loop {
            let msgs = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let batch = msgs.messages();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                out.push((
                    body["detail-type"].as_str().unwrap().to_owned(),
                    body["detail"]["groupId"].as_str().unwrap().to_owned(),
                    body["detail"]["threshold"].as_u64(),
                ));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out.sort();
        out
    }

    fn notifier(&self) -> Notifier {
        Notifier::new(self.events.clone(), "default", "scan-failures")
    }
}

fn notifying(store: &Store, bus: &Bus) -> Ingest {
    Ingest::new(store.clone(), RetentionDays::default())
        .with_transitions(vec![10, 100, 1000])
        .with_clock(fixed_now)
        .with_notifier(Some(bus.notifier()))
}

/// [`notifying`] with its own client, as a separate Lambda instance has.
fn racing_ingest(store: &Store, bus: &Bus) -> Ingest {
    notifying(&Store::new(dynamodb_client(dynamodb_endpoint()), store.table()), bus)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_transition_is_notified_exactly_once_even_under_concurrency_and_a_failed_publish() {
    let port = free_port();
    let moto = Moto::start(port);
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    let ingest = notifying(&store, &bus);

    // Opened once, threshold crossed once at 10, nothing for the repeats in between.
    let mut group = String::new();
    for n in 0..12 {
        group = ingest.handle(envelope(&format!("t-{n}"), "nginx", n)).await.unwrap().group_id.unwrap();
    }
    // A redelivery changes nothing.
    ingest.handle(envelope("t-3", "nginx", 3)).await.unwrap();
    assert_eq!(
        bus.drain().await,
        vec![
            ("Scan Failure Group Opened".to_owned(), group.clone(), None),
            ("Scan Failure Threshold Crossed".to_owned(), group.clone(), Some(10)),
        ]
    );

    // Eight invokers racing to create one group, all in flight at once: one creates it, seven
    // count in it, one "opened". Each try is checked; a try where one invoker ended before
    // another began (a loaded machine) proves no race, so another group is raced, up to 5.
    for attempt in 1.. {
        let image = format!("alpine{attempt}");
        let raced = race(8, |invoker| {
            let ingest = racing_ingest(&store, &bus);
            let image = image.clone();
            async move {
                let answer = ingest
                    .handle(envelope(&format!("race-{attempt}-{invoker}"), &image, invoker as u32))
                    .await
                    .unwrap();
                (answer.result, answer.group_id.unwrap())
            }
        })
        .await;
        let mut results: Vec<&str> = raced.iter().map(|((result, _), _)| *result).collect();
        results.sort();
        assert_eq!(results, ["created", "updated", "updated", "updated", "updated", "updated", "updated", "updated"]);
        let group_of_race = raced[0].0 .1.clone();
        assert_eq!(bus.drain().await, vec![("Scan Failure Group Opened".to_owned(), group_of_race, None)]);
        let spans: Vec<Span> = raced.iter().map(|(_, span)| *span).collect();
        if all_in_flight_at_once(&spans) {
            break;
        }
        assert!(attempt < 5, "in 5 tries, the eight invokers were never all in flight at once");
    }

    // Publishing off: no notification.
    let quiet = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    quiet.handle(envelope("quiet-1", "busybox", 1)).await.unwrap();
    assert_eq!(bus.drain().await, vec![]);

    // EventBridge down: the group is stored, the notification waits in the outbox; once
    // EventBridge is back, the next invocation delivers it, once.
    drop(moto);
    let down = ingest.handle(envelope("down-1", "redis", 1)).await.unwrap();
    assert_eq!(down.result, "created");
    assert_eq!(store.outbox().pending(25).await.unwrap().len(), 1);
    let moto = Moto::start(port);
    let bus = setup_bus(&moto.endpoint).await;
    ingest.handle(envelope("after-1", "redis", 2)).await.unwrap();
    assert_eq!(bus.drain().await, vec![("Scan Failure Group Opened".to_owned(), down.group_id.clone().unwrap(), None)]);
    assert_eq!(store.outbox().pending(25).await.unwrap().len(), 0);
    ingest.handle(envelope("after-2", "redis", 3)).await.unwrap();
    assert_eq!(bus.drain().await, vec![]);
}

/// A publish whose second `PutEvents` request fails past the SDK's attempts after its first was
/// accepted deletes the first request's records from the outbox and releases only the second's;
/// the drain that follows publishes those, so each notification is accepted once. Mocked
/// EventBridge: moto cannot fail one request of a publish and answer the one before (cutting the
/// network fails them all); the outbox is DynamoDB Local.
#[tokio::test]
async fn a_publish_failing_after_its_first_request_releases_only_the_notifications_not_accepted() {
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use std::sync::{Arc, Mutex};

    let sent: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let record = sent.clone();
    let accepted = || {
        (0..10)
            .fold(PutEventsOutput::builder(), |out, n| {
                out.entries(PutEventsResultEntry::builder().event_id(format!("ev-{n}")).build())
            })
            .build()
    };
    let put = mock!(aws_sdk_eventbridge::Client::put_events)
        .match_requests(move |input| {
            let details = input.entries().iter().map(|e| e.detail().unwrap_or_default().to_owned()).collect();
            record.lock().unwrap().push(details);
            true
        })
        .sequence()
        .output(accepted)
        .http_status(500, None)
        .times(3)
        .output(accepted)
        .times(2)
        .build();
    let events = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&put]);
    let store = fresh_store().await;
    let ingest = Ingest::new(store.clone(), RetentionDays::default())
        .with_transitions(vec![10])
        .with_clock(fixed_now)
        .with_notifier(Some(Notifier::new(events, "default", "scan-failures")));
    // 15 new groups in one batch: 15 "opened", published as requests of 10 and 5.
    let records: Vec<Value> = (0..15)
        .map(|n| {
            let body = envelope(&format!("chunked-{n}"), &format!("team/image-{n}"), n).to_string();
            json!({"messageId": format!("m-{n}"), "receiptHandle": "rh", "body": body, "eventSource": "aws:sqs"})
        })
        .collect();
    let batch = serde_json::from_value(json!({ "Records": records })).unwrap();
    let report = ingest.handle_batch_report(batch).await.unwrap();
    assert_eq!(report.response.batch_item_failures.len(), 0);

    let sent = sent.lock().unwrap().clone();
    // Per request (the mock matches once per request, not per attempt): the first accepted; the
    // second failed on each of the SDK's 3 attempts; the drain sent the 5 released records
    // again, and only those.
    assert_eq!(sent.iter().map(Vec::len).collect::<Vec<_>>(), [10, 5, 5]);
    assert_eq!(put.num_calls(), 1 + 3 + 1);
    let sorted = |r: &[String]| {
        let mut r = r.to_vec();
        r.sort();
        r
    };
    assert_eq!(sorted(&sent[2]), sorted(&sent[1]));
    let mut accepted: Vec<&String> = sent[0].iter().chain(&sent[2]).collect();
    accepted.sort();
    accepted.dedup();
    assert_eq!(accepted.len(), 15, "each notification accepted once");
    assert_eq!(store.outbox().pending(25).await.unwrap().len(), 0);
}

const WRITER: &str = "arn:aws:iam::123456789012:role/SecurityAdmin";

/// The api as a writer calls it, its clock at 11:30 on the tests' day.
fn admin_api(store: &Store) -> api::handler::Api {
    api_from_env(store, &[("ADMIN_VIEW_PRINCIPALS", WRITER), ("ADMIN_WRITE_PRINCIPALS", WRITER)])
        .with_clock(|| time::macros::datetime!(2026-11-25 11:30 UTC))
}

async fn call(api: &api::handler::Api, method: &str, path: &str, query: &str, body: Option<&str>) -> (u16, Value) {
    respond(api, api_request_with(method, path, query, body, Some(WRITER), false)).await
}

async fn triage(api: &api::handler::Api, group: &str, state: &str) -> Value {
    let body = json!({"state": state, "note": format!("set to {state} by the test")}).to_string();
    let (status, answer) =
        call(api, "POST", &format!("/v1/administration/events/{group}/triage"), "", Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_false_positive_keeps_counting_is_hidden_unless_asked_for_and_never_notifies() {
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    let ingest = notifying(&store, &bus);
    let api = admin_api(&store);
    let group = ingest.handle(envelope("fp-0", "nginx", 0)).await.unwrap().group_id.unwrap();
    let other = ingest.handle(envelope("other-0", "alpine", 0)).await.unwrap().group_id.unwrap();
    assert_eq!(bus.drain().await.len(), 2);

    let answer = triage(&api, &group, "false_positive").await;
    assert_eq!(answer["event"]["scanFailure"]["triage"]["state"], "false_positive");
    // Twelve more failures cross the threshold of 10: counted, not notified.
    for n in 1..13 {
        ingest.handle(envelope(&format!("fp-{n}"), "nginx", n)).await.unwrap();
    }
    assert_eq!(bus.drain().await, vec![]);
    assert_eq!(store.reader().get(&uuid::Uuid::parse_str(&group).unwrap()).await.unwrap().unwrap().num_occurrences, 13);

    let listed = |body: &Value| -> Vec<String> {
        body["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
    };
    let (_, list) = call(&api, "GET", "/v1/administration/events", "", None).await;
    assert_eq!(listed(&list), vec![other.clone()]);
    let (_, list) = call(&api, "GET", "/v1/administration/events", "filter.triage=false_positive", None).await;
    assert_eq!(listed(&list), vec![group.clone()]);
    assert_eq!(list["events"][0]["numOccurrences"], "13");
    let (_, list) =
        call(&api, "GET", "/v1/administration/events", "filter.triage=false_positive&filter.triage=open", None).await;
    assert_eq!(listed(&list).len(), 2);
    let (_, count) = call(&api, "GET", "/v1/count/administration/events", "", None).await;
    assert_eq!(count, json!({"count": 1}));
    let (_, count) = call(&api, "GET", "/v1/count/administration/events", "filter.triage=false_positive", None).await;
    assert_eq!(count, json!({"count": 1}));
    let (_, summary) = call(&api, "GET", "/v1/administration/events/summary", "", None).await;
    assert_eq!(summary["totals"], json!({"groups": 1, "occurrences": 1}));
    let (_, summary) =
        call(&api, "GET", "/v1/administration/events/summary", "filter.triage=false_positive", None).await;
    assert_eq!(summary["totals"], json!({"groups": 1, "occurrences": 13}));
    let (_, trend) = call(&api, "GET", "/v1/administration/events/trend", "days=1", None).await;
    assert_eq!(trend["totals"], json!({"occurrences": 1, "newGroups": 1}));
    let (_, trend) =
        call(&api, "GET", "/v1/administration/events/trend", "days=1&filter.triage=false_positive", None).await;
    assert_eq!(trend["totals"], json!({"occurrences": 13, "newGroups": 1}));
    // Still reachable by id, with its triage.
    let (status, one) = call(&api, "GET", &format!("/v1/administration/events/{group}"), "", None).await;
    assert_eq!((status, one["event"]["scanFailure"]["triage"]["state"].clone()), (200, json!("false_positive")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resolved_group_is_reopened_by_the_first_later_failure_and_notified_once() {
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    let ingest = notifying(&store, &bus);
    let api = admin_api(&store);
    // Each try on a group of its own: a try where one invoker ended before another began (a
    // loaded machine) proves no race, so another group is raced, up to 5 tries; every try is
    // checked for one reopen all the same.
    let mut tries = 0;
    let (group, image) = loop {
        tries += 1;
        let image = format!("nginx{tries}");
        let group = ingest.handle(envelope(&format!("r-{tries}-0"), &image, 0)).await.unwrap().group_id.unwrap();
        assert_eq!(bus.drain().await.len(), 1);
        // Resolved at 11:30 (the api's clock).
        triage(&api, &group, "resolved").await;

        // A failure that occurred before the resolve (delivered late) counts and reopens nothing.
        ingest.handle(envelope(&format!("r-{tries}-late"), &image, 29 * 60)).await.unwrap();
        let (_, one) = call(&api, "GET", &format!("/v1/administration/events/{group}"), "", None).await;
        assert_eq!(one["event"]["scanFailure"]["triage"]["state"], "resolved");
        assert_eq!(one["event"]["numOccurrences"], "2");
        assert_eq!(bus.drain().await, vec![]);

        // Eight invokers racing with failures after the resolve, all in flight at once: one
        // reopen, one notification.
        let raced = race(8, |invoker| {
            let ingest = racing_ingest(&store, &bus);
            let (id, image) = (format!("r-{tries}-after-{invoker}"), image.clone());
            async move {
                let at = 45 * 60 + invoker as u32;
                ingest.handle(envelope(&id, &image, at)).await.unwrap().result
            }
        })
        .await;
        assert!(raced.iter().all(|(result, _)| *result == "updated"), "{raced:?}");
        // (The tenth occurrence also crosses the threshold of 10.)
        assert_eq!(
            bus.drain().await,
            vec![
                ("Scan Failure Group Reopened".to_owned(), group.clone(), None),
                ("Scan Failure Threshold Crossed".to_owned(), group.clone(), Some(10)),
            ]
        );
        let spans: Vec<Span> = raced.iter().map(|(_, span)| *span).collect();
        if all_in_flight_at_once(&spans) {
            break (group, image);
        }
        assert!(tries < 5, "in 5 tries, the eight invokers were never all in flight at once");
    };
    let (_, one) = call(&api, "GET", &format!("/v1/administration/events/{group}"), "", None).await;
    let t = &one["event"]["scanFailure"]["triage"];
    assert_eq!(t["state"], "open");
    assert_eq!(t["triagedBy"], "ingest");
    assert_eq!(one["event"]["numOccurrences"], "10");
    let history: Vec<(&str, &str)> = t["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["state"].as_str().unwrap(), h["by"].as_str().unwrap()))
        .collect();
    assert_eq!(history, [("open", "ingest"), ("resolved", WRITER)]);
    assert!(t["note"].as_str().unwrap().ends_with("after the group was resolved at 2026-11-25T11:30:00.000Z"), "{t}");

    // Open again: later failures notify nothing more (the count is past 10 already).
    ingest.handle(envelope(&format!("r-{tries}-later"), &image, 50 * 60)).await.unwrap();
    assert_eq!(bus.drain().await, vec![]);
    // Resolved a second time and failing again: a second, distinct reopen.
    triage(&api, &group, "resolved").await;
    ingest.handle(envelope(&format!("r-{tries}-again"), &image, 55 * 60)).await.unwrap();
    let reopened = bus.drain().await;
    assert_eq!(reopened, vec![("Scan Failure Group Reopened".to_owned(), group.clone(), None)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_failures_of_a_resolved_group_cross_its_threshold_silently_and_its_reopen_is_told() {
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    let ingest = notifying(&store, &bus);
    let api = admin_api(&store);
    let group = ingest.handle(envelope("s-0", "nginx", 0)).await.unwrap().group_id.unwrap();
    assert_eq!(bus.drain().await.len(), 1);
    // Resolved at 11:30; nine failures from before it, delivered late, take the count to 10.
    triage(&api, &group, "resolved").await;
    for n in 1..=9 {
        ingest.handle(envelope(&format!("s-{n}"), "nginx", 20 * 60 + n)).await.unwrap();
    }
    let (_, one) = call(&api, "GET", &format!("/v1/administration/events/{group}"), "", None).await;
    assert_eq!(
        (one["event"]["numOccurrences"].clone(), one["event"]["scanFailure"]["triage"]["state"].clone()),
        (json!("10"), json!("resolved"))
    );
    assert_eq!(bus.drain().await, vec![]);
    // A failure after the resolve reopens it: told once, with no threshold left to cross.
    ingest.handle(envelope("s-after", "nginx", 45 * 60)).await.unwrap();
    assert_eq!(bus.drain().await, vec![("Scan Failure Group Reopened".to_owned(), group.clone(), None)]);
}

/// The group "opened" by envelope `id` and its outbox record, written by a writer without a
/// notifier: the record stays in the outbox, leased from now.
async fn held_record(store: &Store, id: &str) -> (String, Vec<scan_failures_aws::dynamo::outbox::Pending>) {
    let writer = Ingest::new(store.clone(), RetentionDays::default())
        .with_transitions(vec![10, 100, 1000])
        .with_clock(fixed_now);
    let group = writer.handle(envelope(id, "nginx", 1)).await.unwrap().group_id.unwrap();
    let pending = store.outbox().pending(25).await.unwrap();
    assert_eq!(pending.len(), 1);
    (group, pending)
}

/// An outbox record is published by the one invocation that holds its lease: its writer, or a
/// drainer that claimed it after the writer released it (failed publish) or let it lapse.
#[tokio::test]
async fn a_drain_leaves_a_record_another_publisher_holds_and_publishes_it_once_released() {
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    let (held, pending) = held_record(&store, "held-1").await;

    // A fresh instance drains at start: the held record is left alone; its own is published.
    let other = notifying(&store, &bus).handle(envelope("other-1", "alpine", 1)).await.unwrap().group_id.unwrap();
    assert_eq!(bus.drain().await, vec![("Scan Failure Group Opened".to_owned(), other, None)]);
    assert_eq!(store.outbox().pending(25).await.unwrap(), pending);

    // Released, as a publisher whose PutEvents failed does: the next drain publishes it, once.
    store.outbox().release(&pending[0].key, i64::MAX).await.unwrap();
    notifying(&store, &bus).handle(envelope("other-2", "alpine", 2)).await.unwrap();
    notifying(&store, &bus).handle(envelope("other-3", "alpine", 3)).await.unwrap();
    assert_eq!(bus.drain().await, vec![("Scan Failure Group Opened".to_owned(), held, None)]);
    assert_eq!(store.outbox().pending(25).await.unwrap(), vec![]);
}

/// A publisher that outran its lease and then failed releases only its own lease: the record,
/// claimed since by a drainer (a later lease), stays that drainer's. Before, the release removed
/// any lease, and a third publisher claimed the record while the drainer was publishing it.
#[tokio::test]
async fn a_release_after_the_lease_lapsed_leaves_the_lease_of_the_publisher_that_claimed_it_since() {
    use scan_failures_aws::dynamo::outbox::{wall_clock_seconds, OUTBOX_LEASE_SECONDS};
    let store = fresh_store().await;
    let before = wall_clock_seconds();
    let (_, pending) = held_record(&store, "outran-1").await;
    let writers_latest = wall_clock_seconds() + OUTBOX_LEASE_SECONDS;
    let key = &pending[0].key;
    // The writer's lease lapsed: a drainer claims the record.
    let drainer_at = writers_latest + 1;
    assert!(!store.outbox().claim(key, before + OUTBOX_LEASE_SECONDS - 1).await.unwrap(), "the writer's lease held");
    assert!(store.outbox().claim(key, drainer_at).await.unwrap());
    // The writer's publish fails now: its release leaves the drainer's lease in place.
    store.outbox().release(key, writers_latest).await.unwrap();
    assert!(!store.outbox().claim(key, drainer_at + 10).await.unwrap(), "a third publisher claimed it");
    // The drainer's own release gives it up.
    store.outbox().release(key, drainer_at + OUTBOX_LEASE_SECONDS).await.unwrap();
    assert!(store.outbox().claim(key, drainer_at + 10).await.unwrap());
}

/// A writer publishes the records its writes made only while their leases keep drainers away:
/// when a long batch brought them within `LEASE_MARGIN_SECONDS` of lapsing, it leaves them to a
/// drain (one that claims them once lapsed), instead of publishing what a drainer may publish
/// too. Within the margin, it publishes them at once.
#[tokio::test]
async fn a_writer_leaves_its_records_to_a_drain_when_their_leases_are_about_to_lapse() {
    use scan_failures_aws::dynamo::outbox::{wall_clock_seconds, OUTBOX_LEASE_SECONDS};
    use scan_failures_aws::publisher::{Publisher, LEASE_MARGIN_SECONDS};
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    let (group, made) = held_record(&store, "lease-1").await;

    // Leased as long ago as a batch that ran within the margin of the lease's end.
    let late = wall_clock_seconds() - (OUTBOX_LEASE_SECONDS - LEASE_MARGIN_SECONDS);
    let published = Publisher::new(bus.notifier()).publish_until(&store, &made, late, None).await;
    assert_eq!((published.published, published.pending), (0, 1));
    assert_eq!(bus.drain().await, vec![]);
    assert_eq!(store.outbox().pending(25).await.unwrap(), made, "left in the outbox, still leased");

    // Leased just now: published at once.
    let published = Publisher::new(bus.notifier()).publish_until(&store, &made, wall_clock_seconds(), None).await;
    assert_eq!((published.published, published.pending), (1, 0));
    assert_eq!(bus.drain().await, vec![("Scan Failure Group Opened".to_owned(), group, None)]);
    assert_eq!(store.outbox().pending(25).await.unwrap(), vec![]);
}

/// The "opened" notifications of groups `images` (envelopes `{prefix}-{n}`), written by a writer
/// without a notifier and released, as after failed publishes: every record of the outbox is
/// there for a drain to claim.
async fn released_records(store: &Store, prefix: &str, images: std::ops::Range<u32>) {
    let writer = Ingest::new(store.clone(), RetentionDays::default()).with_transitions(vec![10]).with_clock(fixed_now);
    for n in images {
        writer.handle(envelope(&format!("{prefix}-{n}"), &format!("image-{n}"), 1)).await.unwrap();
    }
    for p in &store.outbox().pending(100).await.unwrap() {
        store.outbox().release(&p.key, i64::MAX).await.unwrap();
    }
}

/// A maintenance run's drain goes on past one page of the outbox (`DRAIN_BATCH`, 25) while
/// pages come back full: the 30 notifications a reconciliation left are published in one run.
/// Before, a run published one page, 25 every 5 minutes, hours for the thousands a first
/// reconciliation can open. The drain an ingest invocation does between its writes still reads
/// one page (checked here too).
#[tokio::test]
async fn a_maintenance_drain_publishes_page_after_page_until_the_outbox_is_empty() {
    use scan_failures_aws::dynamo::outbox::wall_clock_seconds;
    use scan_failures_aws::publisher::{Publisher, DRAIN_BATCH};
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    released_records(&store, "page", 0..30).await;
    assert_eq!(store.outbox().pending(100).await.unwrap().len(), 30);
    let one_page = Publisher::new(bus.notifier()).publish_until(&store, &[], wall_clock_seconds(), None).await;
    assert_eq!((one_page.published, one_page.pending), (DRAIN_BATCH as u64, 0));
    assert_eq!(store.outbox().pending(100).await.unwrap().len(), 5);
    let rest = Publisher::new(bus.notifier()).drain_until(&store, None).await;
    assert_eq!((rest.published, rest.pending), (5, 0));
    released_records(&store, "page", 30..60).await;
    let all = Publisher::new(bus.notifier()).drain_until(&store, None).await;
    assert_eq!((all.published, all.pending), (30, 0));
    assert_eq!(store.outbox().pending(100).await.unwrap(), vec![]);
    assert_eq!(bus.drain().await.len(), 60);
}

/// A drain drops the records past their expiry (14 days after they were written, wall clock)
/// and publishes the rest: a notification that late tells of a state long changed. Before, the
/// drains published them until TTL deleted them, days later. Expired records are the oldest, at
/// the head of the outbox: a page of nothing but them goes on to the live ones behind (before,
/// a drain stopped at a page that published nothing, and after a long outage every drain dropped
/// one page and never reached the live records, which expired in turn).
#[tokio::test]
async fn a_drain_drops_records_past_their_expiry_unpublished_and_publishes_the_rest() {
    use scan_failures_aws::dynamo::outbox::wall_clock_seconds;
    use scan_failures_aws::dynamo::schema::{PARTITION_KEY, TTL_ATTRIBUTE};
    use scan_failures_aws::publisher::Publisher;
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    released_records(&store, "expiry", 0..30).await;
    let records = store.outbox().pending(100).await.unwrap();
    // Written with the wall clock's expiry, 14 days on, whatever the writer's clock.
    let fresh = store.outbox().page(100, wall_clock_seconds() + 13 * 86_400).await.unwrap();
    assert_eq!((fresh.live.len(), fresh.expired.len()), (30, 0));
    // The 26 oldest expired: a whole page of 25, and one on the next beside the 4 live.
    for p in &records[..26] {
        store
            .client()
            .update_item()
            .table_name(store.table())
            .key(PARTITION_KEY, aws_sdk_dynamodb::types::AttributeValue::S(p.key.clone()))
            .update_expression("SET #e = :past")
            .expression_attribute_names("#e", TTL_ATTRIBUTE)
            .expression_attribute_values(
                ":past",
                aws_sdk_dynamodb::types::AttributeValue::N((wall_clock_seconds() - 1).to_string()),
            )
            .send()
            .await
            .unwrap();
    }
    let drained = Publisher::new(bus.notifier()).drain_until(&store, None).await;
    assert_eq!((drained.published, drained.pending), (4, 0));
    assert_eq!(store.outbox().pending(100).await.unwrap(), vec![], "the expired ones are gone too");
    let delivered = bus.drain().await;
    assert_eq!(delivered.len(), 4, "{delivered:?}");
    for (_, group, _) in &delivered {
        assert!(records[26..].iter().any(|r| r.detail.contains(group.as_str())), "{group} {delivered:?}");
    }
}

/// A maintenance drain whose stop time passes during a page finishes that page (its records
/// published and deleted) and starts no other: cut there, the records EventBridge had accepted
/// stayed in the outbox, and the next drain, once their leases lapsed, published them again.
#[tokio::test]
async fn a_drain_whose_stop_time_passes_mid_page_finishes_the_page_and_publishes_nothing_twice() {
    use scan_failures_aws::dynamo::outbox::wall_clock_seconds;
    use scan_failures_aws::publisher::{Publisher, DRAIN_BATCH};
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    released_records(&store, "cut", 0..30).await;
    let started = std::time::Instant::now();
    let until = started + std::time::Duration::from_millis(20);
    let first = Publisher::new(bus.notifier()).drain_until(&store, Some(until)).await;
    // The stop time passed while the page was at work (25 claims, 3 PutEvents, 25 deletes).
    assert!(started.elapsed() > std::time::Duration::from_millis(20), "{:?}", started.elapsed());
    assert_eq!((first.published, first.pending), (DRAIN_BATCH as u64, 0));
    assert_eq!(store.outbox().pending(100).await.unwrap().len(), 5);
    // Later, with every lease taken so far lapsed: the other 5, and nothing again.
    let later = Publisher::new(bus.notifier()).with_clock(|| wall_clock_seconds() + 31).drain_until(&store, None).await;
    assert_eq!((later.published, later.pending), (5, 0));
    // One "opened" per image: 30 deliveries of 30 groups, none twice.
    let delivered = bus.drain().await;
    let groups: std::collections::BTreeSet<&String> = delivered.iter().map(|(_, group, _)| group).collect();
    assert_eq!((delivered.len(), groups.len()), (30, 30), "{delivered:?}");
}

/// A drain whose claims took until within `LEASE_MARGIN_SECONDS` of their leases' end (a
/// throttled table; here a clock that reads 25 s later after the claims) leaves the records it
/// claimed to a later drain rather than publish what a drainer may claim once the leases lapse:
/// nothing is published, the records stay, counted as left. With claims in time, the same
/// records are published.
#[tokio::test]
async fn a_drain_whose_claims_took_too_long_leaves_them_for_a_later_drain() {
    use scan_failures_aws::dynamo::outbox::wall_clock_seconds;
    use scan_failures_aws::publisher::Publisher;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static READS: AtomicUsize = AtomicUsize::new(0);
    /// The wall clock, 25 s on from its second reading: the claims' leases (30 s) have 5 s left.
    fn slow_claims() -> i64 {
        wall_clock_seconds() + if READS.fetch_add(1, Ordering::SeqCst) == 0 { 0 } else { 25 }
    }
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    released_records(&store, "slow", 0..3).await;
    let late = Publisher::new(bus.notifier()).with_clock(slow_claims).drain_until(&store, None).await;
    assert_eq!((late.published, late.pending), (0, 3));
    assert!(READS.load(Ordering::SeqCst) >= 2, "the clock was read after the claims");
    assert_eq!(bus.drain().await, vec![]);
    let left = store.outbox().pending(100).await.unwrap();
    assert_eq!(left.len(), 3, "left in the outbox, leased by the late drain");
    // Released (as their leases lapse), a drain in time publishes them.
    for p in &left {
        store.outbox().release(&p.key, i64::MAX).await.unwrap();
    }
    let in_time = Publisher::new(bus.notifier()).drain_until(&store, None).await;
    assert_eq!((in_time.published, in_time.pending), (3, 0));
    assert_eq!(bus.drain().await.len(), 3);
}

/// A publish of more than one `PutEvents` request starts no request once its leases are within
/// `LEASE_MARGIN_SECONDS` of lapsing (requests slowed by retries; here a clock that reads 25 s
/// later once the first request is sent), and deletes what each request had accepted at once:
/// the first 10 of a page of 25 are published and gone, the other 15 stay, leased, for a drain
/// once their leases lapse. Before, every request was sent and the deletes came after the
/// last, so a drainer claiming the lapsed leases published the accepted ones again.
#[tokio::test]
async fn a_publish_stops_between_requests_when_its_leases_are_about_to_lapse() {
    use scan_failures_aws::dynamo::outbox::wall_clock_seconds;
    use scan_failures_aws::publisher::Publisher;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static READS: AtomicUsize = AtomicUsize::new(0);
    /// The wall clock, 25 s on from its fourth reading: the drain reads it for the page, for the
    /// leases' end and before the first request; then the requests are slow.
    fn slow_requests() -> i64 {
        wall_clock_seconds() + if READS.fetch_add(1, Ordering::SeqCst) < 3 { 0 } else { 25 }
    }
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    let store = fresh_store().await;
    released_records(&store, "slow-requests", 0..25).await;
    let done = Publisher::new(bus.notifier()).with_clock(slow_requests).drain_until(&store, None).await;
    assert_eq!((done.published, done.pending), (10, 15));
    assert_eq!(bus.drain().await.len(), 10);
    assert_eq!(store.outbox().pending(100).await.unwrap().len(), 15, "the accepted ones deleted, the rest left leased");
}

/// Twenty minutes before now: when the notification of the test below was written.
fn twenty_minutes_ago() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() - time::Duration::minutes(20)
}

/// On a quiet stack no ingest invocation publishes what waits in the outbox: every maintenance
/// run (the binary, through the Lambda runtime path) drains it, and measures how long the oldest
/// notification left has waited, the figure `OutboxPendingAlarm` watches (over 900 s). Before, a
/// notification left by a failed publish, or by the reconciler, waited for the next event, and a
/// bus refusing them was heard only while events kept arriving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_run_publishes_what_waits_in_the_outbox_and_reports_how_long_the_rest_waited() {
    let store = fresh_store().await;
    // A bus nobody answers on: the notification stays in the outbox.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let unreachable = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_eventbridge::config::Credentials::for_tests())
            .endpoint_url(&closed)
            .build(),
    );
    let ingest = Ingest::new(store.clone(), RetentionDays::new(30).unwrap())
        .with_transitions(vec![10])
        .with_clock(twenty_minutes_ago)
        .with_notifier(Some(Notifier::new(unreachable, "default", "scan-failures")));
    let written = std::time::Instant::now();
    // Dated by the clock it is handled at, which is the wall clock's: an event of a fixed day
    // would be past its 30-day retention from that day on.
    let at = scan_failures_domain::time_fmt::format(twenty_minutes_ago() - time::Duration::minutes(1));
    let opened = ingest.handle(envelope_at("waits-1", "nginx", &at, &at)).await.unwrap();
    assert_eq!(opened.result, "created");
    assert_eq!(store.outbox().pending(25).await.unwrap().len(), 1);

    let log = std::env::temp_dir().join(format!("{}.log", integration_tests::unique_name("outbox-age")));
    let run = |eventbridge: &str| {
        let env = [
            ("NOTIFY_BUS_NAME", "default"),
            ("METRICS_STACK", "outbox-test"),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", eventbridge),
        ];
        let watch = integration_tests::Watch::start_logged(&["maintenance"], store.table(), &env, None, Some(&log));
        watch.invoke_function("maintenance", &json!({})).unwrap();
        let docs = integration_tests::emf::documents(&std::fs::read_to_string(&log).unwrap());
        docs.iter().filter_map(|d| d["OutboxOldestAge"].as_f64()).next_back()
    };
    // The bus still out of reach: the drain fails, and the run says how long the record waited.
    let waited = run(&closed).unwrap_or_else(|| panic!("no OutboxOldestAge"));
    // Twenty minutes, and what has passed since it was written (the runtime emulator's start).
    let since = written.elapsed().as_secs_f64();
    assert!((1_200.0..=1_201.0 + since).contains(&waited), "waited {waited} s, {since:.1} s after the write");
    assert_eq!(store.outbox().pending(25).await.unwrap().len(), 1);
    // The bus back, and still no event: the next run publishes it, once, and nothing waits.
    let moto = Moto::start(free_port());
    let bus = setup_bus(&moto.endpoint).await;
    assert_eq!(run(&moto.endpoint), Some(0.0));
    assert_eq!(bus.drain().await, vec![("Scan Failure Group Opened".to_owned(), opened.group_id.unwrap(), None)]);
    assert_eq!(store.outbox().pending(25).await.unwrap().len(), 0);
    let _ = std::fs::remove_file(&log);
}
