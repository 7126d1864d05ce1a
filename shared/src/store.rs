//! The DynamoDB adapter: records occurrences into failure groups and reads groups back.
//!
//! One occurrence is one `TransactWriteItems` request holding two writes:
//! - a conditional `Put` of an idempotency marker `e#<envelope id>` (kept [`MARKER_TTL_HOURS`]),
//!   so a redelivered envelope is recognised and counts once;
//! - one `Update` that carries the whole upsert of the group, with no read before it.
//!
//! The update is planned from what the writer believes of the stored group (at first: it exists,
//! this occurrence is the newest, its sets have room). The belief is written into the condition,
//! so a wrong belief cancels the transaction, which returns the stored item; the writer re-plans
//! from it and tries again. Counts are atomic `ADD`s, `lastOccurredAt` only moves forward and
//! `createdAt` only backward, whatever order occurrences arrive in.
//!
//! The same update keeps the per-day counts (`daily`, see [`crate::daily`]) and asserts the
//! group is not `resolved` (see [`crate::triage`]): a failure after the resolve time reopens it,
//! decided inside the conditional write so the reopen is recorded, and notified, once.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::RetentionDays;
use crate::daily;
use crate::event::Occurrence;
use crate::expr::Expr;
use crate::group::{GroupRecord, MAX_SET_ENTRIES};
use crate::notify::{Notification, Pending, OUTBOX_PARTITION};
use crate::schema::{self, SortKey, ALL_PARTITION, PARTITION_KEY, TTL_ATTRIBUTE};
use crate::time_fmt;
use crate::triage::{self, TriageEntry, TriageState};

/// How long an envelope id is remembered: EventBridge retries for up to 24 h and Lambda's
/// asynchronous queue for up to 6 h more, so 48 h covers every redelivery.
pub const MARKER_TTL_HOURS: i64 = 48;
/// Attempts at one occurrence before it is reported failed (conflicts and re-plans).
const MAX_ATTEMPTS: u32 = 12;

