//! A failure group as stored: one item per distinct failure of one image.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Most entries kept in each of a group's remembered sets (clusters, deployments, initiators,
/// user agents). The least recently seen entry is evicted first.
pub const MAX_SET_ENTRIES: usize = 20;

/// The stored item of a group. Times are `time_fmt` strings; `expiresAt` is epoch seconds.
///
/// The fields in [`DERIVED_ATTRIBUTES`] are not stored by the write path (the DynamoDB adapter
/// fills them in when it decodes an item), because every byte of the item is paid for on every occurrence
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
    pub triage: super::triage::Triage,
    /// `YYYY-MM-DD` → occurrences that day (see [`super::daily`]).
    pub daily: std::collections::BTreeMap<String, u64>,
}

impl GroupRecord {
    /// Fills in the [`DERIVED_ATTRIBUTES`] that follow from the stored ones (`level` from
    /// `reason`, `registry` from `resourceName`) where they are empty.
    pub fn fill_derived(&mut self) {
        if self.level.is_empty() {
            if let Some(reason) = crate::classify::Reason::from_code(&self.reason) {
                reason.level().as_str().clone_into(&mut self.level);
            }
        }
        if self.registry.is_empty() {
            if let Ok(image) = crate::image::ImageRef::parse(&self.resource_name) {
                self.registry = image.registry;
            }
        }
    }
}
