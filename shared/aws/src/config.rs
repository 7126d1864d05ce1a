//! Configuration from the environment, read once at start-up. A bad value stops the function
//! from starting, with a message that names the variable.

use thiserror::Error;

use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::text;
use scan_failures_http::auth::{AuthConfigError, Policy, Principals};

/// Why the configuration was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} must be set ({hint})")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var} must be {rule}, got {value:?}")]
    Invalid { var: &'static str, rule: &'static str, value: String },
    #[error("{var} {source}")]
    Principals {
        var: &'static str,
        #[source]
        source: AuthConfigError,
    },
    #[error("LOCAL_PRINCIPAL is a local-development opt-in and is refused inside AWS Lambda ({marker} is set)")]
    LocalPrincipalInAws { marker: &'static str },
}

/// How long one attempt at an AWS call may take when `SDK_ATTEMPT_TIMEOUT_MS` is unset:
/// hundreds of times DynamoDB's own latency, and short enough that the SDK's three attempts and
/// their back-off (at most 3 s) fit in the ingest function's 10 s timeout.
pub const DEFAULT_SDK_ATTEMPT_TIMEOUT_MS: u64 = 2_000;

/// What `SDK_ATTEMPT_TIMEOUT_MS` may be, in ms. No more than the default: three attempts of a
/// longer bound and their back-off would pass the ingest function's 10 s timeout and its SQS
/// batches' write margin (the template test holds both), so a slow DynamoDB would cut the
/// invocation off instead of failing the attempt; a buffered batch would come back whole, each
/// message spending a receive.
pub const SDK_ATTEMPT_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=2_000;

/// The bound on one attempt at an AWS call (`SDK_ATTEMPT_TIMEOUT_MS`, [`SDK_ATTEMPT_TIMEOUT_MS_RANGE`]). Without
/// it, a service that accepts a connection and never answers holds the invocation until the
/// Lambda timeout; with it, the attempt fails, the SDK's standard retry tries again on a new
/// connection, and after the last attempt the caller gets a timeout error it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkTimeouts {
    pub attempt: std::time::Duration,
}

impl SdkTimeouts {
    pub const RULE: &'static str = "a whole number of milliseconds from 100 to 2000";

    pub fn from_env(var: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let Some(raw) = var("SDK_ATTEMPT_TIMEOUT_MS") else { return Ok(Self::default()) };
        let ms = raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| SDK_ATTEMPT_TIMEOUT_MS_RANGE.contains(ms))
            .ok_or(ConfigError::Invalid { var: "SDK_ATTEMPT_TIMEOUT_MS", rule: Self::RULE, value: raw })?;
        Ok(Self { attempt: std::time::Duration::from_millis(ms) })
    }
}

impl Default for SdkTimeouts {
    fn default() -> Self {
        Self { attempt: std::time::Duration::from_millis(DEFAULT_SDK_ATTEMPT_TIMEOUT_MS) }
    }
}

/// What the ingest function needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    pub table_name: String,
    pub retention: RetentionDays,
    pub sdk: SdkTimeouts,
    /// Notifications of group transitions; `None` when `NOTIFY_BUS_NAME` is unset.
    pub notify: Option<NotifyConfig>,
    pub metrics: MetricsConfig,
}

impl IngestConfig {
    /// Reads `TABLE_NAME`, `RETENTION_DAYS`, `SDK_ATTEMPT_TIMEOUT_MS` and the `NOTIFY_*` and `METRICS*` variables
    /// through `var` (the process environment in production, a map in tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: table_name(&var)?,
            retention: retention(&var)?,
            sdk: SdkTimeouts::from_env(&var)?,
            notify: NotifyConfig::from_env(&var)?,
            metrics: MetricsConfig::from_env(&var, true)?,
        })
    }
}

/// Variables the Lambda service sets in every execution environment, and local emulators
/// (`cargo lambda watch`) do not.
pub const AWS_RUNTIME_MARKERS: [&str; 3] =
    ["AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME"];

/// What the api function needs.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub table_name: String,
    pub retention: RetentionDays,
    pub sdk: SdkTimeouts,
    pub policy: Policy,
    /// The caller assumed for requests that carry no IAM identity: local development only.
    pub local_principal: Option<String>,
    pub metrics: MetricsConfig,
    /// `API_MAX_ITEMS_READ`: records one count, summary or trend reads at most.
    pub max_items_read: u64,
    /// `API_READ_ROLLUPS`: whether a count, summary or trend the rollups cover is answered from
    /// them. Off unless the stack runs the rollup function on the table's stream (the template
    /// does): without it, the rollups are empty.
    pub read_rollups: bool,
}

