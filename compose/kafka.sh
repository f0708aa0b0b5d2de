#!/usr/bin/env bash
# compose/kafka.sh — a real Apache Kafka broker (KRaft) for local development
# and tests, or a cluster of them on one machine, run from the jars named in
# compose/kafka/pom.xml.
#
#   compose/kafka.sh start    fetch jars if needed, format a fresh data dir,
#                             launch the broker(s) in the background, then `wait`
#   compose/kafka.sh wait     block until every node answers a metadata request
#                             listing itself
#   compose/kafka.sh stop     SIGTERM (controlled shutdown), SIGKILL after 20 s,
#                             remove the data dir; idempotent
#   compose/kafka.sh status   one line per node, and for a cluster the
#                             partitions that are under-replicated or offline;
#                             exit 0 only if every node is running and ready
#   compose/kafka.sh brokers  print the bootstrap list (host:port,...)
#   compose/kafka.sh fetch    only fetch the jars (once per pom version)
#
# One node of a running cluster (N from 1; the data stays, for fault tests):
#   compose/kafka.sh pid N         the node's JVM pid
#   compose/kafka.sh kill N        SIGKILL it: a crash
#   compose/kafka.sh stop-node N   SIGTERM it (controlled shutdown)
#   compose/kafka.sh start-node N  start it again on its data, wait until it
#                                  is back in the cluster
#
# Environment:
#   FERRY_KAFKA_BROKERS        if set, an existing cluster is used: start does
#                              nothing, wait/status probe that cluster instead;
#                              stop still stops a broker this script started on
#                              FERRY_LOCAL_KAFKA_PORT (callers export this
#                              variable to point stages at their own broker)
#   FERRY_LOCAL_KAFKA_PORT     client port, default 9092; the controller
#                              listener takes port+1
#   FERRY_LOCAL_KAFKA_NODES    brokers to start (default 1, at most 5). With
#                              N > 1, node i (1..N) serves clients on
#                              port+i-1 and its controller on port+N+i-1:
#                              every node is broker and controller (a quorum
#                              of N voters), topics are replicated N ways at
#                              most (default.replication.factor 3 or N) with
#                              min.insync.replicas 2, internal topics alike.
#                              Read by start only; later commands find the
#                              node count in the data dir.
#   FERRY_LOCAL_KAFKA_DIR      data dir, default ${TMPDIR:-/tmp}/ferry-kafka-$PORT
#                              (node i of a cluster in its node$i/ folder)
#   FERRY_KAFKA_WAIT_SECS      readiness deadline for start/wait, default 60
#   FERRY_LOCAL_KAFKA_JAVA_OPTS extra JVM flags for the broker (word-split)
#   FERRY_LOCAL_KAFKA_CDS      0 disables the class-data-sharing archive
#
# Everything belonging to one broker or cluster (data, pid files, logs) is
# keyed by its first port, so several can run side by side on different ports.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM=$HERE/kafka/pom.xml
LOG4J=$HERE/kafka/log4j.properties
# Jars live next to the scripts (git-ignored), so a fetch is shared by every
# broker started from this checkout and survives reboots, unlike $TMPDIR.
CACHE=$HERE/.cache/kafka
LIBS=$CACHE/libs
STAMP=$CACHE/libs.stamp

PORT=${FERRY_LOCAL_KAFKA_PORT:-9092}
if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65534)); then
    echo "kafka.sh: FERRY_LOCAL_KAFKA_PORT must be a port number below 65535, got '$PORT'" >&2
    exit 2
fi
DATA_DIR=${FERRY_LOCAL_KAFKA_DIR:-${TMPDIR:-/tmp}/ferry-kafka-$PORT}
# Written into every data dir we create (holding the node count); stop and
# start only ever `rm -rf` a directory carrying it, so a mistyped
# FERRY_LOCAL_KAFKA_DIR cannot wipe anything else.
MARKER=$DATA_DIR/.ferry-kafka
WAIT_SECS=${FERRY_KAFKA_WAIT_SECS:-60}
STOP_SECS=20

# The node count: what start was asked for, or what the running cluster's
# marker says, so that stop, status and the node commands need no variable.
NODES=${FERRY_LOCAL_KAFKA_NODES:-1}
if [[ ${1:-} != start && -s $MARKER ]]; then
    NODES=$(<"$MARKER")
