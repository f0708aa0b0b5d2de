# shellcheck shell=bash
# tests/bench/lib.sh — sourced by every bench_*.sh: a work folder, the
# background processes to stop, and a broker of the benchmark's own unless
# FERRY_KAFKA_BROKERS names one. Everything is undone on exit.
#
#   source tests/bench/lib.sh
#   bench_init NAME DEFAULT_PORT   # sets B, ROOT, WORK, PIDS, FERRY_KAFKA_BROKERS
#   PIDS+=($!)                     # background processes to kill on exit
#   bench_on_exit() { ...; }       # optional extra clean-up, run first
#   bench_api_env PREFIX PARTITIONS # a client of the HTTP API: topics, key, AUTH

bench_init() {
    B=${B:-build}
    # shellcheck disable=SC2034 # ROOT and WORK are for the sourcing script
    ROOT=$PWD
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-$1.XXXXXX")
    PIDS=()
    BENCH_KAFKA_PORT=
    trap bench_cleanup EXIT
    if [ -z "${FERRY_KAFKA_BROKERS:-}" ]; then
        BENCH_KAFKA_PORT=$2
        FERRY_LOCAL_KAFKA_PORT=$BENCH_KAFKA_PORT compose/kafka.sh start >/dev/null
        export FERRY_KAFKA_BROKERS=127.0.0.1:$BENCH_KAFKA_PORT
    fi
}

# bench_api_env PREFIX PARTITIONS: the environment of a benchmark that calls
# the HTTP API: topics of its own (FERRY_TOPIC_PREFIX=PREFIX<random>.) with
# PARTITIONS partitions, one API key of tenant "bench" (AUTH is its header
# for curl -H), a fixed sealing key, and warn-level logs (a script that reads
# info lines sets FERRY_LOG_LEVEL after).
bench_api_env() {
    export FERRY_TOPIC_PREFIX=$1$RANDOM$RANDOM.
    export FERRY_TOPIC_PARTITIONS=$2
    export FERRY_API_KEYS=bench-key-1:bench
    FERRY_SECRET_KEY=$(printf '5f%.0s' $(seq 32))
    export FERRY_SECRET_KEY
    export FERRY_LOG_LEVEL=warn
    # shellcheck disable=SC2034 # AUTH is for the sourcing script
    AUTH="Authorization: Bearer bench-key-1"
}

bench_cleanup() {
    if declare -F bench_on_exit >/dev/null; then bench_on_exit || true; fi
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "$BENCH_KAFKA_PORT" ]; then
        FERRY_LOCAL_KAFKA_PORT=$BENCH_KAFKA_PORT compose/kafka.sh stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}

bench_free_port() {
    # The run's block of ports (tests/ports.py), below the kernel's ephemeral range.
    python3 -c 'import sys; sys.path.insert(0, "tests"); from ports import free_port; print(free_port())'
}

# bench_start_ingest: ferry-ingest on a free loopback port (its log in
# $WORK/ingest.log), waited for until /healthz answers (60 s at most); sets
# API (its base URL) and INGEST_PID, and adds it to PIDS.
bench_start_ingest() {
    local port
    port=$(bench_free_port)
    FERRY_LISTEN=127.0.0.1:$port "$B/ferry-ingest" >"$WORK/ingest.log" 2>&1 &
    INGEST_PID=$!
    PIDS+=("$INGEST_PID")
    API=http://127.0.0.1:$port
    for _ in $(seq 600); do
        curl -sf "$API/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "ingest did not start"
    tail "$WORK/ingest.log"
    return 1
}
