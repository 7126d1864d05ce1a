//! One batch of stream records: decoded into changes of groups, applied to the rollups, and the
//! first record not applied reported back (`ReportBatchItemFailures`), so that the event source
//! mapping retries from it and every record before it is checkpointed; or, when that is the
//! batch's first record, a function error, so that the mapping halves the batch
//! (`BisectBatchOnFunctionError`) until a record that cannot be applied is alone.
//!
//! Records of other items (markers, settings, the outbox, the rollups themselves) are skipped:
//! the template's filter keeps them from the function, and the check here keeps a mapping
//! without the filter correct.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use scan_failures_aws::dynamo::rollup::plan::Change;
use scan_failures_aws::dynamo::rollup::record::{self, UnreadableRecord};
use scan_failures_aws::dynamo::schema::PARTITION_KEY;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::rollup::generation::Live;
use scan_failures_domain::text;
use time::OffsetDateTime;

/// How long before the invocation's deadline no transaction starts: one transaction's attempts
/// (the SDK's three of at most 2 s, and their pauses) end before it, so the batch answers with
/// its first unapplied record rather than being cut off by its timeout.
pub const WRITE_MARGIN: Duration = Duration::from_secs(10);

/// Why a batch failed as a whole (then the event source mapping bisects it and retries).
#[derive(Debug, thiserror::Error)]
pub enum RollupFailure {
    #[error("stream record {record} has no sequence number, so its failure cannot be reported alone")]
    NoSequenceNumber { record: String },
    /// The batch's first record failed: reported as a function error, not as the first failure
    /// of the batch. With both `ReportBatchItemFailures` and `BisectBatchOnFunctionError`,
    /// Lambda retries the records from a reported failure whole; only a function error has it
    /// halve them, which is what isolates a record that can never be applied.
    #[error("stream record {record}, the first of the batch, was not applied")]
    FirstRecord { record: String },
}

pub struct Rollup {
    store: Store,
    clock: fn() -> OffsetDateTime,
    /// Whether this process has seen the time the rollups are kept since recorded.
    since_recorded: AtomicBool,
}

/// An image of the stream as the SDK's item; `None` when the record has none.
fn image(item: &serde_dynamo::Item) -> Option<HashMap<String, AttributeValue>> {
    let map: HashMap<String, AttributeValue> = item.clone().into();
    (!map.is_empty()).then_some(map)
}

/// The change of a group a record reports (`None`: another item, nothing to do), or why it
/// cannot be read.
/// The partition key of the item `r` changed (`g#<group id>` for a group), at most 256 bytes:
/// what an operator needs to find an item the rollups cannot read (docs/src/storage.md).
fn item_key(r: &EventRecord) -> &str {
    let key = r.change.keys.get(PARTITION_KEY).and_then(|v| match v {
        serde_dynamo::AttributeValue::S(s) => Some(s.as_str()),
        _ => None,
    });
    text::prefix(key.unwrap_or(""), 256)
}

fn decode(r: &EventRecord) -> Result<Option<Change>, UnreadableRecord> {
    let keys: HashMap<String, AttributeValue> = r.change.keys.clone().into();
    record::change(&r.event_id, &r.event_name, &keys, image(&r.change.old_image), image(&r.change.new_image))
}

impl Rollup {
    pub fn new(store: Store) -> Self {
        Self { store, clock: OffsetDateTime::now_utc, since_recorded: AtomicBool::new(false) }
    }

    /// Applies `event`'s records up to the first that cannot be decoded or applied, which it
    /// reports as the batch's first failure.
    pub async fn handle(&self, event: Event) -> Result<DynamoDbEventResponse, RollupFailure> {
        self.handle_until(event, None).await
    }

