#!/usr/bin/env bash
# Side-by-side storage benchmark: heimdall-storage (Rust, object_store) vs boto3, against the
# same local SeaweedFS, in one run. Also measures peak memory while streaming a 1 GiB capture.
#
#   benches/storage_peer/run.sh            # starts SeaweedFS via scripts/s3.sh if needed
#   ROUNDS_SMALL=30 ROUNDS_LARGE=5 STREAM_MIB=1024 benches/storage_peer/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/s3.sh start
eval "$(scripts/s3.sh env)"
ROUNDS_SMALL="${ROUNDS_SMALL:-20}"
ROUNDS_LARGE="${ROUNDS_LARGE:-5}"
STREAM_MIB="${STREAM_MIB:-1024}"
cargo build --release -p heimdall-storage --example storage_bench
BIN=target/release/examples/storage_bench
PY=.venv/bin/python

echo "== 7 captures of 512 KiB stored concurrently (lower is better)"
$PY benches/storage_peer/boto3_peer.py small "$ROUNDS_SMALL"
$BIN small "$ROUNDS_SMALL"
echo "== 7 captures of 32 MiB stored concurrently (higher MB/s is better)"
$PY benches/storage_peer/boto3_peer.py large "$ROUNDS_LARGE"
$BIN large "$ROUNDS_LARGE"
echo "== streaming one ${STREAM_MIB} MiB capture (peak memory)"
/usr/bin/time -v "$BIN" stream "$STREAM_MIB" 2>"${TMPDIR:-/tmp}/storage_bench_time.txt"
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "${TMPDIR:-/tmp}/storage_bench_time.txt"
echo "== reading one ${STREAM_MIB} MiB capture back as a stream, checksum verified (peak memory while reading)"
"$BIN" readback "$STREAM_MIB"