/// The DynamoDB operations the store calls, declared once; the template test checks each
/// function's IAM policy against the set its code uses.
pub mod actions {
    pub const RECORD: &[&str] =
        &["dynamodb:TransactWriteItems", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"];
}

/// Why a store operation failed. The event is then reported failed, so it is retried.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed")]
    Dynamo {
        operation: &'static str,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("could not build the DynamoDB request")]
    Build(#[from] aws_sdk_dynamodb::error::BuildError),
    #[error("DynamoDB cancelled the write: {0}")]
    Cancelled(String),
    #[error("the write of group {group} still conflicted after {attempts} attempts")]
    Contention { group: Uuid, attempts: u32 },
    #[error("DynamoDB {operation} left {left} keys unprocessed after every retry")]
    Unprocessed { operation: &'static str, left: usize },
    #[error("a stored item could not be decoded")]
    Decode(#[from] serde_dynamo::Error),
}

/// Wraps an SDK error of `operation` (for `map_err`).
pub(crate) fn dynamo<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
where
    aws_sdk_dynamodb::Error: From<E>,
{
    move |e| StoreError::Dynamo { operation, source: Box::new(aws_sdk_dynamodb::Error::from(e)) }
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

/// The table of failure groups.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    /// Occurrence counts whose crossing is a transition; `None`: no transitions are recorded.
    thresholds: Option<Vec<u64>>,
}

/// The prefix of a group's partition key.
pub const GROUP_KEY_PREFIX: &str = "g#";

pub fn group_key(id: &impl std::fmt::Display) -> String {
    format!("{GROUP_KEY_PREFIX}{id}")
}

fn marker_key(event_id: &str) -> String {
    format!("e#{event_id}")
}

/// Occurrences of one group merged into one write: the direct path writes one, the SQS batch
/// path merges every occurrence of a group in a batch.
#[derive(Debug, Clone)]
pub struct Aggregate<'a> {
    /// The occurrence with the latest `occurred_at`: its message, account and source are kept.
    pub latest: &'a Occurrence,
    pub earliest: OffsetDateTime,
    /// Envelope ids, each counted once.
    pub event_ids: Vec<&'a str>,
    pub op_counts: BTreeMap<&'static str, u64>,
    pub origin_counts: BTreeMap<&'static str, u64>,
    /// Per remembered set: value → latest time seen, at most [`MAX_SET_ENTRIES`] (most recent).
    pub sets: BTreeMap<&'static str, BTreeMap<String, String>>,
    /// Occurrences per UTC day (`YYYY-MM-DD`).
    pub daily: BTreeMap<String, u64>,
}

/// The remembered sets: attribute name and the occurrence's value for it.
fn set_values(o: &Occurrence) -> [(&'static str, Option<String>); 4] {
    [
        ("clusters", o.cluster.clone()),
        ("deployments", o.deployment.as_ref().map(|d| d.key())),
        ("initiators", o.initiator.id.clone()),
        ("userAgents", o.initiator.user_agent.clone()),
    ]
}

/// Every remembered-set attribute.
pub const SET_ATTRIBUTES: [&str; 4] = ["clusters", "deployments", "initiators", "userAgents"];

impl<'a> Aggregate<'a> {
    /// Merges occurrences of one group; `None` for an empty slice. Envelope ids seen twice in
    /// the slice count once.
    pub fn of(occurrences: &[&'a Occurrence]) -> Option<Self> {
        let first = occurrences.first()?;
        let mut agg = Aggregate {
            latest: first,
            earliest: first.occurred_at,
            event_ids: Vec::new(),
            op_counts: BTreeMap::new(),
            origin_counts: BTreeMap::new(),
            sets: BTreeMap::new(),
            daily: BTreeMap::new(),
        };
        for o in occurrences {
            if agg.event_ids.contains(&o.envelope.id.as_str()) {
                continue;
            }
            agg.event_ids.push(&o.envelope.id);
            if o.occurred_at > agg.latest.occurred_at {
                agg.latest = o;
            }
            agg.earliest = agg.earliest.min(o.occurred_at);
            *agg.op_counts.entry(o.operation.key()).or_default() += 1;
            *agg.origin_counts.entry(o.origin.as_str()).or_default() += 1;
            *agg.daily.entry(daily::day_key(o.occurred_at)).or_default() += 1;
            let t = time_fmt::format(o.occurred_at);
            for (attr, value) in set_values(o) {
                if let Some(v) = value {
                    let seen = agg.sets.entry(attr).or_default().entry(v).or_default();
                    if *seen < t {
                        seen.clone_from(&t);
                    }
                }
            }
        }
        for set in agg.sets.values_mut() {
            while set.len() > MAX_SET_ENTRIES {
                let oldest = set.iter().min_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0))).map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    set.remove(&k);
                }
            }
        }
        Some(agg)
    }

    pub fn count(&self) -> u64 {
        self.event_ids.len() as u64
    }

    /// The per-day counts a writer whose clock reads `now` records: days before the
    /// [`daily::horizon`] can no longer be asked for, so they are not kept.
    pub fn recorded_days(&self, now: OffsetDateTime) -> BTreeMap<String, u64> {
        let horizon = daily::horizon(now);
        self.daily.iter().filter(|(d, _)| **d >= horizon).map(|(d, n)| (d.clone(), *n)).collect()
    }

    /// The same aggregate without the given envelope ids (found to be duplicates).
    fn without(&self, all: &[&'a Occurrence], drop: &[&str]) -> Option<Self> {
        let rest: Vec<&Occurrence> = all.iter().copied().filter(|o| !drop.contains(&o.envelope.id.as_str())).collect();
        Self::of(&rest)
    }
}

/// What the writer believes of the stored group; written into the update's condition.
#[derive(Debug, Clone, PartialEq, Default)]
struct Belief {
    exists: bool,
    /// Stored `lastOccurredAt`/`createdAt`, when known; unknown means "these are the newest".
    last: Option<String>,
    created: Option<String>,
    /// Per remembered set: its stored size and the entries to evict to make room.
    evictions: HashMap<&'static str, (usize, Vec<String>)>,
    /// Stored `numOccurrences`, when known; unknown means "no threshold is crossed".
    count: Option<u64>,
    /// Triaged as false positive: never notifies.
    suppressed: bool,
    daily: DailyBelief,
    triage: TriageBelief,
}

/// What the writer believes of the stored `daily` map.
#[derive(Debug, Clone, PartialEq, Default)]
enum DailyBelief {
    /// The map exists and has room for the days written (the optimistic belief).
    #[default]
    Room,
    /// No map: the group was written before per-day counts existed.
    Missing,
    /// The stored map has `size` entries; `evict` are removed to keep it within bounds.
    Stored { size: usize, evict: Vec<String> },
}

/// What the writer believes of the group's triage.
#[derive(Debug, Clone, PartialEq, Default)]
enum TriageBelief {
    /// Not `resolved` (the optimistic belief).
    #[default]
    NotResolved,
    /// `resolved` at `at`, under triage version `version`, with this history.
    Resolved { at: String, version: Option<u64>, history: Vec<TriageEntry> },
}

impl Belief {
    fn optimistic() -> Self {
        Self { exists: true, ..Self::default() }
    }

    /// The belief that matches a stored item (`None`: no item), for a writer whose clock reads
    /// `now`.
    fn from_stored(item: Option<&HashMap<String, AttributeValue>>, agg: &Aggregate, now: OffsetDateTime) -> Self {
        let Some(item) = item else { return Self::default() };
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let mut evictions = HashMap::new();
        for (attr, values) in &agg.sets {
            let Some(Ok(map)) = item.get(*attr).map(|v| v.as_m()) else { continue };
            let new = values.keys().filter(|v| !map.contains_key(*v)).count();
            // Where the optimistic "room" condition holds, keep it. It does not for a set so
            // full that only some of the values are new: then the stored size is asserted
            // exactly, with the evictions (possibly none) that make room.
            if new == 0 || map.len() <= MAX_SET_ENTRIES.saturating_sub(values.len()) {
                continue;
            }
            let mut by_age: Vec<(&String, &str)> = map
                .iter()
                .filter(|(k, _)| !values.contains_key(*k))
                .map(|(k, v)| (k, v.as_s().map(String::as_str).unwrap_or("")))
                .collect();
            by_age.sort_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)));
            let excess = (map.len() + new).saturating_sub(MAX_SET_ENTRIES);
            evictions.insert(*attr, (map.len(), by_age.into_iter().take(excess).map(|(k, _)| k.clone()).collect()));
        }
        let count = item.get("numOccurrences").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
        let state = TriageState::of_item(item);
        let triage = match state {
            TriageState::Resolved => {
                let t = triage::Triage::of_item(item);
                TriageBelief::Resolved { at: t.at.unwrap_or_default(), version: t.version, history: t.history }
            }
            _ => TriageBelief::NotResolved,
        };
        let daily = daily_belief(item, agg, now);
        Self {
            exists: true,
            last: s("lastOccurredAt"),
            created: s("createdAt"),
            evictions,
            count,
            suppressed: state == TriageState::FalsePositive,
            daily,
            triage,
        }
    }

    /// The triage version a write under this belief reopens, when it does: the group is
    /// resolved and the aggregate's latest occurrence is after the resolve time.
    fn reopens(&self, agg: &Aggregate) -> Option<u64> {
        match &self.triage {
            TriageBelief::Resolved { at, version, .. } if time_fmt::format(agg.latest.occurred_at) > *at => {
                Some(version.unwrap_or(0))
            }
            _ => None,
        }
    }
}

