"""Checks events/ against the published JSON Schema: every sample is valid, and the malformed
cases the ingest function rejects are invalid under the schema too."""
import copy, glob, json, sys
import jsonschema

schema = json.load(open("events/image-scan-failed.schema.json"))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
passed = failed = 0
samples = sorted(glob.glob("events/ingest-*.json"))
for path in samples:
    errors = list(v.iter_errors(json.load(open(path))))
    if errors:
        failed += 1; print(f"FAIL {path}: {errors[0].message}")
    else:
        passed += 1
base = json.load(open(samples[0]))
def mutate(f):
    e = copy.deepcopy(base); f(e); return e
bad = {
    "detail missing": mutate(lambda e: e.pop("detail")),
    "number for image name": mutate(lambda e: e["detail"]["image"].__setitem__("name", 7)),
    "unknown operation": mutate(lambda e: e["detail"].__setitem__("operation", "image delete")),
    "empty image name": mutate(lambda e: e["detail"]["image"].__setitem__("name", "")),
    "bad digest": mutate(lambda e: e["detail"]["image"].__setitem__("digest", "sha256:123")),
    "300 KB message": mutate(lambda e: e["detail"]["error"].__setitem__("message", "x" * 300_000)),
    "failure without error": mutate(lambda e: e["detail"].pop("error")),
    "blank source": mutate(lambda e: e.__setitem__("source", "   ")),
    "blank image name": mutate(lambda e: e["detail"]["image"].__setitem__("name", " ")),
    "blank message, no code": mutate(lambda e: e["detail"].__setitem__("error", {"message": " "})),
    "blank message, blank code": mutate(lambda e: e["detail"].__setitem__("error", {"message": "", "code": " "})),
    # The parser refuses it: normalized, docker.io/library/ and :latest take it to 1,045 bytes.
    "1,020-character image name": mutate(lambda e: e["detail"]["image"].__setitem__("name", "a" * 1020)),
}
for name, event in bad.items():
    if v.is_valid(event):
        failed += 1; print(f"FAIL schema accepts: {name}")
    else:
        passed += 1
good = {
    "blank message with a code": mutate(lambda e: e["detail"].__setitem__("error", {"message": "", "code": "TIMEOUT"})),
    "999-character image name": mutate(lambda e: e["detail"]["image"].__setitem__("name", "a" * 999)),
}
for name, event in good.items():
    if v.is_valid(event):
        passed += 1
    else:
        failed += 1; print(f"FAIL schema refuses: {name}")
notification_schema = json.load(open("events/notification.schema.json"))
jsonschema.Draft202012Validator.check_schema(notification_schema)
nv = jsonschema.Draft202012Validator(notification_schema, format_checker=jsonschema.FormatChecker())
notification = {
    "notificationId": "3b0f4c1e-8d2a-5e6f-9a7b-1c2d3e4f5a6b", "groupId": "9ee70a69-22e4-50e6-8a2b-11a12cebc343",
    "transition": "threshold_crossed", "threshold": 10, "image": "quay.io/acme/web:1.4",
    "reason": "REGISTRY_UNAUTHORIZED", "reasonTitle": "Registry credentials rejected", "hint": "Check the credentials.",
    "level": "ERROR", "numOccurrences": 10, "lastOccurredAt": "2026-11-25T10:01:00.000Z",
    "account": "123456789012", "region": "eu-west-1", "link": "/v1/administration/events/9ee70a69-22e4-50e6-8a2b-11a12cebc343",
}
for name, doc, valid in [
    ("threshold notification", notification, True),
    ("threshold without its threshold", {k: v for k, v in notification.items() if k != "threshold"}, False),
    ("unknown field", {**notification, "extra": 1}, False),
]:
    if nv.is_valid(doc) == valid:
        passed += 1
    else:
        failed += 1; print(f"FAIL notification schema: {name}")
print(f"schema: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
