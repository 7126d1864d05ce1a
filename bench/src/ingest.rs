//! Ingest benchmarks.
//!
//! - `ingest-e2e`: the release `ingest` binary through the Lambda Runtime API path on DynamoDB
//!   Local: 10,000 events over 100 groups from 4 concurrent senders into 4 function processes
//!   (Lambda's concurrency 4). DynamoDB requests and capacity are measured twice: from the
//!   function's own log line per event (`requests`, `wcu`) and by a counting proxy in front of
//!   DynamoDB Local. Then the SQS batch path, when the function accepts SQS events.
//! - `ingest-cost`: the store called in-process, per scenario (new group, repeat, out of
//!   order, redelivery).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::{fixtures, stack};
use scan_failures_aws::dynamo::write::Recorded;
use scan_failures_aws::dynamo::Store;
use scan_failures_domain::event::{self, Parsed};
use scan_failures_domain::retention::RetentionDays;
use scan_failures_domain::time_fmt;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::function::{self, Function};
use crate::proxy::{CountingProxy, Counts};
use crate::report::{ms, percentile, Figures};
use crate::runtime_api::{RuntimeApi, Seen};

/// Events per run: 10,000 (`BENCH_EVENTS` overrides, for a quick try of the harness).
pub fn events() -> usize {
    std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}
pub const GROUPS: usize = 100;
pub const SENDERS: usize = 4;
pub const SQS_BATCH: usize = 100;

const WRITE_OPS: [&str; 5] = ["TransactWriteItems", "UpdateItem", "PutItem", "BatchWriteItem", "DeleteItem"];

/// The sample failure events (`events/ingest-*.json` that parse as failures).
pub fn templates() -> Vec<Value> {
    let out: Vec<Value> = fixtures::samples("ingest-")
        .into_iter()
        .map(|(_, sample)| sample)
        .filter(|v| matches!(event::parse(v.clone()), Ok(Parsed::Failure(_))))
        .collect();
    assert!(!out.is_empty(), "no failure samples in {}", stack::repo_root().join("events").display());
    out
}

/// Event `i` of a run, of group `g` (each group its own image), times increasing by 100 ms,
/// so each group's occurrences arrive in order.
pub fn event(templates: &[Value], run: &str, i: usize, g: usize, base: OffsetDateTime) -> Value {
    let mut e = templates[g % templates.len()].clone();
    let at = time_fmt::format(base + time::Duration::milliseconds(100 * i as i64));
    e["id"] = json!(format!("{run}-{i:06}"));
    e["time"] = json!(at);
    e["detail"]["occurredAt"] = json!(at);
    e["detail"]["image"]["name"] = json!(format!("quay.io/bench/svc{g:03}:1"));
    e["detail"]["cluster"] = json!(format!("prod-{}", i % 3));
    e
}

/// The event streams: `uniform` sends group `i % 100` (consecutive events of one group are
/// 100 apart, so a batch of 100 holds one event of every group: the worst case for merging
/// per group); `bursty` sends runs of 20 events per group (a batch of 100 holds 5 groups);
/// `storm` sends every event to one group (a storm of identical failures, the case the
/// writes-per-event budget of the SQS path is set for).
/// Groups an event stream of `events()` events touches.
fn groups_touched(workload: &str) -> f64 {
    (0..events()).map(|i| group_of(workload, i)).collect::<std::collections::BTreeSet<_>>().len() as f64
}

pub fn group_of(workload: &str, i: usize) -> usize {
    match workload {
        "bursty" => (i / 20) % GROUPS,
        "storm" => 0,
        _ => i % GROUPS,
    }
}

pub(crate) fn sqs_record(i: usize, body: &Value) -> Value {
    json!({
        "messageId": format!("00000000-0000-4000-8000-{i:012}"),
        "receiptHandle": format!("handle-{i}"),
        "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795600000000", "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795600000000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:scan-failures-ingest",
        "awsRegion": "us-east-1"
    })
}

/// Function processes polling one local Runtime API, on a fresh table behind the proxy.
pub(crate) struct Fleet {
    pub api: RuntimeApi,
    pub functions: Vec<Function>,
}

