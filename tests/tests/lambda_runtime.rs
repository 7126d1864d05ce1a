//! The built `ingest` binary driven through the real Lambda runtime path: `cargo lambda watch`
//! serves the runtime API it polls, `cargo lambda invoke` sends the events.

use integration_tests::{as_of_now, fresh_store, repo_root, samples, unique_name, Watch};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn the_ingest_binary_stores_samples_and_rejects_bad_events_through_cargo_lambda() {
    let store = fresh_store().await;
    let watch = Watch::start(&["ingest"], store.table(), &[], None);
    let mut results = Vec::new();
    for (name, event) in samples("ingest-") {
        let r = watch.invoke(&as_of_now(event)).unwrap_or_else(|e| panic!("{name}: {e}"));
        results.push(r["result"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(
        results,
        ["created", "created", "created", "created", "created", "created", "created", "created", "ignored_success"]
    );

    // Redelivery of the first sample counts once.
    let first = &as_of_now(samples("ingest-01")[0].1.clone());
    let again = watch.invoke(first).unwrap();
    assert_eq!(again["result"], "duplicate");
    let group = uuid::Uuid::parse_str(again["groupId"].as_str().unwrap()).unwrap();
    assert_eq!(store.reader().get(&group).await.unwrap().unwrap().num_occurrences, 1);

    // A malformed event is an invocation error naming the field, and the process survives it.
    let mut bad = first.clone();
    bad["detail"]["operation"] = Value::from("image delete");
    let err = watch.invoke(&bad).unwrap_err();
    assert!(err.contains("detail.operation: unknown variant `image delete`"), "{err}");
    assert!(err.contains("EventRejected"), "{err}");
    let mut fresh = as_of_now(samples("ingest-05")[0].1.clone());
    fresh["id"] = Value::from("after-the-rejection");
    assert_eq!(watch.invoke(&fresh).unwrap()["result"], "updated");
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join("events/api").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn body_of(response: &Value) -> (u64, Value) {
    let status = response["statusCode"].as_u64().unwrap_or_default();
    let body = serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn samples_ingested_through_cargo_lambda_are_listed_fetched_and_counted_by_the_api_binary() {
    let store = fresh_store().await;
    let view = "arn:aws:iam::123456789012:user/alice,arn:aws:iam::123456789012:role/SecurityAdmin";
    let watch = Watch::start(&["ingest", "api"], store.table(), &[("ADMIN_VIEW_PRINCIPALS", view)], None);
    let mut written = Vec::new();
    for (name, event) in samples("ingest-") {
        let r = watch.invoke(&as_of_now(event)).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(id) = r["groupId"].as_str() {
            written.push((id.to_owned(), r["reason"].as_str().unwrap_or_default().to_owned()));
        }
    }
    assert_eq!(written.len(), 8);

    let (status, list) = body_of(&watch.invoke_function("api", &fixture("list-http-api-iam.json")).unwrap());
    assert_eq!(status, 200, "{list}");
    let mut listed: Vec<String> =
        list["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    let mut expected: Vec<String> = written
        .iter()
        .filter(|(_, r)| r == "REGISTRY_UNAUTHORIZED" || r == "IMAGE_NOT_FOUND")
        .map(|(id, _)| id.clone())
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    let (status, get) = body_of(&watch.invoke_function("api", &fixture("get-http-api-iam.json")).unwrap());
    assert_eq!(status, 200, "{get}");
    assert_eq!(get["event"]["id"], "9ee70a69-22e4-50e6-8a2b-11a12cebc343");
    assert_eq!(get["event"]["resource"]["name"], "quay.io/acme/web:1.4");
    assert_eq!(get["event"]["scanFailure"]["reason"], "REGISTRY_UNAUTHORIZED");
    assert!(written.iter().any(|(id, _)| id == "9ee70a69-22e4-50e6-8a2b-11a12cebc343"));

    let (status, count) = body_of(&watch.invoke_function("api", &fixture("count-http-api-iam.json")).unwrap());
    assert_eq!((status, count), (200, serde_json::json!({"count": 3})));

    let (status, rest) = body_of(&watch.invoke_function("api", &fixture("list-rest-api-iam.json")).unwrap());
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["events"][0]["resource"]["name"], "docker.io/library/nginx:1.25");
    assert_eq!(rest["events"][0]["resource"]["id"], format!("sha256:{}", "0123456789abcdef".repeat(4)));

    // A query with bytes a URI refuses, as a client that does not encode them sends it: read as
    // sent (api::raw_query). The process used to abort in lambda_http's conversion, and the
    // invocation had no answer; the same process answers the next request.
    let mut quoted = fixture("count-http-api-iam.json");
    quoted["rawQueryString"] = Value::from("filter.repository=quay.io/acme/web&filter.search=\"Public Quay.io\"");
    let (status, count) = body_of(&watch.invoke_function("api", &quoted).unwrap());
    assert_eq!((status, &count), (200, &serde_json::json!({"count": 2})), "web:1.4 and web:1.5 say it: {count}");
    quoted["rawQueryString"] = Value::from("filter.repository=quay.io/acme/web&filter.search=<\"Public Quay.io\">");
    let (status, count) = body_of(&watch.invoke_function("api", &quoted).unwrap());
    assert_eq!((status, &count), (200, &serde_json::json!({"count": 0})), "{count}");
    let mut anonymous = fixture("list-http-api-iam.json");
    anonymous["requestContext"].as_object_mut().map(|c| c.remove("authorizer"));
    let (status, body) = body_of(&watch.invoke_function("api", &anonymous).unwrap());
    assert_eq!((status, body["error"].clone()), (401, Value::from("unauthenticated")));
}

/// Every message of an SQS batch that could not be stored is reported failed and logged with
/// its event's id and reason, as docs/src/events.md says of every event's line: on the SQS path
/// the message id is not the event's, so without them a failed line could not be traced to
/// its event. Here the table does not exist.
#[tokio::test(flavor = "multi_thread")]
async fn an_sqs_batch_that_cannot_be_stored_logs_each_event_id_and_reason_as_failed() {
    let log = std::env::temp_dir().join(format!("{}.log", unique_name("sqs-failed")));
    let watch = Watch::start_logged(&["ingest"], &unique_name("missing"), &[], None, Some(&log));
    let envelopes: Vec<Value> =
        ["ingest-01", "ingest-05"].iter().map(|name| as_of_now(samples(name)[0].1.clone())).collect();
    let messages: Vec<(String, String)> =
        envelopes.iter().enumerate().map(|(n, e)| (format!("m-{n}"), e.to_string())).collect();
    let answer = watch.invoke(&integration_tests::fixtures::sqs_event(&messages)).unwrap();
    assert_eq!(answer["batchItemFailures"], serde_json::json!([{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]));
    drop(watch);
    let failed: Vec<(String, String, String)> = integration_tests::json_lines(&log)
        .into_iter()
        .filter(|l| l["fields"]["result"] == "failed")
        .map(|l| {
            let field = |k: &str| l["fields"][k].as_str().unwrap_or_default().to_owned();
            (field("message_id"), field("event_id"), field("reason"))
        })
        .collect();
    let _ = std::fs::remove_file(&log);
    let expected: Vec<(String, String, String)> = envelopes
        .iter()
        .zip(["REGISTRY_UNAUTHORIZED", "TIMEOUT"])
        .enumerate()
        .map(|(n, (e, reason))| (format!("m-{n}"), e["id"].as_str().unwrap().to_owned(), reason.to_owned()))
        .collect();
    assert_eq!(failed, expected);
}
