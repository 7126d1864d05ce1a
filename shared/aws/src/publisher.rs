//! Publishing the notifications a write left in the outbox: right after the writes that made
//! them (ingest), and, for records left by failed publishes, crashed invocations or the
//! reconciler, by a drain at most every [`DRAIN_EVERY`] (at once after a failure), by ingest and by
//! every maintenance run, so that a quiet stack publishes them too. A record is published by the invocation
//! that holds its lease, deleted once EventBridge accepted it, released otherwise.
//!
//! Publishing never delays the events' own writes (they come first) and never outlasts the
//! invocation: it stops at a deadline (the Lambda context's, less [`RESPONSE_MARGIN`]), leaving
//! what it did not publish in the outbox, leased for at most 30 s, for a later drain.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::time::timeout_at;

use scan_failures_domain::text;

use crate::dynamo::outbox::{self, Pending, OUTBOX_LEASE_SECONDS, OUTBOX_TTL_DAYS};
use crate::dynamo::Store;
use crate::eventbridge::{Notifier, PUT_EVENTS_ENTRIES};

/// How often an instance looks for outbox records left by others, even when its own publishes
/// succeed.
const DRAIN_EVERY: Duration = Duration::from_secs(60);
/// Outbox records read by one drain.
pub const DRAIN_BATCH: i32 = 25;
/// The most pages of [`DRAIN_BATCH`] records one [`Publisher::drain_until`] reads.
pub const MAX_DRAIN_PAGES: usize = 40;
/// How long a drain's page started before its `until` may go on after it: a page cut between
/// `PutEvents` and its deletes leaves published records for the next drain to publish again.
/// Within the maintenance run's 30 s reserve (`maintenance::STOP_RESERVE`).
pub const PAGE_GRACE: Duration = Duration::from_secs(20);
/// Time kept for answering the invocation after publishing stops at its deadline.
pub const RESPONSE_MARGIN: Duration = Duration::from_millis(500);
/// How long before its writes' leases lapse an invocation stops publishing what it wrote
/// itself: a publish (`PutEvents` with its retries, then the deletes) must end while the lease
/// still keeps drainers away, or a drainer may publish the same records too.
pub const LEASE_MARGIN_SECONDS: i64 = 10;

/// Whether leases taken at `leased_at` are too close to lapsing, at `now` (both wall clock,
/// epoch seconds), for a publish to start: it could still be at work when a drainer claims the
/// same records, and both would publish them.
pub fn lapsing(leased_at: i64, now: i64) -> bool {
    now >= leased_at + OUTBOX_LEASE_SECONDS - LEASE_MARGIN_SECONDS
}

/// What publishing did in one invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Records EventBridge accepted.
    pub published: u64,
    /// Records this invocation made or claimed and did not publish (left for a later drain).
    pub pending: u64,
}

/// The notifier of one function instance and its drain state.
#[derive(Debug)]
pub struct Publisher {
    notifier: Notifier,
    /// Set when outbox records may be waiting: at start, and after a failed publish.
    drain_needed: AtomicBool,
    last_drain: Mutex<Option<Instant>>,
    /// The wall clock leases are taken and judged by (epoch seconds).
    clock: fn() -> i64,
}

impl Publisher {
    pub fn new(notifier: Notifier) -> Self {
        Self {
            notifier,
            drain_needed: AtomicBool::new(true),
            last_drain: Mutex::new(None),
            clock: outbox::wall_clock_seconds,
        }
    }

    /// The same with `clock` for the wall clock: for tests, to make claims seem slow.
    pub fn with_clock(self, clock: fn() -> i64) -> Self {
        Self { clock, ..self }
    }

    /// Publishes the outbox records the writes just made, whose leases this invocation took
    /// at `leased_at` (wall clock, epoch seconds) or later, unless those leases are within
    /// [`LEASE_MARGIN_SECONDS`] of lapsing (a long batch): then a drain publishes them once
    /// they have. Then the records others left, when a drain is due; all of it stops at `until`.
    /// Returns how many EventBridge accepted and how many of those this invocation held are
    /// left in the outbox.
    pub async fn publish_until(
        &self,
        store: &Store,
        made: &[Pending],
        leased_at: i64,
        until: Option<Instant>,
    ) -> Published {
        let counts = Counts::default();
        let work = async {
            self.publish(store, made, leased_at, &counts).await;
            self.drain_if_needed(store, &counts).await;
        };
        self.bounded(until, work, || {
            tracing::warn!(
                count = made.len(),
                "notifications not published before the invocation's deadline; kept in the outbox for a later drain"
            )
        })
        .await;
        let (held, published) = (counts.held.load(Ordering::Relaxed), counts.published.load(Ordering::Relaxed));
        Published { published, pending: held.saturating_sub(published) }
    }

