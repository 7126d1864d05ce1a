# The two commands a newcomer needs: `make local` and `make test`. Both install their pinned
# tools into .tools/ first.
SHELL := /bin/bash
export AWS_EC2_METADATA_DISABLED := true
export AWS_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= local
export AWS_SECRET_ACCESS_KEY ?= local
export CARGO_TERM_COLOR ?= never

.PHONY: tools local test lint unit schema-check local-smoke build build-functions
# Two cores: the steps (each a cargo build or a stack) run one at a time even under `make -j`.
.NOTPARALLEL:

tools:
	bash scripts/tools.sh

local: tools
	bash scripts/local.sh

# --locked: a Cargo.toml change the committed Cargo.lock does not match fails here, rather than
# being resolved afresh (to the newest crates of the day) on a fresh clone.
# check-modules.py: no import cycle between modules, and no AWS crate under the domain and HTTP
# crates (see the script's doc).
lint: tools
	cargo fmt --all --check
	cargo fmt --all --check --manifest-path fuzz/Cargo.toml
	cargo clippy --locked --workspace --all-targets -- -D warnings
	python3 scripts/check-modules.py

unit: tools
	cargo test --locked --workspace

local-smoke: tools
	bash scripts/local-smoke.sh

schema-check: tools
	.tools/venv/bin/python scripts/check-schema.py
	.tools/venv/bin/openapi-spec-validator infra/openapi.yaml

test: tools infra-check lint unit fuzz-ci schemathesis schema-check local-smoke

# The functions' deployable packages, then the scanfail CLI for Linux x86_64 and arm64.
build: build-functions
	bash scripts/build-cli.sh

build-functions: tools
	bash scripts/build.sh

.PHONY: docs
# The reference book: docs/src → docs/book/index.html (mdBook, pinned in .tools/).
docs: tools
	.tools/cargo/bin/mdbook build docs

.PHONY: infra-check
# cfn-lint and sam validate of infra/template.yaml (tests/tests/template.rs runs in `unit`).
infra-check: tools
	bash scripts/infra-check.sh


# Fuzzing and contract tests (RELIABILITY.md). `fuzz`: each cargo-fuzz target for FUZZ_SECONDS
# (default 60) on nightly; `fuzz-ci`: the bounded form `make test` runs (a fixed seed and number
# of executions per target from the committed seeds and crash inputs, 20-121 s each by machine),
# failing with the install command when nightly or cargo-fuzz is missing; `schemathesis`: the
# API against infra/openapi.yaml on its own local stack.
.PHONY: fuzz fuzz-ci schemathesis

fuzz: tools
	bash scripts/fuzz.sh run

fuzz-ci: tools
	bash scripts/fuzz.sh ci

schemathesis: tools
	bash scripts/schemathesis.sh

# Benchmarks (BENCHMARKS.md); `make test` never runs them. `bench`: every benchmark (~10 min here,
# release build under the shared cargo lock), writing bench/results.json and the results tables
# of BENCHMARKS.md; `bench-check`: the last results against bench/budgets.toml (non-zero past a
# strict budget), and the check's own self-test.
.PHONY: bench bench-check profile

# `build` first: the size budget is read from the deployable arm64 packages it writes.
bench: tools build-functions
	bash scripts/tools.sh bench
	bash scripts/bench.sh

bench-check:
	python3 scripts/bench-check.py --self-test
	python3 scripts/bench-check.py

# Where the functions' CPU goes: perf over one round of `bench process-cpu` (scripts/profile.sh).
profile: tools
	bash scripts/tools.sh bench
	bash scripts/profile.sh
