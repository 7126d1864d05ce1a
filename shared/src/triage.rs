//! Triage of a failure group by an administrator: its state, who set it and when, a note, and a
//! bounded history.
//!
//! The state changes what the product does with the group: a `false_positive` keeps counting but
//! is hidden from list, count, summary and trend unless `filter.triage` asks for it, and never
//! notifies; a `resolved` group is reopened (state `open`, notified once) by the first failure
//! that occurs after it was resolved. Groups never triaged are `open`.
//!
//! Everything here is outside data: the request body is bounded before it is parsed, the note
//! is bounded, and an error echoes at most [`MAX_ECHO_BYTES`] of what it quotes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest request body accepted by the write routes, in bytes.
pub const MAX_BODY_BYTES: usize = 4096;
/// Largest triage note, in bytes.
pub const MAX_NOTE_BYTES: usize = 1024;
/// History entries kept per group, newest first: enough to see how a group was handled, small
/// enough that the group item stays a few KiB.
pub const MAX_HISTORY: usize = 20;
/// Most bytes of a client's input quoted back in an error.
pub const MAX_ECHO_BYTES: usize = 64;
/// Who a reopen by a new failure is attributed to in the history.
pub const INGEST_ACTOR: &str = "ingest";

/// Stored attribute names.
pub mod attr {
    pub const STATE: &str = "triage";
    pub const AT: &str = "triagedAt";
    pub const BY: &str = "triagedBy";
    pub const NOTE: &str = "triageNote";
    pub const HISTORY: &str = "triageHistory";
    /// Incremented by every triage change; the optimistic-concurrency token of the
    /// read-modify-write on the API path and of the reopen on the ingest path.
    pub const VERSION: &str = "triageVersion";
}

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

    /// The stored state; an absent or unknown value (written by a later version) is `open`.
    pub fn of_item(item: &HashMap<String, AttributeValue>) -> Self {
        item.get(attr::STATE).and_then(|v| v.as_s().ok()).and_then(|s| Self::parse(s)).unwrap_or_default()
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

impl TriageEntry {
    pub fn to_attribute(&self) -> AttributeValue {
        let mut m = HashMap::from([
            ("state".to_owned(), AttributeValue::S(self.state.clone())),
            ("at".to_owned(), AttributeValue::S(self.at.clone())),
            ("by".to_owned(), AttributeValue::S(self.by.clone())),
        ]);
        if let Some(n) = &self.note {
            m.insert("note".to_owned(), AttributeValue::S(n.clone()));
        }
        AttributeValue::M(m)
    }

    fn from_attribute(v: &AttributeValue) -> Option<Self> {
        let m = v.as_m().ok()?;
        let s = |k: &str| m.get(k).and_then(|v| v.as_s().ok()).cloned();
        Some(Self { state: s("state")?, at: s("at")?, by: s("by")?, note: s("note") })
    }
}

/// `entry` followed by the `previous` history, newest first, cut to [`MAX_HISTORY`].
pub fn history_with(entry: TriageEntry, previous: &[TriageEntry]) -> Vec<TriageEntry> {
    std::iter::once(entry).chain(previous.iter().cloned()).take(MAX_HISTORY).collect()
}

/// The stored history as a DynamoDB list.
pub fn history_attribute(history: &[TriageEntry]) -> AttributeValue {
    AttributeValue::L(history.iter().map(TriageEntry::to_attribute).collect())
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

impl Triage {
    pub fn of_item(item: &HashMap<String, AttributeValue>) -> Self {
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let history = item
            .get(attr::HISTORY)
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(TriageEntry::from_attribute).take(MAX_HISTORY).collect())
            .unwrap_or_default();
        let version = item.get(attr::VERSION).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
        Self {
            state: TriageState::of_item(item),
            at: s(attr::AT),
            by: s(attr::BY),
            note: s(attr::NOTE),
            history,
            version,
        }
    }
}

/// A triage change requested through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageRequest {
    pub state: TriageState,
    pub note: Option<String>,
}

/// Why a request body was refused; the message is meant for the API client (a 400 body).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("the request body is {got} bytes; at most {MAX_BODY_BYTES} are accepted")]
    TooLarge { got: usize },
    #[error("the request body must be a JSON object: {reason}")]
    NotJson { reason: String },
    #[error("unknown field {name:?} in the request body; accepted: {accepted}")]
    UnknownField { name: String, accepted: &'static str },
    #[error("{field}: {rule}, got {value}")]
    Invalid { field: &'static str, rule: &'static str, value: String },
    #[error("{field} is required")]
    Missing { field: &'static str },
}

/// The body as a JSON object with only `accepted` keys, after checking its size.
pub fn json_object(
    body: &[u8],
    accepted: &'static [&'static str],
) -> Result<serde_json::Map<String, serde_json::Value>, BodyError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge { got: body.len() });
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| BodyError::NotJson {
        // serde_json's message names a line and column, never the input itself.
        reason: e.to_string(),
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(BodyError::NotJson { reason: format!("got {}", kind(&value)) });
    };
    if let Some(name) = map.keys().find(|k| !accepted.contains(&k.as_str())) {
        return Err(BodyError::UnknownField { name: echo(name), accepted: joined(accepted) });
    }
    Ok(map)
}

fn joined(accepted: &'static [&'static str]) -> &'static str {
    match accepted {
        ["state", "note"] => "state, note",
        ["retentionDays"] => "retentionDays",
        _ => "see the API reference",
    }
}

