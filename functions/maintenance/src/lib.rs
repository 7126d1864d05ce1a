//! The maintenance function: run on a schedule (EventBridge Scheduler, or an `aws.events`
//! scheduled rule), it brings the TTL of existing groups in line with the retention in force,
//! a bounded number of groups per run, so a longer retention keeps groups that the previous
//! one would have let expire, and a shorter one lets them go.
//!
//! When `RECONCILE_INSPECTOR=true` it also reconciles Amazon Inspector's coverage with the
//! stored failures ([`reconcile`]). Each run also applies again the batches the rollup function
//! gave up on ([`redrive`]); an operator restarts the rollups ([`restart_rollups`]), which starts
//! a rebuild of them from the groups that the runs carry on ([`rebuild_rollups`]).
//!
//! A separate function, rather than a branch of the api: it runs with its own small role
//! (`ACTIONS`), its own timeout and concurrency of one, and a scheduled payload never reaches
//! the HTTP router.

// Outside data never reaches an unwrap, expect or panic: enforced, not only reviewed.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod metrics;
pub mod reconcile;
pub mod redrive;
pub mod scheduled;

use scan_failures_aws::config::{ConfigError, MetricsConfig};
use scan_failures_aws::dynamo::rollup::rebuild::RebuildReport;
use scan_failures_aws::dynamo::settings::{self, RestampProgress};
use scan_failures_aws::dynamo::{Store, StoreError};
use scan_failures_domain::retention::{self, RetentionDays};
use scan_failures_domain::{text, time_fmt};
use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;

/// Every DynamoDB operation the maintenance function's code calls; its IAM role should grant
/// exactly these (`Query` on the `byTime` index, the stream's reads on the stream, the others on
/// the table), and [`redrive::QUEUE_ACTIONS`] on the rollup failure queue.
/// The reconciler adds Inspector's `ListCoverage`, the writer's actions and its progress'
/// (granted only when it is on).
pub const ACTIONS: &[&[&str]] = &[
    settings::actions::RESTAMP,
    scan_failures_aws::dynamo::rollup::actions::RESTART,
    scan_failures_aws::dynamo::rollup::actions::WRITE,
    scan_failures_aws::dynamo::rollup::redrive::actions::READ_STREAM,
    scan_failures_aws::dynamo::rollup::rebuild::ACTIONS,
];
/// What the outbox's drain adds to [`ACTIONS`] with notifications on (`NOTIFY_BUS_NAME`).
pub const NOTIFY_ACTIONS: &[&[&str]] =
    &[scan_failures_aws::dynamo::outbox::actions::OUTBOX, scan_failures_aws::eventbridge::actions::PUBLISH];

/// What the reconciler adds to [`ACTIONS`] when `RECONCILE_INSPECTOR=true`.
pub const RECONCILE_ACTIONS: &[&[&str]] = &[
    scan_failures_aws::inspector::actions::RECONCILE,
    scan_failures_aws::dynamo::write::actions::RECORD,
    scan_failures_aws::dynamo::reconcile::actions::PROGRESS,
];

/// Groups visited per run when `RESTAMP_MAX_ITEMS` is unset: about 10 s of DynamoDB calls, well
/// within the function's timeout, and 100,000 groups in 10 runs.
pub const DEFAULT_MAX_ITEMS: u32 = 10_000;

/// What the maintenance function needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceConfig {
    pub table_name: String,
    /// `RETENTION_DAYS`: the retention when none is stored in the table.
    pub retention: RetentionDays,
    /// `RESTAMP_MAX_ITEMS`: groups visited per run, `1..=100000`.
    pub max_items: u32,
    /// `SDK_ATTEMPT_TIMEOUT_MS`.
    pub sdk: scan_failures_aws::config::SdkTimeouts,
    /// `METRICS`, `METRICS_STACK`.
    pub metrics: MetricsConfig,
    /// `RECONCILE_INSPECTOR`, `RECONCILE_MAX_PAGES`, `RECONCILE_EVERY_MINUTES`.
    pub reconcile: Option<reconcile::ReconcileConfig>,
    /// `NOTIFY_BUS_NAME`, `NOTIFY_SOURCE`, `NOTIFY_THRESHOLDS`: with notifications on, the
    /// reconciler records the transitions of the groups it opens in the outbox, and every run
    /// drains the outbox (what it and failed publishes of ingest left).
    pub notify: Option<scan_failures_aws::config::NotifyConfig>,
    /// `ROLLUP_FAILURE_QUEUE_URL`: the rollup function's failure queue, which a redrive reads
    /// (`None`: a redrive answers that it is not set).
    pub rollup_failure_queue_url: Option<String>,
}