    /// [`Self::handle`] for an invocation that must answer by `deadline` (the Lambda context's):
    /// no transaction starts within [`WRITE_MARGIN`] of it, and the records from the first not
    /// applied are reported failed, so that what was applied is checkpointed. Before, a slow
    /// batch ran into its timeout: delivered again whole, one of its retry attempts spent.
    pub async fn handle_until(
        &self,
        event: Event,
        deadline: Option<Instant>,
    ) -> Result<DynamoDbEventResponse, RollupFailure> {
        let until = deadline.map(|d| d.checked_sub(WRITE_MARGIN).unwrap_or(d));
        let mut changes = Vec::new();
        // The record of each change, by position; and the first record that cannot be read.
        let mut positions = Vec::new();
        let mut failed_at = None;
        for (i, record) in event.records.iter().enumerate() {
            match decode(record) {
                Ok(Some(c)) => {
                    changes.push(c);
                    positions.push(i);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(record = %record.event_id, key = item_key(record), error = %text::error_chain(&error), "stream record cannot be read");
                    failed_at = Some(i);
                    break;
                }
            }
        }
        let now = (self.clock)();
        if !self.since_recorded.load(Ordering::Relaxed) {
            // The first change this batch carries: no group written later is missing from the
            // rollups (a record without a time counts as now, the later and safer).
            let first = event
                .records
                .iter()
                .map(|r| r.change.approximate_creation_date_time.timestamp())
                .filter(|t| *t > 0)
                .min()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .unwrap_or(now);
            match self.store.rollups().mark_since(first.min(now)).await {
                Ok(()) => self.since_recorded.store(true, Ordering::Relaxed),
                Err(e) => {
                    tracing::error!(error = %text::error_chain(&e), "the time the rollups are kept since could not be recorded");
                    return self.fail_from(&event, 0);
                }
            }
        }
        // Read before every batch of group changes: a change written after a rebuild started
        // must reach the generation it fills (`rollup::generation`), and this read follows that
        // change's write. A batch without any has nothing to fold.
        let live = if changes.is_empty() {
            Live::FIRST
        } else {
            match self.store.rollups().state().await {
                Ok(state) => state.live.at(now),
                Err(e) => {
                    tracing::error!(error = %text::error_chain(&e), "the rollups' live generations could not be read");
                    return self.fail_from(&event, 0);
                }
            }
        };
        let result = self.store.rollups().apply(&changes, &live, now, until).await;
        let (done, failed_at) = match result {
            Ok(done) => (done, failed_at),
            Err(e) => {
                tracing::error!(error = %e, source = %e.source, "rollup failed");
                (e.done, positions.get(e.first_unapplied).copied())
            }
        };
        tracing::info!(
            records = event.records.len(),
            changes = changes.len(),
            applied = done.applied,
            redelivered = done.redelivered,
            transactions = done.transactions,
            wcu = done.write_capacity_units,
            generations = ?live.all().iter().map(|g| g.number).collect::<Vec<_>>(),
            "rollup batch"
        );
        match failed_at {
            Some(i) => self.fail_from(&event, i),
            None => Ok(DynamoDbEventResponse::default()),
        }
    }

    /// The answer that has the event source mapping retry from record `i` (checkpointing the
    /// records before it); the whole batch fails, to be halved, when `i` is its first record or
    /// that record has no sequence number.
    fn fail_from(&self, event: &Event, i: usize) -> Result<DynamoDbEventResponse, RollupFailure> {
        let mut response = DynamoDbEventResponse::default();
        let Some(record) = event.records.get(i) else { return Ok(response) };
        if i == 0 {
            return Err(RollupFailure::FirstRecord { record: record.event_id.clone() });
        }
        let Some(seq) = record.change.sequence_number.clone() else {
            return Err(RollupFailure::NoSequenceNumber { record: record.event_id.clone() });
        };
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(seq);
        response.batch_item_failures.push(failure);
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before, the log line named the stream record only, and an operator could not find the
    /// group that every later change of stayed unreadable.
    /// A stream record as Lambda delivers it, of an item whose keys are `keys`.
    fn record(keys: serde_json::Value) -> EventRecord {
        serde_json::from_value(serde_json::json!({
            "eventID": "e-1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-07T00:00:00.000",
            "dynamodb": { "ApproximateCreationDateTime": 1_733_500_000, "Keys": keys, "SequenceNumber": "100",
                "SizeBytes": 60, "StreamViewType": "NEW_AND_OLD_IMAGES" }
        }))
        .unwrap()
    }

    /// Before, the log line named the stream record only, and an operator could not find the
    /// group that every later change of stayed unreadable.
    #[test]
    fn an_unreadable_records_item_key_is_said() {
        let keyed = record(serde_json::json!({ "pk": { "S": "g#0f4e8a52-7b1d-51ef-9c3a-0a1b2c3d4e5f" } }));
        assert_eq!(item_key(&keyed), "g#0f4e8a52-7b1d-51ef-9c3a-0a1b2c3d4e5f");
        assert_eq!(item_key(&record(serde_json::json!({}))), "");
        let long = format!("g#{}", "x".repeat(1000));
        assert_eq!(item_key(&record(serde_json::json!({ "pk": { "S": long } }))).len(), 256);
    }
}