/// Records one count, summary or trend reads at most when `API_MAX_ITEMS_READ` is unset: about
/// 10 s of reading for a summary on the api's 512 MB (BENCHMARKS.md: 100,000 groups in about
/// 20 s), well inside API Gateway's 30 s, and 6,000 read units at most.
pub const DEFAULT_MAX_ITEMS_READ: u64 = 50_000;

/// The values `API_MAX_ITEMS_READ` may take. At most 100,000: about 20 s of reading for a
/// summary by the measure above, inside the api's 29 s timeout; 1,000,000, the bound before,
/// let a request run into it and the caller get API Gateway's 5xx instead of `too broad`.
pub const MAX_ITEMS_READ_RANGE: std::ops::RangeInclusive<u64> = 100..=100_000;

impl ApiConfig {
    /// Reads `TABLE_NAME`, `RETENTION_DAYS`, `SDK_ATTEMPT_TIMEOUT_MS`, `ADMIN_VIEW_PRINCIPALS`,
    /// `ADMIN_WRITE_PRINCIPALS`, `API_MAX_ITEMS_READ`, `API_READ_ROLLUPS`, the `METRICS*` variables and the local
    /// opt-in `LOCAL_PRINCIPAL`, which is refused when the Lambda service runs us.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let principals = |name: &'static str| {
            Principals::parse_checked(&var(name).unwrap_or_default())
                .map_err(|source| ConfigError::Principals { var: name, source })
        };
        let local_principal = var("LOCAL_PRINCIPAL").filter(|p| !p.trim().is_empty());
        if local_principal.is_some() {
            if let Some(marker) = AWS_RUNTIME_MARKERS.into_iter().find(|m| var(m).is_some()) {
                return Err(ConfigError::LocalPrincipalInAws { marker });
            }
        }
        Ok(Self {
            table_name: table_name(&var)?,
            retention: retention(&var)?,
            sdk: SdkTimeouts::from_env(&var)?,
            policy: Policy { view: principals("ADMIN_VIEW_PRINCIPALS")?, write: principals("ADMIN_WRITE_PRINCIPALS")? },
            local_principal,
            metrics: MetricsConfig::from_env(&var, false)?,
            max_items_read: match var("API_MAX_ITEMS_READ") {
                None => DEFAULT_MAX_ITEMS_READ,
                Some(raw) => raw.trim().parse::<u64>().ok().filter(|n| MAX_ITEMS_READ_RANGE.contains(n)).ok_or(
                    ConfigError::Invalid {
                        var: "API_MAX_ITEMS_READ",
                        rule: "a whole number from 100 to 100000",
                        value: raw,
                    },
                )?,
            },
            read_rollups: match var("API_READ_ROLLUPS").as_deref().map(str::trim) {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => {
                    return Err(ConfigError::Invalid {
                        var: "API_READ_ROLLUPS",
                        rule: "true or false",
                        value: var("API_READ_ROLLUPS").unwrap_or_default(),
                    })
                }
            },
        })
    }
}

/// The rollup function's configuration: the table and the SDK's timeouts.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupConfig {
    pub table_name: String,
    pub sdk: SdkTimeouts,
}

impl RollupConfig {
    /// Reads `TABLE_NAME` and `SDK_ATTEMPT_TIMEOUT_MS`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self { table_name: table_name(&var)?, sdk: SdkTimeouts::from_env(&var)? })
    }
}

/// Occurrence counts whose crossing is notified when `NOTIFY_THRESHOLDS` is unset.
pub const DEFAULT_THRESHOLDS: [u64; 3] = [10, 100, 1000];
/// The `source` of published notifications when `NOTIFY_SOURCE` is unset.
pub const DEFAULT_SOURCE: &str = "scan-failures";

/// Notification settings from the environment: `NOTIFY_BUS_NAME` (unset: notifications off),
/// `NOTIFY_SOURCE` (default `scan-failures`), `NOTIFY_THRESHOLDS` (default `10,100,1000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    pub bus: String,
    pub source: String,
    pub thresholds: Vec<u64>,
}

