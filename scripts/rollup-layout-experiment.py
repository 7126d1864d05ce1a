#!/usr/bin/env python3
"""Does DynamoDB Local's `Query` latency follow the items a read returns or their bytes?

The experiment behind BENCHMARKS.md's "Count, summary and trend from the rollups": one item per
rollup bucket holding every reason's counters (fewer, wider items) was weighed against one item
per bucket and reason (today's layout). Five partitions of items with counters of the rollups'
shape, each read whole by one `Query`, 300 times, rounds interleaved; the latency is the HTTP
round trip only (the response is not parsed, so the client's decoding does not count):

    A  312 items x 22 counters   today's layout, 100,000 groups, the old worst cut-off
    D  122 items x 22 counters   today's layout, 1,000 groups, same cut-off
    B   26 items x 264 counters  one item per bucket, 100,000 groups (A's bytes)
    C   62 items x 30 counters   one item per bucket, 1,000 groups
    E   18 items x 40 counters   one item per bucket, a sparser 1,000-group cut-off
    F  192 items x 22 counters   today's layout, 100,000 groups, the read plan of 290a099
    G  100 items x 16 counters   today's layout, 1,000 groups, same
    H  192 items, 1 attribute    F's counters packed into one JSON string per rollup
    I  100 items, 1 attribute    G's, packed the same way
    J  192 items, 1 attribute    packed as `name=value,...`, with the rollups' key attributes
    K  100 items, 1 attribute    the same for G
    L, M                         J and K read with a projection of the sort key and the counters
    N, O                         F and G read with a projection of the key and one counter (what
                                 a count needs of a rollup)
    P, Q                         F and G read with a projection of the key and 14 counters (about
                                 what a 7-day trend needs: its days' occurrences and new groups)

Run against a DynamoDB Local already started (`source scripts/dynamodb-local.sh;
start_dynamodb_local LOG`), with `DYNAMODB_ENDPOINT` set; it creates and drops its own table.
"""
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

TABLE = "rollup-layout-experiment"
CASES = {
    "A today, 100,000 groups (312 x 22)": (312, 22, False),
    "D today, 1,000 groups (122 x 22)": (122, 22, False),
    "B per bucket, 100,000 groups (26 x 264)": (26, 264, False),
    "C per bucket, 1,000 groups (62 x 30)": (62, 30, False),
    "E per bucket, sparser (18 x 40)": (18, 40, False),
    "F today, 100,000 groups, plan of 290a099 (192 x 22)": (192, 22, False),
    "G today, 1,000 groups, plan of 290a099 (100 x 16)": (100, 16, False),
    "H packed, 100,000 groups (192 x 1 of 22)": (192, 22, True),
    "I packed, 1,000 groups (100 x 1 of 16)": (100, 16, True),
    "J text, 100,000 groups (192 x 1 of 22)": (192, 22, "text"),
    "K text, 1,000 groups (100 x 1 of 16)": (100, 16, "text"),
    "L text projected, 100,000 groups": (192, 22, "text"),
    "M text projected, 1,000 groups": (100, 16, "text"),
    "N count projected, 100,000 groups (192 x 22)": (192, 22, False),
    "O count projected, 1,000 groups (100 x 16)": (100, 16, False),
    "P trend projected, 100,000 groups (192 x 22)": (192, 22, False),
    "Q trend projected, 1,000 groups (100 x 16)": (100, 16, False),
}
ROUNDS, WARMUP = 200, 20


def main():
    endpoint = urllib.parse.urlparse(os.environ["DYNAMODB_ENDPOINT"])
    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port)

    def call(target, body, ok_missing=False):
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810." + target,
            # DynamoDB Local checks that a signature is present, not what it signs.
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=00",
        }
        conn.request("POST", "/", json.dumps(body), headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200 and not ok_missing:
            sys.exit(f"{target}: HTTP {response.status}: {data[:300]!r}")
        return data

    call("DeleteTable", {"TableName": TABLE}, ok_missing=True)
    call("CreateTable", {
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    })
    for part, (items, width, packed) in CASES.items():
        for k in range(items):
            item = {"pk": {"S": part}, "sk": {"S": f"{k:05d}"}}
            counters = {f"x#c{i}#g": i * 7 + 3 for i in range(width)}
            if packed == "text":
                item["c"] = {"S": ",".join(f"{n}={v}" for n, v in counters.items())}
                item.update({"gsiAll": {"S": "ROLLUP#m"}, "timeSk": {"S": "2026-12-01T10:00:00.000Z#open#SOME_REASON"},
                             "expiresAt": {"N": "1827745200"}, "pk2": {"S": "r#m#2026-12-01T10:00:00.000Z#open#SOME_REASON"}})
            elif packed:
                item["c"] = {"S": json.dumps(counters, separators=(",", ":"))}
            else:
                item.update({name: {"N": str(v)} for name, v in counters.items()})
            call("PutItem", {"TableName": TABLE, "Item": item})

    def query(part):
        body = {"TableName": TABLE, "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": part}}}
        if part.startswith("L") or part.startswith("M"):
            body["ProjectionExpression"] = "timeSk, c"
        if part[0] in "NO":
            body["ProjectionExpression"] = "pk, #g"
            body["ExpressionAttributeNames"] = {"#g": "x#c0#g"}
        if part[0] in "PQ":
            names = {f"#d{i}": f"x#c{i}#g" for i in range(0, 14)}
            body["ProjectionExpression"] = "pk, " + ", ".join(names)
            body["ExpressionAttributeNames"] = names
        return call("Query", body)

    times = {part: [] for part in CASES}
    for _ in range(WARMUP):
        for part in CASES:
            query(part)
    for _ in range(ROUNDS):
        for part in CASES:
            started = time.perf_counter()
            query(part)
            times[part].append((time.perf_counter() - started) * 1000)
    for part, t in times.items():
        print(f"{part:42} p50 {statistics.median(t):6.2f} ms  response {len(query(part)):>7} bytes")
    call("DeleteTable", {"TableName": TABLE})


if __name__ == "__main__":
    main()
