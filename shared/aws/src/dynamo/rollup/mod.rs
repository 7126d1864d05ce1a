//! The maintained rollups (see [`scan_failures_domain::rollup`]): applying the table's stream
//! to them exactly once ([`Rollups::apply`]) and reading "every group in retention" from them
//! ([`Rollups::read`]).
//!
//! Exactly once: each stream record's change is applied in a transaction together with a marker
//! of the record's id (`x#<id>`, kept two days, longer than the stream keeps a record), so a
//! redelivered record (a retried batch, a bisected half, a consumer restarted before its
//! checkpoint) finds its marker and adds nothing. Rollups live in the table itself, each grain
//! in a partition of the `byTime` index, so one `Query` per grain reads a range of them.

pub mod answer;
pub mod plan;
pub mod read;
pub mod record;
#[cfg(feature = "redrive")]
pub mod redrive;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, TransactWriteItem, Update};
use thiserror::Error;
use time::OffsetDateTime;

use scan_failures_domain::rollup::RollupError;

use crate::backoff;
use crate::dynamo::expr::Expressed;
use crate::dynamo::schema::PARTITION_KEY;
use crate::dynamo::{applied, dynamo, Store, StoreError};
use plan::{chunks, fold, item_key, update, Change};

/// How long a record's marker is kept: the stream keeps a record 24 hours, so no redelivery can
/// come after its marker expires.
pub const MARKER_SECONDS: i64 = 2 * 86_400;
/// Attempts of one transaction against conflicts with other consumers' transactions.
const MAX_ATTEMPTS: u32 = 8;

/// The DynamoDB operations the rollup consumer calls (see `store::actions`).
pub mod actions {
    pub const WRITE: &[&str] = &["dynamodb:TransactWriteItems", "dynamodb:UpdateItem", "dynamodb:PutItem"];
    /// What [`super::Rollups::restart`] calls.
    pub const RESTART: &[&str] = &["dynamodb:UpdateItem", "dynamodb:GetItem"];
}

/// The item that records since when the rollups are kept (see `rollup::ready`).
pub const SINCE_KEY: &str = "config#rollups";
const SINCE_ATTRIBUTE: &str = "since";

/// The item key of a stream record's marker.
pub fn marker_key(record_id: &str) -> String {
    format!("x#{record_id}")
}

#[derive(Debug, Error)]
pub enum ApplyError {
    /// A change that cannot be folded: its record is poison (bisection isolates it, and the
    /// event source mapping's failure destination keeps it).
    #[error("stream record {record}: {source}")]
    Fold {
        record: String,
        #[source]
        source: RollupError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What applying a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Applied {
    /// Changes added to the rollups now.
    pub applied: usize,
    /// Changes whose marker was found: applied by an earlier delivery.
    pub redelivered: usize,
    pub transactions: u32,
    pub write_capacity_units: f64,
}

/// What [`Rollups::restart`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restarted {
    /// Since when the rollups are kept now (to the millisecond, as stored); `None`: the rollup
    /// function has not started them, and the call did not either.
    pub since: Option<OffsetDateTime>,
    /// Whether the call moved it (else it was already at or after the time asked, or unset).
    pub moved: bool,
}

/// A failed batch: the changes before `first_unapplied` are applied, the rest are not.
#[derive(Debug, Error)]
#[error("rollup of stream records from position {first_unapplied} failed")]
pub struct BatchError {
    pub first_unapplied: usize,
    pub done: Applied,
    #[source]
    pub source: ApplyError,
}

/// The rollups of one [`Store`]; see [`Store::rollups`].
#[derive(Debug, Clone, Copy)]
pub struct Rollups<'a> {
    store: &'a Store,
}

