//! The functions' CloudWatch metrics as Lambda would hand their log lines to CloudWatch Logs:
//! the built `ingest` and `api` binaries polling `cargo lambda watch` (the real runtime path),
//! a known sequence of invocations, and every Embedded Metric Format document they wrote,
//! checked against the specification's structure (`integration_tests::emf`) and compared
//! whole.

use std::collections::BTreeMap;

use integration_tests::cfn::monitoring::declared_metrics;
use integration_tests::emf::{documents, spec_violations};
use integration_tests::{as_of_now, fresh_store, repo_root, samples, unique_name, Watch};
use serde_json::{json, Value};

/// The totals document of one ingest invocation (the order of the code's metric list).
fn totals(values: &[(&str, Value)], sqs: bool) -> Value {
    let names = [
        "Occurrences",
        "NewGroups",
        "Duplicates",
        "Rejected",
        "IgnoredSuccess",
        "IgnoredExpired",
        "IgnoredNotAFailure",
        "StoreErrors",
        "DynamoDBRequests",
        "WriteCapacityUnits",
        "NotificationsPublished",
        "OutboxPending",
    ];
    let sqs_names: &[&str] = if sqs { &["SqsBatchSize", "SqsMessagesFailed"] } else { &[] };
    let names: Vec<&str> = names.iter().chain(sqs_names).copied().collect();
    let mut doc = json!({"Stack": "metrics-test"});
    let mut definitions = Vec::new();
    for name in &names {
        let unit = if *name == "WriteCapacityUnits" { "None" } else { "Count" };
        definitions.push(json!({"Name": name, "Unit": unit}));
        doc[*name] = values.iter().find(|(n, _)| n == name).map_or(json!(0), |(_, v)| v.clone());
    }
    doc["_aws"] = json!({"Timestamp": 0, "CloudWatchMetrics": [
        {"Namespace": "ScanFailures", "Dimensions": [["Stack"]], "Metrics": definitions}]});
    doc
}

/// The breakdown document of the occurrences stored for one reason, origin and operation.
fn stored(reason: &str, origin: &str, operation: &str, n: u64) -> Value {
    json!({
        "_aws": {"Timestamp": 0, "CloudWatchMetrics": [{"Namespace": "ScanFailures",
            "Dimensions": [["Stack", "Reason"], ["Stack", "Origin"], ["Stack", "Operation"]],
            "Metrics": [{"Name": "Occurrences", "Unit": "Count"}]}]},
        "Stack": "metrics-test", "Origin": origin, "Operation": operation, "Reason": reason, "Occurrences": n
    })
}

