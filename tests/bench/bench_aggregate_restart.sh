#!/usr/bin/env bash
# tests/bench/bench_aggregate_restart.sh — aggregate's restart to ready: exec
# to /healthz 200 (every partition restored: offsets, changelog and usage
# rows, crawl.state; then assigned), an idle instance restarted ROUNDS times
# (default 9) as the same static member. Prints each run and the median.
#
# Self-contained: starts its own broker on FERRY_BENCH_AGGREGATE_PORT (default
# 29492) unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
agg_pid=
bench_on_exit() { [ -z "$agg_pid" ] || kill "$agg_pid" 2>/dev/null; }
bench_init aggregate-restart "${FERRY_BENCH_AGGREGATE_PORT:-29492}"
ROUNDS=${ROUNDS:-9}
PORT=$(bench_free_port)
export FERRY_TOPIC_PREFIX=bench-agg-restart-$$. FERRY_AGGREGATE_INSTANCE=bench-restart
export FERRY_AGGREGATE_METRICS_LISTEN=127.0.0.1:$PORT FERRY_LOG_LEVEL=warn
ms=()
for i in $(seq 0 "$ROUNDS"); do # round 0 creates the topics: not counted
    t0=$(date +%s%N)
    "$B/ferry-aggregate" >>"$WORK/agg.log" 2>&1 &
    agg_pid=$!
    deadline=$(($(date +%s) + 60))
    until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do
        (($(date +%s) < deadline)) || { echo "aggregate did not become ready" >&2; tail "$WORK/agg.log" >&2; exit 1; }
        sleep 0.005
    done
    t1=$(date +%s%N)
    kill "$agg_pid"
    wait "$agg_pid" 2>/dev/null || true
    agg_pid=
    ((i == 0)) || ms+=($(((t1 - t0) / 1000000)))
done
sorted=$(printf '%s\n' "${ms[@]}" | sort -n | tr '\n' ' ')
median=$(printf '%s\n' "${ms[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
echo "aggregate: restart to ready (idle, $ROUNDS runs): median $median ms ($sorted ms; load $(cut -d' ' -f1-3 /proc/loadavg))"
