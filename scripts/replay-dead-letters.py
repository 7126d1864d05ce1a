#!/usr/bin/env python3
"""Replays the dead-letter queue's events into the ingest path, keeping each envelope whole.

The dead-letter queue holds three kinds of messages (docs/src/monitoring.md): a rule's dead letter
(the EventBridge envelope itself), an on-failure record of the direct path (the envelope under
`requestPayload`), and a buffered message that failed `BufferMaxReceiveCount` times (the envelope
itself). Each is replayed as its original envelope, with its original `id` and `time`, so the
idempotency marker recognises an envelope that was in fact stored, and an envelope without
`detail.occurredAt` keeps the time it failed at. (`aws events put-events` would mint a new id and
a new time: never replay with it.)

  replay-dead-letters.py --dead-letter-queue-url URL --buffer-queue-url URL     (buffered stacks)
  replay-dead-letters.py --dead-letter-queue-url URL --function-name NAME       (direct stacks)

  replay-dead-letters.py --dead-letter-profile MEMBER --dead-letter-queue-url URL ...   (a member's)

A member stack's dead letters (infra/member.yaml) are in the member account and region: with
--dead-letter-profile, the dead-letter queue is read and emptied with that AWS profile's
credentials and region (the member's; the profile's region wins over AWS_DEFAULT_REGION), and the envelopes delivered with the default ones (the
central account's). AWS sources cannot be put on a bus again (aws.* is theirs alone), so they go
to the central ingest path as the stack's own dead letters do.

Only what the stack's intake takes is replayed: a dead-letter queue can be written by anyone its
account lets send to it, and a replay skips the bus policy and the rules. An envelope is kept,
named, unless its detail-type is one of the intake's three, an AWS detail-type comes from that
service's source (`aws.ecr`, `aws.inspector2`) and a scanner's from a source that is not `aws.*`
(and, with --allowed-sources, one of them: the stack's AllowedSources), and, with
--dead-letter-profile, its account is the member's own (a member's dead letters are its events),
as is the account of every resource ARN of an AWS source's event (the intake takes the image's
account from them).

Options: --endpoint-url (a local stack), --max N (default 1000), --dry-run,
--allowed-sources a,b (the stack's AllowedSources). A message is deleted
from the dead-letter queue only after its envelope was delivered (sent to the buffer queue, or
the function answered without an error); anything else stays, visible again when the script
ends (a run at once after a dry run, or after one that kept messages, finds them), and the
script exits 1 naming it (a dry run too, for what it would keep). Each message counts once per
run, however long the run takes past the messages' receive timeout.
Needs boto3 (`pip install boto3`; `make tools` puts it in .tools/venv) and credentials allowed
sqs:ReceiveMessage and sqs:DeleteMessage on the dead-letter queue (and, with --dead-letter-profile,
sts:GetCallerIdentity, which needs no permission) and sqs:SendMessage on the
buffer queue (or lambda:InvokeFunction on the ingest function: an operator's role, not the
admins' one).
"""
import argparse
import json
import sys


