#!/usr/bin/env bash
# Proves `make local` on this machine: it must reach `ready:` with the samples stored (put on
# the local bus, through the template's rules and the buffer queue), and stop everything it
# started when told to.
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export DYNAMODB_PORT=$(free_port) LAMBDA_PORT=$(free_port) MOTO_PORT=$(free_port) STREAMS_PROXY_PORT=$(free_port)
log=$(mktemp)
# Its own logs and stream checkpoint, never those of a `make local` running beside it.
export LOCAL_STATE=$(mktemp -d)
# make local's builds, done before its clock starts (then no-ops in it): on a loaded 2-core
# machine they can take minutes of the 600 s below, which are for the stack.
bash scripts/local.sh build
setsid bash scripts/local.sh >"$log" 2>&1 &
pid=$!
# Stopped however this script ends (Ctrl-C, a CI step's timeout): local.sh runs in a session of
# its own, which a signal to this script's process group does not reach.
# On a failure, the end of every service's log first (the reason `local.sh` could not say:
# DynamoDB Local's, moto's, a function's), since they go with LOCAL_STATE.
trap 'rc=$?; kill -TERM -- "-$pid" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    for f in "$LOCAL_STATE"/*.log; do [ -f "$f" ] && { echo "--- local-smoke: the end of $(basename "$f")"; tail -n 40 "$f"; }; done
  fi
  rm -rf "$log" "$LOCAL_STATE"' EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 600); do
  grep -q '^ready:' "$log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
if ! grep -q '^ready:' "$log"; then
  echo "local-smoke: make local did not reach ready:"; cat "$log"; kill -TERM -- "-$pid" 2>/dev/null || true; exit 1
fi
kill -TERM "$pid"
for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
cat "$log"
if kill -0 "$pid" 2>/dev/null; then echo "local-smoke: make local did not stop within 30 s of SIGTERM"; exit 1; fi
grep -q 'GET .*/v1/count/administration/events -> {"count":13}' "$log" || { echo "local-smoke: the API did not count 13 groups"; exit 1; }
groups=$(grep -cE '^[0-9a-f]{8}-[0-9a-f]{4}-' "$log" || true)
[ "$groups" -eq 13 ] || { echo "local-smoke: expected 13 stored groups, saw $groups"; exit 1; }
grep -q '^local: bus scan-failures, rules EcrScanRule on default, ForwardedEcrScanRule on scan-failures, ForwardedInspectorCoverageRule on scan-failures, InspectorCoverageRule on default, ScanFailedRule on scan-failures' "$log" ||
  { echo "local-smoke: the bus and the template's rules were not created"; exit 1; }
grep -q '^ready: for scanfail: export SCANFAIL_ENDPOINT=' "$log" || { echo "local-smoke: no scanfail variables on the ready line"; exit 1; }
# 13 groups created, the ECR/Inspector statuses that are not failures ignored, 1 success
# acknowledged, nothing rejected; the api answered three requests: wait-rollups' count and
# detailed summary (equal at once: the rollups are new, so both read the groups), then the
# printed count.
grep -qE '^local: metrics: [0-9]+ EMF documents in [^ ]*/ingest.log: Occurrences 13, NewGroups 13, Duplicates 0, Rejected 0, IgnoredSuccess 1, IgnoredExpired 0, IgnoredNotAFailure [0-9]+, StoreErrors 0' "$log" ||
  { echo "local-smoke: the ingest function's metrics do not say 13 new groups"; exit 1; }
grep -qE '^local: metrics: 3 EMF documents in [^ ]*/api.log: Requests 3, Latency [0-9.]+, InternalErrors 0' "$log" ||
  { echo "local-smoke: the api function's metrics do not say 3 requests"; exit 1; }
# The maintenance function ran once through the runtime: its re-stamp, and a redrive of the
# rollup failure queue (on moto, through the stream proxy) that found it empty.
grep -qE '^local: maintenance run -> \{"status":"[a-z]+".*"redrive":\{"messages":0,"batchesApplied":0,' "$log" ||
  { echo "local-smoke: the maintenance run did not redrive the (empty) rollup failure queue"; exit 1; }
# Every process it started carries SCANFAIL_LOCAL_RUN=<its pid> (the pollers, the function
# binaries and the schedule's loop listen on no port): none may be left once a process on its
# way out has had 5 s. A machine whose /proc does not show environments cannot tell.
grep -qz '^PATH=' /proc/self/environ 2>/dev/null || { echo "local-smoke: /proc/<pid>/environ is not readable here: cannot check for processes left"; exit 1; }
leftovers() {
  local environ p
  for environ in /proc/[0-9]*/environ; do
    if grep -qzx "SCANFAIL_LOCAL_RUN=$pid" "$environ" 2>/dev/null; then
      p=${environ#/proc/}; p=${p%/environ}
      echo "$p $( (tr '\0\n' '  ' <"/proc/$p/cmdline") 2>/dev/null | cut -c1-120 || true)"
    fi
  done
}
for _ in $(seq 1 10); do
  left=$(leftovers)
  [ -z "$left" ] && break
  sleep 0.5
done
if [ -n "$left" ]; then
  echo "local-smoke: make local left $(printf '%s\n' "$left" | wc -l) process(es) running after it stopped:"
  printf '  %s\n' "$left"
  # Not left behind by this check either.
  printf '%s\n' "$left" | while read -r p _; do
    if [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -gt 1 ]; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  exit 1
fi
for port in "$DYNAMODB_PORT" "$LAMBDA_PORT" "$MOTO_PORT" "$STREAMS_PROXY_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "local-smoke: port $port still open after stop"; exit 1; fi
done
echo "local-smoke: 1 passed, 0 failed"
