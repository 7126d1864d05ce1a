//! Triage of a failure group by an administrator: its state, who set it and when, a note, and a
//! bounded history.
//!
//! The state changes what the product does with the group: a `false_positive` keeps counting but
//! is hidden from list, count, summary and trend unless `filter.triage` asks for it, and never
//! notifies; a `resolved` group is reopened (state `open`, notified once) by the first failure
//! that occurs after it was resolved. Groups never triaged are `open`.
//!
//! The request that changes it is parsed on the HTTP side (`scan_failures_http::body`); how it is
//! stored is the DynamoDB adapter's (`scan_failures_aws::dynamo::item`).

use serde::{Deserialize, Serialize};

/// Largest triage note, in bytes.
pub const MAX_NOTE_BYTES: usize = 1024;
/// History entries kept per group, newest first: enough to see how a group was handled, small
/// enough that the group item stays a few KiB.
pub const MAX_HISTORY: usize = 20;
/// Who a reopen by a new failure is attributed to in the history.
pub const INGEST_ACTOR: &str = "ingest";

/// The triage state of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum TriageState {
    #[default]
    Open,
    Acknowledged,
    FalsePositive,
    Resolved,
}

impl TriageState {
    pub const ALL: [TriageState; 4] = [Self::Open, Self::Acknowledged, Self::FalsePositive, Self::Resolved];
    pub const RULE: &'static str = "must be open, acknowledged, false_positive or resolved";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::FalsePositive => "false_positive",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One triage change, as stored in the history and shown by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriageEntry {
    pub state: String,
    pub at: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `entry` followed by the `previous` history, newest first, cut to [`MAX_HISTORY`].
pub fn history_with(entry: TriageEntry, previous: &[TriageEntry]) -> Vec<TriageEntry> {
    std::iter::once(entry).chain(previous.iter().cloned()).take(MAX_HISTORY).collect()
}

/// The triage attributes of a stored group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Triage {
    pub state: TriageState,
    pub at: Option<String>,
    pub by: Option<String>,
    pub note: Option<String>,
    /// Newest first, at most [`MAX_HISTORY`].
    pub history: Vec<TriageEntry>,
    /// `None` when the group was never triaged.
    pub version: Option<u64>,
}

/// A triage change requested through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageRequest {
    pub state: TriageState,
    pub note: Option<String>,
    /// The triage version the caller read ([`Triage::shown_version`]): the change is made only
    /// if the group's is still that one, so that two administrators triaging the same group
    /// from what they read do not overwrite each other's note unseen. `None`: whatever it is.
    pub if_version: Option<u64>,
}

impl Triage {
    /// The version the API shows: 0 for a group never triaged, one more with each change
    /// (an administrator's, or a reopen by a new failure).
    pub fn shown_version(&self) -> u64 {
        self.version.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> TriageEntry {
        TriageEntry { state: "acknowledged".into(), at: format!("t{n:02}"), by: "me".into(), note: None }
    }

    #[test]
    fn history_is_newest_first_and_keeps_20_entries() {
        let old: Vec<TriageEntry> = (0..20).map(entry).collect();
        let h = history_with(entry(99), &old);
        assert_eq!(h.len(), 20);
        assert_eq!(h[0].at, "t99");
        assert_eq!(h[1].at, "t00");
        assert_eq!(h[19].at, "t18");
        assert_eq!(history_with(entry(1), &[]), vec![entry(1)]);
    }
}
