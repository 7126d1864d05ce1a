//! How long a group is kept after its last occurrence, and when it is visible. The retention is
//! live configuration (set through the API, cached per function instance), so visibility
//! follows `lastOccurredAt` and the retention in force, never a stored TTL.

use std::time::Duration;

use time::OffsetDateTime;

use crate::group::GroupRecord;
use crate::time_fmt;

/// Retention after the last occurrence when `RETENTION_DAYS` is unset.
pub const DEFAULT_RETENTION_DAYS: u16 = 4;
/// How long the api keeps the setting it read: a change applies to reads within this.
pub const API_CACHE: Duration = Duration::from_secs(1);
/// How long the ingest function keeps the setting it read: the staleness bound of the TTL it
/// stamps, and how long the re-stamp job waits after a change.
pub const INGEST_CACHE: Duration = Duration::from_secs(60);
/// How old a setting the ingest function read may be and still apply when the setting cannot be
/// read again (a throttled or failed `GetItem`): past it, the occurrences fail for a retry
/// rather than be stamped and admitted by a retention the re-stamp job may have finished
/// correcting behind them.
pub const INGEST_CACHE_ON_FAILURE: Duration = Duration::from_secs(120);

/// Days a group is kept after its last occurrence: 1..=365.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionDays(u16);

impl RetentionDays {
    pub const RULE: &'static str = "a whole number of days from 1 to 365";

    pub fn new(days: u16) -> Option<Self> {
        (1..=365).contains(&days).then_some(Self(days))
    }

    pub fn get(self) -> u16 {
        self.0
    }

    pub fn duration(self) -> time::Duration {
        time::Duration::days(i64::from(self.0))
    }
}

impl Default for RetentionDays {
    fn default() -> Self {
        Self(DEFAULT_RETENTION_DAYS)
    }
}

/// The stored retention setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSetting {
    pub days: RetentionDays,
    pub updated_at: String,
    pub updated_by: String,
}

/// The retention in force and the generation of its re-stamp job: the stored `setting`'s days
/// and `updatedAt`, else `fallback` (`RETENTION_DAYS`) and "" (every change of the setting is a
/// new job, `RestampProgress::continues`).
pub fn in_force(setting: Option<&RetentionSetting>, fallback: RetentionDays) -> (RetentionDays, &str) {
    setting.map_or((fallback, ""), |s| (s.days, s.updated_at.as_str()))
}

/// Whether a stored group is visible now: its last occurrence is within the current retention.
/// The stored TTL is not consulted: the retention is live configuration, so a group stamped
/// under a shorter retention is still shown (and kept by the re-stamp job) after it grows, and
/// one stamped under a longer retention is hidden at once when it shrinks.
pub fn is_visible(g: &GroupRecord, now: OffsetDateTime, retention: RetentionDays) -> bool {
    g.last_occurred_at > time_fmt::format(now - retention.duration())
}

/// The longest an ingest invocation lasts (the function's timeout on the buffered path, the
/// longer one; checked against the template): a batch admitted under a retention read just
/// before a change may write with it until then.
pub const INGEST_LONGEST_INVOCATION: Duration = Duration::from_secs(60);

/// Whether the re-stamp job may run at `now` for a setting changed at `updated_at`: only once
/// no ingest instance applies the previous one, read before the change (at most
/// [`INGEST_CACHE_ON_FAILURE`] ago, when the setting cannot be read again), and every
/// invocation that began with it has ended ([`INGEST_LONGEST_INVOCATION`]), so none stamps the
/// previous retention behind the job (after only the cache's 60 s, a batch that began with the
/// old retention could land its writes after a job that had finished).
pub fn settled(updated_at: &str, now: OffsetDateTime) -> bool {
    time_fmt::parse(updated_at).is_none_or(|t| now - t >= SETTLE_WAIT)
}

/// How long after a change of the retention an ingest instance may still stamp the previous
/// one ([`settled`]): the longer of the cache's ages, then the longest invocation.
pub const SETTLE_WAIT: Duration = Duration::from_secs(180);

/// The time a re-stamp job started at `started_at` walks the groups up to (last occurrences
/// before it): a group last seen later was written once every ingest instance applied the
/// job's retention (the job starts settled, or waits [`SETTLE_WAIT`] from its start), its TTL
/// stamped with it already, even from a producer whose clock is ahead by
/// [`crate::event::MAX_CLOCK_SKEW`]. So the walk ends though groups keep moving to the newest
/// end of the index: before, when more groups changed between two runs than one run reads, it
/// never did. `None` when `started_at` cannot be read: the walk goes to the end.
pub fn restamp_walk_bound(started_at: &str) -> Option<OffsetDateTime> {
    let started = time_fmt::parse(started_at)?;
    started.checked_add(time::Duration::try_from(SETTLE_WAIT).ok()? + crate::event::MAX_CLOCK_SKEW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_job_waits_until_every_ingest_instance_has_read_the_change() {
        let changed = "2026-11-25T12:00:00.000Z";
        assert!(!settled(changed, datetime!(2026-11-25 12:02:59 UTC)));
        assert!(settled(changed, datetime!(2026-11-25 12:03:00 UTC)));
        assert!(settled("", datetime!(2026-11-25 12:00 UTC)));
        assert_eq!(SETTLE_WAIT, INGEST_CACHE.max(INGEST_CACHE_ON_FAILURE) + INGEST_LONGEST_INVOCATION);
    }

    #[test]
    fn a_re_stamp_walks_the_groups_last_seen_before_its_start_and_eight_minutes() {
        assert_eq!(restamp_walk_bound("2026-11-25T12:00:00.000Z"), Some(datetime!(2026-11-25 12:08 UTC)));
        assert_eq!(restamp_walk_bound(""), None);
    }
}
