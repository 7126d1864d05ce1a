//! What the maintenance function tells CloudWatch about one run, and about one redrive of the
//! rollup failure queue: one EMF document each (pure).

use scan_failures_aws::metrics::emf::{Document, Metric, Unit};
use scan_failures_aws::metrics::MetricsConfig;
use time::OffsetDateTime;

use crate::redrive::RedriveReport;
use crate::RunReport;

pub static GROUPS_EXAMINED: Metric = Metric {
    name: "RestampGroupsExamined",
    unit: Unit::Count,
    dimensions: &[&["Stack"]],
    help: "groups the TTL re-stamp job read in one run",
};
pub static GROUPS_RESTAMPED: Metric = Metric {
    name: "RestampGroupsRestamped",
    unit: Unit::Count,
    dimensions: &[&["Stack"]],
    help: "groups whose TTL one run changed to the retention in force",
};
pub static JOB_LAG: Metric = Metric {
    name: "RestampLag",
    unit: Unit::Seconds,
    dimensions: &[&["Stack"]],
    help: "seconds since the retention in force was set while its re-stamp job has not finished (0 once it has)",
};

pub static RECONCILE_EXAMINED: Metric = Metric {
    name: "ReconcileExamined",
    unit: Unit::Count,
    dimensions: &[&["Stack"]],
    help: "Inspector coverage entries of inactive ECR images the reconciler read in one run",
};
pub static RECONCILE_RECORDED: Metric = Metric {
    name: "ReconcileRecorded",
    unit: Unit::Count,
    dimensions: &[&["Stack"]],
    help: "failures the reconciler stored that no event had brought (AWS's best-effort events missed them)",
};
pub static RECONCILE_DUPLICATES: Metric = Metric {
    name: "ReconcileDuplicates",
    unit: Unit::Count,
    dimensions: &[&["Stack"]],
    help: "failures the reconciler found already stored (their event arrived, or an earlier pass, or a run cut within the page, recorded them)",
};

pub static OUTBOX_OLDEST_AGE: Metric = Metric {
    name: "OutboxOldestAge",
    unit: Unit::Seconds,
    dimensions: &[&["Stack"]],
    help: "with notifications on: seconds the oldest notification in the outbox has waited, 0 when none (every run)",
};

pub static REDRIVE_APPLIED: Metric = Metric {
    name: "RollupBatchesRedriven",
    unit: Unit::Count,
    dimensions: &[&["Stack"]],
    help: "batches of the rollup failure queue read back from the stream and applied in one redrive",
};
pub static REDRIVE_LEFT: Metric = Metric {
    name: "RollupBatchesLeft",
    unit: Unit::Count,
    dimensions: &[&["Stack"]],
    help: "messages one redrive left on the rollup failure queue (gone, failing or unreadable)",
};
pub static REDRIVE_SUPERSEDED: Metric = Metric {
    name: "RollupBatchesSuperseded",
    unit: Unit::Count,
    dimensions: &[&["Stack"]],
    help: "messages one redrive deleted unread: given up or sent before the time the rollups are kept since (their last restart, or when they started)",
};

/// Every metric the maintenance function emits.
pub static METRICS: &[&Metric] = &[
    &GROUPS_EXAMINED,
    &GROUPS_RESTAMPED,
    &JOB_LAG,
    &RECONCILE_EXAMINED,
    &RECONCILE_RECORDED,
    &RECONCILE_DUPLICATES,
    &OUTBOX_OLDEST_AGE,
    &REDRIVE_APPLIED,
    &REDRIVE_LEFT,
    &REDRIVE_SUPERSEDED,
];

/// A redrive's document: what it applied, and what it left for a restart or a later run.
pub fn redrive_document(report: &RedriveReport, config: &MetricsConfig, at: OffsetDateTime) -> Document {
    let left = report.gone + report.failing + report.unreadable;
    Document::new(&config.stack, at)
        .with(&REDRIVE_APPLIED, report.batches_applied as f64)
        .with(&REDRIVE_LEFT, left as f64)
        .with(&REDRIVE_SUPERSEDED, report.superseded as f64)
}

