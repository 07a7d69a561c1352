#!/usr/bin/env bash
# Side-by-side storage benchmark: heimdall-storage (Rust, object_store) vs boto3, against the
# same local SeaweedFS, in one run. Also measures peak memory while streaming a 1 GiB capture.
#
#   benches/storage_peer/run.sh            # starts SeaweedFS via scripts/s3.sh if needed
#   PAIRS=5 ROUNDS_SMALL=20 ROUNDS_LARGE=3 STREAM_MIB=1024 SIZES="small large" benches/storage_peer/run.sh
#
# Each size runs PAIRS pairs of processes (heimdall, boto3) in alternated order (the machine is
# shared: whatever else runs slows both sides of a pair alike). Each process reports the median
# of its rounds; per pair the ratio is heimdall MB/s / boto3 MB/s. Printed: the median MB/s of
# each peer, the median ratio with its [min, max] over the pairs, and peak RSS of each process
# (`/usr/bin/time -v`) with the part above its own baseline (RSS before the first round), and
# client CPU per round (user + system; on a busy machine a steadier figure than MB/s).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/s3.sh start
eval "$(scripts/s3.sh env)"
PAIRS="${PAIRS:-5}"
ROUNDS_SMALL="${ROUNDS_SMALL:-20}"
ROUNDS_LARGE="${ROUNDS_LARGE:-3}"
STREAM_MIB="${STREAM_MIB:-1024}"
SIZES="${SIZES:-small large}"
# BIN=/path/to/storage_bench compares another build (e.g. of main) without building this one.
if [ -z "${BIN:-}" ]; then
    cargo build -q --release --workspace --example storage_bench
    BIN=target/release/examples/storage_bench
fi
PY=.venv/bin/python
OUT="$(mktemp -d "${TMPDIR:-/tmp}/storage_peer.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT

# run PEER MODE ROUNDS: one process under /usr/bin/time -v; appends its RESULT line plus
# maxrss_kib (peak RSS from time) to $OUT/results.
run() {
    local peer=$1 mode=$2 rounds=$3 cmd
    if [ "$peer" = heimdall ]; then cmd=("$BIN" "$mode" "$rounds"); else cmd=("$PY" benches/storage_peer/boto3_peer.py "$mode" "$rounds"); fi
    /usr/bin/time -v "${cmd[@]}" >"$OUT/stdout" 2>"$OUT/time"
    local rss cpu
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/time")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$OUT/time")
    echo "$(grep '^RESULT' "$OUT/stdout") maxrss_kib=$rss cpu_s=$cpu" | tee -a "$OUT/results"
}

for mode in $SIZES; do
    if [ "$mode" = small ]; then
        rounds=$ROUNDS_SMALL
        echo "== 7 captures of 512 KiB stored concurrently: $PAIRS alternated pairs of $rounds rounds"
    else
        rounds=$ROUNDS_LARGE
        echo "== 7 captures of 32 MiB stored concurrently: $PAIRS alternated pairs of $rounds rounds"
    fi
    for i in $(seq 1 "$PAIRS"); do
        if [ $((i % 2)) -eq 1 ]; then order="heimdall boto3"; else order="boto3 heimdall"; fi
        for peer in $order; do run "$peer" "$mode" "$rounds"; done
    done
done

python3 - "$OUT/results" "$ROUNDS_SMALL" "$ROUNDS_LARGE" <<'EOF'
import statistics, sys
rounds = {"small": int(sys.argv[2]), "large": int(sys.argv[3])}
rows = []
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split()[1:])
    rows.append(f)
for mode, label in (("small", "7 x 512 KiB"), ("large", "7 x 32 MiB")):
    ours = [r for r in rows if r["mode"] == mode and r["peer"] == "heimdall"]
    theirs = [r for r in rows if r["mode"] == mode and r["peer"] == "boto3"]
    if not ours or not theirs:
        continue
    ratios = [float(a["mb_s"]) / float(b["mb_s"]) for a, b in zip(ours, theirs)]
    med = lambda xs: statistics.median(xs)
    def mem(rs):
        peak = med([int(r["maxrss_kib"]) for r in rs]) / 1024
        above = med([int(r["maxrss_kib"]) - int(r["baseline_kib"]) for r in rs]) / 1024
        # Client CPU per round (warm-up included), less sensitive to a busy machine than MB/s.
        cpu = med([float(r["cpu_s"]) / (rounds[mode] + 1) for r in rs])
        return f"peak RSS {peak:.0f} MiB ({above:.0f} MiB above baseline), client CPU {cpu:.2f} s per round"
    print(f"{label}: heimdall {med([float(r['mb_s']) for r in ours]):.0f} MB/s "
          f"({med([float(r['median_ms']) for r in ours]):.1f} ms), {mem(ours)}")
    print(f"{label}: boto3    {med([float(r['mb_s']) for r in theirs]):.0f} MB/s "
          f"({med([float(r['median_ms']) for r in theirs]):.1f} ms), {mem(theirs)}")
    print(f"{label}: heimdall / boto3 = {med(ratios):.2f}x [{min(ratios):.2f}, {max(ratios):.2f}] "
          f"(median [min, max] of {len(ratios)} alternated pairs)")
EOF

if [ "${STREAM_MIB}" != 0 ]; then
    echo "== streaming one ${STREAM_MIB} MiB capture (peak memory)"
    /usr/bin/time -v "$BIN" stream "$STREAM_MIB" 2>"$OUT/time"
    grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$OUT/time"
    echo "== reading one ${STREAM_MIB} MiB capture back as a stream, checksum verified (peak memory while reading)"
    "$BIN" readback "$STREAM_MIB"
fi
