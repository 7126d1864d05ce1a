//! The harness of `make bench` (see BENCHMARKS.md and scripts/bench.sh). Each subcommand
//! measures one thing and writes its figures as JSON; `scripts/bench-check.py` merges them into
//! `bench/results.json`, renders the table in BENCHMARKS.md and checks `bench/budgets.toml`.
//!
//! ```text
//! bench ingest-cost  [--out FILE]
//! bench ingest-e2e   [--out FILE] [--logs DIR]
//! bench cold-start   [--out FILE] [--logs DIR] [--variant LABEL=BIN_DIR]
//! bench query        [--out FILE] [--logs DIR] [--sizes 1000,10000,100000]
//! bench rollups      [--out FILE] [--sizes 1000,10000,100000]
//! bench rollup-cost  [--out FILE]
//! bench rebuild      [--out FILE]
//! bench metrics-cost [--out FILE] [--logs DIR]
//! bench process-cpu  [--out FILE] [--logs DIR]
//! bench startup-probe            (one replay of the functions' start-up, for cold-start)
//! ```
//!
//! DynamoDB Local: the one at `DYNAMODB_ENDPOINT`, else one started for the subcommand.
//! Function binaries: `BENCH_BIN_DIR` (default `target/release`).

mod cold_start;
mod function;
mod http;
mod ingest;
mod metrics_cost;
mod process;
mod process_cpu;
mod proxy;
mod query;
mod rebuild;
mod report;
mod rollup_cost;
mod rollups;
mod runtime_api;

use std::path::PathBuf;

fn usage() -> ! {
    eprintln!(
        "usage: bench <ingest-cost|ingest-e2e|cold-start|query|rollups|rollup-cost|rebuild|metrics-cost|process-cpu|startup-probe> [--out FILE] [--logs DIR] \
         [--sizes N,N,..] [--variant LABEL=BIN_DIR]"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first().cloned() else { usage() };
    let mut out = None;
    let mut logs = integration_tests::repo_root().join("target/bench/logs");
    let mut sizes = query::DEFAULT_SIZES.to_vec();
    let mut variant = None;
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let Some(value) = rest.next() else { usage() };
        match flag.as_str() {
            "--out" => out = Some(PathBuf::from(value)),
            "--logs" => logs = PathBuf::from(value),
            "--sizes" => sizes = value.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
            "--variant" => {
                let Some((label, dir)) = value.split_once('=') else { usage() };
                variant = Some((label.to_owned(), PathBuf::from(dir)));
            }
            _ => usage(),
        }
    }
    let out = out.unwrap_or_else(|| integration_tests::repo_root().join(format!("target/bench/{command}.json")));
    match command.as_str() {
        "ingest-cost" => ingest::cost(&out),
        "ingest-e2e" => ingest::e2e(&out, &logs),
        "cold-start" => cold_start::run(&out, &logs, variant),
        "query" => query::run(&out, &logs, &sizes),
        "rollups" => rollups::run(&out, &sizes),
        "rollup-cost" => rollup_cost::run(&out),
        "rebuild" => rebuild::run(&out),
        "metrics-cost" => metrics_cost::run(&out, &logs),
        "process-cpu" => process_cpu::run(&out, &logs),
        "startup-probe" => cold_start::probe(),
        _ => usage(),
    }
}