def envelope_of(body):
    """The envelope a dead letter carries, or None when it carries none."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("requestPayload"), dict):
        value = value["requestPayload"]
    if isinstance(value, dict) and "id" in value and "detail-type" in value:
        return value
    return None


# The intake's detail-types and the source each must come from (None: a scanner's, not aws.*).
INTAKE = {"Image Scan Failed": None, "ECR Image Scan": "aws.ecr", "Inspector2 Coverage": "aws.inspector2"}


def refusal(envelope, member_account=None, allowed_sources=None):
    """Why the stack's intake would not have taken `envelope` from this queue, or None."""
    detail_type, source = envelope.get("detail-type"), envelope.get("source")
    if detail_type not in INTAKE:
        return f"detail-type {str(detail_type)[:64]!r} is not one the stack takes"
    expected = INTAKE[detail_type]
    if expected is not None and source != expected:
        return f"{detail_type} from source {str(source)[:64]!r}: only {expected} sends it"
    if expected is None and (not isinstance(source, str) or source.startswith("aws.")):
        return f"{detail_type} from source {str(source)[:64]!r}: aws.* sources are AWS's own"
    if expected is None and allowed_sources is not None and source not in allowed_sources:
        return f"source {source[:64]!r} is not one of --allowed-sources"
    if member_account is not None and envelope.get("account") != member_account:
        return f"account {str(envelope.get('account'))[:16]!r} is not the member's ({member_account})"
    if member_account is not None and expected is not None:
        # The intake takes an AWS source's image account from its resource ARNs, not from the
        # envelope: on the bus only the registry's own account sends them, so must it here.
        resources = envelope.get("resources")
        for arn in resources if isinstance(resources, list) else []:
            parts = arn.split(":", 5) if isinstance(arn, str) else []
            if len(parts) == 6 and parts[4] != member_account:
                return f"resource of account {parts[4][:16]!r} is not the member's ({member_account})"
    return None


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dead-letter-queue-url", required=True)
    parser.add_argument("--dead-letter-profile", help="AWS profile of the dead-letter queue's account and region")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--buffer-queue-url")
    target.add_argument("--function-name")
    parser.add_argument("--endpoint-url")
    parser.add_argument("--max", type=int, default=1000)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--allowed-sources", help="the stack's AllowedSources, comma-separated")
    args = parser.parse_args(argv)
    allowed = None if args.allowed_sources is None else {s.strip() for s in args.allowed_sources.split(",") if s.strip()}

    import boto3  # imported here so --help works without it

    if args.dead_letter_profile:
        import botocore.session
        member = botocore.session.Session(profile=args.dead_letter_profile)
        # The profile's own region, even where AWS_DEFAULT_REGION (the central one) is set.
        region = member.get_scoped_config().get("region")
        member_session = boto3.Session(botocore_session=member)
        dead = member_session.client("sqs", endpoint_url=args.endpoint_url, region_name=region)
        sts = member_session.client("sts", endpoint_url=args.endpoint_url, region_name=region)
        member_account = sts.get_caller_identity()["Account"]
    else:
        dead = boto3.client("sqs", endpoint_url=args.endpoint_url)
        member_account = None
    sqs = boto3.client("sqs", endpoint_url=args.endpoint_url)
    lam = boto3.client("lambda", endpoint_url=args.endpoint_url) if args.function_name else None
    replayed, would, kept = 0, 0, []
    # Every message received and not deleted, by id, with its latest receipt: each counts once
    # (a run longer than the receive timeout gets them again), and each is made visible again at
    # the end, so that a run right after this one finds it.
    held = {}
    try:
        while replayed + would + len(kept) < args.max:
            out = dead.receive_message(QueueUrl=args.dead_letter_queue_url, MaxNumberOfMessages=10,
                                      WaitTimeSeconds=1, VisibilityTimeout=60)
            messages = out.get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in held]
            for m in messages:
                if m["MessageId"] in held:
                    held[m["MessageId"]] = m["ReceiptHandle"]
            if not fresh:
                break
            for m in fresh:
                held[m["MessageId"]] = m["ReceiptHandle"]
                envelope = envelope_of(m["Body"])
                if envelope is None:
                    kept.append(f"{m['MessageId']}: no EventBridge envelope in the message")
                    continue
                why = refusal(envelope, member_account, allowed)
                if why is not None:
                    kept.append(f"{m['MessageId']}: not replayed: {why}")
                    continue
                if args.dry_run:
                    print(f"would replay {envelope['id']} ({envelope['detail-type']})")
                    would += 1
                    continue
                if args.buffer_queue_url:
                    sqs.send_message(QueueUrl=args.buffer_queue_url, MessageBody=json.dumps(envelope))
                else:
                    answer = lam.invoke(FunctionName=args.function_name, Payload=json.dumps(envelope).encode())
                    if answer.get("FunctionError"):
                        kept.append(f"{m['MessageId']}: the function failed again: {answer['Payload'].read()[:200]!r}")
                        continue
                dead.delete_message(QueueUrl=args.dead_letter_queue_url, ReceiptHandle=m["ReceiptHandle"])
                del held[m["MessageId"]]
                replayed += 1
                print(f"replayed {envelope['id']}")
    finally:
        for receipt in held.values():
            try:
                dead.change_message_visibility(QueueUrl=args.dead_letter_queue_url, ReceiptHandle=receipt,
                                               VisibilityTimeout=0)
            except Exception as e:  # noqa: BLE001 - it reappears after its 60 s anyway
                print(f"  could not make a message visible again at once ({e}); it is in 60 s", file=sys.stderr)
    if args.dry_run:
        print(f"replay-dead-letters: dry run: {would} would be replayed, {len(kept)} kept")
    else:
        print(f"replay-dead-letters: {replayed} replayed, {len(kept)} kept")
    for k in kept:
        print(f"  kept {k}", file=sys.stderr)
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
