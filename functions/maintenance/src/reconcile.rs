//! The reconciler: AWS documents its ECR and Inspector events on EventBridge as best effort, so
//! a scan failure can be missed. Each pass lists Amazon Inspector's coverage of ECR images whose
//! status is `INACTIVE` (organization-wide in Inspector's delegated administrator account) and
//! records the failures no event brought. An occurrence found here has the idempotency key its
//! event would have had (`aws_sources::occurrence_key`: resource, reason, scan time), so one
//! that did arrive as an event is a duplicate, not a second count.
//!
//! A run reads at most `RECONCILE_MAX_PAGES` pages and stores its progress after each, so the
//! next run resumes at the page that follows; a finished pass starts again after
//! `RECONCILE_EVERY_MINUTES`. Deciding where a run starts ([`start`]) and what a page does to
//! the progress ([`ReconcileProgress`] via [`after_page`]) is pure; [`run`] executes it.

use std::time::Duration;

use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;

use scan_failures_aws::config::ConfigError;
use scan_failures_aws::dynamo::reconcile::ReconcileProgress;
use scan_failures_aws::dynamo::settings::RetentionCache;
use scan_failures_aws::dynamo::write::Recorded;
use scan_failures_aws::dynamo::{Store, StoreError};
use scan_failures_aws::inspector::{self, InspectorError};
use scan_failures_domain::event::aws_sources::{parse_coverage, Coverage};
use scan_failures_domain::event::{Admission, Parsed};
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::{text, time_fmt};

/// Pages read per run when `RECONCILE_MAX_PAGES` is unset: 5,000 coverage entries.
pub const DEFAULT_MAX_PAGES: u32 = 25;
/// Minutes between the start of two passes when `RECONCILE_EVERY_MINUTES` is unset.
pub const DEFAULT_EVERY_MINUTES: u32 = 360;

/// The reconciler's configuration; `None` in [`crate::MaintenanceConfig`] when it is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileConfig {
    /// `RECONCILE_MAX_PAGES`: `1..=1000`.
    pub max_pages: u32,
    /// `RECONCILE_EVERY_MINUTES`: `15..=10080` (a week).
    pub every: Duration,
}

impl ReconcileConfig {
    /// `RECONCILE_INSPECTOR` (`true` or `false`, default `false`) and the two bounds.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        match var("RECONCILE_INSPECTOR").as_deref().map(str::trim) {
            None | Some("false") => return Ok(None),
            Some("true") => {}
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "RECONCILE_INSPECTOR",
                    rule: "true or false",
                    value: other.to_owned(),
                })
            }
        }
        let bounded = |name: &'static str, default: u32, lo: u32, hi: u32, rule: &'static str| match var(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse::<u32>().ok().filter(|n| (lo..=hi).contains(n)).ok_or(ConfigError::Invalid {
                var: name,
                rule,
                value: raw,
            }),
        };
        let max_pages = bounded("RECONCILE_MAX_PAGES", DEFAULT_MAX_PAGES, 1, 1000, "a whole number from 1 to 1000")?;
        let minutes =
            bounded("RECONCILE_EVERY_MINUTES", DEFAULT_EVERY_MINUTES, 15, 10_080, "a whole number from 15 to 10080")?;
        Ok(Some(Self { max_pages, every: Duration::from_secs(u64::from(minutes) * 60) }))
    }
}

#[derive(Debug, Error)]
pub enum ReconcileError {
    #[error("the reconciler could not read Amazon Inspector's coverage")]
    Inspector(#[from] InspectorError),
    #[error("the reconciler could not store")]
    Store(#[from] StoreError),
}

/// Where a run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The last pass finished and the next is not due before `next_pass_at`.
    Wait { next_pass_at: String },
    /// The stored pass, from its next page.
    Resume(ReconcileProgress),
    /// A new pass from the first page.
    Fresh(ReconcileProgress),
}

/// Where a run at `now` starts, given the stored progress and the time between passes.
pub fn start(stored: Option<ReconcileProgress>, now: OffsetDateTime, every: Duration) -> Start {
    let fresh = || Start::Fresh(pass_from_the_first_page(now));
    match stored {
        None => fresh(),
        Some(p) if p.finished_at.is_none() => Start::Resume(p),
        Some(p) => {
            // A start after `now` (a stored time no clock of the function wrote) waits for nothing.
            let every = time::Duration::try_from(every).unwrap_or(time::Duration::MAX);
            let due = time_fmt::parse(&p.started_at).filter(|t| *t <= now).map(|t| t.saturating_add(every));
            match due {
                Some(due) if due > now => Start::Wait { next_pass_at: time_fmt::format(due) },
                _ => fresh(),
            }
        }
    }
}

/// A pass started at `now`, at its first page.
fn pass_from_the_first_page(now: OffsetDateTime) -> ReconcileProgress {
    let t = time_fmt::format(now);
    ReconcileProgress { started_at: t.clone(), updated_at: t, ..ReconcileProgress::default() }
}

/// What one page's entries came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PageCounts {
    pub examined: u64,
    pub recorded: u64,
    pub duplicates: u64,
    /// Entries that are no failure, or one too old to keep.
    pub ignored: u64,
    /// Entries that cannot be read as a failure (a field past its bound): logged, not stored.
    pub refused: u64,
}

