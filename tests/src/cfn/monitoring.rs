//! The template's monitoring against the code: every `ScanFailures` metric the dashboard and
//! the alarms name is one a function emits, under a dimension set it is published with
//! (`ingest::metrics::METRICS`, `api::metrics::METRICS`, `maintenance::metrics::METRICS`), and
//! every alarm notifies a topic in every variant.

use std::collections::BTreeSet;

use scan_failures_aws::metrics::emf::{Metric, NAMESPACE};
use serde_json::Value;

use super::{items, list, render, resolve, scalar, Variant};

/// Every metric the three functions declare, in declaration order.
pub fn declared_metrics() -> Vec<&'static Metric> {
    ingest::metrics::METRICS.iter().chain(api::metrics::METRICS).chain(maintenance::metrics::METRICS).copied().collect()
}

/// `Name [Dim, Dim]` of every metric and dimension set the functions emit.
pub fn emitted_metrics() -> BTreeSet<String> {
    declared_metrics()
        .iter()
        .flat_map(|m| m.dimensions.iter().map(move |set| fact(m.name, set.iter().copied())))
        .collect()
}

fn fact<'a>(name: &str, dimensions: impl IntoIterator<Item = &'a str>) -> String {
    let dims: Vec<&str> = dimensions.into_iter().collect();
    format!("{name} [{}]", dims.join(", "))
}

/// The dashboard's body as JSON, `${...}` placeholders replaced by their names.
pub fn dashboard_body(t: &Value) -> Value {
    let sub = &t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"];
    let mut text = sub.as_str().unwrap_or_else(|| panic!("DashboardBody is not a !Sub string: {sub}")).to_owned();
    while let Some(start) = text.find("${") {
        let end = text[start..].find('}').map_or(text.len(), |e| start + e);
        let name = text[start + 2..end].to_owned();
        text.replace_range(start..=end.min(text.len() - 1), &name);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}"))
}

/// `Name [Dim, ...]` of every `ScanFailures` metric a dashboard widget shows: metric arrays
/// (`[namespace, name, dim, value, ..., {options}]`) and `SEARCH('{ScanFailures,Dim,...}
/// MetricName="Name" ...')` expressions.
pub fn dashboard_metrics(body: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for widget in list(&body["widgets"]) {
        for line in list(&widget["properties"]["metrics"]) {
            let parts = list(line);
            match parts.first().map(|p| p.as_str()) {
                Some(Some(namespace)) if namespace == NAMESPACE => {
                    let strings: Vec<&str> = parts.iter().filter_map(|p| p.as_str()).collect();
                    let dims = strings[2..].chunks(2).map(|pair| pair[0]);
                    out.insert(fact(strings.get(1).copied().unwrap_or_default(), dims));
                }
                _ => {
                    for expression in parts.iter().filter_map(|p| p["expression"].as_str()) {
                        out.extend(search_metrics(expression));
                    }
                }
            }
        }
    }
    out
}

/// The `ScanFailures` metrics of the `SEARCH` terms in `expression`.
pub fn search_metrics(expression: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expression;
    let open = format!("{{{NAMESPACE},");
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(close) = rest.find('}') else { break };
        let dims: Vec<&str> = rest[..close].split(',').map(str::trim).collect();
        let name = rest
            .find("MetricName=\"")
            .map(|j| &rest[j + "MetricName=\"".len()..])
            .and_then(|r| r.split('"').next())
            .unwrap_or_default();
        out.push(fact(name, dims));
        rest = &rest[close..];
    }
    out
}

/// `Name [Dim, ...]` of every `ScanFailures` metric an alarm watches.
pub fn alarm_metrics(t: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, r) in alarms(t) {
        let p = &r["Properties"];
        let mut watched: Vec<&Value> = vec![p];
        watched.extend(list(&p["Metrics"]).into_iter().map(|m| &m["MetricStat"]["Metric"]));
        for m in watched.into_iter().filter(|m| m["Namespace"] == NAMESPACE) {
            let dims: Vec<String> = list(&m["Dimensions"]).into_iter().map(|d| scalar(&d["Name"])).collect();
            out.insert(fact(m["MetricName"].as_str().unwrap_or_default(), dims.iter().map(String::as_str)));
        }
    }
    out
}

/// The dashboard's and the alarms' metrics that no function emits, as `dashboard: X` /
/// `alarm: X`.
pub fn unknown_metric_problems(t: &Value) -> Vec<String> {
    let emitted = emitted_metrics();
    let mut out: Vec<String> = dashboard_metrics(&dashboard_body(t))
        .into_iter()
        .filter(|m| !emitted.contains(m))
        .map(|m| format!("dashboard: {m} is not emitted"))
        .collect();
    out.extend(
        alarm_metrics(t).into_iter().filter(|m| !emitted.contains(m)).map(|m| format!("alarm: {m} is not emitted")),
    );
    out
}

fn alarms(t: &Value) -> Vec<(&String, &Value)> {
    t["Resources"].as_object().into_iter().flatten().filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm").collect()
}

/// Alarms that notify nobody in `variant`: no action, or an action that is neither the given
/// `AlarmTopicArn` nor the topic the variant creates; and alarms whose return to OK is not told
/// to the same topics (`OKActions` other than `AlarmActions`): an admin paged for a queue that
/// holds messages, or a function that errs, should hear when it is over, not find out by looking.
pub fn alarm_action_problems(t: &Value, variant: &Variant) -> Vec<String> {
    let r = resolve(t, variant);
    let created = r["Resources"].get("AlarmTopic").is_some_and(|topic| topic["Type"] == "AWS::SNS::Topic");
    let given = variant.params.get("AlarmTopicArn").cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (id, alarm) in alarms(&r) {
        let actions = items(&alarm["Properties"]["AlarmActions"]);
        if actions.is_empty() {
            out.push(format!("{}: {id} has no action", variant.label));
        }
        if items(&alarm["Properties"]["OKActions"]) != actions {
            out.push(format!("{}: {id} does not tell its AlarmActions when it clears (OKActions)", variant.label));
        }
        for action in actions {
            let reaches = match action.get("Ref").and_then(Value::as_str) {
                Some("AlarmTopic") => created,
                Some("AlarmTopicArn") => !given.is_empty(),
                _ => false,
            };
            if !reaches {
                out.push(format!(
                    "{}: {id} notifies {}, which this variant does not have",
                    variant.label,
                    render(action)
                ));
            }
        }
    }
    out.sort();
    out
}
