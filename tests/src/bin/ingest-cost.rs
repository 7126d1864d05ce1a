//! Measures DynamoDB requests and write capacity per event on the ingest path, on DynamoDB
//! Local with `ReturnConsumedCapacity`, and prints a Markdown table for BENCHMARKS.md.
//! Run with `make bench-ingest-cost`.

use scan_failures::config::RetentionDays;
use scan_failures::event::{self, Parsed};
use scan_failures::fingerprint;
use scan_failures::store::{Recorded, Store};
use serde_json::json;
use time::OffsetDateTime;

fn envelope(id: String, image: &str, at: &str, message: &str) -> serde_json::Value {
    json!({
        "version": "0", "id": id, "detail-type": "Image Scan Failed", "source": "bench", "account": "123456789012",
        "time": at, "region": "eu-west-1", "resources": [],
        "detail": {"operation": "image scan", "origin": "api", "image": {"name": image}, "cluster": "prod-eu-1",
            "initiator": {"id": "arn:aws:iam::123456789012:role/ci", "userAgent": "roxctl/4.7.0"},
            "error": {"message": message}, "occurredAt": at}
    })
}

struct Tally {
    events: u32,
    requests: u32,
    wcu: f64,
    outcomes: Vec<Recorded>,
}

async fn run(store: &Store, events: Vec<serde_json::Value>) -> Tally {
    let mut t = Tally { events: 0, requests: 0, wcu: 0.0, outcomes: Vec::new() };
    for e in events {
        let Ok(Parsed::Failure(o)) = event::parse(e) else { panic!("bench event did not parse") };
        let id = fingerprint::group_id(&o.image.normalized(), o.reason, &o.message);
        let (recorded, cost) = store
            .record(&o, &id, RetentionDays::default(), OffsetDateTime::now_utc())
            .await
            .unwrap_or_else(|e| panic!("record: {e:?}"));
        t.events += 1;
        t.requests += cost.requests;
        t.wcu += cost.write_capacity_units;
        t.outcomes.push(recorded);
    }
    t
}

const MESSAGE: &str = "image enrichment error: error getting metadata for image: quay.io/acme/web:1.4 error: getting metadata from registry: \"Public Quay.io\": failed to get the manifest digest: Head \"https://quay.io/v2/acme/web/manifests/1.4\": http: non-successful response (status=401 body=\"\")";

#[tokio::main]
async fn main() {
    let store = integration_tests::fresh_store().await;
    let at = |s: u32| format!("2026-11-25T{:02}:{:02}:{:02}Z", 8 + s / 3600, (s / 60) % 60, s % 60);
    let mut rows = Vec::new();

    let creates: Vec<_> =
        (0..100).map(|i| envelope(format!("new-{i}"), &format!("quay.io/acme/svc{i}:1"), &at(0), MESSAGE)).collect();
    rows.push(("new group (first occurrence)", run(&store, creates).await));

    let repeats: Vec<_> = (0..1000)
        .map(|i| envelope(format!("rep-{i}"), &format!("quay.io/acme/svc{}:1", i % 10), &at(10 + i), MESSAGE))
        .collect();
    rows.push(("repeat, in time order", run(&store, repeats).await));

    let late: Vec<_> = (0..100)
        .map(|i| envelope(format!("late-{i}"), &format!("quay.io/acme/svc{}:1", i % 10), &at(5 - i % 5), MESSAGE))
        .collect();
    rows.push(("repeat, arriving out of order (older than last)", run(&store, late).await));

    let dups: Vec<_> = (0..100)
        .map(|i| envelope(format!("rep-{i}"), &format!("quay.io/acme/svc{}:1", i % 10), &at(10 + i), MESSAGE))
        .collect();
    rows.push(("redelivered envelope (duplicate)", run(&store, dups).await));

    println!("| scenario | events | DynamoDB requests / event | WCU / event |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, t) in &rows {
        println!(
            "| {name} | {} | {:.2} | {:.2} |",
            t.events,
            f64::from(t.requests) / f64::from(t.events),
            t.wcu / f64::from(t.events)
        );
    }
    let dup_ok = rows[3].1.outcomes.iter().all(|o| *o == Recorded::Duplicate);
    println!("\nduplicates recognised: {dup_ok}");
}
