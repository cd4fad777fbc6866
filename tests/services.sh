#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis the production-mode tests use are up on
# 127.0.0.1, installing and starting them when a machine lacks them. Also
# drops test databases left by earlier runs (tests create one per test).
set -euo pipefail

PG_URL="${FERRY_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  if command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq && $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    echo "services.sh: please install $* (no apt-get here)" >&2
    exit 1
  fi
}

command -v redis-server >/dev/null || apt_install redis-server
command -v psql >/dev/null || apt_install postgresql postgresql-client

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "services.sh: starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "services.sh: starting postgresql"
  version="$(ls /etc/postgresql | sort -V | tail -n1)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi

for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
  sleep 0.2
done
pg_isready -h 127.0.0.1 -p 5432
redis-cli -h 127.0.0.1 ping

# Old per-test databases: dropped so a long-lived machine does not fill up.
psql "$PG_URL/postgres" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'ferry\_t\_%'" |
  while read -r db; do
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true
  done
# Old per-test Redis namespaces.
redis-cli -h 127.0.0.1 --scan --pattern 'ferry-test-*' | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null
redis-cli -h 127.0.0.1 --scan --pattern 'ferry-proc-*' | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null
