#!/usr/bin/env bash
# bench_fairness.sh — fairness (issue 11): how long a 10-URL batch takes,
# submit to `completed`, while a 1,000,000-URL batch runs, through ingest,
# scrape and aggregate, pages from a local nginx. Twice: with the small lane
# (FERRY_SMALL_BATCH_ITEMS=100, the default) and without it (0), where the
# small batch waits behind the backlog (given up after FERRY_BENCH_FAIR_WAIT
# seconds). The large batch is cancelled once the figure is taken.
# Starts its own broker (port FERRY_BENCH_FAIR_KAFKA_PORT, default 29396)
# unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran.
#   FERRY_BENCH_FAIR_BIG   items of the large batch (default 1000000)
#   FERRY_BENCH_FAIR_WAIT  seconds to wait for the small batch (default 60)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
bench_init fairness "${FERRY_BENCH_FAIR_KAFKA_PORT:-29396}"
chmod 755 "$WORK" # nginx workers run unprivileged
BIG=${FERRY_BENCH_FAIR_BIG:-1000000}
WAIT=${FERRY_BENCH_FAIR_WAIT:-60}
bench_api_env bench 4 # each run() below takes topics of its own again
export FERRY_ALLOW_PRIVATE_NETWORKS=1
export FERRY_MAX_ITEMS=$BIG
export FERRY_MAX_BODY_BYTES=256M
export FERRY_SUBMIT_TIMEOUT=120s
export FERRY_SCRAPE_INFLIGHT=300
export FERRY_SCRAPE_HOST_CONNECTIONS=300

mkdir -p "$WORK/site" "$WORK/tmp"
python3 tests/bench/scrape_pages.py "$WORK/site" 100 >/dev/null
NPORT=$(bench_free_port)
sed -e "s|@PORT@|$NPORT|; s|@ROOT@|$WORK/site|; s|@DIR@|$WORK|g" tests/bench/scrape_nginx.conf >"$WORK/nginx.conf"
nginx -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NPORT/p0.html" >/dev/null && break; sleep 0.05; done
python3 - "$WORK" "$BIG" "$NPORT" <<'PY'
import json, sys
w, n, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = f"http://127.0.0.1:{port}"
open(w + "/big.json", "w").write(json.dumps({"urls": [f"{base}/p{i % 100}.html?big={i}" for i in range(n)]}))
open(w + "/small.json", "w").write(json.dumps({"urls": [f"{base}/p{i}.html?small" for i in range(10)]}))
PY
echo "fairness bench: nginx on 127.0.0.1:$NPORT; broker $FERRY_KAFKA_BROKERS; large batch $BIG URLs"

field() { python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }

# run LANE: fresh topics and stages, the large batch under way, then the
# small one timed from its submit to `completed`.
run() {
    local lane=$1 port pids=() t0 t1 big small st took left
    export FERRY_TOPIC_PREFIX=bench$RANDOM$RANDOM.
    port=$(bench_free_port)
    FERRY_SMALL_BATCH_ITEMS=$lane FERRY_LISTEN=127.0.0.1:$port "$B/ferry-ingest" >>"$WORK/ingest.log" 2>&1 &
    pids+=($!)
    FERRY_SCRAPE_METRICS_LISTEN=127.0.0.1:$(bench_free_port) "$B/ferry-scrape" >>"$WORK/scrape.log" 2>&1 &
    pids+=($!)
    FERRY_AGGREGATE_METRICS_LISTEN=127.0.0.1:$(bench_free_port) "$B/ferry-aggregate" >>"$WORK/aggregate.log" 2>&1 &
    pids+=($!)
    PIDS+=("${pids[@]}")
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    big=$(curl -sf -X POST -H "$AUTH" -H 'Content-Type: application/json' --data-binary @"$WORK/big.json" \
        "http://127.0.0.1:$port/v1/batch" | field id)
    for _ in $(seq 1200); do
        [ "$(curl -sf -H "$AUTH" "http://127.0.0.1:$port/v1/batch/$big" | field processed)" -ge 2000 ] 2>/dev/null && break
        sleep 0.1
    done
    t0=$(date +%s.%N)
    small=$(curl -sf -X POST -H "$AUTH" -H 'Content-Type: application/json' --data-binary @"$WORK/small.json" \
        "http://127.0.0.1:$port/v1/batch" | field id)
    st=
    while :; do
        st=$(curl -sf -H "$AUTH" "http://127.0.0.1:$port/v1/batch/$small" | field status)
        t1=$(date +%s.%N)
        [ "$st" = completed ] && break
        awk -v a="$t0" -v b="$t1" -v w="$WAIT" 'BEGIN {exit !(b - a > w)}' && break
        sleep 0.02
    done
    took=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    left=$(curl -sf -H "$AUTH" "http://127.0.0.1:$port/v1/batch/$big" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["total"] - d["processed"])')
    if [ "$st" = completed ]; then
        printf "fairness: 10-URL batch completed in %s s with %'d items of the large batch left (FERRY_SMALL_BATCH_ITEMS=%s, load %s)\n" \
            "$took" "$left" "$lane" "$(cut -d' ' -f1 /proc/loadavg)"
    else
        printf "fairness: 10-URL batch not completed after %s s (%s), %'d items of the large batch left (FERRY_SMALL_BATCH_ITEMS=%s, load %s)\n" \
            "$took" "$st" "$left" "$lane" "$(cut -d' ' -f1 /proc/loadavg)"
    fi
    curl -sf -o /dev/null -X DELETE -H "$AUTH" "http://127.0.0.1:$port/v1/batch/$big" || true
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}

run 100
run 0
if grep -q "level=error" "$WORK"/*.log; then
    echo "fairness: errors logged:"; grep -h "level=error" "$WORK"/*.log | head -5
fi
