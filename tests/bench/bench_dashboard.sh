#!/usr/bin/env bash
# bench_dashboard.sh — the dashboard's batches page with 10,000 batches
# (issue 18: "renders in under 1 s, paged from the API"):
#   1. N batches (default 10,000) of one URL each for one tenant, submitted
#      through POST /v1/batch by create_schedules.py, 32 keep-alive
#      connections at a time. Only ingest runs: the batches stay queued,
#      which is all the list needs (their documents are ingest's own).
#   2. GET /v1/batches?limit=20 (the page's first call): median and p99 of
#      200 calls with curl, and the whole list walked 100 a page.
#   3. the page in Chromium (dashboard_load.mjs): from navigation to the
#      first rendered rows, median of 7 runs.
# Starts its own broker (port FERRY_BENCH_DASHBOARD_KAFKA_PORT, default
# 29480) unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran and
# compose/deps.sh installed playwright-core.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
bench_init dashboard "${FERRY_BENCH_DASHBOARD_KAFKA_PORT:-29480}"

N=${FERRY_BENCH_DASHBOARD:-10000}
bench_api_env bench 6
export NODE_PATH=$ROOT/compose/.cache/npm/node_modules
[ -d "$NODE_PATH/playwright-core" ] || { echo "playwright-core missing: run compose/deps.sh"; exit 1; }

bench_start_ingest

# ---- 1. N batches ----
secs=$(python3 tests/bench/create_schedules.py "$API" bench-key-1 "$N" 32 - /v1/batch \
    '{"urls": ["https://www.example.com/p/1"]}')
echo "submitted $N batches in ${secs}s  (load: $(cut -d' ' -f1-3 /proc/loadavg))"

# ---- 2. the API's pages ----
for _ in $(seq 200); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "$AUTH" "$API/v1/batches?limit=20"
done | sort -n >"$WORK/t"
awk '{a[NR]=$1} END{printf "GET /v1/batches?limit=20 with %s batches: median %.2f ms, p99 %.2f ms over %d calls", n, 1000*a[int(NR/2)+1], 1000*a[int(NR*0.99)], NR}' n="$N" "$WORK/t"
echo "  (load: $(cut -d' ' -f1-3 /proc/loadavg))"
t0=$(date +%s.%N)
listed=$(python3 - "$API" <<'PY'
import json, sys, urllib.request
api, link, n = sys.argv[1], "/v1/batches?limit=100", 0
while link:
    req = urllib.request.Request(api + link, headers={"Authorization": "Bearer bench-key-1"})
    d = json.load(urllib.request.urlopen(req))
    n += len(d["batches"])
    link = d["next"]
print(n)
PY
)
t1=$(date +%s.%N)
[ "$listed" -eq "$N" ] || { echo "the list walked $listed batches, not $N"; exit 1; }
echo "walked all $listed batches 100 a page in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}') s"

# ---- 3. the page in Chromium ----
BASE=$API KEY=bench-key-1 node tests/bench/dashboard_load.mjs
echo "(load: $(cut -d' ' -f1-3 /proc/loadavg))"
