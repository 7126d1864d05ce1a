//! The planner of a group's write: from an aggregate of occurrences and what the writer
//! believes of the stored group, the update expression and the condition that asserts the
//! belief. Pure: the executor ([`super::GroupWriter`]) sends the plan, and on a cancellation
//! re-plans from the stored item it gets back ([`Belief::from_stored`]).
//!
//! The first plan is optimistic (the group exists, this occurrence is the newest, its sets and
//! per-day map have room, it is not resolved, no threshold is crossed); a wrong belief fails the
//! condition, so it can never be written. Counts are atomic `ADD`s, `lastOccurredAt` only moves
//! forward and `createdAt` only backward, whatever order occurrences arrive in.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use uuid::Uuid;

use scan_failures_domain::group::aggregate::{Aggregate, SET_ATTRIBUTES};
use scan_failures_domain::group::daily;
use scan_failures_domain::group::notification::StoredLatest;
use scan_failures_domain::group::transitions::Known;
use scan_failures_domain::group::triage::{self, TriageEntry, TriageState};
use scan_failures_domain::group::MAX_SET_ENTRIES;
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::time_fmt;

use crate::dynamo::expr::Expr;
use crate::dynamo::item::{self, attr};
use crate::dynamo::schema::{SortKey, ALL_PARTITION, PARTITION_KEY, TTL_ATTRIBUTE};

/// What the writer believes of the stored group; written into the update's condition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Belief {
    pub exists: bool,
    /// The stored group is past the retention (DynamoDB's TTL had not deleted it yet): the write
    /// starts it anew, asserting the stored `lastOccurredAt` (in `last`) it replaces.
    pub expired: bool,
    /// Stored `lastOccurredAt`/`createdAt`, when known; unknown means "these are the newest".
    pub last: Option<String>,
    pub created: Option<String>,
    /// Per remembered set: its stored size and the entries to evict to make room.
    pub evictions: HashMap<&'static str, (usize, Vec<String>)>,
    /// Per remembered set, the new values a full set has no place for: each seen before every
    /// entry it keeps (a late occurrence), so not remembered, and asserted still absent.
    pub too_old: HashMap<&'static str, Vec<String>>,
    /// Per remembered set, the values a batch saw before its newest occurrence that the stored
    /// item holds with a later time: left as stored, since a value's time never moves back.
    pub later: HashMap<&'static str, Vec<String>>,
    /// Stored `numOccurrences`, when known; unknown means "no threshold is crossed".
    pub count: Option<u64>,
    /// Triaged as false positive: never notifies.
    pub suppressed: bool,
    pub daily: DailyBelief,
    pub triage: TriageBelief,
    /// The stored latest occurrence (`lastOccurredAt`, `resourceId`, `account`, `region`), when
    /// known: what a late write's notifications tell of the group.
    pub stored_latest: Option<StoredLatest>,
}

/// What the writer believes of the stored `daily` map.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DailyBelief {
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
pub enum TriageBelief {
    /// Not `resolved` (the optimistic belief).
    #[default]
    NotResolved,
    /// `resolved` at `at`, under triage version `version`, with this history.
    Resolved { at: String, version: Option<u64>, history: Vec<TriageEntry> },
}

impl Belief {
    pub fn optimistic() -> Self {
        Self { exists: true, ..Self::default() }
    }

    /// The belief that matches a stored item (`None`: no item), for a writer whose clock reads
    /// `now` under `retention`.
    pub fn from_stored(
        item: Option<&HashMap<String, AttributeValue>>,
        agg: &Aggregate,
        now: OffsetDateTime,
        retention: RetentionDays,
    ) -> Self {
        let Some(item) = item else { return Self::default() };
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let last = s("lastOccurredAt");
        if last.as_deref().is_some_and(|l| l <= cutoff(now, retention).as_str()) {
            return Self { exists: true, expired: true, last, ..Self::default() };
        }
        let (mut evictions, mut too_old) = (HashMap::new(), HashMap::new());
        for (attr, values) in &agg.sets {
            let Some(Ok(map)) = item.get(*attr).map(|v| v.as_m()) else { continue };
            let new = values.keys().filter(|v| !map.contains_key(*v)).count();
            // Where the optimistic "room" condition holds, keep it. It does not for a set so
            // full that only some of the values are new: then the stored size is asserted
            // exactly, with the evictions (possibly none) that make room.
            if new == 0 || map.len() <= MAX_SET_ENTRIES.saturating_sub(values.len()) {
                continue;
            }
            let (evict, left_out) = make_room(map, values);
            evictions.insert(*attr, (map.len(), evict));
            if !left_out.is_empty() {
                too_old.insert(*attr, left_out);
            }
        }
        let mut later = HashMap::new();
        for (attr, values) in &agg.sets {
            let Some(Ok(map)) = item.get(*attr).map(|v| v.as_m()) else { continue };
            let stored_later = |value: &String, seen: &String| {
                map.get(value).and_then(|s| s.as_s().ok()).is_some_and(|stored| stored > seen)
            };
            let kept: Vec<String> = values
                .iter()
                .filter(|(value, seen)| stored_later(value, seen))
                .map(|(value, _)| value.clone())
                .collect();
            if !kept.is_empty() {
                later.insert(*attr, kept);
            }
        }
        let count = item.get("numOccurrences").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
        let state = item::triage_state(item);
        let triage = match state {
            TriageState::Resolved => {
                let t = item::triage(item);
                TriageBelief::Resolved { at: t.at.unwrap_or_default(), version: t.version, history: t.history }
            }
            _ => TriageBelief::NotResolved,
        };
        let daily = daily_belief(item, agg, now);
        let stored_latest = last.clone().map(|at| StoredLatest {
            at,
            resource_id: s("resourceId"),
            account: s("account").unwrap_or_default(),
            region: s("region").unwrap_or_default(),
        });
        Self {
            exists: true,
            expired: false,
            last,
            created: s("createdAt"),
            evictions,
            too_old,
            later,
            count,
            suppressed: state == TriageState::FalsePositive,
            daily,
            triage,
            stored_latest,
        }
    }

