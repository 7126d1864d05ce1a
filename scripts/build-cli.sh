#!/usr/bin/env bash
# Release binaries of the `scanfail` CLI for Linux x86_64 and arm64 (`make build`), with
# cargo-lambda's zig cross-compilation (the tools venv's pinned ziglang).
#
#   CLI_ARCHES="x86_64 arm64" (default both) bash scripts/build-cli.sh
#
# Writes target/cli/scanfail-linux-<arch> and its .sha256, and prints their sizes. An arch
# whose Rust target cannot be installed fails the build, naming the rustup command.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/.tools/venv"
[ -x "$VENV/bin/cargo-lambda" ] || { echo "build-cli: $VENV/bin/cargo-lambda is missing; run 'bash scripts/tools.sh'" >&2; exit 1; }
export PATH="$VENV/bin:$PATH" AWS_EC2_METADATA_DISABLED=true
mkdir -p target/cli
for arch in ${CLI_ARCHES:-x86_64 arm64}; do
  case "$arch" in
    x86_64) triple=x86_64-unknown-linux-gnu flag=--x86-64 magic=x86-64 ;;
    arm64) triple=aarch64-unknown-linux-gnu flag=--arm64 magic=aarch64 ;;
    *) echo "build-cli: CLI_ARCHES takes x86_64 and arm64, got '$arch'" >&2; exit 2 ;;
  esac
  if ! rustup target list --installed | grep -qx "$triple"; then
    timeout 300 rustup target add "$triple" ||
      { echo "build-cli: the Rust target $triple is missing: rustup target add $triple" >&2; exit 1; }
  fi
  start=$(date +%s)
  flock /tmp/cargo.lock cargo-lambda lambda build --release "$flag" --bin scanfail
  out="target/cli/scanfail-linux-$arch"
  cp "target/lambda/scanfail/bootstrap" "$out"
  if command -v file >/dev/null && ! file -b "$out" | grep -q "$magic"; then
    echo "build-cli: $out is not an $arch binary: $(file -b "$out")" >&2; exit 1
  fi
  (cd target/cli && sha256sum "$(basename "$out")" >"$(basename "$out").sha256")
  printf 'build-cli: %-28s %10s bytes in %s s\n' "$out" "$(stat -c %s "$out")" "$(($(date +%s) - start))"
done