impl<'a> Rollups<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Since when the rollups are kept: the time of the first change they folded, or of the
    /// last [`Self::restart`] (`None` before the rollup function's first batch).
    pub async fn since(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let item = self.store.get_consistent(SINCE_KEY).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get(SINCE_ATTRIBUTE))
            .and_then(|v| v.as_s().ok())
            .and_then(|s| scan_failures_domain::time_fmt::parse(s)))
    }

    /// Records `t` as the time the rollups are kept since, unless a time is already recorded
    /// (the first batch's wins).
    pub async fn mark_since(&self, t: OffsetDateTime) -> Result<(), StoreError> {
        let result = self
            .store
            .client()
            .put_item()
            .table_name(self.store.table())
            .item(PARTITION_KEY, AttributeValue::S(SINCE_KEY.to_owned()))
            .item(SINCE_ATTRIBUTE, AttributeValue::S(scan_failures_domain::time_fmt::format(t)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(
                    aws_sdk_dynamodb::operation::put_item::PutItemError::is_conditional_check_failed_exception,
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(dynamo("PutItem")(e)),
        }
    }

    /// Moves the time the rollups are kept since forward to `at`, never back, and returns the
    /// time in force after the call. Where the rollup function has not recorded one, it records
    /// none: the rollups would be trusted from `at` on with no consumer known to keep them.
    ///
    /// The repair for changes the rollups lost (a batch given up after its retries): a lost
    /// change's errors sit in the buckets of last occurrences up to [`SINCE_SLACK`] after its
    /// write, as those of the groups written before the rollups started do (`rollup::ready`).
    /// So once `at` is later than every lost change, the api answers from the rollups only for
    /// windows that read none of those buckets, and reads the groups for the others: for one
    /// retention period after `at`, then from the rollups again, exactly.
    ///
    /// [`SINCE_SLACK`]: scan_failures_domain::rollup::SINCE_SLACK
    pub async fn restart(&self, at: OffsetDateTime) -> Result<Restarted, StoreError> {
        let text = scan_failures_domain::time_fmt::format(at);
        let result = self
            .store
            .client()
            .update_item()
            .table_name(self.store.table())
            .key(PARTITION_KEY, AttributeValue::S(SINCE_KEY.to_owned()))
            .update_expression("SET #since = :at")
            // Stored times are fixed-width UTC text: their order is the order of the times.
            .condition_expression("attribute_exists(#since) AND #since < :at")
            .expression_attribute_names("#since", SINCE_ATTRIBUTE)
            .expression_attribute_values(":at", AttributeValue::S(text.clone()))
            .send()
            .await;
        let moved = applied(result)?;
        let since =
            if moved { scan_failures_domain::time_fmt::parse(&text).or(Some(at)) } else { self.since().await? };
        Ok(Restarted { since, moved })
    }

    /// Applies `changes`, in order, each exactly once whatever was delivered before. On failure
    /// the changes before [`BatchError::first_unapplied`] are applied and the others not, so
    /// the caller reports that record as the batch's first failure.
    pub async fn apply(&self, changes: &[Change], now: OffsetDateTime) -> Result<Applied, BatchError> {
        let mut done = Applied::default();
        let cut = chunks(changes);
        for chunk in cut.chunks {
            let part: Vec<&Change> = changes[chunk.changes.clone()].iter().collect();
            self.apply_chunk(part, now, &mut done).await.map_err(|source| BatchError {
                first_unapplied: chunk.changes.start,
                done,
                source,
            })?;
        }
        match cut.unfoldable {
            Some((at, source)) => Err(BatchError {
                first_unapplied: at,
                done,
                source: ApplyError::Fold { record: changes.get(at).map_or_else(String::new, |c| c.id.clone()), source },
            }),
            None => Ok(done),
        }
    }

    /// One chunk in one transaction: its markers and its rollups' updates.
    async fn apply_chunk(
        &self,
        mut part: Vec<&Change>,
        now: OffsetDateTime,
        done: &mut Applied,
    ) -> Result<(), ApplyError> {
        let table = self.store.table();
        for attempt in 0..MAX_ATTEMPTS {
            if part.is_empty() {
                return Ok(());
            }
            let f = fold(&part).map_err(|source| ApplyError::Fold { record: part[0].id.clone(), source })?;
            let mut request = self.store.client().transact_write_items();
            for c in &part {
                request =
                    request.transact_items(TransactWriteItem::builder().put(record_marker(table, &c.id, now)?).build());
            }
            for (key, delta) in &f.deltas {
                let update = Update::builder()
                    .table_name(table)
                    .key(PARTITION_KEY, AttributeValue::S(item_key(key)))
                    .expressed(update(key, delta))
                    .build()
                    .map_err(StoreError::from)?;
                request = request.transact_items(TransactWriteItem::builder().update(update).build());
            }
            let err = match request.return_consumed_capacity(ReturnConsumedCapacity::Total).send().await {
                Ok(out) => {
                    done.transactions += 1;
                    done.applied += part.len();
                    done.write_capacity_units +=
                        out.consumed_capacity().iter().filter_map(|c| c.capacity_units()).sum::<f64>();
                    return Ok(());
                }
                Err(err) => err,
            };
            done.transactions += 1;
            let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = err.as_service_error() else {
                return Err(dynamo("TransactWriteItems")(err).into());
            };
            let reasons = cancel.cancellation_reasons();
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            let seen: Vec<usize> = (0..part.len()).filter(|i| code(*i) == "ConditionalCheckFailed").collect();
            if !seen.is_empty() {
                done.redelivered += seen.len();
                part = part.into_iter().enumerate().filter(|(i, _)| !seen.contains(i)).map(|(_, c)| c).collect();
            } else if (0..reasons.len()).any(|i| matches!(code(i), "TransactionConflict" | "ThrottlingError")) {
                tokio::time::sleep(backoff::delay(attempt)).await;
            } else {
                let codes: Vec<&str> = (0..reasons.len()).map(code).collect();
                return Err(StoreError::Cancelled(codes.join(", ")).into());
            }
        }
        Err(StoreError::Cancelled(format!("still conflicting after {MAX_ATTEMPTS} attempts")).into())
    }
}

/// The marker of one stream record: written only if absent (or past its expiry).
fn record_marker(
    table: &str,
    record_id: &str,
    now: OffsetDateTime,
) -> Result<aws_sdk_dynamodb::types::Put, StoreError> {
    let expires = (now + time::Duration::seconds(MARKER_SECONDS)).unix_timestamp();
    crate::dynamo::marker_put(table, marker_key(record_id), expires, now, [])
}
