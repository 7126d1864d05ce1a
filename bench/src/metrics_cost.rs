//! What the functions' metrics cost the ingest function (`metrics-cost`): the same release
//! binary with `METRICS=on` and `METRICS=off`, one process at a time on the local Runtime API
//! and DynamoDB Local, 2,000 direct-path events each (100 groups: 100 new, then repeats, on a
//! fresh table), five rounds with the order of the two alternating. CPU per event is the
//! process's user + system time from `/proc` (every thread) from its first poll to its last
//! answer, divided by the events ([`crate::process`]); the figure checked is the median over
//! the rounds of the ratio of the two runs of one round (adjacent in time, so a machine that
//! slows down between rounds moves both). The process figures move by ±20% from run to run
//! (the multi-threaded runtime's idle work depends on DynamoDB Local's latency), more than the
//! metrics cost; so the part also times, in-process, exactly what an invocation adds to emit
//! them (the tally, the two documents of a direct-path event, their JSON line and its write to
//! a file), 100,000 times. The cold-start part runs the metrics-off binaries alongside.

use std::path::Path;
use std::sync::Arc;

use std::io::Write;
use std::time::Instant;

use ::ingest::metrics::{Published, Tally};
use integration_tests::stack;
use scan_failures_aws::dynamo::write::WriteCost;
use scan_failures_aws::metrics::MetricsConfig;
use serde_json::json;
use time::OffsetDateTime;

use crate::ingest;
use crate::process::{measure, Spec};
use crate::report::{percentile, Figures};

/// Events per process run: 2,000 (`BENCH_METRICS_EVENTS` overrides, for a quick try).
fn events() -> usize {
    std::env::var("BENCH_METRICS_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}
const ROUNDS: usize = 5;

/// The direct-path payloads of one run: `events()` events over 100 groups, ids unique to `run`.
pub fn direct_payloads(run: &str, n: usize) -> Vec<Arc<Vec<u8>>> {
    let templates = ingest::templates();
    let base = OffsetDateTime::now_utc() - time::Duration::hours(1);
    (0..n)
        .map(|i| {
            let e = ingest::event(&templates, run, i, ingest::group_of("uniform", i), base);
            Arc::new(e.to_string().into_bytes())
        })
        .collect()
}

/// Nanoseconds one direct-path invocation spends on its metrics: the tally of a repeat stored
/// and the two documents written as one line to a file.
fn emit_ns_per_event(logs: &Path) -> f64 {
    const N: u32 = 100_000;
    let config = MetricsConfig { enabled: true, stack: "bench".to_owned(), by_reason: true };
    let mut file = std::fs::File::create(logs.join("metrics-emit.log")).unwrap_or_else(|e| panic!("{e}"));
    let at = OffsetDateTime::now_utc();
    let start = Instant::now();
    for _ in 0..N {
        let mut t = Tally {
            cost: WriteCost { requests: 1, write_capacity_units: 8.0 },
            published: Published::default(),
            ..Tally::default()
        };
        t.stored.insert(("TIMEOUT", "roxctl", "image scan"), 1);
        let mut line = String::new();
        for d in t.documents(&config, at) {
            line.push_str(&d.to_line());
            line.push('\n');
        }
        file.write_all(line.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }
    start.elapsed().as_nanos() as f64 / f64::from(N)
}

pub fn run(out: &Path, logs: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let endpoint = stack::dynamodb_endpoint();
    let client = stack::dynamodb_client(endpoint);
    std::fs::create_dir_all(logs).unwrap_or_else(|e| panic!("{}: {e}", logs.display()));
    let mut per_event_us: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut lines = [0usize; 2];
    for round in 0..ROUNDS {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for v in order {
            let setting = ["on", "off"][v];
            let store = rt.block_on(stack::fresh_store_on(&client, "bench-metrics"));
            let mut env = stack::local_env(endpoint);
            env.extend([
                ("TABLE_NAME", store.table().to_owned()),
                ("RETENTION_DAYS", "4".to_owned()),
                ("METRICS", setting.to_owned()),
                ("METRICS_STACK", "bench".to_owned()),
            ]);
            let name = format!("metrics-{setting}-{round}");
            let m = measure(&Spec::binary(&name, "ingest", env), &direct_payloads(&name, events()), logs);
            assert_eq!(m.errors, 0, "{name}: {:?}", m.first_error);
            let text = std::fs::read_to_string(&m.log).unwrap_or_default();
            lines[v] += text.lines().filter(|l| l.contains("\"_aws\"")).count();
            per_event_us[v].push(m.cpu_us_per_invocation());
            eprintln!(
                "bench: metrics-cost: round {round}, METRICS={setting}: {:.1} µs CPU per event",
                m.cpu_us_per_invocation()
            );
            rt.block_on(stack::drop_table(&store));
        }
    }
    let [on, off] = [percentile(&per_event_us[0], 50.0), percentile(&per_event_us[1], 50.0)];
    let ratios: Vec<f64> = per_event_us[0].iter().zip(&per_event_us[1]).map(|(on, off)| on / off).collect();
    assert!(lines[0] >= ROUNDS * events() && lines[1] == 0, "EMF lines: on {}, off {}", lines[0], lines[1]);
    let emit_ns = emit_ns_per_event(logs);
    let mut f = Figures::default();
    f.add(
        "metrics.ingest.emit_us_per_event",
        emit_ns / 1000.0,
        "µs",
        "ingest: what emitting the metrics of a direct-path event takes, in-process",
    );
    f.add(
        "metrics.ingest.emit_share_of_event_cpu",
        emit_ns / 1000.0 / off,
        "ratio",
        "ingest: emitting the metrics of an event / the CPU of an event without them, same run",
    );
    f.add(
        "metrics.ingest.cpu_per_event_on_us",
        on,
        "µs",
        "ingest direct path: CPU per event, METRICS=on (median of 5 runs)",
    );
    f.add(
        "metrics.ingest.cpu_per_event_off_us",
        off,
        "µs",
        "ingest direct path: CPU per event, METRICS=off (median of 5 runs)",
    );
    f.add(
        "metrics.ingest.cpu_on_vs_off",
        percentile(&ratios, 50.0),
        "ratio",
        "ingest direct path: CPU per event with metrics / without, median of the rounds' ratios",
    );
    f.detail(
        "metrics_cost",
        json!({"events_per_run": events(), "rounds": ROUNDS, "cpu_per_event_us": {"on": per_event_us[0], "off": per_event_us[1]},
            "ratios": ratios, "emf_lines": {"on": lines[0], "off": lines[1]}}),
    );
    f.write("metrics-cost", "target/release/bench metrics-cost", out);
}
