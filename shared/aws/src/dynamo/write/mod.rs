//! The executor of a group's write: records occurrences into their failure group.
//!
//! One occurrence is one `TransactWriteItems` request holding two writes:
//! - a conditional `Put` of an idempotency marker `e#<key>` (`Envelope::key`: the envelope id,
//!   or for an AWS-sourced occurrence a key derived from its resource, reason and scan time),
//!   kept [`redelivery::MARKER_SECONDS`], longer than any way back, so a redelivered envelope,
//!   or a reconciled copy of an event, is recognised and counts once;
//! - one `Update` that carries the whole upsert of the group, with no read before it.
//!
//! The update is planned ([`plan`]) from what the writer believes of the stored group (at first: it
//! exists, this occurrence is the newest, its sets have room). The belief is written into the condition,
//! so a wrong belief cancels the transaction, which returns the stored item; the writer re-plans
//! from it and tries again. Counts are atomic `ADD`s, `lastOccurredAt` only moves forward and
//! `createdAt` only backward, whatever order occurrences arrive in.
//!
//! The same update keeps the per-day counts (`daily`, see [`crate::daily`]) and asserts the
//! group is not `resolved` (see [`crate::triage`]): a failure after the resolve time reopens it,
//! decided inside the conditional write so the reopen is recorded, and notified, once.

pub mod plan;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use time::OffsetDateTime;
use uuid::Uuid;

use scan_failures_domain::event::Occurrence;
use scan_failures_domain::group::aggregate::Aggregate;
use scan_failures_domain::group::notification::Notification;
use scan_failures_domain::group::transitions::{most_per_write, transitions};
use scan_failures_domain::retention::RetentionDays;

use crate::backoff;
use crate::dynamo::expr::Expressed;
use crate::dynamo::outbox;
use crate::dynamo::schema::PARTITION_KEY;
use crate::dynamo::settings::RetentionCache;
use crate::dynamo::transient::retryable_cancellation;
use crate::dynamo::{dynamo, group_key, Store, StoreError};
use plan::{plan_update, Belief};

/// Every path by which an envelope can come back after its first delivery, and how long each
/// holds it: the one definition the template's retry and retention settings are checked
/// against (`tests/tests/template.rs`), and that the idempotency marker outlives.
pub mod redelivery {
    /// EventBridge retries a rule's target for at most this long (the rules'
    /// `MaximumEventAgeInSeconds`).
    pub const EVENTBRIDGE_SECONDS: i64 = 86_400;
    /// Lambda retries an asynchronous invocation for at most this long (the ingest function's
    /// `EventInvokeConfig.MaximumEventAgeInSeconds`).
    pub const LAMBDA_ASYNC_SECONDS: i64 = 21_600;
    /// The buffer queue keeps a message this long (`MessageRetentionPeriod`).
    pub const BUFFER_RETENTION_SECONDS: i64 = 345_600;
    /// The dead-letter queue keeps a message this long (`MessageRetentionPeriod`): a replay of
    /// a dead letter may come until then, and a message moved back to the buffer queue may stay
    /// there for the buffer's retention again.
    pub const DEAD_LETTER_RETENTION_SECONDS: i64 = 1_209_600;
    /// How long an envelope id is remembered: every path chained, and a day more.
    pub const MARKER_SECONDS: i64 =
        EVENTBRIDGE_SECONDS + LAMBDA_ASYNC_SECONDS + BUFFER_RETENTION_SECONDS + DEAD_LETTER_RETENTION_SECONDS + 86_400;
}
/// Attempts at one occurrence before it is reported failed (conflicts and re-plans).
const MAX_ATTEMPTS: u32 = 12;

/// The IAM actions the writer's calls need, declared once; the template test checks each
/// function's IAM policy against the set its code uses. A transaction is authorized by the
/// actions of its parts (its `Put`s need `PutItem`, its `Update`s `UpdateItem`): IAM has no
/// `TransactWriteItems` action, and granting it grants nothing.
pub mod actions {
    pub const RECORD: &[&str] = &["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"];
}

/// What recording an occurrence did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Created,
    Updated,
    /// The envelope id was seen before; nothing changed.
    Duplicate,
}