/// What a writer whose clock reads `now` believes of a stored `daily` map: the optimistic
/// belief where it holds, else the stored size with the days to evict: every day older than
/// the horizon, and the oldest others while the map would exceed [`daily::MAX_ENTRIES`].
fn daily_belief(item: &HashMap<String, AttributeValue>, agg: &Aggregate, now: OffsetDateTime) -> DailyBelief {
    let Some(Ok(map)) = item.get(daily::ATTRIBUTE).map(|v| v.as_m()) else { return DailyBelief::Missing };
    let days = agg.recorded_days(now);
    let new = days.keys().filter(|d| !map.contains_key(*d)).count();
    if new == 0 || map.len() <= daily::MAX_ENTRIES.saturating_sub(days.len()) {
        return DailyBelief::Room;
    }
    let horizon = daily::horizon(now);
    let mut candidates: Vec<&String> = map.keys().filter(|k| !days.contains_key(*k)).collect();
    candidates.sort();
    let stale = candidates.iter().filter(|k| ***k < horizon).count();
    let excess = (map.len() + new).saturating_sub(daily::MAX_ENTRIES).max(stale);
    DailyBelief::Stored { size: map.len(), evict: candidates.into_iter().take(excess).cloned().collect() }
}

fn counts_map(counts: &BTreeMap<&'static str, u64>) -> AttributeValue {
    AttributeValue::M(counts.iter().map(|(k, v)| ((*k).to_owned(), AttributeValue::N(v.to_string()))).collect())
}

