//! The CloudWatch Embedded Metric Format specification's required structure, written from the
//! specification (docs.aws.amazon.com, "Specification: Embedded metric format") apart from the
//! code that produces the documents, so a mistake is not made twice: the root is an object with
//! `_aws` {`Timestamp` (milliseconds), `CloudWatchMetrics`: directives}; a directive has a
//! `Namespace`, `Dimensions` (sets of at most 30 keys) and `Metrics` (at most 100 definitions
//! with a `Name`, an optional `Unit` CloudWatch knows and `StorageResolution` 1 or 60); objects
//! the specification defines carry no other member; every dimension key is a root member whose
//! value is a string, every metric name a root member whose value is a number or an array of at
//! most 100 numbers.

use serde_json::Value;

/// CloudWatch's metric units (`MetricDatum.Unit`).
pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Every way `doc` departs from the specification (empty: a valid EMF document).
pub fn spec_violations(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(root) = doc.as_object() else { return vec!["the root is not an object".to_owned()] };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["_aws is missing or not an object".to_owned()];
    };
    only(aws, &["Timestamp", "CloudWatchMetrics"], "_aws", &mut out);
    if aws.get("Timestamp").is_none_or(|t| t.as_u64().is_none()) {
        out.push("_aws.Timestamp is not a whole number of milliseconds".to_owned());
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        out.push("_aws.CloudWatchMetrics is missing or not an array".to_owned());
        return out;
    };
    for (i, d) in directives.iter().enumerate() {
        let at = format!("_aws.CloudWatchMetrics[{i}]");
        let Some(d) = d.as_object() else {
            out.push(format!("{at} is not an object"));
            continue;
        };
        only(d, &["Namespace", "Dimensions", "Metrics"], &at, &mut out);
        match d.get("Namespace").and_then(Value::as_str) {
            Some(n) if (1..=255).contains(&n.chars().count()) => {}
            _ => out.push(format!("{at}.Namespace is not a string of 1 to 255 characters")),
        }
        let Some(sets) = d.get("Dimensions").and_then(Value::as_array) else {
            out.push(format!("{at}.Dimensions is missing or not an array"));
            continue;
        };
        for (j, set) in sets.iter().enumerate() {
            let Some(keys) = set.as_array() else {
                out.push(format!("{at}.Dimensions[{j}] is not an array"));
                continue;
            };
            if keys.len() > 30 {
                out.push(format!("{at}.Dimensions[{j}] has {} keys (at most 30)", keys.len()));
            }
            for key in keys {
                match key.as_str().map(|k| (k, root.get(k))) {
                    Some((_, Some(Value::String(_)))) => {}
                    Some((k, _)) => out.push(format!("dimension {k} has no string value at the root")),
                    None => out.push(format!("{at}.Dimensions[{j}] holds a non-string key")),
                }
            }
        }
        let Some(metrics) = d.get("Metrics").and_then(Value::as_array) else {
            out.push(format!("{at}.Metrics is missing or not an array"));
            continue;
        };
        if metrics.len() > 100 {
            out.push(format!("{at}.Metrics has {} definitions (at most 100)", metrics.len()));
        }
        for (j, m) in metrics.iter().enumerate() {
            let mat = format!("{at}.Metrics[{j}]");
            let Some(m) = m.as_object() else {
                out.push(format!("{mat} is not an object"));
                continue;
            };
            only(m, &["Name", "Unit", "StorageResolution"], &mat, &mut out);
            if let Some(unit) = m.get("Unit").filter(|u| !u.as_str().is_some_and(|u| UNITS.contains(&u))) {
                out.push(format!("{mat}.Unit {unit} is not a CloudWatch unit"));
            }
            if m.get("StorageResolution").is_some_and(|r| r != 1 && r != 60) {
                out.push(format!("{mat}.StorageResolution is neither 1 nor 60"));
            }
            let Some(name) = m.get("Name").and_then(Value::as_str).filter(|n| (1..=255).contains(&n.chars().count()))
            else {
                out.push(format!("{mat}.Name is not a string of 1 to 255 characters"));
                continue;
            };
            let valid = match root.get(name) {
                Some(Value::Number(_)) => true,
                Some(Value::Array(values)) => values.len() <= 100 && values.iter().all(Value::is_number),
                _ => false,
            };
            if !valid {
                out.push(format!("metric {name} has no number (or array of at most 100 numbers) at the root"));
            }
        }
    }
    out
}

fn only(object: &serde_json::Map<String, Value>, allowed: &[&str], at: &str, out: &mut Vec<String>) {
    for key in object.keys().filter(|k| !allowed.contains(&k.as_str())) {
        out.push(format!("{at} has a member the specification does not define: {key}"));
    }
}

/// The EMF documents among a function's log lines (the lines with an `_aws` member).
pub fn documents(log: &str) -> Vec<Value> {
    log.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v.get("_aws").is_some()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_document_by_the_specification_has_no_violation() {
        let doc = json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["A"]],
            "Metrics": [{"Name": "M", "Unit": "Count"}, {"Name": "L", "StorageResolution": 60}]}]},
            "A": "x", "M": 1, "L": [1.5, 2]});
        assert_eq!(spec_violations(&doc), Vec::<String>::new());
    }

    #[test]
    fn each_broken_rule_is_named() {
        let doc = json!({"_aws": {"Timestamp": "now", "Extra": 1, "CloudWatchMetrics": [{"Namespace": "",
            "Dimensions": [["A", "B"]], "Metrics": [{"Name": "M", "Unit": "Things"}, {"Name": "L", "StorageResolution": 5}]}]},
            "A": 1, "M": "1", "L": 2});
        assert_eq!(
            spec_violations(&doc),
            [
                "_aws has a member the specification does not define: Extra",
                "_aws.Timestamp is not a whole number of milliseconds",
                "_aws.CloudWatchMetrics[0].Namespace is not a string of 1 to 255 characters",
                "dimension A has no string value at the root",
                "dimension B has no string value at the root",
                "_aws.CloudWatchMetrics[0].Metrics[0].Unit \"Things\" is not a CloudWatch unit",
                "metric M has no number (or array of at most 100 numbers) at the root",
                "_aws.CloudWatchMetrics[0].Metrics[1].StorageResolution is neither 1 nor 60",
            ]
        );
    }
}
