//! The local stack of the integration tests and of the benchmarks (`bench/`), one helper for
//! both:
//!
//! - [`stack`]: DynamoDB Local (started once per process, or the one at `DYNAMODB_ENDPOINT`),
//!   its clients, a fresh table per test or benchmark, seeding and reading tables; moto.
//! - [`net`]: free ports, and a TCP proxy that cuts the network; [`fail_nth`]: one request of
//!   many failed.
//! - [`race`]: racers released together, and the proof that they overlapped.
//! - [`lambda`]: `cargo lambda watch` serving the built function binaries.
//! - [`fixtures`]: the sample events, the envelope builder, the fixed clock, synthetic groups.
//! - [`api_client`]: the api handler built from an environment map, and API Gateway requests.
//! - [`bus`]: moto's EventBridge with the template's rules, the buffer queue and a poller that
//!   delivers it to the ingest function as Lambda's SQS event source mapping does.
//! - [`streams`]: a poller that delivers the table's stream to the rollup function as Lambda's
//!   event source mapping for DynamoDB streams does; [`streams_proxy`]: DynamoDB Local's stream
//!   as the SDK can read it.
//! - [`cli`]: the `scanfail` binary run with a clean environment.
//! - [`emf`]: the Embedded Metric Format specification's rules, to check the functions' metric lines.
//! - [`cfn`]: the CloudFormation evaluator and the template-against-code comparisons of
//!   `tests/template.rs`.
//!
//! Everything but [`bus`], [`streams`], [`streams_proxy`], [`cli`], [`emf`] and [`cfn`] is also exported at the crate root. A missing tool fails the test with
//! the command that installs it; nothing is skipped.

pub mod api_client;
pub mod bus;
pub mod cfn;
pub mod cli;
pub mod emf;
pub mod fail_nth;
pub mod fixtures;
pub mod lambda;
pub mod net;
pub mod race;
pub mod stack;
pub mod streams;
pub mod streams_proxy;

pub use api_client::*;
pub use fixtures::*;
pub use lambda::*;
pub use net::*;
pub use stack::*;
