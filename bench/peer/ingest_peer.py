"""A Python peer of the ingest function's direct path, for `bench cpu` (BENCHMARKS.md).

Written the way a user would write it with boto3: one client made at import, and per event one
`TransactWriteItems` of the idempotency marker (a conditional put of the envelope id) and the
group update (count, first and last occurrence, TTL), a redelivery recognised by the marker's
condition. Run under AWS's runtime interface client (`python -m awslambdaric
ingest_peer.handler`) against the same Runtime API server and DynamoDB Local table as the
`ingest` binary. It classifies by a few substrings and keeps no history: less work than the
Rust function does, never more.
"""

import datetime
import os
import uuid

import boto3
from botocore.exceptions import ClientError

TABLE = os.environ["TABLE_NAME"]
RETENTION_SECONDS = int(os.environ.get("RETENTION_DAYS", "4")) * 86400
MARKER_SECONDS = 20 * 86400
NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
REASONS = [
    ("unauthorized", "REGISTRY_UNAUTHORIZED"),
    ("not found", "IMAGE_NOT_FOUND"),
    ("deadline exceeded", "TIMEOUT"),
    ("timeout", "TIMEOUT"),
    ("too many requests", "RATE_LIMITED"),
    ("no image integration", "NO_REGISTRY_INTEGRATION"),
    ("scanner", "SCANNER_UNAVAILABLE"),
]

dynamodb = boto3.client("dynamodb")


def classify(message):
    lower = message.lower()
    for needle, reason in REASONS:
        if needle in lower:
            return reason
    return "UNKNOWN"


def handler(event, context):
    detail = event["detail"]
    if "error" not in detail:
        return {"result": "ignored_success", "eventId": event["id"]}
    image = detail["image"]["name"][:1024]
    message = detail["error"]["message"][:2048]
    reason = classify(message)
    group = str(uuid.uuid5(NAMESPACE, f"{image}\n{reason}\n{message}"))
    occurred = detail.get("occurredAt") or event["time"]
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    try:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": f"peer-seen#{event['id']}"}, "expiresAt": {"N": str(now + MARKER_SECONDS)}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": f"peer-group#{group}"}},
                        "UpdateExpression": "ADD numOccurrences :one SET lastOccurredAt = :t, "
                        "firstOccurredAt = if_not_exists(firstOccurredAt, :t), image = :image, reason = :reason, "
                        "message = :message, #op = :op, origin = :origin, expiresAt = :expires",
                        "ExpressionAttributeNames": {"#op": "operation"},
                        "ExpressionAttributeValues": {
                            ":one": {"N": "1"},
                            ":t": {"S": occurred},
                            ":image": {"S": image},
                            ":reason": {"S": reason},
                            ":message": {"S": message},
                            ":op": {"S": detail["operation"]},
                            ":origin": {"S": detail["origin"]},
                            ":expires": {"N": str(now + RETENTION_SECONDS)},
                        },
                    }
                },
            ],
            ReturnConsumedCapacity="TOTAL",
        )
    except ClientError as e:
        reasons = e.response.get("CancellationReasons") or [{}]
        if e.response["Error"]["Code"] == "TransactionCanceledException" and reasons[0].get("Code") == "ConditionalCheckFailed":
            return {"result": "duplicate", "eventId": event["id"], "groupId": group}
        raise
    return {"result": "recorded", "eventId": event["id"], "groupId": group, "reason": reason}
