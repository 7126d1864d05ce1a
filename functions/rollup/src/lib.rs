//! The rollup function's handler, as a library so integration tests can drive it in-process as
//! well as through the Lambda runtime.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod handler;

/// Every AWS operation the rollup function's code calls; its IAM role grants exactly these
/// (checked by `tests/tests/template.rs`).
pub const ACTIONS: &[&[&str]] = &[scan_failures_aws::dynamo::rollup::actions::WRITE];

/// What Lambda's event source mapping needs from the function's role on the table's stream.
pub const STREAM_CONSUME: &[&str] =
    &["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"];
