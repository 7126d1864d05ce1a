#!/usr/bin/env bash
# `make profile`: where the function processes spend their CPU (BENCHMARKS.md, "Where the CPU of
# an event goes"). Builds ingest, api and the bench harness in the `profiling` profile (release
# with symbols and line tables, frame pointers on), runs one round of `bench process-cpu` with
# `perf record` attached to each process over the window its CPU figure covers, and writes the
# top frames by self CPU share and by inclusive share (call graph through frame pointers):
#   target/profile/<run>.self.txt, target/profile/<run>.children.txt
#
#   PROFILE_EVENTS=2000 bash scripts/profile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=target/profile
mkdir -p "$OUT"
command -v perf >/dev/null || { echo "profile: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
export AWS_EC2_METADATA_DISABLED=true
echo "profile: building ingest, api and bench (profile 'profiling', frame pointers)"
RUSTFLAGS="-C force-frame-pointers=yes" flock /tmp/cargo.lock cargo build -q --profile profiling -p ingest -p api -p bench

PY=python3
[ -x .tools/venv/bin/python ] && PY=.tools/venv/bin/python
# shellcheck source=scripts/dynamodb-local.sh
source scripts/dynamodb-local.sh
start_dynamodb_local "$OUT/dynamodb.log"

echo "profile: one round of bench process-cpu, each process under perf record"
rm -rf "$OUT/data" && mkdir -p "$OUT/data"
BENCH_BIN_DIR=target/profiling BENCH_CPU_ROUNDS=1 BENCH_CPU_EVENTS="${PROFILE_EVENTS:-2000}" BENCH_PERF_DIR="$ROOT/$OUT/data" \
  target/profiling/bench process-cpu --out "$OUT/process-cpu.json" --logs "$OUT/logs"
for data in "$OUT"/data/*.data; do
  name=$(basename "$data" .data)
  perf report -i "$data" --no-children --sort dso,symbol --percent-limit 0.5 --stdio 2>/dev/null |
    grep -v '^$' | head -n 70 >"$OUT/$name.self.txt" || true
  perf report -i "$data" --children --sort symbol --percent-limit 2 --stdio -g none 2>/dev/null |
    grep -v '^$' | head -n 90 >"$OUT/$name.children.txt" || true
  echo "profile: $OUT/$name.self.txt, $OUT/$name.children.txt"
done
