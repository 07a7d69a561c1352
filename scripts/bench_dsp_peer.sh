#!/usr/bin/env bash
# Side-by-side speed of the old Python metric pipeline and Heimdall's DSP core on the same
# 2^22-sample complex64 capture (single thread).
#
#   scripts/bench_dsp_peer.sh            # needs python3; creates .venv with numpy + scipy
#
# Prints the peer's JSON line (msps = MS/s, median of 7 runs), then runs the criterion bench
# of the full Heimdall pipeline (Analyzer push + finish) at 2^22 samples.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER=${PEER:-benches/peer/time_reference.py}
RATE=2048000
CAPTURE=.tmp/dsp_peer_2p22.npy
mkdir -p .tmp
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q numpy scipy
fi
if [ ! -f "$CAPTURE" ]; then
  .venv/bin/python - "$CAPTURE" "$RATE" <<'PY'
import sys, numpy as np
path, fs = sys.argv[1], float(sys.argv[2])
n = 1 << 22
rng = np.random.default_rng(1)
t = np.arange(n) / fs
x = 0.25 * np.exp(2j * np.pi * 150_000.25 * t) + (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * 0.025 / np.sqrt(2)
np.save(path, x.astype(np.complex64))
PY
fi
echo "== peer (old Python pipeline), $(.venv/bin/python -c 'import scipy, numpy; print("scipy", scipy.__version__, "numpy", numpy.__version__)')"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python "$PEER" "$CAPTURE" "$RATE" 7
echo "== heimdall metrics example on the same file (includes reading the file)"
cargo build --release --example metrics -q
/usr/bin/time -f "wall %e s" target/release/examples/metrics "$CAPTURE" --sample-rate "$RATE"
echo "== heimdall criterion: full pipeline and Welch alone, 2^22 samples"
cargo bench --bench dsp -- 'analyzer/4194304|welch/4194304' 2>&1 | grep -E '^(analyzer|welch)/|thrpt'
