//! The api function: API Gateway (HTTP API or REST API, AWS_IAM) requests in, failure groups out.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt as _;
use lambda_http::{lambda_runtime, service_fn, Adapter, LambdaEvent, Request};
use scan_failures_aws::config::ApiConfig;
use scan_failures_aws::dynamo::{conflicts, Store};
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
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init_logging();
    let config = ApiConfig::from_env(|k| std::env::var(k).ok()).unwrap_or_else(|e| telemetry::fail_start("api", &e));
    let aws = sdk::load(config.sdk).await;
    let store = Store::new(conflicts::client(&aws), config.table_name.clone());
    let api = api::handler::Api::new(store, &config).with_metrics(Sink::new(config.metrics.clone()));
    let handler = service_fn(|req: Request| async { Ok::<_, std::convert::Infallible>(api.handle(req).await) });
    // `lambda_http::run`, with the raw query string made fit for its conversion first, which
    // panics on a URI it cannot build (api::raw_query).
    let fitted = Adapter::from(handler).map_request(|event: LambdaEvent<LambdaRequest>| LambdaEvent {
        payload: api::raw_query::fit(event.payload),
        context: event.context,
    });
    lambda_runtime::run(fitted).await
}
