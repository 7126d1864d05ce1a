//! `rollup-cost`: what keeping the rollups costs per event. A workload is written through the
//! store in-process (as the ingest function writes it) on a table with its stream; the stream's
//! records are then delivered in batches to the rollup function's handler in-process, which
//! talks to DynamoDB Local through the counting proxy: of 100 (the template's `BatchSize`,
//! which a stream of 100 changes a second fills) and of 10 (what Lambda's one-second batching
//! window closes on at 10 a second).
//!
//! DynamoDB Local under-reports transactions (see `proxy`), so the cost is priced from what
//! the transactions wrote: each marker `Put` by its size, each rollup `Update` at the size of
//! the rollup at the end of the run (an upper bound: a rollup's attributes are never removed),
//! 2 WCU per started KiB for the item and 2 for its `byTime` entry, as `docs/src/storage.md`
//! prices the group's own writes.

use std::path::Path;

use aws_lambda_events::event::dynamodb::Event;
use integration_tests::stack::{self, unique_name};
use integration_tests::streams::{json_call, records_so_far};
use scan_failures_aws::dynamo::table::{self, Ttl};
use scan_failures_aws::dynamo::Store;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::ingest::{event, record_all, templates};
use crate::proxy::{put_units, CountingProxy, Transacted};
use crate::report::Figures;

/// One workload: its key, its label, its events' groups (event `i` is of group `group(i)`) and
/// the size of the batches its stream is delivered in.
struct Workload {
    key: &'static str,
    label: &'static str,
    events: usize,
    group: fn(usize) -> usize,
    batch: usize,
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        key: "repeats",
        label: "2,000 repeats over 100 groups, 100 ms apart (ingest-e2e's stream, shorter), batches of 100",
        events: 2_000,
        group: |i| i % 100,
        batch: 100,
    },
    Workload {
        key: "new",
        label: "2,000 new groups, 100 ms apart, batches of 100",
        events: 2_000,
        group: |i| i,
        batch: 100,
    },
    Workload {
        key: "repeats_batch10",
        label: "the same 2,000 repeats, batches of 10",
        events: 2_000,
        group: |i| i % 100,
        batch: 10,
    },
];

/// What one workload cost the rollup function.
struct Cost {
    records: usize,
    transacted: Transacted,
    update_units: f64,
    direct_wcu: f64,
}

async fn measure(w: &Workload, endpoint: &str, proxy: &CountingProxy) -> Cost {
    let store = Store::new(stack::dynamodb_client(endpoint), unique_name(&format!("bench-rc-{}", w.key)));
    table::create_with_stream(&store, Ttl::Disabled).await.unwrap_or_else(|e| panic!("create table: {e:?}"));
    let templates = templates();
    let base = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let events: Vec<Value> = (0..w.events).map(|i| event(&templates, w.key, i, (w.group)(i), base)).collect();
    let started = std::time::Instant::now();
    let direct = record_all(&store, events).await;
    eprintln!("bench: rollup-cost: {}: {} events written in {:.0} s", w.key, w.events, started.elapsed().as_secs_f64());
    let arn = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .ok()
        .and_then(|d| d.table?.latest_stream_arn)
        .unwrap_or_else(|| panic!("{}: the table has no stream", store.table()));
    let started = std::time::Instant::now();
    let records = records_so_far(endpoint, &arn).unwrap_or_else(|e| panic!("stream: {e}"));
    // One record per event (each writes its group once): a short read would lower the figure.
    assert_eq!(records.len(), w.events, "{}: stream records", w.key);
    eprintln!(
        "bench: rollup-cost: {}: {} stream records read in {:.0} s",
        w.key,
        records.len(),
        started.elapsed().as_secs_f64()
    );
    let started = std::time::Instant::now();
    let handler = rollup::handler::Rollup::new(Store::new(stack::dynamodb_client(&proxy.endpoint()), store.table()));
    proxy.take_transacted();
    for batch in records.chunks(w.batch) {
        let event: Event =
            serde_json::from_value(json!({"Records": batch})).unwrap_or_else(|e| panic!("stream batch: {e}"));
        let response = handler.handle(event).await.unwrap_or_else(|e| panic!("rollup batch: {e}"));
        assert!(response.batch_item_failures.is_empty(), "rollup batch failed: {:?}", response.batch_item_failures);
    }
    let transacted = proxy.take_transacted();
    eprintln!("bench: rollup-cost: {}: rollups applied in {:.0} s", w.key, started.elapsed().as_secs_f64());
    let mut update_units = 0.0;
    for (pk, times) in &transacted.updates {
        let body = json!({"TableName": store.table(), "Key": {"pk": {"S": pk}}, "ConsistentRead": true});
        let got = json_call(endpoint, "DynamoDB_20120810.GetItem", &body).unwrap_or_else(|e| panic!("GetItem: {e}"));
        let item = got["Item"].as_object().unwrap_or_else(|| panic!("rollup {pk} not found"));
        // The item and its `byTime` entry.
        update_units += 2.0 * put_units(item) * *times as f64;
    }
    stack::drop_table(&store).await;
    Cost { records: records.len(), transacted, update_units, direct_wcu: direct.wcu }
}

pub fn run(out: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let endpoint = stack::dynamodb_endpoint();
    let proxy = CountingProxy::start(endpoint).unwrap_or_else(|e| panic!("proxy: {e}"));
    let mut f = Figures::default();
    let mut rows = Vec::new();
    for w in &WORKLOADS {
        let c = rt.block_on(measure(w, endpoint, &proxy));
        let n = w.events as f64;
        let t = &c.transacted;
        let updates: u64 = t.updates.values().sum();
        let wcu = (t.put_units + c.update_units) / n;
        f.add(
            &format!("rollup_cost.{}.wcu_per_event", w.key),
            wcu,
            "WCU/event",
            &format!("rollup function, {}: WCU per event (rollups at their final size)", w.label),
        );
        f.add(
            &format!("rollup_cost.{}.transactions_per_event", w.key),
            t.transactions as f64 / n,
            "requests/event",
            &format!("rollup function, {}: transactions per event", w.label),
        );
        rows.push(json!({
            "workload": w.label, "batch": w.batch, "events": w.events, "stream_records": c.records, "transactions": t.transactions,
            "markers": t.puts, "marker_wcu": t.put_units, "rollup_updates": updates, "rollups_touched": t.updates.len(),
            "rollup_wcu": c.update_units, "wcu_per_event": wcu, "direct_wcu_per_event": c.direct_wcu / n,
        }));
    }
    f.detail("rows", Value::Array(rows));
    f.write("rollup-cost", "target/release/bench rollup-cost", out);
}
