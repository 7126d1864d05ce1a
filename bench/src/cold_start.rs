//! Cold start (`cold-start`): from the exec of a release function binary to its first
//! `GET /runtime/invocation/next` on the local Runtime API, and to its first response, 20 runs
//! per function, interleaved with the `rt-baseline` binary (the floor of this machine), so the
//! figure checked is a ratio measured in the same run; every other run goes through the
//! binaries in reverse order. Each function also runs with
//! `METRICS=off` in the same rounds (`ingest-metrics-off`, `api-metrics-off`): the cost of its
//! metrics on the cold start.
//!
//! `startup-probe` replays each step of the functions' `main` (tokio runtime, logging,
//! configuration, `scan_failures_aws::sdk::load`, the DynamoDB client, the first and second
//! request) in a fresh process and times them, to show what the start-up spends its time on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::fixtures::{synthetic_group_of, GroupDetail};
use integration_tests::stack;
use scan_failures_domain::classify::Reason;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::function::{self, Function};
use crate::ingest;
use crate::report::{ms, percentile, Figures};
use crate::runtime_api::{RuntimeApi, Seen};

/// Runs per binary: 20 (`BENCH_COLD_RUNS` overrides, for a quick try of the harness).
fn runs() -> usize {
    std::env::var("BENCH_COLD_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20)
}
const CALLER: &str = "arn:aws:iam::123456789012:user/alice";

struct Target {
    key: String,
    binary: PathBuf,
    env: Vec<(&'static str, String)>,
    payload: Box<dyn Fn(usize) -> Arc<Vec<u8>>>,
    first_poll: Vec<f64>,
    first_response: Vec<f64>,
    first_handler: Vec<f64>,
    rss_kib: Vec<f64>,
}

struct Sample {
    first_poll_ms: f64,
    first_response_ms: f64,
    handler_ms: f64,
    rss_kib: f64,
}

fn once(api: &RuntimeApi, t: &Target, run: usize, log: &Path) -> Sample {
    api.drain_seen();
    let start = Instant::now();
    let mut p = Function::spawn(&t.binary, &t.env, log);
    let polled = loop {
        match api.next_seen(Duration::from_millis(50)) {
            Some(Seen::Poll { at }) => break at,
            Some(Seen::InitError { body, .. }) => panic!("{} failed to start: {body}", t.key),
            None => {
                if let Some(status) = p.exited() {
                    panic!("{} exited before polling ({status}); see {}", t.key, log.display());
                }
                assert!(start.elapsed() < Duration::from_secs(30), "{} did not poll within 30 s", t.key);
            }
        }
    };
    let reply = api.invoke((t.payload)(run), Duration::from_secs(30)).unwrap_or_else(|e| panic!("{}: {e}", t.key));
    assert!(reply.error_type.is_none(), "{} failed: {}", t.key, String::from_utf8_lossy(&reply.body));
    // The process polls again once it has answered; stop it only then, so nothing it sends
    // belongs to the next run.
    let again = matches!(api.next_seen(Duration::from_secs(5)), Some(Seen::Poll { .. }));
    assert!(again, "{} did not poll again after its first response", t.key);
    let rss = p.peak_rss_kib().unwrap_or(0) as f64;
    p.stop();
    assert!(api.wait_idle(Duration::from_secs(5)), "the Runtime API still sees a poll from a stopped process");
    Sample {
        first_poll_ms: ms(polled - start),
        first_response_ms: ms(reply.completed - start),
        handler_ms: ms(reply.completed - reply.dispatched),
        rss_kib: rss,
    }
}

pub fn run(out: &Path, logs: &Path, variant: Option<(String, PathBuf)>) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let endpoint = stack::dynamodb_endpoint();
    let client = stack::dynamodb_client(endpoint);
    let store = rt.block_on(stack::fresh_store_on(&client, "bench-cold"));
    let now = OffsetDateTime::now_utc();
    let groups: Vec<_> = (0..100)
        .map(|n| {
            let image = format!("quay.io/acme/svc{}:1", n % 10);
            synthetic_group_of(GroupDetail::Realistic, n, &image, Reason::Timeout, now, n as i64)
        })
        .collect();
    rt.block_on(stack::seed_groups_parallel(&store, &groups, 2));
    std::fs::create_dir_all(logs).unwrap_or_else(|e| panic!("{}: {e}", logs.display()));
    let api = RuntimeApi::start("cold").unwrap_or_else(|e| panic!("runtime api: {e}"));

    let mut env = stack::local_env(endpoint);
    env.extend([("TABLE_NAME", store.table().to_owned()), ("RETENTION_DAYS", "4".to_owned())]);
    let runtime = |name: &str| function::runtime_env(name, &api.address());
    let templates = Arc::new(ingest::templates());
    let base = now - time::Duration::minutes(30);
    // Every run repeats group 0 with an envelope id of its own, per target too (two targets
    // sending one id, the second took the duplicate path, a write it never made): one
    // transaction, as most events are.
    let ingest_payload = |target: &'static str| {
        let templates = Arc::clone(&templates);
        move |run: usize| {
            let e = ingest::event(&templates, &format!("cold-{target}"), run * 100, 0, base);
            Arc::new(e.to_string().into_bytes())
        }
    };
    let fixture = stack::repo_root().join("events/api/list-http-api-iam.json");
    let mut list: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
    list["rawQueryString"] = json!("pagination.limit=50");
    list["queryStringParameters"] = json!({"pagination.limit": "50"});
    list["requestContext"]["authorizer"]["iam"]["userArn"] = json!(CALLER);
    let list = Arc::new(list.to_string().into_bytes());

    let target = |key: &str,
                  binary: PathBuf,
                  extra: Vec<(&'static str, String)>,
                  payload: Box<dyn Fn(usize) -> Arc<Vec<u8>>>| {
        let fname = if key.starts_with("api") { "api" } else { "ingest" };
        let mut e = env.clone();
        e.extend(runtime(fname));
        e.extend(extra);
        Target {
            key: key.to_owned(),
            binary,
            env: e,
            payload,
            first_poll: vec![],
            first_response: vec![],
            first_handler: vec![],
            rss_kib: vec![],
        }
    };
    let api_env = vec![("ADMIN_VIEW_PRINCIPALS", CALLER.to_owned())];
    let ip = ingest_payload("ingest");
    let lp = Arc::clone(&list);
    let (ip_off, lp_off) = (ingest_payload("ingest-metrics-off"), Arc::clone(&list));
    let off = || vec![("METRICS", "off".to_owned())];
    let api_off: Vec<(&'static str, String)> = api_env.iter().cloned().chain(off()).collect();
    let mut targets = vec![
        target("baseline", function::binary("rt-baseline"), vec![], Box::new(|_| Arc::new(b"{}".to_vec()))),
        target("ingest", function::binary("ingest"), vec![], Box::new(ip)),
        target("api", function::binary("api"), api_env.clone(), Box::new(move |_| Arc::clone(&lp))),
        // The same binaries without metrics, in the same rounds: what emitting them costs.
        target("ingest-metrics-off", function::binary("ingest"), off(), Box::new(ip_off)),
        target("api-metrics-off", function::binary("api"), api_off, Box::new(move |_| Arc::clone(&lp_off))),
    ];
    if let Some((label, dir)) = &variant {
        let lp = Arc::clone(&list);
        targets.push(target(
            &format!("ingest-{label}"),
            dir.join("ingest"),
            vec![],
            Box::new(ingest_payload("variant")),
        ));
        targets.push(target(&format!("api-{label}"), dir.join("api"), api_env, Box::new(move |_| Arc::clone(&lp))));
    }
    // One unmeasured start of each, so every binary is in the page cache.
    for t in &targets {
        once(&api, t, 10_000, &logs.join(format!("cold-{}-warm.log", t.key)));
    }
    for run in 0..runs() {
        // Every other run in reverse order: the first target after a pause meets a DynamoDB
        // Local that has been idle (its first write is slower), so no target keeps that place.
        let n = targets.len();
        for i in 0..n {
            let t = &mut targets[if run % 2 == 0 { i } else { n - 1 - i }];
            let s = once(&api, t, run, &logs.join(format!("cold-{}.log", t.key)));
            t.first_poll.push(s.first_poll_ms);
            t.first_response.push(s.first_response_ms);
            t.first_handler.push(s.handler_ms);
            t.rss_kib.push(s.rss_kib);
        }
    }
    drop(api);
    rt.block_on(stack::drop_table(&store));

    let mut f = Figures::default();
    let base_p50 = percentile(&targets[0].first_poll, 50.0);
    let mut detail = Vec::new();
    for t in &targets {
        let k = &t.key;
        let (p50, p99) = (percentile(&t.first_poll, 50.0), percentile(&t.first_poll, 99.0));
        f.add(&format!("cold.{k}.first_poll_p50_ms"), p50, "ms", &format!("cold start {k}: exec → first poll, p50"));
        f.add(&format!("cold.{k}.first_poll_p99_ms"), p99, "ms", &format!("cold start {k}: exec → first poll, p99"));
        f.add(
            &format!("cold.{k}.first_response_p50_ms"),
            percentile(&t.first_response, 50.0),
            "ms",
            &format!("cold start {k}: exec → first response, p50"),
        );
        f.add(
            &format!("cold.{k}.first_response_p99_ms"),
            percentile(&t.first_response, 99.0),
            "ms",
            &format!("cold start {k}: exec → first response, p99"),
        );
        if k != "baseline" {
            f.add(
                &format!("cold.{k}.first_poll_vs_baseline"),
                p50 / base_p50,
                "ratio",
                &format!("cold start {k}: exec → first poll p50 / rt-baseline's, same run"),
            );
        }
        detail.push(json!({
            "target": k, "binary": t.binary.display().to_string(),
            "binary_bytes": std::fs::metadata(&t.binary).map(|m| m.len()).unwrap_or(0),
            "first_poll_ms": {"p50": p50, "p99": p99, "min": percentile(&t.first_poll, 0.0)},
            "first_response_ms": {"p50": percentile(&t.first_response, 50.0), "p99": percentile(&t.first_response, 99.0)},
            "first_invocation_handler_ms": {"p50": percentile(&t.first_handler, 50.0), "p99": percentile(&t.first_handler, 99.0)},
            "peak_rss_after_first_invocation_kib": percentile(&t.rss_kib, 50.0),
            "runs": t.first_poll.len(),
        }));
    }
    let first_response =
        |key: &str| targets.iter().find(|t| t.key == key).map_or(0.0, |t| percentile(&t.first_response, 50.0));
    for k in ["ingest", "api"] {
        f.add(
            &format!("cold.{k}.metrics_on_vs_off_first_response"),
            first_response(k) / first_response(&format!("{k}-metrics-off")),
            "ratio",
            &format!("cold start {k}: exec → first response p50 with metrics / without, same run"),
        );
    }
    f.detail("cold_start", Value::Array(detail));
    f.detail("startup_probe", probe_all(&env));
    f.write("cold-start", "target/release/bench cold-start", out);
}

/// Runs `startup-probe` in 20 fresh processes and keeps the median of each step.
fn probe_all(env: &[(&'static str, String)]) -> Value {
    let me = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut steps: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for _ in 0..runs() {
        let out = std::process::Command::new(&me)
            .arg("startup-probe")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("startup-probe: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().rev().find(|l| l.starts_with('{')) else { continue };
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line) {
            for (k, v) in m {
                steps.entry(k).or_default().push(v.as_f64().unwrap_or(0.0));
            }
        }
    }
    steps.into_iter().map(|(k, v)| (k, json!(percentile(&v, 50.0)))).collect::<serde_json::Map<_, _>>().into()
}

/// One fresh-process replay of `main`'s start-up steps, printed as one JSON line (ms each).
pub fn probe() {
    let t0 = Instant::now();
    let mut steps = serde_json::Map::new();
    let t = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    steps.insert("1_tokio_runtime".to_owned(), json!(ms(t.elapsed())));
    let (times, before_first) = rt.block_on(async move {
        let mut s = Vec::new();
        let t = Instant::now();
        scan_failures_aws::telemetry::init_logging();
        s.push(("2_init_logging", ms(t.elapsed())));
        let t = Instant::now();
        let config = scan_failures_aws::config::IngestConfig::from_env(|k| std::env::var(k).ok())
            .unwrap_or_else(|e| panic!("{e}"));
        s.push(("3_config_from_env", ms(t.elapsed())));
        let t = Instant::now();
        let aws = scan_failures_aws::sdk::load(config.sdk).await;
        s.push(("4_sdk_config_load", ms(t.elapsed())));
        let t = Instant::now();
        let client = scan_failures_aws::dynamo::conflicts::client(&aws);
        s.push(("5_dynamodb_client_new", ms(t.elapsed())));
        let before_first = t0.elapsed();
        for name in ["6_first_request", "7_second_request"] {
            let t = Instant::now();
            let _ = client.describe_table().table_name(&config.table_name).send().await;
            s.push((name, ms(t.elapsed())));
        }
        (s, before_first)
    });
    for (k, v) in times {
        steps.insert(k.to_owned(), json!(v));
    }
    steps.insert("0_main_to_before_first_request".to_owned(), json!(ms(before_first)));
    println!("{}", Value::Object(steps));
}
