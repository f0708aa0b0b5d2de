#!/usr/bin/env bash
# bench_schedules.sh — the scheduler's figures (issue 15):
#   1. idle: one ingest's CPU over 30 s, from /proc (utime + stime), first
#      with no schedule, then holding 10,000 none of which is due (cron
#      "0 0 1 1 *"): the difference is what the schedules cost;
#   2. 10,000 schedules firing in the same minute ("* * * * *", created
#      before the minute starts): how late each run's commit came after the
#      slot (the late_ms of its schedule_run log line): p50, p99, max, and
#      how many ran; then how long after the slot the latest run's batch
#      answers GET /v1/batch/{id}.
# Schedules are created through the API (validated and written as for any
# client) by create_schedules.py, 32 keep-alive connections at a time;
# only the firing is measured.
# Starts its own broker (port FERRY_BENCH_SCHEDULES_KAFKA_PORT, default
# 29470) unless FERRY_KAFKA_BROKERS is set. Assumes `make` ran.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/lib.sh
bench_init schedules "${FERRY_BENCH_SCHEDULES_KAFKA_PORT:-29470}"

N=${FERRY_BENCH_SCHEDULES:-10000}
bench_api_env bench 6
export FERRY_LOG_LEVEL=info # each run's late_ms is read from its schedule_run line

bench_start_ingest
PID=$INGEST_PID

# create CRON: N schedules; prints the seconds taken.
create() { python3 tests/bench/create_schedules.py "$API" bench-key-1 "$N" 32 "$1"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

# idle LABEL: the process's CPU over 30 s.
idle() {
    local c0 c1 t0 t1 hz
    c0=$(cpu_ticks)
    t0=$(date +%s.%N)
    sleep 30 # the measured interval itself
    c1=$(cpu_ticks)
    t1=$(date +%s.%N)
    hz=$(getconf CLK_TCK)
    echo "idle $1: $(awk -v c=$((c1 - c0)) -v hz="$hz" -v a="$t0" -v b="$t1" \
        'BEGIN{printf "%.2f", 100 * c / hz / (b - a)}')% of one core over 30 s  (load: $(cut -d' ' -f1-3 /proc/loadavg))"
}

# ---- 1. idle ----
# Past start-up and PARK_QUIET_MS (firing_int.h), after which an owner with
# nothing due soon closes its partitions' producers.
sleep 40
idle "with no schedule"
secs=$(create "0 0 1 1 *")
echo "created $N idle schedules in ${secs}s ($(awk -v n="$N" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')/s)"
sleep 40
idle "with $N schedules"

# ---- 2. N schedules firing in the same minute ----
# Created in the first 40 s of a minute, so every one's first slot is the next.
while [ "$(date +%S | sed 's/^0//')" -gt 5 ]; do sleep 1; done
secs=$(create "* * * * *")
now=$(date +%s)
slot=$(((now / 60 + 1) * 60))
[ "$now" -lt $((slot - 2)) ] || { echo "creating took too long (${secs}s): the minute is gone"; exit 1; }
slot_iso=$(date -u -d "@$slot" +%Y-%m-%dT%H:%M:00.000Z)
echo "created $N firing schedules in ${secs}s; slot $slot_iso"
for _ in $(seq 120); do
    n=$(grep -c "event=schedule_run .*slot=$slot_iso" "$WORK/ingest.log" || true)
    [ "$n" -ge "$N" ] && break
    sleep 1
done
grep "event=schedule_run .*slot=$slot_iso" "$WORK/ingest.log" | sed 's/.*late_ms=//' | sort -n >"$WORK/late"
awk -v n="$N" '
function at(p,  k) { k = int(NR * p) + 1; if (k > NR) k = NR; return a[k] }
{ a[NR] = $1 }
END {
    if (NR == 0) { print "no runs"; exit 1 }
    printf "%d of %d schedules ran for the slot; late (slot to commit) p50 %d ms, p99 %d ms, max %d ms\n", NR, n, at(0.5), at(0.99), a[NR]
}' "$WORK/late"
# The latest run's batch: how long after the slot GET answers it.
last=$(grep "event=schedule_run .*slot=$slot_iso" "$WORK/ingest.log" |
    sed 's/.*batch=\([^ ]*\).*late_ms=\([0-9-]*\).*/\2 \1/' | sort -n | tail -1 | cut -d' ' -f2)
for _ in $(seq 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$API/v1/batch/$last")
    [ "$code" = 200 ] && break
    sleep 0.1
done
echo "latest run's batch $last: GET $code at $(($(date +%s%3N) - slot * 1000)) ms after the slot"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
