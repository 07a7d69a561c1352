#!/usr/bin/env bash
# Side-by-side speed of the old Python metric pipeline and Heimdall's DSP core on the same
# 2^22-sample complex64 capture (single thread).
#
#   scripts/bench_dsp_peer.sh            # needs python3; creates .venv with numpy + scipy
#
# Runs the peer and Heimdall's pipeline in-process on that file in alternated pairs (PAIRS,
# default 5; each run is the median of 7 analyses) and prints each pair's speed-up, then the
# median [min, max]; then the pipeline next to its 1024-point FFT bound (alternated runs) and
# the criterion bench of both.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER=${PEER:-benches/peer/time_reference.py}
RATE=2048000
CAPTURE=.tmp/dsp_peer_2p22.npy
mkdir -p .tmp
VENV=${HEIMDALL_VENV:-.venv}
PAIRS=${PAIRS:-5}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy scipy
fi
if [ ! -f "$CAPTURE" ]; then
  "$VENV/bin/python" - "$CAPTURE" "$RATE" <<'PY'
import sys, numpy as np
path, fs = sys.argv[1], float(sys.argv[2])
n = 1 << 22
rng = np.random.default_rng(1)
t = np.arange(n) / fs
x = 0.25 * np.exp(2j * np.pi * 150_000.25 * t) + (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * 0.025 / np.sqrt(2)
np.save(path, x.astype(np.complex64))
PY
fi
cargo build -q --release -p heimdall-core --example dsp_bench
BENCH=target/release/examples/dsp_bench
echo "== old Python pipeline vs heimdall, in-process on the same 2^22-sample file, $PAIRS alternated pairs"
echo "   ($("$VENV/bin/python" -c 'import scipy, numpy; print("scipy", scipy.__version__, "numpy", numpy.__version__)'))"
ratios=()
for i in $(seq "$PAIRS"); do
  peer_first=$((i % 2))
  if [ "$peer_first" = 1 ]; then
    p=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "$VENV/bin/python" "$PEER" "$CAPTURE" "$RATE" 7)
    h=$("$BENCH" --npy "$CAPTURE" --rate "$RATE")
  else
    h=$("$BENCH" --npy "$CAPTURE" --rate "$RATE")
    p=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "$VENV/bin/python" "$PEER" "$CAPTURE" "$RATE" 7)
  fi
  pm=$(echo "$p" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["msps"])')
  hm=$(echo "$h" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["msps"])')
  r=$("$VENV/bin/python" -c "print(f'{$hm / $pm:.1f}')")
  ratios+=("$r")
  printf "   pair %d: peer %.2f MS/s, heimdall %.1f MS/s: %sx\n" "$i" "$pm" "$hm" "$r"
done
"$VENV/bin/python" -c "import statistics as s; r=[float(x) for x in '${ratios[*]}'.split()]; print(f'   heimdall / peer in-process: {s.median(r):.1f}x [{min(r):.1f}, {max(r):.1f}] (median [min, max] of {len(r)} pairs)')"
echo "== heimdall: full pipeline vs the 1024-point FFT bound, alternated runs in one process"
"$BENCH" --pairs 9
if [ -n "${CRITERION:-}" ]; then
  echo "== criterion: FFT bound, full pipeline and Welch alone"
  cargo bench --bench dsp -- 'fft_bound|analyzer/4194304|welch/4194304' 2>&1 | grep -E '^(analyzer|welch|fft_bound)/|thrpt'
fi
