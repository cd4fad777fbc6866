# Ferry — the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run build test services lint fmt openapi clean

## Start the embedded all-in-one server (SQLite + local files under ./data).
run:
	$(CARGO) run --release -p ferry -- all-in-one

build:
	$(CARGO) build --workspace --release

## Every test, on both run modes (SQLite+apalis-sqlite and PostgreSQL+Redis).
test: services
	$(CARGO) build -p ferry --bin ferry
	$(CARGO) test --workspace --all-targets --no-fail-fast

## Start PostgreSQL and Redis on 127.0.0.1 if they are down.
services:
	@bash tests/services.sh

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
