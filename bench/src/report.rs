//! Percentiles and the JSON each benchmark writes (`scripts/bench-check.py` merges them into
//! `bench/results.json` and the table in BENCHMARKS.md).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};

/// Nearest-rank percentile (`p` in 0..=100) of unsorted samples; 0 for none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Figures of one benchmark part, keyed by a stable id (`ingest.e2e.wcu_per_event`).
#[derive(Default)]
pub struct Figures {
    figures: Map<String, Value>,
    details: Map<String, Value>,
}

impl Figures {
    pub fn add(&mut self, id: &str, value: f64, unit: &str, label: &str) {
        let value = if value.is_finite() { (value * 10_000.0).round() / 10_000.0 } else { value };
        self.figures.insert(id.to_owned(), json!({"value": value, "unit": unit, "label": label}));
    }

    /// A figure that could not be measured (e.g. a path that has not landed), with the reason.
    pub fn absent(&mut self, id: &str, unit: &str, label: &str, why: &str) {
        self.figures.insert(id.to_owned(), json!({"value": null, "unit": unit, "label": label, "note": why}));
    }

    /// Free-form material for the detail tables (not checked against budgets).
    pub fn detail(&mut self, key: &str, value: Value) {
        self.details.insert(key.to_owned(), value);
    }

    pub fn write(self, part: &str, command: &str, out: &Path) {
        let doc = json!({"part": part, "command": command, "figures": self.figures, "details": self.details});
        if let Some(dir) = out.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        std::fs::write(out, text + "\n").unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
        eprintln!("bench: {part}: wrote {}", out.display());
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((percentile(&s, 50.0), percentile(&s, 99.0), percentile(&s, 100.0)), (50.0, 99.0, 100.0));
        let twenty: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        assert_eq!((percentile(&twenty, 50.0), percentile(&twenty, 99.0)), (10.0, 20.0));
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
