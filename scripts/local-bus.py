#!/usr/bin/env python3
"""`make local`'s hands on the local bus (moto at MOTO_ENDPOINT), run with the tools venv's python.

  put FILE...      puts each sample envelope on the bus its rule listens on, as happening now:
                   "Image Scan Failed" on SCANFAIL_BUS, the AWS services' events on `default`
                   (moto accepts their aws.* sources; EventBridge keeps those for AWS itself)
  wait-drained Q   waits (up to 120 s) until the queue named Q holds no message, visible or not
  wait-rollups API waits (up to 60 s) until the api at API counts from its rollups (the table's
                   stream folded by the rollup function) what a read of every group counts
  create-queue N   creates the queue named N (the rollup function's failure queue) and prints
                   its URL
"""
import datetime
import json
import os
import sys
import time
import urllib.request

import boto3


def client(service):
    return boto3.client(service, endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def put(files):
    events = client("events")
    bus = os.environ.get("SCANFAIL_BUS", "scan-failures")
    for path in files:
        with open(path) as f:
            e = json.load(f)
        for key in ("occurredAt", "eventTimestamp"):
            e["detail"].pop(key, None)
        entry = {
            "EventBusName": bus if e["detail-type"] == "Image Scan Failed" else "default",
            "Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"]),
            "Resources": e.get("resources", []), "Time": datetime.datetime.now(datetime.timezone.utc),
        }
        out = events.put_events(Entries=[entry])
        status = out["Entries"][0].get("EventId") or out["Entries"][0].get("ErrorCode")
        print(f"local: {os.path.basename(path):<52} -> {entry['EventBusName']}: {status}")
        if out["FailedEntryCount"]:
            sys.exit(1)


def wait_drained(name):
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attributes = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    for _ in range(600):
        got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=attributes)["Attributes"]
        if sum(int(got[a]) for a in attributes) == 0:
            return
        time.sleep(0.2)
    sys.exit(f"local: the queue {name} did not drain in 120 s")


def wait_rollups(api):
    def get(path):
        with urllib.request.urlopen(api + path, timeout=10) as r:
            return json.load(r)
    for _ in range(120):
        kept = get("/v1/count/administration/events")["count"]
        read = get("/v1/administration/events/summary?summary.detail=true")["totals"]["groups"]
        if kept == read:
            print(f"local: the rollups count {kept} groups, as a read of every group does")
            return
        time.sleep(0.5)
    sys.exit(f"local: the rollups count {kept} groups after 60 s, a read of every group {read}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "put":
        put(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "wait-drained":
        wait_drained(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "wait-rollups":
        wait_rollups(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "create-queue":
        print(client("sqs").create_queue(QueueName=sys.argv[2])["QueueUrl"])
    else:
        sys.exit(__doc__)
