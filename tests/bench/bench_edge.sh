#!/usr/bin/env bash
# bench_edge.sh — ingest's edge under hostile clients (issue 10):
#   1. the framing and NUL attacks, once each (what each one is answered);
#   2. /healthz and a keyed GET while 1,500 slow clients (a header line every
#      10 s, 50 per loopback address) hold connections for 30 s;
#   3. 1,000 concurrent submits (10 URLs each, one connection each): p99;
#   4. ingest's RSS at start, after each step, and after 20 s idle.
# Starts its own broker (port FERRY_BENCH_EDGE_KAFKA_PORT, default 29392)
# unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
bench_init edge "${FERRY_BENCH_EDGE_KAFKA_PORT:-29392}"

bench_api_env bench 6
SLOW=${FERRY_BENCH_EDGE_SLOW:-1500}
SUBMITS=${FERRY_BENCH_EDGE_SUBMITS:-1000}

port=$(bench_free_port)
env FERRY_LISTEN=127.0.0.1:$port "$B/ferry-ingest" >>"$WORK/ingest.log" 2>&1 &
PID=$!
PIDS+=("$PID")
for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$PID/status"; }
threads() { awk '/Threads/ {print $2}' "/proc/$PID/status"; }
BASE=http://127.0.0.1:$port
echo "edge: load $(uptime | sed 's/.*load average: //')"
echo "edge: ingest RSS at start $(rss), $(threads) threads"
python3 tests/bench/edge_load.py hostile "$BASE" bench-key-1
echo "edge: RSS after the framing attacks $(rss)"
python3 tests/bench/edge_load.py slow "$BASE" bench-key-1 "$SLOW" 30
echo "edge: RSS after $SLOW slow clients $(rss), $(threads) threads"
python3 tests/bench/edge_load.py submits "$BASE" bench-key-1 "$SUBMITS"
echo "edge: RSS after $SUBMITS concurrent submits $(rss), $(threads) threads"
sleep 20
echo "edge: RSS after 20 s idle $(rss), $(threads) threads"
