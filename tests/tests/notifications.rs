//! Notifications on moto's EventBridge: a rule on the default bus sends them to an SQS queue,
//! which the tests read. The group store is a real DynamoDB Local.

use aws_sdk_dynamodb::config::{Credentials, Region};
use ingest::handler::Ingest;
use integration_tests::{dynamodb_client, dynamodb_endpoint, fixed_now, free_port, fresh_store, Moto};
use scan_failures::config::RetentionDays;
use scan_failures::notify::Notifier;
use scan_failures::store::Store;
use serde_json::{json, Value};

fn envelope(id: &str, image: &str, second: u32) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Image Scan Failed", "source": "test.notify",
        "account": "123456789012", "time": "2026-11-25T11:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {"operation": "image scan", "origin": "api", "image": {"name": image},
            "error": {"message": "context deadline exceeded"},
            "occurredAt": format!("2026-11-25T11:{:02}:{:02}Z", second / 60 % 60, second % 60)}
    })
}

struct Bus {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "static",
        )))
        .endpoint_url(endpoint)
        .build()
}

/// A queue and a rule on moto's default bus sending every `scan-failures` event to it.
async fn setup_bus(endpoint: &str) -> Bus {
    let config = sdk_config(endpoint);
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
    Ingest::new(store.clone().with_transitions(vec![10, 100, 1000]), RetentionDays::default())
        .with_clock(fixed_now)
        .with_notifier(Some(bus.notifier()))
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

    // Eight invokers racing to create one group: one "opened".
    let mut tasks = Vec::new();
    for invoker in 0..8 {
        let table = store.table().to_owned();
        let notifier = bus.notifier();
        tasks.push(tokio::spawn(async move {
            let own = Store::new(dynamodb_client(dynamodb_endpoint()), table).with_transitions(vec![10, 100, 1000]);
            let ingest = Ingest::new(own, RetentionDays::default()).with_clock(fixed_now).with_notifier(Some(notifier));
            ingest.handle(envelope(&format!("race-{invoker}"), "alpine", invoker)).await.unwrap().group_id.unwrap()
        }));
    }
    let mut raced = Vec::new();
    for t in tasks {
        raced.push(t.await.unwrap());
    }
    raced.dedup();
    assert_eq!(raced.len(), 1);
    assert_eq!(bus.drain().await, vec![("Scan Failure Group Opened".to_owned(), raced[0].clone(), None)]);

    // Publishing off: no notification.
    let quiet = Ingest::new(store.clone(), RetentionDays::default()).with_clock(fixed_now);
    quiet.handle(envelope("quiet-1", "busybox", 1)).await.unwrap();
    assert_eq!(bus.drain().await, vec![]);

    // EventBridge down: the group is stored, the notification waits in the outbox; once
    // EventBridge is back, the next invocation delivers it, once.
    drop(moto);
    let down = ingest.handle(envelope("down-1", "redis", 1)).await.unwrap();
    assert_eq!(down.result, "created");
    assert_eq!(store.pending_notifications(25).await.unwrap().len(), 1);
    let moto = Moto::start(port);
    let bus = setup_bus(&moto.endpoint).await;
    ingest.handle(envelope("after-1", "redis", 2)).await.unwrap();
    assert_eq!(bus.drain().await, vec![("Scan Failure Group Opened".to_owned(), down.group_id.clone().unwrap(), None)]);
    assert_eq!(store.pending_notifications(25).await.unwrap().len(), 0);
    ingest.handle(envelope("after-2", "redis", 3)).await.unwrap();
    assert_eq!(bus.drain().await, vec![]);
}
