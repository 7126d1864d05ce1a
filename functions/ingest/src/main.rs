//! The ingest function: EventBridge delivers "Image Scan Failed" envelopes; each becomes an
//! occurrence of a deduplicated failure group in DynamoDB.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
// The runtime's future nests the whole pipeline (writes, then publishing bounded by the
// deadline); computing its layout takes more than rustc's default query depth of 128.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, LambdaEvent};
use scan_failures_aws::config::IngestConfig;
use scan_failures_aws::dynamo::{conflicts, Store};
use scan_failures_aws::eventbridge::Notifier;
use scan_failures_aws::metrics::Sink;
use scan_failures_aws::{sdk, telemetry};

// mimalloc rather than glibc's malloc: allocation was a tenth of an event's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// One thread: an invocation's futures (the runtime client, the SDK's requests and the
// connections they ride on) wake one another on the thread that runs them. On the default
// multi-threaded runtime, every I/O readiness crossed threads (a futex wake and a park per
// request): 40% of the CPU of an event (BENCHMARKS.md, "Where the CPU of an event goes").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_logging();
    let config =
        IngestConfig::from_env(|k| std::env::var(k).ok()).unwrap_or_else(|e| telemetry::fail_start("ingest", &e));
    let aws = sdk::load(config.sdk).await;
    let store = Store::new(conflicts::client(&aws), config.table_name);
    let mut ingest = ingest::handler::Ingest::new(store, config.retention)
        .with_live_retention()
        .with_metrics(Sink::new(config.metrics));
    if let Some(n) = config.notify {
        ingest = ingest.with_transitions(n.thresholds).with_notifier(Some(Notifier::new(
            aws_sdk_eventbridge::Client::new(&aws),
            n.bus,
            n.source,
        )));
    }
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deadline = scan_failures_aws::deadline::of(event.context.deadline);
        ingest.handle_any_until(event.payload, deadline)
    }))
    .await
}