impl std::ops::AddAssign for PageCounts {
    fn add_assign(&mut self, o: Self) {
        self.examined += o.examined;
        self.recorded += o.recorded;
        self.duplicates += o.duplicates;
        self.ignored += o.ignored;
        self.refused += o.refused;
    }
}

/// The progress after a page that came to `counts` and ended with `next_token`: the pass is
/// finished when there is no next page.
pub fn after_page(
    mut p: ReconcileProgress,
    counts: PageCounts,
    next_token: Option<String>,
    now: OffsetDateTime,
) -> ReconcileProgress {
    // The stored totals are outside data (another writer may have set them): saturating.
    p.pages = p.pages.saturating_add(1);
    p.examined = p.examined.saturating_add(counts.examined);
    p.recorded = p.recorded.saturating_add(counts.recorded);
    p.duplicates = p.duplicates.saturating_add(counts.duplicates);
    p.ignored = p.ignored.saturating_add(counts.ignored);
    p.refused = p.refused.saturating_add(counts.refused);
    p.updated_at = time_fmt::format(now);
    p.finished_at = next_token.is_none().then(|| p.updated_at.clone());
    p.next_token = next_token;
    p
}

/// The progress after Inspector refused the pass's stored page token at `now`: the pass starts
/// over from its first page the first time, and ends, given up, the second.
pub fn after_refusal(p: ReconcileProgress, now: OffsetDateTime) -> ReconcileProgress {
    if p.restarts == 0 {
        return ReconcileProgress { restarts: 1, ..pass_from_the_first_page(now) };
    }
    let at = time_fmt::format(now);
    ReconcileProgress { next_token: None, finished_at: Some(at.clone()), updated_at: at, given_up: true, ..p }
}

/// What a run did: part of the maintenance function's answer and log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// `waiting` (the last pass finished and the next is not due), `running` (pages remain
    /// for the next run) or `finished` (this run read the last page).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_pass_at: Option<String>,
    /// This run's pages and entries.
    pub pages: u32,
    pub this_run: PageCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<ReconcileProgress>,
}

/// How long one attempt of `ListCoverage` may take: a page of 200 entries filtered over an
/// organization's coverage, where the client's default (`SDK_ATTEMPT_TIMEOUT_MS`, at most 2 s,
/// for DynamoDB's calls on ingest's path) would fail a slow page at every attempt, and every run
/// with it. Bounded so that a page's call started just before the run's stop time, and a
/// DynamoDB call after it (the outbox's oldest record, for the run's metrics), end within
/// [`crate::STOP_RESERVE`] (checked by a test).
pub const INSPECTOR_ATTEMPT: Duration = Duration::from_secs(5);

/// The Inspector client of the reconciler: the stack's configuration, each attempt bounded by
/// [`INSPECTOR_ATTEMPT`].
pub fn inspector_client(aws: &aws_config::SdkConfig) -> aws_sdk_inspector2::Client {
    let config = aws_sdk_inspector2::config::Builder::from(aws)
        .timeout_config(scan_failures_aws::sdk::timeout_config(scan_failures_aws::config::SdkTimeouts {
            attempt: INSPECTOR_ATTEMPT,
        }))
        .build();
    aws_sdk_inspector2::Client::from_conf(config)
}

/// What became of a page's entries.
enum PageDone {
    /// Every entry examined.
    Whole(PageCounts),
    /// The run's time ran out first: the counts of the entries examined before. The page is read
    /// again by the next run, its entries recorded here then found as duplicates.
    Cut(PageCounts),
}

