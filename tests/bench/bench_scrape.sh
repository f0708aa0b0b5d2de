#!/usr/bin/env bash
# bench_scrape.sh — scrape's figures (issue 4), against a local nginx on
# loopback serving 100 pages of 2-50 KB (log-uniform sizes):
#   1. fetches/s from Kafka request to Kafka result, the stage alone, for
#      100, 300 and 1,000 transfers in flight (the requests are written
#      before the stage starts; the rate is measured between the first and
#      the last result read back from scrape.results);
#   2. peak RSS with 1,000 in flight and a 1,000,000-item backlog.
# One host serves everything, so the per-host politeness cap is lifted to
# the in-flight count (FERRY_SCRAPE_HOST_CONNECTIONS), as it would be for a
# batch spread over many hosts.
# Starts its own broker (port FERRY_BENCH_SCRAPE_KAFKA_PORT, default 29392)
# unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran.
# Every run also prints the stage's own CPU time per fetch (user+system from
# /proc), which does not depend on what else the machine is doing, and the
# load average (the broker, nginx and the stage share the same two cores).
#   FERRY_BENCH_SCRAPE_ITEMS   items per scaling run (default 100000)
#   FERRY_BENCH_SCRAPE_BACKLOG backlog for the RSS run (default 1000000)
#   FERRY_BENCH_SCRAPE_ONLY    "amazon": only the amazon.product pair (plain
#                              HTML, then the endpoint), repeated
#                              FERRY_BENCH_SCRAPE_PAIRS times (default 1)
#   FERRY_BENCH_SCRAPE_PERF    1: each run's stage is sampled by perf (where
#                              its CPU goes: the top functions, by share)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
bench_init scrape "${FERRY_BENCH_SCRAPE_KAFKA_PORT:-29392}"
chmod 755 "$WORK" # nginx workers run unprivileged
ITEMS=${FERRY_BENCH_SCRAPE_ITEMS:-100000}
BACKLOG=${FERRY_BENCH_SCRAPE_BACKLOG:-1000000}
export FERRY_TOPIC_PARTITIONS=4
export FERRY_LOG_LEVEL=warn
export FERRY_ALLOW_PRIVATE_NETWORKS=1


# ---- the static site
mkdir -p "$WORK/site" "$WORK/tmp"
mean_kb=$(python3 tests/bench/scrape_pages.py "$WORK/site" 100)
NPORT=$(bench_free_port)
sed -e "s|@PORT@|$NPORT|; s|@ROOT@|$WORK/site|; s|@DIR@|$WORK|g" tests/bench/scrape_nginx.conf >"$WORK/nginx.conf"
nginx -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NPORT/p0.html" >/dev/null && break; sleep 0.05; done
echo "scrape bench: nginx on 127.0.0.1:$NPORT, 100 pages, mean ${mean_kb} KB; broker $FERRY_KAFKA_BROKERS"