    /// Runs `work` until `until` (`None`: to its end); cut off there, it asks for a later drain
    /// and says so with `said`.
    async fn bounded(&self, until: Option<Instant>, work: impl std::future::Future<Output = ()>, said: impl FnOnce()) {
        match until {
            None => work.await,
            Some(until) => {
                if timeout_at(until.into(), work).await.is_err() {
                    self.drain_needed.store(true, Ordering::Relaxed);
                    said();
                }
            }
        }
    }

    /// Publishes outbox records this invocation holds the lease of (taken at `leased_at`), a
    /// `PutEvents` request of 10 at a time, and deletes those EventBridge accepted after each;
    /// the others are released for a later invocation. No request starts once the leases are
    /// within [`LEASE_MARGIN_SECONDS`] of lapsing (a long batch before the publish, claims
    /// slowed by a throttled table, requests slowed by retries): the rest stay leased, for a
    /// drain once they lapse. Before, every request was sent and the deletes came
    /// after the last, so a drainer could claim and publish again what was already accepted.
    async fn publish(&self, store: &Store, pending: &[Pending], leased_at: i64, counts: &Counts) {
        if pending.is_empty() {
            return;
        }
        counts.held.fetch_add(pending.len() as u64, Ordering::Relaxed);
        // Every lease of `pending` was taken by now, so none runs past this; a lease another
        // publisher takes once ours lapsed (at least 10 s from now: a publish starts only then,
        // `lapsing`) runs 30 s from then, past this.
        let held_until = (self.clock)() + OUTBOX_LEASE_SECONDS;
        for (n, chunk) in pending.chunks(PUT_EVENTS_ENTRIES).enumerate() {
            if lapsing(leased_at, (self.clock)()) {
                self.drain_needed.store(true, Ordering::Relaxed);
                tracing::warn!(
                    count = pending.len() - n * PUT_EVENTS_ENTRIES,
                    "notifications left in the outbox for a drain: their leases are about to lapse"
                );
                return;
            }
            if !self.publish_chunk(store, chunk, held_until, counts).await {
                // A failed request (throttled, out of reach): the rest are not sent after it,
                // released for a later invocation, as the request's own unsent ones are.
                for p in pending.get((n + 1) * PUT_EVENTS_ENTRIES..).unwrap_or_default() {
                    release(store, p, held_until).await;
                }
                return;
            }
        }
    }

    /// One `PutEvents` request's records published, each deleted or released; whether the
    /// request was answered.
    async fn publish_chunk(&self, store: &Store, pending: &[Pending], held_until: i64, counts: &Counts) -> bool {
        let done = self.notifier.publish(pending).await;
        let answered = done.failed.is_none();
        if let Some(e) = &done.failed {
            self.drain_needed.store(true, Ordering::Relaxed);
            let unsent = done.accepted.iter().filter(|ok| !**ok).count();
            tracing::warn!(error = %text::error_chain(e), count = unsent, "notifications not published; kept for retry");
        }
        for (p, ok) in pending.iter().zip(done.accepted) {
            if !ok {
                self.drain_needed.store(true, Ordering::Relaxed);
                if done.failed.is_none() {
                    tracing::warn!(outbox = %p.key, "notification not accepted by EventBridge; kept for retry");
                }
                release(store, p, held_until).await;
                continue;
            }
            counts.published.fetch_add(1, Ordering::Relaxed);
            tracing::info!(outbox = %p.key, detail_type = %p.detail_type, "notification published");
            if let Err(e) = store.outbox().delete(&p.key).await {
                tracing::warn!(outbox = %p.key, error = %text::error_chain(&e), "published notification not removed from the outbox");
            }
        }
        answered
    }

    /// The records of `pending` this invocation could claim (another may be publishing the
    /// rest), their leases taken at `now`: every lease runs from then, however long the claims
    /// took.
    async fn claim(&self, store: &Store, pending: Vec<Pending>, now: i64) -> Vec<Pending> {
        let mut claimed = Vec::with_capacity(pending.len());
        for p in pending {
            match store.outbox().claim(&p.key, now).await {
                Ok(true) => claimed.push(p),
                Ok(false) => {}
                Err(e) => {
                    self.drain_needed.store(true, Ordering::Relaxed);
                    tracing::warn!(outbox = %p.key, error = %text::error_chain(&e), "outbox record not claimed");
                }
            }
        }
        claimed
    }