/// Records the failures of one page under `retention` at `now`, with the transitions at
/// `thresholds` (notifications on) in the outbox, starting no entry, nor a write's retry, from
/// `stop_at` on. A group found expired under `retention` is started anew only by the setting
/// read again through `cache` (an admin may have made it longer since the run read it: the
/// group shows again, with its count and triage, which starting anew would drop).
async fn record_page(
    store: &Store,
    entries: Vec<Coverage>,
    thresholds: Option<&[u64]>,
    (retention, cache): (RetentionDays, &RetentionCache),
    now: OffsetDateTime,
    stop_at: Option<std::time::Instant>,
) -> Result<PageDone, StoreError> {
    let writer = store.writer(thresholds).until(stop_at).confirming_expiry(Some(cache));
    let mut counts = PageCounts::default();
    for entry in entries {
        if stop_at.is_some_and(|s| std::time::Instant::now() >= s) {
            return Ok(PageDone::Cut(counts));
        }
        counts.examined += 1;
        let mut o = match parse_coverage(entry, now) {
            Ok(Parsed::Failure(o)) => o,
            Ok(_) => {
                counts.ignored += 1;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "coverage entry refused");
                counts.refused += 1;
                continue;
            }
        };
        if o.admit(now, retention.duration()) == Admission::Expired {
            counts.ignored += 1;
            continue;
        }
        let group = o.group_id();
        let recorded = match writer.record(&o, &group, retention, now).await {
            Ok((recorded, _)) => recorded,
            // Not recorded: the next run reads the page again.
            Err(StoreError::OutOfTime { .. }) => {
                counts.examined -= 1;
                return Ok(PageDone::Cut(counts));
            }
            Err(e) => return Err(e),
        };
        match recorded {
            Recorded::Duplicate => {
                // Listed again at every pass while the image stays inactive: its marker must
                // outlive the listing.
                writer.remember_longer(&o.envelope.key, now).await?;
                counts.duplicates += 1;
            }
            Recorded::Created | Recorded::Updated => {
                counts.recorded += 1;
                tracing::info!(group_id = %group, resource = %o.image.normalized(), reason = o.reason.code(), "reconciled a failure no event brought");
            }
        }
    }
    Ok(PageDone::Whole(counts))
}

