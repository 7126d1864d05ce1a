//! What each fuzz target does with one input, as plain functions.
//!
//! The libFuzzer targets in `fuzz/fuzz_targets/` call these on nightly; the stable test
//! `tests/tests/fuzz_regressions.rs` includes this same file (`#[path]`) and replays every seed
//! and every crash input through them, so `cargo test` runs exactly the fuzzed code. A broken
//! invariant is a panic (an `assert!`), which libFuzzer reports as a crash.
//!
//! Only `scan_failures_domain`, `scan_failures_http` and `serde_json` are used (no AWS crate, so the nightly fuzz build does not compile the SDK), and the file compiles
//! in both crates.

use scan_failures_domain::classify::{self, Reason};
use scan_failures_domain::event::{
    self, bounds, Admission, Occurrence, Origin, Parsed, CUT_START, MAX_CLOCK_SKEW, TRUNCATION_MARKER,
};
use scan_failures_domain::fingerprint;
use scan_failures_domain::image::{validate_digest, ImageRef};
use scan_failures_domain::redact;
use scan_failures_domain::time_fmt;
use scan_failures_http::cursor::{self, CursorError};
use scan_failures_http::params::{self, ParamError};
use scan_failures_http::MAX_ECHO_BYTES;

/// Longest retention the configuration accepts (`RETENTION_DAYS` is `1..=365`).
const MAX_RETENTION_DAYS: i64 = 365;

/// Which outcome an input had; the replay test counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not JSON (or not the expected shape at all): nothing to parse.
    NotJson,
    Rejected,
    Success,
    Failure,
}

/// `event_parse`: bytes → JSON → `event::parse`, then every pure step ingest takes on a failure.
pub fn event_parse(data: &[u8]) -> Outcome {
    match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(value) => envelope(value),
        Err(_) => Outcome::NotJson,
    }
}

/// One envelope through `event::parse` and, for a failure, through normalization,
/// classification and fingerprinting, checking the contract's invariants on the way.
pub fn envelope(value: serde_json::Value) -> Outcome {
    let raw = |path: &[&str]| -> Option<String> {
        path.iter().try_fold(&value, |v, k| v.get(k)).and_then(|v| v.as_str()).map(str::to_owned)
    };
    let message = raw(&["detail", "error", "message"]).map(|m| message_as_stored(&m));
    let texts = [
        ("detail.error.message", message, bounds::MESSAGE_STORED),
        ("detail.cluster", raw(&["detail", "cluster"]), bounds::CLUSTER),
        ("detail.initiator.id", raw(&["detail", "initiator", "id"]), bounds::INITIATOR_ID),
        ("detail.initiator.userAgent", raw(&["detail", "initiator", "userAgent"]), bounds::USER_AGENT),
    ];
    match event::parse(value) {
        Err(e) => {
            // The rejection names a field and renders without panicking.
            assert!(!e.field().is_empty(), "a rejection names no field: {e}");
            let _ = e.to_string();
            Outcome::Rejected
        }
        Ok(Parsed::Success { event_id }) | Ok(Parsed::Ignored { event_id, .. }) => {
            assert!(!event_id.trim().is_empty() && event_id.len() <= bounds::EVENT_ID, "event id {event_id:?}");
            Outcome::Success
        }
        Ok(Parsed::Failure(o)) if !Origin::NATIVE.contains(&o.origin) => {
            // Amazon ECR and Inspector events carry no free text of the contract's: their
            // message is written by the parser, and `occurrence` checks it is bounded.
            occurrence(&o);
            Outcome::Failure
        }
        Ok(Parsed::Failure(o)) => {
            occurrence(&o);
            let stored = [
                Some(o.message.as_str()),
                o.cluster.as_deref(),
                o.initiator.id.as_deref(),
                o.initiator.user_agent.as_deref(),
            ];
            for ((field, given, max), stored) in texts.iter().zip(stored) {
                free_text(field, given.as_deref(), stored, *max);
            }
            Outcome::Failure
        }
    }
}

/// What the stored message of a failure given `message` is before its bound: trimmed, with its
/// secrets redacted (`redact::secrets`, as the parser does).
pub fn message_as_stored(message: &str) -> String {
    redact::secrets(message.trim()).into_owned()
}

