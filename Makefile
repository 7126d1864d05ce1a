# The two commands a newcomer needs: `make local` and `make test`. Both install their pinned
# tools into .tools/ first.
SHELL := /bin/bash
export AWS_EC2_METADATA_DISABLED := true
export AWS_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= local
export AWS_SECRET_ACCESS_KEY ?= local
export CARGO_TERM_COLOR ?= never

.PHONY: tools local test lint unit local-smoke build

tools:
	bash scripts/tools.sh

local: tools
	bash scripts/local.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	cargo test --workspace

local-smoke:
	bash scripts/local-smoke.sh

test: tools lint unit local-smoke

build: tools
	bash scripts/build.sh
