//! A value an instance read from the table, kept for a while: the settings every request needs
//! (the retention, since when the rollups are kept) cost a `GetItem` once per `max_age` rather
//! than once per request, and a change made elsewhere applies within `max_age`.
//!
//! The age is measured on the wall clock, not the process's monotonic one: Lambda freezes an
//! idle execution environment between invocations, and what the monotonic clock does across a
//! freeze is not documented (it stops across a SnapStart restore), while the wall clock is kept
//! right. Callers rely on `max_age` being real time (a rollup switch, a retention change), so a
//! value whose age cannot be told (the clock went back past its reading) counts as stale.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[derive(Debug)]
pub struct Cached<T> {
    max_age: Duration,
    value: Mutex<Option<(SystemTime, T)>>,
}

impl<T: Clone> Cached<T> {
    pub fn new(max_age: Duration) -> Self {
        Self { max_age, value: Mutex::new(None) }
    }

    /// The value, if read (or set) less than `max_age` ago.
    pub fn fresh(&self) -> Option<T> {
        self.fresh_at(SystemTime::now())
    }

    fn fresh_at(&self, now: SystemTime) -> Option<T> {
        let c = self.value.lock().ok()?;
        c.as_ref().filter(|(at, _)| now.duration_since(*at).is_ok_and(|age| age < self.max_age)).map(|(_, v)| v.clone())
    }

    /// Records a value just read, or written by this instance, so it applies here at once.
    pub fn set(&self, value: T) {
        self.set_at(value, SystemTime::now());
    }

    fn set_at(&self, value: T, at: SystemTime) {
        if let Ok(mut c) = self.value.lock() {
            *c = Some((at, value));
        }
    }

    /// The last value read (or set), however old; `None` before the first.
    pub fn last_known(&self) -> Option<T> {
        self.value.lock().ok().and_then(|c| c.as_ref().map(|(_, v)| v.clone()))
    }

    /// The last value read (or set) less than `age` ago: what may stand in for a value that
    /// cannot be read again, where an older one would no longer be right.
    pub fn last_known_within(&self, age: Duration) -> Option<T> {
        self.last_known_within_at(age, SystemTime::now())
    }

    fn last_known_within_at(&self, age: Duration, now: SystemTime) -> Option<T> {
        let c = self.value.lock().ok()?;
        c.as_ref().filter(|(at, _)| now.duration_since(*at).is_ok_and(|a| a < age)).map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_fresh_until_max_age_and_known_after() {
        let kept = Cached::new(Duration::from_secs(60));
        assert_eq!((kept.fresh(), kept.last_known()), (None, None));
        kept.set(7);
        assert_eq!((kept.fresh(), kept.last_known()), (Some(7), Some(7)));
        let stale = Cached::new(Duration::ZERO);
        stale.set(7);
        assert_eq!((stale.fresh(), stale.last_known()), (None, Some(7)));
    }

    /// A value read before a freeze of an hour is stale after it, whatever the process's own
    /// clock says; a clock gone back past the reading makes it stale too.
    #[test]
    fn the_age_is_the_wall_clocks_and_an_age_that_cannot_be_told_is_stale() {
        let read = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let kept = Cached::new(Duration::from_secs(60));
        kept.set_at(7, read);
        assert_eq!(kept.fresh_at(read + Duration::from_secs(59)), Some(7));
        assert_eq!(kept.fresh_at(read + Duration::from_secs(60)), None);
        assert_eq!(kept.fresh_at(read + Duration::from_secs(3600)), None);
        assert_eq!(kept.fresh_at(read - Duration::from_secs(1)), None);
        // Stale, yet known within a longer age, and not past it.
        let within = |secs| kept.last_known_within_at(Duration::from_secs(120), read + Duration::from_secs(secs));
        assert_eq!((within(60), within(119), within(120)), (Some(7), Some(7), None));
    }
}
