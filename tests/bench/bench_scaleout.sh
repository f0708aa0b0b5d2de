#!/usr/bin/env bash
# bench_scaleout.sh — end to end on one broker and on a three-broker cluster,
# in-flight transfers against slow pages, and one versus two instances of
# scrape and of aggregate: see tests/bench/scaleout.py. Starts its own broker
# and cluster on FERRY_BENCH_SCALEOUT_KAFKA_PORT (default 29692, the cluster
# on port+2 to port+7): it needs both, so FERRY_KAFKA_BROKERS is not used.
# Assumes `make` ran. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/bench/scaleout.py
