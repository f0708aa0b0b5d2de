#!/usr/bin/env bash
# tests/bench/bench_aggregate.sh — the aggregate stage's figures:
#   1. throughput: results aggregated per second (pre-loaded topic, webhooks
#      with inline results, status snapshots flowing)
#   2. completion latency: last result in the topic -> webhook task committed
#   3. memory: RSS following 10,000 concurrent batches (and after they finish,
#      and after 10,000 more), and following one batch of 1,000,000 items
#   4. restart: SIGKILL with 10,000 active batches -> processing again
#
# Self-contained: starts its own broker on FERRY_BENCH_AGGREGATE_PORT (default
# 29492) unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
agg_pid=
bench_on_exit() { [ -z "$agg_pid" ] || kill -9 "$agg_pid" 2>/dev/null; }
bench_init aggregate "${FERRY_BENCH_AGGREGATE_PORT:-29492}"
AGG=$B/ferry-aggregate
GEN=$B/tools/aggregate_loadgen
BROKERS=$FERRY_KAFKA_BROKERS
METRICS_PORT=$(bench_free_port)
export FERRY_TOPIC_PARTITIONS=${FERRY_TOPIC_PARTITIONS:-6}
export FERRY_AGGREGATE_METRICS_LISTEN=127.0.0.1:$METRICS_PORT
export FERRY_AGGREGATE_INSTANCE=bench
export FERRY_LOG_LEVEL=warn

