#!/usr/bin/env bash
# Makes sure an S3-protocol server (moto in server mode, from PyPI) is up on
# 127.0.0.1:${FERRY_TEST_S3_PORT:-9090} for `tests/tests/integration/s3.rs`. Idempotent:
# installs moto into ./.venv-s3 only when it is not there, starts it only
# when nothing answers on the port.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${FERRY_TEST_S3_PORT:-9090}"
VENV=".venv-s3"
LOG="${TMPDIR:-/tmp}/ferry-moto-${PORT}.log"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  if command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq && $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    echo "s3-server.sh: please install $* (no apt-get here)" >&2
    exit 1
  fi
}

command -v curl >/dev/null || apt_install curl

answers() {
  # moto answers ListBuckets without a signature check.
  curl -fsS -o /dev/null "http://127.0.0.1:${PORT}/" 2>/dev/null
}

if answers; then
  echo "s3-server.sh: S3 server already answering on 127.0.0.1:${PORT}"
  exit 0
fi

if [ ! -x "$VENV/bin/moto_server" ]; then
  echo "s3-server.sh: installing moto[server] into $VENV"
  command -v python3 >/dev/null || apt_install python3
  python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q --disable-pip-version-check 'moto[server]'
fi

echo "s3-server.sh: starting moto on 127.0.0.1:${PORT} (log: $LOG)"
nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
for _ in $(seq 1 100); do
  answers && { echo "s3-server.sh: S3 server up"; exit 0; }
  sleep 0.1
done
echo "s3-server.sh: moto did not answer on port ${PORT}; see $LOG" >&2
exit 1
