//! A value an instance read from the table, kept for a while: the settings every request needs
//! (the retention, since when the rollups are kept) cost a `GetItem` once per `max_age` rather
//! than once per request, and a change made elsewhere applies within `max_age`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Cached<T> {
    max_age: Duration,
    value: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cached<T> {
    pub fn new(max_age: Duration) -> Self {
        Self { max_age, value: Mutex::new(None) }
    }

    /// The value, if read (or set) less than `max_age` ago.
    pub fn fresh(&self) -> Option<T> {
        let c = self.value.lock().ok()?;
        c.as_ref().filter(|(at, _)| at.elapsed() < self.max_age).map(|(_, v)| v.clone())
    }

    /// Records a value just read, or written by this instance, so it applies here at once.
    pub fn set(&self, value: T) {
        if let Ok(mut c) = self.value.lock() {
            *c = Some((Instant::now(), value));
        }
    }

    /// The last value read (or set), however old; `None` before the first.
    pub fn last_known(&self) -> Option<T> {
        self.value.lock().ok().and_then(|c| c.as_ref().map(|(_, v)| v.clone()))
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
}
