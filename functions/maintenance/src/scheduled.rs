//! A scheduled run: the re-stamp and the reconciliation, then the rebuild of the rollups, then
//! the redrive of their failure queue, each whatever the others did ([`crate::settle`]), and
//! each of the later two only with time left before the invocation's deadline.

use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_sqs::Client as SqsClient;
use scan_failures_aws::dynamo::settings::RetentionCache;
use scan_failures_aws::dynamo::Store;
use scan_failures_aws::metrics::Sink;
use scan_failures_aws::publisher::Publisher;
use time::OffsetDateTime;

use crate::{
    metrics, rebuild_rollups, reconcile, redrive, run, settle, MaintenanceConfig, MaintenanceError, RunReport,
};

/// The time the rebuild and the redrive each need left before the deadline to start: a run of
/// the rebuild at the default size took 8 s on DynamoDB Local (BENCHMARKS.md), and the redrive
/// reads up to 100 messages and their batches; with less, the function's timeout could cut
/// them. That would lose nothing (a mark and its count are one transaction, the walk's cursor
/// is saved per page, a message is deleted only once applied, and applying is idempotent), but
/// it is an invocation error, an alarm, for work the next run does anyway.
pub const PART_RESERVE: Duration = Duration::from_secs(60);

/// The longest a run drains the outbox (page after page, up to 1,000 records): a backlog a
/// reconciliation left waits for the next runs rather than take the time of the run's metrics,
/// its rebuild and its redrive.
pub const DRAIN_BUDGET: Duration = Duration::from_secs(60);

/// Whether a part may start at `now` within an invocation whose deadline is `deadline` (`None`:
/// unknown, as under a local emulator: see `scan_failures_aws::deadline`).
pub fn time_for_part(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_none_or(|d| d.saturating_duration_since(now) >= PART_RESERVE)
}

/// What a run works with, built once by `main`.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub store: &'a Store,
    pub config: &'a MaintenanceConfig,
    pub sink: &'a Sink,
    /// Amazon Inspector, when the reconciler is on.
    pub inspector: Option<&'a aws_sdk_inspector2::Client>,
    pub streams: &'a StreamsClient,
    pub sqs: &'a SqsClient,
    /// With notifications on: the outbox's drain.
    pub publisher: Option<&'a Publisher>,
}

