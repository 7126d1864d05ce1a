//! The invocation's deadline, from Lambda's context: what a function checks before it starts
//! work that the deadline could cut short.

use std::time::Instant;

use time::OffsetDateTime;

/// The instant of a Lambda context's deadline (milliseconds since the epoch); `None` when it is
/// not in the future of this clock: a local emulator may send 0, and `cargo lambda watch` sends
/// 600000 (its timeout in milliseconds, not a time), so that work is never skipped there for a
/// deadline that is not one.
pub fn of(epoch_ms: u64) -> Option<Instant> {
    let now_ms = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).ok()?;
    let left = epoch_ms.checked_sub(now_ms).filter(|ms| *ms > 0)?;
    Instant::now().checked_add(std::time::Duration::from_millis(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_in_the_past_or_an_emulators_timeout_is_none_and_a_future_one_is_that_far_ahead() {
        assert_eq!(of(0), None);
        assert_eq!(of(600_000), None, "cargo lambda watch's");
        let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
        let left = of(now_ms + 30_000).unwrap().saturating_duration_since(Instant::now());
        assert!(left > std::time::Duration::from_secs(29) && left <= std::time::Duration::from_secs(30), "{left:?}");
    }
}
