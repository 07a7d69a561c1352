#!/usr/bin/env bash
# End-to-end check of the main job on real services, called by scripts/test.sh after it started
# SeaweedFS (AWS_* and HEIMDALL_TEST_S3_URL exported) and with HEIMDALL_TEST_DATABASE_URL set:
#   1. acquire -> S3 + a fresh PostgreSQL database: exit 0, 7 captures, manifest, 7 rows, PNG;
#   2. read back with query (7 measurements), numpy, sigmf_validate and sigmf-python (the SigMF
#      recordings point at the .npy: one copy of the samples, sigmf's samples = np.load's);
#   3. metrics recomputed from the captures streamed back from S3 equal the archived metrics;
#      reindex into a second, empty database: the same rows; reindex again: nothing inserted;
#   4. SeaweedFS stopped during a run: exit 1 or 2, a clear message, no manifest; restarted: a new
#      session succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
: "${HEIMDALL_TEST_S3_URL:?run through scripts/test.sh (needs SeaweedFS env)}"
: "${HEIMDALL_TEST_DATABASE_URL:?run through scripts/test.sh}"
py="$root/.venv/bin/python"
tag="e2e$(date +%s)$$"
prefix="$HEIMDALL_TEST_S3_URL/$tag"
pgbase="${HEIMDALL_TEST_DATABASE_URL%/*}"
db1="heimdall_${tag}_a"
db2="heimdall_${tag}_b"
work=$(mktemp -d)
[ -n "${HEIMDALL_E2E_KEEP:-}" ] && echo "e2e: work dir $work"
cleanup() {
  psql -q "$HEIMDALL_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db1" -c "DROP DATABASE IF EXISTS $db2" >/dev/null 2>&1 || true
  [ -n "${HEIMDALL_E2E_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "e2e FAILED: $*" >&2; exit 1; }

psql -q "$HEIMDALL_TEST_DATABASE_URL" -c "CREATE DATABASE $db1" -c "CREATE DATABASE $db2"
cargo build -q --examples
bin="$root/target/debug/examples"

echo "e2e: acquire on embedded defaults (./heimdall-data, SQLite) in an empty directory"
mkdir -p "$work/defaults"
(cd "$work/defaults" && "$bin/acquire" >stdout.txt 2>stderr.txt) || fail "acquire with defaults exited with $?"
(cd "$work/defaults" && "$bin/acquire" --json >report.json 2>/dev/null) || fail "acquire --json exited with $?"
(cd "$work/defaults" && "$bin/query" --json recent --limit 100 >rows.json)
"$py" - "$work/defaults" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
report = json.load(open(f"{d}/report.json"))          # --json: exactly one JSON object on stdout
sid = report["session_id"]
sdir = f"{d}/heimdall-data/sessions/{sid}"
assert report["status"] == "success" and report.get("overview_png", "").endswith("overview.png"), report.get("overview_png")
assert len(glob.glob(f"{sdir}/*/*.npy")) == 7 and len(glob.glob(f"{sdir}/*/*.sigmf-meta")) == 7  # under the attempt folder
assert os.path.exists(f"{sdir}/manifest.json") and os.path.getsize(f"{sdir}/overview.png") > 10000
assert os.path.exists(f"{d}/heimdall-data/heimdall.db")
rows = json.load(open(f"{d}/rows.json"))
assert len(rows) == 14 and sum(r["session_id"] == sid for r in rows) == 7, len(rows)
assert "overview:" in open(f"{d}/stdout.txt").read()
print("e2e: defaults: 7 captures (npy + SigMF), manifest, 7 rows in SQLite, PNG; --json parses")
PY

echo "e2e: acquire -> $prefix, $pgbase/$db1"
"$bin/acquire" --store "$prefix" --database "$pgbase/$db1" --json >"$work/report.json" \
  || fail "acquire exited with $?"
session=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$work/report.json")

"$bin/query" --database "$pgbase/$db1" --json session "$session" >"$work/session.json"
"$bin/query" --database "$pgbase/$db1" --json recent --limit 1000 >"$work/rows1.json"

"$py" - "$work" "$session" "$tag" <<'PY'
import json, os, subprocess, sys, boto3, numpy as np, sigmf
work, session, tag = sys.argv[1:4]
report = json.load(open(f"{work}/report.json"))
assert report["status"] == "success", report["status"]
assert len(report["receivers"]) == 7 and all(r["status"] == "recorded" for r in report["receivers"])
rows = json.load(open(f"{work}/session.json"))["measurements"]
assert len(rows) == 7, f"{len(rows)} rows"
bucket = os.environ["HEIMDALL_TEST_S3_URL"][len("s3://"):].split("/")[0]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name=os.environ["AWS_REGION"])
keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{tag}/sessions/{session}/")["Contents"]]
names = {k.rsplit("/", 1)[1] for k in keys}
assert "manifest.json" in names and "overview.png" in names, names
npys = [k for k in keys if k.endswith(".npy")]
assert len(npys) == 7, npys
assert not [k for k in keys if k.endswith(".sigmf-data")], "the samples are stored once, in the .npy"
os.makedirs(f"{work}/dl", exist_ok=True)
for k in keys:
    s3.download_file(bucket, k, f"{work}/dl/" + k.rsplit("/", 1)[1])
for r in report["receivers"]:
    rid = r["receiver"]["id"]
    x = np.load(f"{work}/dl/{rid}.npy")
    assert x.dtype == np.complex64 and x.shape == (r["capture"]["samples"],), (x.dtype, x.shape)
    rec = sigmf.fromfile(f"{work}/dl/{rid}.sigmf-meta")
    assert rec.data_file.name == f"{rid}.npy", rec.data_file
    y = rec.read_samples()
    assert y.dtype == x.dtype and np.array_equal(x, y), f"{rid}: sigmf's samples differ from np.load's"
    assert np.isfinite(x).all()
metas = [f"{work}/dl/{n}" for n in names if n.endswith(".sigmf-meta")]
subprocess.run([os.environ.get("HEIMDALL_SIGMF_VALIDATE", "sigmf_validate"), *metas], check=True)
coll = [n for n in names if n.endswith(".sigmf-collection")]
assert len(coll) == 1, coll
c = sigmf.fromfile(f"{work}/dl/{coll[0]}")  # checks every stream's hash
assert len(c) == 7, len(c)
print(f"e2e: {len(npys)} captures read back with numpy, {len(metas)} SigMF recordings valid and equal to np.load (sigmf-python), collection hashes verified")
PY

echo "e2e: metrics recomputed from the captures streamed back from S3 equal the archived ones"
"$bin/metrics" --session "$session" --store "$prefix" >"$work/recomputed.jsonl" || fail "metrics --session exited with $?"
"$py" - "$work/recomputed.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 7, len(lines)
bad = [l["receiver"] for l in lines if l["matches_archived"] is not True]
assert not bad, f"recomputed metrics differ from the archived ones for {bad}"
assert all(l["snr_db"] == l["archived"]["snr_db"] for l in lines)
print("e2e: 7 captures streamed back from S3 (checksums verified): recomputed metrics equal the archived ones")
PY

echo "e2e: reindex into the empty $db2"
"$bin/reindex" --store "$prefix" --database "$pgbase/$db2" --json >"$work/re1.json"
"$bin/reindex" --store "$prefix" --database "$pgbase/$db2" --json >"$work/re2.json"
"$bin/query" --database "$pgbase/$db2" --json recent --limit 1000 >"$work/rows2.json"
"$py" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
re1, re2 = json.load(open(f"{work}/re1.json")), json.load(open(f"{work}/re2.json"))
assert re1["inserted"] == 7 and re2["inserted"] == 0 and re2["duplicates"] == 7, (re1, re2)
key = lambda m: (m["session_id"], m["receiver_id"])
a = sorted(json.load(open(f"{work}/rows1.json")), key=key)
b = sorted(json.load(open(f"{work}/rows2.json")), key=key)
assert a == b, "reindexed rows differ from the original rows"
print("e2e: reindex rebuilt the same 7 rows; a second reindex inserted nothing")
PY

echo "e2e: stopping SeaweedFS during a real-time run"
set +e
"$bin/acquire" --store "$prefix" --database "$pgbase/$db1" --realtime --duration 6 --retries 0 \
  >"$work/fault.out" 2>"$work/fault.err" &
pid=$!
sleep 2.5
scripts/s3.sh stop
wait $pid
code=$?
set -e
cat "$work/fault.out" "$work/fault.err" | tail -n 15
[ "$code" = 1 ] || [ "$code" = 2 ] || fail "acquire with the S3 server stopped exited with $code (want 1 or 2)"
scripts/s3.sh start
fault_session=$(grep -o 'session [0-9a-f-]\{36\}' "$work/fault.err" | head -n1 | cut -d' ' -f2)
[ -n "$fault_session" ] || fail "no session id in the output"
"$py" - "$tag" "$fault_session" <<'PY'
import os, sys, boto3
tag, session = sys.argv[1:3]
bucket = os.environ["HEIMDALL_TEST_S3_URL"][len("s3://"):].split("/")[0]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name=os.environ["AWS_REGION"])
keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{tag}/sessions/{session}/").get("Contents", [])]
assert not any(k.endswith("manifest.json") for k in keys), keys
print(f"e2e: no manifest for the interrupted session ({len(keys)} stray objects)")
PY
"$bin/acquire" --store "$prefix" --database "$pgbase/$db1" --duration 2 >/dev/null || fail "rerun after restart failed"
echo "e2e: passed"