pub(crate) fn start_fleet(name: &str, n: usize, env: &[(&str, String)], logs: &Path) -> Fleet {
    let api = RuntimeApi::start("ingest").unwrap_or_else(|e| panic!("runtime api: {e}"));
    let mut env = env.to_vec();
    env.extend(function::runtime_env("ingest", &api.address()));
    let bin = function::binary("ingest");
    let functions: Vec<Function> =
        (0..n).map(|k| Function::spawn(&bin, &env, &logs.join(format!("{name}-{k}.log")))).collect();
    let mut ready = 0;
    while ready < n {
        match api.next_seen(Duration::from_secs(30)) {
            Some(Seen::Poll { .. }) => ready += 1,
            Some(Seen::InitError { body, .. }) => panic!("ingest failed to start: {body}"),
            None => panic!("ingest did not poll the Runtime API within 30 s; see {}", logs.display()),
        }
    }
    Fleet { api, functions }
}

pub(crate) struct Run {
    pub wall: Duration,
    pub latencies_ms: Vec<f64>,
    pub errors: BTreeMap<String, usize>,
    pub first_error: Option<String>,
}

/// Sends `payloads` from `senders` threads, each waiting for its reply before the next.
pub(crate) fn drive(api: &RuntimeApi, payloads: &[Arc<Vec<u8>>], senders: usize) -> Run {
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(payloads.len()));
    let errors = Mutex::new(BTreeMap::<String, usize>::new());
    let first_error = Mutex::new(None::<String>);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..senders {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = payloads.get(i) else { break };
                match api.invoke(Arc::clone(p), Duration::from_secs(60)) {
                    Ok(r) => {
                        if let Ok(mut l) = latencies.lock() {
                            l.push(ms(r.latency()));
                        }
                        let partial = serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| {
                            v.get("batchItemFailures").and_then(Value::as_array).map(Vec::len).filter(|n| *n > 0)
                        });
                        if let (Some(n), Ok(mut e)) = (partial, errors.lock()) {
                            *e.entry("batchItemFailures".to_owned()).or_default() += n;
                        }
                        if let Some(t) = r.error_type {
                            if let Ok(mut e) = errors.lock() {
                                *e.entry(t).or_default() += 1;
                            }
                            if let Ok(mut f) = first_error.lock() {
                                f.get_or_insert_with(|| String::from_utf8_lossy(&r.body).chars().take(400).collect());
                            }
                        }
                    }
                    Err(e) => {
                        if let Ok(mut m) = errors.lock() {
                            *m.entry(format!("harness: {e}")).or_default() += 1;
                        }
                    }
                }
            });
        }
    });
    Run {
        wall: start.elapsed(),
        latencies_ms: latencies.into_inner().unwrap_or_default(),
        errors: errors.into_inner().unwrap_or_default(),
        first_error: first_error.into_inner().unwrap_or_default(),
    }
}

/// Write requests and their capacity (corrected for DynamoDB Local's transaction accounting).
fn write_requests(c: &Counts) -> (u64, f64) {
    c.iter()
        .filter(|(op, _)| WRITE_OPS.contains(&op.as_str()))
        .fold((0, 0.0), |(r, u), (_, v)| (r + v.requests, u + v.corrected_capacity_units))
}

