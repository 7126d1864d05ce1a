//! What the functions' metrics cost the ingest function (`metrics-cost`): the same release
//! binary with `METRICS=on` and `METRICS=off`, one process at a time on the local Runtime API
//! and DynamoDB Local, 2,000 direct-path events each (100 groups: 100 new, then repeats, on a
//! fresh table), five rounds with the order of the two alternating. CPU per event is the
//! process's user + system time from `/proc` (every thread) from its first poll to its last
//! answer, divided by the events; the figure checked is the median over the rounds of the ratio
//! of the two runs of one round (adjacent in time, so a machine that slows down between rounds
//! moves both). The cold-start part runs the metrics-off binaries alongside.

use std::path::Path;
use std::sync::Arc;

use integration_tests::stack;
use serde_json::json;
use time::OffsetDateTime;

use crate::ingest::{self, drive, start_fleet};
use crate::report::{percentile, Figures};

/// Events per process run: 2,000 (`BENCH_METRICS_EVENTS` overrides, for a quick try).
fn events() -> usize {
    std::env::var("BENCH_METRICS_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}
const ROUNDS: usize = 5;

pub fn run(out: &Path, logs: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("tokio: {e}"));
    let endpoint = stack::dynamodb_endpoint();
    let client = stack::dynamodb_client(endpoint);
    std::fs::create_dir_all(logs).unwrap_or_else(|e| panic!("{}: {e}", logs.display()));
    let templates = ingest::templates();
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
            let fleet = start_fleet(&name, 1, &env, logs);
            let base = OffsetDateTime::now_utc() - time::Duration::hours(1);
            let payloads: Vec<Arc<Vec<u8>>> = (0..events())
                .map(|i| {
                    let e = ingest::event(&templates, &name, i, ingest::group_of("uniform", i), base);
                    Arc::new(e.to_string().into_bytes())
                })
                .collect();
            let before = fleet.functions[0].cpu_seconds().unwrap_or_else(|| panic!("no /proc figures for {name}"));
            let run = drive(&fleet.api, &payloads, 1);
            let after = fleet.functions[0].cpu_seconds().unwrap_or_else(|| panic!("no /proc figures for {name}"));
            assert!(run.errors.is_empty(), "{name}: {:?} {:?}", run.errors, run.first_error);
            let log = fleet.functions[0].log.clone();
            for p in fleet.functions {
                p.stop();
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            lines[v] += text.lines().filter(|l| l.contains("\"_aws\"")).count();
            per_event_us[v].push((after - before) * 1e6 / events() as f64);
            eprintln!(
                "bench: metrics-cost: round {round}, METRICS={setting}: {:.1} µs CPU per event",
                per_event_us[v][round]
            );
            rt.block_on(stack::drop_table(&store));
        }
    }
    let [on, off] = [percentile(&per_event_us[0], 50.0), percentile(&per_event_us[1], 50.0)];
    let ratios: Vec<f64> = per_event_us[0].iter().zip(&per_event_us[1]).map(|(on, off)| on / off).collect();
    assert!(lines[0] >= ROUNDS * events() && lines[1] == 0, "EMF lines: on {}, off {}", lines[0], lines[1]);
    let mut f = Figures::default();
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
            "ratios": ratios,
            "emf_lines": {"on": lines[0], "off": lines[1]}}),
    );
    f.write("metrics-cost", "target/release/bench metrics-cost", out);
}
