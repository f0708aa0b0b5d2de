#!/usr/bin/env bash
# tests/bench/run.sh — what `make bench` runs: every tests/bench/bench_*.sh in
# turn; each prints its own figures. Bounded in time and count, loopback only.
#   tests/bench/run.sh [NAME...]   only the named benchmarks (e.g. ingest scrape)
set -uo pipefail
cd "$(dirname "$0")/../.."
export B=${B:-build}
failed=0
want=("$@")
for b in tests/bench/bench_*.sh; do
    [ -e "$b" ] || continue
    name=${b#tests/bench/bench_}
    name=${name%.sh}
    if ((${#want[@]})) && [[ ! " ${want[*]} " =~ " $name " ]]; then continue; fi
    echo "=== bench: $name"
    if ! bash "$b"; then
        echo "=== bench: $name FAILED"
        failed=$((failed + 1))
    fi
done
exit $((failed > 0))
