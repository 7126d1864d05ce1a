//! A failure group as stored: one item per distinct failure of one image.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Most entries kept in each of a group's remembered sets (clusters, deployments, initiators,
/// user agents). The least recently seen entry is evicted first.
pub const MAX_SET_ENTRIES: usize = 20;

/// The stored item of a group. Times are `time_fmt` strings; `expiresAt` is epoch seconds.
///
/// Decode items with [`GroupRecord::from_item`]: the fields in [`DERIVED_ATTRIBUTES`] are not
/// stored by the write path, because every byte of the item is paid for on every occurrence
/// (1 WCU per KiB, twice inside the transaction; a typical group sits just above or below 1 KiB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    /// From the item's key `g#<id>`.
    #[serde(default)]
    pub id: String,
    #[serde(default = "default_domain")]
    pub domain: String,
    #[serde(default = "default_resource_type")]
    pub resource_type: String,
    pub resource_name: String,
    #[serde(default)]
    pub resource_id: Option<String>,
    pub repository: String,
    /// From `resource_name`.
    #[serde(default)]
    pub registry: String,
    pub reason: String,
    /// From `reason`.
    #[serde(default)]
    pub level: String,
    pub message: String,
    pub num_occurrences: u64,
    pub created_at: String,
    pub last_occurred_at: String,
    pub expires_at: i64,
    pub account: String,
    pub region: String,
    pub source: String,
    /// Occurrences per operation (`image_scan`, ...).
    #[serde(default)]
    pub op_counts: HashMap<String, u64>,
    /// Occurrences per origin (`roxctl`, `api`).
    #[serde(default)]
    pub origin_counts: HashMap<String, u64>,
    /// Value → last time seen, at most [`MAX_SET_ENTRIES`] each.
    #[serde(default)]
    pub clusters: HashMap<String, String>,
    #[serde(default)]
    pub deployments: HashMap<String, String>,
    #[serde(default)]
    pub initiators: HashMap<String, String>,
    #[serde(default)]
    pub user_agents: HashMap<String, String>,
}

/// Attributes of [`GroupRecord`] that follow from others and are not stored.
pub const DERIVED_ATTRIBUTES: [&str; 5] = ["id", "domain", "resourceType", "registry", "level"];

fn default_domain() -> String {
    crate::fingerprint::DOMAIN.to_owned()
}

fn default_resource_type() -> String {
    crate::fingerprint::RESOURCE_TYPE.to_owned()
}

impl GroupRecord {
    /// Decodes a stored group item, filling in the [`DERIVED_ATTRIBUTES`].
    pub fn from_item(
        item: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    ) -> Result<Self, serde_dynamo::Error> {
        let key = item.get(crate::schema::PARTITION_KEY).and_then(|v| v.as_s().ok()).cloned();
        let mut g: GroupRecord = serde_dynamo::from_item(item)?;
        if g.id.is_empty() {
            if let Some(id) = key.as_deref().and_then(|k| k.strip_prefix(crate::store::GROUP_KEY_PREFIX)) {
                id.clone_into(&mut g.id);
            }
        }
        if g.level.is_empty() {
            if let Some(reason) = crate::classify::Reason::from_code(&g.reason) {
                reason.level().as_str().clone_into(&mut g.level);
            }
        }
        if g.registry.is_empty() {
            if let Ok(image) = crate::image::ImageRef::parse(&g.resource_name) {
                g.registry = image.registry;
            }
        }
        Ok(g)
    }

    /// The item the write path leaves for this record: its stored attributes (no nulls, none
    /// of the [`DERIVED_ATTRIBUTES`]) with the table's and the indexes' keys. For seeding tables
    /// in tests and benchmarks, so that they hold what production holds.
    pub fn to_item(&self) -> Result<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, serde_dynamo::Error> {
        use crate::schema::{self, SortKey, ALL_PARTITION, PARTITION_KEY};
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(self)?;
        item.retain(|k, v| !matches!(v, AttributeValue::Null(_)) && !DERIVED_ATTRIBUTES.contains(&k.as_str()));
        item.insert(PARTITION_KEY.into(), AttributeValue::S(crate::store::group_key(&self.id)));
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

/// The remembered sets of a group, most recently seen first (ties by value).
pub fn most_recent_first(set: &HashMap<String, String>) -> Vec<String> {
    let mut entries: Vec<(&String, &String)> = set.iter().collect();
    entries.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    entries.into_iter().map(|(k, _)| k.clone()).collect()
}

/// What a group item holds beyond [`GroupRecord`]: its triage and per-day counts. Kept apart so
/// that the record's fields, which other code builds literally, stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupState {
    pub triage: crate::triage::Triage,
    /// `YYYY-MM-DD` → occurrences that day (see [`crate::daily`]).
    pub daily: std::collections::BTreeMap<String, u64>,
}

impl GroupState {
    pub fn of_item(item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> Self {
        Self { triage: crate::triage::Triage::of_item(item), daily: crate::daily::of_item(item) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

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
}
