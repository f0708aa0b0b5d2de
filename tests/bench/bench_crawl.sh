#!/usr/bin/env bash
# tests/bench/bench_crawl.sh — the crawl's figures:
#   1. the seen set holding 1,000,000 pages: table bytes, RSS growth, adds and
#      lookups per second, collisions observed and the odds per crawl
#   2. links resolved and normalized per second (what the frontier does for
#      every link of every page)
#   3. robots.txt checks per second against a 200-rule file
#
# No broker, no network: one process, one core. Assumes `make` ran.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
TOOL=$B/tools/crawl_mech_bench
echo "load: $(uptime | sed 's/.*load average: //')"
"$TOOL" seen "${CRAWL_BENCH_PAGES:-1000000}"
"$TOOL" links "${CRAWL_BENCH_LINKS:-1000000}"
"$TOOL" robots "${CRAWL_BENCH_ROBOTS:-1000000}"
