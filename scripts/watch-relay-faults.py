#!/usr/bin/env python3
"""Which failed function-URL requests were cargo-lambda watch's relay fault, and which the function's.

  python3 scripts/watch-relay-faults.py WATCH_LOG   one line per failed request, then a verdict
  python3 scripts/watch-relay-faults.py --self-test

cargo-lambda watch 1.9.2 answers a function's `POST /runtime/invocation/{id}/response` before it
reads the body and relays the unread body to the caller; a body larger than its first read is
only relayed if the function sends more on that connection (proved on the wire by
tests/tests/emulator.rs). The caller then waits for nothing (a client read timeout) or gets
watch's own 500, although the function answered.

WATCH_LOG is watch's log at debug level for `cargo_lambda_watch` and `tower_http` (requests
handled one at a time, as schemathesis.sh runs them). A function-URL request failed when it got
a 500 or never finished. It is the relay's fault when the function posted a response (or an
error) for the invocation watch gave it; otherwise the function did not answer, and that is a
real failure. Exit code: 0 when every failure is the relay's, 1 when any is the function's (or
the log cannot tell), 2 on usage.
"""
import re
import sys

TRACE = re.compile(r"request\{method=(\S+) uri=(\S+) version=[^}]*\}: (.*)$")
INVOKED = re.compile(r'processing request req_id="([^"]+)" function="([^"]+)"')
ANSWER = re.compile(r"^/\.rt/[^/]+/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")
FINISHED = re.compile(r"finished processing request .*status=(\d+)")


def failures(lines):
    """(method, uri, how, req_id, answered) for each function-URL request that got a 500 or no answer."""
    calls, current, answered = [], None, set()
    for line in lines:
        m = TRACE.search(line)
        if not m:
            continue
        method, uri, what = m.groups()
        if uri.startswith("/lambda-url/"):
            if what.startswith("started processing request"):
                function = uri.split("/")[2] if uri.count("/") >= 2 else ""
                current = {"method": method, "uri": uri, "status": None, "req": None, "function": function}
                calls.append(current)
            elif current is not None and current["uri"] == uri:
                f = FINISHED.search(what)
                if f:
                    current["status"] = int(f.group(1))
            continue
        i = INVOKED.search(what)
        if i and current is not None and current["req"] is None and i.group(2) == current["function"]:
            current["req"] = i.group(1)
            continue
        a = ANSWER.match(uri)
        if a and FINISHED.search(what):
            answered.add(a.group(1))
    out = []
    for c in calls:
        if c["status"] is None or c["status"] == 500:
            how = "no answer" if c["status"] is None else "500"
            out.append((c["method"], c["uri"], how, c["req"], c["req"] in answered))
    return out


def verdict(found):
    """The report's lines and whether every failure is the relay's."""
    lines, all_relay = [], True
    for method, uri, how, req, answered in found:
        if answered:
            lines.append(f"relay fault: {method} {uri}: {how} to the caller; the function answered invocation {req}")
        else:
            all_relay = False
            who = f"invocation {req}" if req else "no invocation"
            lines.append(f"FUNCTION: {method} {uri}: {how} to the caller; the function did not answer ({who})")
    return lines, all_relay


SAMPLE = """\
DEBUG request{method=GET uri=/lambda-url/api/v1/count version=HTTP/1.1}: started processing request
DEBUG request{method=GET uri=/.rt/ingest/2018-06-01/runtime/invocation/next version=HTTP/1.1}: processing request req_id="i1" function="ingest" instance_id=None
DEBUG request{method=GET uri=/.rt/api/2018-06-01/runtime/invocation/next version=HTTP/1.1}: processing request req_id="r1" function="api" instance_id=None
DEBUG request{method=POST uri=/.rt/api/2018-06-01/runtime/invocation/r1/response version=HTTP/1.1}: finished processing request latency=0 ms status=200
DEBUG request{method=GET uri=/lambda-url/api/v1/count version=HTTP/1.1}: finished processing request latency=3 ms status=200
DEBUG request{method=POST uri=/lambda-url/api/v1/x/triage version=HTTP/1.1}: started processing request
DEBUG request{method=GET uri=/.rt/api/2018-06-01/runtime/invocation/next version=HTTP/1.1}: processing request req_id="r2" function="api" instance_id=None
DEBUG request{method=POST uri=/.rt/api/2018-06-01/runtime/invocation/r2/response version=HTTP/1.1}: finished processing request latency=0 ms status=200
DEBUG request{method=POST uri=/lambda-url/api/v1/y/triage version=HTTP/1.1}: started processing request
DEBUG request{method=GET uri=/.rt/api/2018-06-01/runtime/invocation/next version=HTTP/1.1}: processing request req_id="r3" function="api" instance_id=None
DEBUG request{method=POST uri=/.rt/api/2018-06-01/runtime/invocation/r3/response version=HTTP/1.1}: finished processing request latency=0 ms status=200
DEBUG request{method=POST uri=/lambda-url/api/v1/y/triage version=HTTP/1.1}: finished processing request latency=24 ms status=500
DEBUG request{method=GET uri=/lambda-url/api/v1/z version=HTTP/1.1}: started processing request
DEBUG request{method=GET uri=/.rt/api/2018-06-01/runtime/invocation/next version=HTTP/1.1}: processing request req_id="r4" function="api" instance_id=None
DEBUG request{method=GET uri=/lambda-url/api/v1/w version=HTTP/1.1}: started processing request
"""


def self_test():
    found = failures(SAMPLE.splitlines())
    assert found == [
        ("POST", "/lambda-url/api/v1/x/triage", "no answer", "r2", True),
        ("POST", "/lambda-url/api/v1/y/triage", "500", "r3", True),
        ("GET", "/lambda-url/api/v1/z", "no answer", "r4", False),
        ("GET", "/lambda-url/api/v1/w", "no answer", None, False),
    ], found
    lines, all_relay = verdict(found[:2])
    assert all_relay and lines[0].startswith("relay fault: POST /lambda-url/api/v1/x/triage: no answer"), lines
    lines, all_relay = verdict(found)
    assert not all_relay and lines[2] == (
        "FUNCTION: GET /lambda-url/api/v1/z: no answer to the caller; the function did not answer (invocation r4)"
    ), lines
    print("watch-relay-faults: self-test passed")


def main(argv):
    if argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], errors="replace") as f:
        lines, all_relay = verdict(failures(f))
    for line in lines:
        print(line)
    return 0 if all_relay else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
