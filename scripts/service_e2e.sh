#!/usr/bin/env bash
# End-to-end check of the heimdall-server binary (crates/heimdall-server) on real services: SeaweedFS (S3) and PostgreSQL.
# Called by scripts/test.sh after `eval "$(scripts/s3.sh env)"`, with HEIMDALL_TEST_DATABASE_URL set:
#   1. start the service (--realtime) on a random S3 prefix and a fresh PostgreSQL database;
#   2. submit an acquisition with curl, follow its Server-Sent Events to `session_finished`,
#      check the status (SUCCESS, 3 measurements), the measurement rows and the S3 manifest;
#      list the session's objects over HTTP and download one (SHA-256 as in the manifest);
#   3. submit a long one, cancel it once samples flow: CANCELLED, no object in S3, no row;
#   4. stop with SIGTERM (exit 0), restart: both statuses now come from the database
#      (SUCCESS, and CANCELLED from its session record);
#   5. /health is 200 with both backends ok; without a token the API is 401 (health stays open),
#      a text/plain body is 415;
#   6. scale-out: the service with --queue (a private NATS namespace on 127.0.0.1:4222) and one
#      worker process: submit, follow the events from the queue to `session_finished`, SUCCESS
#      with 3 measurements, also on the old status route.
# Fails loudly (non-zero exit, message on stderr) on any error. HEIMDALL_E2E_KEEP=1 keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
: "${HEIMDALL_TEST_S3_URL:?run through scripts/test.sh (needs the SeaweedFS env of scripts/s3.sh env)}"
: "${HEIMDALL_TEST_DATABASE_URL:?run through scripts/test.sh (needs HEIMDALL_TEST_DATABASE_URL)}"
py="${HEIMDALL_PYTHON:-$root/.venv/bin/python}"
tag="svc$(date +%s)$$"
prefix="$HEIMDALL_TEST_S3_URL/$tag"
pgbase="${HEIMDALL_TEST_DATABASE_URL%/*}"
db="heimdall_${tag}"
work=$(mktemp -d)
pid=""
wpid=""
# API token for the service (it refuses to start without one unless --no-auth).
token=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
auth=(-H "authorization: Bearer $token")
queue_url="${HEIMDALL_TEST_NATS_URL:-nats://127.0.0.1:4222}"

fail() {
  echo "service e2e FAILED: $*" >&2
  if [ -f "$work/service.log" ]; then
    echo "--- service log (last 40 lines) ---" >&2
    tail -n 40 "$work/service.log" >&2 || true
  fi
  exit 1
}
stop_service() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    pid=""
    [ "$rc" -eq 0 ] || fail "the service exited with $rc after SIGTERM"
  fi
}
cleanup() {
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  if [ -n "$wpid" ]; then kill -KILL "$wpid" 2>/dev/null || true; fi
  psql -q "$HEIMDALL_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  if [ -x "$py" ] && [ -z "${HEIMDALL_E2E_KEEP:-}" ]; then
    "$py" - "$tag" <<'PY' >/dev/null 2>&1 || true
import os, sys, boto3
bucket = os.environ["HEIMDALL_TEST_S3_URL"][len("s3://"):].split("/")[0]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name=os.environ["AWS_REGION"])
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=sys.argv[1] + "/"):
    for o in page.get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=o["Key"])
PY
  fi
  if [ -n "${HEIMDALL_E2E_KEEP:-}" ]; then echo "service e2e: work dir $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# json EXPR: evaluates a Python expression over the JSON document on stdin (as `d`).
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