fn days_map(days: &BTreeMap<String, u64>) -> AttributeValue {
    AttributeValue::M(days.iter().map(|(k, v)| (k.clone(), AttributeValue::N(v.to_string()))).collect())
}

fn set_map(values: Option<&BTreeMap<String, String>>) -> AttributeValue {
    AttributeValue::M(
        values.map(|m| m.iter().map(|(k, t)| (k.clone(), AttributeValue::S(t.clone()))).collect()).unwrap_or_default(),
    )
}

/// The update for an aggregate under one belief, by a writer whose clock reads `now`.
fn plan_update(
    agg: &Aggregate,
    id: &Uuid,
    belief: &Belief,
    retention: RetentionDays,
    thresholds: Option<&[u64]>,
    now: OffsetDateTime,
) -> Expr {
    let o = agg.latest;
    let t = time_fmt::format(o.occurred_at);
    let t_first = time_fmt::format(agg.earliest);
    let expires = (o.occurred_at + retention.duration()).unix_timestamp();
    let mut e = Expr::default();

    let newest = belief.last.as_deref().is_none_or(|last| t.as_str() >= last);
    let oldest = belief.created.as_deref().is_some_and(|created| t_first.as_str() < created);
    let days = agg.recorded_days(now);

    if !belief.exists {
        let pk = e.name(PARTITION_KEY);
        e.condition(format!("attribute_not_exists({pk})"));
        let image = &o.image;
        // Not the `group::DERIVED_ATTRIBUTES`: they follow from these.
        let statics: [(&str, AttributeValue); 8] = [
            ("resourceName", AttributeValue::S(image.normalized())),
            ("repository", AttributeValue::S(image.repository())),
            ("reason", AttributeValue::S(o.reason.code().into())),
            ("gsiAll", AttributeValue::S(ALL_PARTITION.into())),
            ("createdAt", AttributeValue::S(t_first.clone())),
            ("numOccurrences", AttributeValue::N(agg.count().to_string())),
            ("opCounts", counts_map(&agg.op_counts)),
            ("originCounts", counts_map(&agg.origin_counts)),
        ];
        for (attr, value) in statics {
            let (n, v) = (e.name(attr), e.value(value));
            e.set(format!("{n} = {v}"));
        }
        if let Some(d) = &image.digest {
            let (n, v) = (e.name("resourceId"), e.s(d.clone()));
            e.set(format!("{n} = {v}"));
        }
        for attr in SET_ATTRIBUTES {
            let (n, v) = (e.name(attr), e.value(set_map(agg.sets.get(attr))));
            e.set(format!("{n} = {v}"));
        }
        let (n, v) = (e.name(daily::ATTRIBUTE), e.value(days_map(&days)));
        e.set(format!("{n} = {v}"));
    } else {
        let pk = e.name(PARTITION_KEY);
        e.condition(format!("attribute_exists({pk})"));
        let (last_n, created_n) = (e.name("lastOccurredAt"), e.name("createdAt"));
        let tv = e.s(t.clone());
        e.condition(if newest { format!("{last_n} <= {tv}") } else { format!("{last_n} > {tv}") });
        let tf = e.s(t_first.clone());
        if oldest {
            e.condition(format!("{created_n} > {tf}"));
            e.set(format!("{created_n} = {tf}"));
        } else {
            e.condition(format!("{created_n} <= {tf}"));
        }
        let zero = e.n(0);
        for (attr, counts) in [("opCounts", &agg.op_counts), ("originCounts", &agg.origin_counts)] {
            for (key, n) in counts {
                let path = e.path(attr, key);
                let add = e.n(n);
                e.set(format!("{path} = if_not_exists({path}, {zero}) + {add}"));
            }
        }
        for (attr, values) in &agg.sets {
            let map = e.name(attr);
            let mut exists_all = Vec::new();
            for (value, seen) in values {
                let path = e.path(attr, value);
                let seen = e.s(seen.clone());
                // Keep the latest time seen: a newer batch overwrites, an older one only adds.
                if newest {
                    e.set(format!("{path} = {seen}"));
                } else {
                    e.set(format!("{path} = if_not_exists({path}, {seen})"));
                }
                exists_all.push(format!("attribute_exists({path})"));
            }
            match belief.evictions.get(attr) {
                Some((size, evict)) => {
                    let size = e.n(size);
                    e.condition(format!("size({map}) = {size}"));
                    for key in evict {
                        let old = e.path(attr, key);
                        e.condition(format!("attribute_exists({old})"));
                        e.remove(old);
                    }
                }
                None => {
                    let room = e.n(MAX_SET_ENTRIES.saturating_sub(values.len()));
                    e.condition(format!("(size({map}) <= {room} OR ({}))", exists_all.join(" AND ")));
                }
            }
        }
        plan_daily(&mut e, &days, &belief.daily);
        plan_triage(&mut e, agg, belief, now);
        let (n, add) = (e.name("numOccurrences"), e.n(agg.count()));
        e.add(format!("{n} {add}"));
        match (thresholds, belief.count) {
            (None, _) => {}
            (Some(_), Some(stored)) => {
                let stored = e.n(stored);
                e.condition(format!("{n} = {stored}"));
            }
            // Assume no threshold is crossed: the stored count is not within k below one.
            (Some(thresholds), None) => {
                for t in thresholds {
                    let (lo, hi) = (t.saturating_sub(agg.count()), t.saturating_sub(1));
                    if lo <= hi {
                        let (lo, hi) = (e.n(lo), e.n(hi));
                        e.condition(format!("NOT ({n} BETWEEN {lo} AND {hi})"));
                    }
                }
            }
        }
    }

    if newest || !belief.exists {
        let latest: [(&str, AttributeValue); 8] = [
            ("lastOccurredAt", AttributeValue::S(t.clone())),
            (SortKey::Exact.attribute(), AttributeValue::S(SortKey::Exact.value(o.occurred_at, id))),
            (SortKey::Bucketed.attribute(), AttributeValue::S(SortKey::Bucketed.value(o.occurred_at, id))),
            (TTL_ATTRIBUTE, AttributeValue::N(expires.to_string())),
            ("message", AttributeValue::S(o.message.clone())),
            ("account", AttributeValue::S(o.envelope.account.clone())),
            ("region", AttributeValue::S(o.envelope.region.clone())),
            ("source", AttributeValue::S(o.envelope.source.clone())),
        ];
        for (attr, value) in latest {
            let (n, v) = (e.name(attr), e.value(value));
            e.set(format!("{n} = {v}"));
        }
    }
    e
}

