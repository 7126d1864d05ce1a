//! The one pause before retrying a DynamoDB call that conflicted, was throttled or left work
//! unprocessed: exponential in the attempt, capped, with jitter so that racing writers spread
//! out instead of colliding again.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The first pause, in milliseconds.
const BASE_MS: u64 = 5;
/// The pause stops doubling after this many attempts (5 ms << 6 = 320 ms, plus jitter).
const MAX_DOUBLINGS: u32 = 6;

/// The pause before retry number `attempt` (0 for the first retry): `5 ms << attempt`, at most
/// `320 ms`, plus a random part smaller than that.
pub fn delay(attempt: u32) -> Duration {
    let base_ms = BASE_MS << attempt.min(MAX_DOUBLINGS);
    let jitter = RandomState::new().hash_one(attempt) % base_ms;
    Duration::from_millis(base_ms + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_up_to_its_cap_and_jitters_below_twice_the_base() {
        for (attempt, base) in [(0, 5), (1, 10), (2, 20), (5, 160), (6, 320), (7, 320), (40, 320)] {
            for _ in 0..50 {
                let ms = delay(attempt).as_millis() as u64;
                assert!((base..2 * base).contains(&ms), "attempt {attempt}: {ms} ms");
            }
        }
    }
}
