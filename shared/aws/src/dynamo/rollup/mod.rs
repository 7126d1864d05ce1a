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
pub mod rebuild;
pub mod record;
#[cfg(feature = "redrive")]
pub mod redrive;

use std::time::Instant;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, TransactWriteItem, Update};
use thiserror::Error;
use time::OffsetDateTime;

use scan_failures_domain::rollup::generation::{self, Generation, Live, Retired};
use scan_failures_domain::rollup::{read_plan, Grain, ReadPlan, RollupError};
use scan_failures_domain::time_fmt;

use crate::backoff;
use crate::dynamo::expr::Expressed;
use crate::dynamo::schema::PARTITION_KEY;
use crate::dynamo::transient::retryable_cancellation;
use crate::dynamo::{applied, dynamo, Store, StoreError};
use plan::{chunks, fold, item_key, joins, update, Change};

/// How long a record's marker is kept: the stream keeps a record 24 hours, so no redelivery can
/// come after its marker expires.
pub const MARKER_SECONDS: i64 = 2 * 86_400;
/// Attempts of one transaction against conflicts with other consumers' transactions.
const MAX_ATTEMPTS: u32 = 8;

/// The IAM actions the rollup consumer's calls need (see `write::actions`).
pub mod actions {
    /// Applying a batch: the state read before it ([`super::Rollups::state`]), the
    /// transaction's marker `Put`s and rollup `Update`s, and the first batch's time.
    pub const WRITE: &[&str] = &["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"];
    /// What [`super::Rollups::restart`] calls.
    pub const RESTART: &[&str] = &["dynamodb:UpdateItem", "dynamodb:GetItem"];
}

/// The item that records since when the rollups are kept (see `rollup::ready`), and their
/// generations.
pub const SINCE_KEY: &str = "config#rollups";
const SINCE_ATTRIBUTE: &str = "since";
/// The generation the api reads, and when its rebuild started (absent: generation 0).
const SERVING: &str = "serving";
const SERVING_STARTED: &str = "servingStarted";
/// The generation a rebuild is filling, and when it started (absent: none).
const BUILDING: &str = "building";
const BUILDING_STARTED: &str = "buildingStarted";
/// The generation the last switch replaced, when its rebuild started (absent: generation 0),
/// and until when it is folded still (`generation::RETIRED_FOLD`).
const RETIRED: &str = "retired";
const RETIRED_STARTED: &str = "retiredStarted";
const RETIRED_UNTIL: &str = "retiredUntil";
/// The first generation that keeps the 30-day grain (absent: none does, the rollups were
/// started before it was kept; the next rebuild's generation is the first).
const COARSE_FROM: &str = "coarseFrom";

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
    /// The batch's time to answer came before this transaction (or this attempt of it) started:
    /// the changes from it on are reported failed, and the ones before checkpointed.
    #[error("the invocation's deadline was too near to start the next transaction")]
    OutOfTime,
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
    /// The generation being rebuilt after the call (the one it started, when it moved the time).
    pub rebuilding: Option<u32>,
}

/// What the rollups' item records: since when they are kept, and which generations are live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// `None` before the rollup function's first batch.
    pub since: Option<OffsetDateTime>,
    pub live: Live,
    /// The first generation keeping [`Grain::ThirtyDays`] (`None`: none does).
    pub coarse_from: Option<u32>,
}

impl State {
    /// The state an item of the rollups records (`None`: no item). Read leniently: a generation
    /// that does not parse is none, and its rebuild is not live; a retired generation without
    /// a readable time to be folded until is not folded.
    fn of(item: Option<&crate::dynamo::item::Item>) -> Self {
        let s = |k: &str| item.and_then(|i| i.get(k)).and_then(|v| v.as_s().ok());
        let n = |k: &str| item.and_then(|i| i.get(k)).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u32>().ok());
        let time = |k: &str| s(k).and_then(|t| time_fmt::parse(t));
        let generation = |number: Option<u32>, started: &str| {
            number.map(
                |number| if number == 0 { Generation::FIRST } else { Generation { number, started: time(started) } },
            )
        };
        let serving = generation(n(SERVING), SERVING_STARTED).unwrap_or(Generation::FIRST);
        let building = generation(n(BUILDING), BUILDING_STARTED).filter(|b| b.number > serving.number);
        let retired = generation(n(RETIRED), RETIRED_STARTED)
            .filter(|r| r.number < serving.number)
            .zip(time(RETIRED_UNTIL))
            .map(|(generation, until)| Retired { generation, until });
        Self { since: time(SINCE_ATTRIBUTE), live: Live { serving, building, retired }, coarse_from: n(COARSE_FROM) }
    }

    /// The grains the generation in service keeps: every one, unless it was started before
    /// the 30-day grain was kept (its 30-day rollups, folded only since the upgrade, would be
    /// short), then the grains up to days, as it was read before.
    pub fn grains(&self) -> &'static [Grain] {
        if self.coarse_from.is_some_and(|c| self.live.serving.number >= c) {
            &Grain::ALL
        } else {
            &Grain::UP_TO_DAYS
        }
    }

    /// Whether the generation in service answers for the groups whose last occurrence is after
    /// `after` ([`generation::serves`]).
    pub fn ready(&self, after: OffsetDateTime) -> bool {
        generation::serves(&self.live.serving, self.since, after)
    }
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

