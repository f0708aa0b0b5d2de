#!/usr/bin/env bash
# bench_extract.sh — extraction rules' CPU cost (issue 12): a 10-field spec
# on 50 KB product pages, evaluated on the parsed document (target: under
# 150 us of CPU per page). No broker: the rules run inside scrape on a
# document it parsed anyway. Prints
#   1. CPU time per page for evaluation and, apart, for libxml2's parse;
#   2. instructions per evaluation under callgrind (a figure that does not
#      depend on what else the machine runs), when valgrind is installed.
# Assumes `make` ran.
#   FERRY_BENCH_EXTRACT_PAGES  distinct pages (default 50)
#   FERRY_BENCH_EXTRACT_ROUNDS rounds over them (default 40)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
PAGES=${FERRY_BENCH_EXTRACT_PAGES:-50}
ROUNDS=${FERRY_BENCH_EXTRACT_ROUNDS:-40}
echo "load: $(uptime | sed 's/.*load average/load average/')"
"$B/tools/extract_bench" "$PAGES" "$ROUNDS"
if command -v valgrind >/dev/null; then
    out=$(mktemp)
    trap 'rm -f "$out"' EXIT
    valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect=bench_eval_one \
        "$B/tools/extract_bench" 20 1 >/dev/null 2>&1
    ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$out")
    echo "extract: evaluate $((ir / 20)) instructions/page (callgrind, 20 pages)"
fi
amz=(tests/fixtures/extract/amazon_product_us.html tests/fixtures/extract/amazon_product_de.html
    tests/fixtures/extract/amazon_product_jp.html)
"$B/tools/extract_run" --bench 300 amazon.product "${amz[@]}"
if command -v valgrind >/dev/null; then
    valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='bench_*' \
        "$B/tools/extract_run" --bench 10 amazon.product "${amz[@]}" >/dev/null 2>&1
    callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk '
        /extract_run.c:bench_(parse|release)_one/ { gsub(",", "", $1); parse += $1 }
        /extract_run.c:bench_apply_one/ { gsub(",", "", $1); rules += $1 }
        END { printf "profile amazon.product: parse %d + rules %d = %d instructions/page (callgrind, 3 pages x 10)\n", parse / 30, rules / 30, (parse + rules) / 30 }'
fi