/// `[("DynamoDBRequests", n), ("WriteCapacityUnits", w)]` of each "event processed" line the
/// ingest function logged for `event_id`, in order: the metrics must say what the log says.
fn logged_costs(log: &str, event_id: &str) -> Vec<[(&'static str, Value); 2]> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["event_id"] == event_id && l["fields"]["message"] == "event processed")
        .map(|l| {
            [("DynamoDBRequests", l["fields"]["requests"].clone()), ("WriteCapacityUnits", whole(&l["fields"]["wcu"]))]
        })
        .collect()
}

/// A logged float that is a whole number (`12.0`) as JSON writes an integer metric (`12`).
fn whole(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 => json!(f as i64),
        _ => v.clone(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_known_sequence_writes_exactly_these_emf_documents_through_the_runtime_path() {
    let store = fresh_store().await;
    let log_path = std::env::temp_dir().join(format!("{}.log", unique_name("metrics")));
    let env = [("METRICS_STACK", "metrics-test"), ("ADMIN_VIEW_PRINCIPALS", "arn:aws:iam::123456789012:user/alice")];
    let watch = Watch::start_logged(&["ingest", "api"], store.table(), &env, None, Some(&log_path));
    let started_ms = now_ms();

    let first = as_of_now(samples("ingest-01")[0].1.clone());
    let with_id = |id: &str| {
        let mut e = first.clone();
        e["id"] = json!(id);
        e
    };
    assert_eq!(watch.invoke(&with_id("m-new")).unwrap()["result"], "created");
    assert_eq!(watch.invoke(&with_id("m-repeat")).unwrap()["result"], "updated");
    assert_eq!(watch.invoke(&with_id("m-repeat")).unwrap()["result"], "duplicate");
    let mut bad = with_id("m-bad");
    bad["detail"]["operation"] = json!("image delete");
    assert!(watch.invoke(&bad).unwrap_err().contains("EventRejected"));
    let success = as_of_now(samples("ingest-09")[0].1.clone());
    assert_eq!(watch.invoke(&success).unwrap()["result"], "ignored_success");
    let mut timeout = as_of_now(samples("ingest-05")[0].1.clone());
    timeout["id"] = json!("m-sqs");
    let batch = json!({"Records": [
        {"messageId": "q-1", "body": timeout.to_string(), "eventSource": "aws:sqs"},
        {"messageId": "q-2", "body": "{", "eventSource": "aws:sqs"}
    ]});
    let answered = watch.invoke(&batch).unwrap();
    assert_eq!(answered["batchItemFailures"], json!([{"itemIdentifier": "q-2"}]));
    let count = std::fs::read_to_string(repo_root().join("events/api/count-http-api-iam.json")).unwrap();
    let counted = watch.invoke_function("api", &serde_json::from_str(&count).unwrap()).unwrap();
    assert_eq!(counted["statusCode"], 200, "{counted}");
    let finished_ms = now_ms();

    let log = std::fs::read_to_string(&log_path).unwrap();
    let mut docs = documents(&log);
    for doc in &docs {
        assert_eq!(spec_violations(doc), Vec::<String>::new(), "{doc}");
    }
    for doc in &mut docs {
        let t = doc["_aws"]["Timestamp"].as_u64().unwrap_or_default();
        assert!((started_ms..=finished_ms).contains(&t), "timestamp {t} outside the run [{started_ms}, {finished_ms}]");
        doc["_aws"]["Timestamp"] = json!(0);
    }
    // The api's latency and request id are the run's own: present, then set aside.
    let api = docs.last_mut().unwrap();
    assert!(api["Latency"].as_f64().is_some_and(|ms| ms > 0.0), "{api}");
    assert!(api["requestId"].as_str().is_some_and(|id| !id.is_empty()), "{api}");
    api["Latency"] = json!(0);
    api["requestId"] = json!("");

    let one = |id: &str, n: usize| {
        logged_costs(&log, id).into_iter().nth(n).unwrap_or_else(|| panic!("no cost line {n} of {id} in:\n{log}"))
    };
    let [new_requests, new_wcu] = one("m-new", 0);
    let [repeat_requests, repeat_wcu] = one("m-repeat", 0);
    let [duplicate_requests, duplicate_wcu] = one("m-repeat", 1);
    let [sqs_requests, sqs_wcu] = one("m-sqs", 0);
    let read = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "read cost" && l["fields"]["action"] == "Count")
        .map(|l| (l["fields"]["items_read"].clone(), whole(&l["fields"]["rcu"])))
        .unwrap_or_else(|| panic!("no \"read cost\" line of the count in:\n{log}"));
    assert_eq!(read.0, json!(1), "the count reads the one group of its repository");
    assert!(new_wcu.1.as_f64().is_some_and(|w| w > 0.0), "DynamoDB Local reports the capacity consumed");
    let expected = vec![
        totals(&[("Occurrences", json!(1)), ("NewGroups", json!(1)), new_requests, new_wcu], false),
        stored("REGISTRY_UNAUTHORIZED", "roxctl", "image scan", 1),
        totals(&[("Occurrences", json!(1)), repeat_requests, repeat_wcu], false),
        stored("REGISTRY_UNAUTHORIZED", "roxctl", "image scan", 1),
        totals(&[("Duplicates", json!(1)), duplicate_requests, duplicate_wcu], false),
        totals(&[("Rejected", json!(1))], false),
        totals(&[("IgnoredSuccess", json!(1))], false),
        totals(
            &[
                ("Occurrences", json!(1)),
                ("NewGroups", json!(1)),
                ("Rejected", json!(1)),
                sqs_requests,
                sqs_wcu,
                ("SqsBatchSize", json!(2)),
                ("SqsMessagesFailed", json!(1)),
            ],
            true,
        ),
        stored("TIMEOUT", "api", "image scan", 1),
        json!({
            "_aws": {"Timestamp": 0, "CloudWatchMetrics": [
                {"Namespace": "ScanFailures", "Dimensions": [["Stack"], ["Stack", "Route"], ["Stack", "StatusClass"]],
                 "Metrics": [{"Name": "Requests", "Unit": "Count"}]},
                {"Namespace": "ScanFailures", "Dimensions": [["Stack"], ["Stack", "Route"]],
                 "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]},
                {"Namespace": "ScanFailures", "Dimensions": [["Stack"]],
                 "Metrics": [{"Name": "InternalErrors", "Unit": "Count"}]},
                {"Namespace": "ScanFailures", "Dimensions": [["Stack", "Route"]],
                 "Metrics": [{"Name": "ItemsRead", "Unit": "Count"}, {"Name": "ReadCapacityUnits", "Unit": "None"}]}
            ]},
            "Stack": "metrics-test", "requestId": "", "Route": "GET /v1/count/administration/events", "StatusClass": "2xx",
            "Requests": 1, "Latency": 0, "InternalErrors": 0, "ItemsRead": read.0, "ReadCapacityUnits": read.1
        }),
    ];
    assert_eq!(docs.len(), expected.len(), "{docs:#?}");
    for (i, (got, want)) in docs.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "document {i}");
    }
    let _ = std::fs::remove_file(&log_path);
}

fn now_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or_default()
}

/// `name -> (unit, "Stack,Reason; ...")` of every metric the functions declare, dimension sets
/// of one name merged in declaration order.
fn declared() -> BTreeMap<String, (String, Vec<String>)> {
    let mut out: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for m in declared_metrics() {
        let entry = out.entry(m.name.to_owned()).or_insert_with(|| (m.unit.as_str().to_owned(), Vec::new()));
        for set in m.dimensions {
            let set = set.join(",");
            if !entry.1.contains(&set) {
                entry.1.push(set);
            }
        }
    }
    out
}

#[test]
fn the_monitoring_page_lists_every_metric_with_its_unit_and_dimension_sets() {
    let section = std::fs::read_to_string(repo_root().join("docs/src/monitoring.md")).unwrap();
    let listed: BTreeMap<String, (String, Vec<String>)> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let sets = cells[3].split(';').map(|s| s.trim().trim_matches('`').to_owned()).collect();
            (cells[1].trim_matches('`').to_owned(), (cells[2].to_owned(), sets))
        })
        .collect();
    let mut code = declared();
    // The breakdown without the reason set is a subset of the one with it.
    if let Some((_, sets)) = code.get_mut("Occurrences") {
        sets.sort();
    }
    let mut listed = listed;
    if let Some((_, sets)) = listed.get_mut("Occurrences") {
        sets.sort();
    }
    assert_eq!(listed, code);
}
