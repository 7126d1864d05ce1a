//! Stored items and the domain's types: a group's record, its triage and per-day counts. The
//! attribute names are the item's; the domain never sees an `AttributeValue`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use scan_failures_domain::group::daily;
use scan_failures_domain::group::triage::{Triage, TriageEntry, TriageState, MAX_HISTORY};
use scan_failures_domain::group::{GroupRecord, GroupState, DERIVED_ATTRIBUTES};

use crate::dynamo::schema::{self, SortKey, ALL_PARTITION, PARTITION_KEY};
use crate::dynamo::{group_key, GROUP_KEY_PREFIX};

/// A stored item.
pub type Item = HashMap<String, AttributeValue>;

/// `item` decoded as `T`; an error names an attribute of a type this build's SDK does not know
/// (its `Unknown`, as when DynamoDB adds one), which serde_dynamo's conversion panics on.
pub fn decode<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, serde_dynamo::Error> {
    fn known(v: &AttributeValue) -> bool {
        match v {
            AttributeValue::L(l) => l.iter().all(known),
            AttributeValue::M(m) => m.values().all(known),
            _ => !v.is_unknown(),
        }
    }
    if let Some(name) = item.iter().find_map(|(k, v)| (!known(v)).then_some(k)) {
        let name = scan_failures_domain::text::prefix(name, 64);
        return Err(serde::de::Error::custom(format!(
            "attribute {name:?} is of a type this build does not know: deploy a newer one"
        )));
    }
    serde_dynamo::from_item(item)
}

/// The stored triage attribute names.
pub mod attr {
    pub const STATE: &str = "triage";
    pub const AT: &str = "triagedAt";
    pub const BY: &str = "triagedBy";
    pub const NOTE: &str = "triageNote";
    pub const HISTORY: &str = "triageHistory";
    /// Incremented by every triage change; the optimistic-concurrency token of the
    /// read-modify-write on the API path and of the reopen on the ingest path.
    pub const VERSION: &str = "triageVersion";
    /// The last rebuild of the rollups that marked the group (`rollup::generation`). Short,
    /// as [`BORN`]: every byte of a group is paid for again on each of its occurrences.
    pub const MARK: &str = "rgen";
    /// When the group's item was first stored (epoch seconds), by its writer's clock: written
    /// by the ingest path on creation, read by a rebuild of the rollups.
    pub const BORN: &str = "born";
}

/// A group record as a stored item, and back.
pub trait GroupItem: Sized {
    /// Decodes a stored group item, filling in the [`DERIVED_ATTRIBUTES`].
    fn from_item(item: Item) -> Result<Self, serde_dynamo::Error>;
    /// The item the write path leaves for this record: its stored attributes (no nulls, none of
    /// the [`DERIVED_ATTRIBUTES`]) with the table's and the indexes' keys. For seeding tables in
    /// tests and benchmarks, so that they hold what production holds.
    fn to_item(&self) -> Result<Item, serde_dynamo::Error>;
}

impl GroupItem for GroupRecord {
    fn from_item(item: Item) -> Result<Self, serde_dynamo::Error> {
        let key = item.get(PARTITION_KEY).and_then(|v| v.as_s().ok()).cloned();
        let mut g: GroupRecord = decode(item)?;
        if g.id.is_empty() {
            if let Some(id) = key.as_deref().and_then(|k| k.strip_prefix(GROUP_KEY_PREFIX)) {
                id.clone_into(&mut g.id);
            }
        }
        g.fill_derived();
        Ok(g)
    }

    fn to_item(&self) -> Result<Item, serde_dynamo::Error> {
        let mut item: Item = serde_dynamo::to_item(self)?;
        item.retain(|k, v| !matches!(v, AttributeValue::Null(_)) && !DERIVED_ATTRIBUTES.contains(&k.as_str()));
        item.insert(PARTITION_KEY.into(), AttributeValue::S(group_key(&self.id)));
        item.insert(schema::BY_TIME.partition_key.into(), AttributeValue::S(ALL_PARTITION.into()));
        for key in [SortKey::Exact, SortKey::Bucketed] {
            let value = key.value_of(&self.last_occurred_at, &self.id).ok_or_else(|| {
                <serde_dynamo::Error as serde::ser::Error>::custom(format!(
                    "lastOccurredAt {:?} is not a timestamp",
                    self.last_occurred_at
                ))
            })?;
            item.insert(key.attribute().into(), AttributeValue::S(value));
        }
        Ok(item)
    }
}

/// What a group item holds beyond its record: its triage and per-day counts.
pub trait StateItem {
    fn of_item(item: &Item) -> Self;
}

impl StateItem for GroupState {
    fn of_item(item: &Item) -> Self {
        Self { triage: triage(item), daily: daily(item) }
    }
}