/// One run at `now`: at most `config.max_pages` pages of the pass under way (or of a new one,
/// when due), no page, entry or write's retry started after `stop_at`, the progress stored
/// after each whole page, under the retention `retention` gives (read once, and again before a
/// group is started anew as expired). With `thresholds` (notifications on), the
/// group a failure opens, or a count it makes cross a threshold, leaves its notification in the
/// outbox, as an event's would; a drain publishes it (ingest's, or the next maintenance run's).
pub async fn run(
    store: &Store,
    inspector: &aws_sdk_inspector2::Client,
    config: &ReconcileConfig,
    thresholds: Option<&[u64]>,
    retention: &RetentionCache,
    now: OffsetDateTime,
    stop_at: Option<std::time::Instant>,
) -> Result<ReconcileReport, ReconcileError> {
    let cache = retention;
    let mut progress = match start(store.reconciliation().progress().await?, now, config.every) {
        Start::Wait { next_pass_at } => {
            return Ok(ReconcileReport {
                status: "waiting",
                next_pass_at: Some(next_pass_at),
                pages: 0,
                this_run: PageCounts::default(),
                pass: None,
            })
        }
        Start::Resume(p) | Start::Fresh(p) => p,
    };
    let retention = cache.get(store).await?;
    let mut this_run = PageCounts::default();
    let mut pages = 0u32;
    while pages < config.max_pages
        && progress.finished_at.is_none()
        && stop_at.is_none_or(|s| std::time::Instant::now() < s)
    {
        let page = match inspector::inactive_ecr_images(inspector, progress.next_token.clone()).await {
            Ok(page) => page,
            // A stored token Inspector no longer takes would fail every run at the same page:
            // the pass starts over, from the first page, once (what the pages before recorded
            // stays recorded; the new pass finds it again as duplicates). A second refusal in
            // the same pass ends it, given up, and is the run's error: the tokens do not last
            // from one run to the next, and starting over every run would never finish a pass,
            // without a word. The next pass starts when due, as after a finished one; before,
            // the stored token was tried again at every run, refused, for good.
            Err(e) if e.is_refused_request() && progress.next_token.is_some() => {
                tracing::warn!(error = %text::error_chain(&e), pages = progress.pages, restarts = progress.restarts, "Inspector refused the stored page token");
                progress = after_refusal(progress, now);
                store.reconciliation().save(&progress).await?;
                if progress.given_up {
                    return Err(e.into());
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let counts = match record_page(store, page.entries, thresholds, (retention, cache), now, stop_at).await? {
            PageDone::Whole(counts) => counts,
            PageDone::Cut(counts) => {
                this_run += counts;
                break;
            }
        };
        progress = after_page(progress, counts, page.next_token, now);
        // A next page's token too long to keep: this page's entries are recorded, and the pass
        // ends here, given up, and is the run's error, once; the next starts when due. Before,
        // the error came before the page was recorded, and every run asked for it again, for good.
        if let Some(length) = page.token_too_long {
            progress.given_up = true;
            store.reconciliation().save(&progress).await?;
            return Err(InspectorError::TokenTooLong(length).into());
        }
        store.reconciliation().save(&progress).await?;
        this_run += counts;
        pages += 1;
    }
    let status = if progress.finished_at.is_some() { "finished" } else { "running" };
    Ok(ReconcileReport { status, next_pass_at: None, pages, this_run, pass: Some(progress) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scan_failures_aws::config::vars as env;
    use time::macros::datetime;

    const EVERY: Duration = Duration::from_secs(6 * 3600);

    #[test]
    fn inspector_pages_get_a_longer_attempt_that_still_ends_within_the_runs_reserve() {
        let aws = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .timeout_config(scan_failures_aws::sdk::timeout_config(scan_failures_aws::config::SdkTimeouts {
                attempt: Duration::from_secs(2),
            }))
            .build();
        let client = inspector_client(&aws);
        let timeouts = client.config().timeout_config();
        assert_eq!(timeouts.and_then(|t| t.operation_attempt_timeout()), Some(INSPECTOR_ATTEMPT));
        assert_eq!(timeouts.and_then(|t| t.connect_timeout()), Some(Duration::from_millis(3_100)));
        let bound = |attempt| scan_failures_aws::sdk::call_bound(scan_failures_aws::config::SdkTimeouts { attempt });
        assert_eq!(bound(INSPECTOR_ATTEMPT), Duration::from_secs(18));
        // And one DynamoDB call at the longest attempt the template admits (2 s): 27 s.
        let then = bound(INSPECTOR_ATTEMPT) + bound(Duration::from_secs(2));
        assert!(then < crate::STOP_RESERVE, "{then:?}");
    }

    /// The stored totals come back from the table, where another writer may have put anything
    /// DynamoDB's numbers hold: at the top they stay there. Before, a release build wrapped them
    /// to small numbers and a debug one (the tests, `cargo lambda watch`) panicked.
    #[test]
    fn stored_totals_at_their_top_stay_there_after_a_page() {
        let now = datetime!(2026-11-25 12:00 UTC);
        let full = ReconcileProgress {
            pages: u64::MAX,
            examined: u64::MAX,
            recorded: u64::MAX,
            duplicates: u64::MAX,
            ignored: u64::MAX,
            refused: u64::MAX,
            ..ReconcileProgress::default()
        };
        let counts = PageCounts { examined: 3, recorded: 1, duplicates: 1, ignored: 1, refused: 1 };
        let p = after_page(full, counts, None, now);
        assert_eq!(
            (p.pages, p.examined, p.recorded, p.duplicates, p.ignored, p.refused),
            (u64::MAX, u64::MAX, u64::MAX, u64::MAX, u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn the_reconciler_is_off_unless_asked_and_its_bounds_are_checked() {
        assert_eq!(ReconcileConfig::from_env(env(&[])).unwrap(), None);
        assert_eq!(ReconcileConfig::from_env(env(&[("RECONCILE_INSPECTOR", "false")])).unwrap(), None);
        assert_eq!(
            ReconcileConfig::from_env(env(&[("RECONCILE_INSPECTOR", "true")])).unwrap(),
            Some(ReconcileConfig { max_pages: 25, every: EVERY })
        );
        let c = ReconcileConfig::from_env(env(&[
            ("RECONCILE_INSPECTOR", "true"),
            ("RECONCILE_MAX_PAGES", "3"),
            ("RECONCILE_EVERY_MINUTES", "15"),
        ]))
        .unwrap();
        assert_eq!(c, Some(ReconcileConfig { max_pages: 3, every: Duration::from_secs(900) }));
        for (var, value, message) in [
            ("RECONCILE_INSPECTOR", "yes", "RECONCILE_INSPECTOR must be true or false, got \"yes\""),
            ("RECONCILE_MAX_PAGES", "0", "RECONCILE_MAX_PAGES must be a whole number from 1 to 1000, got \"0\""),
            (
                "RECONCILE_EVERY_MINUTES",
                "5",
                "RECONCILE_EVERY_MINUTES must be a whole number from 15 to 10080, got \"5\"",
            ),
        ] {
            // The variable under test first: `vars` answers the first pair of a name.
            let vars = [(var, value), ("RECONCILE_INSPECTOR", "true")];
            assert_eq!(ReconcileConfig::from_env(env(&vars)).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn a_refused_token_starts_the_pass_over_once_and_then_ends_it_given_up_until_the_next_is_due() {
        let now = datetime!(2026-11-25 12:00 UTC);
        let Start::Fresh(first) = start(None, now, EVERY) else { panic!("a first pass") };
        let counts = PageCounts { examined: 200, recorded: 3, ..PageCounts::default() };
        let mid = after_page(first, counts, Some("stale".into()), now);
        let later = now + time::Duration::minutes(15);
        let over = after_refusal(mid, later);
        assert_eq!(
            (over.started_at.as_str(), over.next_token.as_deref(), over.pages, over.restarts, over.given_up),
            ("2026-11-25T12:15:00.000Z", None, 0, 1, false)
        );
        let again = after_page(over, counts, Some("stale-again".into()), later);
        let ended = after_refusal(again, later + time::Duration::minutes(15));
        assert_eq!(
            (ended.started_at.as_str(), ended.next_token.as_deref(), ended.pages, ended.given_up),
            ("2026-11-25T12:15:00.000Z", None, 1, true)
        );
        assert_eq!(ended.finished_at.as_deref(), Some("2026-11-25T12:30:00.000Z"));
        assert_eq!(
            start(Some(ended.clone()), later + time::Duration::minutes(30), EVERY),
            Start::Wait { next_pass_at: "2026-11-25T18:15:00.000Z".into() }
        );
        let Start::Fresh(next) = start(Some(ended), later + time::Duration::hours(6), EVERY) else { panic!("due") };
        assert_eq!((next.pages, next.restarts, next.given_up), (0, 0, false));
    }

    #[test]
    fn a_run_resumes_an_unfinished_pass_and_waits_out_a_finished_one() {
        let now = datetime!(2026-11-25 12:00 UTC);
        let Start::Fresh(first) = start(None, now, EVERY) else { panic!("a first pass") };
        assert_eq!(
            (first.started_at.as_str(), first.next_token.as_deref(), first.pages),
            ("2026-11-25T12:00:00.000Z", None, 0)
        );
        let counts = PageCounts { examined: 200, recorded: 3, duplicates: 5, ignored: 191, refused: 1 };
        let mid = after_page(first, counts, Some("page-2".into()), now);
        assert_eq!((mid.pages, mid.examined, mid.recorded, mid.finished_at.as_deref()), (1, 200, 3, None));
        assert_eq!(start(Some(mid.clone()), now + time::Duration::minutes(15), EVERY), Start::Resume(mid.clone()));
        let done = after_page(
            mid,
            PageCounts { examined: 7, ..PageCounts::default() },
            None,
            now + time::Duration::minutes(15),
        );
        assert_eq!((done.pages, done.examined, done.next_token.as_deref()), (2, 207, None));
        assert_eq!(done.finished_at.as_deref(), Some("2026-11-25T12:15:00.000Z"));
        assert_eq!(
            start(Some(done.clone()), now + time::Duration::hours(5), EVERY),
            Start::Wait { next_pass_at: "2026-11-25T18:00:00.000Z".into() }
        );
        let Start::Fresh(next) = start(Some(done), now + time::Duration::hours(6), EVERY) else { panic!("due") };
        assert_eq!((next.started_at.as_str(), next.pages), ("2026-11-25T18:00:00.000Z", 0));
    }

    /// A stored start no clock of the function wrote (in the future, or in the last days of
    /// 9999, where adding the time between passes would overflow) starts a pass; before, the
    /// addition panicked and every run after it aborted.
    #[test]
    fn a_finished_pass_stored_as_started_after_now_starts_a_pass_at_once() {
        let now = datetime!(2026-11-25 12:00 UTC);
        for stored in ["9999-12-31T23:59:59.999Z", "2026-11-25T12:00:00.001Z"] {
            let done = ReconcileProgress {
                started_at: stored.into(),
                finished_at: Some(stored.into()),
                ..ReconcileProgress::default()
            };
            let Start::Fresh(next) = start(Some(done), now, EVERY) else { panic!("{stored}: a pass starts") };
            assert_eq!(next.started_at, "2026-11-25T12:00:00.000Z");
        }
    }
}
