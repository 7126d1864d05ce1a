//! The maintenance function: any scheduled invocation runs one bounded TTL re-stamp pass, when
//! it is on one bounded reconciliation run, with notifications on a drain of the outbox, one bounded run of a rebuild of the rollups when one
//! is under way, and one bounded redrive of the rollup failure queue (the last two only with a
//! minute left before the invocation's deadline: `scheduled`)
//! (the payload is ignored: EventBridge Scheduler and `aws.events` rules send different ones),
//! except an operator's `{"restartRollups": true}`, which restarts the rollups, and
//! `{"redriveRollups": true}`, which redrives the failure queue at once; each does nothing else.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use lambda_runtime::{service_fn, LambdaEvent};
use maintenance::scheduled::Parts;
use maintenance::{MaintenanceConfig, MaintenanceError, Outcome};
use scan_failures_aws::dynamo::{conflicts, Store};
use scan_failures_aws::eventbridge::Notifier;
use scan_failures_aws::metrics::Sink;
use scan_failures_aws::publisher::Publisher;
use scan_failures_aws::{sdk, telemetry};
use time::OffsetDateTime;

// glibc's malloc, not ingest's mimalloc: a run every 5 minutes is not an event's hot path, and
// the bootstrap stays within its budget with the outbox's drain (BENCHMARKS.md, bootstrap sizes).

// One thread: an invocation's futures (the runtime client, the SDK's requests and the
// connections they ride on) wake one another on the thread that runs them. On the default
// multi-threaded runtime, every I/O readiness crossed threads (a futex wake and a park per
// request): 40% of the CPU of an event (BENCHMARKS.md, "Where the CPU of an event goes").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_logging();
    let config = MaintenanceConfig::from_env(|k| std::env::var(k).ok())
        .unwrap_or_else(|e| telemetry::fail_start("maintenance", &e));
    let aws = sdk::load(config.sdk).await;
    let store = Store::new(conflicts::client(&aws), config.table_name.clone());
    let inspector = config.reconcile.as_ref().map(|_| maintenance::reconcile::inspector_client(&aws));
    let (streams, sqs) = (aws_sdk_dynamodbstreams::Client::new(&aws), aws_sdk_sqs::Client::new(&aws));
    let sink = Sink::new(config.metrics.clone());
    // With notifications on, every run drains the outbox: on a quiet stack no ingest invocation
    // publishes what failed publishes and the reconciler left there.
    let publisher = config.notify.as_ref().map(|n| {
        Publisher::new(Notifier::new(aws_sdk_eventbridge::Client::new(&aws), n.bus.clone(), n.source.clone()))
    });
    let parts = Parts {
        store: &store,
        config: &config,
        sink: &sink,
        inspector: inspector.as_ref(),
        streams: &streams,
        sqs: &sqs,
        publisher: publisher.as_ref(),
    };
    let (parts, store) = (&parts, &store);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let now = OffsetDateTime::now_utc();
        if maintenance::asks_rollup_restart(&event.payload) {
            let done = maintenance::restart_rollups(store, now).await?;
            tracing::info!(
                since = ?done.rollups_kept_since,
                moved = done.moved,
                rebuilding = ?done.rebuilding,
                "rollups restart"
            );
            return Ok(Outcome::Restart(done));
        }
        let deadline = scan_failures_aws::deadline::of(event.context.deadline);
        if maintenance::redrive::asks_redrive(&event.payload) {
            return Ok(Outcome::Redrive(parts.redrive(now, deadline).await?));
        }
        let report = parts.scheduled(now, deadline).await?;
        Ok::<_, MaintenanceError>(Outcome::Run(Box::new(report)))
    }))
    .await
}
