//! What the pipeline did with one message: the handler's answer, its log line and its
//! metrics are each read from it.

use std::sync::Arc;

use scan_failures_aws::dynamo::write::{Recorded, WriteCost};
use scan_failures_aws::dynamo::StoreError;
use scan_failures_domain::event::{Operation, Origin};
use uuid::Uuid;

/// What the pipeline did with one message.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Not a valid envelope (the message fails; the direct path answers the typed error).
    Rejected(String),
    /// A successful scan: acknowledged, never stored.
    IgnoredSuccess { event_id: String },
    /// Not a scan failure (an AWS status that is not one, a resource out of scope).
    Ignored { event_id: String, why: String },
    /// Older than the retention window: storing it would create an already expired group.
    IgnoredExpired { event_id: String },
    /// Counted in its group, or recognised as a redelivery, by a write of `batch_events`
    /// envelopes that cost `cost`.
    Recorded {
        event_id: String,
        group: Uuid,
        reason: &'static str,
        origin: Origin,
        operation: Operation,
        recorded: Recorded,
        batch_events: usize,
        cost: WriteCost,
    },
    /// The group's write failed: the message fails, so it is retried.
    Failed { event_id: String, group: Uuid, reason: &'static str, error: Arc<StoreError> },
    /// Not written: the invocation's deadline was too near to start the group's write. The
    /// message fails, so it is delivered again.
    Deferred { event_id: String, group: Uuid, reason: &'static str },
}

impl Outcome {
    /// The `result` logged and answered for the message.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Rejected(_) => "rejected",
            Self::IgnoredSuccess { .. } => "ignored_success",
            Self::Ignored { .. } => "ignored",
            Self::IgnoredExpired { .. } => "ignored_expired",
            Self::Recorded { recorded, .. } => recorded.as_str(),
            Self::Failed { .. } => "failed",
            Self::Deferred { .. } => "deferred",
        }
    }
}
