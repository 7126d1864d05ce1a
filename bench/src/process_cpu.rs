//! CPU per invocation of the function processes, held against a Python peer (`process-cpu`).
//!
//! Three rounds; in each, on fresh tables of the same DynamoDB Local, one process at a time on
//! its own local Runtime API ([`crate::process`]): the release `ingest` and the peer
//! (`bench/peer/ingest_peer.py`: boto3 under `awslambdaric`, `.tools/peer-venv`) over the same
//! 2,000 direct-path events (100 groups: 100 new, then repeats), in alternating order; then
//! `ingest` over the same events as SQS batches of 10, and the `api` over 300 list pages of 50
//! and 300 unfiltered counts of the 100 groups the direct run stored. Beside them, floors of
//! what a minimal implementation reaches: `ingest-floor` (the peer's work written by hand in Rust, see
//! `src/bin/ingest-floor.rs`) over the same events, by hand, with the SDK's client, and with the
//! SDK's and AWS's runtime client, and `rt-baseline` (the Runtime API's two exchanges per event and
//! nothing else). The figures are medians over the rounds; the ratios
//! checked are the medians of each round's ratio (the two runs of a ratio are adjacent in time;
//! the floors run after them, in a fixed order).

use std::path::Path;
use std::sync::Arc;

use integration_tests::stack;
use serde_json::{json, Value};

use crate::ingest;
use crate::metrics_cost::direct_payloads;
use crate::process::{measure, Measured, Spec};
use crate::report::{percentile, Figures};

