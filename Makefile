# Ferry — the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run build test services lint fmt openapi clean bench fuzz

## Start the embedded all-in-one server (SQLite + local files under ./data).
run:
	$(CARGO) run --release -p ferry -- all-in-one

build:
	$(CARGO) build --workspace --release

## Every test, on both run modes (SQLite+apalis-sqlite and PostgreSQL+Redis),
## then Schemathesis against openapi/ferry.json on a real server and a short
## fuzz run of the upload parsers (FUZZ_SHORT_SECONDS per target). First, the
## static checks of deploy/ (hadolint, kubernetes-validate, the kustomization,
## the Compose schema; tests/deploy-check.sh) and the check that no two
## source files of a crate depend on each other (tests/module-cycles.py).
FUZZ_SHORT_SECONDS ?= 20
test: services
	@bash tests/browser.sh
	bash tests/deploy-check.sh
	python3 tests/module-cycles.py
	$(CARGO) build -p ferry --bin ferry
	$(CARGO) test --workspace --all-targets --no-fail-fast
	bash tests/schemathesis.sh
	bash fuzz/run.sh $(FUZZ_SHORT_SECONDS)

## Longer fuzz run of the CSV import, roster and manifest parsers
## (cargo-fuzz on stable via RUSTC_BOOTSTRAP; FUZZ_SECONDS per target).
FUZZ_SECONDS ?= 300
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

## Start PostgreSQL, Redis and an S3 server (moto) on 127.0.0.1 if they are down.
services:
	@bash tests/services.sh
	@bash tests/s3-server.sh

## Benchmarks against the real release server; each prints its table and
## writes bench/results/<name>.md: csv (issue 3), transfer vs cp/rclone
## (issue 4), load: job polling vs /healthz with oha (issue 5, 7a), queue:
## apalis-redis vs a Redis list (issue 5, 7b), cutover: the freeze window
## after a pre-copy vs a full upload (issue 15). bench/tools.sh installs
## rclone (apt) and oha (bench/.tools) if missing.
## Options: make bench BENCH_ARGS="--rows 1000000 --small 100000 --skip-pg"
##   BENCH_TRANSFER_ARGS="--scale 0.05" BENCH_LOAD_ARGS="--secs 5"
##   BENCH_QUEUE_ARGS="--jobs 2000" BENCH_ONLY="csv transfer load queue"
BENCH_ARGS ?= --rows 1000000 --small 100000
BENCH_TRANSFER_ARGS ?=
BENCH_LOAD_ARGS ?=
BENCH_QUEUE_ARGS ?=
BENCH_CUTOVER_ARGS ?=
BENCH_ONLY ?= csv transfer load queue cutover
bench:
	bash tests/services.sh
	bash bench/tools.sh
	$(CARGO) build --release -p ferry --bin ferry
	$(CARGO) build --release -p ferry-bench
	@for s in $(BENCH_ONLY); do case $$s in \
	  csv) args='$(BENCH_ARGS)';; transfer) args='$(BENCH_TRANSFER_ARGS)';; \
	  load) args='$(BENCH_LOAD_ARGS)';; queue) args='$(BENCH_QUEUE_ARGS)';; \
	  cutover) args='$(BENCH_CUTOVER_ARGS)';; \
	  *) echo "unknown benchmark $$s" >&2; exit 2;; esac; \
	  echo "== ferry-bench $$s $$args" >&2; \
	  target/release/ferry-bench $$s $$args || exit 1; done

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
