//! The api function's router and handler, as a library so tests can drive it in-process as well
//! as through the Lambda runtime.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod handler;
pub mod metrics;
pub mod payload;
pub mod raw_query;
pub mod routes;

/// Every AWS operation the api function's code calls, by the module that calls it; its IAM role
/// should grant exactly these (reads on the table and its indexes, the administrators' writes on
/// the table).
pub const ACTIONS: &[&[&str]] =
    &[scan_failures_aws::dynamo::read::actions::READ, scan_failures_aws::dynamo::admin::actions::WRITE];
