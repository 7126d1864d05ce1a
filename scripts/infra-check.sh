#!/usr/bin/env bash
# Static checks of infra/template.yaml and infra/member.yaml (`make infra-check`, part of
# `make test`):
#   1. cfn-lint (pinned in scripts/tools.sh): no error, warning or informational finding;
#   2. `sam validate` (pinned aws-sam-cli in .tools/sam-venv): the SAM transform accepts it;
#      and cfn-lint again on what the transform produces (the functions' generated roles and
#      policies, which cfn-lint does not check in the SAM template itself);
#   3. both again on copies whose parameter defaults select the other branches of the conditions
#      (buffered path, notifications on, AWS scan sources off, an alarm topic given or created
#      with an email subscription, metrics off, organization-wide intake with a source
#      allow-list and the reconciler; the member template forwarding only native events), so each deployable variant is
#      linted with its own parameter values; cfn-lint also evaluates every condition scenario;
#   4. both tools reject a mutated copy, so a green run is not a blind one: sam validate refuses
#      `DefaultAuthorizer: AWS_IAM` without `EnableIamAuthorizer`, cfn-lint a 64 MB function, a
#      reference to the buffer queue outside its condition, and (transformed) an IAM action that
#      does not exist.
# Works offline: `sam validate` (without --lint) translates the template locally and needs only
# a region; no credentials and no AWS call. The keys, indexes, IAM actions of the three functions
# (ingest, api, maintenance), their variables, the maintenance schedule, routes and caller
# policies are compared with the Rust code by tests/tests/template.rs (`cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."
TEMPLATE=infra/template.yaml
MEMBER=infra/member.yaml
CFN_LINT=.tools/venv/bin/cfn-lint
SAM=.tools/sam-venv/bin/sam
SAM_PYTHON=.tools/sam-venv/bin/python
for tool in "$CFN_LINT" "$SAM" "$SAM_PYTHON"; do
  [ -x "$tool" ] || { echo "infra-check: $tool is missing; run 'bash scripts/tools.sh'" >&2; exit 1; }
done
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0
# Dummy credentials keep any SDK from looking further for real ones; none is needed.
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
REGION=us-east-1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "infra-check: ok   $1"; }
fail() { failed=$((failed + 1)); echo "infra-check: FAIL $1"; }

echo "infra-check: $("$CFN_LINT" --version), $("$SAM" --version)"

# lint_and_validate FILE LABEL: 1. cfn-lint, which exits 0 only with no finding at all (2 =
# error, 4 = warning, 8 = informational); 2. sam validate; 3. cfn-lint of the template as SAM's
# transform expands it (scripts/sam-translate.py): the functions' roles and inline policies are
# checked only there (an action IAM does not have, say).
lint_and_validate() {
  local file="$1" label="$2" out translated
  if "$CFN_LINT" --include-checks I -- "$file"; then
    ok "cfn-lint $label: no errors, warnings or informational findings"
  else
    fail "cfn-lint $label (exit $?)"
  fi
  if out="$("$SAM" validate --template "$file" --region "$REGION" 2>&1)"; then
    ok "sam validate $label"
  else
    echo "$out"
    fail "sam validate $label"
  fi
  translated="$WORK/translated-$(basename "$file" .yaml).json"
  if ! out="$(translate "$file" "$translated")"; then
    echo "$out"
    fail "SAM transform of $label"
  elif "$CFN_LINT" --include-checks I -- "$translated"; then
    ok "cfn-lint $label, transformed: no errors, warnings or informational findings"
  else
    fail "cfn-lint $label, transformed (exit $?)"
  fi
}

# translate FILE OUT: FILE as SAM's transform expands it, as JSON.
translate() {
  AWS_DEFAULT_REGION="$REGION" "$SAM_PYTHON" scripts/sam-translate.py "$1" "$2" 2>&1
}

for file in "$TEMPLATE" "$MEMBER"; do
  lint_and_validate "$file" "$file"
done

# 3. The other branches: a copy with other parameter defaults per variant.
# with_defaults OUT NAME=VALUE...: the template ($SOURCE) with those parameters' Default lines
# replaced; fails when a parameter or its Default line is not found.
with_defaults() {
  local out="$1" pair name value
  shift
  cp "${SOURCE:-$TEMPLATE}" "$out"
  for pair in "$@"; do
    name="${pair%%=*}"
    value="${pair#*=}"
    awk -v name="$name" -v value="$value" '
      /^Parameters:$/ { params = 1 }
      /^[A-Za-z]/ && !/^Parameters:$/ { params = 0 }
      params && /^  [A-Za-z0-9]+:$/ { inside = ($1 == name ":") }
      params && inside && /^    Default: / { print "    Default: \"" value "\""; done = 1; next }
      { print }
      END { exit done ? 0 : 1 }' "$out" >"$out.new" || { rm -f "$out.new"; return 1; }
    mv "$out.new" "$out"
  done
}
for variant in \
  "buffered BufferedIngest=true NotificationBusName=default" \
  "buffered-without-aws-sources BufferedIngest=true EnableAwsScanSources=false" \
  "direct-without-aws-sources EnableAwsScanSources=false NotificationBusName=scan-failures" \
  "given-alarm-topic AlarmTopicArn=arn:aws:sns:us-east-1:111122223333:ops-alarms Metrics=off" \
  "alarm-email AlarmEmail=ops@example.com MetricsByReason=false" \
  "organization OrganizationId=o-a1b2c3d4e5 SourceAccountIds=111122223333,444455556666 AllowedSources=scanfail,ci.pipeline ReconcileInspector=true" \
  "buffered-organization BufferedIngest=true OrganizationId=o-a1b2c3d4e5" \
  "member-native-only@$MEMBER ForwardAwsScanSources=false ForwardNativeEvents=true" \
  "member-allowed-sources@$MEMBER ForwardNativeEvents=true AllowedSources=scanfail,ci.pipeline" \
  "member-alarm-topic@$MEMBER AlarmTopicArn=arn:aws:sns:us-east-1:111122223333:ops-alarms"; do
  read -r label params <<<"$variant"
  SOURCE="$TEMPLATE"
  if [[ "$label" == *@* ]]; then
    SOURCE="${label#*@}"
    label="${label%@*}"
  fi
  copy="$WORK/$label.yaml"
  # shellcheck disable=SC2086 # params is a list of NAME=VALUE words
  if ! SOURCE="$SOURCE" with_defaults "$copy" $params; then
    fail "variant $label: could not set $params in a copy of $SOURCE"
    continue
  fi
  lint_and_validate "$copy" "variant $label ($params)"
