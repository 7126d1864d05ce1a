//! Timestamps as stored: UTC, millisecond precision, fixed width, so that string order is time
//! order in key conditions and condition expressions.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// Formats as `2026-11-25T10:00:00.000Z`.
pub fn format(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // Years outside 0..=9999 cannot be parsed from RFC 3339, so formatting cannot fail here;
    // fall back to RFC 3339 rather than panic.
    let utc = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    utc.format(&fmt).or_else(|_| utc.format(&Rfc3339)).unwrap_or_default()
}

/// Parses an RFC 3339 timestamp, in UTC; `None` when it is not one, or when its UTC instant
/// falls outside the years 0000–9999 (e.g. `0000-01-01T00:00:00+10:00`).
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    // The `time` crate takes any one byte between the date and the time; RFC 3339's grammar
    // (and JSON Schema's `date-time`) takes `T` in either case only.
    if s.len() > 64 || !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    let utc = OffsetDateTime::parse(s, &Rfc3339).ok()?.checked_to_offset(UtcOffset::UTC)?;
    (0..=9999).contains(&utc.year()).then_some(utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_is_fixed_width_utc_with_milliseconds() {
        let t = parse("2026-01-02T03:04:05.6+02:00").unwrap();
        assert_eq!(format(t), "2026-01-02T01:04:05.600Z");
        assert_eq!(format(parse("2026-01-02T03:04:05Z").unwrap()), "2026-01-02T03:04:05.000Z");
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("0000-01-01T00:00:00+10:00"), None);
        assert_eq!(parse("9999-12-31T23:59:59-10:00"), None);
        assert_eq!(parse("2026-11-25t10:00:00Z"), parse("2026-11-25T10:00:00Z"));
        for other in ["2026-11-25x10:00:00Z", "2026-11-25_10:00:00Z", "2026-11-25 10:00:00Z", "2026-11-2"] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