/// The stored triage state; an absent or unknown value (written by a later version) is `open`.
pub fn triage_state(item: &Item) -> TriageState {
    item.get(attr::STATE).and_then(|v| v.as_s().ok()).and_then(|s| TriageState::parse(s)).unwrap_or_default()
}

/// The triage attributes of a stored group.
pub fn triage(item: &Item) -> Triage {
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let history = item
        .get(attr::HISTORY)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(entry_of).take(MAX_HISTORY).collect())
        .unwrap_or_default();
    let version = item.get(attr::VERSION).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
    Triage { state: triage_state(item), at: s(attr::AT), by: s(attr::BY), note: s(attr::NOTE), history, version }
}

/// The stored per-day counts; entries that are not counts are skipped.
pub fn daily(item: &Item) -> BTreeMap<String, u64> {
    item.get(daily::ATTRIBUTE)
        .and_then(|v| v.as_m().ok())
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?))).collect())
        .unwrap_or_default()
}

/// One history entry as stored.
pub fn entry_attribute(e: &TriageEntry) -> AttributeValue {
    let mut m = HashMap::from([
        ("state".to_owned(), AttributeValue::S(e.state.clone())),
        ("at".to_owned(), AttributeValue::S(e.at.clone())),
        ("by".to_owned(), AttributeValue::S(e.by.clone())),
    ]);
    if let Some(n) = &e.note {
        m.insert("note".to_owned(), AttributeValue::S(n.clone()));
    }
    AttributeValue::M(m)
}

fn entry_of(v: &AttributeValue) -> Option<TriageEntry> {
    let m = v.as_m().ok()?;
    let s = |k: &str| m.get(k).and_then(|v| v.as_s().ok()).cloned();
    Some(TriageEntry { state: s("state")?, at: s("at")?, by: s("by")?, note: s("note") })
}

/// The stored history as a DynamoDB list.
pub fn history_attribute(history: &[TriageEntry]) -> AttributeValue {
    AttributeValue::L(history.iter().map(entry_attribute).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> TriageEntry {
        TriageEntry { state: "acknowledged".into(), at: format!("t{n:02}"), by: "me".into(), note: None }
    }

    #[test]
    fn derived_attributes_are_filled_in_from_the_key_reason_and_resource_name() {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let item = HashMap::from([
            ("pk".to_owned(), s("g#9ee70a69-22e4-50e6-8a2b-11a12cebc343")),
            ("resourceName".to_owned(), s("quay.io/acme/web:1.4")),
            ("repository".to_owned(), s("quay.io/acme/web")),
            ("reason".to_owned(), s("REGISTRY_UNAUTHORIZED")),
            ("message".to_owned(), s("unauthorized")),
            ("numOccurrences".to_owned(), AttributeValue::N("3".into())),
            ("createdAt".to_owned(), s("2026-11-25T10:01:00.000Z")),
            ("lastOccurredAt".to_owned(), s("2026-11-25T10:02:00.000Z")),
            ("expiresAt".to_owned(), AttributeValue::N("1795946460".into())),
            ("account".to_owned(), s("123456789012")),
            ("region".to_owned(), s("eu-west-1")),
            ("source".to_owned(), s("com.example.roxctl")),
        ]);
        let g = GroupRecord::from_item(item).unwrap();
        assert_eq!(
            (g.id.as_str(), g.domain.as_str(), g.resource_type.as_str(), g.registry.as_str(), g.level.as_str()),
            ("9ee70a69-22e4-50e6-8a2b-11a12cebc343", "Image Scanning", "Image", "quay.io", "ERROR")
        );
    }

    #[test]
    fn the_stored_attributes_read_back_and_unknown_states_are_open() {
        let history = vec![entry(2), TriageEntry { note: Some("why".into()), ..entry(1) }];
        let item = HashMap::from([
            (attr::STATE.to_owned(), AttributeValue::S("resolved".into())),
            (attr::AT.to_owned(), AttributeValue::S("2026-11-25T10:00:00.000Z".into())),
            (attr::BY.to_owned(), AttributeValue::S("arn:aws:iam::123456789012:user/alice".into())),
            (attr::HISTORY.to_owned(), history_attribute(&history)),
            (attr::VERSION.to_owned(), AttributeValue::N("2".into())),
        ]);
        let t = triage(&item);
        assert_eq!(t.state, TriageState::Resolved);
        assert_eq!(t.history, history);
        assert_eq!(t.version, Some(2));
        assert_eq!(t.note, None);
        assert_eq!(triage(&HashMap::new()), Triage::default());
        let later = HashMap::from([(attr::STATE.to_owned(), AttributeValue::S("snoozed".into()))]);
        assert_eq!(triage_state(&later), TriageState::Open);
    }
}
