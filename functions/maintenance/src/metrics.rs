//! What the maintenance function tells CloudWatch about one run: one EMF document (pure).

use scan_failures_aws::metrics::emf::{Document, Metric, Unit};
use scan_failures_aws::metrics::MetricsConfig;
use time::OffsetDateTime;

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

/// Every metric the maintenance function emits.
pub static METRICS: &[&Metric] = &[&GROUPS_EXAMINED, &GROUPS_RESTAMPED, &JOB_LAG];

/// The run's document.
pub fn document(report: &RunReport, config: &MetricsConfig, at: OffsetDateTime) -> Document {
    let run = report.progress.as_ref().map(|p| p.this_run).unwrap_or_default();
    Document::new(&config.stack, at)
        .with(&GROUPS_EXAMINED, run.examined as f64)
        .with(&GROUPS_RESTAMPED, run.restamped as f64)
        .with(&JOB_LAG, report.lag_seconds as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_settling_run_examines_nothing_and_reports_its_lag() {
        let report =
            RunReport { status: "settling", retention_days: 30, lag_seconds: 42, progress: None, reconcile: None };
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
}
