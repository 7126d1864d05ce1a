//! The maintenance function: any scheduled invocation runs one bounded TTL re-stamp pass, when
//! it is on one bounded reconciliation run, one bounded run of a rebuild of the rollups when one
//! is under way, and one bounded redrive of the rollup failure queue
//! (the payload is ignored: EventBridge Scheduler and `aws.events` rules send different ones),
//! except an operator's `{"restartRollups": true}`, which restarts the rollups, and
//! `{"redriveRollups": true}`, which redrives the failure queue at once; each does nothing else.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use lambda_runtime::{service_fn, LambdaEvent};
use maintenance::{run, MaintenanceConfig, MaintenanceError, Outcome};
use scan_failures_aws::dynamo::{conflicts, Store};
use scan_failures_aws::metrics::Sink;
use scan_failures_aws::{sdk, telemetry};
use time::OffsetDateTime;

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
    let config = MaintenanceConfig::from_env(|k| std::env::var(k).ok())
        .unwrap_or_else(|e| telemetry::fail_start("maintenance", &e));
    let aws = sdk::load(config.sdk).await;
    let store = Store::new(conflicts::client(&aws), config.table_name.clone());
    let inspector = config.reconcile.as_ref().map(|_| aws_sdk_inspector2::Client::new(&aws));
    let (streams, sqs) = (aws_sdk_dynamodbstreams::Client::new(&aws), aws_sdk_sqs::Client::new(&aws));
    let sink = Sink::new(config.metrics.clone());
    let (store, config, sink, inspector, streams, sqs) = (&store, &config, &sink, &inspector, &streams, &sqs);
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
        let queue = config.rollup_failure_queue_url.as_deref();
        // A redrive and its metrics, on an operator's request or at the end of a run.
        let redrive = || async move {
            let done = maintenance::redrive::run(store, streams, sqs, queue, now).await?;
            sink.emit(&[maintenance::metrics::redrive_document(&done, &config.metrics, now)]);
            Ok::<_, MaintenanceError>(done)
        };
        if maintenance::redrive::asks_redrive(&event.payload) {
            return Ok(Outcome::Redrive(redrive().await?));
        }
        let done = async {
            let mut report = run(store, config.retention, config.max_items, now).await?;
            if let (Some(reconcile), Some(inspector)) = (&config.reconcile, inspector) {
                let thresholds = config.notify.as_ref().map(|n| n.thresholds.as_slice());
                let done = maintenance::reconcile::run(store, inspector, reconcile, thresholds, config.retention, now)
                    .await
                    .map_err(MaintenanceError::from)?;
                tracing::info!(
                    status = done.status,
                    pages = done.pages,
                    examined = done.this_run.examined,
                    recorded = done.this_run.recorded,
                    duplicates = done.this_run.duplicates,
                    "reconciliation run"
                );
                report.reconcile = Some(done);
            }
            sink.emit(&[maintenance::metrics::document(&report, &config.metrics, now)]);
            tracing::info!(
                status = report.status,
                retention_days = report.retention_days,
                examined = report.progress.as_ref().map_or(0, |p| p.examined),
                restamped = report.progress.as_ref().map_or(0, |p| p.restamped),
                lag_seconds = report.lag_seconds,
                "maintenance run"
            );
            Ok::<_, MaintenanceError>(report)
        }
        .await;
        // Then a rebuild of the rollups, when one is under way, whether or not the re-stamp or
        // the reconciliation failed (Inspector's faults, say, are not its own).
        let rebuilt = maintenance::rebuild_rollups(store, config.max_items, now).await;
        if let Ok(Some(r)) = &rebuilt {
            tracing::info!(
                generation = r.generation,
                status = r.status,
                examined = r.examined,
                marked = r.marked,
                unreadable = r.unreadable,
                marked_total = r.marked_total,
                joined_total = r.joined_total,
                "rollups rebuild"
            );
        }
        // Then the run applies again what the rollup function gave up on, once its cause has
        // passed: a transient fault heals within 5 minutes, with no operator. Last, so that a
        // failing queue cannot cost the run's metrics and log line; and whatever the parts before
        // it did.
        let redriven = match queue {
            Some(_) => Some(redrive().await),
            None => None,
        };
        let (report, also) = maintenance::settle(done, rebuilt, redriven);
        for e in also {
            tracing::error!(error = %scan_failures_domain::text::error_chain(&e), "maintenance run: a later part failed too");
        }
        let report = report?;
        Ok::<_, MaintenanceError>(Outcome::Run(Box::new(report)))
    }))
    .await
}
