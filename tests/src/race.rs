//! Races in the tests: racers released together, and the proof that they overlapped. A test
//! that claims a race shows its racers were in flight at once, or it proves nothing about one.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// When one racer's call started and ended.
pub type Span = (Instant, Instant);

/// Whether all of `spans` were in flight at one moment: the latest start came before the
/// earliest end (false for none).
pub fn all_in_flight_at_once(spans: &[Span]) -> bool {
    let latest_start = spans.iter().map(|s| s.0).max();
    let earliest_end = spans.iter().map(|s| s.1).min();
    matches!((latest_start, earliest_end), (Some(start), Some(end)) if start < end)
}

/// Runs `n` racers, each `racer(i)`'s future, released together at a barrier once every one is
/// built (what it sets up before its future starts is outside its span); each one's output with
/// its span, in the order of `i`.
pub async fn race<T, Fut>(n: usize, racer: impl Fn(usize) -> Fut) -> Vec<(T, Span)>
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, work) = (barrier.clone(), racer(i));
            tokio::spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                let out = work.await;
                (out, (start, Instant::now()))
            })
        })
        .collect();
    let mut done = Vec::with_capacity(n);
    for task in tasks {
        done.push(task.await.unwrap_or_else(|e| panic!("a racer failed: {e}")));
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn spans_overlap_only_when_the_latest_start_precedes_the_earliest_end() {
        let t = Instant::now();
        let at = |s: u64, e: u64| (t + Duration::from_millis(s), t + Duration::from_millis(e));
        assert!(all_in_flight_at_once(&[at(0, 10), at(5, 20), at(9, 11)]));
        assert!(!all_in_flight_at_once(&[at(0, 10), at(10, 20)]));
        assert!(!all_in_flight_at_once(&[]));
    }
}
