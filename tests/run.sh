#!/usr/bin/env bash
# tests/run.sh — what `make test` runs after building: unit tests, then
# integration tests against a real Kafka broker, then teardown and one
# closing summary line ("N passed, N failed").
#
#   tests/run.sh               unit + integration
#   tests/run.sh --unit-only   unit tests only (no broker)
#   tests/run.sh -k PATTERN    integration tests whose name matches (pytest -k)
#   tests/run.sh --integration-only [PYTEST ARGS]   no unit tests (make chaos:
#                              FERRY_TEST_LONG=1 ... -m long, the long forms)
#
# A local broker is started on FERRY_LOCAL_KAFKA_PORT (default 19092, so a
# `make run` broker on 9092 is left alone) unless FERRY_KAFKA_BROKERS names an
# existing cluster. Test binaries come from $B (default build).
#
# A run that executed no test fails: no unit-test binary in $B/tests, a
# binary that ran none of its tests, or pytest collecting nothing (its exit
# 5, e.g. a -k that matches no test) is a failure, never a quiet success.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export B=${B:-build}
case $B in /*) BUILD=$B ;; *) BUILD=$ROOT/$B ;; esac
unit_only=0 integration_only=0
pytest_args=()
while (($#)); do
    case $1 in
    --unit-only) unit_only=1 ;;
    --integration-only) integration_only=1 ;;
    -k) pytest_args+=(-k "$2"); shift ;;
    *) pytest_args+=("$1") ;;
    esac
    shift
done

passed=0 failed=0 skipped=0
started=$(date +%s)
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"

# ---- unit tests: one cmocka binary per module, no broker -------------------
# Most of their time is waiting (librdkafka's mock cluster holds a group's
# first join 3 s, local HTTP servers, timers), not CPU: FERRY_UNIT_JOBS of
# them (4) run at once, each into its own log, read in order once all ended.
unit_jobs=${FERRY_UNIT_JOBS:-4}
bins=()
for t in "$BUILD"/tests/test_*; do
    ((integration_only)) && break
    [ -x "$t" ] || continue
    bins+=("$t")
    while (($(jobs -rp | wc -l) >= unit_jobs)); do wait -n; done
    out=$LOGDIR/$(basename "$t").log
    (CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$out" 2>&1; echo $? >"$out.rc") &
done
wait
units=0
for t in "${bins[@]}"; do
    units=$((units + 1))
    name=$(basename "$t")
    out=$LOGDIR/$name.log
    if [ "$(cat "$out.rc" 2>/dev/null)" = 0 ]; then st=ok; else st=FAILED; fi
    rm -f "$out.rc"
    # cmocka's own closing lines: "[  PASSED  ] 5 test(s)." / "[  FAILED  ] 1 test(s), listed below:"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    p=${p:-0} f=${f:-0}
    if [ "$st" = FAILED ] && [ "$f" = 0 ]; then f=1; fi # crashed before its summary
    if [ "$p" = 0 ] && [ "$f" = 0 ]; then                # ran no test at all
        f=1 st=FAILED
        echo "unit  $name ran no test" >>"$out"
    fi
    passed=$((passed + p)) failed=$((failed + f))
    printf 'unit  %-28s %3d passed %3d failed\n' "$name" "$p" "$f"
    [ "$st" = ok ] || sed 's/^/    /' "$out" | tail -40
done

if ((units == 0 && !integration_only)); then
    failed=$((failed + 1))
    echo "unit  no unit-test binaries in $BUILD/tests (run make first)"
fi

summary() {
    local secs=$(($(date +%s) - started))
    echo
    echo "ferry tests in ${secs}s:"
    echo "$passed passed, $failed failed, $skipped skipped"
}

if ((unit_only)); then
    summary
    exit $((failed > 0))
fi

# ---- a real broker ----------------------------------------------------------
broker_started=0
cleanup() {
    if ((broker_started)); then compose/kafka.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${FERRY_KAFKA_BROKERS:-}" ]; then
    export FERRY_LOCAL_KAFKA_PORT=${FERRY_LOCAL_KAFKA_PORT:-19092}
    # Stop at the end only a broker this run started: one already running
    # on the port (a second run of this checkout, another checkout's make
    # run) is its owner's to stop.
    compose/kafka.sh pid 1 >/dev/null 2>&1 || broker_started=1
    if ! compose/kafka.sh start; then
        failed=$((failed + 1))
        echo "integration: the local Kafka broker did not start"
        summary
        exit 1
    fi
    export FERRY_KAFKA_BROKERS=127.0.0.1:$FERRY_LOCAL_KAFKA_PORT
else
    echo "integration: using the existing cluster $FERRY_KAFKA_BROKERS"
fi

# ---- integration tests: pytest drives real stage processes ------------------
junit=$LOGDIR/integration.xml
rm -f "$junit"
FERRY_TEST_BUILD=$BUILD FERRY_TEST_LOGS=$LOGDIR \
    python3 -m pytest tests/integration -p no:cacheprovider -q -rfE \
    --junitxml="$junit" "${pytest_args[@]}"
rc=$?
if [ -f "$junit" ]; then
    read -r t f e s < <(python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tot = lambda k: sum(int(s.get(k, 0)) for s in suites)
print(tot("tests"), tot("failures"), tot("errors"), tot("skipped"))
PY
)
    passed=$((passed + t - f - e - s)) failed=$((failed + f + e)) skipped=$((skipped + s))
fi
# pytest exits 5 when it collected nothing: a run that tested nothing is a
# failure. Anything else non-zero with no counted failure (a crash, a
# collection error) fails the run too.
if ((rc == 5)); then
    failed=$((failed + 1))
    echo "integration: no test ran (pytest collected nothing)"
elif ((rc != 0)) && ((failed == 0)); then
    failed=1
fi
summary
exit $((failed > 0))
