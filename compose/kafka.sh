#!/usr/bin/env bash
# compose/kafka.sh — a real, single-node Apache Kafka broker (KRaft) for local
# development and tests, run from the jars named in compose/kafka/pom.xml.
#
#   compose/kafka.sh start    fetch jars if needed, format a fresh data dir,
#                             launch the broker in the background, then `wait`
#   compose/kafka.sh wait     block until a metadata request really succeeds
#   compose/kafka.sh stop     SIGTERM (controlled shutdown), SIGKILL after 20 s,
#                             remove the data dir; idempotent
#   compose/kafka.sh status   exit 0 only if the broker is running and ready
#   compose/kafka.sh fetch    only fetch the jars (once per pom version)
#
# Environment:
#   FERRY_KAFKA_BROKERS        if set, an existing cluster is used: start does
#                              nothing, wait/status probe that cluster instead;
#                              stop still stops a broker this script started on
#                              FERRY_LOCAL_KAFKA_PORT (callers export this
#                              variable to point stages at their own broker)
#   FERRY_LOCAL_KAFKA_PORT     client port, default 9092; the controller
#                              listener takes port+1
#   FERRY_LOCAL_KAFKA_DIR      data dir, default ${TMPDIR:-/tmp}/ferry-kafka-$PORT
#   FERRY_KAFKA_WAIT_SECS      readiness deadline for start/wait, default 60
#   FERRY_LOCAL_KAFKA_JAVA_OPTS extra JVM flags for the broker (word-split)
#   FERRY_LOCAL_KAFKA_CDS      0 disables the class-data-sharing archive
#
# Everything belonging to one broker (data, pid file, log) is keyed by its
# port, so several brokers on different ports can run side by side.
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
CTRL_PORT=$((PORT + 1))
DATA_DIR=${FERRY_LOCAL_KAFKA_DIR:-${TMPDIR:-/tmp}/ferry-kafka-$PORT}
PROPS=$DATA_DIR/server.properties
PID_FILE=$DATA_DIR/kafka.pid
LOG_FILE=$DATA_DIR/kafka.log
# Written into every data dir we create; stop and start only ever `rm -rf` a
# directory carrying it, so a mistyped FERRY_LOCAL_KAFKA_DIR cannot wipe
# anything else.
MARKER=$DATA_DIR/.ferry-kafka
WAIT_SECS=${FERRY_KAFKA_WAIT_SECS:-60}
STOP_SECS=20

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

# True if pid $1 is the broker JVM of *this* port: its command line runs
# kafka.Kafka on our server.properties. Guards against a stale pid file whose
# pid was reused by an unrelated process (which must never be signalled), and
# is false for a zombie, whose cmdline is empty.
is_our_broker() {
    local -a argv
    local arg main=0 props=0
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    mapfile -d '' argv 2>/dev/null <"/proc/$1/cmdline" || return 1
    for arg in "${argv[@]}"; do
        [[ $arg == kafka.Kafka ]] && main=1
        [[ $arg == "$PROPS" ]] && props=1
    done
    ((main && props))
}

