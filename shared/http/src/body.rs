//! Request bodies of the write routes (`POST …/triage`, `PUT /v1/config/administration-events`):
//! bounded before they are parsed, only the accepted keys, and an error that names the field and
//! the rule and echoes at most [`crate::MAX_ECHO_BYTES`] of what it quotes.

use thiserror::Error;

use scan_failures_domain::group::triage::{TriageRequest, TriageState, MAX_NOTE_BYTES};
use scan_failures_domain::retention::RetentionDays;

use crate::echo;

/// Largest request body accepted by the write routes, in bytes.
pub const MAX_BODY_BYTES: usize = 4096;

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
    #[error("{name:?} is given more than once in the request body")]
    Repeated { name: String },
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
    if let Ok(FirstRepeated(Some(name))) = serde_json::from_slice::<FirstRepeated>(body) {
        return Err(BodyError::Repeated { name: echo(&name) });
    }
    Ok(map)
}

/// The first key an object gives more than once. serde_json's map keeps the last of a repeated
/// key, so `{"state": "resolved", "state": "open"}` recorded `open`, and which one a client
/// meant is not for the api to guess.
struct FirstRepeated(Option<String>);

impl<'de> serde::Deserialize<'de> for FirstRepeated {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = FirstRepeated;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<FirstRepeated, A::Error> {
                let (mut seen, mut repeated) = (Vec::<String>::new(), None);
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if repeated.is_none() && seen.contains(&key) {
                        repeated = Some(key);
                    } else {
                        seen.push(key);
                    }
                }
                Ok(FirstRepeated(repeated))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

fn joined(accepted: &'static [&'static str]) -> &'static str {
    match accepted {
        ["state", "note", "ifVersion"] => "state, note, ifVersion",
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

const NOTE_RULE: &str = "must be a string of at most 1024 bytes";

const VERSION_RULE: &str = "must be the triage version read, a whole number from 0";

/// Parses `{"state": "...", "note": "...", "ifVersion": n}` (note and version optional; a blank
/// note is no note).
pub fn parse_triage_request(body: &[u8]) -> Result<TriageRequest, BodyError> {
    let map = json_object(body, &["state", "note", "ifVersion"])?;
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
        // Bounded as stored, trimmed (as the console checks it): a pasted note's surrounding
        // blank lines do not count (the body's own bound holds the rest).
        Some(serde_json::Value::String(s)) if s.trim().len() <= MAX_NOTE_BYTES => {
            Some(s.trim().to_owned()).filter(|n| !n.is_empty())
        }
        Some(serde_json::Value::String(s)) => {
            let bytes = s.trim().len();
            return Err(BodyError::Invalid { field: "note", rule: NOTE_RULE, value: format!("{bytes} bytes") });
        }
        Some(other) => return Err(BodyError::Invalid { field: "note", rule: NOTE_RULE, value: echo_value(other) }),
    };
    let if_version = match map.get("ifVersion") {
        // As the note: a client that writes its unset fields as null asks for no condition.
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(whole_number(v).ok_or_else(|| BodyError::Invalid {
            field: "ifVersion",
            rule: VERSION_RULE,
            value: echo_value(v),
        })?),
    };
    Ok(TriageRequest { state, note, if_version })
}

/// Parses the body of `PUT /v1/config/administration-events`: `{"retentionDays": 1..=365}`.
pub fn parse_retention_request(body: &[u8]) -> Result<RetentionDays, BodyError> {
    const RULE: &str = "must be a whole number of days from 1 to 365";
    let map = json_object(body, &["retentionDays"])?;
    let value = map.get("retentionDays").ok_or(BodyError::Missing { field: "retentionDays" })?;
    whole_number(value)
        .and_then(|d| u16::try_from(d).ok())
        .and_then(RetentionDays::new)
        .ok_or_else(|| BodyError::Invalid { field: "retentionDays", rule: RULE, value: echo_value(value) })
}

