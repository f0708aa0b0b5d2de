#!/usr/bin/env bash
# bench_throughput.sh — GET /v1/batch/{id}/throughput of a finished batch of
# THROUGHPUT_BENCH_ITEMS items (default 100,000; 30% failing, 2 KB pages for
# the others) whose results are in scrape.results: the time of the first
# call for a bucket count (the range read back) and of the calls after it
# (a finished batch's answer is cached), as the dashboard polls it.
# Starts its own broker (port FERRY_BENCH_THROUGHPUT_KAFKA_PORT, default
# 29792) unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
bench_init throughput "${FERRY_BENCH_THROUGHPUT_KAFKA_PORT:-29792}"

bench_api_env bthr 1
NI=${THROUGHPUT_BENCH_ITEMS:-100000}

bench_start_ingest
# A finished batch written straight into the topics, as scrape and
# aggregate would have left it: its results, then its final status.
id=$(python3 -c 'import random; C = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
print("bat_01M9" + "".join(random.choice(C) for _ in range(22)))')
read -r first last < <("$B/tools/results_gen" -b "$FERRY_KAFKA_BROKERS" \
    -t "${FERRY_TOPIC_PREFIX}scrape.results" -p 0 -B "$id" -n "$NI" -F 3 -s 2000)
failed=$((NI * 3 / 10))
python3 - "$id" "$NI" "$failed" "${FERRY_TOPIC_PREFIX}scrape.results" "$first" "$last" \
    >"$WORK/final.json" <<'PY'
import json, sys
i, n, f, t, a, b = sys.argv[1:]
c = "2026-11-30T10:00:00.000Z"
print(json.dumps({"id": i, "tenant": "bench", "kind": "batch", "status": "completed", "total": int(n),
                  "processed": int(n), "succeeded": int(n) - int(f), "failed": int(f),
                  "errors": {"not_found": int(f)}, "progress": 1, "credits_charged": int(n) - int(f),
                  "estimated_completion": None, "created_at": c, "started_at": c, "updated_at": c,
                  "completed_at": c, "metadata": {}, "webhook": None,
                  "kafka": {"results_topic": t, "partition": 0, "first_offset": int(a),
                            "last_offset": int(b)}}))
PY
kcat -P -b "$FERRY_KAFKA_BROKERS" -t "${FERRY_TOPIC_PREFIX}batch.status" -k "$id" \
    -X partitioner=murmur2_random "$WORK/final.json"
for _ in $(seq 600); do
    curl -s -H "$AUTH" "$API/v1/batch/$id" | grep -q '"status":"completed"' && break
    sleep 0.1
done

# call BUCKETS: one call's time in ms; fails unless it answered 200 with every item.
call() {
    local out
    out=$(curl -s -o "$WORK/t.json" -w '%{http_code} %{time_total}' -H "$AUTH" \
        "$API/v1/batch/$id/throughput?buckets=$1")
    [ "${out% *}" = 200 ] && grep -q "\"items\":$NI," "$WORK/t.json" ||
        { echo "throughput: answered ${out% *}: $(head -c 300 "$WORK/t.json")"; exit 1; }
    awk -v t="${out#* }" 'BEGIN {printf "%.2f", t * 1000}'
}
for b in 60 120 500; do
    firstms=$(call "$b")
    rest=$(for _ in $(seq 20); do call "$b"; echo; done | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)], v[NR]}')
    echo "throughput: GET /v1/batch/{id}/throughput?buckets=$b of a finished $(printf "%'d" "$NI")-item batch ($((last - first + 1)) records): first call $firstms ms, the 20 after it median ${rest% *} ms, max ${rest#* } ms"
done
