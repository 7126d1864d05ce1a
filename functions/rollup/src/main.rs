//! The rollup function: Lambda's event source mapping delivers the table's stream, a batch of
//! one shard's records at a time; each change of a group moves its contribution between the
//! maintained rollups, exactly once.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{service_fn, LambdaEvent};
use scan_failures_aws::config::RollupConfig;
use scan_failures_aws::dynamo::{conflicts, Store};
use scan_failures_aws::{sdk, telemetry};

// mimalloc rather than glibc's malloc: allocation was a tenth of an event's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_logging();
    let config =
        RollupConfig::from_env(|k| std::env::var(k).ok()).unwrap_or_else(|e| telemetry::fail_start("rollup", &e));
    let aws = sdk::load(config.sdk).await;
    let rollup = rollup::handler::Rollup::new(Store::new(conflicts::client(&aws), config.table_name));
    let rollup = &rollup;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| async move {
        let deadline = scan_failures_aws::deadline::of(event.context.deadline);
        rollup.handle_until(event.payload, deadline).await.map_err(lambda_runtime::Error::from)
    }))
    .await
}