done

# 4a. sam validate rejects the IAM default authorizer when the IAM authorizer is not enabled.
mutated="$WORK/no-iam-authorizer.yaml"
grep -v '^ *EnableIamAuthorizer: true$' "$TEMPLATE" >"$mutated"
expected="Unable to set DefaultAuthorizer because 'AWS_IAM' was not defined in 'Authorizers'"
if [ "$(grep -c 'EnableIamAuthorizer' "$mutated")" != 0 ] || ! grep -q 'DefaultAuthorizer: AWS_IAM' "$mutated"; then
  fail "mutation: could not remove EnableIamAuthorizer from a copy of $TEMPLATE"
elif out="$("$SAM" validate --template "$mutated" --region "$REGION" 2>&1)"; then
  fail "sam validate accepted DefaultAuthorizer: AWS_IAM without EnableIamAuthorizer"
elif grep -qF "$expected" <<<"$out"; then
  ok "sam validate rejects DefaultAuthorizer: AWS_IAM without EnableIamAuthorizer"
else
  echo "$out"
  fail "sam validate failed on the mutated copy, but not with: $expected"
fi

# 4b. cfn-lint reports an out-of-range property (proves it lints the functions' properties).
mutated="$WORK/small-memory.yaml"
sed 's/^      MemorySize: 128$/      MemorySize: 64/' "$TEMPLATE" >"$mutated"
if cmp -s "$TEMPLATE" "$mutated"; then
  fail "mutation: no 'MemorySize: 128' to change in $TEMPLATE"
elif out="$("$CFN_LINT" -- "$mutated" 2>&1)"; then
  fail "cfn-lint accepted MemorySize: 64"
elif grep -q "E3034 64 is less than the minimum of 128" <<<"$out"; then
  ok "cfn-lint rejects MemorySize: 64 (E3034)"
else
  echo "$out"
  fail "cfn-lint failed on the mutated copy, but not with E3034"
fi

# 4b'. cfn-lint of the transformed template reports an action IAM does not have in a
#      function's policy (proves the transformed lint sees the roles SAM generates; cfn-lint of
#      the SAM template alone passes it): `dynamodb:TransactWriteItems` beside ingest's writes.
mutated="$WORK/transact-action.yaml"
awk '/^  IngestFunction:$/ { f = 1 } f && /^                  - dynamodb:UpdateItem$/ { print "                  - dynamodb:TransactWriteItems"; f = 0 } { print }' \
  "$TEMPLATE" >"$mutated"
if cmp -s "$TEMPLATE" "$mutated"; then
  fail "mutation: no ingest 'dynamodb:UpdateItem' grant to add beside in $TEMPLATE"
elif ! out="$(translate "$mutated" "$WORK/transact-action.json")"; then
  echo "$out"
  fail "SAM transform of the mutated copy"
elif out="$("$CFN_LINT" -- "$WORK/transact-action.json" 2>&1)"; then
  fail "cfn-lint of the transformed copy accepted dynamodb:TransactWriteItems"
elif grep -q "W3037 'transactwriteitems' is not one of" <<<"$out"; then
  ok "cfn-lint of the transformed template rejects dynamodb:TransactWriteItems (W3037)"
else
  echo "$out"
  fail "cfn-lint failed on the transformed mutated copy, but not with W3037"
fi

# 4c. cfn-lint reports a reference to the buffer queue where it may not exist (proves it
#     evaluates the conditions): the event source mapping without its condition.
mutated="$WORK/unconditional-mapping.yaml"
awk '/^  IngestBufferEventSourceMapping:$/ { m = 1 } m && /^    Condition: IsBuffered$/ { m = 0; next } { print }' \
  "$TEMPLATE" >"$mutated"
expected="W1001 GetAtt to resource 'BufferQueue' that may not be available when condition 'IsBuffered' is False"
if cmp -s "$TEMPLATE" "$mutated"; then
  fail "mutation: no 'Condition: IsBuffered' on IngestBufferEventSourceMapping in $TEMPLATE"
elif out="$("$CFN_LINT" -- "$mutated" 2>&1)"; then
  fail "cfn-lint accepted an unconditional event source mapping on the conditional buffer queue"
elif grep -qF "$expected" <<<"$out"; then
  ok "cfn-lint rejects the buffer queue's event source mapping without its condition (W1001)"
else
  echo "$out"
  fail "cfn-lint failed on the mutated copy, but not with: $expected"
fi

echo "infra-check: $passed passed, $failed failed"
[ "$failed" = 0 ]