impl NotifyConfig {
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(bus) = var("NOTIFY_BUS_NAME").filter(|b| !b.trim().is_empty()) else { return Ok(None) };
        let source = var("NOTIFY_SOURCE").filter(|s| !s.trim().is_empty()).unwrap_or_else(|| DEFAULT_SOURCE.into());
        // EventBridge refuses each entry of such a source, one by one: notifications would wait
        // in the outbox until they expire, with nothing failing loudly. Refused here instead.
        if source.starts_with("aws.") || source.len() > 256 {
            return Err(ConfigError::Invalid {
                var: "NOTIFY_SOURCE",
                rule: "at most 256 bytes and not starting with aws. (EventBridge keeps those for AWS services)",
                value: text::prefix(&source, 300).to_owned(),
            });
        }
        let thresholds = match var("NOTIFY_THRESHOLDS") {
            None => DEFAULT_THRESHOLDS.to_vec(),
            Some(raw) => parse_thresholds(&raw).ok_or(ConfigError::Invalid {
                var: "NOTIFY_THRESHOLDS",
                rule:
                    "1 to 10 comma-separated whole numbers from 2 to 1000000000 (in any order, a repeat counted once)",
                value: raw,
            })?,
        };
        Ok(Some(Self { bus, source, thresholds }))
    }
}

/// The thresholds of `raw`, increasing. They are a set: a list out of order or with a repeat (a
/// deployment's typo the template's pattern cannot tell) means the same thresholds, where
/// refusing it would stop every ingest invocation at start-up.
fn parse_thresholds(raw: &str) -> Option<Vec<u64>> {
    let values: Option<Vec<u64>> = raw.split(',').map(|t| t.trim().parse::<u64>().ok()).collect();
    let mut values = values?;
    if !(1..=10).contains(&values.len()) || !values.iter().all(|t| (2..=1_000_000_000).contains(t)) {
        return None;
    }
    values.sort_unstable();
    values.dedup();
    Some(values)
}

/// `METRICS`, `METRICS_STACK`, `METRICS_BY_REASON`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `METRICS` (`on` by default; `off`: no metric lines at all).
    pub enabled: bool,
    /// `METRICS_STACK`: the value of the `Stack` dimension (the template sets the stack's
    /// name; `local` when unset).
    pub stack: String,
    /// `METRICS_BY_REASON` (`true` by default): the per-reason breakdown of the occurrences
    /// stored, one custom metric per reason seen.
    pub by_reason: bool,
}

/// The `Stack` dimension's value when `METRICS_STACK` is unset.
pub const DEFAULT_STACK: &str = "local";

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, stack: DEFAULT_STACK.to_owned(), by_reason: true }
    }
}

impl MetricsConfig {
    /// Reads `METRICS`, `METRICS_STACK` and, when the function has a reason breakdown
    /// (`breakdown`: ingest only), `METRICS_BY_REASON`.
    pub fn from_env(var: &impl Fn(&str) -> Option<String>, breakdown: bool) -> Result<Self, ConfigError> {
        let switch = |name: &'static str, on: &str, off: &str, rule: &'static str| match var(name) {
            None => Ok(true),
            Some(raw) if raw.trim() == on => Ok(true),
            Some(raw) if raw.trim() == off => Ok(false),
            Some(raw) => Err(ConfigError::Invalid { var: name, rule, value: raw }),
        };
        let stack = var("METRICS_STACK").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(Self {
            enabled: switch("METRICS", "on", "off", "on or off")?,
            stack: stack.unwrap_or_else(|| DEFAULT_STACK.to_owned()),
            by_reason: breakdown && switch("METRICS_BY_REASON", "true", "false", "true or false")?,
        })
    }
}

/// An environment made of `pairs`, read the way the `from_env` functions read it: for tests and
/// local tools, in place of the process environment.
pub fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |k| pairs.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())
}

fn table_name(var: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    match var("TABLE_NAME") {
        Some(t) if !t.trim().is_empty() => Ok(t),
        _ => Err(ConfigError::Missing { var: "TABLE_NAME", hint: "the DynamoDB table that holds the failure groups" }),
    }
}

