//! A failure group as stored: one item per distinct failure of one image.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Most entries kept in each of a group's remembered sets (clusters, deployments, initiators,
/// user agents). The least recently seen entry is evicted first.
pub const MAX_SET_ENTRIES: usize = 20;

/// The stored item of a group. Times are `time_fmt` strings; `expiresAt` is epoch seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    pub id: String,
    pub domain: String,
    pub resource_type: String,
    pub resource_name: String,
    #[serde(default)]
    pub resource_id: Option<String>,
    pub repository: String,
    pub registry: String,
    pub reason: String,
    pub level: String,
    pub message: String,
    pub num_occurrences: u64,
    pub created_at: String,
    pub last_occurred_at: String,
    pub expires_at: i64,
    pub account: String,
    pub region: String,
    pub source: String,
    pub last_event_id: String,
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
