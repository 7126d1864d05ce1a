#!/usr/bin/env bash
# Release build of the two Lambda functions with cargo-lambda (`make build`).
#
#   ARCH=arm64|x86_64 (default arm64) bash scripts/build.sh
#
# Writes target/lambda/<fn>/bootstrap (what `sam build` and the template's provided.al2023
# runtime expect) and target/lambda/<fn>-<arch>.zip (a deployable package), then prints both
# sizes. arm64 is cross-compiled with zig (the `ziglang` PyPI package pinned in
# scripts/tools.sh) and needs the Rust target aarch64-unknown-linux-gnu; when that target cannot
# be installed the build falls back to x86_64 and says so (deploy with Architecture=x86_64).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="$ROOT/.tools/venv"
FUNCTIONS=(ingest api maintenance rollup)
ARCH="${ARCH:-arm64}"
export AWS_EC2_METADATA_DISABLED=true

if [ ! -x "$VENV/bin/cargo-lambda" ]; then
  echo "build: $VENV/bin/cargo-lambda is missing; run 'bash scripts/tools.sh' (or 'make build')" >&2
  exit 1
fi
# cargo-lambda finds zig through the venv's python (`python -m ziglang`).
export PATH="$VENV/bin:$PATH"

case "$ARCH" in
  arm64 | aarch64)
    ARCH=arm64
    TRIPLE=aarch64-unknown-linux-gnu
    if ! rustup target list --installed | grep -qx "$TRIPLE"; then
      echo "build: Rust target $TRIPLE is not installed; trying 'rustup target add $TRIPLE'"
      timeout 300 rustup target add "$TRIPLE" || true
    fi
    if ! rustup target list --installed | grep -qx "$TRIPLE"; then
      echo "build: *** arm64 needs the Rust target $TRIPLE, which could not be installed here." >&2
      echo "build: *** building x86_64 instead: deploy it with --parameter-overrides Architecture=x86_64" >&2
      ARCH=x86_64
    fi
    ;;
  x86_64 | x86-64 | amd64) ARCH=x86_64 ;;
  *)
    echo "build: ARCH must be arm64 or x86_64, got '$ARCH'" >&2
    exit 2
    ;;
esac
case "$ARCH" in
  arm64) ARCH_FLAG=--arm64 ;;
  x86_64) ARCH_FLAG=--x86-64 ;;
esac

BIN_FLAGS=()
for fn in "${FUNCTIONS[@]}"; do BIN_FLAGS+=(--bin "$fn"); done
CMD=(cargo-lambda lambda build --release "$ARCH_FLAG" "${BIN_FLAGS[@]}")
echo "build: ${CMD[*]}  (release profile: $(sed -n '/^\[profile.release\]/,/^\[/p' Cargo.toml | grep -E '^[a-z-]+ *=' | tr -s ' ' | paste -sd ',' -))"
start=$(date +%s)
# The machine's cores are shared: every cargo run takes the shared lock.
flock /tmp/cargo.lock "${CMD[@]}"
echo "build: finished in $(($(date +%s) - start)) s"

printf '%-8s %-7s %15s %15s  %s\n' function arch bootstrap_bytes zip_bytes zip
for fn in "${FUNCTIONS[@]}"; do
  bootstrap="target/lambda/$fn/bootstrap"
  [ -f "$bootstrap" ] || { echo "build: $bootstrap was not produced" >&2; exit 1; }
  if command -v file >/dev/null; then
    case "$ARCH:$(file -b "$bootstrap")" in
      arm64:*aarch64* | x86_64:*x86-64*) ;;
      *) echo "build: $bootstrap is not an $ARCH binary: $(file -b "$bootstrap")" >&2; exit 1 ;;
    esac
  fi
  zip="target/lambda/$fn-$ARCH.zip"
  # Deterministic zip (fixed timestamp), keeping the executable bit Lambda needs.
  "$VENV/bin/python" - "$bootstrap" "$zip" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = (0o100755 << 16)
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
PY
  printf '%-8s %-7s %15s %15s  %s\n' "$fn" "$ARCH" "$(stat -c %s "$bootstrap")" "$(stat -c %s "$zip")" "$zip"
done
