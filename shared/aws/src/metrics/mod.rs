//! The functions' CloudWatch metrics: what each emits is decided by a pure builder in the
//! function's crate (a list of [`emf::Document`]s, unit-tested whole); [`Sink`] writes them as
//! log lines.

pub mod emf;

use std::io::Write;

use thiserror::Error;

use crate::config::ConfigError;

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

/// A metric line that could not be written (stdout closed): logged, never fatal.
#[derive(Debug, Error)]
#[error("metric line not written")]
pub struct EmitError(#[source] std::io::Error);

/// Writes EMF documents as lines of the function's log (stdout), or nothing when metrics are
/// off.
#[derive(Debug, Clone)]
pub struct Sink {
    config: MetricsConfig,
}

impl Sink {
    pub fn new(config: MetricsConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// Writes each non-empty document on a line of its own, in one write so a concurrent log
    /// line cannot split it.
    pub fn emit(&self, documents: &[emf::Document]) {
        if !self.config.enabled {
            return;
        }
        let mut lines = String::new();
        for d in documents.iter().filter(|d| !d.is_empty()) {
            lines.push_str(&d.to_line());
            lines.push('\n');
        }
        if lines.is_empty() {
            return;
        }
        if let Err(e) = std::io::stdout().lock().write_all(lines.as_bytes()).map_err(EmitError) {
            tracing::warn!(error = %scan_failures_domain::text::error_chain(&e), "metrics not emitted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars as env;

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
