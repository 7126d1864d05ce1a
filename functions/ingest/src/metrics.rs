//! What the ingest function tells CloudWatch about one invocation: a [`Tally`] of its
//! messages' outcomes, and the EMF documents it becomes (pure; [`scan_failures_aws::metrics::Sink`]
//! writes them).
//!
//! Dimensions are chosen for cost: every value is from a closed set (22 reasons, 4 origins, 5
//! operations), so no outside string can create a billed metric; the totals carry `Stack`
//! only; the breakdown of the occurrences stored is one document per (reason, origin,
//! operation) seen in the invocation, published under three dimension sets (two when
//! `METRICS_BY_REASON=false`).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use scan_failures_aws::dynamo::write::{Recorded, WriteCost};
use scan_failures_aws::metrics::emf::{Document, Metric, Unit};
use scan_failures_aws::metrics::MetricsConfig;

use crate::outcome::Outcome;

const TOTAL: &[&[&str]] = &[&["Stack"]];

macro_rules! count {
    ($id:ident, $name:literal, $help:literal) => {
        pub static $id: Metric = Metric { name: $name, unit: Unit::Count, dimensions: TOTAL, help: $help };
    };
}

count!(OCCURRENCES, "Occurrences", "occurrences stored: a new group or a repeat (redeliveries excluded)");
count!(NEW_GROUPS, "NewGroups", "groups created (a failure not seen in the retention window)");
count!(DUPLICATES, "Duplicates", "redelivered envelopes recognised and not counted again");
count!(REJECTED, "Rejected", "messages refused as invalid (reported failed: retried, then dead-lettered)");
count!(IGNORED_SUCCESS, "IgnoredSuccess", "successful scans acknowledged, never stored");
count!(IGNORED_EXPIRED, "IgnoredExpired", "failures older than the retention window, not stored");
count!(
    IGNORED_NOT_A_FAILURE,
    "IgnoredNotAFailure",
    "AWS scan statuses that are not failures, or resources out of scope"
);
count!(STORE_ERRORS, "StoreErrors", "messages whose group write failed (reported failed, retried)");
count!(DYNAMODB_REQUESTS, "DynamoDBRequests", "DynamoDB requests of the group writes");
count!(NOTIFICATIONS_PUBLISHED, "NotificationsPublished", "transitions EventBridge accepted");
count!(OUTBOX_PENDING, "OutboxPending", "transitions left in the outbox for a later drain");
count!(SQS_BATCH_SIZE, "SqsBatchSize", "messages in an SQS batch (buffered path only)");
count!(SQS_MESSAGES_FAILED, "SqsMessagesFailed", "messages of an SQS batch reported failed (buffered path only)");

pub static WRITE_CAPACITY_UNITS: Metric = Metric {
    name: "WriteCapacityUnits",
    unit: Unit::None,
    dimensions: TOTAL,
    help: "write capacity DynamoDB reported for the group writes",
};

/// The occurrences stored, by reason, origin and operation.
pub static OCCURRENCES_BREAKDOWN: Metric = Metric {
    name: "Occurrences",
    unit: Unit::Count,
    dimensions: &[&["Stack", "Reason"], &["Stack", "Origin"], &["Stack", "Operation"]],
    help: "occurrences stored, by reason, by origin and by operation",
};

/// [`OCCURRENCES_BREAKDOWN`] with `METRICS_BY_REASON=false`.
pub static OCCURRENCES_BREAKDOWN_NO_REASON: Metric = Metric {
    name: "Occurrences",
    unit: Unit::Count,
    dimensions: &[&["Stack", "Origin"], &["Stack", "Operation"]],
    help: "occurrences stored, by origin and by operation (METRICS_BY_REASON=false)",
};

/// Every metric the ingest function emits (the template test checks the dashboard against it).
pub static METRICS: &[&Metric] = &[
    &OCCURRENCES,
    &OCCURRENCES_BREAKDOWN,
    &OCCURRENCES_BREAKDOWN_NO_REASON,
    &NEW_GROUPS,
    &DUPLICATES,
    &REJECTED,
    &IGNORED_SUCCESS,
    &IGNORED_EXPIRED,
    &IGNORED_NOT_A_FAILURE,
    &STORE_ERRORS,
    &DYNAMODB_REQUESTS,
    &WRITE_CAPACITY_UNITS,
    &NOTIFICATIONS_PUBLISHED,
    &OUTBOX_PENDING,
    &SQS_BATCH_SIZE,
    &SQS_MESSAGES_FAILED,
];

