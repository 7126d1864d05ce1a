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
}
for name, event in bad.items():
    if v.is_valid(event):
        failed += 1; print(f"FAIL schema accepts: {name}")
    else:
        passed += 1
print(f"schema: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
