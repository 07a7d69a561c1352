#!/usr/bin/env bash
# Private TimescaleDB test servers for heimdall-tsdb tests, benches and the end-to-end check.
#
#   scripts/timescaledb.sh start    # make TimescaleDB available (see below), start the 3 clusters
#   scripts/timescaledb.sh env      # print `export ...` lines: eval "$(scripts/timescaledb.sh env)"
#   scripts/timescaledb.sh stop     # stop the clusters started by `start`
#   scripts/timescaledb.sh status   # exit 0 if all 3 clusters answer
#   scripts/timescaledb.sh install  # only make TimescaleDB available (build it if needed)
#
# Three clusters, each with its own data directory under .tmp/timescaledb/ and its own port on
# 127.0.0.1 (user postgres, trust authentication, loopback only):
#   timescale  port $HEIMDALL_TIMESCALE_PORT (default 25433): shared_preload_libraries=timescaledb,
#              timescaledb.license=timescale (every feature: compression, retention, aggregates)
#   apache     port +1: preloaded, timescaledb.license=apache (hypertables only). The license can
#              only be set in postgresql.conf or on the server command line, hence its own cluster
#   nopreload  port +2: TimescaleDB installed but NOT preloaded (CREATE EXTENSION fails FATALly)
#
# Where TimescaleDB comes from:
#   1. the PostgreSQL of `pg_config` when its share dir has extension/timescaledb.control;
#   2. else a private copy of that PostgreSQL under .tmp/timescaledb/pg with TimescaleDB built
#      from the source tarball $TIMESCALEDB_SOURCE (default ../shared/vendor/timescaledb-2.28.3.tar.gz
#      next to the repository) and installed into the copy, never into the system: installing
#      there would turn the system cluster into an "installed but not preloaded" server for every
#      other program on the machine. cmake and postgresql-server-dev-<major> are apt-installed
#      when missing (as root). About 70 s of build on 2 cores, once; later starts reuse the copy.
# Exit code 3 when no TimescaleDB is installed and no source tarball is found.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${HEIMDALL_TIMESCALE_STATE:-$ROOT/.tmp/timescaledb}"
PORT="${HEIMDALL_TIMESCALE_PORT:-25433}"
CLUSTERS=(timescale apache nopreload)
TS_VERSION=2.28.3

log() { echo "timescaledb.sh: $*" >&2; }

source_tarball() {
    local c
    for c in "${TIMESCALEDB_SOURCE:-}" \
        "$ROOT/../shared/vendor/timescaledb-$TS_VERSION.tar.gz" \
        "$ROOT/../../shared/vendor/timescaledb-$TS_VERSION.tar.gz" \
        "/work/shared/vendor/timescaledb-$TS_VERSION.tar.gz"; do
        if [ -n "$c" ] && [ -f "$c" ]; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

system_bindir() { "$(command -v pg_config)" --bindir; }

# The bin directory of a PostgreSQL that has TimescaleDB installed, or nothing.
find_bindir() {
    local sys
    if command -v pg_config >/dev/null; then
        sys="$(system_bindir)"
        if [ -f "$("$sys/pg_config" --sharedir)/extension/timescaledb.control" ]; then
            echo "$sys"
            return 0
        fi
    fi
    if [ -f "$STATE/bindir" ]; then
        local b
        b="$(cat "$STATE/bindir")"
        if [ -x "$b/postgres" ] && [ -f "$("$b/pg_config" --sharedir)/extension/timescaledb.control" ]; then
            echo "$b"
            return 0
        fi
    fi
    return 1
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

build() {
    local tarball sys major src stage started
    if ! tarball="$(source_tarball)"; then
        log "no TimescaleDB installed and no source tarball: set TIMESCALEDB_SOURCE to timescaledb-$TS_VERSION.tar.gz"
        log "(or HEIMDALL_TEST_TIMESCALE_URL to an existing TimescaleDB server for the tests)"
        exit 3
    fi
    command -v pg_config >/dev/null || { log "pg_config not found (install postgresql)"; exit 1; }
    sys="$(system_bindir)"
    major="$("$sys/pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
    if ! command -v cmake >/dev/null || [ ! -f "$("$sys/pg_config" --includedir-server)/postgres.h" ]; then
        log "installing cmake and postgresql-server-dev-$major with apt"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q cmake "postgresql-server-dev-$major" >&2
    fi
    started=$(date +%s)
    src="$STATE/src"
    rm -rf "$src" "$STATE/pg" && mkdir -p "$src"
    log "building TimescaleDB from $tarball (about 70 s on 2 cores)"
    tar xzf "$tarball" -C "$src" --strip-components=1
    (
        cd "$src"
        ./bootstrap -DPG_CONFIG="$sys/pg_config" -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
            -DWARNINGS_AS_ERRORS=OFF -DLINTER=OFF -DCMAKE_BUILD_TYPE=Release >"$STATE/build.log" 2>&1
        cd build && make -j"$(nproc)" >>"$STATE/build.log" 2>&1
    ) || { log "build failed; last lines of $STATE/build.log:"; tail -n 30 "$STATE/build.log" >&2; exit 1; }
    # A relocatable copy of this PostgreSQL (its binaries find share/ and lib/ relative to
    # themselves), with TimescaleDB installed into the copy through DESTDIR.
    stage="$STATE/pg"
    local libdir sharedir
    libdir="$("$sys/pg_config" --pkglibdir)"
    sharedir="$("$sys/pg_config" --sharedir)"
    mkdir -p "$stage$(dirname "$sys")" "$stage$(dirname "$sharedir")"
    cp -a "$(dirname "$sys")/." "$stage$(dirname "$sys")/"
    [ -d "$stage$libdir" ] || { mkdir -p "$stage$libdir" && cp -a "$libdir/." "$stage$libdir/"; }
    cp -a "$sharedir" "$stage$(dirname "$sharedir")/"
    make -C "$src/build" install DESTDIR="$stage" >>"$STATE/build.log" 2>&1
    echo "$stage$sys" >"$STATE/bindir"
    chmod -R a+rX "$stage"
    log "TimescaleDB $TS_VERSION built and installed into $stage in $(($(date +%s) - started)) s"
}

install() {
    mkdir -p "$STATE"
    if ! find_bindir >/dev/null; then
        build
    fi
    find_bindir
}

port_of() {
    case "$1" in
        timescale) echo "$PORT" ;;
        apache) echo $((PORT + 1)) ;;
        nopreload) echo $((PORT + 2)) ;;
    esac
}