fn retention(var: &impl Fn(&str) -> Option<String>) -> Result<RetentionDays, ConfigError> {
    match var("RETENTION_DAYS") {
        None => Ok(RetentionDays::default()),
        Some(raw) => raw.trim().parse::<u16>().ok().and_then(RetentionDays::new).ok_or(ConfigError::Invalid {
            var: "RETENTION_DAYS",
            rule: RetentionDays::RULE,
            value: raw,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::vars as env;

    #[test]
    fn retention_defaults_to_four_days() {
        let c = IngestConfig::from_env(env(&[("TABLE_NAME", "t")])).unwrap();
        assert_eq!(c.retention.get(), 4);
    }

    #[test]
    fn retention_outside_1_to_365_stops_start_up_naming_the_variable() {
        for bad in ["0", "400", "abc", "-1", ""] {
            let err = IngestConfig::from_env(env(&[("TABLE_NAME", "t"), ("RETENTION_DAYS", bad)])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("RETENTION_DAYS must be a whole number of days from 1 to 365, got {bad:?}")
            );
        }
        for good in ["1", "365", " 30 "] {
            assert!(IngestConfig::from_env(env(&[("TABLE_NAME", "t"), ("RETENTION_DAYS", good)])).is_ok());
        }
    }

    #[test]
    fn the_local_principal_is_refused_when_lambda_runs_the_function() {
        let local = [("TABLE_NAME", "t"), ("LOCAL_PRINCIPAL", "arn:aws:iam::123456789012:user/local-admin")];
        assert!(ApiConfig::from_env(env(&local)).is_ok_and(|c| c.local_principal.is_some()));
        for marker in AWS_RUNTIME_MARKERS {
            let mut vars = local.to_vec();
            vars.push((marker, "x"));
            assert_eq!(
                ApiConfig::from_env(env(&vars)).unwrap_err().to_string(),
                format!(
                    "LOCAL_PRINCIPAL is a local-development opt-in and is refused inside AWS Lambda ({marker} is set)"
                )
            );
        }
    }

    #[test]
    fn unset_principal_lists_deny_everyone() {
        let c = ApiConfig::from_env(env(&[("TABLE_NAME", "t")])).unwrap();
        assert!(c.policy.view.is_empty() && c.policy.write.is_empty());
        let bad =
            ApiConfig::from_env(env(&[("TABLE_NAME", "t"), ("ADMIN_VIEW_PRINCIPALS", "123456789012")])).unwrap_err();
        assert!(bad.to_string().starts_with("ADMIN_VIEW_PRINCIPALS pattern 1 must be an ARN"), "{bad}");
    }

    #[test]
    fn one_request_reads_at_most_50000_records_unless_set_within_bounds() {
        let c = ApiConfig::from_env(env(&[("TABLE_NAME", "t")])).unwrap();
        assert_eq!(c.max_items_read, 50_000);
        let set = ApiConfig::from_env(env(&[("TABLE_NAME", "t"), ("API_MAX_ITEMS_READ", " 100 ")])).unwrap();
        assert_eq!(set.max_items_read, 100);
        let most = ApiConfig::from_env(env(&[("TABLE_NAME", "t"), ("API_MAX_ITEMS_READ", "100000")])).unwrap();
        assert_eq!(most.max_items_read, 100_000);
        for bad in ["99", "100001", "1000000", "lots"] {
            let err = ApiConfig::from_env(env(&[("TABLE_NAME", "t"), ("API_MAX_ITEMS_READ", bad)])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("API_MAX_ITEMS_READ must be a whole number from 100 to 100000, got {bad:?}")
            );
        }
    }

    #[test]
    fn the_rollups_are_read_only_when_api_read_rollups_is_true() {
        let read = |v: Option<&str>| {
            let mut pairs = vec![("TABLE_NAME", "t")];
            pairs.extend(v.map(|v| ("API_READ_ROLLUPS", v)));
            ApiConfig::from_env(env(&pairs)).map(|c| c.read_rollups).map_err(|e| e.to_string())
        };
        assert_eq!(read(None), Ok(false));
        assert_eq!(read(Some("false")), Ok(false));
        assert_eq!(read(Some(" true ")), Ok(true));
        assert_eq!(read(Some("yes")), Err("API_READ_ROLLUPS must be true or false, got \"yes\"".to_owned()));
    }

    #[test]
    fn the_sdk_attempt_timeout_defaults_to_2000_ms_and_is_bounded() {
        let c = IngestConfig::from_env(env(&[("TABLE_NAME", "t")])).unwrap();
        assert_eq!(c.sdk.attempt, std::time::Duration::from_millis(2_000));
        let set = ApiConfig::from_env(env(&[("TABLE_NAME", "t"), ("SDK_ATTEMPT_TIMEOUT_MS", " 300 ")])).unwrap();
        assert_eq!(set.sdk.attempt, std::time::Duration::from_millis(300));
        for bad in ["99", "2001", "60000", "2.5", "", "-1"] {
            let err = IngestConfig::from_env(env(&[("TABLE_NAME", "t"), ("SDK_ATTEMPT_TIMEOUT_MS", bad)])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("SDK_ATTEMPT_TIMEOUT_MS must be a whole number of milliseconds from 100 to 2000, got {bad:?}")
            );
        }
    }

    #[test]
    fn a_missing_table_name_stops_start_up() {
        assert_eq!(
            IngestConfig::from_env(env(&[])).unwrap_err().to_string(),
            "TABLE_NAME must be set (the DynamoDB table that holds the failure groups)"
        );
    }

    #[test]
    fn notifications_are_off_without_a_bus_and_thresholds_default_to_10_100_1000() {
        assert_eq!(NotifyConfig::from_env(env(&[])), Ok(None));
        assert_eq!(
            NotifyConfig::from_env(env(&[("NOTIFY_BUS_NAME", "ops")])),
            Ok(Some(NotifyConfig {
                bus: "ops".into(),
                source: "scan-failures".into(),
                thresholds: vec![10, 100, 1000]
            }))
        );
        for bad in ["", "1", "abc", "10,,100", "1000000001", "2,3,4,5,6,7,8,9,10,11,12"] {
            let err = NotifyConfig::from_env(env(&[("NOTIFY_BUS_NAME", "ops"), ("NOTIFY_THRESHOLDS", bad)]));
            assert!(err.is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            NotifyConfig::from_env(env(&[("NOTIFY_BUS_NAME", "ops"), ("NOTIFY_THRESHOLDS", "1")]))
                .unwrap_err()
                .to_string(),
            "NOTIFY_THRESHOLDS must be 1 to 10 comma-separated whole numbers from 2 to 1000000000 (in any order, a \
             repeat counted once), got \"1\""
        );
    }

    #[test]
    fn thresholds_out_of_order_or_repeated_are_the_same_set_not_a_start_up_failure() {
        let thresholds = |raw: &str| {
            NotifyConfig::from_env(env(&[("NOTIFY_BUS_NAME", "ops"), ("NOTIFY_THRESHOLDS", raw)]))
                .map(|c| c.map(|c| c.thresholds))
        };
        assert_eq!(thresholds("1000, 10,100,10"), Ok(Some(vec![10, 100, 1000])));
        assert_eq!(thresholds("10,5"), Ok(Some(vec![5, 10])));
    }

    #[test]
    fn a_notification_source_eventbridge_would_refuse_is_refused_at_start() {
        let err = NotifyConfig::from_env(env(&[("NOTIFY_BUS_NAME", "ops"), ("NOTIFY_SOURCE", "aws.inspector2")]));
        assert_eq!(
            err.unwrap_err().to_string(),
            "NOTIFY_SOURCE must be at most 256 bytes and not starting with aws. (EventBridge keeps those for AWS \
             services), got \"aws.inspector2\""
        );
        let long = "s".repeat(257);
        assert!(NotifyConfig::from_env(env(&[("NOTIFY_BUS_NAME", "ops"), ("NOTIFY_SOURCE", &long)])).is_err());
        let ok = NotifyConfig::from_env(env(&[("NOTIFY_BUS_NAME", "ops"), ("NOTIFY_SOURCE", "awsome.scans")]));
        assert_eq!(ok.map(|c| c.map(|c| c.source)), Ok(Some("awsome.scans".to_owned())));
    }

    #[test]
    fn metrics_are_on_with_the_reason_breakdown_for_the_local_stack_by_default() {
        assert_eq!(MetricsConfig::from_env(&env(&[]), true).unwrap(), MetricsConfig::default());
        assert_eq!(
            MetricsConfig::from_env(
                &env(&[("METRICS", "off"), ("METRICS_STACK", "prod"), ("METRICS_BY_REASON", "false")]),
                true
            )
            .unwrap(),
            MetricsConfig { enabled: false, stack: "prod".to_owned(), by_reason: false }
        );
    }

    #[test]
    fn a_bad_switch_stops_start_up_naming_the_variable() {
        let err = MetricsConfig::from_env(&env(&[("METRICS", "yes")]), true).unwrap_err();
        assert_eq!(err.to_string(), "METRICS must be on or off, got \"yes\"");
        let err = MetricsConfig::from_env(&env(&[("METRICS_BY_REASON", "off")]), true).unwrap_err();
        assert_eq!(err.to_string(), "METRICS_BY_REASON must be true or false, got \"off\"");
        // A function without the breakdown does not read it.
        let c = MetricsConfig::from_env(&env(&[("METRICS_BY_REASON", "off")]), false).unwrap();
        assert!(!c.by_reason);
    }
}