/// The per-day counts of an update of an existing group.
fn plan_daily(e: &mut Expr, days: &BTreeMap<String, u64>, belief: &DailyBelief) {
    if days.is_empty() {
        return;
    }
    let map = e.name(daily::ATTRIBUTE);
    if *belief == DailyBelief::Missing {
        e.condition(format!("attribute_not_exists({map})"));
        let v = e.value(days_map(days));
        e.set(format!("{map} = {v}"));
        return;
    }
    let zero = e.n(0);
    let mut exists_all = Vec::new();
    for (day, n) in days {
        let path = e.path(daily::ATTRIBUTE, day);
        let add = e.n(n);
        e.set(format!("{path} = if_not_exists({path}, {zero}) + {add}"));
        exists_all.push(format!("attribute_exists({path})"));
    }
    match belief {
        DailyBelief::Stored { size, evict } => {
            let size = e.n(size);
            e.condition(format!("size({map}) = {size}"));
            for day in evict {
                let old = e.path(daily::ATTRIBUTE, day);
                e.condition(format!("attribute_exists({old})"));
                e.remove(old);
            }
        }
        _ => {
            // Assume the map exists with room; prune the day that has just left the window.
            e.condition(format!("attribute_exists({map})"));
            let room = e.n(daily::MAX_ENTRIES.saturating_sub(days.len()));
            e.condition(format!("(size({map}) <= {room} OR ({}))", exists_all.join(" AND ")));
            let pruned: std::collections::BTreeSet<String> =
                days.keys().filter_map(|d| daily::pruned_by(d)).filter(|d| !days.contains_key(d)).collect();
            for day in pruned {
                let old = e.path(daily::ATTRIBUTE, &day);
                e.remove(old);
            }
        }
    }
}

