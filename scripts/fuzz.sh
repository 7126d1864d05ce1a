#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer, nightly). See RELIABILITY.md "Fuzzing and contract tests".
#
#   scripts/fuzz.sh seed          regenerate the seed corpora fuzz/corpus/<target>/ from events/
#   scripts/fuzz.sh run [TARGET]  fuzz each target (or one) for FUZZ_SECONDS (default 60) each
#   scripts/fuzz.sh ci            the CI form: a fixed seed and number of executions per target
#                                 (ci_runs), from the committed seeds and crash inputs only, so
#                                 every machine does the same search from the same start (not
#                                 the same inputs: hash seeds vary per process and steer
#                                 libFuzzer's coverage); FUZZ_SECONDS (default 300) caps each
#                                 target's time (a safety stop: a slow machine still completes
#                                 the fixed run; 46-121 s each on the 2-core AMD EPYC of
#                                 BENCHMARKS.md's Results)
# Both write fuzz/work/<target>.log and fuzz/work/stats.tsv (seconds: the time each took).
#
# Seeds in fuzz/corpus/ are committed and only read; libFuzzer writes what it finds to the
# working corpus fuzz/work/<target>/ (ignored; `ci` uses a fresh fuzz/work/ci/<target>/). A crash leaves its input in
# fuzz/artifacts/<target>/ and fails the run; replay it on stable with
# `cargo test -p integration-tests --test fuzz_regressions` after copying it to
# fuzz/regressions/<target>/. Figures go to fuzz/work/stats.tsv.
#
# With CARGO_LOCK set, every cargo command runs under `flock "$CARGO_LOCK"` (shared machines).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGETS=(event_parse ingest_payload query_params cursor_decode)
CARGO_FUZZ_VERSION=0.13.2

cargo_() {
  if [ -n "${CARGO_LOCK:-}" ]; then flock "$CARGO_LOCK" cargo "$@"; else cargo "$@"; fi
}