impl Parts<'_> {
    /// A redrive of the failure queue and its metrics, before `deadline`: on an operator's
    /// request, or at the end of a run.
    pub async fn redrive(
        &self,
        now: OffsetDateTime,
        deadline: Option<Instant>,
    ) -> Result<redrive::RedriveReport, MaintenanceError> {
        let queue = self.config.rollup_failure_queue_url.as_deref();
        let done = redrive::run(self.store, self.streams, self.sqs, queue, now, deadline).await?;
        self.sink.emit(&[metrics::redrive_document(&done, &self.config.metrics, now)]);
        Ok(done)
    }

    /// One scheduled run at `now`, before `deadline`. A later part skipped for lack of time is
    /// named in the report's `skipped` and in a warning; the next run does it.
    pub async fn scheduled(
        &self,
        now: OffsetDateTime,
        deadline: Option<Instant>,
    ) -> Result<RunReport, MaintenanceError> {
        let (store, config) = (self.store, self.config);
        let began = Instant::now();
        let stop_at = deadline.and_then(|d| d.checked_sub(crate::STOP_RESERVE));
        let done = async {
            // Each part runs whatever the others did (Inspector's faults are not the re-stamp's,
            // nor DynamoDB's throttling of the re-stamp the outbox's): before, a failed re-stamp
            // returned at once, and the reconciliation, the drain and the metrics were skipped.
            let restamped = run(store, config.retention, config.max_items, now, stop_at).await;
            let mut reconciled = Ok(None);
            if let (Some(reconcile), Some(inspector)) = (&config.reconcile, self.inspector) {
                let thresholds = config.notify.as_ref().map(|n| n.thresholds.as_slice());
                // Read at once, and again before a group is started anew.
                let retention = RetentionCache::new(config.retention, Duration::ZERO);
                reconciled = reconcile::run(store, inspector, reconcile, thresholds, &retention, now, stop_at)
                    .await
                    .map(Some)
                    .map_err(MaintenanceError::from);
                if let Ok(Some(done)) = &reconciled {
                    tracing::info!(
                        status = done.status,
                        pages = done.pages,
                        examined = done.this_run.examined,
                        recorded = done.this_run.recorded,
                        duplicates = done.this_run.duplicates,
                        "reconciliation run"
                    );
                }
            }
            let mut outbox_oldest_age_seconds = None;
            if let Some(publisher) = self.publisher {
                // What failed publishes and the reconciler left, page after page (a record the
                // reconciler wrote just now is leased for 30 s: the next run publishes it). Then
                // how long what is left has waited.
                let budget = Instant::now() + DRAIN_BUDGET;
                let until = stop_at.map_or(budget, |s| s.min(budget));
                let drained = publisher.drain_until(store, Some(until)).await;
                if drained.published > 0 || drained.pending > 0 {
                    tracing::info!(published = drained.published, left = drained.pending, "outbox drained");
                }
                // A metric's read: a failure is logged, and the run goes on without the figure.
                match store.outbox().oldest_written_at().await {
                    Ok(oldest) => outbox_oldest_age_seconds = Some(crate::waited_seconds(oldest, now)),
                    Err(e) => tracing::warn!(error = %scan_failures_domain::text::error_chain(&e), "the outbox's oldest notification not read"),
                }
            }
            // The metrics go out either way; the re-stamp's figures only when it answered.
            let (mut report, restamp_error) = match restamped {
                Ok(report) => (report, None),
                Err(e) => (crate::failed_restamp(), Some(e)),
            };
            report.outbox_oldest_age_seconds = outbox_oldest_age_seconds;
            let reconcile_error = match reconciled {
                Ok(done) => {
                    report.reconcile = done;
                    None
                }
                Err(e) => Some(e),
            };
            self.sink.emit(&[metrics::document(&report, &config.metrics, now)]);
            tracing::info!(
                status = report.status,
                retention_days = report.retention_days,
                examined = report.progress.as_ref().map_or(0, |p| p.examined),
                restamped = report.progress.as_ref().map_or(0, |p| p.restamped),
                lag_seconds = report.lag_seconds,
                "maintenance run"
            );
            // The re-stamp's error first, then the reconciliation's: the invocation's error.
            match (restamp_error, reconcile_error) {
                (None, None) => Ok(report),
                (Some(e), None) | (None, Some(e)) => Err(e),
                (Some(e), Some(also)) => {
                    tracing::error!(error = %scan_failures_domain::text::error_chain(&also), "maintenance run: the reconciliation failed too");
                    Err(e)
                }
            }
        }
        .await;
        let mut skipped = Vec::new();
        let mut has_time = |part: &'static str| {
            let left = time_for_part(deadline, Instant::now());
            if !left {
                let left_ms = deadline.map_or(0, |d| d.saturating_duration_since(Instant::now()).as_millis());
                tracing::warn!(
                    part,
                    left_ms,
                    "maintenance run: part skipped, too little time left before the deadline"
                );
                skipped.push(part);
            }
            left
        };
        // Then a rebuild of the rollups, when one is under way, whether or not the re-stamp or
        // the reconciliation failed (Inspector's faults, say, are not its own).
        // At the time it starts: a switch keeps folding into the generation it replaces for
        // `RETIRED_FOLD` after it, and counted from the invocation's start, after the re-stamp
        // and the reconciliation had taken up to 4 of its 5 minutes, that was as little as one.
        let part_starts = now + began.elapsed();
        let rebuilt = if has_time("rebuild") {
            rebuild_rollups(store, config.max_items, part_starts, stop_at).await
        } else {
            Ok(None)
        };
        if let Ok(Some(r)) = &rebuilt {
            tracing::info!(
                generation = r.generation,
                status = r.status,
                examined = r.examined,
                marked = r.marked,
                unreadable = r.unreadable,
                marked_total = r.marked_total,
                joined_total = r.joined_total,
                "rollups rebuild"
            );
        }
        // Then the run applies again what the rollup function gave up on, once its cause has
        // passed: a transient fault heals within 5 minutes, with no operator. Last, so that a
        // failing queue cannot cost the run's metrics and log line; and whatever the parts before
        // it did.
        let redriven = match config.rollup_failure_queue_url {
            Some(_) if has_time("redrive") => Some(self.redrive(now, deadline).await),
            _ => None,
        };
        let (report, also) = settle(done, rebuilt, redriven);
        for e in also {
            tracing::error!(error = %scan_failures_domain::text::error_chain(&e), "maintenance run: a later part failed too");
        }
        report.map(|r| RunReport { skipped, ..r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_starts_with_a_minute_left_or_no_deadline_known() {
        let now = Instant::now();
        assert!(time_for_part(None, now), "no deadline known");
        assert!(time_for_part(Some(now + Duration::from_secs(60)), now));
        assert!(!time_for_part(Some(now + Duration::from_millis(59_999)), now));
        assert!(!time_for_part(Some(now), now + Duration::from_secs(1)), "past it");
    }
}
