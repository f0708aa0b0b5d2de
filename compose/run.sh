#!/usr/bin/env bash
# compose/run.sh — what `make run` runs after building: a local Kafka broker
# and the five stages in the foreground, logs interleaved and prefixed, until
# Ctrl-C or SIGTERM, which stop everything (broker included).
#
# Every FERRY_* variable of the environment reaches the stages unchanged. When
# FERRY_KAFKA_BROKERS is set, that cluster is used and no broker is started.
# Works without a terminal (started in the background, output redirected).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
B=${B:-build}
CACHE=compose/.cache
mkdir -p "$CACHE"

say() { printf '[run] %s\n' "$*"; }

# ---- local development defaults (any FERRY_* already set wins) -------------
if [ -z "${FERRY_API_KEYS:-}" ] && [ -z "${FERRY_API_KEYS_FILE:-}" ]; then
    export FERRY_API_KEYS="ferry-dev-key:dev"
fi
if [ -z "${FERRY_SECRET_KEY:-}" ]; then
    # Webhook secrets are sealed with this key; keep one per checkout so
    # batches survive a restart of `make run`.
    [ -s "$CACHE/dev-secret-key" ] || (umask 077 && openssl rand -hex 32 >"$CACHE/dev-secret-key")
    FERRY_SECRET_KEY=$(cat "$CACHE/dev-secret-key")
    export FERRY_SECRET_KEY
fi
export FERRY_LISTEN=${FERRY_LISTEN:-127.0.0.1:8080}

# ---- broker -------------------------------------------------------------------
broker_started=0
if [ -z "${FERRY_KAFKA_BROKERS:-}" ]; then
    export FERRY_LOCAL_KAFKA_PORT=${FERRY_LOCAL_KAFKA_PORT:-9092}
    # A broker already running on the port is someone else's (another
    # checkout's tests, an earlier `make run`): use it, never stop it.
    if compose/kafka.sh pid 1 >/dev/null 2>&1; then
        say "using the broker already running on port $FERRY_LOCAL_KAFKA_PORT (left running)"
    else
        broker_started=1
    fi
    compose/kafka.sh start || exit 1
    export FERRY_KAFKA_BROKERS=127.0.0.1:$FERRY_LOCAL_KAFKA_PORT
else
    say "using the existing Kafka cluster $FERRY_KAFKA_BROKERS"
fi

# ---- stages -------------------------------------------------------------------
declare -A pids=()
stopping=0

shutdown() {
    ((stopping)) && return
    stopping=1
    say "stopping the stages"
    for s in "${!pids[@]}"; do kill -TERM "${pids[$s]}" 2>/dev/null; done
    # Each stage stops within 5 s of SIGTERM; give them 10, then insist.
    for _ in $(seq 100); do
        alive=0
        for s in "${!pids[@]}"; do kill -0 "${pids[$s]}" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for s in "${!pids[@]}"; do
        if kill -0 "${pids[$s]}" 2>/dev/null; then
            say "ferry-$s did not stop in 10 s; killing it"
            kill -KILL "${pids[$s]}" 2>/dev/null
        fi
    done
    wait 2>/dev/null
    if ((broker_started)); then
        say "stopping Kafka"
        compose/kafka.sh stop
    fi
    say "stopped"
}
trap 'shutdown; exit 0' INT TERM
trap shutdown EXIT

for s in ingest scrape aggregate deliver render; do
    # Process substitution keeps $! the stage's own pid (not sed's), so
    # signals reach the stage itself.
    "$B/ferry-$s" > >(sed -u "s/^/[$s] /") 2>&1 &
    pids[$s]=$!
done

# ---- ready --------------------------------------------------------------------
api=http://$FERRY_LISTEN
key=${FERRY_API_KEYS%%:*}
ready=0
for _ in $(seq 600); do
    if curl -fsS -o /dev/null "$api/healthz" 2>/dev/null; then ready=1; break; fi
    for s in "${!pids[@]}"; do
        kill -0 "${pids[$s]}" 2>/dev/null || { say "ferry-$s exited during start-up"; exit 1; }
    done
    sleep 0.1
done
if ((ready)); then
    cat <<MSG
[run] ferry is up: API $api (metrics: $api/metrics; stages' own /metrics on 127.0.0.1:9101-9104)
[run] try it:
curl -sS -X POST $api/v1/batch -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' -d '{"urls":["https://example.com/"],"formats":["markdown","links"]}'
[run] then: curl -sS $api/v1/batch/<id> -H 'Authorization: Bearer $key'
[run] Ctrl-C (or SIGTERM) stops everything.
MSG
else
    say "ingest did not become ready in 60 s (see its log lines above)"
fi

# ---- run until told to stop, a stage dies, or our parent (make) is gone ------
parent=$PPID
while :; do
    for s in "${!pids[@]}"; do
        if ! kill -0 "${pids[$s]}" 2>/dev/null; then
            wait "${pids[$s]}"
            say "ferry-$s exited ($?); stopping everything"
            exit 1
        fi
    done
    kill -0 "$parent" 2>/dev/null || exit 0
    sleep 1 &
    wait $! 2>/dev/null
done
