#!/usr/bin/env bash
# Chaos check of the scale-out path (run by scripts/test.sh; needs the S3 server it started):
#   a private NATS (JetStream, file store), the SeaweedFS of scripts/s3.sh under a fresh prefix,
#   a fresh PostgreSQL database; 3 worker processes; 30 sessions submitted (simulated, real
#   time, 3 s each); one worker `kill -9`ed twice mid-capture and restarted; NATS killed and
#   restarted once mid-run. Then it checks:
#   - exactly 30 committed sessions, exactly 7 x 30 measurement rows;
#   - every manifest's objects read back with their size and SHA-256 (gc --verify);
#   - no row without a committed manifest;
#   - gc lists the crashed attempts' leftovers, removes exactly what it lists, finds nothing
#     afterwards, and the 30 sessions still verify.
# Environment: HEIMDALL_TEST_S3_URL and AWS_* (from scripts/s3.sh env), HEIMDALL_TEST_DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

SESSIONS="${CHAOS_SESSIONS:-30}"
WORKERS=3
: "${HEIMDALL_TEST_S3_URL:?run through scripts/test.sh (or eval \"\$(scripts/s3.sh env)\")}"
: "${HEIMDALL_TEST_DATABASE_URL:?run through scripts/test.sh}"
command -v nats-server >/dev/null || { echo "chaos: nats-server not found" >&2; exit 1; }

state="$root/.tmp/chaos/$$"
mkdir -p "$state"
port=$((20000 + RANDOM % 9000))
nats_url="nats://127.0.0.1:$port"
prefix="chaos-$(date +%s)-$RANDOM"
store="$HEIMDALL_TEST_S3_URL/$prefix"
db="heimdall_chaos_$RANDOM$RANDOM"
pgbase="${HEIMDALL_TEST_DATABASE_URL%/*}"
database="$pgbase/$db"
# Simulated receivers at 400 kS/s: 9.6 MB per receiver per session, so that captures are
# multipart uploads (5 MiB parts) and a kill mid-capture leaves incomplete uploads behind.
common=(--queue "$nats_url" --queue-namespace chaos --ack-wait 6 --max-deliver 10)
worker_args=("${common[@]}" --store "$store" --store-option part_size=5242880 --database "$database"
    --format npy --realtime --sample-rate 400000 --drain-timeout 5)