# Pids of this port's broker JVMs: the pid file's, plus any found by scanning
# /proc, so a lost or overwritten pid file cannot leave a stray JVM behind.
broker_pids() {
    local pid found=()
    if [[ -f $PID_FILE ]]; then
        pid=$(<"$PID_FILE")
        is_our_broker "$pid" && found+=("$pid")
    fi
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        [[ " ${found[*]} " == *" $pid "* ]] && continue
        is_our_broker "$pid" && found+=("$pid")
    done
    ((${#found[@]})) && printf '%s\n' "${found[@]}"
    return 0
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# TERM, wait up to STOP_SECS for the controlled shutdown, then KILL. Only ever
# signals pids that is_our_broker vouched for, one by one.
kill_broker() {
    local pids
    mapfile -t pids < <(broker_pids)
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait_gone "$STOP_SECS" "${pids[@]}" && return 0
    mapfile -t pids < <(broker_pids)
    echo "kafka on port $PORT did not exit within ${STOP_SECS}s, killing pid ${pids[*]}" >&2
    kill -KILL "${pids[@]}" 2>/dev/null || true
    KILLED_HARD=1
    wait_gone 5 "${pids[@]}" || die "pid ${pids[*]} survived SIGKILL"
}

# wait_gone SECS PID...: true once none of the pids is our broker any more.
wait_gone() {
    local deadline=$(($(now_ms) + $1 * 1000)) pid alive
    shift
    while :; do
        alive=0
        for pid in "$@"; do
            is_our_broker "$pid" && alive=1
        done
        ((alive)) || return 0
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

# One metadata request. A local broker counts as ready only once it lists
# itself (broker 1): before it has registered with its own controller it
# already answers, with an empty broker list. The /dev/tcp pre-check keeps a
# probe of a not-yet-listening port instant instead of a 2 s kcat timeout.
probe() {
    local out
    if [[ -n ${FERRY_KAFKA_BROKERS:-} ]]; then
        out=$(kcat -b "$FERRY_KAFKA_BROKERS" -L -m 2 2>/dev/null) || return 1
        grep -qE '^ +broker [0-9]+ at ' <<<"$out"
    else
        port_in_use "$PORT" || return 1
        out=$(kcat -b "127.0.0.1:$PORT" -L -m 2 \
            -X reconnect.backoff.ms=50 -X reconnect.backoff.max.ms=200 2>/dev/null) || return 1
        grep -qE "^ +broker 1 at 127\.0\.0\.1:$PORT\b" <<<"$out"
    fi
}

log_tail() {
    if [[ -f $LOG_FILE ]]; then
        echo "--- last lines of $LOG_FILE ---" >&2
        tail -n 40 "$LOG_FILE" >&2
    fi
}

# Polls until probe succeeds. $1: the ms timestamp elapsed time is reported
# from (start passes its own, so the figure covers format + JVM boot).
cmd_wait() {
    local t0=${1:-$(now_ms)} deadline target
    need kcat
    target=${FERRY_KAFKA_BROKERS:-127.0.0.1:$PORT}
    deadline=$(($(now_ms) + WAIT_SECS * 1000))
    while :; do
        if probe; then
            echo "kafka ready on $target in $(($(now_ms) - t0)) ms"
            return 0
        fi
        if [[ -z ${FERRY_KAFKA_BROKERS:-} ]] && [[ -z $(broker_pids) ]]; then
            echo "kafka.sh: no broker JVM running for port $PORT (it died or was never started)" >&2
            log_tail
            return 1
        fi
        if (($(now_ms) >= deadline)); then
            echo "kafka.sh: $target not ready after ${WAIT_SECS}s" >&2
            [[ -z ${FERRY_KAFKA_BROKERS:-} ]] && log_tail
            return 1
        fi
        sleep 0.1
    done
}

# ---------------------------------------------------------------- start ----

write_props() {
    cat >"$PROPS" <<EOF
# Generated by compose/kafka.sh for a throwaway single-node test broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CTRL_PORT
# Loopback only: a test broker must not be reachable from the network.
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CTRL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR/data

# One node: every internal topic has a single replica.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
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
EOF
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

cmd_start() {
    local t0 pid port
    if [[ -n ${FERRY_KAFKA_BROKERS:-} ]]; then
        echo "using existing cluster $FERRY_KAFKA_BROKERS"
        return 0
    fi
    t0=$(now_ms)
    need java kcat
    pid=$(broker_pids | head -n 1)
    if [[ -n $pid ]]; then
        echo "kafka already running on 127.0.0.1:$PORT (pid $pid)"
        cmd_wait "$t0"
        return
    fi
    cmd_fetch
    # Someone else (another checkout's broker, a system Kafka) holds the port:
    # fail now with a clear message rather than a bind error deep in the log.
    for port in "$PORT" "$CTRL_PORT"; do
        if port_in_use "$port"; then
            die "127.0.0.1:$port is already in use by another process"
        fi
    done

    # A fresh data dir every start: tests never see a previous run's topics.
    remove_data_dir
    mkdir -p "$DATA_DIR"
    : >"$MARKER"
    write_props

    # broker_cds: flags for the broker; tool_cds: for the format tool, which
    # runs on the same classpath and so can use the broker's archive too, but
    # must never dump one of its own.
    local broker_cds=() tool_cds=() jsa
    if cds_enabled; then
        jsa=$(cds_archive)
        if [[ -s $jsa ]]; then
            broker_cds=("-XX:SharedArchiveFile=$jsa")
            tool_cds=("-XX:SharedArchiveFile=$jsa")
        else
            broker_cds=("-XX:ArchiveClassesAtExit=$DATA_DIR/cds.jsa")
            # stop adopts the dump under the name chosen here, by the
            # checkout whose jars the broker runs.
            echo "$jsa" >"$DATA_DIR/cds.target"
        fi
    fi

    if ! java "${tool_cds[@]}" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -Djava.awt.headless=true \
        "-Dlog4j.configuration=file:$LOG4J" -cp "$LIBS/*" \
        kafka.tools.StorageTool format -t "$(new_cluster_id)" -c "$PROPS" \
        >"$DATA_DIR/format.log" 2>&1; then
        cat "$DATA_DIR/format.log" >&2
        die "formatting $DATA_DIR failed"
    fi

    # setsid: its own session, so it outlives the caller's terminal or a
    # harness killing our process group; nohup for good measure against
    # SIGHUP. The inner sh writes its own pid and then execs java, so the pid
    # file holds the JVM's pid whether or not setsid had to fork.
    # shellcheck disable=SC2016 # $$ and $@ are the inner sh's, on purpose
    nohup setsid sh -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
        java "${JAVA_OPTS[@]}" "${broker_cds[@]}" -cp "$LIBS/*" kafka.Kafka "$PROPS" \
        >"$LOG_FILE" 2>&1 </dev/null &
    for _ in $(seq 50); do
        [[ -s $PID_FILE ]] && break
        sleep 0.05
    done
    [[ -s $PID_FILE ]] || die "broker did not start (no $PID_FILE)"
    echo "kafka starting on 127.0.0.1:$PORT (pid $(<"$PID_FILE"), log $LOG_FILE)"

    if ! cmd_wait "$t0"; then
        # A broker that is not ready by the deadline is of no use to anyone;
        # don't leave its JVM around. The data dir (and log) stays for
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

# --------------------------------------------------------------- status ----

cmd_status() {
    local pid
    need kcat
    if [[ -n ${FERRY_KAFKA_BROKERS:-} ]]; then
        probe || die "existing cluster $FERRY_KAFKA_BROKERS is not answering"
        echo "using existing cluster $FERRY_KAFKA_BROKERS: ready"
        return 0
    fi
    pid=$(broker_pids | head -n 1)
    [[ -n $pid ]] || die "kafka not running on port $PORT"
    probe || die "kafka on port $PORT is running (pid $pid) but not ready"
    echo "kafka running on 127.0.0.1:$PORT (pid $pid): ready"
}

case ${1:-} in
start) cmd_start ;;
wait) cmd_wait ;;
stop) cmd_stop ;;
status) cmd_status ;;
fetch) cmd_fetch ;;
*)
    echo "usage: $0 start|wait|stop|status|fetch" >&2
    exit 2
    ;;
esac
