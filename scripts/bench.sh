#!/usr/bin/env bash
# `make bench`: every benchmark of BENCHMARKS.md, then bench/results.json and the results tables
# in BENCHMARKS.md (scripts/bench-check.py --collect). `make bench-check` checks the budgets.
#
#   BENCH_PARTS="cpu ingest-cost ingest-e2e cold-start metrics-cost process-cpu query rollups rollup-cost rebuild" bash scripts/bench.sh   (default: all)
#   BENCH_NO_BUILD=1   reuse target/release as it is
#
# Cargo runs under the machine's shared lock (flock /tmp/cargo.lock), the benchmarks outside it.
# What this starts (DynamoDB Local, the function processes the harness starts) is stopped by PID.
# About 10 minutes on the 2-core reference machine, 2-4 of them cargo (release build, criterion).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export AWS_EC2_METADATA_DISABLED=true
ALL_PARTS="cpu ingest-cost ingest-e2e cold-start metrics-cost process-cpu query rollups rollup-cost rebuild"
PARTS=${BENCH_PARTS:-$ALL_PARTS}
# A misspelt part would run nothing and keep its last figures as if measured now.
for part in $PARTS; do
  [[ " $ALL_PARTS " == *" $part "* ]] || { echo "bench: no part '$part' (the parts: $ALL_PARTS)" >&2; exit 2; }
done
RUN=target/bench/run
LOGS=target/bench/logs
PY=python3
[ -x .tools/venv/bin/python ] && PY=.tools/venv/bin/python
cargo_locked() { flock /tmp/cargo.lock cargo "$@"; }
has() { [[ " $PARTS " == *" $1 "* ]]; }
stamp() { echo "bench: $(date -u +%H:%M:%S) $*"; }

rm -rf "$RUN" && mkdir -p "$RUN" "$LOGS"
# The machine's load when the run starts (other builds share the cores), kept in the results.
export BENCH_LOADAVG_START
BENCH_LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  stamp "release build of ingest, api and the bench harness (shared lock)"
  # One cargo run: the harness uses only the functions' dependencies with the same features, so
  # the function binaries are exactly those of `cargo build --release -p ingest -p api`.
  cargo_locked build --release -p ingest -p api -p bench
fi

if has cpu; then
  stamp "CPU path: building the criterion bench (shared lock)"
  exe=$(cargo_locked bench -p scan-failures-domain --bench cpu_path --no-run --message-format=json 2>/dev/null |
    "$PY" -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "cpu_path" and m.get("executable"):
        print(m["executable"])')
  [ -x "$exe" ] || { echo "bench: the cpu_path bench did not build" >&2; exit 1; }
  stamp "CPU path: $exe, pinned to core 1"
  # CRITERION_HOME keeps criterion from calling `cargo metadata` outside the lock.
  CRITERION_HOME="$ROOT/target/criterion" BENCH_OUT="$ROOT/$RUN/cpu-path.json" \
    taskset -c 1 "$exe" --bench 2>&1 | grep -vE '^\s*$' | tail -n 30
fi

if has ingest-cost || has ingest-e2e || has cold-start || has metrics-cost || has process-cpu || has query || has rollups || has rollup-cost || has rebuild; then
  # shellcheck source=scripts/dynamodb-local.sh
  source scripts/dynamodb-local.sh
  start_dynamodb_local "$LOGS/dynamodb.log"
  stamp "DynamoDB Local on $DYNAMODB_ENDPOINT (pid $dynamodb_pid)"
fi

# ingest-cost first: it also warms DynamoDB Local's JVM up before the timed runs.
for part in ingest-cost ingest-e2e cold-start metrics-cost process-cpu query rollups rollup-cost rebuild; do
  has "$part" || continue
  stamp "$part"
  target/release/bench "$part" --out "$RUN/$part.json" --logs "$LOGS"
done

stamp "collecting into bench/results.json and BENCHMARKS.md"
"$PY" scripts/bench-check.py --collect "$RUN"
stamp "done; run 'make bench-check' to check the budgets"