seed() {
  python3 - "$ROOT" <<'PY'
import base64, hashlib, json, os, pathlib, shutil, sys, urllib.parse

root = pathlib.Path(sys.argv[1])
corpus = root / "fuzz" / "corpus"
samples = sorted((root / "events").glob("ingest-*.json"))
envelopes = [(p.stem, json.loads(p.read_text())) for p in samples]

def out(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())

for target in ["event_parse", "ingest_payload", "query_params", "cursor_decode"]:
    shutil.rmtree(corpus / target, ignore_errors=True)

# event_parse: every sample as it is, and variants that reach the bounds and optional fields.
D = "sha256:" + "0123456789abcdef" * 4
base = envelopes[0][1]
def variant(**detail):
    e = json.loads(json.dumps(base))
    for k, v in detail.items():
        if v is None:
            e["detail"].pop(k, None)
        else:
            e["detail"][k] = v
    return e
variants = {
    "long-message": variant(error={"message": "é" * 2100 + " (status=401)"}),
    "coded-unknown-message": variant(error={"message": "weird 42 at 10.0.0.1:443 id 5f0c2f4e-8e0b-4c4e-9a57-0c6f2b3d1e7a", "code": "NOT_A_CODE"}),
    "code-only": variant(error={"message": " ", "code": "TIMEOUT"}),
    "digest-deployment-offset": variant(image={"name": "Quay.IO:443/org/app:v1@" + D, "digest": D},
                                        deployment={"name": "web", "namespace": "shop"},
                                        occurredAt="2026-11-24T08:30:00.250+01:00"),
    # Timestamps at the edges of what is stored (year 0000, the last day a 365-day expiry fits).
    "time-year-0000": dict(variant(occurredAt="0000-01-01T00:00:00Z"), time="0000-01-01T00:00:00Z"),
    "time-year-9998": dict(variant(occurredAt="9998-12-31T23:59:59.999Z"), time="9998-12-31T23:59:59Z"),
    "message-with-secrets": variant(error={"message": "pull https://ci:hunter2@registry.example.com/v2/: "
                                               "Authorization: Bearer abc.def password=hunter2"}),
    "bare-name": variant(image={"name": "nginx"}, cluster="c" * 300,
                         initiator={"id": "arn:aws:iam::123456789012:user/alice", "userAgent": "u" * 600}),
}
for name, e in envelopes:
    out("event_parse", name + ".json", json.dumps(e, ensure_ascii=False))
for name, e in variants.items():
    out("event_parse", "variant-" + name + ".json", json.dumps(e, ensure_ascii=False))
# The Amazon ECR and Inspector samples, which their own parsers read.
for p in sorted((root / "events").glob("aws-*.json")):
    out("event_parse", p.name, p.read_text())

# ingest_payload: bare envelopes and SQS batches whose bodies are envelopes.
for name, e in envelopes[:3]:
    out("ingest_payload", name + ".json", json.dumps(e, ensure_ascii=False))
records = [{"messageId": f"m-{i}", "receiptHandle": "rh", "body": json.dumps(e),
            "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}
           for i, (_, e) in enumerate(envelopes)]
out("ingest_payload", "sqs-batch-all-samples.json", json.dumps({"Records": records}))
out("ingest_payload", "sqs-batch-one-bad-body.json",
    json.dumps({"Records": [records[0], dict(records[1], body="{not json")]}))

# query_params: the API fixtures' query strings, and every parameter with a valid value.
for p in sorted((root / "events" / "api").glob("*.json")):
    ev = json.loads(p.read_text())
    q = ev.get("rawQueryString")
    if q is None:
        multi = ev.get("multiValueQueryStringParameters") or {}
        q = urllib.parse.urlencode([(k, v) for k, vs in multi.items() for v in vs])
    out("query_params", p.stem + ".txt", q)
valid = {
    "filter.from": "2026-11-24T00:00:00Z", "filter.until": "2026-11-25T23:59:59.5+01:00",
    "filter.domain": "Image Scanning", "filter.resourceType": "Image",
    "filter.type": "ADMINISTRATION_EVENT_TYPE_LOG_MESSAGE", "filter.level": "ADMINISTRATION_EVENT_LEVEL_ERROR",
    "filter.resourceName": "nginx:1.25", "filter.resourceId": D, "filter.repository": "quay.io/acme/web",
    "filter.reason": "REGISTRY_UNAUTHORIZED", "filter.operation": "image scan", "filter.origin": "roxctl",
    "filter.cluster": "prod-eu-1", "filter.account": "123456789012", "filter.search": "Deadline EXCEEDED",
    "pagination.limit": "50", "pagination.cursor": "abc", "pagination.offset": "10",
    "pagination.sortOption.field": "lastOccurredAt", "pagination.sortOption.reversed": "true",
}
out("query_params", "every-parameter.txt", urllib.parse.urlencode(list(valid.items())))
out("query_params", "time-window-edges.txt",
    "filter.from=0000-01-01T00:00:00Z&filter.until=9998-12-31T23:59:59.999%2B00:00")
out("query_params", "time-window-within-a-millisecond.txt",
    "filter.from=2026-11-25T10:00:00.0005Z&filter.until=2026-11-25T10:00:00.0007Z")
out("query_params", "every-filter.txt",
    urllib.parse.urlencode([(k, v) for k, v in valid.items() if k.startswith("filter.")]))

# cursor_decode: "<cursor>\0<query hash>", a cursor as the API issues it (see shared/http/src/cursor.rs).
def cursor(key, q):
    payload = json.dumps({"v": 1, "k": key, "q": q}, separators=(",", ":")).encode()
    digest = hashlib.sha256(b"scan-failures/cursor/v1\0" + payload).digest()[:16]
    return base64.urlsafe_b64encode(payload + digest).decode().rstrip("=")
q = base64.urlsafe_b64encode(hashlib.sha256(b"Filters { from: None }|false").digest()[:12]).decode()
out("cursor_decode", "issued.txt", cursor("2026-11-25T10:00:00.000Z#9ee70a69-22e4-50e6-8a2b-11a12cebc343", q) + "\0" + q)
out("cursor_decode", "issued-other-query.txt", cursor("2026-11-25T10:00:00.000Z#x", "other") + "\0" + q)
out("cursor_decode", "not-base64.txt", "not base64!\0q")
for t in sorted(os.listdir(corpus)):
    print(f"fuzz: seeded fuzz/corpus/{t}: {len(os.listdir(corpus / t))} files")
PY
}

require_tools() {
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is missing; install it with: rustup toolchain install nightly --profile minimal && bash scripts/tools.sh" >&2
    exit 1
  fi
  if [ ! -x "$ROOT/.tools/cargo/bin/cargo-fuzz" ]; then
    echo "fuzz: cargo-fuzz is missing; install it with: cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION --root .tools/cargo --locked (or bash scripts/tools.sh)" >&2
    exit 1
  fi
  export PATH="$ROOT/.tools/cargo/bin:$PATH"
}

dict() {
  case $1 in
    event_parse | ingest_payload) echo "$ROOT/fuzz/dict/event.dict" ;;
    query_params) echo "$ROOT/fuzz/dict/query.dict" ;;
    *) echo "$ROOT/fuzz/dict/cursor.dict" ;;
  esac
}