/// The JSON type of a value, for messages that must not echo the value itself.
pub fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A value quoted in an error: strings cut to [`MAX_ECHO_BYTES`], other values by their JSON.
pub fn echo_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("{:?}", echo(s)),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => kind(v).to_owned(),
        other => echo(&other.to_string()),
    }
}

/// At most [`MAX_ECHO_BYTES`] of `s`, cut on a character boundary.
pub fn echo(s: &str) -> String {
    let mut cut = s.len().min(MAX_ECHO_BYTES);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s[..cut].to_owned()
}

const NOTE_RULE: &str = "must be a string of at most 1024 bytes";

/// Parses `{"state": "...", "note": "..."}` (note optional; a blank note is no note).
pub fn parse_request(body: &[u8]) -> Result<TriageRequest, BodyError> {
    let map = json_object(body, &["state", "note"])?;
    let state = match map.get("state") {
        None => return Err(BodyError::Missing { field: "state" }),
        Some(serde_json::Value::String(s)) => TriageState::parse(s).ok_or_else(|| BodyError::Invalid {
            field: "state",
            rule: TriageState::RULE,
            value: format!("{:?}", echo(s)),
        })?,
        Some(other) => {
            return Err(BodyError::Invalid { field: "state", rule: TriageState::RULE, value: echo_value(other) })
        }
    };
    let note = match map.get("note") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.len() <= MAX_NOTE_BYTES => {
            Some(s.trim().to_owned()).filter(|n| !n.is_empty())
        }
        Some(serde_json::Value::String(s)) => {
            return Err(BodyError::Invalid { field: "note", rule: NOTE_RULE, value: format!("{} bytes", s.len()) })
        }
        Some(other) => return Err(BodyError::Invalid { field: "note", rule: NOTE_RULE, value: echo_value(other) }),
    };
    Ok(TriageRequest { state, note })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> TriageEntry {
        TriageEntry { state: "acknowledged".into(), at: format!("t{n:02}"), by: "me".into(), note: None }
    }

    #[test]
    fn a_request_takes_a_state_and_an_optional_bounded_note() {
        assert_eq!(
            parse_request(br#"{"state": "false_positive", "note": " scanner bug "}"#),
            Ok(TriageRequest { state: TriageState::FalsePositive, note: Some("scanner bug".into()) })
        );
        assert_eq!(parse_request(br#"{"state": "open"}"#), Ok(TriageRequest { state: TriageState::Open, note: None }));
        assert_eq!(
            parse_request(br#"{"state": "resolved", "note": "  "}"#),
            Ok(TriageRequest { state: TriageState::Resolved, note: None })
        );
        let longest = format!(r#"{{"state": "acknowledged", "note": "{}"}}"#, "n".repeat(1024));
        assert_eq!(parse_request(longest.as_bytes()).map(|r| r.note.map(|n| n.len())), Ok(Some(1024)));
    }

    #[test]
    fn a_bad_request_is_refused_naming_the_field_and_the_rule() {
        let cases: [(&[u8], &str); 9] = [
            (
                br#"{"state": "closed"}"#,
                "state: must be open, acknowledged, false_positive or resolved, got \"closed\"",
            ),
            (br#"{"state": 3}"#, "state: must be open, acknowledged, false_positive or resolved, got 3"),
            (br#"{"note": "x"}"#, "state is required"),
            (
                br#"{"state": "open", "colour": "red"}"#,
                "unknown field \"colour\" in the request body; accepted: state, note",
            ),
            (br#"{"state": "open", "note": ["x"]}"#, "note: must be a string of at most 1024 bytes, got an array"),
            (br#"["open"]"#, "the request body must be a JSON object: got an array"),
            (b"", "the request body must be a JSON object: EOF while parsing a value at line 1 column 0"),
            (b"state=open", "the request body must be a JSON object: expected value at line 1 column 1"),
            (
                br#"{"state": "open"} x"#,
                "the request body must be a JSON object: trailing characters at line 1 column 19",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(parse_request(body).map_err(|e| e.to_string()), Err(message.to_owned()));
        }
        let long_note = format!(r#"{{"state": "open", "note": "{}"}}"#, "n".repeat(1025));
        assert_eq!(
            parse_request(long_note.as_bytes()).map_err(|e| e.to_string()),
            Err("note: must be a string of at most 1024 bytes, got 1025 bytes".to_owned())
        );
        let big = format!(r#"{{"state": "open", "note": "{}"}}"#, " ".repeat(4096));
        assert_eq!(parse_request(big.as_bytes()), Err(BodyError::TooLarge { got: 4125 }));
        let long_name = format!(r#"{{"{}": 1}}"#, "k".repeat(500));
        assert_eq!(
            parse_request(long_name.as_bytes()),
            Err(BodyError::UnknownField { name: "k".repeat(64), accepted: "state, note" })
        );
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
        let t = Triage::of_item(&item);
        assert_eq!(t.state, TriageState::Resolved);
        assert_eq!(t.history, history);
        assert_eq!(t.version, Some(2));
        assert_eq!(t.note, None);
        assert_eq!(Triage::of_item(&HashMap::new()), Triage::default());
        let later = HashMap::from([(attr::STATE.to_owned(), AttributeValue::S("snoozed".into()))]);
        assert_eq!(TriageState::of_item(&later), TriageState::Open);
    }
}