/// The triage part of an update of an existing group: assert it is not resolved, or, when it
/// is, either reopen it (the occurrence is after the resolve time) or leave it resolved.
fn plan_triage(e: &mut Expr, agg: &Aggregate, belief: &Belief, now: OffsetDateTime) {
    let state = e.name(triage::attr::STATE);
    let resolved = e.s(TriageState::Resolved.as_str());
    let TriageBelief::Resolved { at, version, history } = &belief.triage else {
        e.condition(format!("(attribute_not_exists({state}) OR {state} <> {resolved})"));
        return;
    };
    e.condition(format!("{state} = {resolved}"));
    let version_n = e.name(triage::attr::VERSION);
    match version {
        Some(v) => {
            let v = e.n(v);
            e.condition(format!("{version_n} = {v}"));
        }
        None => e.condition(format!("attribute_not_exists({version_n})")),
    }
    let Some(reopened) = belief.reopens(agg) else { return };
    let t = time_fmt::format(agg.latest.occurred_at);
    let note = format!("reopened: a failure occurred at {t}, after the group was resolved at {at}");
    let entry = TriageEntry {
        state: TriageState::Open.as_str().to_owned(),
        at: time_fmt::format(now),
        by: triage::INGEST_ACTOR.to_owned(),
        note: Some(note.clone()),
    };
    let history = triage::history_with(entry.clone(), history);
    let sets: [(&str, AttributeValue); 6] = [
        (triage::attr::STATE, AttributeValue::S(entry.state)),
        (triage::attr::AT, AttributeValue::S(entry.at)),
        (triage::attr::BY, AttributeValue::S(entry.by)),
        (triage::attr::NOTE, AttributeValue::S(note)),
        (triage::attr::HISTORY, triage::history_attribute(&history)),
        (triage::attr::VERSION, AttributeValue::N((reopened + 1).to_string())),
    ];
    for (attr, value) in sets {
        let (n, v) = (e.name(attr), e.value(value));
        e.set(format!("{n} = {v}"));
    }
}

fn marker_put(table: &str, event_id: &str, id: &Uuid, now: OffsetDateTime) -> Result<Put, StoreError> {
    let expires = (now + time::Duration::hours(MARKER_TTL_HOURS)).unix_timestamp();
    let item = HashMap::from([
        (PARTITION_KEY.to_owned(), AttributeValue::S(marker_key(event_id))),
        (TTL_ATTRIBUTE.to_owned(), AttributeValue::N(expires.to_string())),
        ("groupId".to_owned(), AttributeValue::S(id.to_string())),
    ]);
    Ok(Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk) OR #exp < :now")
        .expression_attribute_names("#pk", PARTITION_KEY)
        .expression_attribute_names("#exp", TTL_ATTRIBUTE)
        .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()))
        .build()?)
}

