//! The functions' CloudWatch metrics: what each emits is decided by a pure builder in the
//! function's crate (a list of [`emf::Document`]s, unit-tested whole); [`Sink`] writes them as
//! log lines.

pub mod emf;

use std::io::Write;

use thiserror::Error;

pub use crate::config::MetricsConfig;

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
