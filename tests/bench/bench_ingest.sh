#!/usr/bin/env bash
# bench_ingest.sh — ingest's figures (issue 3):
#   1. a 100,000-URL submit (~6 MB of JSON): time to the 202, i.e. accepted
#      and committed in one Kafka transaction (acks=all);
#   2. GET /v1/batch/{id} with wrk on loopback: requests/s and p99;
#   3. RSS with 1,000 batches retained (the submitting instance, and a fresh
#      instance that read them all from the status topic);
#   4. small-batch submits/s with 1, 2 and 4 transactional producers.
# Starts its own broker (port FERRY_BENCH_INGEST_KAFKA_PORT, default 29292)
# unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
bench_init ingest "${FERRY_BENCH_INGEST_KAFKA_PORT:-29292}"

bench_api_env bench 6
export FERRY_WEBHOOK_ALLOW_HTTP=1
# The small batches' webhook is on loopback, which ingest refuses otherwise.
export FERRY_ALLOW_PRIVATE_NETWORKS=1


# start_ingest VAR [env...]: starts an instance, waits for /healthz, sets VAR to its port.
start_ingest() {
    local var=$1 port
    shift
    port=$(bench_free_port)
    env FERRY_LISTEN=127.0.0.1:$port "$@" "$B/ferry-ingest" >>"$WORK/ingest-$port.log" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "ingest did not start"; tail "$WORK/ingest-$port.log"; exit 1; }
    printf -v "$var" '%s' "$port"
}
stop_ingest() { kill "$1"; wait "$1" 2>/dev/null || true; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
urls = ["https://www.example.com/catalog/item/%06d?ref=bench&lang=en" % i for i in range(100000)]
open(w + "/big.json", "w").write(json.dumps({"urls": urls, "formats": ["html", "text"]}))
open(w + "/small.json", "w").write(json.dumps({
    "urls": ["https://www.example.com/p/%d" % i for i in range(10)],
    "webhook_url": "http://127.0.0.1:9/hook", "metadata": {"bench": True}}))
PY
size=$(stat -c %s "$WORK/big.json")

# ---- 3 first (a clean process): 1,000 batches retained ----
start_ingest API
PID=$LAST_PID
base=$(rss_mb "$PID")
t0=$(date +%s.%N)
seq 1000 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "$AUTH" \
    --data-binary @"$WORK/small.json" "http://127.0.0.1:$API/v1/batch" >"$WORK/codes"
t1=$(date +%s.%N)
ok=$(grep -c '^202$' "$WORK/codes" || true)
rss1=$(rss_mb "$PID")
printf 'ingest: 1,000 small batches (10 URLs + webhook) submitted, %s accepted, %.0f batches/s (8 clients, 4 producers)\n' \
    "$ok" "$(echo "1000 / ($t1 - $t0)" | bc -l)"
start_ingest API2
PID2=$LAST_PID
rss2=$(rss_mb "$PID2")
printf 'ingest: RSS with 1,000 batches retained: %s MB (submitting instance; %s MB at start), %s MB (fresh instance that read them from the status topic)\n' \
    "$rss1" "$base" "$rss2"
stop_ingest "$PID2"
# 20,000 more (completed, with webhook and results location) straight into
# the status topic; a fresh instance reads all 21,000.
python3 - "$WORK/status.txt" <<'PY'
import json, random, sys
C = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        bid = "bat_01M8" + "".join(random.choice(C) for _ in range(22))
        d = {"id": bid, "tenant": "bench", "status": "completed", "total": 10, "processed": 10,
             "succeeded": 10, "failed": 0, "errors": {}, "progress": 1.0,
             "created_at": "2026-11-22T10:00:00.000Z", "started_at": "2026-11-22T10:00:00.000Z",
             "updated_at": "2026-11-22T10:00:01.000Z", "completed_at": "2026-11-22T10:00:01.000Z",
             "metadata": {"bench": True},
             "webhook": {"url": "https://hooks.example.com/ferry",
                         "events": ["batch.completed", "batch.failed", "batch.cancelled"]},
             "results": {"topic": "x.scrape.results", "partition": 1, "first_offset": 1000,
                         "last_offset": 1009}}
        f.write(bid + "|" + json.dumps(d, separators=(",", ":")) + "\n")
PY
kcat -P -b "$FERRY_KAFKA_BROKERS" -t "${FERRY_TOPIC_PREFIX}batch.status" -K '|' \
    -X partitioner=murmur2_random -l "$WORK/status.txt"
t0=$(date +%s.%N)
start_ingest API2
t1=$(date +%s.%N)
printf 'ingest: RSS with 21,000 batches retained: %s MB (fresh instance, ready %.1f s after start)\n' \
    "$(rss_mb "$LAST_PID")" "$(echo "$t1 - $t0" | bc -l)"
stop_ingest "$LAST_PID"

# ---- 1. the 100,000-URL submit ----
best=999
for i in 1 2 3; do
    out=$(curl -s -o "$WORK/big.out" -w '%{http_code} %{time_total}' -X POST -H "$AUTH" \
        -H 'Content-Type: application/json' --data-binary @"$WORK/big.json" \
        "http://127.0.0.1:$API/v1/batch")
    code=${out% *}
    t=${out#* }
    [ "$code" = 202 ] || { echo "ingest: big submit answered $code: $(head -c 300 "$WORK/big.out")"; exit 1; }
    printf 'ingest: 100,000-URL submit (%.1f MB JSON) accepted and committed in %.3f s (run %d)\n' \
        "$(echo "$size / 1048576" | bc -l)" "$t" "$i"
    best=$(echo "if ($t < $best) $t else $best" | bc -l)
done
BIG=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["id"])' "$WORK/big.out")
printf 'ingest: RSS after the 100,000-URL submits: %s MB\n' "$(rss_mb "$PID")"

# ---- 2. GET /v1/batch/{id} ----
for c in 4 16 64; do
    wrk -t2 -c$c -d5s --latency -H "$AUTH" "http://127.0.0.1:$API/v1/batch/$BIG" >"$WORK/wrk" 2>&1
    rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk")
    p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk")
    p50=$(awk '$1=="50%" {print $2}' "$WORK/wrk")
    errs=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk")
    printf 'ingest: GET /v1/batch/{id}: %s req/s, p50 %s, p99 %s (wrk 2 threads, %d connections, 5 s%s)\n' \
        "$rps" "$p50" "$p99" "$c" "${errs:+, non-2xx $errs}"
done
stop_ingest "$PID"

# ---- 4. transactional producers: 1, 2, 4 ----
for n in ${BENCH_PRODUCERS:-1 2 4}; do
    start_ingest API FERRY_INGEST_PRODUCERS=$n
    P=$LAST_PID
    t0=$(date +%s.%N)
    seq 300 | xargs -P 8 -I{} curl -s -o /dev/null -X POST -H "$AUTH" \
        --data-binary @"$WORK/small.json" "http://127.0.0.1:$API/v1/batch"
    t1=$(date +%s.%N)
    printf 'ingest: FERRY_INGEST_PRODUCERS=%d: %.0f small batches/s (300 batches, 8 clients)\n' \
        "$n" "$(echo "300 / ($t1 - $t0)" | bc -l)"
    stop_ingest "$P"
done