/// A short pause before retrying a conflicting transaction, growing with the attempt, with
/// jitter so racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let base_ms = 5u64 << attempt.min(5);
    let jitter = RandomState::new().hash_one(attempt) % base_ms.max(1);
    Duration::from_millis(base_ms + jitter)
}

/// Envelope ids per transaction at most: TransactWriteItems holds 100 items; one is the group,
/// and up to 4 are outbox records (opened; or reopened and up to 3 thresholds crossed at once).
pub const MAX_EVENTS_PER_WRITE: usize = 95;

/// What recording a batch of one group did, per envelope id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchRecorded {
    /// `Created` or `Updated` for the envelope ids counted; `Duplicate` for those seen before.
    pub outcomes: Vec<(String, Recorded)>,
    pub cost: WriteCost,
    /// Transitions this write made, each already in the outbox.
    pub notifications: Vec<Notification>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), thresholds: None }
    }

    /// Records transitions (group opened, `thresholds` crossed) in the outbox of the same write.
    pub fn with_transitions(self, thresholds: Vec<u64>) -> Self {
        Self { thresholds: Some(thresholds), ..self }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Records one occurrence into its group `id`, exactly once per envelope id.
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

    /// Records occurrences of one group `id` (at most [`MAX_EVENTS_PER_WRITE`] envelope ids) in
    /// one transaction: one marker per envelope id and one merged update of the group. Envelope
    /// ids seen before are reported `Duplicate` and not counted.
    pub async fn record_group(
        &self,
        occurrences: &[&Occurrence],
        id: &Uuid,
        retention: RetentionDays,
        now: OffsetDateTime,
    ) -> Result<BatchRecorded, StoreError> {
        let mut result = BatchRecorded::default();
        let mut duplicates: Vec<&str> = Vec::new();
        let Some(mut agg) = Aggregate::of(occurrences) else { return Ok(result) };
        let mut belief = Belief::optimistic();
        for attempt in 0..MAX_ATTEMPTS {
            let e = plan_update(&agg, id, &belief, retention, self.thresholds.as_deref(), now);
            let update_expression = e.update_expression();
            let condition = e.condition_expression();
            let (names, values) = e.into_parts();
            let update = Update::builder()
                .table_name(&self.table)
                .key(PARTITION_KEY, AttributeValue::S(group_key(id)))
                .update_expression(update_expression)
                .set_condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()?;
            let notifications = self.transitions(&agg, id, &belief);
            let mut request = self.client.transact_write_items();
            for event_id in &agg.event_ids {
                request = request.transact_items(
                    TransactWriteItem::builder().put(marker_put(&self.table, event_id, id, now)?).build(),
                );
            }
            request = request.transact_items(TransactWriteItem::builder().update(update).build());
            for n in &notifications {
                let put = Put::builder().table_name(&self.table).set_item(Some(n.outbox_item(now))).build()?;
                request = request.transact_items(TransactWriteItem::builder().put(put).build());
            }
            let result_of_send = request.return_consumed_capacity(ReturnConsumedCapacity::Total).send().await;
            result.cost.requests += 1;
            let err = match result_of_send {
                Ok(out) => {
                    result.cost.write_capacity_units +=
                        out.consumed_capacity().iter().filter_map(|c| c.capacity_units()).sum::<f64>();
                    let done = if belief.exists { Recorded::Updated } else { Recorded::Created };
                    result.outcomes.extend(agg.event_ids.iter().map(|e| ((*e).to_owned(), done)));
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
            let codes: Vec<&str> = (0..=markers).map(code).collect();
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
                belief = Belief::from_stored(reasons.get(markers).and_then(|r| r.item()), &agg, now);
            } else if codes.iter().any(|c| matches!(*c, "TransactionConflict" | "ThrottlingError")) {
                tokio::time::sleep(backoff(attempt)).await;
            } else {
                return Err(StoreError::Cancelled(codes.join(", ")));
            }
        }
        Err(StoreError::Contention { group: *id, attempts: MAX_ATTEMPTS })
    }

    /// The transitions a write under `belief` makes: opening the group, reopening it after it
    /// was resolved, and each threshold its count crosses (none for a false positive); none at
    /// all when transitions are off.
    fn transitions(&self, agg: &Aggregate, id: &Uuid, belief: &Belief) -> Vec<Notification> {
        let Some(thresholds) = &self.thresholds else { return Vec::new() };
        let k = agg.count();
        if !belief.exists {
            return vec![Notification::new(id, agg.latest, None, k)];
        }
        let mut out = Vec::new();
        if let Some(version) = belief.reopens(agg) {
            out.push(Notification::reopened(id, agg.latest, version, belief.count.map_or(k, |n| n + k)));
        }
        if let Some(n) = belief.count.filter(|_| !belief.suppressed) {
            out.extend(
                thresholds
                    .iter()
                    .filter(|t| n < **t && **t <= n + k)
                    .take(3)
                    .map(|t| Notification::new(id, agg.latest, Some(*t), n + k)),
            );
        }
        out
    }

    /// Outbox records not yet published, oldest first (at most `limit`).
    pub async fn pending_notifications(&self, limit: i32) -> Result<Vec<Pending>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::BY_TIME.name)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", schema::BY_TIME.partition_key)
            .expression_attribute_values(":p", AttributeValue::S(OUTBOX_PARTITION.into()))
            .limit(limit)
            .send()
            .await
            .map_err(dynamo("Query"))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|i| {
                let s = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
                Some(Pending { key: s(PARTITION_KEY)?, detail_type: s("detailType")?, detail: s("detail")? })
            })
            .collect())
    }

    /// Claims an outbox record for publishing until `now + OUTBOX_LEASE_SECONDS` (wall clock);
    /// `false` when another publisher holds it or it is gone.
    pub async fn claim_outbox(&self, key: &str, now: i64) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(key.to_owned()))
            .update_expression("SET #l = :until")
            .condition_expression("attribute_exists(#pk) AND (attribute_not_exists(#l) OR #l < :now)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#l", crate::notify::LEASE_ATTRIBUTE)
            .expression_attribute_values(
                ":until",
                AttributeValue::N((now + crate::notify::OUTBOX_LEASE_SECONDS).to_string()),
            )
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(dynamo("UpdateItem")(e)),
        }
    }

    /// Gives up the lease of an outbox record that could not be published, so that the next
    /// drain publishes it at once.
    pub async fn release_outbox(&self, key: &str) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(key.to_owned()))
            .update_expression("REMOVE #l")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#l", crate::notify::LEASE_ATTRIBUTE)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(dynamo("UpdateItem")(e)),
        }
    }

    /// Removes a published outbox record.
    pub async fn delete_outbox(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(key.to_owned()))
            .send()
            .await
            .map_err(dynamo("DeleteItem"))?;
        Ok(())
    }

    /// The stored item of group `id` (strongly consistent), whether or not it has expired.
    pub async fn get_item(&self, id: &Uuid) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        self.get_raw(id).await
    }

    async fn get_raw(&self, id: &Uuid) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(group_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo("GetItem"))?;
        Ok(out.item)
    }

    /// The stored group, whether or not it has expired.
    pub async fn get(&self, id: &Uuid) -> Result<Option<GroupRecord>, StoreError> {
        match self.get_raw(id).await? {
            Some(item) => Ok(Some(GroupRecord::from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Creates the table from [`schema`] (local set-up and tests; production uses the template).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
            ProjectionType, ScalarAttributeType,
        };
        let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let mut req = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(PARTITION_KEY, KeyType::Hash)?);
        for (name, _) in schema::key_attributes() {
            req = req.attribute_definitions(
                AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()?,
            );
        }
        for index in schema::INDEXES {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.partition_key, KeyType::Hash)?)
                    .key_schema(key(index.sort_key.attribute(), KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(match index.projection {
                                schema::Projection::All => ProjectionType::All,
                                schema::Projection::KeysOnly => ProjectionType::KeysOnly,
                            })
                            .build(),
                    )
                    .build()?,
            );
        }
        req.send().await.map_err(dynamo("CreateTable"))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()?,
            )
            .send()
            .await
            .map_err(dynamo("UpdateTimeToLive"))?;
        Ok(())
    }
}