log() { echo "chaos: $*" >&2; }
nats_pid=""
declare -a wpid
cleanup() {
    for p in "${wpid[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
    [ -n "$nats_pid" ] && kill -9 "$nats_pid" 2>/dev/null || true
    psql -q "$HEIMDALL_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

start_nats() {
    nats-server -js -a 127.0.0.1 -p "$port" -sd "$state/nats" >>"$state/nats.log" 2>&1 &
    nats_pid=$!
    for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    log "nats-server did not start"; tail "$state/nats.log" >&2; exit 1
}
start_worker() {
    local i=$1
    RUST_LOG=info target/debug/examples/worker "${worker_args[@]}" --name "w$i" \
        >>"$state/worker$i.log" 2>&1 &
    wpid[$i]=$!
}
committed() {
    psql -tAq "$database" -c "SELECT count(*) FROM sessions WHERE committed AND status IN ('success','partial')"
}

log "building worker, acquire and gc"
cargo build -q --example worker --example acquire --example gc
psql -q "$HEIMDALL_TEST_DATABASE_URL" -c "CREATE DATABASE $db"
start_nats
log "NATS on $port, archive $store, database $db, state $state"
# The first worker creates the queue's stream and consumer; the others find them.
start_worker 1
sleep 1
for i in $(seq 2 $WORKERS); do start_worker "$i"; done

log "submitting $SESSIONS sessions of 3 s"
for _ in $(seq 1 "$SESSIONS"); do
    target/debug/examples/acquire "${common[@]}" --duration 3 --detach >>"$state/ids" 2>>"$state/submit.log"
done
[ "$(sort -u "$state/ids" | wc -l)" -eq "$SESSIONS" ] || { log "submission failed"; cat "$state/submit.log" >&2; exit 1; }

# Worker 1 dies twice mid-capture (kill -9: no ack, no abort, uploads left open).
for round in 1 2; do
    sleep 4
    log "kill -9 worker 1 (round $round)"
    kill -9 "${wpid[1]}" 2>/dev/null || true
    wait "${wpid[1]}" 2>/dev/null || true
    sleep 1
    start_worker 1
done
# NATS dies and comes back on the same store.
sleep 3
log "kill -9 nats-server"
kill -9 "$nats_pid"; wait "$nats_pid" 2>/dev/null || true
sleep 2
start_nats
log "nats-server restarted"

deadline=$((SECONDS + 300))
while :; do
    n=$(committed || echo 0)
    [ "$n" -ge "$SESSIONS" ] && break
    if [ $SECONDS -ge $deadline ]; then
        log "only $n of $SESSIONS sessions committed after 300 s"; tail -n 30 "$state"/worker*.log >&2; exit 1
    fi
    sleep 2
done
log "all $SESSIONS sessions committed after ${SECONDS} s; stopping workers (SIGTERM)"
for i in $(seq 1 $WORKERS); do kill -TERM "${wpid[$i]}" 2>/dev/null || true; done
for i in $(seq 1 $WORKERS); do wait "${wpid[$i]}" 2>/dev/null || true; wpid[$i]=""; done

fail() { log "FAILED: $*"; exit 1; }
sessions=$(psql -tAq "$database" -c "SELECT count(*) FROM sessions WHERE committed")
rows=$(psql -tAq "$database" -c "SELECT count(*) FROM measurements")
dupes=$(psql -tAq "$database" -c "SELECT count(*) FROM (SELECT session_id, receiver_id FROM measurements GROUP BY 1, 2 HAVING count(*) > 1) d")
log "committed sessions: $sessions, rows: $rows, duplicated (session, receiver): $dupes"
[ "$sessions" -eq "$SESSIONS" ] || fail "$sessions committed sessions, expected $SESSIONS"
[ "$rows" -eq $((7 * SESSIONS)) ] || fail "$rows rows, expected $((7 * SESSIONS))"
[ "$dupes" -eq 0 ] || fail "duplicated rows"
for id in $(sort -u "$state/ids"); do
    [ "$(psql -tAq "$database" -c "SELECT count(*) FROM measurements WHERE session_id = '$id'")" -eq 7 ] \
        || fail "session $id does not have 7 rows"
done

gc=(target/debug/examples/gc --store "$store" --store-option part_size=5242880 --database "$database")
verify=$("${gc[@]}" --verify) || fail "gc --verify: $verify"
log "verified: $verify"
echo "$verify" | grep -q "\"sessions\":$SESSIONS," || fail "the archive lists other than $SESSIONS committed sessions"
echo "$verify" | grep -q '"problems":\[\]' || fail "problems: $verify"

sleep 2
listed=$("${gc[@]}" --grace 1 --json)
echo "$listed" >"$state/gc-listed.json"
python3 - "$state/gc-listed.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
kinds = {}
for i in r["archive"]["items"]:
    kinds[i["kind"]] = kinds.get(i["kind"], 0) + 1
print("chaos: gc lists", kinds, "orphan row sessions:", len(r["orphan_rows"]), file=sys.stderr)
assert not r["orphan_rows"], "rows without a committed manifest"
assert r["archive"]["committed_sessions"] >= 1
EOF
removed=$("${gc[@]}" --grace 1 --json --delete)
python3 - "$state/gc-listed.json" <<EOF
import json, sys
listed = json.load(open(sys.argv[1]))["archive"]["items"]
removed = json.loads('''$removed''')["archive"]["items"]
key = lambda i: (i["kind"], i["key"])
assert sorted(map(key, listed)) == sorted(map(key, removed)), "gc removed other than what it listed"
EOF
"${gc[@]}" --grace 1 --check >/dev/null || fail "gc still finds leftovers after removing them"
verify=$("${gc[@]}" --verify) || fail "after gc: $verify"
echo "$verify" | grep -q "\"sessions\":$SESSIONS," || fail "gc changed the committed sessions: $verify"
log "ok: $SESSIONS sessions exactly once through 2 worker kills and a broker restart; gc clean"
