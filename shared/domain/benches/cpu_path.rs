//! The ingest CPU path of one event, per event shape: the payload bytes as the Lambda runtime
//! hands them over, parsed to JSON, validated, normalized and classified (`event::parse`), and
//! fingerprinted into its group id. No I/O. `make bench` runs it pinned to one core.
//!
//! Each shape is measured over all of its sample files (one iteration = every sample once), so
//! the figure is an average over the shape's real variety. `json_only` is the yardstick: only
//! `serde_json::from_slice` of the native samples; the ratio of a shape to it is the
//! hardware-independent figure `make bench-check` gates.
//!
//! After criterion's own output, the estimates are written as JSON for
//! `scripts/bench-check.py` (`BENCH_OUT`, default `target/bench/cpu-path.json`).

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput};
use scan_failures_domain::event::{self, Parsed};
use uuid::Uuid;

/// The event shapes measured: a name and the `detail-type` of its samples in `events/` (every
/// `events/*.json` is sorted by its `detail-type`). Adding a shape is one line here; a shape
/// without failure samples yet is skipped.
const SHAPES: &[(&str, &str)] =
    &[("native", "Image Scan Failed"), ("ecr", "ECR Image Scan"), ("inspector", "Inspector2 Coverage")];

/// The CPU path for one event; `None` when the event is not a failure (nothing to group).
fn process(bytes: &[u8]) -> Option<Uuid> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    match event::parse(value).ok()? {
        Parsed::Failure(o) => Some(o.group_id()),
        _ => None,
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The samples of a shape that take the whole path (failures; successes and ignored statuses
/// stop early), sorted by file name.
fn samples(detail_type: &str) -> Vec<Vec<u8>> {
    let dir = repo_root().join("events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| {
            serde_json::from_slice::<serde_json::Value>(b)
                .is_ok_and(|v| v.get("detail-type").and_then(|d| d.as_str()) == Some(detail_type))
        })
        .filter(|b| process(b).is_some())
        .collect()
}

fn bench(c: &mut Criterion) -> Vec<(String, usize)> {
    let mut measured = Vec::new();
    let mut group = c.benchmark_group("cpu_path");
    let all: Vec<(&str, Vec<Vec<u8>>)> = SHAPES
        .iter()
        .map(|(name, detail_type)| (*name, samples(detail_type)))
        .inspect(|(name, events)| {
            assert!(!events.is_empty(), "cpu_path: no failure samples of shape {name} in events/ (add one)");
        })
        .collect();
    assert!(!all.is_empty(), "no failure samples in events/");
    for (name, events) in &all {
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                for e in events {
                    black_box(process(black_box(e)));
                }
            })
        });
        measured.push(((*name).to_owned(), events.len()));
    }
    // The floor: JSON parsing alone, over the first shape's samples.
    if let Some((_, events)) = all.first() {
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function("json_only", |b| {
            b.iter(|| {
                for e in events {
                    black_box(serde_json::from_slice::<serde_json::Value>(black_box(e)).ok());
                }
            })
        });
        measured.push(("json_only".to_owned(), events.len()));
    }
    group.finish();
    measured
}

/// Criterion's median estimate of one iteration, in ns.
fn median_ns(home: &Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(home.join("cpu_path").join(id).join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let measured = bench(&mut c);
    c.final_summary();

    let home =
        std::env::var_os("CRITERION_HOME").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/criterion"));
    let per_event = |id: &str, n: usize| median_ns(&home, id).map(|ns| ns / n as f64);
    let floor = measured.iter().find(|(id, _)| id == "json_only").and_then(|(id, n)| per_event(id, *n));
    let mut figures = serde_json::Map::new();
    for (id, n) in &measured {
        let Some(ns) = per_event(id, *n) else { continue };
        figures.insert(
            format!("cpu.{id}.ns_per_event"),
            serde_json::json!({"value": ns, "unit": "ns/event", "label": format!("CPU path {id}: ns per event (median, one core)")}),
        );
        figures.insert(
            format!("cpu.{id}.events_per_s"),
            serde_json::json!({"value": (1e9 / ns).round(), "unit": "events/s", "label": format!("CPU path {id}: events per second on one core")}),
        );
        if let (Some(floor), true) = (floor, id != "json_only") {
            figures.insert(
                format!("cpu.{id}.vs_json_only"),
                serde_json::json!({"value": ns / floor, "unit": "ratio", "label": format!("CPU path {id}: ns per event / serde_json::from_slice of the native samples, same run")}),
            );
        }
    }
    let samples: serde_json::Map<String, serde_json::Value> =
        measured.iter().map(|(id, n)| (id.clone(), serde_json::json!(n))).collect();
    let doc = serde_json::json!({
        "part": "cpu-path",
        "command": "cargo bench -p scan-failures-domain --bench cpu_path (pinned with taskset to one core)",
        "figures": figures,
        "details": {"cpu_path_samples_per_iteration": samples},
    });
    let out = std::env::var_os("BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/bench/cpu-path.json"));
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n") {
        Ok(()) => eprintln!("bench: cpu-path: wrote {}", out.display()),
        Err(e) => {
            // A bench that measured and could not say so fails: `make bench` would keep the
            // figures of the last run as if they were this one's.
            eprintln!("bench: cpu-path: could not write {}: {e}", out.display());
            std::process::exit(1);
        }
    }
}