impl Recorded {
    /// What each envelope of one write did: when the write created the group, the first
    /// envelope created it and the others were added to it, so a group counts once in
    /// `NewGroups` however many of its envelopes a batch carried.
    pub fn of_write(event_ids: &[&str], created: bool) -> Vec<(String, Self)> {
        let done = |i: usize| if created && i == 0 { Self::Created } else { Self::Updated };
        event_ids.iter().enumerate().map(|(i, e)| ((*e).to_owned(), done(i))).collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Duplicate => "duplicate",
        }
    }
}

/// The cost of recording one occurrence, as DynamoDB reported it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WriteCost {
    pub requests: u32,
    pub write_capacity_units: f64,
}

impl std::ops::AddAssign for WriteCost {
    fn add_assign(&mut self, other: Self) {
        self.requests += other.requests;
        self.write_capacity_units += other.write_capacity_units;
    }
}

fn marker_key(event_id: &str) -> String {
    format!("e#{event_id}")
}

fn marker_put(table: &str, event_id: &str, id: &Uuid, now: OffsetDateTime) -> Result<Put, StoreError> {
    let expires = (now + time::Duration::seconds(redelivery::MARKER_SECONDS)).unix_timestamp();
    crate::dynamo::marker_put(
        table,
        marker_key(event_id),
        expires,
        now,
        [("groupId".to_owned(), AttributeValue::S(id.to_string()))],
    )
}

/// Items in one `TransactWriteItems` request at most (DynamoDB's limit).
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// What recording a batch of one group did, per envelope id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchRecorded {
    /// `Created` or `Updated` for the envelope ids counted; `Duplicate` for those seen before.
    pub outcomes: Vec<(String, Recorded)>,
    pub cost: WriteCost,
    /// Transitions this write made, each already in the outbox.
    pub notifications: Vec<Notification>,
}

/// Records occurrences into their groups through one [`Store`]; see [`Store::writer`].
#[derive(Debug, Clone, Copy)]
pub struct GroupWriter<'a> {
    store: &'a Store,
    /// Occurrence counts whose crossing is a transition; `None`: no transitions are recorded.
    thresholds: Option<&'a [u64]>,
    /// No write attempt after the first of a group starts from then on (`None`: no limit).
    until: Option<std::time::Instant>,
    /// Every attempt after a group's first ends by then, its pause and reads included (`None`:
    /// no limit).
    end_by: Option<std::time::Instant>,
    /// Where the retention a group is found expired by is read again before the group is
    /// started anew (`None`: the retention given is the setting's).
    confirm: Option<&'a RetentionCache>,
}

impl<'a> GroupWriter<'a> {
    pub fn new(store: &'a Store, thresholds: Option<&'a [u64]>) -> Self {
        Self { store, thresholds, until: None, end_by: None, confirm: None }
    }

    /// The writer, reading the stored retention again through `cache` before it starts a group
    /// anew as expired, and writing by that one: starting anew drops the group's count, history
    /// and triage, and the retention it was given may be a cached value older than a longer
    /// one the api already shows the group under. A failed read fails the write (a retry).
    pub fn confirming_expiry(self, cache: Option<&'a RetentionCache>) -> Self {
        Self { confirm: cache, ..self }
    }

    /// The writer, starting no further attempt of a group's write (a conflict's retry, a
    /// half of a write too large) from `until` on: the SQS path's time to answer before its
    /// deadline (`ingest::handler::WRITE_MARGIN`), which one write's twelve attempts, each up to
    /// the SDK's three, could pass. A write stopped so is [`StoreError::OutOfTime`], its messages
    /// reported failed; what it wrote before counts once (its markers).
    pub fn until(self, until: Option<std::time::Instant>) -> Self {
        Self { until, ..self }
    }

    /// The writer, ending every attempt after a group's first by `end_by` (the invocation's
    /// time to answer), where one call, its SDK attempts and back-off included, could otherwise
    /// run on past the function's timeout: each is sent with the time left as its operation
    /// timeout, the pause before it is cut there, a retention read it needs is abandoned there,
    /// and none starts with less than [`MIN_CALL_TIME`] left (each is `OutOfTime`).
    pub fn ending_by(self, end_by: Option<std::time::Instant>) -> Self {
        Self { end_by, ..self }
    }