/// A free-text field is stored trimmed, and when longer than its bound cut on a character
/// boundary to at most the bound, ending with the truncation marker; a message its producer
/// cut at its start ([`CUT_START`]) keeps its end instead, starting with that marker.
pub fn free_text(field: &str, given: Option<&str>, stored: Option<&str>, max: usize) {
    let given = given.map(str::trim).filter(|g| !g.is_empty());
    match (given, stored) {
        (None, None) => {}
        // A failure's message may be empty when a code is given.
        (None, Some("")) if field == "detail.error.message" => {}
        (Some(g), Some(s)) if g.len() <= max => assert_eq!(s, g, "{field} changed though within its bound"),
        (Some(g), Some(s)) if field == "detail.error.message" && g.starts_with(CUT_START) => {
            assert!(s.len() <= max, "{field}: stored {} bytes, bound {max}", s.len());
            let kept =
                s.strip_prefix(CUT_START).unwrap_or_else(|| panic!("{field} kept by its end without the marker"));
            assert!(g.ends_with(kept), "{field}: the kept part is not the end of the value");
            assert!(s.len() + 4 > max, "{field}: cut to {} bytes, more than a character short of {max}", s.len());
        }
        (Some(g), Some(s)) => {
            assert!(s.len() <= max, "{field}: stored {} bytes, bound {max}", s.len());
            let kept = s.strip_suffix(TRUNCATION_MARKER).unwrap_or_else(|| panic!("{field} cut without the marker"));
            assert!(g.starts_with(kept), "{field}: the kept part is not a prefix of the value");
            assert!(s.len() + 4 > max, "{field}: cut to {} bytes, more than a character short of {max}", s.len());
        }
        (g, s) => panic!("{field}: given {:?} bytes, stored {:?}", g.map(str::len), s.map(str::len)),
    }
}

fn bounded(field: &str, value: Option<&str>, max: usize) {
    if let Some(v) = value {
        assert!(v.len() <= max, "{field}: {} bytes, bound {max}", v.len());
        assert!(!v.is_empty(), "{field}: kept empty");
    }
}

/// The invariants of a parsed occurrence and of what ingest derives from it before storing.
pub fn occurrence(o: &Occurrence) {
    // Stored strings within their bounds; cut text ends with the marker.
    assert!(o.message.len() <= bounds::MESSAGE_STORED, "message: {} bytes", o.message.len());
    bounded("detail.cluster", o.cluster.as_deref(), bounds::CLUSTER);
    bounded("detail.initiator.id", o.initiator.id.as_deref(), bounds::INITIATOR_ID);
    bounded("detail.initiator.userAgent", o.initiator.user_agent.as_deref(), bounds::USER_AGENT);
    bounded("id", Some(&o.envelope.id), bounds::EVENT_ID);
    bounded("source", Some(&o.envelope.source), bounds::SOURCE);
    bounded("region", Some(&o.envelope.region), bounds::REGION);
    assert!(o.envelope.account.len() == 12 && o.envelope.account.bytes().all(|b| b.is_ascii_digit()));
    if let Some(d) = &o.deployment {
        bounded("detail.deployment.name", Some(&d.name), bounds::DEPLOYMENT_NAME);
        bounded("detail.deployment.namespace", Some(&d.namespace), bounds::NAMESPACE);
    }
    // The normalized name is a fixed point of normalization.
    image(&o.image);
    if let Some(d) = &o.image.digest {
        assert!(validate_digest(d).is_ok(), "stored digest {d:?} is not valid");
    }

    // Classification: a known code wins, UNKNOWN defers to the message; deterministic.
    let reason = classify::classify(None, &o.message);
    assert_eq!(reason, classify::classify(None, &o.message));
    assert_eq!(classify::classify(Some(Reason::Unknown.code()), &o.message), reason);
    for r in Reason::ALL {
        if r != Reason::Unknown {
            assert_eq!(classify::classify(Some(r.code()), &o.message), r);
        }
    }
    let masked = fingerprint::mask::mask_variable_parts(&o.message);
    assert_eq!(masked, fingerprint::mask::mask_variable_parts(&o.message), "masking is not deterministic");

    // The group id is a UUID v5, the same for the same failure; a message that was not cut, or
    // a failure of a known reason, names it as before; only an UNKNOWN one keeps its whole text.
    let id = o.group_id();
    assert_eq!(id.get_version_num(), 5);
    assert_eq!(id, o.group_id());
    if o.uncut_message.is_none() {
        assert_eq!(id, fingerprint::group_id(&o.image.normalized(), o.reason, &o.message));
    } else {
        assert_eq!(o.reason, Reason::Unknown);
        assert!(o.message.ends_with(TRUNCATION_MARKER) || o.message.starts_with(CUT_START));
    }

    // Times: ingest admits an occurrence at its clock (a time more than the allowed skew ahead
    // is clamped to the clock, one older than the retention is not stored), then the store
    // formats `occurredAt` as a key (`time_fmt::format`: fixed-width RFC 3339 that parses back)
    // and adds the retention for the expiry, neither of which may panic.
    for days in [1, 4, MAX_RETENTION_DAYS] {
        let retention = time::Duration::days(days);
        let mut admitted = o.clone();
        if admitted.admit(clock(), retention) == Admission::Store {
            let t = admitted.occurred_at;
            let stored = time_fmt::format(t);
            assert_eq!(stored.len(), 24, "detail.occurredAt stored as {stored:?}: not fixed width");
            assert!(time_fmt::parse(&stored).is_some(), "detail.occurredAt stored as {stored:?}: not RFC 3339");
            assert!(
                t.checked_add(retention).is_some(),
                "detail.occurredAt {stored}: expiry after {days} days overflows"
            );
            assert!(t <= clock() + MAX_CLOCK_SKEW, "detail.occurredAt {stored} admitted ahead of the clock");
        }
    }
}