/// A JSON number with no fractional part, from 0: what JSON Schema's `integer` (the OpenAPI
/// document's type) admits, so `30.0` and `3e1` are 30 as `30` is. Written as a float, it is
/// taken up to 2^32 - 1 only: serde_json parses long float literals to within a unit in the
/// last place, which past 2^52 is a different whole number, where here it can only be a
/// fraction (refused).
fn whole_number(value: &serde_json::Value) -> Option<u64> {
    const FLOAT_UP_TO: f64 = u32::MAX as f64;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=FLOAT_UP_TO).contains(f))
            // Whole and within u32, so the conversion is exact.
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_takes_a_state_and_an_optional_bounded_note() {
        assert_eq!(
            parse_triage_request(br#"{"state": "false_positive", "note": " scanner bug "}"#),
            Ok(TriageRequest { state: TriageState::FalsePositive, note: Some("scanner bug".into()), if_version: None })
        );
        assert_eq!(
            parse_triage_request(br#"{"state": "open"}"#),
            Ok(TriageRequest { state: TriageState::Open, note: None, if_version: None })
        );
        assert_eq!(
            parse_triage_request(br#"{"state": "resolved", "note": "  "}"#),
            Ok(TriageRequest { state: TriageState::Resolved, note: None, if_version: None })
        );
        assert_eq!(
            parse_triage_request(br#"{"state": "acknowledged", "ifVersion": 0}"#),
            Ok(TriageRequest { state: TriageState::Acknowledged, note: None, if_version: Some(0) })
        );
        assert_eq!(parse_triage_request(br#"{"ifVersion": 7, "state": "open"}"#).map(|r| r.if_version), Ok(Some(7)));
        assert_eq!(parse_triage_request(br#"{"ifVersion": 7.0, "state": "open"}"#).map(|r| r.if_version), Ok(Some(7)));
        assert_eq!(
            parse_triage_request(br#"{"state": "open", "note": null, "ifVersion": null}"#),
            Ok(TriageRequest { state: TriageState::Open, note: None, if_version: None })
        );
        // Up to 2^32 - 1 written as a float, however long the literal; as an integer, any u64.
        let exact = parse_triage_request(br#"{"ifVersion": 4294967295.000000000000, "state": "open"}"#);
        assert_eq!(exact.map(|r| r.if_version), Ok(Some(4_294_967_295)));
        // Read exactly (serde_json's float_roundtrip): without it, 1017567791.0000001, refused.
        let long = parse_triage_request(br#"{"ifVersion": 1017567791.0000000000, "state": "open"}"#);
        assert_eq!(long.map(|r| r.if_version), Ok(Some(1_017_567_791)));
        let integer = parse_triage_request(br#"{"ifVersion": 18446744073709551615, "state": "open"}"#);
        assert_eq!(integer.map(|r| r.if_version), Ok(Some(u64::MAX)));
        let longest = format!(r#"{{"state": "acknowledged", "note": "{}"}}"#, "n".repeat(1024));
        assert_eq!(parse_triage_request(longest.as_bytes()).map(|r| r.note.map(|n| n.len())), Ok(Some(1024)));
        // Counted as stored: the blank lines around a pasted note do not count.
        let padded = format!(r#"{{"state": "acknowledged", "note": "\n  {}\n\n"}}"#, "n".repeat(1024));
        assert_eq!(parse_triage_request(padded.as_bytes()).map(|r| r.note.map(|n| n.len())), Ok(Some(1024)));
    }

    #[test]
    fn a_bad_request_is_refused_naming_the_field_and_the_rule() {
        let cases: [(&[u8], &str); 13] = [
            (
                br#"{"state": "open", "ifVersion": 4294967296.0}"#,
                "ifVersion: must be the triage version read, a whole number from 0, got 4294967296.0",
            ),
            (
                br#"{"state": "open", "ifVersion": -1}"#,
                "ifVersion: must be the triage version read, a whole number from 0, got -1",
            ),
            (
                br#"{"state": "open", "ifVersion": 1.5}"#,
                "ifVersion: must be the triage version read, a whole number from 0, got 1.5",
            ),
            (
                br#"{"state": "open", "ifVersion": "3"}"#,
                "ifVersion: must be the triage version read, a whole number from 0, got \"3\"",
            ),
            (
                br#"{"state": "closed"}"#,
                "state: must be open, acknowledged, false_positive or resolved, got \"closed\"",
            ),
            (br#"{"state": 3}"#, "state: must be open, acknowledged, false_positive or resolved, got 3"),
            (br#"{"note": "x"}"#, "state is required"),
            (
                br#"{"state": "open", "colour": "red"}"#,
                "unknown field \"colour\" in the request body; accepted: state, note, ifVersion",
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
            assert_eq!(parse_triage_request(body).map_err(|e| e.to_string()), Err(message.to_owned()));
        }
        for (body, name) in [
            (&br#"{"state": "resolved", "state": "open"}"#[..], "state"),
            (br#"{"note": "a", "state": "open", "note": "b"}"#, "note"),
        ] {
            assert_eq!(parse_triage_request(body), Err(BodyError::Repeated { name: name.into() }));
        }
        assert_eq!(
            parse_retention_request(br#"{"retentionDays": 365, "retentionDays": 1}"#).map_err(|e| e.to_string()),
            Err("\"retentionDays\" is given more than once in the request body".to_owned())
        );
        let long_note = format!(r#"{{"state": "open", "note": "{}"}}"#, "n".repeat(1025));
        assert_eq!(
            parse_triage_request(long_note.as_bytes()).map_err(|e| e.to_string()),
            Err("note: must be a string of at most 1024 bytes, got 1025 bytes".to_owned())
        );
        let big = format!(r#"{{"state": "open", "note": "{}"}}"#, " ".repeat(4096));
        assert_eq!(parse_triage_request(big.as_bytes()), Err(BodyError::TooLarge { got: 4125 }));
        let long_name = format!(r#"{{"{}": 1}}"#, "k".repeat(500));
        assert_eq!(
            parse_triage_request(long_name.as_bytes()),
            Err(BodyError::UnknownField { name: "k".repeat(64), accepted: "state, note, ifVersion" })
        );
    }

    #[test]
    fn retention_is_a_whole_number_of_days_from_1_to_365() {
        assert_eq!(
            parse_retention_request(br#"{"retentionDays": 30}"#),
            RetentionDays::new(30).ok_or(BodyError::Missing { field: "" })
        );
        assert_eq!(parse_retention_request(br#"{"retentionDays": 1}"#).map(RetentionDays::get), Ok(1));
        assert_eq!(parse_retention_request(br#"{"retentionDays": 365}"#).map(RetentionDays::get), Ok(365));
        // JSON Schema's integers: a number whose fraction is zero, however it is written.
        for whole in ["30.0", "3e1", "3.0E1", "300e-1"] {
            let body = format!(r#"{{"retentionDays": {whole}}}"#);
            assert_eq!(parse_retention_request(body.as_bytes()).map(RetentionDays::get), Ok(30), "{whole}");
        }
        let refused = [
            (r#"{"retentionDays": 30.5e0}"#, "retentionDays: must be a whole number of days from 1 to 365, got 30.5"),
            (r#"{"retentionDays": -0.0}"#, "retentionDays: must be a whole number of days from 1 to 365, got -0.0"),
            (r#"{"retentionDays": 0}"#, "retentionDays: must be a whole number of days from 1 to 365, got 0"),
            (r#"{"retentionDays": -3}"#, "retentionDays: must be a whole number of days from 1 to 365, got -3"),
            (r#"{"retentionDays": 366}"#, "retentionDays: must be a whole number of days from 1 to 365, got 366"),
            (r#"{"retentionDays": 2.5}"#, "retentionDays: must be a whole number of days from 1 to 365, got 2.5"),
            (r#"{"retentionDays": "30"}"#, "retentionDays: must be a whole number of days from 1 to 365, got \"30\""),
            (r#"{"retentionDays": 70000}"#, "retentionDays: must be a whole number of days from 1 to 365, got 70000"),
            (r#"{}"#, "retentionDays is required"),
            (r#"{"retentionDays": 3, "ttl": 1}"#, "unknown field \"ttl\" in the request body; accepted: retentionDays"),
        ];
        for (body, message) in refused {
            assert_eq!(parse_retention_request(body.as_bytes()).map_err(|e| e.to_string()), Err(message.to_owned()));
        }
    }
}
