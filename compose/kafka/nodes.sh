# shellcheck shell=bash
# compose/kafka/nodes.sh — sourced by compose/kafka.sh: the commands on one
# node of a running local cluster (pid, kill, stop-node, start-node), for
# fault tests, and `status`, which reports every node and, for a cluster,
# the partitions left under-replicated or offline. Uses kafka.sh's
# variables and functions (NODES, broker_pids, probe_node, ...).

# --------------------------------------------------------- one node ----

node_arg() {
    [[ ${1:-} =~ ^[1-9]$ ]] && (($1 <= NODES)) || die "node must be 1 to $NODES, got '${1:-}'"
    [[ -s $MARKER ]] || die "no cluster of ours on port $PORT (no $MARKER)"
}

cmd_pid() {
    local pid
    node_arg "${1:-1}"
    pid=$(broker_pids "${1:-1}" | head -n 1)
    [[ -n $pid ]] || die "node ${1:-1} is not running"
    echo "$pid"
}

cmd_kill() {
    local pids
    node_arg "${1:-}"
    mapfile -t pids < <(broker_pids "$1")
    ((${#pids[@]})) || die "node $1 is not running"
    kill -KILL "${pids[@]}"
    wait_gone 5 "$1" || die "node $1 survived SIGKILL"
    echo "kafka node $1 killed"
}

cmd_stop_node() {
    local t0
    node_arg "${1:-}"
    t0=$(now_ms)
    [[ -n $(broker_pids "$1") ]] || die "node $1 is not running"
    kill_broker "$1"
    echo "kafka node $1 stopped in $(($(now_ms) - t0)) ms"
}

cmd_start_node() {
    local t0
    node_arg "${1:-}"
    t0=$(now_ms)
    need java kcat
    [[ -z $(broker_pids "$1") ]] || die "node $1 is already running"
    [[ -s $(node_dir "$1")/data/meta.properties ]] || die "node $1 has no formatted data dir"
    ports_free "$1"
    launch_node "$1"
    if ! cmd_wait "$t0" "$1"; then
        kill_broker "$1"
        exit 1
    fi
}

# --------------------------------------------------------------- status ----

# For a cluster: partitions whose ISR is smaller than their replica set, and
# partitions without a leader, from one metadata answer.
replication_report() {
    local out
    out=$(kcat -b "$(bootstrap)" -L -m 5 2>/dev/null) || {
        echo "replication: no metadata"
        return 1
    }
    awk '
        / +partition [0-9]+, leader/ {
            n++
            leader = $4; sub(",", "", leader)
            r = $0; sub(/.*replicas: /, "", r); sub(/,? *isrs:.*/, "", r)
            i = $0; sub(/.*isrs: /, "", i); sub(/,? *$/, "", i)
            nr = split(r, ra, ","); ni = split(i, ia, ",")
            if (ni < nr) urp++
            if (leader + 0 < 0) off++
        }
        END {
            printf "replication: %d partitions, %d under-replicated, %d offline\n", n, urp, off
            exit (off > 0)
        }' <<<"$out"
}

# "open files N of LIMIT" for a node's JVM, and a warning near the limit: a
# broker that serves hours of tests (topics of their own each) runs out.
fd_use() {
    local n lim
    n=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    lim=$(awk '/^Max open files/ {print $4}' "/proc/$1/limits" 2>/dev/null)
    [[ -n $lim ]] || return 0
    printf ', open files %s of %s' "$n" "$lim"
    if [[ $lim != unlimited ]] && ((n * 10 > lim * 8)); then
        printf ' (near the limit: stop and start it for a fresh data dir)'
    fi
}

cmd_status() {
    local pid i bad=0
    need kcat
    if [[ -n ${FERRY_KAFKA_BROKERS:-} ]]; then
        probe || die "existing cluster $FERRY_KAFKA_BROKERS is not answering"
        echo "using existing cluster $FERRY_KAFKA_BROKERS: ready"
        return 0
    fi
    [[ -e $MARKER || -n $(broker_pids) ]] || die "kafka not running on port $PORT"
    for ((i = 1; i <= NODES; i++)); do
        pid=$(broker_pids "$i" | head -n 1)
        if [[ -z $pid ]]; then
            echo "node $i 127.0.0.1:$(client_port "$i"): not running"
            bad=1
        elif [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == T ]]; then
            echo "node $i 127.0.0.1:$(client_port "$i") (pid $pid): stopped by a signal (frozen)"
            bad=1
        elif probe_node "$i"; then
            echo "node $i 127.0.0.1:$(client_port "$i") (pid $pid): ready$(fd_use "$pid")"
        else
            echo "node $i 127.0.0.1:$(client_port "$i") (pid $pid): running, not ready"
            bad=1
        fi
    done
    if ((NODES > 1)); then replication_report || bad=1; fi
    ((bad == 0)) || exit 1
}