# run INFLIGHT N [FORMATS [stage args...]]: fresh topics, N requests written
# first, then the stage is started and timed until N results are in Kafka.
run() {
    local inflight=$1 n=$2 formats=${3:-'["html"]'} mport pid hwm
    shift 3 2>/dev/null || shift $#
    export FERRY_TOPIC_PREFIX=bench$RANDOM$RANDOM.
    "$B/tools/scrape_bench" gen "$n" "http://127.0.0.1:$NPORT${SITE_PATH:-}" 100 "$formats" >"$WORK/gen.out" 2>>"$WORK/gen.log"
    mport=$(bench_free_port)
    FERRY_SCRAPE_INFLIGHT=$inflight FERRY_SCRAPE_HOST_CONNECTIONS=$inflight \
        FERRY_SCRAPE_METRICS_LISTEN=127.0.0.1:$mport "$B/ferry-scrape" "$@" >>"$WORK/scrape.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    local perf_pid=
    if [ -n "${FERRY_BENCH_SCRAPE_PERF:-}" ]; then
        perf record -q -F 499 -g -p "$pid" -o "$WORK/perf.data" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    "$B/tools/scrape_bench" count "$n" 600 >"$WORK/count.out" || true
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
        perf report -i "$WORK/perf.data" --stdio -g none --no-children --sort dso,sym --percent-limit 0.7 \
            2>/dev/null | grep -E '^ +[0-9.]+%' | head -40 | sed 's/^/    perf: /'
    fi
    hwm=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$pid/status")
    cpu_us=$(awk -v n="$n" -v hz="$(getconf CLK_TCK)" '{printf "%.0f", ($14+$15)/hz*1e6/n}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rate=$(sed -n 's/.* \([0-9]*\) results\/s.*/\1/p' "$WORK/count.out")
    printf "scrape: %'d fetches/s (%'d in flight, %'d items, formats %s%s, peak RSS %s MB, stage CPU %s us/fetch, load %s)\n" \
        "${rate:-0}" "$inflight" "$n" "$formats" "${*:+, $*}" "$hwm" "$cpu_us" "$(cut -d' ' -f1 /proc/loadavg)"
    sed 's/^/    /' "$WORK/count.out"
}

ONLY=${FERRY_BENCH_SCRAPE_ONLY:-}
if [ -z "$ONLY" ]; then
    for inflight in 100 300 1000; do
        run "$inflight" "$ITEMS"
    done
    run 1000 "$ITEMS" '["html"]' -X compression.codec=none
    run 1000 $((ITEMS / 4)) '["html","text","markdown","links","metadata"]'
fi

# ---- amazon.product items (issue 12: at least half the plain-HTML rate),
# against the three product fixture pages (US, DE, JP layouts) served as
# /amz/p<N>.html, beside plain html of the same pages. The requests are what
# ingest writes for an endpoint item (the profile's digest is the first 16
# hex digits of the SHA-256 of its file).
mkdir -p "$WORK/site/amz"
layouts=(us de jp)
for i in $(seq 0 99); do
    cp "tests/fixtures/extract/amazon_product_${layouts[i % 3]}.html" "$WORK/site/amz/p$i.html"
done
digest=$(sha256sum shared/profiles/amazon.product.json | cut -c1-16)
endpoint='[],"input":{"query":"B09VPHVT2Z"},"endpoint":{"name":"amazon.product","digest":"'$digest'","params":{"query":"B09VPHVT2Z","domain":"com"}}'
for _ in $(seq "${FERRY_BENCH_SCRAPE_PAIRS:-1}"); do
    SITE_PATH=/amz run 1000 "$ITEMS" '["html"]'
    SITE_PATH=/amz run 1000 "$ITEMS" "$endpoint"
done
if [ "$ONLY" = amazon ]; then exit 0; fi

# ---- RSS with a 1,000,000-item backlog and 1,000 in flight: the stage runs
# for 30 s against the full backlog; peak RSS is the kernel's high-water mark.
export FERRY_TOPIC_PREFIX=bench$RANDOM$RANDOM.
"$B/tools/scrape_bench" gen "$BACKLOG" "http://127.0.0.1:$NPORT" 100 >"$WORK/gen.out" 2>>"$WORK/gen.log"
sed 's/^/    /' "$WORK/gen.out"
mport=$(bench_free_port)
FERRY_SCRAPE_INFLIGHT=1000 FERRY_SCRAPE_HOST_CONNECTIONS=1000 \
    FERRY_SCRAPE_METRICS_LISTEN=127.0.0.1:$mport "$B/ferry-scrape" >>"$WORK/scrape.log" 2>&1 &
pid=$!
PIDS+=($pid)
sleep 30
lag=$(curl -s "http://127.0.0.1:$mport/metrics" | awk '/^ferry_scrape_consumer_lag/ {print $2}')
done_ok=$(curl -s "http://127.0.0.1:$mport/metrics" | awk -F' ' '/^ferry_scrape_fetches_total\{outcome="ok"\}/ {print $2}')
hwm=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$pid/status")
kill "$pid"; wait "$pid" 2>/dev/null || true
printf "scrape: peak RSS %s MB with 1,000 in flight and a %'d-item backlog (30 s: %s fetched, lag %s)\n" \
    "$hwm" "$BACKLOG" "$done_ok" "$lag"
if grep -q "level=error" "$WORK/scrape.log"; then
    echo "scrape: errors logged:"; grep "level=error" "$WORK/scrape.log" | head -5
fi
