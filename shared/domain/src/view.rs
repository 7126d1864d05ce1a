//! The API's JSON for a failure group: the reference product's administration-event shape,
//! plus the `scanFailure` extension for what the reference lacks.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use time::OffsetDateTime;

use crate::classify::Reason;
use crate::event::{Operation, Origin};
use crate::group::triage::TriageEntry;
use crate::group::{most_recent_first, GroupRecord, GroupState};
use crate::time_fmt;

/// The event type every group has, in the reference product's enum.
pub const EVENT_TYPE: &str = "ADMINISTRATION_EVENT_TYPE_LOG_MESSAGE";

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdministrationEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub level: String,
    pub message: String,
    pub hint: &'static str,
    pub domain: String,
    pub resource: Resource,
    /// An int64 as protobuf JSON writes it: a string.
    pub num_occurrences: String,
    pub last_occurred_at: String,
    pub created_at: String,
    pub scan_failure: ScanFailure,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Resource {
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The digest when known, else empty (as the reference leaves unknown ids).
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScanFailure {
    pub reason: String,
    pub reason_title: &'static str,
    pub operation_counts: BTreeMap<String, u64>,
    pub origin_counts: BTreeMap<String, u64>,
    pub clusters: Vec<String>,
    pub deployments: Vec<String>,
    pub initiators: Vec<String>,
    pub user_agents: Vec<String>,
    pub repository: String,
    pub registry: String,
    pub account: String,
    pub region: String,
    pub source: String,
    pub expires_at: String,
    /// The group's triage: every route writes it (`with_state`); `None` only in an event built
    /// from the record alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triage: Option<TriageView>,
}

/// A group's triage as the API shows it.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TriageView {
    /// `open` (also for groups never triaged), `acknowledged`, `false_positive` or `resolved`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triaged_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triaged_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Newest first, at most 20; shown by the get and triage routes only, to keep pages small.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<TriageEntry>,
    /// What a triage request's `ifVersion` names ([`crate::group::triage::Triage::shown_version`]).
    pub version: u64,
}

fn counts(stored: &HashMap<String, u64>, name: impl Fn(&str) -> Option<&'static str>) -> BTreeMap<String, u64> {
    stored.iter().filter_map(|(k, v)| name(k).map(|n| (n.to_owned(), *v))).collect()
}

impl From<&GroupRecord> for AdministrationEvent {
    fn from(g: &GroupRecord) -> Self {
        let reason = Reason::from_code(&g.reason).unwrap_or(Reason::Unknown);
        let expires_at = OffsetDateTime::from_unix_timestamp(g.expires_at).map(time_fmt::format).unwrap_or_default();
        Self {
            id: g.id.clone(),
            event_type: EVENT_TYPE,
            level: crate::classify::acs_level(&g.level),
            message: g.message.clone(),
            hint: reason.hint(),
            domain: g.domain.clone(),
            resource: Resource {
                resource_type: g.resource_type.clone(),
                id: g.resource_id.clone().unwrap_or_default(),
                name: g.resource_name.clone(),
            },
            num_occurrences: g.num_occurrences.to_string(),
            last_occurred_at: g.last_occurred_at.clone(),
            created_at: g.created_at.clone(),
            scan_failure: ScanFailure {
                reason: g.reason.clone(),
                reason_title: reason.title(),
                operation_counts: counts(&g.op_counts, |k| {
                    Operation::ALL.into_iter().find(|o| o.key() == k).map(Operation::as_str)
                }),
                origin_counts: counts(&g.origin_counts, |k| Origin::parse(k).map(Origin::as_str)),
                clusters: most_recent_first(&g.clusters),
                deployments: most_recent_first(&g.deployments),
                initiators: most_recent_first(&g.initiators),
                user_agents: most_recent_first(&g.user_agents),
                repository: g.repository.clone(),
                registry: g.registry.clone(),
                account: g.account.clone(),
                region: g.region.clone(),
                source: g.source.clone(),
                expires_at,
                triage: None,
            },
        }
    }
}

impl AdministrationEvent {
    /// The event of `g` with its triage from `state`, with the history when `history` is set.
    pub fn with_state(g: &GroupRecord, state: &GroupState, history: bool) -> Self {
        let mut event = Self::from(g);
        let t = &state.triage;
        event.scan_failure.triage = Some(TriageView {
            state: t.state.as_str(),
            triaged_at: t.at.clone(),
            triaged_by: t.by.clone(),
            note: t.note.clone(),
            history: if history { t.history.clone() } else { Vec::new() },
            version: t.shown_version(),
        });
        event
    }
}
