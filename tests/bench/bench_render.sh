#!/usr/bin/env bash
# bench_render.sh — render's figures (issue 14): PNG screenshots (1280 x 800)
# of a simple local page served by nginx on loopback, from Kafka request to
# Kafka result (the file written to the files topic first), for several pool
# sizes (browsers x tabs): the rate between the first and the last result,
# per-item latency (p50, p99), the peak memory of the stage with all its
# browser processes (its ferry_render_rss_bytes gauge: PSS, read every
# second, which the stage measures at most every 5 s), and the CPU time the
# stage and its browsers spent per screenshot (start-up included), which
# does not depend on what else the machine runs: two idle cores give at
# most 2000 / (that many ms) screenshots a second, split by kind of process
# (renderers, browser, gpu, network, stage), then the bench's own watcher
# (render_bench.py and its kcat), which shares the cores meanwhile.
# The requests are written before the stage starts.
# Then a lone item's time: FERRY_BENCH_RENDER_LONE screenshots one at a time
# on 1 browser x 1 tab, with the slot's next page opened ahead
# (FERRY_RENDER_PREPARE=1) and without, alternating twice.
# Starts its own broker (port FERRY_BENCH_RENDER_KAFKA_PORT, default 29492)
# unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran.
#   FERRY_BENCH_RENDER_ITEMS  screenshots per pool size (default 400)
#   FERRY_BENCH_RENDER_POOLS  pool sizes as BROWSERSxTABS (default "1x1 1x2 1x4 2x2 2x4 1x8 3x4")
#   FERRY_BENCH_RENDER_LONE   lone screenshots per run (default 25; 0: none)
#   FERRY_BENCH_RENDER_SAMPLE_MS  the watcher's period for /proc and /metrics (default 1000)
#   FERRY_BENCH_RENDER_VS     "VAR=value ..." (e.g. FERRY_RENDER_CHROMIUM_FLAGS=--in-process-gpu):
#                             instead of the above, two stages side by side, 1 x 2 each, the
#                             second with these settings, FERRY_BENCH_RENDER_REPS times
#                             (default 3, sides swapped each time); each prints its CPU per
#                             screenshot. Both see the same machine at the same moment, so a
#                             setting's effect shows within about 2% even at load 20, where
#                             one run after another varies by 30%.
#   FERRY_BENCH_RENDER_VS_BIN the same, the second stage this ferry-render binary (with
#                             FERRY_BENCH_RENDER_VS's settings, if any): a build against another
#                             (e.g. a copy of main's build/ferry-render), at the same moment.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
bench_init render "${FERRY_BENCH_RENDER_KAFKA_PORT:-29492}"
chmod 755 "$WORK" # nginx workers run unprivileged
ITEMS=${FERRY_BENCH_RENDER_ITEMS:-400}
POOLS=${FERRY_BENCH_RENDER_POOLS:-"1x1 1x2 1x4 2x2 2x4 1x8 3x4"}
export FERRY_TOPIC_PARTITIONS=4
export FERRY_LOG_LEVEL=warn
export FERRY_ALLOW_PRIVATE_NETWORKS=1

