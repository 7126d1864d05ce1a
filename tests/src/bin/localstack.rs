//! Local-stack helper for `make local`: `create-table` makes the table from the schema in
//! `shared`, `groups` prints the stored groups (a scan: a development aid, never on a request
//! path), `bus` creates the bus, the template's rules and the buffer queue on moto
//! (`MOTO_ENDPOINT`) and delivers the queue to the ingest function of the `cargo lambda watch`
//! on `LAMBDA_PORT` until interrupted; `stream` delivers the table's stream to the rollup
//! function on `LAMBDA_PORT` as Lambda's event source mapping does, its checkpoint in
//! `STREAM_STATE` (default `.local/stream.json`), its failure destination `STREAM_FAILURES`
//! (default `.local/stream-failures.jsonl`) and, when `STREAM_FAILURE_QUEUE_URL` names one, an
//! SQS queue (moto's), until interrupted (`STREAM_DIE_AFTER=n`: exit with
//! 9 after the n-th invocation, before its checkpoint); `streams-proxy` serves DynamoDB Local's
//! stream as the SDK can read it on `STREAMS_PROXY_PORT` (default 8001), for the maintenance
//! function's redrive, until interrupted. Endpoint and table come from `AWS_ENDPOINT_URL_DYNAMODB`
//! and `TABLE_NAME`; the bus's name from `SCANFAIL_BUS` (default `scan-failures`).

use std::process::ExitCode;

use scan_failures_aws::dynamo::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (Ok(endpoint), Ok(table)) = (std::env::var("AWS_ENDPOINT_URL_DYNAMODB"), std::env::var("TABLE_NAME")) else {
        eprintln!("localstack: set AWS_ENDPOINT_URL_DYNAMODB and TABLE_NAME");
        return ExitCode::from(2);
    };
    let store = Store::new(integration_tests::dynamodb_client(&endpoint), table);
    match std::env::args().nth(1).as_deref() {
        Some("bus") => bus().await,
        Some("stream") => stream(&endpoint, store.table()).await,
        Some("streams-proxy") => {
            let port = std::env::var("STREAMS_PROXY_PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(8001);
            match integration_tests::streams_proxy::start_on(&endpoint, port) {
                Ok(proxy) => {
                    println!("localstack: streams proxy on {}", proxy.endpoint);
                    std::future::pending::<()>().await;
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("localstack: streams proxy on port {port}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("create-table") => {
            match scan_failures_aws::dynamo::table::create_with_stream(
                &store,
                scan_failures_aws::dynamo::table::Ttl::Enabled,
            )
            .await
            {
                Ok(()) => {
                    println!("localstack: created table {}", store.table());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("localstack: create table {}: {e}", store.table());
                    ExitCode::FAILURE
                }
            }
        }
        Some("groups") => {
            let groups = integration_tests::all_groups(&store).await;
            println!("{:<36}  {:<24}  {:>5}  {:<24}  resource", "group", "reason", "count", "lastOccurredAt");
            for g in groups {
                println!(
                    "{:<36}  {:<24}  {:>5}  {:<24}  {}",
                    g.id, g.reason, g.num_occurrences, g.last_occurred_at, g.resource_name
                );
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: localstack create-table|groups|bus|stream|streams-proxy");
            ExitCode::from(2)
        }
    }
}

/// `localstack bus`: the bus and its poller, until interrupted.
async fn bus() -> ExitCode {
    let (Ok(moto), Some(port)) =
        (std::env::var("MOTO_ENDPOINT"), std::env::var("LAMBDA_PORT").ok().and_then(|p| p.parse::<u16>().ok()))
    else {
        eprintln!("localstack: set MOTO_ENDPOINT and LAMBDA_PORT");
        return ExitCode::from(2);
    };
    let name = std::env::var("SCANFAIL_BUS").unwrap_or_else(|_| "scan-failures".to_owned());
    // Failed messages come back after 5 s here, not the deployed 420 s.
    let bus = integration_tests::bus::LocalBus::create(&moto, &name, 5).await;
    let rules: Vec<String> =
        integration_tests::bus::template_rules(&name).into_iter().map(|(id, on, _)| format!("{id} on {on}")).collect();
    println!(
        "localstack: bus {name}, rules {}, buffer {}, dead letters {}",
        rules.join(", "),
        bus.queue_url,
        bus.dead_letter_url
    );
    let deliver = move |event: &serde_json::Value| integration_tests::invoke_http(port, "ingest", event);
    bus.run(&deliver, std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false))).await;
    ExitCode::SUCCESS
}

/// `localstack stream`: the stream poller, until interrupted.
async fn stream(endpoint: &str, table: &str) -> ExitCode {
    let Some(port) = std::env::var("LAMBDA_PORT").ok().and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("localstack: set LAMBDA_PORT");
        return ExitCode::from(2);
    };
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let config = integration_tests::streams::PollerConfig {
        table: table.to_owned(),
        function: var("STREAM_FUNCTION", "rollup"),
        lambda_port: port,
        state: var("STREAM_STATE", ".local/stream.json").into(),
        failures: var("STREAM_FAILURES", ".local/stream-failures.jsonl").into(),
        failure_queue_url: std::env::var("STREAM_FAILURE_QUEUE_URL").ok().filter(|u| !u.is_empty()),
        // The template's BatchSize, which the redrive holds a description to.
        batch_size: scan_failures_domain::rollup::given_up::MAX_BATCH_SIZE as i32,
        max_retries: 3,
        die_after_invocations: std::env::var("STREAM_DIE_AFTER").ok().and_then(|n| n.parse().ok()),
    };
    match integration_tests::streams::Poller::new(config, endpoint).run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("localstack: stream: {e}");
            ExitCode::FAILURE
        }
    }
}