/// The ingest function's clock in the checks: fixed, so that a replay is the same run.
fn clock() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(1_795_600_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Normalization invariants of one accepted reference.
pub fn image(r: &ImageRef) {
    let name = r.normalized();
    let again = ImageRef::parse(&name).unwrap_or_else(|e| panic!("normalized {name:?} does not parse: {e}"));
    assert_eq!(again.normalized(), name, "normalized {name:?} is not a fixed point");
    assert_eq!(again.repository(), r.repository(), "repository of {name:?} changes when re-parsed");
}

/// `ingest_payload`: what the ingest function may be handed, either a bare EventBridge envelope
/// or an SQS batch `{"Records": [{"messageId": .., "body": "<envelope JSON>"}]}`. Each record's
/// body goes the way of a bare envelope. Returns the outcome of each record.
pub fn ingest_payload(data: &[u8]) -> Vec<Outcome> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return vec![Outcome::NotJson];
    };
    match value.get("Records").and_then(|r| r.as_array()) {
        Some(records) => records
            .iter()
            .map(|record| match record.get("body").and_then(|b| b.as_str()) {
                Some(body) => match serde_json::from_str::<serde_json::Value>(body) {
                    Ok(envelope_json) => envelope(envelope_json),
                    Err(_) => Outcome::NotJson,
                },
                None => Outcome::NotJson,
            })
            .collect(),
        None => vec![envelope(value)],
    }
}

/// `query_params`: a raw query string → decoded pairs, as the api decodes them → the list and
/// count parsers. (The api's query string is text: a URI's, so the bytes are read as UTF-8.)
pub fn query_params(data: &[u8]) -> (bool, bool) {
    let pairs = match scan_failures_http::query_string::pairs(&String::from_utf8_lossy(data)) {
        Ok(pairs) => pairs,
        Err(e) => {
            param_error(&e);
            assert!(matches!(e, ParamError::NotUtf8 { .. }), "decoding refused with {e:?}");
            return (false, false);
        }
    };
    let list = params::parse_list(&pairs);
    let count = params::parse_count(&pairs);
    for e in [list.as_ref().err(), count.as_ref().err()].into_iter().flatten() {
        param_error(e);
    }
    if let Ok(r) = &list {
        let p = &r.page;
        assert!((1..=params::MAX_LIMIT).contains(&p.limit), "limit {}", p.limit);
        assert!(p.offset <= params::MAX_OFFSET, "offset {}", p.offset);
        assert!(p.cursor.as_ref().is_none_or(|c| !c.is_empty() && c.len() <= params::MAX_VALUE_BYTES));
        filters(&r.filters);
    }
    if let Ok(f) = &count {
        filters(f);
    }
    // Without pagination parameters the count endpoint accepts exactly what the list does, with
    // the same filters.
    if pairs.len() <= params::MAX_PARAMS && !pairs.iter().any(|(n, _)| n.starts_with("pagination.")) {
        match (&list, &count) {
            (Ok(l), Ok(c)) => assert_eq!(&l.filters, c),
            (Err(a), Err(b)) => assert_eq!(a, b),
            (l, c) => panic!("list and count disagree: {l:?} / {c:?}"),
        }
    }
    (list.is_ok(), count.is_ok())
}

