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

/// Every crash input kept is replayed: each folder of `fuzz/regressions` is a target's, and the
/// inputs replayed are all the files there (an empty or unread folder fails, rather than pass on
/// nothing).
#[test]
fn every_crash_input_kept_from_fuzzing_passes_its_checks() {
    let mut total = 0;
    for target in TARGETS {
        for (name, data) in inputs("regressions", target) {
            replay(target, &name, &data);
            total += 1;
        }
    }
    let folders: Vec<String> = std::fs::read_dir(fuzz_dir().join("regressions"))
        .unwrap_or_else(|e| panic!("fuzz/regressions: {e}"))
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    let kept: usize = folders.iter().map(|f| inputs("regressions", f).len()).sum();
    assert!(folders.iter().all(|f| TARGETS.contains(&f.as_str())), "a folder of no target: {folders:?}");
    assert!(total > 0 && total == kept, "replayed {total} of the {kept} crash inputs kept");
    println!("replayed {total} crash inputs");
}

// ---------------------------------------------------------------------------------------------
// The crashes, one test each. Each fails on the code the fuzzers found it in, and passes once
// the fix is in (RELIABILITY.md lists them with their fixes).

/// An envelope like the samples with `time` (and so `occurredAt`) and the image name replaced.
fn sample_with(time: &str, image: &str) -> serde_json::Value {
    let (_, mut e) = integration_tests::samples("ingest-05").remove(0);
    e["time"] = time.into();
    e["detail"]["image"]["name"] = image.into();
    if let Some(d) = e["detail"].as_object_mut() {
        d.remove("occurredAt");
    }
    e
}

/// Found by `event_parse`, `ingest_payload` and `query_params` in their first seconds, and by
/// the normalization property. A first component with an upper-case letter counted as a
/// registry host, then was lower-cased: `quserAg/acme/web:1.5` was stored as
/// `quserag/acme/web:1.5`, which is Docker Hub's `docker.io/quserag/acme/web:1.5` when parsed
/// again. So the name the API shows did not find its own group through `filter.resourceName`.
#[test]
fn fuzz_crash_1_a_normalized_image_name_parses_back_to_itself() {
    let mut parsed = Vec::new();
    for name in [
        "quserAg/acme/web:1.5",
        "quaccounUnke/web:1.5",
        "UUUUUUUUUUUUUU/web.26",
        "Foo/bar",
        "A/a",
        "Quay.IO/acme/web:1.5",
    ] {
        if let Ok(r) = scan_failures_domain::image::ImageRef::parse(name) {
            checks::image(&r);
            parsed.push(r.normalized());
        }
        checks::envelope(sample_with("2026-11-25T10:00:00Z", name));
        checks::query_params(format!("filter.resourceName={name}&filter.repository={name}").as_bytes());
    }
    // The fuzzers' names are refused now (an upper-case letter outside a registry host is no
    // reference); the round trip is checked on the one that parses, not passed over.
    assert_eq!(parsed, ["quay.io/acme/web:1.5"]);
}

/// Found by `event_parse` (its time invariant) on the code of 2026-11-25 12:40. An accepted
/// event whose time is in year 9999 at a negative offset is past 9999-12-31 in UTC: formatting
/// it as a stored key (`time_fmt::format`, called by the store for every occurrence) panicked
/// with "local datetime out of valid range", aborting the ingest process (release builds abort
/// on panic; one such event in an SQS batch failed the whole batch). At year 9999 in UTC the
/// expiry (`occurredAt` + retention) overflowed the same way, and an event from year 0000 at a
/// positive offset was stored as `-0001-12-31T23:00:00.000Z`, neither RFC 3339 nor fixed-width.
/// Fixed since on the ingest path by `Occurrence::admit` (a time ahead of the clock is clamped
/// to it, one older than the retention is not stored), which the checks apply as ingest does.
#[test]
fn fuzz_crash_2_an_event_time_the_store_cannot_represent_never_reaches_it() {
    let mut outcomes = Vec::new();
    for time in ["9999-12-31T23:59:59-01:00", "9999-12-31T00:00:00Z", "0000-01-01T00:00:00+01:00"] {
        let mut e = sample_with("2026-11-25T10:00:00Z", "nginx");
        e["detail"]["occurredAt"] = time.into();
        outcomes.push((time, checks::envelope(sample_with(time, "nginx")), checks::envelope(e)));
    }
    // Out of range in UTC: refused by the parser; in range: accepted, its time clamped on admission.
    use Outcome::{Failure, Rejected};
    assert_eq!(
        outcomes,
        [
            ("9999-12-31T23:59:59-01:00", Rejected, Rejected),
            ("9999-12-31T00:00:00Z", Failure, Failure),
            ("0000-01-01T00:00:00+01:00", Rejected, Rejected)
        ]
    );
}