    fn out_of_time(&self) -> bool {
        let now = std::time::Instant::now();
        self.until.is_some_and(|u| now >= u)
            || self.end_by.is_some_and(|e| e.saturating_duration_since(now) < MIN_CALL_TIME)
    }

    /// The time left until `end_by` (`None`: no limit).
    fn left(&self) -> Option<std::time::Duration> {
        self.end_by.map(|e| e.saturating_duration_since(std::time::Instant::now()))
    }

    /// The configuration an attempt after the group's first is sent with: the client's
    /// timeouts, and the time left until `end_by` for the whole call (`None`: no `end_by`, or
    /// the group's first attempt, which always starts and runs as the client is configured).
    fn bounded_call(&self, after_first: bool) -> Option<aws_sdk_dynamodb::config::Builder> {
        let left = self.left().filter(|_| after_first)?;
        let timeouts = self
            .store
            .client()
            .config()
            .timeout_config()
            .map(aws_sdk_dynamodb::config::timeout::TimeoutConfig::to_builder)
            .unwrap_or_default()
            .operation_timeout(left)
            .build();
        Some(aws_sdk_dynamodb::config::Builder::default().timeout_config(timeouts))
    }

    /// Envelope ids one write takes at most: the transaction holds their markers, the group, and
    /// an outbox record for every transition the write could make
    /// ([`scan_failures_domain::group::transitions::most_per_write`]); 95 with the default
    /// three thresholds.
    pub fn max_events(&self) -> usize {
        MAX_TRANSACTION_ITEMS - 1 - self.thresholds.map_or(0, most_per_write)
    }

    /// Records one occurrence into its group `id`, exactly once per envelope id.
    /// Keeps the marker of the occurrence `key` for [`redelivery::MARKER_SECONDS`] from `now`
    /// again, when it is still remembered. For a source that reports one occurrence again for as
    /// long as it lasts (Inspector's coverage, listed at every pass of the reconciler): its
    /// marker must outlive the listing, or the same scan counts again once the marker expires
    /// (every 20 days, before). Nothing when the marker is gone or expired.
    pub async fn remember_longer(&self, key: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        let expires = (now + time::Duration::seconds(redelivery::MARKER_SECONDS)).unix_timestamp();
        let result = self
            .store
            .update_item(marker_key(key))
            .update_expression("SET #exp = :later")
            .condition_expression("attribute_exists(#pk) AND #exp >= :now")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#exp", crate::dynamo::schema::TTL_ATTRIBUTE)
            .expression_attribute_values(":later", AttributeValue::N(expires.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                Ok(())
            }
            Err(err) => Err(dynamo("UpdateItem")(err)),
        }
    }

    pub async fn record(
        &self,
        o: &Occurrence,
        id: &Uuid,
        retention: RetentionDays,
        now: OffsetDateTime,
    ) -> Result<(Recorded, WriteCost), StoreError> {
        let batch = self.record_group(&[o], id, retention, now).await?;
        let outcome = batch.outcomes.first().map_or(Recorded::Duplicate, |(_, r)| *r);
        Ok((outcome, batch.cost))
    }

