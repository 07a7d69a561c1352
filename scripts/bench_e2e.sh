#!/usr/bin/env bash
# End to end: the simulated 7-receiver session, 10 s at 2.4 MS/s (168 M samples, 1.34 GB of
# complex64), acquired, measured and archived on local disk with SQLite metrics, in the default
# `--format both` vs `--format npy`. Each run is a fresh archive and database in a temp dir.
#
#   scripts/bench_e2e.sh               # 5 alternated pairs
#   PAIRS=3 DURATION=10 RATE=2400000 scripts/bench_e2e.sh
#
# Prints per format the median wall time, aggregate MS/s and peak RSS (`/usr/bin/time -v`), and
# the ratio both / npy of each pair (median [min, max]; target <= 1.15, peak RSS <= 128 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS="${PAIRS:-5}"
DURATION="${DURATION:-10}"
RATE="${RATE:-2400000}"
cargo build -q --release --workspace --example acquire
BIN="$PWD/target/release/examples/acquire"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/bench_e2e.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT

# run FORMAT: one session in a fresh directory; appends "FORMAT wall_s maxrss_kib" to results.
run() {
    local fmt=$1 dir="$OUT/run"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && /usr/bin/time -v "$BIN" --sample-rate "$RATE" --duration "$DURATION" --format "$fmt" \
        >"$OUT/stdout" 2>"$OUT/time") || { cat "$OUT/stdout" "$OUT/time" >&2; return 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$OUT/time" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/time")
    echo "$fmt $wall $rss" | tee -a "$OUT/results"
}

echo "== 7 simulated receivers x ${DURATION} s at ${RATE} S/s, --format both vs npy: $PAIRS alternated pairs (format wall_s maxrss_kib)"
for i in $(seq 1 "$PAIRS"); do
    if [ $((i % 2)) -eq 1 ]; then order="both npy"; else order="npy both"; fi
    for fmt in $order; do run "$fmt"; done
done
python3 - "$OUT/results" "$DURATION" "$RATE" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
samples = 7 * float(sys.argv[2]) * float(sys.argv[3])
by = {f: [(float(w), int(r)) for ff, w, r in rows if ff == f] for f in ("both", "npy")}
for f, rs in by.items():
    wall = statistics.median(w for w, _ in rs)
    rss = statistics.median(r for _, r in rs) / 1024
    print(f"--format {f}: median {wall:.2f} s = {samples / wall / 1e6:.1f} MS/s aggregate, "
          f"peak RSS {rss:.0f} MiB (max {max(r for _, r in rs) / 1024:.0f})")
ratios = [b[0] / n[0] for b, n in zip(by["both"], by["npy"])]
print(f"both / npy wall time = {statistics.median(ratios):.3f} [{min(ratios):.3f}, {max(ratios):.3f}] "
      f"(median [min, max] of {len(ratios)} alternated pairs; target <= 1.15)")
EOF
