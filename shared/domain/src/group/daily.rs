//! Per-day occurrence counts of a group, for the trend: a map `daily`
//! `{"YYYY-MM-DD": n}` (UTC days) updated in the same conditional write as the rest of the
//! group, so it costs no extra request.
//!
//! The map is bounded: a day is only recorded while it can still be asked for (within
//! [`MAX_TREND_DAYS`] of the writer's today, see [`horizon`]); each write removes the day
//! [`KEPT_DAYS`] before every day it writes, and a write that would take the map past
//! [`MAX_ENTRIES`] re-plans from the stored item and evicts the oldest days (as the remembered
//! sets do).

use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

/// The stored attribute.
pub const ATTRIBUTE: &str = "daily";
/// Longest trend the API serves, in days (today included).
pub const MAX_TREND_DAYS: u32 = 90;
/// Days kept: today and the [`MAX_TREND_DAYS`] before it, so a trend of 90 days is always
/// complete even across midnight.
pub const KEPT_DAYS: i64 = MAX_TREND_DAYS as i64 + 1;
/// Most entries in the map: [`KEPT_DAYS`] plus tomorrow (an occurrence up to 5 minutes ahead
/// of the writer's clock is accepted).
pub const MAX_ENTRIES: usize = KEPT_DAYS as usize + 1;

/// `YYYY-MM-DD` of the UTC day of `t`.
pub fn day_key(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]");
    t.to_offset(UtcOffset::UTC).format(&fmt).unwrap_or_default()
}

/// The oldest day recorded by a writer whose clock reads `now`; older days are not recorded,
/// and a stored day older than this may be evicted.
pub fn horizon(now: OffsetDateTime) -> String {
    day_key(now - Duration::days(KEPT_DAYS - 1))
}

/// The day pruned when `day` is written: [`KEPT_DAYS`] before it.
pub fn pruned_by(day: &str) -> Option<String> {
    let date = time::Date::parse(day, format_description!("[year]-[month]-[day]")).ok()?;
    let old = date.checked_sub(Duration::days(KEPT_DAYS))?;
    Some(day_key(old.midnight().assume_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn days_are_utc_dates_and_the_horizon_keeps_91_days() {
        assert_eq!(day_key(datetime!(2026-11-25 23:59:59.999 UTC)), "2026-11-25");
        assert_eq!(day_key(datetime!(2026-11-26 00:30 +01:00)), "2026-11-25");
        assert_eq!(horizon(datetime!(2026-11-25 12:00 UTC)), "2026-08-27");
        assert_eq!(pruned_by("2026-11-25").as_deref(), Some("2026-08-26"));
        assert_eq!(pruned_by("2026-03-01").as_deref(), Some("2025-11-30"));
        assert_eq!(pruned_by("not a day"), None);
        assert_eq!(MAX_ENTRIES, 92);
    }
}
