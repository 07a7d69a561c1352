#!/usr/bin/env bash
# Hostile-input probes against the example programs, each run as a user would type it: every
# one must end with a typed error (exit 1, a message naming the limit), never a panic (exit
# 101), and no planted secret may appear in anything a program prints. Needs no server (SQLite
# and a local archive in a temporary directory); called by scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cargo build -q --examples || exit 1
cargo build -q -p heimdall-server || exit 1
bin="$root/target/debug/examples"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
SECRET=Pl4ntedS3cretXq   # planted in URLs and options below: must never be printed

# probe NAME WANT_EXIT MUST_CONTAIN -- COMMAND...
probe() {
  local name=$1 want=$2 needle=$3
  shift 4
  "$@" >"$work/out" 2>&1
  local rc=$?
  local out
  out=$(cat "$work/out")
  local verdict=ok
  if [ "$rc" -eq 101 ]; then verdict="PANIC"; fi
  if [ "$rc" -ne "$want" ]; then verdict="exit $rc, want $want"; fi
  if [ -n "$needle" ] && ! grep -qF -- "$needle" "$work/out"; then verdict="no \"$needle\" in the output"; fi
  if grep -qF "$SECRET" "$work/out"; then verdict="SECRET LEAKED"; fi
  if [ "$verdict" = ok ]; then
    printf 'hostile: %-44s ok (exit %s): %s\n' "$name" "$rc" "$(grep -m1 -i 'error' "$work/out" | cut -c1-150)"
  else
    printf 'hostile: %-44s FAILED: %s\n%s\n' "$name" "$verdict" "$(tail -5 "$work/out")"
    failures=$((failures + 1))
  fi
}

db="$work/h.db"
probe "acquire --store-option retry_timeout=1e20" 1 "retry_timeout" -- \
  "$bin/acquire" --no-plot --store "$work/a" --database "$db" --store-option retry_timeout=1e20
probe "metrics --store-option retry_timeout=1e20" 1 "retry_timeout" -- \
  "$bin/metrics" --store "$work/a" --session 01900000-0000-7000-8000-000000000000 --store-option retry_timeout=1e20
probe "reindex --store-option retry_timeout=1e20" 1 "retry_timeout" -- \
  "$bin/reindex" --store "$work/a" --database "$db" --store-option retry_timeout=1e20
probe "query snr-stats --hours 3e9" 1 "at most 878400" -- "$bin/query" --database "$db" snr-stats --hours 3e9
probe "query buckets --hours 3e9" 1 "at most 878400" -- "$bin/query" --database "$db" buckets --hours 3e9
probe "query buckets --width 18446744073709551615" 1 "bucket width" -- \
  "$bin/query" --database "$db" buckets --width 18446744073709551615
probe "acquire --frequency 5e-324" 1 "1e3 Hz to 6e9 Hz" -- \
  "$bin/acquire" --no-plot --store "$work/a" --database "$db" --frequency 5e-324
probe "acquire --sample-rate 1e9" 1 "2e7 Hz" -- \
  "$bin/acquire" --no-plot --store "$work/a" --database "$db" --sample-rate 1e9
probe "acquire --start-at 9999-12-31T23:59:59Z" 1 "24 h" -- \
  "$bin/acquire" --no-plot --store "$work/a" --database "$db" --start-at 9999-12-31T23:59:59Z

# A .npy header whose shape times 8 bytes wraps around 2^64 (to 16 384 bytes), then 16 384 bytes.
{
  printf '\x93NUMPY\x01\x00\x76\x00'
  printf "%-117s\n" "{'descr': '<c8', 'fortran_order': False, 'shape': (2305843009213696000,), }"
  head -c 16384 /dev/zero
} >"$work/huge.npy"
probe "metrics on a .npy with an overflowing shape" 1 "array is too big" -- \
  "$bin/metrics" "$work/huge.npy" --sample-rate 12000

# Secrets in malformed URLs and options.
probe "--database with a password, unreachable" 1 "" -- \
  "$bin/query" --database "postgres://postgres:$SECRET@127.0.0.1:1/db" recent
probe "--store s3 secret option, unreachable" 1 "" -- \
  "$bin/acquire" --no-plot --duration 0.1 --retries 0 --database "$db" --store s3://bkt/p \
  --store-option endpoint=http://127.0.0.1:1 --store-option allow_http=true \
  --store-option access_key_id=AK --store-option "secret_access_key=$SECRET"