    /// Drains the outbox page after page until a page is not full or neither publishes nor
    /// drops anything (expired records sit at the head of the outbox, the oldest, so a page of
    /// them is progress: the live records wait behind them), for
    /// [`MAX_DRAIN_PAGES`] at most, starting no page after `until`: a maintenance run's drain,
    /// which may follow a reconciliation that left thousands of notifications (one page a run,
    /// 25 every 5 minutes, would take hours on a quiet stack). A page started goes on to its
    /// end, cut only [`PAGE_GRACE`] after `until`. Returns what EventBridge accepted and what
    /// this drain claimed and left.
    pub async fn drain_until(&self, store: &Store, until: Option<Instant>) -> Published {
        let counts = Counts::default();
        let work = async {
            for _ in 0..MAX_DRAIN_PAGES {
                if until.is_some_and(|u| Instant::now() >= u) {
                    self.drain_needed.store(true, Ordering::Relaxed);
                    break;
                }
                let done = |c: &Counts| c.published.load(Ordering::Relaxed) + c.dropped.load(Ordering::Relaxed);
                let before = done(&counts);
                let read = self.drain_page(store, &counts).await;
                if read < DRAIN_BATCH as usize || done(&counts) == before {
                    break;
                }
            }
        };
        self.bounded(until.map(|u| u + PAGE_GRACE), work, || {
            tracing::warn!("the outbox's drain stopped at the invocation's deadline; the rest waits for a later drain")
        })
        .await;
        let (held, published) = (counts.held.load(Ordering::Relaxed), counts.published.load(Ordering::Relaxed));
        Published { published, pending: held.saturating_sub(published) }
    }

    /// Publishes outbox records left by earlier failures, when some may be waiting.
    async fn drain_if_needed(&self, store: &Store, counts: &Counts) {
        let stale = self.last_drain.lock().map(|t| t.is_none_or(|t| t.elapsed() >= DRAIN_EVERY)).unwrap_or(true);
        if !self.drain_needed.swap(false, Ordering::Relaxed) && !stale {
            return;
        }
        self.drain_page(store, counts).await;
    }

    /// One page of the outbox claimed and published; how many records it read.
    async fn drain_page(&self, store: &Store, counts: &Counts) -> usize {
        if let Ok(mut t) = self.last_drain.lock() {
            *t = Some(Instant::now());
        }
        let now = (self.clock)();
        match store.outbox().page(DRAIN_BATCH, now).await {
            Ok(page) => {
                let read = page.live.len() + page.expired.len();
                let dropped = self.drop_expired(store, &page.expired, now).await;
                counts.dropped.fetch_add(dropped, Ordering::Relaxed);
                let claimed = self.claim(store, page.live, now).await;
                self.publish(store, &claimed, now, counts).await;
                read
            }
            Err(e) => {
                self.drain_needed.store(true, Ordering::Relaxed);
                tracing::warn!(error = %text::error_chain(&e), "outbox not read");
                0
            }
        }
    }

    /// Deletes outbox records past their expiry unpublished: a notification 14 days late
    /// ([`OUTBOX_TTL_DAYS`]) tells of a state long changed, and TTL takes days to delete one.
    /// Returns how many it deleted.
    async fn drop_expired(&self, store: &Store, keys: &[String], now: i64) -> u64 {
        let mut dropped = 0u64;
        for key in keys {
            match store.outbox().drop_expired(key, now).await {
                Ok(true) => dropped += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(outbox = %key, error = %text::error_chain(&e), "expired outbox record not removed")
                }
            }
        }
        if dropped > 0 {
            tracing::warn!(
                count = dropped,
                days = OUTBOX_TTL_DAYS,
                "notifications past their expiry dropped from the outbox, not published"
            );
        }
        dropped
    }
}

/// Outbox records this invocation held and published (atomics: the counted future may be
/// dropped at the deadline, and what it counted until then still stands).
#[derive(Default)]
struct Counts {
    held: AtomicU64,
    published: AtomicU64,
    /// Expired records deleted unpublished.
    dropped: AtomicU64,
}

async fn release(store: &Store, p: &Pending, held_until: i64) {
    if let Err(e) = store.outbox().release(&p.key, held_until).await {
        tracing::warn!(outbox = %p.key, error = %text::error_chain(&e), "outbox lease not released; it lapses by itself");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publish_starts_only_with_more_than_the_margin_of_its_leases_left() {
        // A lease of 30 s taken at 1000 lapses at 1030; publishing stops 10 s before.
        assert!(!lapsing(1_000, 1_000));
        assert!(!lapsing(1_000, 1_019));
        assert!(lapsing(1_000, 1_020));
        assert!(lapsing(1_000, 1_031));
    }
}
