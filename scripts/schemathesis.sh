#!/usr/bin/env bash
# Schemathesis (from PyPI) against the running heimdall-server's own OpenAPI document: generated
# and mutated requests to every operation, with the documented token. Fails on any 5xx, any
# status, header, content type or body the document does not declare, and any request the server
# accepts although the schema forbids it.
#   scripts/schemathesis.sh                  # about a minute: ST_MAX_EXAMPLES (150) per operation
#   ST_MAX_EXAMPLES=500 scripts/schemathesis.sh
# The server runs on embedded defaults (in-memory archive, SQLite in a temporary folder, the
# simulated network paced faster than real time) with at most 2 running acquisitions, so the
# generated POSTs exercise the 429 path too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv="${HEIMDALL_VENV:-$root/.venv}"
version=4.32.5
max_examples=${ST_MAX_EXAMPLES:-150}
port=${ST_PORT:-18093}

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
  echo "== installing schemathesis $version into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

cargo build -q -p heimdall-server
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  [ -z "$server_pid" ] || wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

token=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
HEIMDALL_API_TOKENS="$token" "$root/target/debug/heimdall-server" \
  --listen "127.0.0.1:$port" --database "$work/heimdall.db" --store memory:// \
  --max-running 2 >"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$base/health" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; echo "schemathesis: the server did not start"; exit 1; }
  sleep 0.2
done

# The coverage phase is left out: on this machine's CPython 3.11.7 it dies inside Hypothesis
# (SystemError "AST constructor recursion depth mismatch" while describing a lambda), a crash of
# the tool, not a finding. The fuzzing phase generates positive and negative cases alike.
echo "== schemathesis $version: $max_examples examples per operation (examples and fuzzing phases)"
set +e
"$venv/bin/st" run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
  --phases examples,fuzzing \
  --max-examples "$max_examples" --seed 42 --workers 2 --request-timeout 20 \
  --generation-database none --no-color --output-truncate true \
  --report junit --report-junit-path "$work/junit.xml"
rc=$?
set -e
# Totals for the closing note: the JUnit report counts test cases per operation.
python3 - "$work/junit.xml" <<'EOF' || true
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
failures = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
print(f"schemathesis: {tests} operations tested, {failures} failing")
EOF
if grep -q "panicked" "$work/server.log"; then
  grep -n "panicked" "$work/server.log" | head
  echo "schemathesis: the server panicked"
  exit 1
fi
grep -q "$token" "$work/server.log" && { echo "schemathesis: the server log contains the API token"; exit 1; }
if [ "$rc" != 0 ]; then
  tail -30 "$work/server.log"
  echo "schemathesis: failures (exit $rc)"
  exit "$rc"
fi
echo "schemathesis: no failure"