    /// Records occurrences of one group `id` (at most [`Self::max_events`] envelope ids): one
    /// transaction holding one marker per envelope id and one merged update of the group, or,
    /// when that update would pass DynamoDB's 4 KB expression limit (many distinct days and set
    /// values), the same for each half of the envelopes in turn. Envelope ids seen before are
    /// reported `Duplicate` and not counted.
    pub async fn record_group(
        &self,
        occurrences: &[&Occurrence],
        id: &Uuid,
        retention: RetentionDays,
        now: OffsetDateTime,
    ) -> Result<BatchRecorded, StoreError> {
        // Parts still to write, the next on top; a part too large for one write is halved.
        let mut parts: Vec<Vec<&Occurrence>> = vec![occurrences.to_vec()];
        let mut done = BatchRecorded::default();
        while let Some(part) = parts.pop() {
            if done.cost.requests > 0 && self.out_of_time() {
                return Err(StoreError::OutOfTime { group: *id, attempts: done.cost.requests });
            }
            match self.record_in_one_write(&part, id, retention, now, done.cost.requests > 0).await {
                Ok(written) => {
                    done.outcomes.extend(written.outcomes);
                    done.notifications.extend(written.notifications);
                    done.cost += written.cost;
                }
                Err(StoreError::ExpressionTooLarge { .. }) if part.len() > 1 => {
                    let (first, second) = halves_by_envelope(&part);
                    if first.is_empty() || second.is_empty() {
                        return Err(StoreError::ExpressionTooLarge { group: *id });
                    }
                    parts.push(second);
                    parts.push(first);
                }
                // The parts written before count: the retry of the whole finds their markers.
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// [`Self::record_group`] in one transaction, or `ExpressionTooLarge` before anything is
    /// sent when its update does not fit; `after_first` when the group's write sent a part
    /// before this one.
    async fn record_in_one_write(
        &self,
        occurrences: &[&Occurrence],
        id: &Uuid,
        retention: RetentionDays,
        now: OffsetDateTime,
        after_first: bool,
    ) -> Result<BatchRecorded, StoreError> {
        let mut result = BatchRecorded::default();
        let mut duplicates: Vec<&str> = Vec::new();
        let Some(mut agg) = Aggregate::of(occurrences) else { return Ok(result) };
        let mut belief = Belief::optimistic();
        let (mut retention, mut confirmed) = (retention, self.confirm.is_none());
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 && self.out_of_time() {
                return Err(StoreError::OutOfTime { group: *id, attempts: attempt });
            }
            let e = plan_update(&agg, id, &belief, retention, self.thresholds, now);
            if !e.fits() {
                // Nothing of this aggregate is written yet: a cancelled transaction wrote nothing.
                return Err(StoreError::ExpressionTooLarge { group: *id });
            }
            let update = Update::builder()
                .table_name(self.store.table())
                .key(PARTITION_KEY, AttributeValue::S(group_key(id)))
                .expressed(e)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()?;
            let notifications = transitions(self.thresholds, &agg, id, belief.known(&agg));
            let mut request = self.store.client().transact_write_items();
            for event_id in &agg.event_ids {
                request = request.transact_items(
                    TransactWriteItem::builder().put(marker_put(self.store.table(), event_id, id, now)?).build(),
                );
            }
            request = request.transact_items(TransactWriteItem::builder().update(update).build());
            for n in &notifications {
                let put = Put::builder().table_name(self.store.table()).set_item(Some(outbox::item(n, now))).build()?;
                request = request.transact_items(TransactWriteItem::builder().put(put).build());
            }
            let request = request.return_consumed_capacity(ReturnConsumedCapacity::Total);
            let result_of_send = match self.bounded_call(after_first || attempt > 0) {
                Some(bounded) => request.customize().config_override(bounded).send().await,
                None => request.send().await,
            };
            result.cost.requests += 1;
            let err = match result_of_send {
                Ok(out) => {
                    result.cost.write_capacity_units +=
                        out.consumed_capacity().iter().filter_map(|c| c.capacity_units()).sum::<f64>();
                    let created = !belief.exists || belief.expired;
                    result.outcomes.extend(Recorded::of_write(&agg.event_ids, created));
                    result.outcomes.extend(duplicates.iter().map(|e| ((*e).to_owned(), Recorded::Duplicate)));
                    result.notifications = notifications;
                    return Ok(result);
                }
                Err(err) => err,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = err.as_service_error() else {
                return Err(dynamo("TransactWriteItems")(err));
            };
            let reasons = cancel.cancellation_reasons();
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            let markers = agg.event_ids.len();
            let seen: Vec<&str> =
                (0..markers).filter(|i| code(*i) == "ConditionalCheckFailed").map(|i| agg.event_ids[i]).collect();
            // Every item's reason: the outbox records after the group update can be throttled too.
            let codes: Vec<&str> = (0..reasons.len().max(markers + 1)).map(code).collect();
            if !seen.is_empty() {
                duplicates.extend(seen.iter().copied());
                match agg.without(occurrences, &duplicates) {
                    Some(rest) => agg = rest,
                    None => {
                        result.outcomes.extend(duplicates.iter().map(|e| ((*e).to_owned(), Recorded::Duplicate)));
                        return Ok(result);
                    }
                }
                belief = Belief::optimistic();
            } else if code(markers) == "ConditionalCheckFailed" {
                // With ALL_OLD, a cancellation without an item means there is none; were that
                // ever wrong, the create's own condition fails and returns the item.
                let stored = reasons.get(markers).and_then(|r| r.item());
                belief = Belief::from_stored(stored, &agg, now, retention);
                if belief.expired && !confirmed {
                    if let Some(cache) = self.confirm {
                        // The read is a call of its own, up to the SDK's three attempts: none
                        // starts past `until` either (it would answer after the batch's time).
                        if self.out_of_time() {
                            return Err(StoreError::OutOfTime { group: *id, attempts: attempt + 1 });
                        }
                        retention = match self.left() {
                            Some(left) => tokio::time::timeout(left, cache.read(self.store))
                                .await
                                .map_err(|_| StoreError::OutOfTime { group: *id, attempts: attempt + 1 })??,
                            None => cache.read(self.store).await?,
                        };
                        confirmed = true;
                        belief = Belief::from_stored(stored, &agg, now, retention);
                    }
                }
            } else if retryable_cancellation(codes.iter().copied()) {
                tokio::time::sleep(pause(backoff::delay(attempt), self.left())).await;
            } else {
                return Err(StoreError::Cancelled(codes.join(", ")));
            }
        }
        Err(StoreError::Contention { group: *id, attempts: MAX_ATTEMPTS })
    }
}

/// The least time left for an attempt after a group's first to be started: a DynamoDB call
/// takes a few milliseconds, and one sent with less would end as a timeout, its outcome
/// unknown, where `OutOfTime` says what happened.
pub const MIN_CALL_TIME: std::time::Duration = std::time::Duration::from_millis(100);

/// The pause before a retry: `delay`, cut to the time `left` (the next attempt then finds
/// itself out of time and answers, where the whole pause ran past the deadline).
fn pause(delay: std::time::Duration, left: Option<std::time::Duration>) -> std::time::Duration {
    left.map_or(delay, |left| delay.min(left))
}

/// The occurrences of the first half of the distinct envelope ids, and of the second; copies of
/// one envelope stay together.
fn halves_by_envelope<'o>(occurrences: &[&'o Occurrence]) -> (Vec<&'o Occurrence>, Vec<&'o Occurrence>) {
    let mut ids: Vec<&str> = Vec::new();
    for o in occurrences {
        if !ids.contains(&o.envelope.key.as_str()) {
            ids.push(&o.envelope.key);
        }
    }
    let first: Vec<&str> = ids[..ids.len() / 2].to_vec();
    occurrences.iter().copied().partition(|o| first.contains(&o.envelope.key.as_str()))
}

#[cfg(test)]
mod tests {
    use super::{pause, Recorded};
    use std::time::Duration;

    #[test]
    fn a_retrys_pause_is_cut_to_the_time_left() {
        let ms = Duration::from_millis;
        assert_eq!(pause(ms(320), Some(ms(40))), ms(40));
        assert_eq!(pause(ms(20), Some(ms(40))), ms(20));
        assert_eq!(pause(ms(320), None), ms(320));
    }

    #[test]
    fn a_write_that_creates_its_group_labels_only_its_first_envelope_created() {
        let labels = |created| Recorded::of_write(&["e-1", "e-2", "e-3"], created);
        let names =
            |l: Vec<(String, Recorded)>| l.into_iter().map(|(e, r)| format!("{e} {}", r.as_str())).collect::<Vec<_>>();
        assert_eq!(names(labels(true)), ["e-1 created", "e-2 updated", "e-3 updated"]);
        assert_eq!(names(labels(false)), ["e-1 updated", "e-2 updated", "e-3 updated"]);
        assert_eq!(Recorded::of_write(&[], true), Vec::new());
    }
}
