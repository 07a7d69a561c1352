#!/usr/bin/env bash
# End-to-end check of the main job on a TimescaleDB server (the database part of scripts/e2e.sh),
# called by scripts/test.sh once per license mode with SeaweedFS env exported:
#   scripts/e2e_timescale.sh ADMIN_URL LICENSE      # LICENSE: timescale or apache
#   1. acquire -> S3 + a fresh database on that server: 7 rows, `measurements` is a hypertable,
#      and on the Community license the compression policy and the hourly aggregate exist;
#   2. query session / buckets / snr-stats read the rows back (buckets equal date_bin's answer);
#   3. reindex into a second, empty database: the same rows; reindex again: nothing inserted.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
admin="${1:?usage: $0 ADMIN_URL timescale|apache}"
license="${2:?usage: $0 ADMIN_URL timescale|apache}"
: "${HEIMDALL_TEST_S3_URL:?run through scripts/test.sh (needs SeaweedFS env)}"
py="$root/.venv/bin/python"
tag="e2ets$(date +%s)$$"
prefix="$HEIMDALL_TEST_S3_URL/$tag"
base="${admin%/*}"
db1="heimdall_${tag}_a"
db2="heimdall_${tag}_b"
work=$(mktemp -d)
cleanup() {
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db1 WITH (FORCE)" -c "DROP DATABASE IF EXISTS $db2 WITH (FORCE)" \
    >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "e2e ($license) FAILED: $*" >&2; exit 1; }

psql -q "$admin" -c "CREATE DATABASE $db1" -c "CREATE DATABASE $db2"
cargo build -q --examples
bin="$root/target/debug/examples"

echo "e2e ($license): acquire -> $prefix, TimescaleDB $base/$db1"
"$bin/acquire" --store "$prefix" --database "$base/$db1" --json --no-plot >"$work/report.json" 2>"$work/acquire.err" \
  || { cat "$work/acquire.err" >&2; fail "acquire exited with $?"; }
session=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$work/report.json")
q() { psql -qtA "$base/$db1" -c "$1"; }
[ "$(q "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'measurements'")" = 1 ] \
  || fail "measurements is not a hypertable"
jobs=$(q "SELECT count(*) FROM timescaledb_information.jobs WHERE hypertable_name = 'measurements'")
caggs=$(q "SELECT count(*) FROM timescaledb_information.continuous_aggregates")
if [ "$license" = timescale ]; then
  [ "$jobs" -ge 1 ] && [ "$caggs" = 1 ] || fail "Community license: $jobs policies, $caggs aggregates"
else
  [ "$jobs" = 0 ] && [ "$caggs" = 0 ] || fail "Apache license: $jobs policies, $caggs aggregates"
  grep -q "Apache license" "$work/acquire.err" || fail "no warning about the Apache license"
fi

"$bin/query" --database "$base/$db1" --json session "$session" >"$work/session.json"
"$bin/query" --database "$base/$db1" --json recent --limit 1000 >"$work/rows1.json"
"$bin/query" --database "$base/$db1" --json buckets --width 60 >"$work/buckets.json"
"$bin/query" --database "$base/$db1" --json snr-stats >"$work/stats.json"
psql -qtA "$base/$db1" -c "SELECT json_agg(t ORDER BY b, receiver_id) FROM (SELECT date_bin('60 seconds', captured_at, \
  TIMESTAMPTZ 'epoch') AS b, receiver_id, count(*) AS n FROM measurements GROUP BY 1, 2) t" >"$work/date_bin.json"

echo "e2e ($license): reindex into the empty $db2, twice"
"$bin/reindex" --store "$prefix" --database "$base/$db2" --json >"$work/re1.json"
"$bin/reindex" --store "$prefix" --database "$base/$db2" --json >"$work/re2.json"
"$bin/query" --database "$base/$db2" --json recent --limit 1000 >"$work/rows2.json"

"$py" - "$work" "$license" <<'PY'
import json, sys
work, license = sys.argv[1:3]
rows = json.load(open(f"{work}/session.json"))["measurements"]
assert len(rows) == 7, f"{len(rows)} rows"
buckets = json.load(open(f"{work}/buckets.json"))
ref = json.load(open(f"{work}/date_bin.json"))
assert [(b["receiver_id"], b["count"]) for b in buckets] == [(r["receiver_id"], r["n"]) for r in ref], (buckets, ref)
stats = json.load(open(f"{work}/stats.json"))
assert sum(s["count"] for s in stats) == sum(r["metrics"]["snr_db"] is not None for r in rows), stats
re1, re2 = json.load(open(f"{work}/re1.json")), json.load(open(f"{work}/re2.json"))
assert re1["inserted"] == 7 and re2["inserted"] == 0 and re2["duplicates"] == 7, (re1, re2)
key = lambda m: (m["session_id"], m["receiver_id"])
a = sorted(json.load(open(f"{work}/rows1.json")), key=key)
b = sorted(json.load(open(f"{work}/rows2.json")), key=key)
assert a == b, "reindexed rows differ from the original rows"
print(f"e2e ({license}): 7 rows in a hypertable; buckets equal date_bin's; reindex rebuilt them, then inserted nothing")
PY
echo "e2e ($license): passed"
