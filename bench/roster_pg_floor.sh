#!/usr/bin/env bash
# What writing 1,010,000 roster users costs PostgreSQL alone, without Ferry:
# the floor under issue 16's "roster upload ≤ 20× the raw parse" target.
#
# The rows are generated once (python3), in batches of 10,000 as the upload
# writes them, and loaded by psql in one transaction per variant, each into
# a fresh table of a scratch database:
#   json   the upload's statement today: json_to_recordset of a batch into
#          the wide roster_users table with its three indexes
#   copy   COPY of the same rows into the same table (what sqlx's `Any`
#          driver cannot send: it needs the PgConnection underneath)
#   narrow COPY of (migration, user id, seq, active) with its primary key
#          only: the smallest per-user index an import's lookups by id need
#   heap   the same narrow rows without any index
# Compare the figures with the raw parse of the roster in the same sitting
# (`ferry-bench csv --in-process-only`, row "Raw parse of the roster CSV").
#
# Usage: bash bench/roster_pg_floor.sh [users]   (PostgreSQL at FERRY_BENCH_PG,
# default postgres://postgres@127.0.0.1:5432; the server must read /tmp)
set -euo pipefail
users=${1:-1010000}
pg=${FERRY_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
dir=$(mktemp -d /tmp/ferry-pg-floor.XXXXXX)
db=ferry_pg_floor_$$
trap 'rm -rf "$dir"; psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
chmod 755 "$dir"

python3 - "$dir" "$users" <<'EOF'
import json, sys
out, users = sys.argv[1], int(sys.argv[2])
for k in range(0, users, 10000):
    rows = []
    for i in range(k, min(k + 10000, users)):
        rows.append({"seq": i, "user_id": f"user{i:07d}", "full_name": f"Person Number {i}",
                     "emails": json.dumps([f"user{i}@example.com"]), "user_group": "Sales",
                     "position": "Agent", "is_admin": 0, "old_license": "Professional",
                     "old_addons": json.dumps(["Mail"]), "on_travel": 0,
                     "active": 0 if i % 10 == 0 else 1})
    n = k // 10000
    with open(f"{out}/{n:05d}.json", "w") as f:
        json.dump(rows, f)
    with open(f"{out}/{n:05d}.tsv", "w") as f, open(f"{out}/{n:05d}.narrow", "w") as g:
        for r in rows:
            f.write("\t".join(["m1", str(r["seq"]), r["user_id"], r["full_name"], r["emails"],
                               r["user_group"], r["position"], "0", r["old_license"],
                               r["old_addons"], "0", str(r["active"])]) + "\n")
            g.write(f"m1\t{r['seq']}\t{r['user_id']}\t{r['active']}\n")
EOF
chmod 644 "$dir"/*

psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
run() { # name, table DDL, statement per batch file (%F = file)
  psql "$pg/$db" -qc "SET client_min_messages = warning; DROP TABLE IF EXISTS t; $2" >/dev/null
  {
    echo "BEGIN;"
    for f in "$dir"/*."$3"; do echo "${4//%F/$f}"; done
    echo "COMMIT;"
  } > "$dir/load.sql"
  local start end
  start=$(date +%s.%N)
  psql "$pg/$db" -q -f "$dir/load.sql" >/dev/null
  end=$(date +%s.%N)
  printf '%-7s %6.2f s\n' "$1" "$(echo "$end - $start" | bc)"
}
wide='CREATE TABLE t (migration_id TEXT NOT NULL, seq BIGINT NOT NULL, user_id TEXT NOT NULL,
  full_name TEXT NOT NULL, emails TEXT NOT NULL, user_group TEXT NOT NULL, position TEXT NOT NULL,
  is_admin BIGINT NOT NULL, old_license TEXT, old_addons TEXT NOT NULL, on_travel BIGINT NOT NULL,
  active BIGINT NOT NULL, PRIMARY KEY (migration_id, user_id));
  CREATE INDEX t_seq ON t (migration_id, seq);
  CREATE INDEX t_inactive ON t (migration_id, seq) WHERE active = 0;'
cols='seq bigint, user_id text, full_name text, emails text, user_group text, position text,
  is_admin bigint, old_license text, old_addons text, on_travel bigint, active bigint'
narrow='CREATE TABLE t (migration_id TEXT NOT NULL, seq BIGINT NOT NULL, user_id TEXT NOT NULL,
  active BIGINT NOT NULL'
echo "$users users, batches of 10,000, one transaction each ($(psql "$pg/postgres" -Atc 'SHOW server_version'))"
run json "$wide" json "INSERT INTO t SELECT 'm1', * FROM json_to_recordset(pg_read_file('%F')::json) AS r($cols) ON CONFLICT DO NOTHING;"
run copy "$wide" tsv "COPY t FROM '%F';"
run narrow "$narrow, PRIMARY KEY (migration_id, user_id));" narrow "COPY t FROM '%F';"
run heap "$narrow);" narrow "COPY t FROM '%F';"