/// The rollups of one [`Store`]; see [`Store::rollups`]. Reads go to one generation
/// ([`Self::of`]), generation 0 unless told.
#[derive(Debug, Clone, Copy)]
pub struct Rollups<'a> {
    store: &'a Store,
    generation: u32,
    /// Groups of a read's edge read at most ([`Self::bounded`]); unbounded by default.
    max_edge: u64,
    /// The grains a read takes ([`Self::with_grains`]); every one by default.
    grains: &'static [Grain],
}

impl<'a> Rollups<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self { store, generation: 0, max_edge: u64::MAX, grains: &Grain::ALL }
    }

    /// The same rollups, read with only `grains` ([`State::grains`] of the generation read).
    pub fn with_grains(self, grains: &'static [Grain]) -> Self {
        Self { grains, ..self }
    }

    /// The plan of a read of the groups whose last occurrence is after `after`, at `now`.
    pub fn plan(&self, after: OffsetDateTime, now: OffsetDateTime) -> ReadPlan {
        read_plan(after, now, self.grains)
    }

    /// The same rollups, read from `generation`.
    pub fn of(self, generation: u32) -> Self {
        Self { generation, ..self }
    }

    /// The same rollups, whose reads stop with
    /// [`QueryError::EdgeTooBusy`](crate::dynamo::read::QueryError::EdgeTooBusy) rather than read the
    /// groups of an edge holding more than `max_edge`: the one part of a read that grows with
    /// the table (with the groups last seen in the minute of the cut-off) is bounded too.
    pub fn bounded(self, max_edge: u64) -> Self {
        Self { max_edge, ..self }
    }

    /// Since when the rollups are kept: the time of the first change they folded, or of the
    /// last [`Self::restart`] (`None` before the rollup function's first batch).
    pub async fn since(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(self.state().await?.since)
    }

    /// Since when the rollups are kept and which generations are live, read consistently.
    pub async fn state(&self) -> Result<State, StoreError> {
        Ok(State::of(self.store.get_consistent(SINCE_KEY).await?.as_ref()))
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
            .item(COARSE_FROM, AttributeValue::N("0".to_owned()))
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

    /// Moves the time the rollups are kept since forward to `at`, never back, and starts a
    /// rebuild of the rollups from the groups (a new generation, [`rebuild`]) when it moved it;
    /// returns the time in force after the call. Where the rollup function has not recorded
    /// one, it records none: the rollups would be trusted from `at` on with no consumer known
    /// to keep them.
    ///
    /// The repair for changes the rollups lost (a batch given up after its retries): a lost
    /// change's errors sit in the buckets of last occurrences up to [`SINCE_SLACK`] after its
    /// write, as those of the groups written before the rollups started do (`rollup::ready`).
    /// So once `at` is later than every lost change, the api answers from the rollups only for
    /// windows that read none of those buckets, and reads the groups for the others, until the
    /// rebuild is put in service (then from its rollups, exactly, for every window) or one
    /// retention period has passed.
    ///
    /// [`SINCE_SLACK`]: scan_failures_domain::rollup::SINCE_SLACK
    pub async fn restart(&self, at: OffsetDateTime) -> Result<Restarted, StoreError> {
        let text = time_fmt::format(at);
        // Another restart between the read and the write makes the write's condition fail:
        // read again, and start after it (or find the time already moved past `at`).
        for _ in 0..MAX_ATTEMPTS {
            let state = self.state().await?;
            let Some(since) = state.since else { return Ok(Restarted { since: None, moved: false, rebuilding: None }) };
            if time_fmt::format(since) >= text {
                let rebuilding = state.live.building.map(|b| b.number);
                return Ok(Restarted { since: Some(since), moved: false, rebuilding });
            }
            let newest = state.live.building.map_or(state.live.serving.number, |b| b.number);
            let next = newest.saturating_add(1);
            // Stored times are fixed-width UTC text: their order is the order of the times. The
            // generations must be those read.
            let unchanged = if state.live.building.is_some() {
                "#since < :at AND #building = :newest"
            } else {
                "#since < :at AND (attribute_not_exists(#building) OR #building <= :newest) AND \
                 (attribute_not_exists(#serving) OR #serving = :newest)"
            };
            let mut update = self
                .store
                .update_item(SINCE_KEY)
                .update_expression(
                    "SET #since = :at, #building = :next, #started = :at, #coarse = if_not_exists(#coarse, :next)",
                )
                .condition_expression(unchanged)
                .expression_attribute_names("#since", SINCE_ATTRIBUTE)
                .expression_attribute_names("#building", BUILDING)
                .expression_attribute_names("#started", BUILDING_STARTED)
                .expression_attribute_names("#coarse", COARSE_FROM)
                .expression_attribute_values(":at", AttributeValue::S(text.clone()))
                .expression_attribute_values(":next", AttributeValue::N(next.to_string()))
                .expression_attribute_values(":newest", AttributeValue::N(newest.to_string()));
            if state.live.building.is_none() {
                update = update.expression_attribute_names("#serving", SERVING);
            }
            let result = update.send().await;
            if applied(result)? {
                return Ok(Restarted {
                    since: time_fmt::parse(&text).or(Some(at)),
                    moved: true,
                    rebuilding: Some(next),
                });
            }
        }
        Err(StoreError::Conflicting { what: "the rollups' state", attempts: MAX_ATTEMPTS })
    }

    /// Applies `changes`, in order, each exactly once whatever was delivered before. On failure
    /// the changes before [`BatchError::first_unapplied`] are applied and the others not, so
    /// the caller reports that record as the batch's first failure.
    /// Each change is folded into every generation of `live` (read before the batch, so that
    /// a change written after a rebuild started reaches its generation). No transaction, and no
    /// further attempt of one, starts from `until` on (the invocation's time to answer): a batch
    /// cut off by its timeout is delivered again whole and counts as a failed attempt, where
    /// one that answers in time checkpoints what it applied.
    pub async fn apply(
        &self,
        changes: &[Change],
        live: &Live,
        now: OffsetDateTime,
        until: Option<Instant>,
    ) -> Result<Applied, BatchError> {
        let mut done = Applied::default();
        let cut = chunks(changes, live);
        for chunk in cut.chunks {
            let part: Vec<&Change> = changes[chunk.changes.clone()].iter().collect();
            self.apply_chunk(part, live, now, until, &mut done).await.map_err(|source| BatchError {
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

    /// One chunk in one transaction: its markers, its rollups' updates in each live generation,
    /// and the count of the rebuild's marks it folds.
    async fn apply_chunk(
        &self,
        mut part: Vec<&Change>,
        live: &Live,
        now: OffsetDateTime,
        until: Option<Instant>,
        done: &mut Applied,
    ) -> Result<(), ApplyError> {
        let table = self.store.table();
        for attempt in 0..MAX_ATTEMPTS {
            if part.is_empty() {
                return Ok(());
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Err(ApplyError::OutOfTime);
            }
            let folds = fold(&part, live).map_err(|source| ApplyError::Fold { record: part[0].id.clone(), source })?;
            let mut request = self.store.client().transact_write_items();
            for c in &part {
                request =
                    request.transact_items(TransactWriteItem::builder().put(record_marker(table, &c.id, now)?).build());
            }
            for (generation, f) in &folds {
                for (key, delta) in &f.deltas {
                    let update = Update::builder()
                        .table_name(table)
                        .key(PARTITION_KEY, AttributeValue::S(item_key(*generation, key)))
                        .expressed(update(*generation, key, delta))
                        .build()
                        .map_err(StoreError::from)?;
                    request = request.transact_items(TransactWriteItem::builder().update(update).build());
                }
            }
            if let (Some(b), n @ 1..) = (live.building, joins(&part, live)) {
                request = request
                    .transact_items(TransactWriteItem::builder().update(rebuild::joined(table, b.number, n)?).build());
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
            } else if retryable_cancellation((0..reasons.len()).map(code)) {
                tokio::time::sleep(backoff::delay(attempt)).await;
            } else {
                let codes: Vec<&str> = (0..reasons.len()).map(code).collect();
                return Err(StoreError::Cancelled(codes.join(", ")).into());
            }
        }
        // The last attempt may have found every record left already applied.
        if part.is_empty() {
            return Ok(());
        }
        Err(StoreError::Conflicting { what: "the rollups' batch", attempts: MAX_ATTEMPTS }.into())
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

/// A minimal group for the unit tests of the rollups: `id`, of `account`, created at `created`
/// and last seen at `last`.
#[cfg(test)]
pub(crate) fn test_group(
    id: &str,
    account: &str,
    created: &str,
    last: &str,
) -> scan_failures_domain::group::GroupRecord {
    use std::collections::HashMap;
    scan_failures_domain::group::GroupRecord {
        id: id.into(),
        domain: String::new(),
        resource_type: String::new(),
        resource_name: "quay.io/a/b:1".into(),
        resource_id: None,
        repository: "quay.io/a/b".into(),
        registry: "quay.io".into(),
        reason: "TIMEOUT".into(),
        level: "ERROR".into(),
        message: String::new(),
        num_occurrences: 1,
        created_at: created.into(),
        last_occurred_at: last.into(),
        expires_at: 0,
        account: account.into(),
        region: "eu-west-1".into(),
        source: String::new(),
        op_counts: HashMap::new(),
        origin_counts: HashMap::new(),
        clusters: HashMap::new(),
        deployments: HashMap::new(),
        initiators: HashMap::new(),
        user_agents: HashMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use time::macros::datetime;

    #[test]
    fn the_state_is_read_leniently_and_a_retired_generation_only_with_its_time() {
        let item = |pairs: &[(&str, AttributeValue)]| -> crate::dynamo::item::Item {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect::<HashMap<_, _>>()
        };
        let (n, s) = (|v: &str| AttributeValue::N(v.into()), |v: &str| AttributeValue::S(v.into()));
        assert_eq!(State::of(None), State { since: None, live: Live::FIRST, coarse_from: None });
        let started = datetime!(2026-12-04 12:00 UTC);
        let until = datetime!(2026-12-04 12:25 UTC);
        let switched = item(&[
            (SINCE_ATTRIBUTE, s("2026-12-04T12:00:00.000Z")),
            (SERVING, n("2")),
            (SERVING_STARTED, s("2026-12-04T12:00:00.000Z")),
            (RETIRED, n("0")),
            (RETIRED_UNTIL, s("2026-12-04T12:25:00.000Z")),
        ]);
        let two = Generation { number: 2, started: Some(started) };
        let retired = Retired { generation: Generation::FIRST, until };
        assert_eq!(
            State::of(Some(&switched)),
            State {
                since: Some(started),
                live: Live { serving: two, building: None, retired: Some(retired) },
                coarse_from: None
            }
        );
        let mut no_time = switched.clone();
        no_time.insert(RETIRED_UNTIL.into(), s("soon"));
        assert_eq!(State::of(Some(&no_time)).live.retired, None, "not folded without a time to stop");
        let mut not_older = switched.clone();
        not_older.insert(RETIRED.into(), n("2"));
        assert_eq!(State::of(Some(&not_older)).live.retired, None, "only a generation older than the serving one");
        let mut building = switched;
        building.insert(BUILDING.into(), n("x"));
        assert_eq!(State::of(Some(&building)).live.building, None, "a number that does not parse");
    }

    #[test]
    fn the_thirty_day_grain_is_read_only_from_the_first_generation_keeping_it() {
        let state = |serving: u32, coarse_from: Option<u32>| State {
            since: None,
            live: Live { serving: Generation { number: serving, started: None }, ..Live::FIRST },
            coarse_from,
        };
        assert_eq!(state(0, Some(0)).grains(), Grain::ALL, "started with it");
        assert_eq!(state(0, None).grains(), Grain::UP_TO_DAYS, "started before it, not yet rebuilt");
        assert_eq!(state(2, Some(3)).grains(), Grain::UP_TO_DAYS, "its rebuild not yet in service");
        assert_eq!(state(3, Some(3)).grains(), Grain::ALL);
        assert_eq!(state(4, Some(3)).grains(), Grain::ALL);
        let item: crate::dynamo::item::Item = [(COARSE_FROM.to_owned(), AttributeValue::N("3".into()))].into();
        assert_eq!(State::of(Some(&item)).coarse_from, Some(3));
    }
}
