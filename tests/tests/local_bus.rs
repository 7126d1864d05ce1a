//! The local bus behaves as the deployed one where the tests rely on it: the template's rule
//! routes "Image Scan Failed" to the buffer, the poller deletes what the ingest function stored,
//! and a message it keeps refusing moves to the dead-letter queue after the template's
//! `BufferMaxReceiveCount` receives (moto's redrive).

use std::time::{Duration, Instant};

use integration_tests::bus::LocalBus;
use integration_tests::{
    dynamodb_client, dynamodb_endpoint, free_port, fresh_store_on, invoke_http, samples, unique_name, Moto, Watch,
};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_event_is_deleted_and_a_refused_one_reaches_the_dead_letter_queue_after_the_maximum_receives() {
    let store = fresh_store_on(&dynamodb_client(dynamodb_endpoint()), "bus").await;
    let watch = Watch::start(&["ingest"], store.table(), &[], None);
    let moto = Moto::start(free_port());
    let bus = LocalBus::create(&moto.endpoint, &unique_name("scan-failures"), 1).await;
    let good = json!({"operation": "image scan", "origin": "api", "image": {"name": "nginx:1.25"},
        "error": {"message": "context deadline exceeded"}});
    let bad = json!({"operation": "image scan", "origin": "api", "image": {"name": "nginx:1.25"}});
    for detail in [&good, &bad] {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&bus.bus)
            .source("scanfail")
            .detail_type("Image Scan Failed")
            .detail(detail.to_string())
            .build();
        let out = bus.events.put_events().entries(entry).send().await.unwrap();
        assert_eq!(out.failed_entry_count(), 0);
    }
    let port = watch.port;
    let deliver = move |event: &Value| tokio::task::block_in_place(|| invoke_http(port, "ingest", event));
    let mut received = 0;
    let started = Instant::now();
    while bus.depth(&bus.dead_letter_url).await == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "nothing reached the dead-letter queue");
        let polled = bus.poll_once(&deliver).await;
        received += polled.received;
        if polled.received == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let (groups, occurrences) = integration_tests::totals(&store).await;
    assert_eq!((groups, occurrences), (1, 1), "the good event stored once");
    assert_eq!(bus.depth(&bus.queue_url).await, 0);
    assert_eq!(bus.depth(&bus.dead_letter_url).await, 1);
    // The good one once, the refused one BufferMaxReceiveCount (5) times.
    assert_eq!(received, 1 + 5);
}

/// The Inspector rules' `wildcard` filter on `resources`, matched by moto's EventBridge as by
/// EventBridge: Inspector's coverage of an ECR image reaches the buffer, of an EC2 instance not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_coverage_of_an_ecr_image_reaches_the_buffer_and_of_an_ec2_instance_does_not() {
    let moto = Moto::start(free_port());
    let bus = LocalBus::create(&moto.endpoint, &unique_name("inspector"), 1).await;
    for name in ["aws-inspector-01-access-denied", "aws-inspector-03-ec2-instance"] {
        let (_, event) = samples(name).remove(0);
        let resources = event["resources"].as_array().into_iter().flatten().filter_map(Value::as_str);
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name("default")
            .source(event["source"].as_str().unwrap())
            .detail_type(event["detail-type"].as_str().unwrap())
            .detail(event["detail"].to_string())
            .set_resources(Some(resources.map(str::to_owned).collect()))
            .build();
        let out = bus.events.put_events().entries(entry).send().await.unwrap();
        assert_eq!(out.failed_entry_count(), 0, "{name}");
    }
    let delivered = std::sync::Mutex::new(Vec::new());
    let keep = |event: &Value| {
        for record in event["Records"].as_array().into_iter().flatten() {
            let body: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
            delivered.lock().unwrap().push(body["resources"].clone());
        }
        Ok(json!({ "batchItemFailures": [] }))
    };
    let started = Instant::now();
    while bus.depth(&bus.queue_url).await > 0 || delivered.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "nothing reached the buffer");
        bus.poll_once(&keep).await;
    }
    assert_eq!(
        *delivered.lock().unwrap(),
        [json!([samples("aws-inspector-01").remove(0).1["resources"][0]])],
        "only the ECR image's coverage"
    );
}
