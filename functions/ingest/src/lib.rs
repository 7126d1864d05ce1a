//! The ingest function's handler, as a library so integration tests can drive it in-process
//! as well as through the Lambda runtime.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod handler;
pub mod metrics;
pub mod order;
pub mod outcome;

/// Every AWS operation the ingest function's code calls, by the module that calls it; its IAM
/// role grants exactly these (checked by `tests/tests/template.rs`).
pub const ACTIONS: &[&[&str]] = &[
    // Includes the `GetItem` of the retention setting (`settings`).
    scan_failures_aws::dynamo::write::actions::RECORD,
    scan_failures_aws::dynamo::outbox::actions::OUTBOX,
    scan_failures_aws::eventbridge::actions::PUBLISH,
];

/// What Lambda's SQS event source mapping needs from the function's role on the buffer queue
/// (the buffered path, `handler::Ingest::handle_batch`).
pub const SQS_CONSUME: &[&str] = &["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"];