fi
if ! [[ $NODES =~ ^[1-5]$ ]]; then
    echo "kafka.sh: FERRY_LOCAL_KAFKA_NODES must be 1 to 5, got '$NODES'" >&2
    exit 2
fi
if ((PORT + 2 * NODES - 1 > 65535)); then
    echo "kafka.sh: $NODES nodes need ports $PORT-$((PORT + 2 * NODES - 1))" >&2
    exit 2
fi

# Where node i (1..NODES) keeps its things. A single broker keeps the layout
# it always had (files straight in DATA_DIR) so its log stays where people
# look for it.
node_dir() { if ((NODES == 1)); then echo "$DATA_DIR"; else echo "$DATA_DIR/node$1"; fi; }
client_port() { echo $((PORT + $1 - 1)); }
ctrl_port() { echo $((PORT + NODES + $1 - 1)); }
props_of() { echo "$(node_dir "$1")/server.properties"; }
pid_file_of() { echo "$(node_dir "$1")/kafka.pid"; }
log_of() { echo "$(node_dir "$1")/kafka.log"; }

bootstrap() {
    local i list=()
    for ((i = 1; i <= NODES; i++)); do list+=("127.0.0.1:$(client_port "$i")"); done
    (IFS=,; echo "${list[*]}")
}

# Startup is dominated by class loading and JIT of a short-lived burst of
# work, so C1 only (TieredStopAtLevel=1) and the serial collector start the
# broker a little faster on a small machine (~0.2 s of ~3 s); a test broker
# never runs long enough for C2 to pay off. The big win is the class-data
# sharing archive below (~1 s).
JAVA_OPTS=(
    -Xms256m -Xmx512m
    -XX:+UseSerialGC
    -XX:TieredStopAtLevel=1
    -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$LOG4J"
)
if [[ -n ${FERRY_LOCAL_KAFKA_JAVA_OPTS:-} ]]; then
    read -r -a extra_opts <<<"$FERRY_LOCAL_KAFKA_JAVA_OPTS"
    JAVA_OPTS+=("${extra_opts[@]}")
fi

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

[[ $WAIT_SECS =~ ^[0-9]+$ ]] || die "FERRY_KAFKA_WAIT_SECS must be a whole number of seconds, got '$WAIT_SECS'"

now_ms() { date +%s%3N; }

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found on PATH (run compose/deps.sh)"
    done
}

# ---------------------------------------------------------------- fetch ----

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

fetched() { [[ -f $STAMP && -d $LIBS && $(<"$STAMP") == "$(pom_hash)" ]]; }

# Copies the broker's jars into $LIBS once. The stamp holds the hash of the pom
# they came from, so a second run costs one sha256sum: no mvn, no network. An
# edited pom fetches again.
cmd_fetch() {
    fetched && return 0
    need mvn
    mkdir -p "$CACHE"
    # Brokers on two ports may be started at the same moment from a fresh
    # checkout; only one of them may download, the other waits and reuses.
    exec 9>"$CACHE/.lock"
    flock -w 600 9 || die "timed out waiting for another fetch ($CACHE/.lock)"
    if ! fetched; then
        echo "fetching Kafka jars from Maven Central into $LIBS"
        rm -rf "$LIBS.tmp"
        # mvn prints colour resets even with -q -B; keep its output in a log
        # and show it only when it fails.
        if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
            -DoutputDirectory="$LIBS.tmp" >"$CACHE/mvn.log" 2>&1; then
            cat "$CACHE/mvn.log" >&2
            die "mvn could not fetch the Kafka jars (log: $CACHE/mvn.log)"
        fi
        # Swap in the complete set only, so an interrupted fetch never leaves
        # a half-filled libs dir behind a valid stamp.
        rm -rf "$LIBS"
        mv "$LIBS.tmp" "$LIBS"
        pom_hash >"$STAMP"
    fi
    # Close the lock: the broker started next must not inherit and hold it.
    exec 9>&-
}

# ------------------------------------------------------------ processes ----