    /// The group is resolved and a write of `agg` leaves it so (every occurrence is from before
    /// the resolve time). The write asserts the resolved state and its version, so no triage
    /// since can make the silence wrong.
    pub fn stays_resolved(&self, agg: &Aggregate) -> bool {
        matches!(self.triage, TriageBelief::Resolved { .. }) && self.reopens(agg).is_none()
    }

    /// The triage version a write under this belief reopens, when it does: the group is
    /// resolved and the aggregate's latest occurrence is after the resolve time.
    pub fn reopens(&self, agg: &Aggregate) -> Option<u64> {
        match &self.triage {
            TriageBelief::Resolved { at, version, .. } if time_fmt::format(agg.latest.occurred_at) > *at => {
                Some(version.unwrap_or(0))
            }
            _ => None,
        }
    }
}

/// The places of a full remembered set: the values a write touches that it holds already keep
/// theirs; the other places go to the most recently seen of its other entries and the write's
/// new values (`values`: value → time seen). Returns the stored entries to evict and the new
/// values left out, each list oldest first.
fn make_room(map: &HashMap<String, AttributeValue>, values: &BTreeMap<String, String>) -> (Vec<String>, Vec<String>) {
    fn time(v: &AttributeValue) -> &str {
        v.as_s().map(String::as_str).unwrap_or("")
    }
    let present = values.keys().filter(|v| map.contains_key(*v)).count();
    // (time seen, value, stored), oldest first, ties by value.
    let mut others: Vec<(&str, &str, bool)> = map
        .iter()
        .filter(|(k, _)| !values.contains_key(*k))
        .map(|(k, v)| (time(v), k.as_str(), true))
        .chain(values.iter().filter(|(v, _)| !map.contains_key(*v)).map(|(v, t)| (t.as_str(), v.as_str(), false)))
        .collect();
    others.sort_unstable();
    let excess = others.len().saturating_sub(MAX_SET_ENTRIES.saturating_sub(present));
    let (mut evict, mut left_out) = (Vec::new(), Vec::new());
    for (_, k, stored) in others.into_iter().take(excess) {
        if stored {
            evict.push(k.to_owned())
        } else {
            left_out.push(k.to_owned())
        }
    }
    (evict, left_out)
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

/// The `lastOccurredAt` at or before which a group is past `retention` for a writer whose clock
/// reads `now` (the API's visibility rule, `retention::is_visible`, is the same).
fn cutoff(now: OffsetDateTime, retention: RetentionDays) -> String {
    time_fmt::format(now - retention.duration())
}

/// Attributes a group started anew must not keep from its previous life.
const FORMER_LIFE: [&str; 7] =
    [attr::STATE, attr::AT, attr::BY, attr::NOTE, attr::HISTORY, attr::VERSION, "resourceId"];

/// Whether `k` more occurrences on a count of `from` cross one of `thresholds` (the rule of
/// `transitions`).
fn crosses(thresholds: &[u64], from: u64, k: u64) -> bool {
    thresholds.iter().any(|t| from < *t && *t <= from.saturating_add(k))
}

/// The update for an aggregate under one belief, by a writer whose clock reads `now`.
pub fn plan_update(
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

    if !belief.exists || belief.expired {
        let pk = e.name(PARTITION_KEY);
        if belief.expired {
            // Replace the expired life whole, as long as no other write has revived it.
            e.condition(format!("attribute_exists({pk})"));
            let last_n = e.name("lastOccurredAt");
            let stored = e.s(belief.last.clone().unwrap_or_default());
            e.condition(format!("{last_n} = {stored}"));
            for attr in FORMER_LIFE.iter().filter(|a| **a != "resourceId" || o.image.digest.is_none()) {
                let n = e.name(attr);
                e.remove(n);
            }
        } else {
            e.condition(format!("attribute_not_exists({pk})"));
        }
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
        // When the item was first stored, by this writer's clock: what tells a rebuild of the
        // rollups whether the group needs its mark (`rollup::generation`). A group started anew
        // keeps it, as it keeps the marks.
        let (n, v) = (e.name(attr::BORN), e.n(now.unix_timestamp()));
        e.set(format!("{n} = if_not_exists({n}, {v})"));
    } else {
        let pk = e.name(PARTITION_KEY);
        e.condition(format!("attribute_exists({pk})"));
        let (last_n, created_n) = (e.name("lastOccurredAt"), e.name("createdAt"));
        let tv = e.s(t.clone());
        e.condition(if newest { format!("{last_n} <= {tv}") } else { format!("{last_n} > {tv}") });
        if newest {
            // Not past the retention: an expired group is started anew, never added to.
            let c = e.s(cutoff(now, retention));
            e.condition(format!("{last_n} > {c}"));
        }
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
                if belief.too_old.get(attr).is_some_and(|left| left.contains(value)) {
                    e.condition(format!("attribute_not_exists({path})"));
                    continue;
                }
                let at_newest = *seen == t;
                let seen = e.s(seen.clone());
                // Keep the latest time seen. A newer write sets the values of its newest
                // occurrence; any other value (one a merged batch of the SQS path saw only
                // earlier, or any value of an older write) is set where the stored time is not
                // later, and left where it is, as the re-plan from the stored item finds.
                if newest && at_newest {
                    e.set(format!("{path} = {seen}"));
                } else if belief.later.get(attr).is_some_and(|kept| kept.contains(value)) {
                    e.condition(format!("{path} > {seen}"));
                } else {
                    // Absent, or not later (a comparison with an absent path is false).
                    e.condition(format!("NOT ({path} > {seen})"));
                    e.set(format!("{path} = {seen}"));
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
            // The exact count only where the write crosses a threshold from it: asserted on
            // every write, it failed each one that met another write to the group, and a storm of
            // one failure ran out of attempts on the re-plans.
            (Some(thresholds), Some(stored)) if crosses(thresholds, stored, agg.count()) => {
                let stored = e.n(stored);
                e.condition(format!("{n} = {stored}"));
                // Whether a crossing is notified rests on the group being a false positive or not,
                // as read: a triage since, either way, must have the write planned again (before,
                // a group marked false positive between the read and the write was notified).
                if !matches!(belief.triage, TriageBelief::Resolved { .. }) {
                    let (state, fp) = (e.name(attr::STATE), e.s(TriageState::FalsePositive.as_str()));
                    e.condition(if belief.suppressed {
                        format!("{state} = {fp}")
                    } else {
                        format!("(attribute_not_exists({state}) OR {state} <> {fp})")
                    });
                }
            }
            // No threshold is crossed: the stored count is not within k below one.
            (Some(thresholds), _) => {
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
    // The digest of the latest occurrence that names one (a new group takes it above): a group
    // first seen by tag learns its digest, and a tag pushed again moves to its new one.
    if newest && belief.exists && !belief.expired {
        if let Some(d) = &o.image.digest {
            let (n, v) = (e.name("resourceId"), e.s(d.clone()));
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
    let state = e.name(attr::STATE);
    let resolved = e.s(TriageState::Resolved.as_str());
    let TriageBelief::Resolved { at, version, history } = &belief.triage else {
        e.condition(format!("(attribute_not_exists({state}) OR {state} <> {resolved})"));
        return;
    };
    e.condition(format!("{state} = {resolved}"));
    let version_n = e.name(attr::VERSION);
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
        (attr::STATE, AttributeValue::S(entry.state)),
        (attr::AT, AttributeValue::S(entry.at)),
        (attr::BY, AttributeValue::S(entry.by)),
        (attr::NOTE, AttributeValue::S(note)),
        (attr::HISTORY, item::history_attribute(&history)),
        (attr::VERSION, AttributeValue::N(reopened.saturating_add(1).to_string())),
    ];
    for (attr, value) in sets {
        let (n, v) = (e.name(attr), e.value(value));
        e.set(format!("{n} = {v}"));
    }
}

impl Belief {
    /// What the domain's transition rule needs of this belief (see
    /// [`scan_failures_domain::group::transitions`]).
    pub fn known(&self, agg: &Aggregate) -> Known {
        if self.expired || !self.exists {
            // The write starts a life: the `createdAt` it writes.
            let generation = Some(time_fmt::format(agg.earliest));
            return Known { generation, ..Known::default() };
        }
        // A late write (every occurrence older than the stored latest) tells of the stored one.
        let t = time_fmt::format(agg.latest.occurred_at);
        Known {
            exists: self.exists,
            count: self.count,
            silenced: self.suppressed || self.stays_resolved(agg),
            reopens: self.reopens(agg),
            generation: self.created.clone(),
            latest: self.stored_latest.clone().filter(|l| l.at > t),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each plan is asserted as DynamoDB reads it: the whole update expression and the whole
    //! condition, with every alias replaced by its attribute name or value ([`Expr::render`]).
    //! The constants are the parts most plans share, so each test shows what differs.

    use super::*;
    use scan_failures_domain::event::{self, Occurrence, Parsed};
    use scan_failures_domain::group::transitions::transitions;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-25 10:05 UTC);
    const GROUP: &str = "9ee70a69-22e4-50e6-8a2b-11a12cebc343";

    /// Update parts: one occurrence's counts, its cluster `prod` seen at 10:00, its day.
    const COUNTS: &str = concat!(
        "SET #opCounts.#image_scan = if_not_exists(#opCounts.#image_scan, 0) + 1, ",
        "#originCounts.#roxctl = if_not_exists(#originCounts.#roxctl, 0) + 1, "
    );
    const PROD: &str = r#"#clusters.#prod = "2026-11-25T10:00:00.000Z", "#;
    const TODAY: &str = "#daily.#2026-11-25 = if_not_exists(#daily.#2026-11-25, 0) + 1";
    /// What every write of the newest occurrence (10:00) sets.
    const LATEST: &str = concat!(
        r#"#lastOccurredAt = "2026-11-25T10:00:00.000Z", "#,
        r#"#timeSk = "2026-11-25T10:00:00.000Z#9ee70a69-22e4-50e6-8a2b-11a12cebc343", "#,
        r#"#lastSk = "2026-11-25T10:00:00.000Z#9ee70a69-22e4-50e6-8a2b-11a12cebc343", "#,
        r#"#expiresAt = 1795946400, #message = "context deadline exceeded", #account = "123456789012", "#,
        r#"#region = "eu-west-1", #source = "test.producer""#
    );
    /// The end of an update of one occurrence: its count, and the day that left the window.
    const ADD_ONE: &str = " ADD #numOccurrences 1 REMOVE #daily.#2026-08-26";

    /// Condition parts: the optimistic belief about an occurrence at 10:00, piece by piece.
    /// In order, and not past the 4-day retention (`> now - 4 days`).
    const IN_ORDER: &str = concat!(
        r#"attribute_exists(#pk) AND #lastOccurredAt <= "2026-11-25T10:00:00.000Z" AND "#,
        r#"#lastOccurredAt > "2026-11-21T10:05:00.000Z" AND #createdAt <= "2026-11-25T10:00:00.000Z" AND "#
    );
    const SET_ROOM: &str = "(size(#clusters) <= 19 OR (attribute_exists(#clusters.#prod))) AND ";
    /// An older write's cluster the stored item saw later (10:02): left as stored, asserted later.
    const PROD_LATER: &str = r#"#clusters.#prod > "2026-11-25T10:00:00.000Z" AND "#;
    const DAY_ROOM: &str =
        "attribute_exists(#daily) AND (size(#daily) <= 91 OR (attribute_exists(#daily.#2026-11-25))) AND ";
    const NOT_RESOLVED: &str = r#"(attribute_not_exists(#triage) OR #triage <> "resolved")"#;
    /// What a write that may notify a crossing asserts of a group not read as a false positive.
    const NOT_FALSE_POSITIVE: &str = r#"(attribute_not_exists(#triage) OR #triage <> "false_positive")"#;

    /// An occurrence of `nginx:1.25` timing out on `cluster` at `at`, delivered as envelope `id`.
    fn occurrence(id: &str, cluster: &str, at: &str) -> Occurrence {
        let envelope = serde_json::json!({
            "version": "0", "id": id, "detail-type": "Image Scan Failed", "source": "test.producer",
            "account": "123456789012", "time": at, "region": "eu-west-1",
            "detail": {"operation": "image scan", "origin": "roxctl", "image": {"name": "nginx:1.25"},
                "cluster": cluster, "error": {"message": "context deadline exceeded"}}
        });
        match event::parse(envelope) {
            Ok(Parsed::Failure(o)) => *o,
            other => panic!("not a failure: {other:?}"),
        }
    }

    fn at_ten(id: &str) -> Occurrence {
        occurrence(id, "prod", "2026-11-25T10:00:00Z")
    }

    fn id() -> Uuid {
        Uuid::parse_str(GROUP).unwrap()
    }

    /// The plan of `occurrences` under `belief`, as (update, condition).
    fn planned(occurrences: &[&Occurrence], belief: &Belief, thresholds: Option<&[u64]>) -> (String, String) {
        let agg = Aggregate::of(occurrences).unwrap();
        let e = plan_update(&agg, &id(), belief, RetentionDays::default(), thresholds, NOW);
        let condition = e.condition_expression().unwrap_or_default();
        (e.render(&e.update_expression()), e.render(&condition))
    }

    /// The whole create of a group from one occurrence at 10:00 on `cluster`.
    fn created(cluster: &str) -> String {
        format!(
            concat!(
                r#"SET #resourceName = "docker.io/library/nginx:1.25", #repository = "docker.io/library/nginx", "#,
                r#"#reason = "TIMEOUT", #gsiAll = "ALL", #createdAt = "2026-11-25T10:00:00.000Z", "#,
                r#"#numOccurrences = 1, #opCounts = {{image_scan: 1}}, #originCounts = {{roxctl: 1}}, "#,
                r#"#clusters = {{{}: "2026-11-25T10:00:00.000Z"}}, #deployments = {{}}, #initiators = {{}}, "#,
                r#"#userAgents = {{}}, #daily = {{2026-11-25: 1}}, "#,
                // The writer's clock, kept if a former life recorded it.
                r#"#born = if_not_exists(#born, 1795601100), {}"#
            ),
            cluster, LATEST
        )
    }

    #[test]
    fn a_new_group_is_created_only_if_absent_with_every_field() {
        let (update, condition) = planned(&[&at_ten("e-1")], &Belief::default(), None);
        assert_eq!(update, created("prod"));
        assert_eq!(condition, "attribute_not_exists(#pk)");
    }

    #[test]
    fn a_repeat_in_order_adds_its_counts_and_asserts_the_optimistic_belief() {
        let (update, condition) = planned(&[&at_ten("e-2")], &Belief::optimistic(), None);
        assert_eq!(update, format!("{COUNTS}{PROD}{TODAY}, {LATEST}{ADD_ONE}"));
        assert_eq!(condition, format!("{IN_ORDER}{SET_ROOM}{DAY_ROOM}{NOT_RESOLVED}"));
    }

    #[test]
    fn a_repeat_that_names_a_digest_sets_it_on_the_group_and_an_older_one_does_not() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let with_digest = |id: &str, at: &str| {
            let mut o = occurrence(id, "prod", at);
            o.image.digest = Some(digest.clone());
            o
        };
        let (update, _) = planned(&[&with_digest("e-2", "2026-11-25T10:00:00Z")], &Belief::optimistic(), None);
        assert_eq!(update, format!(r#"{COUNTS}{PROD}{TODAY}, {LATEST}, #resourceId = "{digest}"{ADD_ONE}"#));
        let older = Belief { last: Some("2026-11-25T10:30:00.000Z".into()), ..Belief::optimistic() };
        let (update, _) = planned(&[&with_digest("e-3", "2026-11-25T10:00:00Z")], &older, None);
        assert!(!update.contains("resourceId"), "{update}");
    }

    #[test]
    fn an_occurrence_out_of_order_keeps_the_newer_fields_and_moves_created_at_back() {
        let o = occurrence("e-3", "prod", "2026-11-25T09:00:00Z");
        let belief = Belief {
            last: Some("2026-11-25T09:30:00.000Z".into()),
            created: Some("2026-11-25T09:10:00.000Z".into()),
            count: Some(4),
            ..Belief::optimistic()
        };
        let (update, condition) = planned(&[&o], &belief, None);
        assert_eq!(
            update,
            format!(
                r#"SET #createdAt = "2026-11-25T09:00:00.000Z", {}#clusters.#prod = "2026-11-25T09:00:00.000Z", {TODAY}{ADD_ONE}"#,
                COUNTS.trim_start_matches("SET ")
            )
        );
        assert_eq!(
            condition,
            format!(
                r#"attribute_exists(#pk) AND #lastOccurredAt > "2026-11-25T09:00:00.000Z" AND #createdAt > "2026-11-25T09:00:00.000Z" AND NOT (#clusters.#prod > "2026-11-25T09:00:00.000Z") AND {SET_ROOM}{DAY_ROOM}{NOT_RESOLVED}"#
            )
        );
    }

    #[test]
    fn a_merged_batch_sets_a_value_it_saw_earlier_only_where_the_stored_time_is_not_later() {
        let (early, late) = (occurrence("e-5", "stage", "2026-11-25T09:00:00Z"), at_ten("e-6"));
        let (update, condition) = planned(&[&early, &late], &Belief::optimistic(), None);
        assert!(
            update.contains(
                r#"#clusters.#prod = "2026-11-25T10:00:00.000Z", #clusters.#stage = "2026-11-25T09:00:00.000Z", "#
            ),
            "{update}"
        );
        assert!(condition.contains(r#"NOT (#clusters.#stage > "2026-11-25T09:00:00.000Z")"#), "{condition}");
        // Stored later (a later occurrence on `stage` came first): left as stored, and asserted so.
        let stored = HashMap::from([
            ("lastOccurredAt".to_owned(), AttributeValue::S("2026-11-25T09:30:00.000Z".into())),
            (
                "clusters".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "stage".to_owned(),
                    AttributeValue::S("2026-11-25T09:30:00.000Z".into()),
                )])),
            ),
        ]);
        let agg = Aggregate::of(&[&early, &late]).unwrap();
        let belief = Belief::from_stored(Some(&stored), &agg, NOW, RetentionDays::default());
        assert_eq!(belief.later, HashMap::from([("clusters", vec!["stage".to_owned()])]));
        let (update, condition) = planned(&[&early, &late], &belief, None);
        assert!(!update.contains("#clusters.#stage"), "{update}");
        assert!(update.contains(r#"#clusters.#prod = "2026-11-25T10:00:00.000Z""#), "{update}");
        assert!(condition.contains(r#"#clusters.#stage > "2026-11-25T09:00:00.000Z""#), "{condition}");
        // One occurrence (the direct path): every value is at the newest time, set as before.
        let (update, condition) = planned(&[&late], &belief, None);
        assert!(update.contains(PROD) && !condition.contains("#stage"), "{update} / {condition}");
    }

    #[test]
    fn a_full_remembered_set_asserts_its_size_and_evicts_the_least_recently_seen() {
        let belief = Belief {
            evictions: HashMap::from([("clusters", (20, vec!["old-cluster".to_owned()]))]),
            ..Belief::optimistic()
        };
        let (update, condition) = planned(&[&at_ten("e-4")], &belief, None);
        assert_eq!(
            update,
            format!("{COUNTS}{PROD}{TODAY}, {LATEST} ADD #numOccurrences 1 REMOVE #clusters.#old-cluster, #daily.#2026-08-26")
        );
        assert_eq!(
            condition,
            format!("{IN_ORDER}size(#clusters) = 20 AND attribute_exists(#clusters.#old-cluster) AND {DAY_ROOM}{NOT_RESOLVED}")
        );
    }

    #[test]
    fn a_full_per_day_map_asserts_its_size_and_evicts_the_oldest_days() {
        let belief = Belief {
            daily: DailyBelief::Stored { size: 92, evict: vec!["2026-08-20".to_owned(), "2026-08-21".to_owned()] },
            ..Belief::optimistic()
        };
        let (update, condition) = planned(&[&at_ten("e-5")], &belief, None);
        assert_eq!(
            update,
            format!(
                "{COUNTS}{PROD}{TODAY}, {LATEST} ADD #numOccurrences 1 REMOVE #daily.#2026-08-20, #daily.#2026-08-21"
            )
        );
        assert_eq!(
            condition,
            format!(
                "{IN_ORDER}{SET_ROOM}size(#daily) = 92 AND attribute_exists(#daily.#2026-08-20) AND \
                 attribute_exists(#daily.#2026-08-21) AND {NOT_RESOLVED}"
            )
        );
    }

    #[test]
    fn with_thresholds_the_optimistic_plan_asserts_no_threshold_is_crossed() {
        let (update, condition) = planned(&[&at_ten("e-6")], &Belief::optimistic(), Some(&[10, 100, 1000]));
        assert_eq!(update, format!("{COUNTS}{PROD}{TODAY}, {LATEST}{ADD_ONE}"));
        assert_eq!(
            condition,
            format!(
                "{IN_ORDER}{SET_ROOM}{DAY_ROOM}{NOT_RESOLVED} AND NOT (#numOccurrences BETWEEN 9 AND 9) AND \
                 NOT (#numOccurrences BETWEEN 99 AND 99) AND NOT (#numOccurrences BETWEEN 999 AND 999)"
            )
        );
    }

    #[test]
    fn a_threshold_crossing_asserts_the_stored_count_it_crosses_from() {
        let occurrences: Vec<Occurrence> = (0..3).map(|n| at_ten(&format!("e-7{n}"))).collect();
        let refs: Vec<&Occurrence> = occurrences.iter().collect();
        let belief = Belief { count: Some(8), ..Belief::optimistic() };
        let (update, condition) = planned(&refs, &belief, Some(&[10, 100, 1000]));
        assert_eq!(
            update,
            format!(
                "{}{PROD}{}, {LATEST} ADD #numOccurrences 3 REMOVE #daily.#2026-08-26",
                COUNTS.replace("+ 1", "+ 3"),
                TODAY.replace("+ 1", "+ 3")
            )
        );
        assert_eq!(
            condition,
            format!("{IN_ORDER}{SET_ROOM}{DAY_ROOM}{NOT_RESOLVED} AND #numOccurrences = 8 AND {NOT_FALSE_POSITIVE}")
        );
        let agg = Aggregate::of(&refs).unwrap();
        let made = transitions(Some(&[10, 100, 1000]), &agg, &id(), belief.known(&agg));
        assert_eq!(
            made.iter().map(|n| (n.transition, n.threshold)).collect::<Vec<_>>(),
            [("threshold_crossed", Some(10))]
        );
        // Read as a false positive: nothing is notified, and the write holds only while it is one.
        let fp = Belief { suppressed: true, ..belief };
        let (_, condition) = planned(&refs, &fp, Some(&[10, 100, 1000]));
        assert_eq!(
            condition,
            format!(
                r#"{IN_ORDER}{SET_ROOM}{DAY_ROOM}{NOT_RESOLVED} AND #numOccurrences = 8 AND #triage = "false_positive""#
            )
        );
        assert_eq!(transitions(Some(&[10, 100, 1000]), &agg, &id(), fp.known(&agg)), Vec::new());
    }

    #[test]
    fn a_resolved_group_notifies_no_threshold_its_late_occurrences_cross_and_a_reopen_does() {
        let occurrences: Vec<Occurrence> = (0..3).map(|n| at_ten(&format!("e-7{n}"))).collect();
        let refs: Vec<&Occurrence> = occurrences.iter().collect();
        let agg = Aggregate::of(&refs).unwrap();
        let resolved_at = |at: &str| Belief {
            count: Some(8),
            triage: TriageBelief::Resolved { at: at.into(), version: Some(1), history: Vec::new() },
            ..Belief::optimistic()
        };
        // Resolved at 10:01: the occurrences at 10:00 count, from 8 to 11, and tell no one.
        let late = resolved_at("2026-11-25T10:01:00.000Z");
        let (_, condition) = planned(&refs, &late, Some(&[10]));
        assert_eq!(
            condition,
            format!(
                r#"{IN_ORDER}{SET_ROOM}{DAY_ROOM}#triage = "resolved" AND #triageVersion = 1 AND #numOccurrences = 8"#
            )
        );
        assert_eq!(transitions(Some(&[10]), &agg, &id(), late.known(&agg)), Vec::new());
        // Resolved at 09:00: they reopen it, and the open group crosses 10.
        let reopened = resolved_at("2026-11-25T09:00:00.000Z");
        let made = transitions(Some(&[10]), &agg, &id(), reopened.known(&agg));
        assert_eq!(
            made.iter().map(|n| (n.transition, n.threshold)).collect::<Vec<_>>(),
            [("reopened", None), ("threshold_crossed", Some(10))]
        );
    }

    /// What a reopen at 10:05 by the occurrence at 10:00 sets, `history` being the stored
    /// entries after the new one, at triage version `next`.
    fn reopened(history: &str, next: u64) -> String {
        let note = "reopened: a failure occurred at 2026-11-25T10:00:00.000Z, after the group was resolved at 2026-11-25T08:00:00.000Z";
        format!(
            concat!(
                r#"#triage = "open", #triagedAt = "2026-11-25T10:05:00.000Z", #triagedBy = "ingest", "#,
                r#"#triageNote = "{note}", #triageHistory = [{{at: "2026-11-25T10:05:00.000Z", by: "ingest", "#,
                r#"note: "{note}", state: "open"}}{history}], #triageVersion = {next}, "#
            ),
            note = note,
            history = history,
            next = next
        )
    }

    #[test]
    fn a_failure_after_the_resolve_time_reopens_the_group_under_its_triage_version() {
        let o = at_ten("e-8");
        let resolved = TriageEntry {
            state: "resolved".into(),
            at: "2026-11-25T08:00:00.000Z".into(),
            by: "arn:aws:iam::123456789012:user/alice".into(),
            note: None,
        };
        let belief = Belief {
            triage: TriageBelief::Resolved {
                at: "2026-11-25T08:00:00.000Z".into(),
                version: Some(2),
                history: vec![resolved],
            },
            ..Belief::optimistic()
        };
        assert_eq!(belief.reopens(&Aggregate::of(&[&o]).unwrap()), Some(2));
        let (update, condition) = planned(&[&o], &belief, None);
        let earlier =
            r#", {at: "2026-11-25T08:00:00.000Z", by: "arn:aws:iam::123456789012:user/alice", state: "resolved"}"#;
        assert_eq!(update, format!("{COUNTS}{PROD}{TODAY}, {}{LATEST}{ADD_ONE}", reopened(earlier, 3)));
        assert_eq!(condition, format!(r#"{IN_ORDER}{SET_ROOM}{DAY_ROOM}#triage = "resolved" AND #triageVersion = 2"#));
    }

    /// The stored item a cancellation returns: a group last seen at `last` with `clusters`.
    fn stored(last: &str, count: u64, clusters: &[(&str, &str)], extra: &[(&str, AttributeValue)]) -> item::Item {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut item = HashMap::from([
            ("pk".to_owned(), s(&format!("g#{GROUP}"))),
            ("lastOccurredAt".to_owned(), s(last)),
            ("createdAt".to_owned(), s("2026-11-24T00:00:00.000Z")),
            ("numOccurrences".to_owned(), AttributeValue::N(count.to_string())),
            ("clusters".to_owned(), AttributeValue::M(clusters.iter().map(|(k, t)| ((*k).to_owned(), s(t))).collect())),
            (
                "daily".to_owned(),
                AttributeValue::M(HashMap::from([("2026-11-24".to_owned(), AttributeValue::N("1".into()))])),
            ),
        ]);
        item.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        item
    }

    /// The re-plan after a cancellation, from the stored item it returned.
    fn replanned(o: &Occurrence, item: Option<&item::Item>, thresholds: Option<&[u64]>) -> (String, String) {
        let agg = Aggregate::of(&[o]).unwrap();
        planned(&[o], &Belief::from_stored(item, &agg, NOW, RetentionDays::default()), thresholds)
    }

    #[test]
    fn after_a_cancellation_without_an_item_the_re_plan_creates_the_group() {
        let (update, condition) = replanned(&at_ten("e-9"), None, Some(&[10]));
        assert_eq!(update, created("prod"));
        assert_eq!(condition, "attribute_not_exists(#pk)");
    }

    #[test]
    fn after_a_cancellation_by_a_newer_occurrence_the_re_plan_is_out_of_order_and_asserts_the_count() {
        let item = stored("2026-11-25T10:02:00.000Z", 9, &[("prod", "2026-11-25T10:02:00.000Z")], &[]);
        let (update, condition) = replanned(&at_ten("e-10"), Some(&item), Some(&[10]));
        assert_eq!(update, format!(r#"{COUNTS}{TODAY}{ADD_ONE}"#));
        assert_eq!(
            condition,
            format!(
                r#"attribute_exists(#pk) AND #lastOccurredAt > "2026-11-25T10:00:00.000Z" AND #createdAt <= "2026-11-25T10:00:00.000Z" AND {PROD_LATER}{SET_ROOM}{DAY_ROOM}{NOT_RESOLVED} AND #numOccurrences = 9 AND {NOT_FALSE_POSITIVE}"#
            )
        );
    }

    /// A late occurrence that crosses a threshold notifies it with the group's latest occurrence
    /// as stored (time, digest, account, region), not its own: before, "threshold 10" said the
    /// group last failed at 10:00 when the item said 10:02. A write of the newest tells its own.
    #[test]
    fn a_threshold_crossed_by_a_late_occurrence_tells_of_the_groups_latest_occurrence() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let extra = [("resourceId", s(&digest)), ("account", s("210987654321")), ("region", s("eu-central-1"))];
        let group = Uuid::parse_str(GROUP).unwrap();
        let told = |last: &str| {
            let item = stored(last, 9, &[("prod", last)], &extra);
            let o = at_ten("e-10");
            let agg = Aggregate::of(&[&o]).unwrap();
            let belief = Belief::from_stored(Some(&item), &agg, NOW, RetentionDays::default());
            let made = transitions(Some(&[10]), &agg, &group, belief.known(&agg));
            assert_eq!(made.len(), 1);
            let n = &made[0];
            (n.last_occurred_at.clone(), n.resource_id.clone(), n.account.clone(), n.region.clone())
        };
        assert_eq!(
            told("2026-11-25T10:02:00.000Z"),
            ("2026-11-25T10:02:00.000Z".to_owned(), Some(digest), "210987654321".to_owned(), "eu-central-1".to_owned())
        );
        let own = at_ten("e-10");
        assert_eq!(
            told("2026-11-25T09:00:00.000Z"),
            ("2026-11-25T10:00:00.000Z".to_owned(), None, own.envelope.account.clone(), own.envelope.region.clone())
        );
    }

    /// A re-plan whose write crosses no threshold from the stored count asserts no threshold is
    /// crossed, not the count: another write to the group in between leaves it valid.
    #[test]
    fn a_re_plan_that_crosses_no_threshold_asserts_the_range_not_the_stored_count() {
        let item = stored("2026-11-25T10:02:00.000Z", 42, &[("prod", "2026-11-25T10:02:00.000Z")], &[]);
        let (_, condition) = replanned(&at_ten("e-12"), Some(&item), Some(&[10, 100]));
        assert_eq!(
            condition,
            format!(
                r#"attribute_exists(#pk) AND #lastOccurredAt > "2026-11-25T10:00:00.000Z" AND #createdAt <= "2026-11-25T10:00:00.000Z" AND {PROD_LATER}{SET_ROOM}{DAY_ROOM}{NOT_RESOLVED} AND NOT (#numOccurrences BETWEEN 9 AND 9) AND NOT (#numOccurrences BETWEEN 99 AND 99)"#
            )
        );
    }

    #[test]
    fn after_a_cancellation_on_a_full_set_the_re_plan_evicts_the_least_recently_seen_entry() {
        let o = occurrence("e-11", "new-cluster", "2026-11-25T10:00:00Z");
        let (update, condition) = replanned(&o, Some(&full_set()), None);
        assert_eq!(
            update,
            format!(
                r#"{COUNTS}#clusters.#new-cluster = "2026-11-25T10:00:00.000Z", {TODAY}, {LATEST} ADD #numOccurrences 1 REMOVE #clusters.#c00, #daily.#2026-08-26"#
            )
        );
        assert_eq!(
            condition,
            format!("{IN_ORDER}size(#clusters) = 20 AND attribute_exists(#clusters.#c00) AND {DAY_ROOM}{NOT_RESOLVED}")
        );
    }

    /// A full set of `c00`..`c19` seen at 09:00..09:19, the group last seen at 09:59.
    fn full_set() -> item::Item {
        let names: Vec<String> = (0..20).map(|n| format!("c{n:02}")).collect();
        let times: Vec<String> = (0..20).map(|n| format!("2026-11-25T09:{n:02}:00.000Z")).collect();
        let clusters: Vec<(&str, &str)> = names.iter().zip(&times).map(|(n, t)| (n.as_str(), t.as_str())).collect();
        stored("2026-11-25T09:59:00.000Z", 40, &clusters, &[])
    }

    /// The set keeps the 20 most recently seen: a late occurrence's new value, seen before every
    /// stored one, is not remembered (and nothing is evicted for it); it is asserted still absent.
    #[test]
    fn a_late_value_older_than_every_entry_of_a_full_set_is_left_out_not_swapped_for_a_newer_one() {
        let o = occurrence("e-14", "late", "2026-11-25T08:00:00Z");
        let (update, condition) = replanned(&o, Some(&full_set()), None);
        assert!(!update.contains("#late") && !update.contains("REMOVE #clusters"), "{update}");
        assert!(
            condition.contains("attribute_not_exists(#clusters.#late) AND size(#clusters) = 20 AND "),
            "{condition}"
        );
    }

    /// A late value seen after some stored entries takes the place of the least recently seen.
    #[test]
    fn a_late_value_newer_than_some_entries_of_a_full_set_evicts_the_least_recently_seen() {
        let o = occurrence("e-15", "late", "2026-11-25T09:05:30Z");
        let (update, condition) = replanned(&o, Some(&full_set()), None);
        assert!(update.contains("REMOVE #clusters.#c00"), "{update}");
        assert!(
            condition.contains(concat!(
                r#"NOT (#clusters.#late > "2026-11-25T09:05:30.000Z") AND size(#clusters) = 20 AND "#,
                "attribute_exists(#clusters.#c00) AND "
            )),
            "{condition}"
        );
        assert!(update.contains(r#"#clusters.#late = "2026-11-25T09:05:30.000Z""#), "{update}");
    }

    #[test]
    fn after_a_cancellation_on_a_resolved_group_the_re_plan_reopens_it() {
        let item = stored(
            "2026-11-25T07:00:00.000Z",
            3,
            &[("prod", "2026-11-25T07:00:00.000Z")],
            &[
                ("triage", AttributeValue::S("resolved".into())),
                ("triagedAt", AttributeValue::S("2026-11-25T08:00:00.000Z".into())),
                ("triageVersion", AttributeValue::N("1".into())),
            ],
        );
        let (update, condition) = replanned(&at_ten("e-12"), Some(&item), None);
        assert_eq!(update, format!("{COUNTS}{PROD}{TODAY}, {}{LATEST}{ADD_ONE}", reopened("", 2)));
        assert_eq!(condition, format!(r#"{IN_ORDER}{SET_ROOM}{DAY_ROOM}#triage = "resolved" AND #triageVersion = 1"#));
    }

    #[test]
    fn after_a_cancellation_on_a_group_without_per_day_counts_the_re_plan_writes_the_whole_map() {
        let mut item = stored("2026-11-25T09:00:00.000Z", 3, &[("prod", "2026-11-25T09:00:00.000Z")], &[]);
        item.remove("daily");
        let (update, condition) = replanned(&at_ten("e-13"), Some(&item), None);
        assert_eq!(update, format!("{COUNTS}{PROD}#daily = {{2026-11-25: 1}}, {LATEST} ADD #numOccurrences 1"));
        assert_eq!(condition, format!("{IN_ORDER}{SET_ROOM}attribute_not_exists(#daily) AND {NOT_RESOLVED}"));
    }

    #[test]
    fn after_a_cancellation_by_a_seen_envelope_the_re_plan_counts_only_the_others_optimistically() {
        let (first, second) = (at_ten("e-14"), at_ten("e-15"));
        let agg = Aggregate::of(&[&first, &second]).unwrap();
        let rest = agg.without(&[&first, &second], &["e-14"]).unwrap();
        assert_eq!(rest.event_ids, ["e-15"]);
        let e = plan_update(&rest, &id(), &Belief::optimistic(), RetentionDays::default(), None, NOW);
        assert_eq!(e.render(&e.update_expression()), format!("{COUNTS}{PROD}{TODAY}, {LATEST}{ADD_ONE}"));
        assert_eq!(
            e.render(&e.condition_expression().unwrap_or_default()),
            format!("{IN_ORDER}{SET_ROOM}{DAY_ROOM}{NOT_RESOLVED}")
        );
    }

    /// Before: an item past the retention that TTL had not deleted yet was added to, keeping
    /// its old count, `createdAt` and triage. Now the optimistic plan asserts it is not past the
    /// retention (`IN_ORDER`), and the re-plan from the expired item replaces it whole.
    #[test]
    fn after_a_cancellation_on_an_expired_group_the_re_plan_starts_it_anew() {
        let item = stored(
            "2026-11-20T09:00:00.000Z",
            57,
            &[("old-cluster", "2026-11-20T09:00:00.000Z")],
            &[
                ("triage", AttributeValue::S("false_positive".into())),
                ("triageVersion", AttributeValue::N("3".into())),
                ("resourceId", AttributeValue::S(format!("sha256:{}", "a".repeat(64)))),
            ],
        );
        let o = at_ten("e-16");
        let agg = Aggregate::of(&[&o]).unwrap();
        let belief = Belief::from_stored(Some(&item), &agg, NOW, RetentionDays::default());
        assert!(belief.expired);
        let (update, condition) = replanned(&o, Some(&item), Some(&[10]));
        assert_eq!(
            update,
            format!(
                "{} REMOVE #triage, #triagedAt, #triagedBy, #triageNote, #triageHistory, #triageVersion, #resourceId",
                created("prod")
            )
        );
        assert_eq!(condition, r#"attribute_exists(#pk) AND #lastOccurredAt = "2026-11-20T09:00:00.000Z""#);
        let made = transitions(Some(&[10]), &agg, &id(), belief.known(&agg));
        assert_eq!(made.iter().map(|n| n.transition).collect::<Vec<_>>(), ["opened"]);
        let first = occurrence("e-1", "old-cluster", "2026-11-20T09:00:00Z");
        let first_agg = Aggregate::of(&[&first]).unwrap();
        let first_life = transitions(Some(&[10]), &first_agg, &id(), Belief::default().known(&first_agg));
        assert_ne!(made[0].notification_id, first_life[0].notification_id);
    }

    #[test]
    fn every_life_of_a_group_notifies_under_ids_derived_from_its_start() {
        // A group TTL deleted and seen again has no item left to tell it apart from its first
        // life: only the start of each life makes their "opened" two notifications.
        let first = at_ten("e-1");
        let reborn = occurrence("e-2", "prod", "2026-12-09T10:00:00Z");
        let opened = |o: &Occurrence| {
            let agg = Aggregate::of(&[o]).unwrap();
            transitions(Some(&[10]), &agg, &id(), Belief::default().known(&agg)).remove(0)
        };
        let (a, b) = (opened(&first), opened(&reborn));
        assert_eq!((a.transition, b.transition), ("opened", "opened"));
        assert_ne!(a.notification_id, b.notification_id);
        assert_eq!(a.notification_id, opened(&first).notification_id, "stable within a life");
        assert_eq!(
            a.notification_id,
            Uuid::new_v5(&id(), b"opened@2026-11-25T10:00:00.000Z").to_string(),
            "the transition and the life's start"
        );
        // A threshold later in that life is planned from the stored item: its id has the life's
        // `createdAt` as stored then.
        let item = stored("2026-11-25T10:00:00.000Z", 9, &[("prod", "2026-11-25T10:00:00.000Z")], &[]);
        let later = occurrence("e-3", "prod", "2026-11-25T10:05:00Z");
        let agg = Aggregate::of(&[&later]).unwrap();
        let known = Belief::from_stored(Some(&item), &agg, NOW, RetentionDays::default()).known(&agg);
        let crossed = transitions(Some(&[10]), &agg, &id(), known);
        assert_eq!(crossed.len(), 1);
        assert_eq!(
            crossed[0].notification_id,
            Uuid::new_v5(&id(), b"threshold:10@2026-11-24T00:00:00.000Z").to_string()
        );
    }
}
