//! The adapters around the domain (`scan-failures-domain`): DynamoDB ([`dynamo`]), EventBridge
//! ([`eventbridge`]), Amazon Inspector's coverage (`inspector`, feature `inspector`), the SDK's configuration ([`sdk`], [`backoff`]), the environment
//! ([`config`]), the invocation's deadline ([`deadline`]), the logs ([`telemetry`]) and the metrics in them ([`metrics`]), and the settings an instance keeps a while ([`cached`]). The functions' `main`s build these once and hand
//! them to their handlers.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backoff;
pub mod cached;
pub mod config;
pub mod deadline;
pub mod dynamo;
pub mod eventbridge;
#[cfg(feature = "inspector")]
pub mod inspector;
pub mod metrics;
pub mod publisher;
pub mod sdk;
pub mod telemetry;