# Prints the node whose broker JVM pid $1 is: its command line runs
# kafka.Kafka on that node's server.properties of *this* port. Fails for
# anything else: a stale pid file whose pid was reused by an unrelated process
# (which must never be signalled), or a zombie, whose cmdline is empty.
node_of_pid() {
    local -a argv
    local arg main=0 props='' i
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    mapfile -d '' argv 2>/dev/null <"/proc/$1/cmdline" || return 1
    for arg in "${argv[@]}"; do
        [[ $arg == kafka.Kafka ]] && main=1
        [[ $arg == "$DATA_DIR"/* ]] && props=$arg
    done
    ((main)) && [[ -n $props ]] || return 1
    for ((i = 1; i <= NODES; i++)); do
        [[ $props == "$(props_of "$i")" ]] && echo "$i" && return 0
    done
    return 1
}

# Pids of node $1's broker JVM (of every node's without $1): the pid files',
# plus any found by scanning /proc, so a lost or overwritten pid file cannot
# leave a stray JVM behind.
broker_pids() {
    local pid i node found=()
    for ((i = 1; i <= NODES; i++)); do
        [[ -z ${1:-} || $1 == "$i" ]] || continue
        [[ -f $(pid_file_of "$i") ]] || continue
        pid=$(<"$(pid_file_of "$i")")
        node=$(node_of_pid "$pid") && [[ $node == "$i" ]] && found+=("$pid")
    done
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        [[ " ${found[*]} " == *" $pid "* ]] && continue
        node=$(node_of_pid "$pid") || continue
        [[ -z ${1:-} || $1 == "$node" ]] && found+=("$pid")
    done
    ((${#found[@]})) && printf '%s\n' "${found[@]}"
    return 0
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# kill_broker [NODE]: TERM, wait up to STOP_SECS for the controlled shutdown,
# then KILL; every node without NODE. Only ever signals pids that broker_pids
# vouched for. CONT first: a node frozen by a fault test would not see TERM.
kill_broker() {
    local pids
    mapfile -t pids < <(broker_pids "${1:-}")
    ((${#pids[@]})) || return 0
    kill -CONT "${pids[@]}" 2>/dev/null || true
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait_gone "$STOP_SECS" "${1:-}" && return 0
    mapfile -t pids < <(broker_pids "${1:-}")
    echo "kafka on port $PORT did not exit within ${STOP_SECS}s, killing pid ${pids[*]}" >&2
    kill -KILL "${pids[@]}" 2>/dev/null || true
    KILLED_HARD=1
    wait_gone 5 "${1:-}" || die "pid ${pids[*]} survived SIGKILL"
}

# wait_gone SECS [NODE]: true once the node (every node) has no JVM left.
wait_gone() {
    local deadline=$(($(now_ms) + $1 * 1000))
    while [[ -n $(broker_pids "${2:-}") ]]; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.1
    done
}

# ------------------------------------------------------ class-data sharing ----
#
# About a third of the broker's start-up is loading and verifying ~6000
# classes from the jars. A dynamic AppCDS archive (JDK 13+) of those classes
# cuts that: the first broker runs with -XX:ArchiveClassesAtExit and dumps the
# archive when it is stopped; `stop` then adopts it into the cache and every
# later start maps it with -XX:SharedArchiveFile. The archive is only valid for
# the exact jars and JVM it was made with, so its name carries a hash of both;
# an unusable archive is just ignored by the JVM (-Xshare:auto).

KILLED_HARD=0

cds_archive() {
    local java_bin key
    java_bin=$(readlink -f "$(command -v java)")
    key=$({
        pom_hash
        echo "$java_bin"
        stat -L -c '%s %Y' "$java_bin" "${java_bin%/bin/java}/lib/server/libjvm.so" 2>/dev/null || true
    } | sha256sum | cut -c1-16)
    echo "$CACHE/cds-$key.jsa"
}

cds_enabled() { [[ ${FERRY_LOCAL_KAFKA_CDS:-1} != 0 ]]; }

# After a graceful stop: move the archive the broker dumped at exit into the
# cache (copy + rename, so a concurrent start never maps a half-written file),
# and drop archives made for other jars or JVMs.
adopt_cds_archive() {
    local dumped=$DATA_DIR/cds.jsa jsa old
    ((!KILLED_HARD)) && [[ -s $dumped && -s $DATA_DIR/cds.target ]] || return 0
    jsa=$(<"$DATA_DIR/cds.target")
    [[ -e $jsa ]] && return 0
    cp "$dumped" "$jsa.tmp.$$"
    mv "$jsa.tmp.$$" "$jsa"
    for old in "${jsa%/*}"/cds-*.jsa; do
        [[ $old == "$jsa" ]] || rm -f "$old"
    done
}

remove_data_dir() {
    [[ -e $DATA_DIR ]] || return 0
    if [[ ! -e $MARKER ]] && [[ -n $(ls -A "$DATA_DIR") ]]; then
        die "refusing to delete $DATA_DIR: not a ferry kafka data dir (no $MARKER)"
    fi
    rm -rf "$DATA_DIR"
}

# ----------------------------------------------------------------- wait ----

# One metadata request to node $1 itself. A node counts as ready only once it
# lists itself: before it has registered with the controller quorum it
# already answers, with a broker list lacking it. The /dev/tcp pre-check keeps
# a probe of a not-yet-listening port instant instead of a 2 s kcat timeout.
probe_node() {
    local out port
    port=$(client_port "$1")
    port_in_use "$port" || return 1
    out=$(kcat -b "127.0.0.1:$port" -L -m 2 \
        -X reconnect.backoff.ms=50 -X reconnect.backoff.max.ms=200 2>/dev/null) || return 1
    grep -qE "^ +broker $1 at 127\.0\.0\.1:$port\b" <<<"$out"
}

# probe [NODE]: the existing cluster answers, or the node (every node) is ready.
probe() {
    local out i
    if [[ -n ${FERRY_KAFKA_BROKERS:-} ]]; then
        out=$(kcat -b "$FERRY_KAFKA_BROKERS" -L -m 2 2>/dev/null) || return 1
        grep -qE '^ +broker [0-9]+ at ' <<<"$out"
        return
    fi
    for ((i = 1; i <= NODES; i++)); do
        [[ -z ${1:-} || $1 == "$i" ]] || continue
        probe_node "$i" || return 1
    done
}

log_tail() {
    local i log
    for ((i = 1; i <= NODES; i++)); do
        [[ -z ${1:-} || $1 == "$i" ]] || continue
        log=$(log_of "$i")
        [[ -f $log ]] || continue
        echo "--- last lines of $log ---" >&2
        tail -n 40 "$log" >&2
    done
}

# cmd_wait [T0 [NODE]]: polls until probe succeeds. T0: the ms timestamp
# elapsed time is reported from (start passes its own, so the figure covers
# format + JVM boot).
cmd_wait() {
    local t0=${1:-$(now_ms)} node=${2:-} deadline target i
    need kcat
    target=${FERRY_KAFKA_BROKERS:-$(bootstrap)}
    [[ -n $node ]] && target="node $node (127.0.0.1:$(client_port "$node"))"
    deadline=$(($(now_ms) + WAIT_SECS * 1000))
    while :; do
        if probe "$node"; then
            echo "kafka ready on $target in $(($(now_ms) - t0)) ms"
            return 0
        fi
        if [[ -z ${FERRY_KAFKA_BROKERS:-} ]]; then
            for ((i = 1; i <= NODES; i++)); do
                [[ -z $node || $node == "$i" ]] || continue
                [[ -n $(broker_pids "$i") ]] && continue
                echo "kafka.sh: no broker JVM running for node $i on port $(client_port "$i") (it died or was never started)" >&2
                log_tail "$i"
                return 1
            done
        fi
        if (($(now_ms) >= deadline)); then
            echo "kafka.sh: $target not ready after ${WAIT_SECS}s" >&2
            [[ -z ${FERRY_KAFKA_BROKERS:-} ]] && log_tail "$node"
            return 1
        fi
        sleep 0.1
    done
}

# ---------------------------------------------------------------- start ----

# A majority of the replicas must acknowledge a write, but never all of them,
# so one node can be down while writes go on: 3 replicas -> 2 (the same rule
# as ferry's topics, shared/topics.c).
min_isr() { local rf=$1 m=$(($1 / 2 + 1)); ((m > rf - 1)) && m=$((rf - 1)); ((m < 1)) && m=1; echo "$m"; }

write_props() {
    local i=$1 voters=() j rf isr
    for ((j = 1; j <= NODES; j++)); do voters+=("$j@127.0.0.1:$(ctrl_port "$j")"); done
    rf=$((NODES < 3 ? NODES : 3))
    isr=$(min_isr "$rf")
    cat >"$(props_of "$i")" <<PROPS
# Generated by compose/kafka.sh for a throwaway local test broker: node $i of $NODES.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
# Loopback only: a test broker must not be reachable from the network.
listeners=PLAINTEXT://127.0.0.1:$(client_port "$i"),CONTROLLER://127.0.0.1:$(ctrl_port "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(client_port "$i")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$(node_dir "$i")/data

# Replicated $rf ways (every internal topic too); a write needs $isr in-sync
# replicas, so one node may be down. A replica that was not in sync never
# becomes leader: nothing acknowledged is lost.
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
unclean.leader.election.enable=false
# A crashed node is fenced (and leaves every ISR, so acks=all writes go on
# without it) after 4 s instead of 9: fault tests kill nodes on purpose.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
# Fewer partitions = faster creation of the internal topics on first use.
num.partitions=4
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4
# Consumers join immediately instead of after the default 3 s delay.
group.initial.rebalance.delay.ms=0
# ferry creates its topics explicitly; a typo must fail, not create a topic.
auto.create.topics.enable=false

# Compacted topics get cleaned promptly in tests. The dedupe buffer default
# (128 MiB, allocated on the heap at startup) would dwarf the rest of a test
# broker's memory.
log.cleaner.enable=true
log.cleaner.threads=1
log.cleaner.backoff.ms=1000
log.cleaner.dedupe.buffer.size=16777216

# ferry raises per-topic max.message.bytes up to 16 MiB (a 10 MiB page plus
# envelope); the broker-wide caps must allow it.
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
socket.request.max.bytes=104857600

# A small machine running tests in parallel: fewer threads.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
PROPS
}

# Kafka cluster ids are 16 random bytes in unpadded URL-safe base64 (what
# `StorageTool random-uuid` prints); generating it here saves a JVM launch.
# Kafka itself never hands out ids starting with '-', so neither do we.
new_cluster_id() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        [[ $id != -* ]] && break
    done
    echo "$id"
}

# The class-data-sharing flags of the broker (BROKER_CDS) and of the format
# tool (TOOL_CDS), which runs on the same classpath and so can use the
# broker's archive too, but must never dump one of its own. Without an
# archive, node 1 dumps one when it stops; stop adopts it under the name
# chosen here, by the checkout whose jars the broker runs.
cds_flags() {
    local jsa
    BROKER_CDS=() TOOL_CDS=()
    cds_enabled || return 0
    jsa=$(cds_archive)
    if [[ -s $jsa ]]; then
        BROKER_CDS=("-XX:SharedArchiveFile=$jsa")
        TOOL_CDS=("-XX:SharedArchiveFile=$jsa")
    elif [[ $1 == 1 ]]; then
        BROKER_CDS=("-XX:ArchiveClassesAtExit=$DATA_DIR/cds.jsa")
        echo "$jsa" >"$DATA_DIR/cds.target"
    fi
}

format_node() {
    local dir
    dir=$(node_dir "$1")
    cds_flags "$1"
    if ! java "${TOOL_CDS[@]}" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -Djava.awt.headless=true \
        "-Dlog4j.configuration=file:$LOG4J" -cp "$LIBS/*" \
        kafka.tools.StorageTool format -t "$2" -c "$(props_of "$1")" \
        >"$dir/format.log" 2>&1; then
        cat "$dir/format.log" >&2
        return 1
    fi
}

# Open files for the broker: it holds a file open for every partition (its
# active segment), and the tests give each test and each chaos run topics of
# its own, so a broker that serves hours of them holds tens of thousands
# (19,854 partition directories ran one out of its 20,000). The hard limit
# is raised as far as the kernel allows when we may (CAP_SYS_RESOURCE), and
# the soft limit to the hard one; the JVM children inherit both. (Not in a
# subshell: the limits are this shell's.)
raise_nofile() {
    local max
    max=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)
    if [[ $(ulimit -Hn) != unlimited ]] && ((max > $(ulimit -Hn))); then
        ulimit -Hn "$max" 2>/dev/null || true
    fi
    ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
}

# Launches node $1's JVM in the background on its (formatted) data dir.
launch_node() {
    local pf log nofile
    pf=$(pid_file_of "$1")
    log=$(log_of "$1")
    cds_flags "$1"
    raise_nofile
    nofile=$(ulimit -Sn)
    rm -f "$pf"
    # setsid: its own session, so it outlives the caller's terminal or a
    # harness killing our process group; nohup for good measure against
    # SIGHUP. The inner sh writes its own pid and then execs java, so the pid
    # file holds the JVM's pid whether or not setsid had to fork. The log is
    # appended to: a restarted node's log keeps what the crashed one wrote.
    # shellcheck disable=SC2016 # $$ and $@ are the inner sh's, on purpose
    nohup setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pf" \
        java "${JAVA_OPTS[@]}" "${BROKER_CDS[@]}" -cp "$LIBS/*" kafka.Kafka "$(props_of "$1")" \
        >>"$log" 2>&1 </dev/null &
    for _ in $(seq 50); do
        [[ -s $pf ]] && break
        sleep 0.05
    done
    [[ -s $pf ]] || die "node $1 did not start (no $pf)"
    echo "kafka node $1 starting on 127.0.0.1:$(client_port "$1") (pid $(<"$pf"), open files $nofile, log $log)"
}

ports_free() {
    local i port
    for ((i = 1; i <= NODES; i++)); do
        [[ -z ${1:-} || $1 == "$i" ]] || continue
        for port in "$(client_port "$i")" "$(ctrl_port "$i")"; do
            port_in_use "$port" && die "127.0.0.1:$port is already in use by another process"
        done
    done
    return 0
}

cmd_start() {
    local t0 pid i id fmt=()
    if [[ -n ${FERRY_KAFKA_BROKERS:-} ]]; then
        echo "using existing cluster $FERRY_KAFKA_BROKERS"
        return 0
    fi
    t0=$(now_ms)
    need java kcat
    pid=$(broker_pids | head -n 1)
    if [[ -n $pid ]]; then
        echo "kafka already running on $(bootstrap) (pid $pid)"
        cmd_wait "$t0"
        return
    fi
    cmd_fetch
    # Someone else (another checkout's broker, a system Kafka) holds a port:
    # fail now with a clear message rather than a bind error deep in the log.
    ports_free

    # A fresh data dir every start: tests never see a previous run's topics.
    remove_data_dir
    mkdir -p "$DATA_DIR"
    echo "$NODES" >"$MARKER"
    id=$(new_cluster_id)
    # The nodes are formatted side by side (a JVM launch each), all with the
    # same cluster id.
    for ((i = 1; i <= NODES; i++)); do
        mkdir -p "$(node_dir "$i")"
        write_props "$i"
        format_node "$i" "$id" &
        fmt+=($!)
    done
    for pid in "${fmt[@]}"; do
        wait "$pid" || die "formatting $DATA_DIR failed"
    done
    for ((i = 1; i <= NODES; i++)); do launch_node "$i"; done

    if ! cmd_wait "$t0"; then
        # A broker that is not ready by the deadline is of no use to anyone;
        # don't leave its JVMs around. The data dir (and logs) stay for
        # inspection until the next start or stop.
        kill_broker
        exit 1
    fi
}

# ----------------------------------------------------------------- stop ----

cmd_stop() {
    local t0
    # Only a broker of ours (its pid file and marker) is ever stopped, so
    # FERRY_KAFKA_BROKERS needs no check here.
    t0=$(now_ms)
    if [[ -z $(broker_pids) ]]; then
        remove_data_dir
        echo "kafka not running on port $PORT"
        return 0
    fi
    kill_broker
    adopt_cds_archive
    remove_data_dir
    echo "kafka on port $PORT stopped in $(($(now_ms) - t0)) ms"
}

# The commands on one node of a running cluster, and status.
# shellcheck source=compose/kafka/nodes.sh
source "$HERE/kafka/nodes.sh"

case ${1:-} in
start) cmd_start ;;
wait) cmd_wait ;;
stop) cmd_stop ;;
status) cmd_status ;;
brokers) bootstrap ;;
fetch) cmd_fetch ;;
pid) cmd_pid "${2:-1}" ;;
kill) cmd_kill "${2:-}" ;;
stop-node) cmd_stop_node "${2:-}" ;;
start-node) cmd_start_node "${2:-}" ;;
*)
    echo "usage: $0 start|wait|stop|status|brokers|fetch|pid N|kill N|stop-node N|start-node N" >&2
    exit 2
    ;;
esac