max_len() {
  case $1 in
    event_parse | ingest_payload) echo 16384 ;;
    query_params) echo 4096 ;;
    *) echo 2048 ;;
  esac
}

# Executions per target in `ci` (20-30 s each on the Xeon of BENCHMARKS.md's first runs, 46-121 s
# on the 2-core AMD EPYC of its Results): a fixed
# count, not a time, so that a faster or slower machine searches as far. Before, CI (from
# the seeds only, at its own speed) found a crash that the developer's runs (from a working
# corpus of thousands, at theirs) had not.
ci_runs() {
  case $1 in
    event_parse) echo 2000000 ;;
    ingest_payload) echo 1000000 ;;
    query_params) echo 1500000 ;;
    *) echo 2000000 ;;
  esac
}

# run SECONDS WORK SEED_FLAG FIXED_RUNS TARGET...: each target for at most SECONDS, its working
# corpus in WORK/<target>; with FIXED_RUNS=yes, ci_runs executions each, and stopping at the
# time cap first is a failure (the run would not be the fixed one).
run() {
  local seconds=$1 work=$2 seed_flag=$3 fixed=$4; shift 4
  local targets=("$@")
  require_tools
  # Rust code: no sanitizer needed for memory safety; debug assertions catch overflow.
  local flags=(--sanitizer none --debug-assertions)
  # cargo fuzz has no --locked: a fuzz/Cargo.lock that no longer matches its manifests fails
  # here, rather than being resolved afresh (to the newest crates of the day) on a fresh clone.
  if ! cargo_ +nightly metadata --locked --format-version 1 --manifest-path "$ROOT/fuzz/Cargo.toml" >/dev/null; then
    echo "fuzz: cargo cannot use fuzz/Cargo.lock as it is (above: a lock that no longer matches its manifests, or the registry out of reach); for the first, let cargo change only what is needed with: cargo +nightly metadata --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null, and commit fuzz/Cargo.lock" >&2
    exit 1
  fi
  echo "fuzz: building ${#targets[@]} target(s) with nightly (fuzz/target)"
  local build_log="$ROOT/fuzz/work.build.log"
  if ! cargo_ +nightly fuzz build "${flags[@]}" >"$build_log" 2>&1; then
    # The whole log, then what decides (a truncated CI log keeps its end): every rustc or
    # linker error with its notes, and the free disk and memory.
    cat "$build_log"
    echo "fuzz: the nightly build failed; its errors:" >&2
    grep -E -A 12 '^error' "$build_log" | grep -v -E '^\s*(= note: "cc"|"-)' | head -n 60 >&2 || true
    df -h "$ROOT" >&2 || true
    free -m >&2 || true
    rm -f "$build_log"
    exit 1
  fi
  rm -f "$build_log"
  mkdir -p "$ROOT/fuzz/work" "$work"
  local stats="$ROOT/fuzz/work/stats.tsv" failed=0 capped=0
  printf 'target\tseconds\texecutions\tcrashes\tcorpus\n' >"$stats"
  for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "$ROOT/fuzz/artifacts/$t" "$ROOT/fuzz/regressions/$t"
    local log="$ROOT/fuzz/work/$t.log" before rc=0 runs_flag="" started
    [ "$fixed" = yes ] && runs_flag="-runs=$(ci_runs "$t")"
    before=$(find "$ROOT/fuzz/artifacts/$t" -type f | wc -l)
    echo "fuzz: $t for ${seconds}s${runs_flag:+ at most, $runs_flag}"
    started=$(date +%s)
    cargo_ +nightly fuzz run "${flags[@]}" "$t" "$work/$t" "$ROOT/fuzz/corpus/$t" "$ROOT/fuzz/regressions/$t" -- \
      -max_total_time="$seconds" -max_len="$(max_len "$t")" -dict="$(dict "$t")" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 $seed_flag $runs_flag >"$log" 2>&1 || rc=$?
    local execs crashes corpus took
    took=$(($(date +%s) - started))
    # No final stats (cargo-fuzz failed, a flag refused, a SIGKILL) is a failure reported below.
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -n 1 || true)
    crashes=$(($(find "$ROOT/fuzz/artifacts/$t" -type f | wc -l) - before))
    corpus=$(find "$work/$t" -type f | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$took" "${execs:-0}" "$crashes" "$corpus" >>"$stats"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
      failed=1
      echo "fuzz: $t FAILED (exit $rc, $crashes new input(s) in fuzz/artifacts/$t/):"
      grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -n 20 || true
      echo "fuzz: full log in fuzz/work/$t.log"
    elif [ "$fixed" = yes ] && [ "${execs:-0}" -lt "$(ci_runs "$t")" ]; then
      capped=1
      echo "fuzz: $t stopped at its ${seconds}s cap after ${execs:-0} of $(ci_runs "$t") executions, 0 crashes: not the fixed run (raise FUZZ_SECONDS); log in fuzz/work/$t.log"
    else
      echo "fuzz: $t ok: ${execs:-0} executions, 0 crashes, working corpus $corpus inputs"
    fi
  done
  column -t "$stats" 2>/dev/null || cat "$stats"
  if [ "$failed" -ne 0 ]; then
    echo "fuzz: 1 or more targets crashed; add each input to fuzz/regressions/<target>/ and a test to tests/tests/fuzz_regressions.rs" >&2
    exit 1
  fi
  if [ "$capped" -ne 0 ]; then
    echo "fuzz: 1 or more targets stopped at the time cap before their fixed executions (FUZZ_SECONDS=$seconds)" >&2
    exit 1
  fi
}

mode=${1:-run}
case $mode in
  seed) seed ;;
  run)
    if [ -n "${2:-}" ]; then set -- "$2"; else set -- "${TARGETS[@]}"; fi
    run "${FUZZ_SECONDS:-60}" "$ROOT/fuzz/work" "${FUZZ_SEED:+-seed=$FUZZ_SEED}" no "$@"
    ;;
  ci)
    rm -rf "$ROOT/fuzz/work/ci"
    run "${FUZZ_SECONDS:-300}" "$ROOT/fuzz/work/ci" "-seed=${FUZZ_SEED:-1}" yes "${TARGETS[@]}"
    ;;
  *)
    echo "usage: scripts/fuzz.sh seed | run [TARGET] | ci" >&2
    exit 2
    ;;
esac