fn counts_json(c: &Counts) -> Value {
    c.iter()
        .map(|(op, v)| {
            let units = json!({"requests": v.requests, "capacityUnits": v.capacity_units,
                "correctedCapacityUnits": v.corrected_capacity_units, "notOk": v.failed});
            (op.clone(), units)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub fn e2e(out: &Path, logs: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let endpoint = stack::dynamodb_endpoint();
    let client = stack::dynamodb_client(endpoint);
    let proxy = CountingProxy::start(endpoint).unwrap_or_else(|e| panic!("proxy: {e}"));
    let templates = templates();
    let mut f = Figures::default();
    std::fs::create_dir_all(logs).unwrap_or_else(|e| panic!("{}: {e}", logs.display()));

    // Direct path: one EventBridge envelope per invocation.
    let store = rt.block_on(stack::fresh_store_on(&client, "bench-e2e"));
    let mut env = stack::local_env(&proxy.endpoint());
    env.extend([("TABLE_NAME", store.table().to_owned()), ("RETENTION_DAYS", "4".to_owned())]);
    let fleet = start_fleet("ingest-e2e", SENDERS, &env, logs);
    let init = proxy.take();
    let base = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let payloads: Vec<Arc<Vec<u8>>> = (0..events())
        .map(|i| Arc::new(event(&templates, "e2e", i, group_of("uniform", i), base).to_string().into_bytes()))
        .collect();
    eprintln!(
        "bench: ingest-e2e: {} events over {GROUPS} groups, {SENDERS} senders, {SENDERS} function processes",
        events()
    );
    let run = drive(&fleet.api, &payloads, SENDERS);
    let counts = proxy.take();
    let peak_rss: Vec<u64> = fleet.functions.iter().filter_map(Function::peak_rss_kib).collect();
    let logs_of: Vec<_> = fleet.functions.iter().map(|p| p.log.clone()).collect();
    for p in fleet.functions {
        p.stop();
    }
    drop(fleet.api);

    let mut results = BTreeMap::<String, usize>::new();
    let (mut log_requests, mut log_wcu, mut logged) = (0u64, 0.0f64, 0usize);
    for e in logs_of.iter().flat_map(|l| function::log_events(l)) {
        if let Some(r) = e.get("requests").and_then(Value::as_u64) {
            log_requests += r;
            log_wcu += e.get("wcu").and_then(Value::as_f64).unwrap_or(0.0);
            logged += 1;
        }
        if let Some(r) = e.get("result").and_then(Value::as_str) {
            *results.entry(r.to_owned()).or_default() += 1;
        }
    }
    let (groups, occurrences) = rt.block_on(stack::totals(&store));
    let n = events() as f64;
    let all_requests: u64 = counts.values().map(|c| c.requests).sum();
    let (writes, write_units) = write_requests(&counts);
    let per_group_new = results.get("created").copied().unwrap_or(0);

    f.add(
        "ingest.e2e.events_per_s",
        n / run.wall.as_secs_f64(),
        "events/s",
        "ingest end to end: throughput (4 senders, 4 processes)",
    );
    f.add(
        "ingest.e2e.latency_p50_ms",
        percentile(&run.latencies_ms, 50.0),
        "ms",
        "ingest end to end: invocation latency p50",
    );
    f.add(
        "ingest.e2e.latency_p99_ms",
        percentile(&run.latencies_ms, 99.0),
        "ms",
        "ingest end to end: invocation latency p99",
    );
    f.add(
        "ingest.e2e.requests_per_event",
        log_requests as f64 / n,
        "requests/event",
        "ingest direct path: DynamoDB requests per event (function log)",
    );
    f.add("ingest.e2e.wcu_per_event", log_wcu / n, "WCU/event", "ingest direct path: WCU per event (function log)");
    f.add(
        "ingest.e2e.proxy_requests_per_event",
        all_requests as f64 / n,
        "requests/event",
        "ingest direct path: DynamoDB requests per event (counting proxy)",
    );
    f.add(
        "ingest.e2e.proxy_wcu_per_event",
        write_units / n,
        "WCU/event",
        "ingest direct path: WCU per event (counting proxy)",
    );
    f.add(
        "ingest.e2e.errors",
        run.errors.values().sum::<usize>() as f64,
        "invocations",
        "ingest end to end: failed invocations",
    );
    f.add(
        "ingest.e2e.lost_or_double_counted",
        (occurrences as f64 - n).abs() + (groups as f64 - groups_touched("uniform")).abs(),
        "events",
        "ingest end to end: |stored occurrences − events| + |groups − 100|",
    );
    f.add(
        "memory.ingest.peak_rss_mib",
        peak_rss.iter().copied().max().unwrap_or(0) as f64 / 1024.0,
        "MiB",
        "ingest: peak RSS (VmHWM) of the 4 processes, max",
    );
    f.detail(
        "ingest_e2e",
        json!({
            "events": events(), "groups_expected": GROUPS, "senders": SENDERS, "processes": SENDERS,
            "wall_s": run.wall.as_secs_f64(), "results_logged": results, "events_logged_with_cost": logged,
            "stored_groups": groups, "stored_occurrences": occurrences, "new_groups": per_group_new,
            "log_requests": log_requests, "log_wcu": log_wcu, "proxy": counts_json(&counts),
            "proxy_write_requests": writes, "proxy_during_init": counts_json(&init),
            "errors": run.errors, "first_error": run.first_error, "peak_rss_kib": peak_rss,
            "latency_ms": {"p50": percentile(&run.latencies_ms, 50.0), "p90": percentile(&run.latencies_ms, 90.0),
                "p99": percentile(&run.latencies_ms, 99.0), "max": percentile(&run.latencies_ms, 100.0)},
        }),
    );
    rt.block_on(stack::drop_table(&store));

    sqs(&rt, &client, &proxy, &templates, logs, &mut f);
    f.write("ingest-e2e", "target/release/bench ingest-e2e", out);
}

/// The SQS batch path: the same 10,000 events over 100 groups as 100 invocations of 100
/// records, for each event stream of [`group_of`]. Costs come from the counting proxy (the
/// function's per-event log line repeats its group write's cost for every event of the write).
fn sqs(
    rt: &tokio::runtime::Runtime,
    client: &aws_sdk_dynamodb::Client,
    proxy: &CountingProxy,
    templates: &[Value],
    logs: &Path,
    f: &mut Figures,
) {
    let mut details = serde_json::Map::new();
    let mut rss_max = 0u64;
    for workload in ["uniform", "bursty", "storm"] {
        let key = if workload == "uniform" { "ingest.sqs".to_owned() } else { format!("ingest.sqs.{workload}") };
        let what = format!("ingest SQS path (batch {SQS_BATCH}, {workload} stream)");
        let store = rt.block_on(stack::fresh_store_on(client, "bench-sqs"));
        let mut env = stack::local_env(&proxy.endpoint());
        env.extend([("TABLE_NAME", store.table().to_owned()), ("RETENTION_DAYS", "4".to_owned())]);
        let fleet = start_fleet(&format!("ingest-sqs-{workload}"), SENDERS, &env, logs);
        let base = OffsetDateTime::now_utc() - time::Duration::hours(1);
        let batch = |b: usize| -> Arc<Vec<u8>> {
            let records: Vec<Value> = (b * SQS_BATCH..(b + 1) * SQS_BATCH)
                .map(|i| sqs_record(i, &event(templates, "sqs", i, group_of(workload, i), base)))
                .collect();
            Arc::new(json!({"Records": records}).to_string().into_bytes())
        };
        proxy.take();
        // The first batch tells whether the function takes SQS events at all.
        let first = fleet.api.invoke(batch(0), Duration::from_secs(60));
        let not_landed = match &first {
            Ok(r) if r.error_type.is_none() => None,
            Ok(r) => Some(format!(
                "the function answers an SQS event with {}: {}",
                r.error_type.clone().unwrap_or_default(),
                String::from_utf8_lossy(&r.body).chars().take(200).collect::<String>()
            )),
            Err(e) => Some(e.clone()),
        };
        if let Some(why) = not_landed {
            eprintln!("bench: ingest-sqs: not landed ({why})");
            f.absent(
                &format!("{key}.writes_per_event"),
                "writes/event",
                &format!("{what}: DynamoDB write requests per event"),
                &format!("not yet landed: {why}"),
            );
            f.absent(&format!("{key}.wcu_per_event"), "WCU/event", &format!("{what}: WCU per event"), "not yet landed");
            details.insert(workload.to_owned(), json!({"landed": false, "why": why}));
            for p in fleet.functions {
                p.stop();
            }
            rt.block_on(stack::drop_table(&store));
            break;
        }
        let payloads: Vec<Arc<Vec<u8>>> = (1..events() / SQS_BATCH).map(batch).collect();
        let mut run = drive(&fleet.api, &payloads, SENDERS);
        // The first batch is not timed, but its failures count.
        let first_failed = first.ok().and_then(|r| {
            serde_json::from_slice::<Value>(&r.body).ok()?.get("batchItemFailures")?.as_array().map(Vec::len)
        });
        if let Some(n) = first_failed.filter(|n| *n > 0) {
            *run.errors.entry("batchItemFailures".to_owned()).or_default() += n;
        }
        let counts = proxy.take();
        let peak_rss: Vec<u64> = fleet.functions.iter().filter_map(Function::peak_rss_kib).collect();
        rss_max = rss_max.max(peak_rss.iter().copied().max().unwrap_or(0));
        for p in fleet.functions {
            p.stop();
        }
        let (writes, units) = write_requests(&counts);
        let (groups, occurrences) = rt.block_on(stack::totals(&store));
        let n = events() as f64;
        f.add(
            &format!("{key}.writes_per_event"),
            writes as f64 / n,
            "writes/event",
            &format!("{what}: DynamoDB write requests per event"),
        );
        f.add(&format!("{key}.wcu_per_event"), units / n, "WCU/event", &format!("{what}: WCU per event"));
        // Over the batches timed: the first is sent alone before them.
        let timed = (payloads.len() * SQS_BATCH) as f64;
        f.add(
            &format!("{key}.events_per_s"),
            timed / run.wall.as_secs_f64(),
            "events/s",
            &format!("{what}: throughput"),
        );
        f.add(
            &format!("{key}.lost_or_double_counted"),
            (occurrences as f64 - n).abs()
                + (groups as f64 - groups_touched(workload)).abs()
                + run.errors.values().sum::<usize>() as f64,
            "events",
            &format!("{what}: |stored occurrences − events| + |groups − groups sent| + failed records"),
        );
        details.insert(
            workload.to_owned(),
            json!({"landed": true, "batches": payloads.len() + 1, "batch": SQS_BATCH, "proxy": counts_json(&counts),
                "write_requests": writes, "errors": run.errors, "first_error": run.first_error,
                "stored_groups": groups, "stored_occurrences": occurrences, "wall_s": run.wall.as_secs_f64(),
                "peak_rss_kib": peak_rss,
                "batch_latency_ms": {"p50": percentile(&run.latencies_ms, 50.0), "p99": percentile(&run.latencies_ms, 99.0)}}),
        );
        rt.block_on(stack::drop_table(&store));
    }
    if rss_max > 0 {
        f.add(
            "memory.ingest.sqs.peak_rss_mib",
            rss_max as f64 / 1024.0,
            "MiB",
            "ingest: peak RSS (VmHWM) of the 4 processes on the SQS path (batch 100), max",
        );
    }
    f.detail("ingest_sqs", details.into());
}

pub(crate) struct Tally {
    pub events: u32,
    pub requests: u32,
    pub wcu: f64,
    pub outcomes: Vec<Recorded>,
}

pub(crate) async fn record_all(store: &Store, events: Vec<Value>) -> Tally {
    let mut t = Tally { events: 0, requests: 0, wcu: 0.0, outcomes: Vec::new() };
    for e in events {
        let Ok(Parsed::Failure(o)) = event::parse(e) else { panic!("bench event did not parse") };
        let id = o.group_id();
        let (recorded, cost) = store
            .writer(None)
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

/// The store in-process, scenario by scenario (also warms DynamoDB Local's JVM up before the
/// end-to-end run).
pub fn cost(out: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let client = stack::dynamodb_client(stack::dynamodb_endpoint());
    let store = rt.block_on(stack::fresh_store_on(&client, "bench-cost"));
    let templates = templates();
    let base = OffsetDateTime::now_utc() - time::Duration::hours(2);
    // 10 groups; the first 10 events create them, then repeats in order, late ones, redeliveries.
    let ev = |run: &str, i: usize, at: usize| {
        let mut e = event(&templates, run, i, i % 10, base);
        let t = time_fmt::format(base + time::Duration::seconds(at as i64));
        e["time"] = json!(t);
        e["detail"]["occurredAt"] = json!(t);
        e
    };
    let scenarios: Vec<(&str, &str, Vec<Value>)> = vec![
        ("new", "new group (first occurrence)", (0..10).map(|i| ev("new", i, 1000)).collect()),
        ("repeat", "repeat, in time order", (0..1000).map(|i| ev("rep", i, 1010 + i)).collect()),
        ("late", "repeat, arriving out of order (older than last)", (0..100).map(|i| ev("late", i, 500 - i)).collect()),
        ("duplicate", "redelivered envelope (duplicate)", (0..100).map(|i| ev("rep", i, 1010 + i)).collect()),
    ];
    let mut f = Figures::default();
    let mut rows = Vec::new();
    for (key, label, events) in scenarios {
        let t = rt.block_on(record_all(&store, events));
        let n = f64::from(t.events);
        f.add(
            &format!("ingest.cost.{key}.requests_per_event"),
            f64::from(t.requests) / n,
            "requests/event",
            &format!("ingest in-process, {label}: DynamoDB requests per event"),
        );
        f.add(
            &format!("ingest.cost.{key}.wcu_per_event"),
            t.wcu / n,
            "WCU/event",
            &format!("ingest in-process, {label}: WCU per event"),
        );
        let recognised = t.outcomes.iter().filter(|o| **o == Recorded::Duplicate).count();
        rows.push(json!({"scenario": label, "events": t.events, "requests_per_event": f64::from(t.requests) / n,
            "wcu_per_event": t.wcu / n, "duplicates_recognised": recognised}));
    }
    f.detail("ingest_cost", Value::Array(rows));
    rt.block_on(stack::drop_table(&store));
    f.write("ingest-cost", "target/release/bench ingest-cost", out);
}
