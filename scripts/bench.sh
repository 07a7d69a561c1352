#!/usr/bin/env bash
# Every benchmark target of the issues, with the peers side by side, in one run. Run it on an
# idle machine (2 cores here): concurrent builds halve every figure.
#   scripts/bench.sh            # all
#   scripts/bench.sh dsp engine rtl storage e2e tsdb kiwi   # a subset
set -euo pipefail
cd "$(dirname "$0")/.."
what=${*:-dsp engine rtl storage e2e tsdb kiwi}
has() { [[ " $what " == *" $1 "* ]]; }
if has dsp; then
  echo "== DSP: full metrics pipeline, 2^22 samples, single thread, vs the old Python pipeline"
  scripts/bench_dsp_peer.sh
fi
if has engine; then
  echo "== engine: 7 simulated receivers x 10 s at 12 kHz, in-memory sink and store (target <= 50 ms)"
  cargo bench -q --bench engine 2>/dev/null | grep -E "^engine|time:" || true
fi
if has rtl; then
  echo "== 2.4 MS/s x 60 s simulated rtl_tcp receiver through metrics into a local-disk archive"
  cargo build -q --release --example bench_rtl_sim
  /usr/bin/time -v target/release/examples/bench_rtl_sim 60 2>"${TMPDIR:-/tmp}/rtl_time.txt" | grep -E "samples|status"
  grep -E "Maximum resident set size" "${TMPDIR:-/tmp}/rtl_time.txt"
fi
if has storage; then
  echo "== storage vs boto3 on SeaweedFS (alternated pairs: MB/s, ratio median [min, max], peak RSS)"
  benches/storage_peer/run.sh
fi
if has e2e; then
  echo "== end to end: 7 simulated receivers x 10 s at 2.4 MS/s into a local archive, --format both vs npy"
  scripts/bench_e2e.sh
fi
if has tsdb; then
  echo "== tsdb: 200 000 rows into PostgreSQL and SQLite vs psql COPY and INSERT; SNR stats over 1 M rows"
  cargo run -q --release -p heimdall-tsdb --example tsdb_bench
fi
if has kiwi; then
  echo "== KiwiSDR: 20 simultaneous IQ streams against the in-process server; rtl_tcp at 2.4 MS/s"
  cargo build -q --release -p heimdall-websdr --example kiwi_bench
  target/release/examples/kiwi_bench 20 600
fi
