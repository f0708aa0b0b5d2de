#!/usr/bin/env bash
# bench_e2e.sh — ferry end to end against bare curl on the same pages (issue
# 19): three rounds of `curl -Z --parallel-max 200 -K urls` and one ferry
# batch of the same 100,000 URLs, POST to verified webhook; both rates, the
# ratio (best and median), CPU per URL of every process and each stage's
# peak RSS. See tests/bench/e2e_curl.py. Starts its own broker
# (FERRY_BENCH_E2E_KAFKA_PORT, default 29792) unless FERRY_KAFKA_BROKERS is
# set. Assumes `make` ran. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/e2e_curl.py
