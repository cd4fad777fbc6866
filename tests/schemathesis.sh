#!/usr/bin/env bash
# Property-based API test: Schemathesis (from PyPI, pinned, in ./.venv-st)
# against the committed OpenAPI document `openapi/ferry.json`, with every
# check (`--checks all`) over every operation, on a real `ferry all-in-one`
# (SQLite, a temporary data dir, a free port, a fresh admin key). Fails on
# any failure: the schema and the service must agree both ways (a request the
# schema allows is accepted, one it forbids is refused, answers match their
# declared status, content type, headers and body schema, never a 5xx).
#
# Usage: bash tests/schemathesis.sh [extra schemathesis options]
#   ST_MAX_EXAMPLES (default 50) cases per operation and phase,
#   ST_SEED (default 20261122) for a reproducible run,
#   FERRY_BIN (default target/debug/ferry, built by `make test`).
# Stateless (examples, coverage, fuzzing phases): stateful chains over the
# API's links are not required.
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION="4.32.5"
VENV=".venv-st"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-50}"
SEED="${ST_SEED:-20261122}"
FERRY_BIN="${FERRY_BIN:-target/debug/ferry}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  if command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq && $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    echo "schemathesis.sh: please install $* (no apt-get here)" >&2
    exit 1
  fi
}

command -v curl >/dev/null || apt_install curl
if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  echo "schemathesis.sh: installing schemathesis==$ST_VERSION into $VENV"
  command -v python3 >/dev/null || apt_install python3
  python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

[ -x "$FERRY_BIN" ] || cargo build -p ferry --bin ferry

DATA="$(mktemp -d "${TMPDIR:-/tmp}/ferry-st.XXXXXX")"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
KEY="fry_st_$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
REPORT="${ST_REPORT_DIR:-$DATA/report}"
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${ST_KEEP:-0}" = 1 ]; then
    echo "schemathesis.sh: kept $DATA"
  else
    rm -rf "$DATA"
  fi
}
trap cleanup EXIT

echo "schemathesis.sh: ferry all-in-one on 127.0.0.1:$PORT (data: $DATA)"
FERRY_BIND="127.0.0.1:$PORT" \
  FERRY_DATA_DIR="$DATA" \
  FERRY_BOOTSTRAP_ADMIN_KEY="$KEY" \
  FERRY_LOG="warn" \
  FERRY_SOURCE_PROBE_TIMEOUT_SECS=1 \
  "$FERRY_BIN" all-in-one >"$DATA/ferry.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA/ferry.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz"

status=0
"$VENV/bin/schemathesis" --config-file tests/schemathesis.toml run openapi/ferry.json \
  --url "http://127.0.0.1:$PORT" \
  --header "Authorization: Bearer $KEY" \
  --checks all \
  --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --workers 1 \
  --request-timeout 10 \
  --no-color \
  --generation-database none \
  --report junit,ndjson \
  --report-dir "$REPORT" \
  "$@" || status=$?

if [ "$status" -ne 0 ]; then
  echo "schemathesis.sh: FAILED (exit $status); server log: $DATA/ferry.log" >&2
  ST_KEEP=1
  grep -iE "panic|error" "$DATA/ferry.log" | tail -n 20 >&2 || true
fi
exit "$status"