start_service() {
  : >"$work/service.out"
  HEIMDALL_API_TOKENS="$token" "$root/target/debug/heimdall-server" --store "$prefix" --database "$pgbase/$db" \
    --listen 127.0.0.1:0 --realtime --shutdown-grace 5 "$@" >"$work/service.out" 2>>"$work/service.log" &
  pid=$!
  for _ in $(seq 1 300); do
    if grep -q '^listening on ' "$work/service.out"; then break; fi
    kill -0 "$pid" 2>/dev/null || fail "the service exited during startup"
    sleep 0.1
  done
  base=$(sed -n 's/^listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/service.out" | head -n1)
  [ -n "$base" ] || fail "the service did not report its address within 30 s"
  echo "service e2e: service at $base (store $prefix, database $pgbase/$db)"
}

# http METHOD PATH [BODY] -> sets $code (HTTP status) and $resp (body)
http() {
  local args=(-sS -o "$work/body" -w '%{http_code}' -X "$1" --max-time 60 "${auth[@]}")
  if [ $# -ge 3 ]; then args+=(-H 'content-type: application/json' --data "$3"); fi
  code=$(curl "${args[@]}" "$base$2") || fail "curl $1 $2 failed"
  resp=$(cat "$work/body")
}

psql -q "$HEIMDALL_TEST_DATABASE_URL" -c "CREATE DATABASE $db" || fail "cannot create database $db"
cargo build -q -p heimdall-server || fail "cannot build heimdall-server"
start_service

# 2. submit, follow events, read status and measurements.
http POST /api/v1/acquisitions '{"frequency_mhz": 145.5, "duration_seconds": 2, "websdrs": ["torino", "genova", "montanaro"]}'
sub=$resp
[ "$code" = 202 ] || fail "submit: HTTP $code: $sub"
s1=$(echo "$sub" | json 'd["session_id"]')
[ "$(echo "$sub" | json 'd["status"]')" = PENDING ] || fail "submit: $sub"
curl -sSN "${auth[@]}" --max-time 120 "$base/api/v1/acquisitions/$s1/events" >"$work/events1" || fail "event stream of $s1 failed"
last_event=$(grep '^event:' "$work/events1" | tail -n1)
[ "$last_event" = "event: session_finished" ] || fail "the event stream ended with '$last_event'"
grep -q '^event: stored' "$work/events1" || fail "no stored event"
http GET "/api/v1/acquisitions/$s1"
st=$resp
[ "$code" = 200 ] || fail "status: HTTP $code: $st"
[ "$(echo "$st" | json 'd["status"]')" = SUCCESS ] || fail "status is not SUCCESS: $st"
[ "$(echo "$st" | json 'd["measurements_collected"]')" = 3 ] || fail "measurements_collected: $st"
http GET "/api/v1/measurements?session=$s1"
rows=$resp
[ "$(echo "$rows" | json 'len(d)')" = 3 ] || fail "expected 3 measurement rows: $rows"
echo "service e2e: session $s1 SUCCESS with 3 measurements"

# The archive over HTTP: list the session's objects, download one from S3 through the service.
http GET "/api/v1/acquisitions/$s1/objects"
[ "$code" = 200 ] || fail "objects: HTTP $code: $resp"
want=$(echo "$resp" | json '[o["sha256"] for o in d if o["name"] == "torino.npy"][0]') || fail "torino.npy not listed: $resp"
curl -sS "${auth[@]}" -o "$work/torino.npy" --max-time 60 "$base/api/v1/acquisitions/$s1/objects/torino.npy" || fail "download failed"
got=$(sha256sum "$work/torino.npy" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "downloaded torino.npy has SHA-256 $got, the manifest says $want"
echo "service e2e: torino.npy downloaded through the service from S3, SHA-256 as in the manifest"

s3_keys() {
  "$py" - "$tag" "$1" <<'PY'
import os, sys, boto3
tag, session = sys.argv[1:3]
bucket = os.environ["HEIMDALL_TEST_S3_URL"][len("s3://"):].split("/")[0]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name=os.environ["AWS_REGION"])
for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{tag}/sessions/{session}/").get("Contents", []):
    print(o["Key"])
PY
}
if [ -x "$py" ]; then
  keys=$(s3_keys "$s1") || fail "cannot list S3 objects of $s1"
  grep -q '/manifest.json$' <<<"$keys" || fail "no manifest of $s1 in S3: $keys"
else
  [ "${CI:-}" = true ] && fail "$py missing under CI=true (run scripts/s3.sh pyenv)"
  echo "service e2e: WARNING: $py missing, S3 listing skipped (run scripts/s3.sh pyenv)" >&2
fi

# 3. cancel a long acquisition once samples flow.
http POST /api/v1/acquisitions '{"frequency_mhz": 145.5, "duration_seconds": 120, "websdrs": ["torino", "coazze"]}'
sub=$resp
[ "$code" = 202 ] || fail "submit long: HTTP $code: $sub"
s2=$(echo "$sub" | json 'd["session_id"]')
curl -sSN "${auth[@]}" --max-time 60 "$base/api/v1/acquisitions/$s2/events" >"$work/events2" &
curl_pid=$!
for _ in $(seq 1 300); do
  if grep -q '^event: progress' "$work/events2"; then break; fi
  sleep 0.1
done
grep -q '^event: progress' "$work/events2" || fail "no progress event for $s2 within 30 s"
http DELETE "/api/v1/acquisitions/$s2"
del=$resp
[ "$code" = 200 ] || fail "cancel: HTTP $code: $del"
[ "$(echo "$del" | json 'd["status"]')" = CANCELLED ] || fail "cancel: $del"
wait "$curl_pid" || fail "the event stream of the cancelled session failed"
[ "$(grep '^event:' "$work/events2" | tail -n1)" = "event: session_finished" ] || fail "cancelled stream did not end with session_finished"
http GET "/api/v1/measurements?session=$s2"
rows=$resp
[ "$(echo "$rows" | json 'len(d)')" = 0 ] || fail "rows remain for the cancelled session: $rows"
if [ -x "$py" ]; then
  left=$(s3_keys "$s2") || fail "cannot list S3 objects of $s2"
  [ -z "$left" ] || fail "objects remain in S3 for the cancelled session: $left"
fi
echo "service e2e: session $s2 CANCELLED, nothing left behind"

# 4. SIGTERM, restart, status from the database.
stop_service
start_service
http GET "/api/v1/acquisitions/$s1"
st=$resp
[ "$code" = 200 ] || fail "status after restart: HTTP $code: $st"
[ "$(echo "$st" | json 'd["status"]')" = SUCCESS ] || fail "status after restart: $st"
[ "$(echo "$st" | json 'd["source"]')" = database ] || fail "status after restart is not from the database: $st"
http GET "/api/v1/acquisitions/$s2"
st=$resp
[ "$code" = 200 ] || fail "the cancelled session is unknown after a restart: HTTP $code: $st"
[ "$(echo "$st" | json 'd["status"]')" = CANCELLED ] || fail "cancelled session after restart: $st"
[ "$(echo "$st" | json 'd["source"]')" = database ] || fail "cancelled status after restart is not from the database: $st"

# 5. health.
http GET /health
h=$resp
[ "$code" = 200 ] || fail "health: HTTP $code: $h"
[ "$(echo "$h" | json 'd["store"]["ok"] and d["database"]["ok"]')" = True ] || fail "health: $h"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$base/health")
[ "$code" = 200 ] || fail "/health without a token: HTTP $code (must stay open)"
code=$(curl -sS -o "$work/body" -w '%{http_code}' "$base/api/v1/receivers")
[ "$code" = 401 ] || fail "the API without a token: HTTP $code, expected 401: $(cat "$work/body")"
code=$(curl -sS -o "$work/body" -w '%{http_code}' -H "authorization: Bearer wrong-$token" "$base/api/v1/receivers")
[ "$code" = 401 ] || fail "the API with a wrong token: HTTP $code, expected 401"
code=$(curl -sS -o "$work/body" -w '%{http_code}' "${auth[@]}" -H 'content-type: text/plain' \
  --data '{"frequency_mhz": 145.5, "duration_seconds": 1}' "$base/api/v1/acquisitions")
[ "$code" = 415 ] || fail "a text/plain body: HTTP $code, expected 415"
grep -q "$token" "$work/service.log" && fail "the service log contains the API token"
echo "service e2e: 401 without a valid token (health open), 415 for a text/plain body"
stop_service

# 6. scale-out: the service submits to NATS, a worker process runs the session.
ns="e2e$tag"
RUST_LOG=info "$root/target/debug/examples/worker" --queue "$queue_url" --queue-namespace "$ns" \
  --store "$prefix" --database "$pgbase/$db" --realtime --name e2e-worker >"$work/worker.log" 2>&1 &
wpid=$!
start_service --queue "$queue_url" --queue-namespace "$ns"
http POST /api/v1/acquisitions '{"frequency_mhz": 145.5, "duration_seconds": 2, "websdrs": ["torino", "genova", "montanaro"]}'
sub=$resp
[ "$code" = 202 ] || fail "queued submit: HTTP $code: $sub"
s3id=$(echo "$sub" | json 'd["session_id"]')
curl -sSN "${auth[@]}" --max-time 120 "$base/api/v1/acquisitions/$s3id/events" >"$work/events3" || fail "event stream of $s3id failed"
[ "$(grep '^event:' "$work/events3" | tail -n1)" = "event: session_finished" ] || fail "the queued session's events did not end with session_finished: $(tail -n 5 "$work/events3")"
grep -q '^event: job_started' "$work/events3" || fail "no job_started event from the queue"
for _ in $(seq 1 100); do
  http GET "/api/v1/acquisitions/$s3id"
  [ "$(echo "$resp" | json 'd["status"]')" = SUCCESS ] && break
  sleep 0.1
done
[ "$(echo "$resp" | json 'd["status"]')" = SUCCESS ] || fail "queued session status: $resp"
[ "$(echo "$resp" | json 'd["measurements_collected"]')" = 3 ] || fail "queued session measurements: $resp"
http GET "/api/v1/acquisition/status/$s3id"
[ "$(echo "$resp" | json 'd["status"]')" = SUCCESS ] || fail "old status route for the queued session: $resp"
http GET /health
[ "$(echo "$resp" | json 'd["queue"]["ok"]')" = True ] || fail "health with a queue: $resp"
grep -q "$s3id" "$work/worker.log" || fail "the worker log does not name the session it ran"
stop_service
kill -TERM "$wpid"; rc=0; wait "$wpid" || rc=$?; wpid=""
[ "$rc" = 0 ] || fail "the worker exited with $rc after SIGTERM: $(tail -n 20 "$work/worker.log")"
echo "service e2e: session $s3id queued on NATS, run by a worker process, SUCCESS with 3 measurements"
echo "service e2e: OK"
