# Ferry — the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run build test services lint fmt openapi clean bench

## Start the embedded all-in-one server (SQLite + local files under ./data).
run:
	$(CARGO) run --release -p ferry -- all-in-one

build:
	$(CARGO) build --workspace --release

## Every test, on both run modes (SQLite+apalis-sqlite and PostgreSQL+Redis).
test: services
	$(CARGO) build -p ferry --bin ferry
	$(CARGO) test --workspace --all-targets --no-fail-fast

## Start PostgreSQL, Redis and an S3 server (moto) on 127.0.0.1 if they are down.
services:
	@bash tests/services.sh
	@bash tests/s3-server.sh

## CSV import benchmark (issue 3): the real release server on SQLite and on
## PostgreSQL+Redis; prints the table and writes bench/results/csv.md.
## Options: make bench BENCH_ARGS="--rows 1000000 --small 100000 --skip-pg"
BENCH_ARGS ?= --rows 1000000 --small 100000
bench:
	@if [[ "$(BENCH_ARGS)" != *--skip-pg* ]]; then bash tests/services.sh; fi
	$(CARGO) build --release -p ferry --bin ferry
	$(CARGO) run --release -p ferry-bench -- $(BENCH_ARGS)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Regenerate the committed OpenAPI document.
openapi:
	$(CARGO) run -q -p ferry -- openapi > openapi/ferry.json

clean:
	$(CARGO) clean
	rm -rf data