pub use scan_failures_aws::publisher::Published;

/// The figures of one invocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Occurrences stored by (reason, origin, operation).
    pub stored: BTreeMap<(&'static str, &'static str, &'static str), u64>,
    pub new_groups: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub ignored_success: u64,
    pub ignored_expired: u64,
    pub ignored_not_a_failure: u64,
    pub store_errors: u64,
    pub cost: WriteCost,
    pub published: Published,
    /// `(messages, reported failed)` of an SQS batch; `None` on the direct path.
    pub sqs: Option<(u64, u64)>,
}

impl Tally {
    /// The tally of a pipeline's outcomes, what its writes cost and what it published.
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>, cost: WriteCost, published: Published) -> Self {
        let mut t = Self { cost, published, ..Self::default() };
        for o in outcomes {
            match o {
                Outcome::Rejected(_) => t.rejected += 1,
                Outcome::IgnoredSuccess { .. } => t.ignored_success += 1,
                Outcome::Ignored { .. } => t.ignored_not_a_failure += 1,
                Outcome::IgnoredExpired { .. } => t.ignored_expired += 1,
                Outcome::Failed { .. } => t.store_errors += 1,
                // Counted with the batch's failed messages (`SqsMessagesFailed`).
                Outcome::Deferred { .. } => {}
                Outcome::Recorded { recorded: Recorded::Duplicate, .. } => t.duplicates += 1,
                Outcome::Recorded { recorded, reason, origin, operation, .. } => {
                    if *recorded == Recorded::Created {
                        t.new_groups += 1;
                    }
                    *t.stored.entry((reason, origin.as_str(), operation.as_str())).or_default() += 1;
                }
            }
        }
        t
    }

    /// The tally of one envelope refused before the pipeline (the direct path's parse error).
    pub fn rejected() -> Self {
        Self { rejected: 1, ..Self::default() }
    }

    /// The same tally for an SQS batch of `messages`, `failed` of them reported failed.
    pub fn with_sqs(self, messages: u64, failed: u64) -> Self {
        Self { sqs: Some((messages, failed)), ..self }
    }

    /// The invocation's documents: the totals (every total, zeros included, so a quiet period
    /// reads 0 rather than missing data), then one per distinct breakdown of the occurrences
    /// stored.
    pub fn documents(&self, config: &MetricsConfig, at: OffsetDateTime) -> Vec<Document> {
        let totals = Document::new(&config.stack, at)
            .with(&OCCURRENCES, self.stored.values().sum::<u64>() as f64)
            .with(&NEW_GROUPS, self.new_groups as f64)
            .with(&DUPLICATES, self.duplicates as f64)
            .with(&REJECTED, self.rejected as f64)
            .with(&IGNORED_SUCCESS, self.ignored_success as f64)
            .with(&IGNORED_EXPIRED, self.ignored_expired as f64)
            .with(&IGNORED_NOT_A_FAILURE, self.ignored_not_a_failure as f64)
            .with(&STORE_ERRORS, self.store_errors as f64)
            .with(&DYNAMODB_REQUESTS, f64::from(self.cost.requests))
            .with(&WRITE_CAPACITY_UNITS, self.cost.write_capacity_units)
            .with(&NOTIFICATIONS_PUBLISHED, self.published.published as f64)
            .with(&OUTBOX_PENDING, self.published.pending as f64);
        let totals = match self.sqs {
            Some((messages, failed)) => {
                totals.with(&SQS_BATCH_SIZE, messages as f64).with(&SQS_MESSAGES_FAILED, failed as f64)
            }
            None => totals,
        };
        let mut breakdown: BTreeMap<(Option<&str>, &str, &str), u64> = BTreeMap::new();
        for ((reason, origin, operation), n) in &self.stored {
            *breakdown.entry((config.by_reason.then_some(*reason), origin, operation)).or_default() += n;
        }
        let mut docs = vec![totals];
        for ((reason, origin, operation), n) in breakdown {
            let doc = Document::new(&config.stack, at).dimension("Origin", origin).dimension("Operation", operation);
            docs.push(match reason {
                Some(reason) => doc.dimension("Reason", reason).with(&OCCURRENCES_BREAKDOWN, n as f64),
                None => doc.with(&OCCURRENCES_BREAKDOWN_NO_REASON, n as f64),
            });
        }
        docs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(by_reason: bool) -> MetricsConfig {
        MetricsConfig { enabled: true, stack: "prod".to_owned(), by_reason }
    }

    fn at() -> OffsetDateTime {
        time::macros::datetime!(2026-12-02 10:00 UTC)
    }

    fn tally() -> Tally {
        let mut t = Tally {
            new_groups: 1,
            duplicates: 1,
            cost: WriteCost { requests: 3, write_capacity_units: 27.5 },
            published: Published { published: 1, pending: 2 },
            ..Tally::default()
        };
        t.stored.insert(("TIMEOUT", "roxctl", "image scan"), 2);
        t.stored.insert(("IMAGE_NOT_FOUND", "roxctl", "image scan"), 1);
        t.with_sqs(4, 0)
    }

    #[test]
    fn an_invocation_is_one_totals_document_and_one_per_reason_origin_and_operation_stored() {
        let docs: Vec<serde_json::Value> =
            tally().documents(&config(true), at()).iter().map(Document::to_json).collect();
        assert_eq!(docs.len(), 3);
        let totals = &docs[0];
        assert_eq!(totals["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Stack"]]));
        let values: Vec<(&str, serde_json::Value)> = [
            "Occurrences",
            "NewGroups",
            "Duplicates",
            "Rejected",
            "StoreErrors",
            "DynamoDBRequests",
            "WriteCapacityUnits",
        ]
        .into_iter()
        .chain(["NotificationsPublished", "OutboxPending", "SqsBatchSize", "SqsMessagesFailed"])
        .map(|n| (n, totals[n].clone()))
        .collect();
        assert_eq!(
            values,
            [
                ("Occurrences", json!(3)),
                ("NewGroups", json!(1)),
                ("Duplicates", json!(1)),
                ("Rejected", json!(0)),
                ("StoreErrors", json!(0)),
                ("DynamoDBRequests", json!(3)),
                ("WriteCapacityUnits", json!(27.5)),
                ("NotificationsPublished", json!(1)),
                ("OutboxPending", json!(2)),
                ("SqsBatchSize", json!(4)),
                ("SqsMessagesFailed", json!(0)),
            ]
        );
        assert_eq!(
            docs[1],
            json!({
                "_aws": {"Timestamp": 1_796_205_600_000_i64, "CloudWatchMetrics": [{"Namespace": "ScanFailures",
                    "Dimensions": [["Stack", "Reason"], ["Stack", "Origin"], ["Stack", "Operation"]],
                    "Metrics": [{"Name": "Occurrences", "Unit": "Count"}]}]},
                "Stack": "prod", "Origin": "roxctl", "Operation": "image scan", "Reason": "IMAGE_NOT_FOUND", "Occurrences": 1
            })
        );
        assert_eq!((docs[2]["Reason"].as_str(), docs[2]["Occurrences"].as_u64()), (Some("TIMEOUT"), Some(2)));
    }

    #[test]
    fn without_the_reason_breakdown_the_occurrences_are_merged_by_origin_and_operation() {
        let docs: Vec<serde_json::Value> =
            tally().documents(&config(false), at()).iter().map(Document::to_json).collect();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[1],
            json!({
                "_aws": {"Timestamp": 1_796_205_600_000_i64, "CloudWatchMetrics": [{"Namespace": "ScanFailures",
                    "Dimensions": [["Stack", "Origin"], ["Stack", "Operation"]],
                    "Metrics": [{"Name": "Occurrences", "Unit": "Count"}]}]},
                "Stack": "prod", "Origin": "roxctl", "Operation": "image scan", "Occurrences": 3
            })
        );
    }

    #[test]
    fn the_direct_path_carries_no_sqs_figures() {
        let docs = Tally::rejected().documents(&config(true), at());
        let json = docs[0].to_json();
        assert_eq!((docs.len(), json["Rejected"].as_u64()), (1, Some(1)));
        assert!(json.get("SqsBatchSize").is_none() && json.get("SqsMessagesFailed").is_none(), "{json}");
    }
}