/// Found by `query_params`. `filter.from` or `filter.until` in year 9999 at a negative offset
/// panicked in `params` (converting it to UTC), so the API answered 5xx to
/// `GET /v1/administration/events?filter.from=9999-12-31T23:59:59-01:00` (the book's API page: "no input
/// produces" a 500); year 0000 at a positive offset became the key `-0001-…`.
#[test]
fn fuzz_crash_3_a_time_filter_out_of_range_is_a_400_not_a_panic() {
    for (q, name, given) in [
        ("filter.from=9999-12-31T23:59:59-01:00", "filter.from", "9999-12-31T23:59:59-01:00"),
        ("filter.until=9999-12-31T23:59:59-01:00", "filter.until", "9999-12-31T23:59:59-01:00"),
        ("filter.until=0000-01-01T00:00:00%2B01:00", "filter.until", "0000-01-01T00:00:00+01:00"),
    ] {
        assert_eq!(checks::query_params(q.as_bytes()), (false, false), "{q}: refused by the list and the count");
        let pairs = scan_failures_http::query_string::pairs(q).unwrap();
        let refused = scan_failures_http::params::parse_list(&pairs).err().map(|e| e.to_string());
        let expected = format!("{name}: must be an RFC 3339 timestamp such as 2026-11-25T10:00:00Z, got \"{given}\"");
        assert_eq!(refused, Some(expected), "{q}");
    }
}

/// Found by `query_params` once crash 1 was fixed. A reference within the 1 KiB bound can
/// normalize past it (`nginx` gains `docker.io/library/` and `:latest`): a 1,020-byte name was
/// stored as a 1,045-byte `resource.name` that `filter.resourceName` (at most 1,024 bytes, and
/// `ImageRef::parse` alike) refuses, so the API could not find the group by the name it shows.
#[test]
fn fuzz_crash_4_a_normalized_image_name_stays_within_the_reference_bound() {
    for n in [999, 1000, 1020, 1024] {
        let name = "a".repeat(n);
        if let Ok(r) = scan_failures_domain::image::ImageRef::parse(&name) {
            checks::image(&r);
        }
        checks::envelope(sample_with("2026-11-25T10:00:00Z", &name));
        checks::query_params(format!("filter.resourceName={name}").as_bytes());
    }
    // The published schema's bound on `detail.image.name` (999) always fits once normalized,
    // and the 1,020 it refuses the parser refuses too (scripts/check-schema.py checks the schema).
    assert_eq!(scan_failures_domain::image::ImageRef::parse(&"a".repeat(999)).map(|r| r.normalized().len()), Ok(1_024));
    assert!(scan_failures_domain::image::ImageRef::parse(&"a".repeat(1_020)).is_err());
}

/// Found by `event_parse` in the project's CI on 763ad6e (the check, not the parser, was wrong).
/// Since 5e3691a the parser stores a message with its secrets redacted, and the check still
/// expected the message as given: a message within its bound holding `password=…` failed
/// "changed though within its bound", and one past its bound whose redaction fits failed "cut
/// without the marker". The check now expects what `redact::secrets` gives, then the bound;
/// both inputs are kept in `fuzz/regressions/event_parse/`.
#[test]
fn fuzz_crash_5_a_message_is_checked_against_its_redacted_form() {
    let given = "failed to pull https://ci:hunter2@registry.example.com/v2/: password=hunter2";
    let mut e = sample_with("2026-11-25T10:00:00Z", "nginx");
    e["detail"]["error"]["message"] = given.into();
    let o = match scan_failures_domain::event::parse(e.clone()) {
        Ok(scan_failures_domain::event::Parsed::Failure(o)) => o,
        other => panic!("expected a failure, got {other:?}"),
    };
    assert_eq!(o.message, "failed to pull https://ci:***@registry.example.com/v2/: password=***");
    assert_eq!(checks::envelope(e.clone()), Outcome::Failure);
    e["detail"]["error"]["message"] = format!("password={}", "x".repeat(9000)).into();
    assert_eq!(checks::envelope(e), Outcome::Failure);
}

/// Found by a review of the checks against the code (2026-12-06), before a fuzzer reached
/// them: the checks were wrong twice, the code right. (1) Every Amazon ECR or Inspector failure
/// failed `envelope`, which compared its message with `detail.error.message`, a field of the
/// product's own contract that those events do not have; no seed was such an event, so the
/// fuzzers never parsed one (the samples are seeds now). (2) Below.
#[test]
fn review_finding_1_ecr_and_inspector_failures_pass_the_event_checks() {
    let outcomes: Vec<(String, Outcome)> =
        integration_tests::samples("aws-").into_iter().map(|(name, e)| (name, checks::envelope(e))).collect();
    let failures: Vec<&str> =
        outcomes.iter().filter(|(_, o)| *o == Outcome::Failure).map(|(n, _)| n.as_str()).collect();
    assert_eq!(failures, EXPECTED_AWS_FAILURES, "{outcomes:?}");
}

