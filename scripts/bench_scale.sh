#!/usr/bin/env bash
# Scale-out benchmark: sessions per minute with 1, 2 and 4 worker processes on real-time
# simulated 5 s sessions (7 receivers each), one private NATS, local-disk archive, a fresh
# PostgreSQL database; then the queue's own overhead (queue_bench). Release builds.
#   scripts/bench_scale.sh            # RATE=sample rate of the simulated receivers (default 1 MS/s), K=sessions per run (12)
#   PROFILE=debug scripts/bench_scale.sh   # debug builds (what the tests build), e.g. next to a running CI
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
RATE="${RATE:-1000000}"
K="${K:-12}"
PG="${HEIMDALL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
    cargo build -q --release --example worker --example acquire -p heimdall --example gc
    cargo build -q --release -p heimdall-queue --example queue_bench
else
    cargo build -q --workspace --examples
fi
bin="target/$PROFILE/examples"
state="$root/.tmp/bench_scale/$$"; mkdir -p "$state"
port=$((20000 + RANDOM % 9000))
nats-server -js -a 127.0.0.1 -p "$port" -sd "$state/nats" >"$state/nats.log" 2>&1 &
nats=$!
trap 'kill -9 $nats 2>/dev/null || true; pkill -f "bench-scale-worker" 2>/dev/null || true' EXIT
sleep 1
echo "simulated receivers at $RATE S/s, $K sessions of 5 s per run, machine: $(nproc) cores"
for n in 1 2 4; do
    db="heimdall_scale_${n}_$RANDOM"
    psql -q "$PG" -c "CREATE DATABASE $db"
    database="${PG%/*}/$db"
    ns="scale$n"
    pids=()
    for i in $(seq 1 "$n"); do
        $bin/worker --queue "nats://127.0.0.1:$port" --queue-namespace "$ns" \
            --store "$state/archive-$n" --database "$database" --format npy --realtime \
            --sample-rate "$RATE" --name "bench-scale-worker-$i" >"$state/w$n-$i.log" 2>&1 &
        pids+=($!)
    done
    sleep 1
    t0=$(date +%s.%N)
    for _ in $(seq 1 "$K"); do
        $bin/acquire --queue "nats://127.0.0.1:$port" --queue-namespace "$ns" \
            --duration 5 --detach >/dev/null
    done
    until [ "$(psql -tAq "$database" -c "SELECT count(*) FROM sessions WHERE committed")" -ge "$K" ]; do sleep 0.2; done
    t1=$(date +%s.%N)
    kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
    python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); k=int(sys.argv[3]); n=int(sys.argv[4]); print(f'{n} worker(s): {k} sessions in {t:.1f} s = {k/t*60:.1f} sessions/min (ideal {min(n,k)*60/5:.0f})')" "$t0" "$t1" "$K" "$n"
    psql -q "$PG" -c "DROP DATABASE $db WITH (FORCE)"
done
$bin/queue_bench "nats://127.0.0.1:$port" 200 1000
