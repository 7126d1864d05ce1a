//! The fuzz targets' code on stable: every seed in `fuzz/corpus/<target>/` and every crash input
//! kept in `fuzz/regressions/<target>/` goes through the same functions the libFuzzer targets
//! call (`fuzz/src/checks.rs`, included here), so `cargo test` covers the corpus and each crash
//! the fuzzers found stays fixed. The named tests below are the crashes, one each, with their
//! input spelled out. See RELIABILITY.md, "Fuzzing and contract tests".

#[path = "../../fuzz/src/checks.rs"]
#[allow(dead_code)]
mod checks;

use std::path::PathBuf;

use checks::Outcome;

const TARGETS: [&str; 4] = ["event_parse", "ingest_payload", "query_params", "cursor_decode"];

fn fuzz_dir() -> PathBuf {
    integration_tests::repo_root().join("fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the folder does not exist.
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned(), data)
        })
        .collect();
    files.sort();
    files
}

/// Runs one input through its target's checks, naming the file if it panics.
fn replay(target: &str, name: &str, data: &[u8]) -> Vec<Outcome> {
    let run = || match target {
        "event_parse" => vec![checks::event_parse(data)],
        "ingest_payload" => checks::ingest_payload(data),
        "query_params" => {
            let (list, _) = checks::query_params(data);
            vec![if list { Outcome::Success } else { Outcome::Rejected }]
        }
        "cursor_decode" => {
            checks::cursor_decode(data);
            vec![]
        }
        other => panic!("unknown fuzz target {other}"),
    };
    std::panic::catch_unwind(run).unwrap_or_else(|_| panic!("fuzz/{target}/{name} fails its target's checks"))
}

#[test]
fn every_seed_of_every_fuzz_target_passes_its_checks() {
    let mut total = 0;
    for target in TARGETS {
        let seeds = inputs("corpus", target);
        assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/{target}: run scripts/fuzz.sh seed");
        for (name, data) in &seeds {
            replay(target, name, data);
        }
        total += seeds.len();
    }
    println!("replayed {total} seeds");
}

#[test]
fn the_seeds_reach_every_outcome_the_targets_distinguish() {
    let outcomes: Vec<Outcome> =
        inputs("corpus", "event_parse").iter().flat_map(|(n, d)| replay("event_parse", n, d)).collect();
    assert!(outcomes.contains(&Outcome::Failure) && outcomes.contains(&Outcome::Success), "{outcomes:?}");
    let batch = inputs("corpus", "ingest_payload");
    let (_, all) = batch.iter().find(|(n, _)| n == "sqs-batch-all-samples.json").expect("the SQS batch seed");
    let per_record = checks::ingest_payload(all);
    assert_eq!(per_record.len(), integration_tests::samples("ingest-").len());
    assert_eq!(per_record.iter().filter(|o| **o == Outcome::Failure).count(), per_record.len() - 1);
    let (_, bad) = batch.iter().find(|(n, _)| n == "sqs-batch-one-bad-body.json").expect("the bad-body seed");
    assert_eq!(checks::ingest_payload(bad), [Outcome::Failure, Outcome::NotJson]);
    let queries = inputs("corpus", "query_params");
    let (_, every) = queries.iter().find(|(n, _)| n == "every-parameter.txt").expect("the every-parameter seed");
    assert_eq!(checks::query_params(every), (true, false), "every parameter: the list accepts, count refuses");
}

#[test]
fn every_crash_input_kept_from_fuzzing_passes_its_checks() {
    let mut total = 0;
    for target in TARGETS {
        for (name, data) in inputs("regressions", target) {
            replay(target, &name, &data);
            total += 1;
        }
    }
    println!("replayed {total} crash inputs");
}
