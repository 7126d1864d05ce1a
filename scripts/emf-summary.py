#!/usr/bin/env python3
"""The CloudWatch metrics (Embedded Metric Format lines) of function logs, summed as CloudWatch
would sum them over the run: `make local` prints it, and local-smoke checks it.

Usage: emf-summary.py LOG...   (one line per log: documents, then each metric of the `Stack`
totals summed; then the first document of the first log as written).
"""
import json
import sys


def documents(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and "_aws" in doc:
                yield doc


def totals(docs):
    """Sum of each metric published under the ["Stack"] dimension set (the stack's totals)."""
    sums = {}
    for doc in docs:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            if ["Stack"] not in directive["Dimensions"]:
                continue
            for metric in directive["Metrics"]:
                sums[metric["Name"]] = sums.get(metric["Name"], 0) + doc[metric["Name"]]
    return sums


def main(paths):
    first = None
    for path in paths:
        docs = list(documents(path))
        first = first or (docs[0] if docs else None)
        sums = ", ".join(f"{k} {v:g}" for k, v in totals(docs).items())
        print(f"local: metrics: {len(docs)} EMF documents in {path}: {sums}")
    if first is not None:
        print("local: metrics: the first, as CloudWatch Logs receives it: " + json.dumps(first, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv[1:])