metric() { # name -> value (0 when absent)
    curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v n="$1" '($1 == n || $1 == n "{}") && !f {print $2; f=1} END {if (!f) print 0}'
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$agg_pid/status" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
wait_metric() { # name, at least, timeout seconds
    local deadline=$(($(date +%s) + $3))
    while (($(date +%s) < deadline)); do
        local v
        v=$(metric "$1")
        if [ "${v%.*}" -ge "$2" ] 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "bench_aggregate: timed out waiting for $1 >= $2 (at $(metric "$1"))" >&2
    return 1
}
start_agg() { # prefix [VAR=value...]
    local prefix=$1
    shift
    env FERRY_TOPIC_PREFIX="$prefix" "$@" "$AGG" >>"$WORK/agg.log" 2>&1 &
    agg_pid=$!
    local deadline=$(($(date +%s) + 60))
    until curl -sf "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null; do
        (($(date +%s) < deadline)) || { echo "aggregate did not become ready" >&2; tail "$WORK/agg.log" >&2; exit 1; }
        sleep 0.05
    done
}
stop_agg() {
    kill "$agg_pid" 2>/dev/null || true
    wait "$agg_pid" 2>/dev/null || true
    agg_pid=
}
provision() { # prefix: create the topics once, then stop
    start_agg "$1"
    stop_agg
}
fmt() { printf "%d" "$1"; }

# ---- 1. throughput -----------------------------------------------------------
N=5000 ITEMS=100 WINDOW=500
TOTAL=$((N * ITEMS))
P=bench-agg-tput-$$.
provision $P
"$GEN" -b "$BROKERS" -P $P -n $N -i $ITEMS -c $WINDOW -w http://127.0.0.1:9/h >/dev/null
t0=$(now)
start_agg $P
wait_metric ferry_aggregate_results_total $TOTAL 300
t1=$(now)
wait_metric 'ferry_aggregate_completions_total{status="completed"}' $N 60
snaps=$(metric ferry_aggregate_status_snapshots_total)
stop_agg
rate=$(echo "$TOTAL / ($t1 - $t0)" | bc)
echo "aggregate: $(fmt "$rate") results/s ($(fmt $TOTAL) results, $(fmt $N) batches with webhooks, $WINDOW in flight at once, $(fmt "${snaps%.*}") status snapshots; from process start)"

# ---- 2. completion latency -----------------------------------------------------
P=bench-agg-lat-$$.
start_agg $P
# The first round after start includes one-time costs (the first fetches of
# new partitions, the producer's first transaction on each topic): shown
# apart from the steady state.
first=$("$GEN" -b "$BROKERS" -P $P -n 200 -i 20 -w http://127.0.0.1:9/h -l)
lat=$("$GEN" -b "$BROKERS" -P $P -n 400 -i 20 -w http://127.0.0.1:9/h -l)
stop_agg
echo "aggregate: completion latency $lat (last result acked by the broker -> batch.completed task visible read_committed; 400 batches of 20, one each 50 ms; first 200 after start: $first)"

# ---- 3. memory -------------------------------------------------------------------
sample_rss() { # writes the peak VmRSS (kB) seen while $1 runs
    local peak=0 r
    while kill -0 "$1" 2>/dev/null; do
        r=$(rss_kb)
        ((r > peak)) && peak=$r
        sleep 0.1
    done
    echo $peak
}
P=bench-agg-mem-$$.
start_agg $P
rss0=$(rss_kb)
"$GEN" -b "$BROKERS" -P $P -n 10000 -i 20 -c 10000 -w http://127.0.0.1:9/h >/dev/null &
gen=$!
peak=$(sample_rss $gen)
wait $gen
wait_metric 'ferry_aggregate_completions_total{status="completed"}' 10000 120
r=$(rss_kb)
((r > peak)) && peak=$r
sleep 6 # the stage hands freed heap back every 5 s
after1=$(rss_kb)
"$GEN" -b "$BROKERS" -P $P -n 10000 -i 20 -c 10000 -w http://127.0.0.1:9/h >/dev/null &
gen=$!
peak2=$(sample_rss $gen)
wait $gen
wait_metric 'ferry_aggregate_completions_total{status="completed"}' 20000 120
sleep 6
after2=$(rss_kb)
stop_agg
echo "aggregate: RSS $((rss0 / 1024)) MB idle, peak $((peak / 1024)) MB following 10,000 concurrent batches (x20 items, webhooks), $((after1 / 1024)) MB after they completed, peak $((peak2 / 1024)) MB / $((after2 / 1024)) MB after 10,000 more"

P=bench-agg-big-$$.
start_agg $P FERRY_MAX_ITEMS=1000000
"$GEN" -b "$BROKERS" -P $P -n 1 -i 1000000 -w http://127.0.0.1:9/h >/dev/null &
gen=$!
peak=$(sample_rss $gen)
wait $gen
t0=$(now)
wait_metric 'ferry_aggregate_completions_total{status="completed"}' 1 120
r=$(rss_kb)
((r > peak)) && peak=$r
sleep 6
after=$(rss_kb)
stop_agg
echo "aggregate: RSS peak $((peak / 1024)) MB following one batch of 1,000,000 items, $((after / 1024)) MB after it completed"

# ---- 4. restart after SIGKILL with 10,000 active batches -------------------------
P=bench-agg-restart-$$.
start_agg $P
"$GEN" -b "$BROKERS" -P $P -n 10000 -i 20 -T 10 -o "$WORK/ids" -w http://127.0.0.1:9/h >/dev/null
wait_metric ferry_aggregate_results_total 100000 120
wait_metric ferry_aggregate_active_batches 10000 30
kill -9 "$agg_pid"
wait "$agg_pid" 2>/dev/null || true
agg_pid=
# The rest of every batch waits in the topic while the stage is down.
"$GEN" -b "$BROKERS" -P $P -I "$WORK/ids" -F 10 -T 20 >/dev/null
t0=$(now)
start_agg $P
wait_metric ferry_aggregate_results_total 1 60
t1=$(now)
restore_ms=$(metric ferry_aggregate_restore_ms)
wait_metric 'ferry_aggregate_completions_total{status="completed"}' 10000 120
t2=$(now)
stop_agg
printf "aggregate: restart after SIGKILL with 10,000 active batches: processing again %.2f s after exec (changelog restore %s ms); all 10,000 completed %.2f s after exec\n" \
    "$(echo "$t1 - $t0" | bc)" "${restore_ms%.*}" "$(echo "$t2 - $t0" | bc)"