/// Events per run: 2,000 (`BENCH_CPU_EVENTS` overrides, for a quick try).
fn events() -> usize {
    std::env::var("BENCH_CPU_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}
/// Rounds: 3 (`BENCH_CPU_ROUNDS` overrides: `make profile` runs one).
fn rounds() -> usize {
    std::env::var("BENCH_CPU_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
}
const API_REQUESTS: usize = 300;
const SQS_BATCH: usize = 10;
const CALLER: &str = "arn:aws:iam::123456789012:user/alice";

/// The peer: `python -m awslambdaric ingest_peer.handler` in `bench/peer`.
fn peer(label: &str, mut env: Vec<(&'static str, String)>) -> Spec {
    // Lambda sets both; boto3 reads this one.
    env.push(("AWS_DEFAULT_REGION", "us-east-1".to_owned()));
    let python = stack::repo_root().join(".tools/peer-venv/bin/python");
    assert!(python.is_file(), "{} is missing: run `bash scripts/tools.sh bench` (make bench does)", python.display());
    Spec {
        label: label.to_owned(),
        function: "ingest",
        program: python,
        args: vec!["-m", "awslambdaric", "ingest_peer.handler"],
        dir: Some(stack::repo_root().join("bench/peer")),
        env,
    }
}

/// One of this workspace's release binaries playing the Lambda function `function`.
fn floor(label: &str, program: &str, env: Vec<(&'static str, String)>) -> Spec {
    Spec {
        label: label.to_owned(),
        function: "ingest",
        program: crate::function::binary(program),
        args: vec![],
        dir: None,
        env,
    }
}

/// An API Gateway request from the fixture `name`, with `query` and the bench's caller.
fn api_request(name: &str, query: &[(&str, &str)]) -> Arc<Vec<u8>> {
    let path = stack::repo_root().join("events/api").join(name);
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let raw: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    r["rawQueryString"] = json!(raw.join("&"));
    r["queryStringParameters"] =
        query.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>().into();
    r["requestContext"]["authorizer"]["iam"]["userArn"] = json!(CALLER);
    Arc::new(r.to_string().into_bytes())
}

pub fn run(out: &Path, logs: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let endpoint = stack::dynamodb_endpoint();
    let client = stack::dynamodb_client(endpoint);
    std::fs::create_dir_all(logs).unwrap_or_else(|e| panic!("{}: {e}", logs.display()));
    let list = api_request("list-http-api-iam.json", &[("pagination.limit", "50")]);
    let count = api_request("count-http-api-iam.json", &[]);
    let mut runs: std::collections::BTreeMap<&str, Vec<Measured>> = Default::default();
    for round in 0..rounds() {
        let direct_store = rt.block_on(stack::fresh_store_on(&client, "bench-cpu"));
        let peer_store = rt.block_on(stack::fresh_store_on(&client, "bench-cpu-peer"));
        let env = |table: &str| {
            let mut env = stack::local_env(endpoint);
            env.extend([("TABLE_NAME", table.to_owned()), ("RETENTION_DAYS", "4".to_owned())]);
            env
        };
        let payloads = direct_payloads(&format!("cpu-{round}"), events());
        let ingest_first = round % 2 == 0;
        for rust in [ingest_first, !ingest_first] {
            let (key, m) = if rust {
                (
                    "ingest.direct",
                    measure(
                        &Spec::binary(&format!("cpu-ingest-{round}"), "ingest", env(direct_store.table())),
                        &payloads,
                        logs,
                    ),
                )
            } else {
                ("peer.direct", measure(&peer(&format!("cpu-peer-{round}"), env(peer_store.table())), &payloads, logs))
            };
            assert_eq!(m.errors, 0, "{key}: {:?}; see {}", m.first_error, m.log.display());
            eprintln!(
                "bench: process-cpu: round {round}, {key}: {:.0} µs CPU per event, init {:.1} ms",
                m.cpu_us_per_invocation(),
                m.init_ms
            );
            runs.entry(key).or_default().push(m);
        }
        // The floors (their own fresh table): the peer's work by hand, through the SDK, through the
        // SDK and the runtime client; then the runtime's exchanges alone.
        let floor_store = rt.block_on(stack::fresh_store_on(&client, "bench-cpu-floor"));
        for (key, program, variant) in [
            ("floor.direct", "ingest-floor", &[][..]),
            ("floor.sdk", "ingest-floor", &[("FLOOR_DYNAMODB", "sdk")][..]),
            ("floor.sdk_runtime_client", "ingest-floor", &[("FLOOR_DYNAMODB", "sdk"), ("FLOOR_RUNTIME", "lambda")][..]),
            ("floor.exchanges", "rt-baseline", &[][..]),
        ] {
            // New event ids for each: the floors share the table, and a repeated id is a duplicate.
            let payloads = direct_payloads(&format!("cpu-{key}-{round}"), events());
            let mut env = env(floor_store.table());
            env.extend(variant.iter().map(|(k, v)| (*k, (*v).to_owned())));
            let m = measure(&floor(&format!("cpu-{key}-{round}"), program, env), &payloads, logs);
            assert_eq!(m.errors, 0, "{key}: {:?}; see {}", m.first_error, m.log.display());
            eprintln!("bench: process-cpu: round {round}, {key}: {:.0} µs CPU per event", m.cpu_us_per_invocation());
            runs.entry(key).or_default().push(m);
        }
        // The buffered path: the same events (new ids) as SQS batches, on a fresh table.
        let sqs_store = rt.block_on(stack::fresh_store_on(&client, "bench-cpu-sqs"));
        let sqs_events = direct_payloads(&format!("cpu-sqs-{round}"), events());
        let batches: Vec<Arc<Vec<u8>>> = sqs_events
            .chunks(SQS_BATCH)
            .enumerate()
            .map(|(b, chunk)| {
                let records: Vec<Value> = chunk
                    .iter()
                    .enumerate()
                    .map(|(k, p)| ingest::sqs_record(b * SQS_BATCH + k, &serde_json::from_slice(p).unwrap_or_default()))
                    .collect();
                Arc::new(json!({"Records": records}).to_string().into_bytes())
            })
            .collect();
        let mut m = measure(
            &Spec::binary(&format!("cpu-ingest-sqs-{round}"), "ingest", env(sqs_store.table())),
            &batches,
            logs,
        );
        assert_eq!(m.errors, 0, "ingest.sqs: {:?}", m.first_error);
        m.invocations = sqs_events.len();
        runs.entry("ingest.sqs").or_default().push(m);
        // The api over the 100 groups the direct run stored.
        let mut api_env = env(direct_store.table());
        api_env.push(("ADMIN_VIEW_PRINCIPALS", CALLER.to_owned()));
        for (key, request) in [("api.list", &list), ("api.count", &count)] {
            let requests: Vec<Arc<Vec<u8>>> = (0..API_REQUESTS).map(|_| Arc::clone(request)).collect();
            let m = measure(&Spec::binary(&format!("cpu-{key}-{round}"), "api", api_env.clone()), &requests, logs);
            assert_eq!(m.errors, 0, "{key}: {:?}", m.first_error);
            runs.entry(key).or_default().push(m);
        }
        for s in [direct_store, peer_store, sqs_store, floor_store] {
            rt.block_on(stack::drop_table(&s));
        }
    }

    let mut f = Figures::default();
    let median = |key: &str, value: fn(&Measured) -> f64| -> f64 {
        percentile(&runs.get(key).map(|r| r.iter().map(value).collect::<Vec<_>>()).unwrap_or_default(), 50.0)
    };
    let paired_with = |rust: &str, value: fn(&Measured) -> f64| -> f64 {
        let (peer, rust) = (&runs["peer.direct"], &runs[rust]);
        percentile(&peer.iter().zip(rust).map(|(p, r)| value(p) / value(r)).collect::<Vec<_>>(), 50.0)
    };
    let paired = |value: fn(&Measured) -> f64| paired_with("ingest.direct", value);
    let all = Measured::cpu_us_per_invocation as fn(&Measured) -> f64;
    let kernel = Measured::system_us_per_invocation as fn(&Measured) -> f64;
    for (key, suffix, value, what) in [
        ("ingest.direct", "us", all, "ingest direct path: CPU per event"),
        ("ingest.sqs", "us", all, "ingest SQS path (batches of 10): CPU per event"),
        ("api.list", "us", all, "api list page of 50: CPU per request"),
        ("api.count", "us", all, "api unfiltered count (100 groups): CPU per request"),
        ("peer.direct", "us", all, "Python + boto3 peer (awslambdaric), direct path: CPU per event"),
        ("ingest.direct", "system_us", kernel, "ingest direct path: of which the kernel's (system CPU) per event"),
        ("peer.direct", "system_us", kernel, "Python peer, direct path: of which the kernel's (system CPU) per event"),
        ("floor.direct", "us", all, "the peer's work by hand in Rust (ingest-floor), direct path: CPU per event"),
        ("floor.direct", "system_us", kernel, "ingest-floor: of which the kernel's (system CPU) per event"),
        ("floor.sdk", "us", all, "ingest-floor with the transaction through the AWS SDK: CPU per event"),
        (
            "floor.sdk_runtime_client",
            "us",
            all,
            "ingest-floor through the SDK and AWS's runtime client (lambda_runtime): CPU per event",
        ),
        ("floor.exchanges", "us", all, "the Runtime API's exchanges alone (rt-baseline): CPU per event"),
    ] {
        f.add(
            &format!("process_cpu.{key}_{suffix}"),
            median(key, value),
            "µs",
            &format!("{what} (median of {} runs)", rounds()),
        );
    }
    let ceiling = {
        let (peer, rust) = (&runs["peer.direct"], &runs["ingest.direct"]);
        // A round whose kernel part stayed under one clock tick has no ratio to give.
        let per_round: Vec<f64> = peer
            .iter()
            .zip(rust)
            .filter(|(_, r)| r.system_s > 0.0)
            .map(|(p, r)| p.cpu_us_per_invocation() / r.system_us_per_invocation())
            .collect();
        percentile(&per_round, 50.0)
    };
    f.add(
        "process_cpu.peer_vs_ingest_kernel",
        ceiling,
        "ratio",
        "peer CPU per event / ingest's kernel (system) CPU per event, median of the rounds' ratios: what peer / ingest would be with ingest's user-space CPU cut to nothing and its system calls as they are",
    );
    f.add(
        "process_cpu.ingest.init_ms",
        median("ingest.direct", |m| m.init_ms),
        "ms",
        "ingest: exec → first poll (median)",
    );
    f.add(
        "process_cpu.peer.init_ms",
        median("peer.direct", |m| m.init_ms),
        "ms",
        "Python peer: exec → first poll (median)",
    );
    f.add(
        "process_cpu.peer_vs_ingest_cpu",
        paired(Measured::cpu_us_per_invocation),
        "ratio",
        "peer CPU per event / ingest's, median of the rounds' ratios",
    );
    f.add(
        "process_cpu.peer_vs_floor_cpu",
        paired_with("floor.direct", Measured::cpu_us_per_invocation),
        "ratio",
        "peer CPU per event / ingest-floor's (the peer's work by hand in Rust), median of the rounds' ratios: what this minimal implementation reaches",
    );
    f.add(
        "process_cpu.peer_vs_floor_sdk_cpu",
        paired_with("floor.sdk", Measured::cpu_us_per_invocation),
        "ratio",
        "peer CPU per event / ingest-floor's with the transaction through the AWS SDK, median of the rounds' ratios: what it reaches keeping the SDK",
    );
    f.add(
        "process_cpu.peer_vs_floor_sdk_runtime_client_cpu",
        paired_with("floor.sdk_runtime_client", Measured::cpu_us_per_invocation),
        "ratio",
        "peer CPU per event / ingest-floor's through the SDK and AWS's runtime client, median of the rounds' ratios: what it reaches on the crates ingest runs on",
    );
    f.add(
        "process_cpu.peer_vs_ingest_init",
        paired(|m| m.init_ms),
        "ratio",
        "peer exec → first poll / ingest's, median of the rounds' ratios",
    );
    f.add(
        "process_cpu.peer_vs_ingest_rss",
        paired(|m| m.peak_rss_kib as f64),
        "ratio",
        "peer peak RSS / ingest's, median of the rounds' ratios",
    );
    for key in ["ingest.direct", "ingest.sqs", "api.list", "api.count"] {
        let fname = key.split('.').next().unwrap_or(key);
        let rss = runs.get(key).map(|r| r.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0)).unwrap_or(0);
        f.add(
            &format!("memory.{fname}.process_cpu_{}.peak_rss_mib", key.replace('.', "_")),
            rss as f64 / 1024.0,
            "MiB",
            &format!("{key}: peak RSS (VmHWM) over the runs, max"),
        );
    }
    let detail: serde_json::Map<String, Value> = runs
        .iter()
        .map(|(k, r)| {
            let rows: Vec<Value> = r
                .iter()
                .map(|m| {
                    json!({"cpu_us": m.cpu_us_per_invocation(), "system_us": m.system_us_per_invocation(), "init_ms": m.init_ms, "peak_rss_kib": m.peak_rss_kib,
                    "wall_s": m.wall.as_secs_f64(), "invocations": m.invocations})
                })
                .collect();
            ((*k).to_owned(), Value::Array(rows))
        })
        .collect();
    f.detail("process_cpu", json!({"events_per_run": events(), "rounds": rounds(), "api_requests": API_REQUESTS, "sqs_batch": SQS_BATCH, "runs": detail}));
    f.write("process-cpu", "target/release/bench process-cpu", out);
}