# Refused by the URL parser (port out of range), so the redaction cannot rely on parsing.
cat >"$work/receivers.toml" <<EOF
[[receiver]]
id = "locked"
kind = "kiwisdr"
url = "http://admin:$SECRET@127.0.0.1:99999999/"
latitude = 45
longitude = 7
EOF
probe "receivers.toml url with a password, bad port" 1 "admin:***@127.0.0.1:99999999" -- \
  "$bin/acquire" --no-plot --store "$work/a" --database "$db" --receivers "$work/receivers.toml"
probe "--database with a password, bad port" 1 "postgres:***@127.0.0.1:99999" -- \
  "$bin/query" --database "postgres://postgres:$SECRET@127.0.0.1:99999/db" recent
probe "--store s3 secret option, bad retry_timeout" 1 "retry_timeout" -- \
  "$bin/acquire" --no-plot --database "$db" --store s3://bkt/p \
  --store-option "secret_access_key=$SECRET" --store-option retry_timeout=abc
probe "--store s3 secret option, unknown option" 1 "no_such_option" -- \
  "$bin/acquire" --no-plot --database "$db" --store s3://bkt/p \
  --store-option "secret_access_key=$SECRET" --store-option no_such_option=1
probe "--store s3 endpoint with a password, bad port" 1 "minio:***@127.0.0.1:99999999" -- \
  "$bin/acquire" --no-plot --database "$db" --store s3://bkt/p \
  --store-option "endpoint=http://minio:$SECRET@127.0.0.1:99999999"
probe "--store s3 URL with a password, bad port" 1 "AK:***@" -- \
  "$bin/acquire" --no-plot --database "$db" --store "s3://AK:$SECRET@bkt:99999999/p"
# A secret option typed with ':' instead of '=': clap would echo the value; ours says what is
# wrong without it (exit 2: a usage error).
probe "acquire --store-option KEY:SECRET" 2 "is not KEY=VALUE" -- \
  "$bin/acquire" --no-plot --database "$db" --store-option "secret_access_key:$SECRET"
probe "worker --store-option KEY:SECRET" 2 "is not KEY=VALUE" -- \
  "$bin/worker" --store-option "secret_access_key:$SECRET"
probe "heimdall-server --store-option KEY:SECRET" 2 "is not KEY=VALUE" -- \
  "$root/target/debug/heimdall-server" --no-auth --store-option "secret_access_key:$SECRET"

# The service: a receiver's password posted to the API never comes back in an answer.
service_probe() {
  local name="service: receiver password in API answers"
  mkdir -p "$work/svc" && cd "$work/svc" || return
  "$bin/service" 127.0.0.1:0 >"$work/svc.log" 2>&1 &
  local pid=$! base="" i
  for i in $(seq 1 100); do
    base=$(grep -so 'http://127.0.0.1:[0-9]*' "$work/svc.log" | head -1)
    [ -n "$base" ] && break
    sleep 0.1
  done
  local verdict=ok
  if [ -z "$base" ]; then
    verdict="the service did not start"
  else
    curl -s -X POST -H 'content-type: application/json' "$base/api/v1/receivers" \
      -d "{\"name\":\"Locked\",\"kind\":\"kiwisdr\",\"url\":\"http://127.0.0.1:1/\",\"options\":{\"password\":\"$SECRET\"}}" \
      >"$work/out" 2>&1
    curl -s "$base/api/v1/receivers" >>"$work/out" 2>&1
    curl -s "$base/api/v1/receivers/locked" >>"$work/out" 2>&1
    grep -q '"password":"\*\*\*"' "$work/out" || verdict="no masked password in the answers"
    grep -qF "$SECRET" "$work/out" "$work/svc.log" && verdict="SECRET LEAKED"
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  cd "$work" || return
  if [ "$verdict" = ok ]; then
    printf 'hostile: %-44s ok: %s\n' "$name" "$(grep -o '"options":{[^}]*}' "$work/out" | head -1)"
  else
    printf 'hostile: %-44s FAILED: %s\n%s\n' "$name" "$verdict" "$(tail -c 600 "$work/out")"
    failures=$((failures + 1))
  fi
}
service_probe

if [ "$failures" -gt 0 ]; then
  echo "hostile: $failures probes FAILED"
  exit 1
fi
echo "hostile: every probe ended with a typed error and no secret in the output"