mkdir -p "$WORK/site" "$WORK/tmp"
cat >"$WORK/site/page.html" <<'HTML'
<!doctype html><html><head><title>A simple page</title>
<style>body{font-family:sans-serif;margin:40px}h1{color:#246}</style></head>
<body><h1>A simple page</h1><p>Some text, a list and a script that writes a line.</p>
<ul><li>one</li><li>two</li><li>three</li></ul><p id="js"></p>
<script>document.getElementById('js').textContent = 'written at ' + new Date().toISOString();</script>
</body></html>
HTML
NPORT=$(bench_free_port)
sed -e "s|@PORT@|$NPORT|; s|@ROOT@|$WORK/site|; s|@DIR@|$WORK|g" tests/bench/scrape_nginx.conf >"$WORK/nginx.conf"
nginx -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NPORT/page.html" >/dev/null && break; sleep 0.05; done
CHROMIUM=${FERRY_RENDER_CHROMIUM:-/usr/lib/chromium/chromium-headless-shell}
echo "render bench: nginx on 127.0.0.1:$NPORT, $ITEMS screenshots per pool size; broker $FERRY_KAFKA_BROKERS; $("$CHROMIUM" --version 2>/dev/null)"

# One stage's run on requests already written: its watch line.
render_watch() { # PREFIX METRICS_PORT N [VAR=value...]
    local prefix=$1 port=$2 n=$3 pid out
    shift 3
    env FERRY_TOPIC_PREFIX="$prefix" FERRY_RENDER_METRICS_LISTEN=127.0.0.1:$port "$@" \
        "${RENDER_BIN:-$B/ferry-render}" >>"$WORK/render.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    out=$(python3 tests/bench/render_bench.py watch "$n" 300 "$prefix" "http://127.0.0.1:$port/metrics" "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$out"
}

# The topics first (the stage makes them), then the requests, so the
# backlog is all there when the measured stage starts.
render_topics() { # PREFIX N
    local mport pid
    mport=$(bench_free_port)
    FERRY_TOPIC_PREFIX=$1 FERRY_RENDER_METRICS_LISTEN=127.0.0.1:$mport "$B/ferry-render" >>"$WORK/render.log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$mport/healthz" >/dev/null && break; sleep 0.1; done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 tests/bench/render_bench.py gen "$2" "http://127.0.0.1:$NPORT/page.html" "$1"
}

VS_BIN=${FERRY_BENCH_RENDER_VS_BIN:-$B/ferry-render}
if [ -n "${FERRY_BENCH_RENDER_VS:-}${FERRY_BENCH_RENDER_VS_BIN:-}" ]; then
    read -r -a vs <<<"${FERRY_BENCH_RENDER_VS:-}"
    with="${FERRY_BENCH_RENDER_VS:-}${FERRY_BENCH_RENDER_VS_BIN:+ $FERRY_BENCH_RENDER_VS_BIN}"
    base=(FERRY_RENDER_BROWSERS=1 FERRY_RENDER_TABS=2 FERRY_RENDER_INFLIGHT=16)
    for rep in $(seq "${FERRY_BENCH_RENDER_REPS:-3}"); do
        pa=bench$RANDOM$RANDOM. pb=bench$RANDOM$RANDOM.
        render_topics "$pa" "$ITEMS"
        render_topics "$pb" "$ITEMS"
        load=$(cut -d' ' -f1 /proc/loadavg)
        porta=$(bench_free_port) portb=$(bench_free_port)
        # Sides swapped every other time: neither gets the first start.
        if ((rep % 2)); then
            render_watch "$pa" "$porta" "$ITEMS" "${base[@]}" >"$WORK/a.out" &
            wa=$!
            RENDER_BIN=$VS_BIN render_watch "$pb" "$portb" "$ITEMS" "${base[@]}" "${vs[@]}" >"$WORK/b.out" &
            wb=$!
        else
            RENDER_BIN=$VS_BIN render_watch "$pb" "$portb" "$ITEMS" "${base[@]}" "${vs[@]}" >"$WORK/b.out" &
            wb=$!
            render_watch "$pa" "$porta" "$ITEMS" "${base[@]}" >"$WORK/a.out" &
            wa=$!
        fi
        wait "$wa" "$wb"
        echo "render side by side, 1 x 2 each, as is: $(cat "$WORK/a.out") (load before $load)"
        echo "render side by side, 1 x 2 each, with$with: $(cat "$WORK/b.out")"
    done
    POOLS= FERRY_BENCH_RENDER_LONE=0
fi

for pool in $POOLS; do
    browsers=${pool%x*} tabs=${pool#*x}
    prefix=bench$RANDOM$RANDOM.
    render_topics "$prefix" "$ITEMS"
    load=$(cut -d' ' -f1 /proc/loadavg)
    out=$(render_watch "$prefix" "$(bench_free_port)" "$ITEMS" FERRY_RENDER_BROWSERS="$browsers" \
        FERRY_RENDER_TABS="$tabs" FERRY_RENDER_INFLIGHT=$((browsers * tabs * 4)))
    printf "render %-4s (%d browsers x %d tabs): %s (load before %s, after %s)\n" "$pool" "$browsers" \
        "$tabs" "$out" "$load" "$(cut -d' ' -f1 /proc/loadavg)"
done
LONE=${FERRY_BENCH_RENDER_LONE:-25}
for prepare in $( ((LONE > 0)) && echo 0 1 0 1); do
    export FERRY_TOPIC_PREFIX=bench$RANDOM$RANDOM.
    mport=$(bench_free_port)
    FERRY_RENDER_PREPARE=$prepare FERRY_RENDER_BROWSERS=1 FERRY_RENDER_TABS=1 \
        FERRY_RENDER_METRICS_LISTEN=127.0.0.1:$mport "$B/ferry-render" >>"$WORK/render.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    for _ in $(seq 300); do
        curl -sf "http://127.0.0.1:$mport/metrics" | grep -q '^ferry_render_browsers_up 1' && break
        sleep 0.1
    done
    load=$(cut -d' ' -f1 /proc/loadavg)
    out=$(python3 tests/bench/render_bench.py lone "$LONE" "http://127.0.0.1:$NPORT/page.html" "$FERRY_TOPIC_PREFIX")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    printf "render lone (1 x 1, FERRY_RENDER_PREPARE=%s): %s (load before %s, after %s)\n" "$prepare" \
        "$out" "$load" "$(cut -d' ' -f1 /proc/loadavg)"
done
if grep -q "level=error" "$WORK/render.log"; then
    echo "render: errors logged:"; grep "level=error" "$WORK/render.log" | head -5
fi