/// The samples of `events/` that are failures of Amazon ECR or Inspector.
const EXPECTED_AWS_FAILURES: [&str; 5] = [
    "aws-ecr-01-failed.json",
    "aws-ecr-02-unsupported-image.json",
    "aws-ecr-03-limit-exceeded.json",
    "aws-ecr-04-scan-eligibility-expired.json",
    "aws-inspector-01-access-denied.json",
];

/// (2) `filter.from` is moved to the next whole millisecond after it is checked against
/// `filter.until`, so two times within one millisecond (`…00.0005Z` to `…00.0007Z`) make a
/// window whose start is after its end; `query_params` asserted `from <= until`. The API answers
/// such a window as empty: the read refuses a key range whose bounds are crossed before asking
/// DynamoDB, which would answer `BETWEEN` with crossed bounds with a ValidationException (a 500).
#[tokio::test(flavor = "multi_thread")]
async fn review_finding_2_a_window_within_one_millisecond_is_empty_not_a_500() {
    let store = integration_tests::fresh_store().await;
    let now = time::OffsetDateTime::now_utc();
    let retention = scan_failures_domain::retention::RetentionDays::default();
    let base = (now - time::Duration::HOUR).replace_nanosecond(0).unwrap_or(now);
    let at = |micros: i64| {
        let t = base + time::Duration::microseconds(micros);
        t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|e| panic!("format {t}: {e}"))
    };
    let q = format!("filter.from={}&filter.until={}", at(500), at(700));
    assert!(q.ends_with(".0007Z"), "{q}");
    checks::query_params(q.as_bytes());
    let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let request = scan_failures_http::params::parse_list(&pairs).unwrap_or_else(|e| panic!("{q}: {e}"));
    assert!(request.filters.from > request.filters.until, "{:?}", request.filters);
    let page = store.reader().list(&request, now, retention).await.unwrap_or_else(|e| panic!("list {q}: {e:?}"));
    assert!(page.groups.is_empty() && page.next_cursor.is_none(), "{q}");
    let (count, _) =
        store.reader().count(&request.filters, now, retention).await.unwrap_or_else(|e| panic!("count {q}: {e:?}"));
    assert_eq!(count, 0, "{q}");
}

/// Found by a review of the same day. (3) Within the last millisecond of year 9999 there is no
/// next whole millisecond: `filter.from` stays as given, and `query_params` asserted it whole.
/// The API answers the window (its key is cut to the millisecond; no stored time is that late).
#[test]
fn review_finding_3_a_from_in_the_last_millisecond_of_9999_stays_as_given() {
    let q = "filter.from=9999-12-31T23:59:59.9995Z&filter.until=9999-12-31T23:59:59.9999Z";
    checks::query_params(q.as_bytes());
    let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let request = scan_failures_http::params::parse_list(&pairs).unwrap_or_else(|e| panic!("{q}: {e}"));
    assert_eq!(request.filters.from, Some(time::macros::datetime!(9999-12-31 23:59:59.9995 UTC)));
}

/// Found by `make schemathesis` (ST101, "Server error"): `GET /v1/administration/events?
/// filter.until=1012-09-11T07:37:50.66+10:54` answered 500. A `filter.until` before the
/// retention window (now − RETENTION_DAYS) makes the key condition `timeSk BETWEEN <now −
/// retention> AND <until>#~` with its lower bound above its upper, which DynamoDB refuses
/// (ValidationException: "The BETWEEN operator requires upper bound to be greater than or equal
/// to lower bound"). Such a window matches nothing: the answer is an empty page and a count of 0.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finding_1_a_time_window_before_the_retention_window_is_empty_not_a_500() {
    let store = integration_tests::fresh_store().await;
    let now = time::OffsetDateTime::now_utc();
    let retention = scan_failures_domain::retention::RetentionDays::default();
    for q in [
        "filter.until=1012-09-11T07:37:50.66%2B10:54",
        "filter.until=2000-01-01T00:00:00Z",
        "filter.until=2020-01-01T00:00:00Z&pagination.sortOption.reversed=true",
        "filter.from=2000-01-01T00:00:00Z&filter.until=2001-01-01T00:00:00Z&filter.reason=TIMEOUT",
    ] {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        let request = scan_failures_http::params::parse_list(&pairs).unwrap_or_else(|e| panic!("{q}: {e}"));
        let page = store.reader().list(&request, now, retention).await.unwrap_or_else(|e| panic!("list {q}: {e:?}"));
        assert!(page.groups.is_empty() && page.next_cursor.is_none(), "{q}");
        let (count, _) =
            store.reader().count(&request.filters, now, retention).await.unwrap_or_else(|e| panic!("count {q}: {e:?}"));
        assert_eq!(count, 0, "{q}");
    }
}