impl MaintenanceConfig {
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let ingest = scan_failures_aws::config::IngestConfig::from_env(
            // No notifications and no reason breakdown here.
            |k| if k.starts_with("NOTIFY_") || k == "METRICS_BY_REASON" { None } else { var(k) },
        )?;
        let max_items = match var("RESTAMP_MAX_ITEMS") {
            None => DEFAULT_MAX_ITEMS,
            Some(raw) => {
                raw.trim().parse::<u32>().ok().filter(|n| (1..=100_000).contains(n)).ok_or(ConfigError::Invalid {
                    var: "RESTAMP_MAX_ITEMS",
                    rule: "a whole number from 1 to 100000",
                    value: raw,
                })?
            }
        };
        let reconcile = reconcile::ReconcileConfig::from_env(&var)?;
        let notify = scan_failures_aws::config::NotifyConfig::from_env(&var)?;
        let rollup_failure_queue_url =
            var("ROLLUP_FAILURE_QUEUE_URL").map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
        Ok(Self {
            reconcile,
            notify,
            rollup_failure_queue_url,
            table_name: ingest.table_name,
            retention: ingest.retention,
            max_items,
            sdk: ingest.sdk,
            metrics: ingest.metrics,
        })
    }
}

#[derive(Debug, Error)]
pub enum MaintenanceError {
    #[error("TTL re-stamp failed")]
    Store(#[from] StoreError),
    #[error("restarting the rollups failed")]
    RestartRollups(#[source] StoreError),
    #[error("rebuilding the rollups failed")]
    Rebuild(#[source] StoreError),
    #[error("reconciliation failed")]
    Reconcile(#[from] reconcile::ReconcileError),
    #[error("redriving the rollup failures failed")]
    Redrive(#[from] redrive::RedriveFailed),
}

impl From<MaintenanceError> for lambda_runtime::Diagnostic {
    fn from(e: MaintenanceError) -> Self {
        let error_type = match &e {
            MaintenanceError::Store(_) | MaintenanceError::RestartRollups(_) | MaintenanceError::Rebuild(_) => {
                "StoreUnavailable"
            }
            MaintenanceError::Reconcile(_) => "ReconcileFailed",
            MaintenanceError::Redrive(_) => "RedriveFailed",
        };
        Self { error_type: error_type.into(), error_message: text::error_chain(&e) }
    }
}

/// Whether an invocation's payload asks to restart the rollups (`{"restartRollups": true}`):
/// sent by an operator (`aws lambda invoke`), never by the schedules, whose payloads carry no
/// such key.
pub fn asks_rollup_restart(payload: &serde_json::Value) -> bool {
    payload.get("restartRollups") == Some(&serde_json::Value::Bool(true))
}

/// The answer to a restart: since when the rollups are kept now (`null`: the rollup function
/// has not started them, and a restart does not), whether this call moved it, and the
/// generation being rebuilt (absent: none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartReport {
    pub rollups_kept_since: Option<String>,
    pub moved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilding: Option<u32>,
}

/// Restarts the rollups at `now` (`Rollups::restart`: the repair after the rollup function
/// gave a batch up): the api reads the groups for the windows the lost changes could touch,
/// until the rebuild the restart starts is put in service.
pub async fn restart_rollups(store: &Store, now: OffsetDateTime) -> Result<RestartReport, MaintenanceError> {
    let done = store.rollups().restart(now).await.map_err(MaintenanceError::RestartRollups)?;
    Ok(RestartReport {
        rollups_kept_since: done.since.map(time_fmt::format),
        moved: done.moved,
        rebuilding: done.rebuilding,
    })
}

/// One bounded run of the rebuild of the rollups, when one is under way: at most `max_items`
/// groups marked, or the rebuilt generation put in service (`Rollups::rebuild`).
pub async fn rebuild_rollups(
    store: &Store,
    max_items: u32,
    now: OffsetDateTime,
    stop_at: Option<std::time::Instant>,
) -> Result<Option<RebuildReport>, MaintenanceError> {
    let rollups = store.rollups();
    let live = rollups.state().await.map_err(MaintenanceError::Rebuild)?.live;
    rollups.rebuild(live, max_items, now, stop_at).await.map_err(MaintenanceError::Rebuild)
}

/// How long before the invocation's deadline the paged parts of a run (the reconciliation's
/// pages, the rebuild's walk, the redrive's messages) stop taking up more: each page or message
/// saves its place before the next, so the next run goes on from there, and the run answers
/// with its metrics instead of being cut off by the function's timeout.
pub const STOP_RESERVE: std::time::Duration = std::time::Duration::from_secs(30);

/// A scheduled run's answer from its parts, each run whatever the others did: the re-stamp and
/// reconciliation (`done`), the rebuild of the rollups, and the redrive (`None`: no failure
/// queue). The first error, in that order, is the invocation's; the later ones are returned to
/// be logged.
pub fn settle(
    done: Result<RunReport, MaintenanceError>,
    rebuilt: Result<Option<RebuildReport>, MaintenanceError>,
    redriven: Option<Result<redrive::RedriveReport, MaintenanceError>>,
) -> (Result<RunReport, MaintenanceError>, Vec<MaintenanceError>) {
    let mut errors = Vec::new();
    let rebuild = rebuilt.map_err(|e| errors.push(e)).ok().flatten();
    let redrive = redriven.and_then(|r| r.map_err(|e| errors.push(e)).ok());
    match done {
        Err(e) => (Err(e), errors),
        Ok(_) if !errors.is_empty() => {
            let first = errors.remove(0);
            (Err(first), errors)
        }
        Ok(mut report) => {
            report.rebuild = rebuild;
            report.redrive = redrive;
            (Ok(report), errors)
        }
    }
}

/// What an invocation did: a scheduled run, or an operator's restart or redrive of the rollups.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Run(Box<RunReport>),
    Restart(RestartReport),
    Redrive(redrive::RedriveReport),
}

/// What one run did: its answer to the scheduler, and its log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// `settling` (the retention, stored or `RETENTION_DAYS`, changed less than 180 s ago:
    /// ingest instances may still stamp the previous one), `running`, `finished`, or [`FAILED`]
    /// (in the metrics and log line only).
    pub status: &'static str,
    pub retention_days: u16,
    /// Seconds since the retention in force was set (or its job started, when none is
    /// stored) while its re-stamp job has not finished; 0 once it has.
    pub lag_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<RestampProgress>,
    /// The reconciler's run, when it is on (set by `main` after [`reconcile::run`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<reconcile::ReconcileReport>,
    /// The redrive of the rollup failure queue, when the function knows the queue (set by
    /// `main` after [`redrive::run`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive: Option<redrive::RedriveReport>,
    /// The rebuild of the rollups, when one is under way (set by `main` after
    /// [`rebuild_rollups`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<RebuildReport>,
    /// The later parts (`rebuild`, `redrive`) not started for lack of time before the
    /// invocation's deadline (`scheduled::PART_RESERVE`); the next run does them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<&'static str>,
    /// With notifications on: seconds the oldest notification in the outbox has waited (0 when
    /// none waits), measured by every run so that a bus refusing them is heard on a quiet stack
    /// too, where no ingest invocation tries to publish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox_oldest_age_seconds: Option<u64>,
}

/// One run at `now`: the retention in force (the stored setting, else `fallback`), then at most
/// `max_items` groups re-stamped towards it, none after `stop_at` (the place saved after each
/// page and where it stops).
pub async fn run(
    store: &Store,
    fallback: RetentionDays,
    max_items: u32,
    now: OffsetDateTime,
    stop_at: Option<std::time::Instant>,
) -> Result<RunReport, MaintenanceError> {
    let setting = store.settings().retention_setting().await?;
    let (retention, generation) = retention::in_force(setting.as_ref(), fallback);
    let since = |t: &str| time_fmt::parse(t).map_or(0, |t| u64::try_from((now - t).whole_seconds()).unwrap_or(0));
    // A change, stored or of the default, waits until no ingest instance stamps what it replaced.
    let held = match &setting {
        Some(s) => Some(s.updated_at.clone()).filter(|t| !retention::settled(t, now)),
        None => store.settings().default_change_held(retention, now).await?,
    };
    if let Some(changed_at) = held {
        let lag_seconds = since(&changed_at);
        return Ok(RunReport {
            status: "settling",
            retention_days: retention.get(),
            lag_seconds,
            progress: None,
            reconcile: None,
            redrive: None,
            rebuild: None,
            skipped: Vec::new(),
            outbox_oldest_age_seconds: None,
        });
    }
    let progress = store.settings().restamp_ttl(retention, generation, max_items, now, stop_at).await?;
    let status = if progress.finished { "finished" } else { "running" };
    let lag_seconds = match (&setting, progress.finished) {
        (_, true) => 0,
        (Some(s), false) => since(&s.updated_at),
        (None, false) => since(&progress.started_at),
    };
    Ok(RunReport {
        status,
        retention_days: retention.get(),
        lag_seconds,
        progress: Some(progress),
        reconcile: None,
        redrive: None,
        rebuild: None,
        skipped: Vec::new(),
        outbox_oldest_age_seconds: None,
    })
}

/// [`RunReport::status`] of a run whose re-stamp failed: its report carries the other parts'
/// figures only (the invocation answers the error).
pub const FAILED: &str = "failed";

/// The report of a run whose re-stamp failed, for the other parts' figures.
pub fn failed_restamp() -> RunReport {
    RunReport {
        status: FAILED,
        retention_days: 0,
        lag_seconds: 0,
        progress: None,
        reconcile: None,
        redrive: None,
        rebuild: None,
        skipped: Vec::new(),
        outbox_oldest_age_seconds: None,
    }
}

/// A finished run that did nothing else: the unit tests' report, each changing what it is about.
#[cfg(test)]
pub(crate) fn finished_run() -> RunReport {
    RunReport { status: "finished", retention_days: 4, ..failed_restamp() }
}

/// Seconds since `oldest` at `now` (0 for none, or for a time after `now`).
pub fn waited_seconds(oldest: Option<OffsetDateTime>, now: OffsetDateTime) -> u64 {
    oldest.map_or(0, |t| u64::try_from((now - t).whole_seconds()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    use scan_failures_aws::config::vars as env;

    #[test]
    fn only_an_explicit_restart_rollups_true_restarts_them_and_a_schedules_payload_never_does() {
        assert!(asks_rollup_restart(&serde_json::json!({"restartRollups": true})));
        let scheduled = serde_json::json!({
            "version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events",
            "time": "2026-12-04T11:00:00Z", "resources": ["arn:aws:events:us-east-1:123456789012:rule/r"], "detail": {}
        });
        for other in [
            serde_json::json!({}),
            serde_json::Value::Null,
            scheduled,
            serde_json::json!({"restartRollups": "true"}),
            serde_json::json!({"restartRollups": false}),
            serde_json::json!({"detail": {"restartRollups": true}}),
        ] {
            assert!(!asks_rollup_restart(&other), "{other}");
        }
    }

    #[test]
    fn a_run_answers_the_first_failure_of_its_parts_and_returns_the_later_ones_to_be_logged() {
        let report = finished_run;
        let failed = |what: &str| MaintenanceError::Rebuild(StoreError::Cancelled(what.into()));
        let rebuilt = || RebuildReport {
            generation: 2,
            status: "marking",
            examined: 6,
            marked: 6,
            unreadable: 0,
            marked_total: 6,
            joined_total: 0,
        };
        let redrove = || redrive::RedriveReport::default();
        let chains = |v: &[MaintenanceError]| v.iter().map(|e| text::error_chain(e)).collect::<Vec<_>>();

        let (answer, also) = settle(Ok(report()), Ok(Some(rebuilt())), Some(Ok(redrove())));
        let answer = answer.unwrap();
        assert_eq!((answer.rebuild, answer.redrive), (Some(rebuilt()), Some(redrove())));
        assert!(also.is_empty());

        let (answer, also) = settle(Ok(report()), Err(failed("rebuild")), Some(Err(failed("redrive"))));
        assert_eq!(
            text::error_chain(&answer.unwrap_err()),
            "rebuilding the rollups failed: DynamoDB cancelled the write: rebuild"
        );
        assert_eq!(chains(&also), ["rebuilding the rollups failed: DynamoDB cancelled the write: redrive"]);

        let (answer, also) = settle(Err(failed("run")), Ok(None), Some(Err(failed("redrive"))));
        assert_eq!(
            text::error_chain(&answer.unwrap_err()),
            "rebuilding the rollups failed: DynamoDB cancelled the write: run"
        );
        assert_eq!(chains(&also), ["rebuilding the rollups failed: DynamoDB cancelled the write: redrive"]);

        let (answer, also) = settle(Ok(report()), Ok(None), Some(Err(failed("redrive"))));
        assert_eq!(
            text::error_chain(&answer.unwrap_err()),
            "rebuilding the rollups failed: DynamoDB cancelled the write: redrive"
        );
        assert!(also.is_empty());
    }

    #[test]
    fn the_batch_size_defaults_to_10000_and_is_bounded() {
        let c = MaintenanceConfig::from_env(env(&[("TABLE_NAME", "t")])).unwrap();
        assert_eq!((c.max_items, c.retention.get()), (10_000, 4));
        let c = MaintenanceConfig::from_env(env(&[
            ("TABLE_NAME", "t"),
            ("RESTAMP_MAX_ITEMS", "500"),
            ("RETENTION_DAYS", "30"),
        ]))
        .unwrap();
        assert_eq!((c.max_items, c.retention.get()), (500, 30));
        for bad in ["0", "100001", "many"] {
            let err = MaintenanceConfig::from_env(env(&[("TABLE_NAME", "t"), ("RESTAMP_MAX_ITEMS", bad)])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("RESTAMP_MAX_ITEMS must be a whole number from 1 to 100000, got {bad:?}")
            );
        }
    }
}
