#!/usr/bin/env bash
# bench_accounts.sh — the figures of issue 11's listing and retry:
#   1. GET /v1/batches with 10,000 batches of one tenant: a walk through all
#      100 pages of 100, and wrk on the first page and a filtered page
#      (requests/s, p99);
#   2. POST /v1/batch/{id}/retry of a 100,000-item batch whose results (30%
#      failing, 2 KB pages for the others: ~160 MB) are in scrape.results:
#      time to the 202, and ingest's peak RSS before and after (the results
#      stream past; they are never held).
# Starts its own broker (port FERRY_BENCH_ACCOUNTS_KAFKA_PORT, default
# 29692) unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran.
#   ACCOUNTS_BENCH_BATCHES (default 10000), ACCOUNTS_BENCH_ITEMS (default 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
bench_init accounts "${FERRY_BENCH_ACCOUNTS_KAFKA_PORT:-29692}"

bench_api_env bacc 6
NB=${ACCOUNTS_BENCH_BATCHES:-10000}
NI=${ACCOUNTS_BENCH_ITEMS:-100000}

port=$(bench_free_port)
FERRY_LISTEN=127.0.0.1:$port "$B/ferry-ingest" >>"$WORK/ingest.log" 2>&1 &
PID=$!
PIDS+=($PID)
for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
U=http://127.0.0.1:$port
hwm_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$PID/status"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$PID/status"; }

# ---- 1. listing 10,000 batches ----------------------------------------------
echo '{"urls":["https://www.example.com/p"]}' >"$WORK/one.json"
seq "$NB" | xargs -P 16 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "$AUTH" \
    --data-binary @"$WORK/one.json" "$U/v1/batch" >"$WORK/codes"
ok=$(grep -c '^202$' "$WORK/codes" || true)
[ "$ok" = "$NB" ] || { echo "accounts: only $ok of $NB submits answered 202"; exit 1; }
walk=$(python3 - "$U" "$AUTH" <<'PY'
import json, sys, time, urllib.request
base, auth = sys.argv[1], sys.argv[2].split(": ", 1)
url, n, pages, t0 = "/v1/batches?limit=100", 0, 0, time.monotonic()
while url:
    req = urllib.request.Request(base + url, headers={auth[0]: auth[1]})
    page = json.load(urllib.request.urlopen(req))
    n, pages, url = n + len(page["batches"]), pages + 1, page["next"]
print(n, pages, round((time.monotonic() - t0) * 1000))
PY
)
read -r seen pages ms <<<"$walk"
[ "$seen" = "$NB" ] || { echo "accounts: the walk saw $seen of $NB batches"; exit 1; }
echo "accounts: listing $(printf "%'d" "$NB") batches: every page of 100 walked in $ms ms ($pages pages, $(awk -v m="$ms" -v p="$pages" 'BEGIN{printf "%.1f", m/p}') ms a page)"
for q in "limit=20" "limit=20&status=completed"; do
    out=$(wrk -t2 -c4 -d5s --latency -H "$AUTH" "$U/v1/batches?$q" 2>&1)
    rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    echo "accounts: GET /v1/batches?$q: $(printf "%'d" "$rps") req/s, p99 $p99 (4 connections)"
done

# ---- 2. retrying a 100,000-item batch ---------------------------------------
python3 - "$WORK" "$NI" <<'PY'
import json, sys
urls = ["https://www.example.com/catalog/item/%06d?ref=bench&lang=en" % i for i in range(int(sys.argv[2]))]
open(sys.argv[1] + "/big.json", "w").write(json.dumps({"urls": urls}))
PY
big=$(curl -s -X POST -H "$AUTH" --data-binary @"$WORK/big.json" "$U/v1/batch")
id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$big")
created=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["created_at"])' "$big")
part=$(python3 - "$id" "$FERRY_TOPIC_PARTITIONS" <<'PY'
import sys
def murmur2(data):
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    for i in range(len(data) // 4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF; k ^= k >> r; k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF; h ^= k
    rest = data[len(data) // 4 * 4:]
    if len(rest) == 3: h ^= rest[2] << 16
    if len(rest) >= 2: h ^= rest[1] << 8
    if len(rest) >= 1: h ^= rest[0]; h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13; h = (h * m) & 0xFFFFFFFF; h ^= h >> 15
    return h
print((murmur2(sys.argv[1].encode()) & 0x7FFFFFFF) % int(sys.argv[2]))
PY
)
read -r first last < <("$B/tools/results_gen" -b "$FERRY_KAFKA_BROKERS" \
    -t "${FERRY_TOPIC_PREFIX}scrape.results" -p "$part" -B "$id" -n "$NI" -F 3 -s 2000)
failed=$((NI * 3 / 10))
python3 - "$id" "$created" "$NI" "$failed" "${FERRY_TOPIC_PREFIX}scrape.results" "$part" "$first" "$last" >"$WORK/final.json" <<'PY'
import json, sys
i, c, n, f, t, p, a, b = sys.argv[1:]
print(json.dumps({"id": i, "tenant": "bench", "kind": "batch", "status": "completed", "total": int(n),
                  "processed": int(n), "succeeded": int(n) - int(f), "failed": int(f),
                  "errors": {"not_found": int(f)}, "progress": 1, "credits_charged": int(n) - int(f),
                  "estimated_completion": None, "created_at": c, "started_at": c, "updated_at": c,
                  "completed_at": c, "metadata": {}, "webhook": None,
                  "kafka": {"results_topic": t, "partition": int(p), "first_offset": int(a),
                            "last_offset": int(b)}}))
PY
kcat -P -b "$FERRY_KAFKA_BROKERS" -t "${FERRY_TOPIC_PREFIX}batch.status" -k "$id" \
    -X partitioner=murmur2_random "$WORK/final.json"
for _ in $(seq 600); do
    curl -s -H "$AUTH" "$U/v1/batch/$id" | grep -q '"status":"completed"' && break
    sleep 0.1
done
hwm0=$(hwm_mb)
rss0=$(rss_mb)
t0=$(date +%s%N)
ans=$(curl -s -m 300 -X POST -H "$AUTH" "$U/v1/batch/$id/retry")
t1=$(date +%s%N)
total=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("total"))' "$ans")
[ "$total" = "$failed" ] || { echo "accounts: retry answered $ans"; exit 1; }
echo "accounts: retry of a $(printf "%'d" "$NI")-item batch ($(printf "%'d" "$failed") failing, results $(( (last - first + 1) )) records, ~$((NI * 7 / 10 * 2 / 1000)) MB of pages): 202 in $(((t1 - t0) / 1000000)) ms; ingest peak RSS $hwm0 MB before, $(hwm_mb) MB after (RSS $rss0 -> $(rss_mb) MB)"