fn param_error(e: &ParamError) {
    let _ = e.to_string();
    match e {
        ParamError::Unknown { name } => assert!(name.len() <= MAX_ECHO_BYTES, "echoed name {} bytes", name.len()),
        ParamError::Invalid { value, .. } => {
            assert!(value.len() <= MAX_ECHO_BYTES, "echoed value {} bytes", value.len())
        }
        ParamError::Repeated { name } => assert!(params::LIST_PARAMS.contains(&name.as_str())),
        ParamError::TooMany => {}
        ParamError::NotUtf8 { name } => assert!(name.len() <= MAX_ECHO_BYTES, "echoed name {} bytes", name.len()),
    }
}

fn filters(f: &params::Filters) {
    let lists = [
        f.domain.len(),
        f.resource_type.len(),
        f.event_type.len(),
        f.level.len(),
        f.resource_name.len(),
        f.resource_id.len(),
        f.repository.len(),
        f.reason.len(),
        f.operation.len(),
        f.origin.len(),
        f.cluster.len(),
        f.account.len(),
        f.search.len(),
    ];
    assert!(lists.iter().all(|n| *n <= params::MAX_REPEATS), "a filter holds more than 20 values: {lists:?}");
    if let (Some(from), Some(until)) = (f.from, f.until) {
        // `from` is moved to the next whole millisecond (stored times are whole ones), so it
        // may pass an `until` within the same millisecond: a window nothing can match. Within
        // the last millisecond of year 9999 there is no next one: it stays (its key is cut to
        // the millisecond, and no stored time can be that late: ingest clamps times to its clock).
        let last = from.checked_add(time::Duration::MILLISECOND).is_none();
        assert!(from.nanosecond() % 1_000_000 == 0 || last, "filter.from {from} is not a whole millisecond");
        assert!(from - until < time::Duration::MILLISECOND, "filter.from {from} is after filter.until {until}");
    }
    // The read path formats the window bounds as stored keys: they must be fixed-width.
    for t in [f.from, f.until].into_iter().flatten() {
        let key = time_fmt::format(t);
        assert_eq!(key.len(), 24, "time filter becomes key {key:?}");
    }
    for name in &f.resource_name {
        let r = ImageRef::parse(name).unwrap_or_else(|e| panic!("filter value {name:?} does not re-parse: {e}"));
        assert_eq!(&r.normalized(), name, "filter.resourceName {name:?} is not normalized");
    }
    for d in &f.resource_id {
        assert!(validate_digest(d).is_ok());
    }
    // The canonical text a cursor is bound to is total over every parsed filter set.
    assert_eq!(f.canonical(), f.clone().canonical());
}

/// `cursor_decode`: an arbitrary string as a cursor, and an arbitrary key round-tripped.
///
/// The input is split at the first NUL: before it the cursor text (and sort key), after it the
/// query hash.
pub fn cursor_decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (s, q) = text.split_once('\0').unwrap_or((&text, "q"));
    // Decoding anything never panics; an accepted cursor was issued for this query.
    match cursor::decode(s, q) {
        Ok(key) => assert_eq!(cursor::decode(&cursor::encode(&key, q), q), Ok(key)),
        Err(CursorError::Malformed | CursorError::OtherQuery) => {}
    }
    // Any key round-trips for its query, and only for it.
    let c = cursor::encode(s, q);
    if c.len() <= cursor::MAX_CURSOR_BYTES {
        assert_eq!(cursor::decode(&c, q), Ok(s.to_owned()), "cursor for {s:?} does not round-trip");
        let other = format!("{q}x");
        assert_eq!(cursor::decode(&c, &other), Err(CursorError::OtherQuery));
    } else {
        assert_eq!(cursor::decode(&c, q), Err(CursorError::Malformed));
    }
}
