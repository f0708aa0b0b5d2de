#!/usr/bin/env bash
# tests/bench/ingest_idle.sh BIN_A BIN_B [SECONDS] — two ferry-ingest builds idle side by side
# (own topic prefixes, one broker: FERRY_KAFKA_BROKERS), so load hits both alike: each one's CPU
# (utime+stime of /proc/PID/stat) over the same SECONDS (default 60), its threads and its Kafka
# clients (librdkafka main threads).
set -euo pipefail
: "${FERRY_KAFKA_BROKERS:?set FERRY_KAFKA_BROKERS to a running broker}"
S=${3:-60}
ports=($(python3 -c 'import sys; sys.path.insert(0, "tests"); from ports import free_ports; p = free_ports(2); print(p, p + 1)'))
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for i in 0 1; do
    bin=$1; [ $i = 1 ] && bin=$2
    env FERRY_LISTEN=127.0.0.1:${ports[$i]} FERRY_TOPIC_PREFIX=idle$i-$$. FERRY_API_KEYS=idle-key-0001:t \
        FERRY_SECRET_KEY="$(printf '%064d' 7)" FERRY_LOG_LEVEL=warn "$bin" >/dev/null 2>&1 &
    pids+=($!)
done
for p in "${ports[@]}"; do
    for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.2; done
done
sleep 10
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
t0=($(ticks "${pids[0]}") $(ticks "${pids[1]}")) l0=$(cut -d' ' -f1 /proc/loadavg)
sleep "$S"
t1=($(ticks "${pids[0]}") $(ticks "${pids[1]}"))
for i in 0 1; do
    p=${pids[$i]}
    echo "$([ $i = 0 ] && echo "$1" || echo "$2"): $(echo "scale=2; (${t1[$i]} - ${t0[$i]}) * 100 / $(getconf CLK_TCK) / $S" | bc)% of a core," \
        "$(ls "/proc/$p/task" | wc -l) threads, $(grep -l '^rdk:main' /proc/"$p"/task/*/comm | wc -l) Kafka clients"
done
echo "load: $l0 -> $(cut -d' ' -f1 /proc/loadavg)"