# Runs a command as the cluster owner: user postgres when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

answers() { "$1/pg_isready" -q -h 127.0.0.1 -p "$(port_of "$2")" -t 2 2>/dev/null; }

start_cluster() {
    local bindir="$1" name="$2" dir port opts
    dir="$STATE/$name"
    port="$(port_of "$name")"
    if [ -f "$dir/PG_VERSION" ] && answers "$bindir" "$name"; then
        log "$name already running on 127.0.0.1:$port"
        return 0
    fi
    if answers "$bindir" "$name"; then
        log "something else answers on 127.0.0.1:$port; set HEIMDALL_TIMESCALE_PORT to a free port"
        return 1
    fi
    if [ ! -f "$dir/PG_VERSION" ]; then
        rm -rf "$dir" && mkdir -p "$dir"
        [ "$(id -u)" = 0 ] && chown postgres: "$dir"
        as_owner "$bindir/initdb" -D "$dir" -A trust -U postgres -E UTF8 --no-instructions >"$STATE/$name.initdb.log" 2>&1 ||
            { log "initdb of $name failed:"; cat "$STATE/$name.initdb.log" >&2; return 1; }
    fi
    opts="-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c max_connections=200"
    case "$name" in
        timescale | apache)
            opts="$opts -c shared_preload_libraries=timescaledb -c timescaledb.license=$name"
            opts="$opts -c timescaledb.telemetry_level=off"
            ;;
        nopreload) ;;
    esac
    log "starting $name on 127.0.0.1:$port (data $dir)"
    as_owner "$bindir/pg_ctl" -D "$dir" -o "$opts" -l "$dir/log" -w -t 60 start >/dev/null ||
        { log "$name did not start; last log lines:"; tail -n 20 "$dir/log" >&2; return 1; }
}

start() {
    local bindir name
    bindir="$(install)"
    for name in "${CLUSTERS[@]}"; do
        start_cluster "$bindir" "$name"
    done
    log "ready: $(print_env | tr '\n' ' ')"
}

stop() {
    local bindir name
    bindir="$(find_bindir)" || { log "no TimescaleDB installation found; nothing to stop"; return 0; }
    for name in "${CLUSTERS[@]}"; do
        if [ -f "$STATE/$name/postmaster.pid" ]; then
            log "stopping $name"
            as_owner "$bindir/pg_ctl" -D "$STATE/$name" -m fast -w stop >/dev/null || true
        fi
    done
}

status() {
    local bindir name
    bindir="$(find_bindir)" || return 1
    for name in "${CLUSTERS[@]}"; do
        answers "$bindir" "$name" || return 1
    done
}

print_env() {
    cat <<EOF
export HEIMDALL_TEST_TIMESCALE_URL=postgres://postgres@127.0.0.1:$(port_of timescale)/postgres
export HEIMDALL_TEST_TIMESCALE_APACHE_URL=postgres://postgres@127.0.0.1:$(port_of apache)/postgres
export HEIMDALL_TEST_TIMESCALE_NOPRELOAD_URL=postgres://postgres@127.0.0.1:$(port_of nopreload)/postgres
EOF
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) print_env ;;
    status) status ;;
    install) install >/dev/null ;;
    *)
        echo "usage: $0 start|stop|env|status|install" >&2
        exit 2
        ;;
esac
