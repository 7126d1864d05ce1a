//! CloudWatch Embedded Metric Format (EMF): a metric is a number in a JSON log line whose `_aws`
//! member tells CloudWatch Logs to extract it. No API call, no agent: the function's own log
//! line is the metric.
//!
//! A small model of the specification's document (`_aws.Timestamp`, `_aws.CloudWatchMetrics`:
//! one directive per distinct list of dimension sets, the dimension and metric values as root
//! members) rather than the `metrics` facade: every metric here is declared once as a
//! [`Metric`] (name, unit, dimension sets), which the template test reads to check the
//! dashboard and alarms, and a document is a plain value a unit test compares whole.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

/// The namespace of every metric the functions emit (the dashboard and alarms name it too).
pub const NAMESPACE: &str = "ScanFailures";

/// The dimension every metric carries: the stack's name, so two stacks in one account and
/// region keep apart.
pub const STACK: &str = "Stack";

/// The specification's limits on one document.
pub mod limits {
    /// Metric definitions in one directive.
    pub const METRICS_PER_DIRECTIVE: usize = 100;
    /// Dimension keys in one dimension set.
    pub const DIMENSIONS_PER_SET: usize = 30;
    /// Characters of a dimension value CloudWatch accepts.
    pub const DIMENSION_VALUE: usize = 1024;
}

/// CloudWatch's unit of a metric (the subset used here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    /// A figure with no unit CloudWatch knows (DynamoDB capacity units).
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Seconds => "Seconds",
            Self::None => "None",
        }
    }
}

/// One metric as CloudWatch stores it: each dimension set is a separate billed custom metric.
#[derive(Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    /// Every set starts with [`STACK`].
    pub dimensions: &'static [&'static [&'static str]],
    /// What it counts or measures (the book's Monitoring page, `docs/src/monitoring.md`, says the same).
    pub help: &'static str,
}

/// One EMF document: the dimension values it carries and the metric values put in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    timestamp_ms: i64,
    dimensions: Vec<(&'static str, String)>,
    values: Vec<(&'static Metric, f64)>,
    /// Root members that are neither dimensions nor metrics (a request id to search by).
    properties: Vec<(&'static str, String)>,
}

impl Document {
    /// A document for `stack` at `at`.
    pub fn new(stack: &str, at: OffsetDateTime) -> Self {
        let timestamp_ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
        Self { timestamp_ms, dimensions: Vec::new(), values: Vec::new(), properties: Vec::new() }
            .dimension(STACK, stack)
    }

    /// Sets a dimension's value (bounded to what CloudWatch accepts; an empty value, which
    /// CloudWatch refuses, becomes `none`).
    pub fn dimension(mut self, name: &'static str, value: &str) -> Self {
        let value = if value.is_empty() { "none" } else { value };
        let value: String = value.chars().take(limits::DIMENSION_VALUE).collect();
        match self.dimensions.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.dimensions.push((name, value)),
        }
        self
    }

    /// Adds a searchable member that is not a metric (bounded like a dimension value).
    pub fn property(mut self, name: &'static str, value: &str) -> Self {
        self.properties.push((name, value.chars().take(limits::DIMENSION_VALUE).collect()));
        self
    }

    /// Adds `value` to `metric` (a metric put twice is summed).
    pub fn put(&mut self, metric: &'static Metric, value: f64) {
        match self.values.iter_mut().find(|(m, _)| std::ptr::eq(*m, metric)) {
            Some(slot) => slot.1 += value,
            None => self.values.push((metric, value)),
        }
    }

    /// [`Self::put`], returning the document.
    pub fn with(mut self, metric: &'static Metric, value: f64) -> Self {
        self.put(metric, value);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The document as the specification lays it out: one directive per distinct list of
    /// dimension sets, in the order metrics were first put; the values as root members.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The document as one line of JSON (no newline), serialized straight from the document.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn directives(&self) -> Vec<Directive> {
        let mut directives: Vec<Directive> = Vec::new();
        for (metric, _) in &self.values {
            let definition = Definition { name: metric.name, unit: metric.unit.as_str() };
            match directives
                .iter_mut()
                .find(|d| d.dimensions == metric.dimensions && d.metrics.len() < limits::METRICS_PER_DIRECTIVE)
            {
                Some(d) => d.metrics.push(definition),
                None => directives.push(Directive {
                    namespace: NAMESPACE,
                    dimensions: metric.dimensions,
                    metrics: vec![definition],
                }),
            }
        }
        directives
    }
}

/// `_aws`: the metadata object.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    timestamp: i64,
    cloud_watch_metrics: Vec<Directive>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive {
    namespace: &'static str,
    dimensions: &'static [&'static [&'static str]],
    metrics: Vec<Definition>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Definition {
    name: &'static str,
    unit: &'static str,
}

/// A metric value: a whole number as a JSON integer (as a test compares it), any other as a
/// float.
struct Number(f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut root = s.serialize_map(None)?;
        for (name, value) in self.dimensions.iter().chain(&self.properties) {
            root.serialize_entry(name, value)?;
        }
        for (metric, value) in &self.values {
            root.serialize_entry(metric.name, &Number(*value))?;
        }
        root.serialize_entry(
            "_aws",
            &Metadata { timestamp: self.timestamp_ms, cloud_watch_metrics: self.directives() },
        )?;
        root.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static STORED: Metric = Metric { name: "Occurrences", unit: Unit::Count, dimensions: &[&["Stack"]], help: "" };
    static BY_REASON: Metric = Metric {
        name: "OccurrencesByReason",
        unit: Unit::Count,
        dimensions: &[&["Stack", "Reason"], &["Stack", "Origin"]],
        help: "",
    };
    static LATENCY: Metric = Metric { name: "Latency", unit: Unit::Milliseconds, dimensions: &[&["Stack"]], help: "" };

    #[test]
    fn a_document_groups_metrics_by_their_dimension_sets_and_carries_every_value_at_the_root() {
        let at = time::macros::datetime!(2026-12-02 10:00:00.250 UTC);
        let mut doc = Document::new("prod", at).dimension("Reason", "TIMEOUT").dimension("Origin", "roxctl");
        doc.put(&STORED, 2.0);
        doc.put(&BY_REASON, 1.0);
        doc.put(&LATENCY, 12.5);
        doc.put(&STORED, 1.0);
        assert_eq!(
            doc.to_json(),
            json!({
                "_aws": {"Timestamp": 1_796_205_600_250_i64, "CloudWatchMetrics": [
                    {"Namespace": "ScanFailures", "Dimensions": [["Stack"]],
                     "Metrics": [{"Name": "Occurrences", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds"}]},
                    {"Namespace": "ScanFailures", "Dimensions": [["Stack", "Reason"], ["Stack", "Origin"]],
                     "Metrics": [{"Name": "OccurrencesByReason", "Unit": "Count"}]}
                ]},
                "Stack": "prod", "Reason": "TIMEOUT", "Origin": "roxctl",
                "Occurrences": 3, "OccurrencesByReason": 1, "Latency": 12.5
            })
        );
    }

    #[test]
    fn a_dimension_value_is_never_empty_and_never_longer_than_cloudwatch_accepts() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let doc = Document::new("", at).dimension("Route", &"x".repeat(2000));
        let json = doc.to_json();
        assert_eq!(json["Stack"], "none");
        assert_eq!(json["Route"].as_str().map(str::len), Some(1024));
    }
}