/// The run's document.
pub fn document(report: &RunReport, config: &MetricsConfig, at: OffsetDateTime) -> Document {
    let run = report.progress.as_ref().map(|p| p.this_run).unwrap_or_default();
    let document = Document::new(&config.stack, at);
    // A failed re-stamp has no figures: none rather than zeros (a lag of 0 reads "caught up").
    let document = if report.status == crate::FAILED {
        document
    } else {
        document
            .with(&GROUPS_EXAMINED, run.examined as f64)
            .with(&GROUPS_RESTAMPED, run.restamped as f64)
            .with(&JOB_LAG, report.lag_seconds as f64)
    };
    // The reconciler's only when it is on (a stack without it has no such metrics at all).
    let document = match &report.reconcile {
        None => document,
        Some(r) => document
            .with(&RECONCILE_EXAMINED, r.this_run.examined as f64)
            .with(&RECONCILE_RECORDED, r.this_run.recorded as f64)
            .with(&RECONCILE_DUPLICATES, r.this_run.duplicates as f64),
    };
    // The outbox's only with notifications on.
    match report.outbox_oldest_age_seconds {
        None => document,
        Some(age) => document.with(&OUTBOX_OLDEST_AGE, age as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_settling_run_examines_nothing_and_reports_its_lag() {
        let report = RunReport { status: "settling", retention_days: 30, lag_seconds: 42, ..crate::finished_run() };
        let config = MetricsConfig { enabled: true, stack: "prod".to_owned(), by_reason: true };
        assert_eq!(
            document(&report, &config, time::macros::datetime!(2026-12-02 10:00 UTC)).to_json(),
            json!({
                "_aws": {"Timestamp": 1_796_205_600_000_i64, "CloudWatchMetrics": [{"Namespace": "ScanFailures",
                    "Dimensions": [["Stack"]],
                    "Metrics": [{"Name": "RestampGroupsExamined", "Unit": "Count"},
                        {"Name": "RestampGroupsRestamped", "Unit": "Count"}, {"Name": "RestampLag", "Unit": "Seconds"}]}]},
                "Stack": "prod", "RestampGroupsExamined": 0, "RestampGroupsRestamped": 0, "RestampLag": 42
            })
        );
    }

    #[test]
    fn a_run_whose_re_stamp_failed_reports_the_outbox_and_no_re_stamp_figures() {
        let report = RunReport { outbox_oldest_age_seconds: Some(90), ..crate::failed_restamp() };
        let config = MetricsConfig { enabled: true, stack: "prod".to_owned(), by_reason: true };
        assert_eq!(
            document(&report, &config, time::macros::datetime!(2026-12-02 10:00 UTC)).to_json(),
            json!({
                "_aws": {"Timestamp": 1_796_205_600_000_i64, "CloudWatchMetrics": [{"Namespace": "ScanFailures",
                    "Dimensions": [["Stack"]],
                    "Metrics": [{"Name": "OutboxOldestAge", "Unit": "Seconds"}]}]},
                "Stack": "prod", "OutboxOldestAge": 90
            })
        );
    }

    #[test]
    fn a_run_with_the_reconciler_adds_what_it_examined_recorded_and_found_stored() {
        let reconcile = crate::reconcile::ReconcileReport {
            status: "running",
            next_pass_at: None,
            pages: 2,
            this_run: crate::reconcile::PageCounts {
                examined: 400,
                recorded: 3,
                duplicates: 17,
                ignored: 380,
                refused: 0,
            },
            pass: None,
        };
        let report = RunReport { reconcile: Some(reconcile), ..crate::finished_run() };
        let config = MetricsConfig { enabled: true, stack: "prod".to_owned(), by_reason: true };
        let doc = document(&report, &config, time::macros::datetime!(2026-12-02 10:00 UTC)).to_json();
        let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "RestampGroupsExamined",
                "RestampGroupsRestamped",
                "RestampLag",
                "ReconcileExamined",
                "ReconcileRecorded",
                "ReconcileDuplicates"
            ]
        );
        assert_eq!(
            (&doc["ReconcileExamined"], &doc["ReconcileRecorded"], &doc["ReconcileDuplicates"]),
            (&json!(400), &json!(3), &json!(17))
        );
    }

    #[test]
    fn a_run_with_notifications_on_reports_how_long_the_oldest_notification_waited() {
        let report = RunReport { outbox_oldest_age_seconds: Some(1_200), ..crate::finished_run() };
        let config = MetricsConfig { enabled: true, stack: "prod".to_owned(), by_reason: true };
        let doc = document(&report, &config, time::macros::datetime!(2026-12-02 10:00 UTC)).to_json();
        assert_eq!(doc["OutboxOldestAge"], json!(1_200));
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][3],
            json!({"Name": "OutboxOldestAge", "Unit": "Seconds"})
        );
    }

    #[test]
    fn a_redrive_reports_the_batches_it_applied_and_the_messages_it_left() {
        let report = RedriveReport {
            batches_applied: 3,
            superseded: 5,
            gone: 1,
            failing: 2,
            unreadable: 1,
            // Left for the next run, nothing wrong with it: not a batch left to repair.
            unfinished: 1,
            ..RedriveReport::default()
        };
        let config = MetricsConfig { enabled: true, stack: "prod".to_owned(), by_reason: true };
        let doc = redrive_document(&report, &config, time::macros::datetime!(2026-12-02 10:00 UTC)).to_json();
        assert_eq!(
            (&doc["RollupBatchesRedriven"], &doc["RollupBatchesLeft"], &doc["RollupBatchesSuperseded"]),
            (&json!(3), &json!(4), &json!(5))
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([
                {"Name": "RollupBatchesRedriven", "Unit": "Count"},
                {"Name": "RollupBatchesLeft", "Unit": "Count"},
                {"Name": "RollupBatchesSuperseded", "Unit": "Count"}
            ])
        );
    }
}
