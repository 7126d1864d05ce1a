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

use crate::dynamo::outbox::{self, Pending, OUTBOX_LEASE_SECONDS};
use crate::dynamo::Store;
use crate::eventbridge::Notifier;

/// How often an instance looks for outbox records left by others, even when its own publishes
/// succeed.
const DRAIN_EVERY: Duration = Duration::from_secs(60);
/// Outbox records read by one drain.
const DRAIN_BATCH: i32 = 25;
/// Time kept for answering the invocation after publishing stops at its deadline.
pub const RESPONSE_MARGIN: Duration = Duration::from_millis(500);
/// How long before its writes' leases lapse an invocation stops publishing what it wrote
/// itself: a publish (`PutEvents` with its retries, then the deletes) must end while the lease
/// still keeps drainers away, or a drainer may publish the same records too.
pub const LEASE_MARGIN_SECONDS: i64 = 10;

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
}

impl Publisher {
    pub fn new(notifier: Notifier) -> Self {
        Self { notifier, drain_needed: AtomicBool::new(true), last_drain: Mutex::new(None) }
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
        let lapsing = outbox::wall_clock_seconds() >= leased_at + OUTBOX_LEASE_SECONDS - LEASE_MARGIN_SECONDS;
        if lapsing && !made.is_empty() {
            self.drain_needed.store(true, Ordering::Relaxed);
            tracing::warn!(
                count = made.len(),
                "notifications left in the outbox for a drain: their leases are about to lapse"
            );
        }
        let pending = if lapsing { &[][..] } else { made };
        let counts = Counts::default();
        let work = async {
            self.publish(store, pending, &counts).await;
            self.drain_if_needed(store, &counts).await;
        };
        match until {
            None => work.await,
            Some(until) => {
                if timeout_at(until.into(), work).await.is_err() {
                    self.drain_needed.store(true, Ordering::Relaxed);
                    tracing::warn!(
                        count = pending.len(),
                        "notifications not published before the invocation's deadline; kept in the outbox for a later drain"
                    );
                }
            }
        }
        let (held, published) = (counts.held.load(Ordering::Relaxed), counts.published.load(Ordering::Relaxed));
        let left = if lapsing { made.len() as u64 } else { 0 };
        Published { published, pending: held.saturating_sub(published) + left }
    }

    /// Publishes outbox records this invocation holds the lease of, and deletes those
    /// EventBridge accepted; the others are released for a later invocation.
    async fn publish(&self, store: &Store, pending: &[Pending], counts: &Counts) {
        if pending.is_empty() {
            return;
        }
        counts.held.fetch_add(pending.len() as u64, Ordering::Relaxed);
        let done = self.notifier.publish(pending).await;
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
                release(store, p).await;
                continue;
            }
            counts.published.fetch_add(1, Ordering::Relaxed);
            tracing::info!(outbox = %p.key, detail_type = %p.detail_type, "notification published");
            if let Err(e) = store.outbox().delete(&p.key).await {
                tracing::warn!(outbox = %p.key, error = %e, "published notification not removed from the outbox");
            }
        }
    }

    /// The records of `pending` this invocation could claim (another may be publishing the rest).
    async fn claim(&self, store: &Store, pending: Vec<Pending>) -> Vec<Pending> {
        let now = outbox::wall_clock_seconds();
        let mut claimed = Vec::with_capacity(pending.len());
        for p in pending {
            match store.outbox().claim(&p.key, now).await {
                Ok(true) => claimed.push(p),
                Ok(false) => {}
                Err(e) => {
                    self.drain_needed.store(true, Ordering::Relaxed);
                    tracing::warn!(outbox = %p.key, error = %e, "outbox record not claimed");
                }
            }
        }
        claimed
    }

    /// Publishes outbox records left by earlier failures, when some may be waiting.
    async fn drain_if_needed(&self, store: &Store, counts: &Counts) {
        let stale = self.last_drain.lock().map(|t| t.is_none_or(|t| t.elapsed() >= DRAIN_EVERY)).unwrap_or(true);
        if !self.drain_needed.swap(false, Ordering::Relaxed) && !stale {
            return;
        }
        if let Ok(mut t) = self.last_drain.lock() {
            *t = Some(Instant::now());
        }
        match store.outbox().pending(DRAIN_BATCH).await {
            Ok(pending) => {
                let claimed = self.claim(store, pending).await;
                self.publish(store, &claimed, counts).await;
            }
            Err(e) => {
                self.drain_needed.store(true, Ordering::Relaxed);
                tracing::warn!(error = %e, "outbox not read");
            }
        }
    }
}

/// Outbox records this invocation held and published (atomics: the counted future may be
/// dropped at the deadline, and what it counted until then still stands).
#[derive(Default)]
struct Counts {
    held: AtomicU64,
    published: AtomicU64,
}

async fn release(store: &Store, p: &Pending) {
    if let Err(e) = store.outbox().release(&p.key).await {
        tracing::warn!(outbox = %p.key, error = %e, "outbox lease not released; it lapses by itself");
    }
}
