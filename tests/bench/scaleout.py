#!/usr/bin/env python3
"""bench_scaleout (make bench scaleout): ferry end to end on one broker and on
a three-broker cluster, how far in-flight transfers carry it when pages are
slow, and whether scrape and aggregate throughput follow their instances.

  1. end to end, 100,000 URLs, POST to verified webhook: one broker, then the
     cluster (replication 3, min.insync.replicas 2), pages answered at once;
  2. end to end, one broker, pages answered after 100 ms, with
     FERRY_SCRAPE_INFLIGHT 512, 2,000 and 5,000: the rate, and scrape's peak
     RSS, whose growth per transfer is what one in-flight transfer costs;
  3. on the cluster, each stage alone against a backlog already in Kafka
     (tests/tools/scrape_bench, aggregate_loadgen), one instance then two:
     scrape with pages answered at once (CPU-bound) and after 100 ms with
     512 in flight each (latency-bound), aggregate over 500,000 results.

Every figure comes with each process's CPU as a share of one core (from
/proc/<pid>/stat before and after), which shows where the limit is on a
2-core machine, and the 1-minute load average. Brokers on
FERRY_BENCH_SCALEOUT_KAFKA_PORT (default 29692; the cluster takes the next
six ports: port+2 to port+7). Loopback only.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from e2e import describe, measure  # noqa: E402
from system import (Kafka, Pages, System, build_dir, cpu_seconds, http,  # noqa: E402
                    load, rss_mb, wait_for)

ITEMS = int(os.environ.get("FERRY_BENCH_SCALEOUT_ITEMS", "100000"))
PORT = int(os.environ.get("FERRY_BENCH_SCALEOUT_KAFKA_PORT", "29692"))
BUILD = build_dir()
WORK = BUILD / "bench-scaleout"
QUIET = {"FERRY_LOG_LEVEL": "warn"}


def say(text):
    print(text, flush=True)


def cpu_line(cpu, elapsed, per, unit):
    return ", ".join(f"{k} {v / elapsed:.0%} ({v / per * 1e6:.0f} us/{unit})"
                     for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]) if v > 0.05)


# ---------------------------------------------------------------- 1 and 2


def end_to_end(kafka, pages, replication):
    r = measure(kafka.brokers, kafka.pids(), pages, ITEMS, replication=replication,
                env=QUIET, workdir=WORK / "e2e")
    where = "cluster of 3 (replication 3)" if replication else "one broker"
    say(describe(r, f"e2e, {where}, pages at once"))
    return r


def inflight(kafka, slow):
    rss = {}
    for n in (512, 2000, 5000):
        env = dict(QUIET, FERRY_SCRAPE_INFLIGHT=str(n), FERRY_SCRAPE_HOST_CONNECTIONS=str(n))
        r = measure(kafka.brokers, kafka.pids(), slow, ITEMS, env=env, workdir=WORK / "inflight")
        rss[n] = r["rss"]["scrape-0"]
        say(describe(r, f"e2e, one broker, pages after {slow.delay_ms} ms, {n:,} in flight "
                        f"(at most {n * 1000 // slow.delay_ms:,}/s)"))
    per = (rss[5000] - rss[512]) / (5000 - 512) * 1024
    say(f"memory per in-flight transfer: {per:.0f} KB (scrape peak RSS {rss[512]:.0f} MB at 512, "
        f"{rss[2000]:.0f} MB at 2,000, {rss[5000]:.0f} MB at 5,000; slope 512 to 5,000)")


# ---------------------------------------------------------------- 3


def where(kafka):
    return "cluster" if kafka.nodes >= 3 else "one broker"


def stage_alone(kafka, name, instances, env):
    """A System whose only running stage is `name`, `instances` of it; the
    others are created (so the topics exist) but not started."""
    sysm = System(kafka.brokers, WORK / f"{name}-alone", {name: instances},
                  replication=3 if kafka.nodes >= 3 else None, env=dict(QUIET, **env))
    return sysm


def tool(args, env, timeout=900):
    out = subprocess.run([str(BUILD / "tools" / args[0]), *map(str, args[1:])], env=env,
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{args[0]}: {out.stderr.strip()[-500:]}")
    return out.stdout


def scrape_alone(kafka, pages, instances, n, per_instance_inflight):
    env = {"FERRY_SCRAPE_INFLIGHT": str(per_instance_inflight),
           "FERRY_SCRAPE_HOST_CONNECTIONS": str(per_instance_inflight)}
    sysm = stage_alone(kafka, "scrape", instances, env)
    tool_env = sysm.env
    tool(["scrape_bench", "gen", n, pages.url, pages.count], tool_env)
    procs = {f"broker-{i}": p for i, p in enumerate(kafka.pids(), 1)}
    procs["page_server"] = pages.proc.pid
    cpu0 = {k: cpu_seconds(p) for k, p in procs.items()}
    started = time.time()
    for st in sysm.stages["scrape"]:
        st.start()
        procs[st.label] = st.pid
        cpu0[st.label] = 0.0
    try:
        out = tool(["scrape_bench", "count", n, 600], tool_env)
        elapsed = time.time() - started
        cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in procs.items()}
        rate = int(re.search(r"(\d+) results/s", out).group(1))
        rss = ", ".join(f"{st.label} {rss_mb(st.pid, 'VmHWM'):.0f} MB" for st in sysm.stages["scrape"])
    finally:
        sysm.stop()
    say(f"scrape alone, {where(kafka)}, {instances} instance{'s' * (instances > 1)} x "
        f"{per_instance_inflight} in flight, pages after {pages.delay_ms} ms: {rate:,} fetches/s "
        f"({n:,} requests, first to last result; load {load():.2f}; peak {rss})\n"
        f"    CPU over {elapsed:.1f} s from start, share of one core: "
        f"{cpu_line(cpu, elapsed, n, 'fetch')}")
    return rate


def aggregate_alone(kafka, instances, batches=5000, items=100):
    total = batches * items
    sysm = stage_alone(kafka, "aggregate", instances, {})
    tool_env = sysm.env
    # The topics first (one instance provisions them), then the backlog.
    first = sysm.stages["aggregate"][0]
    first.start()
    wait_for(first.healthy, 120, "aggregate provisioning")
    first.stop()
    tool(["aggregate_loadgen", "-b", kafka.brokers, "-P", sysm.prefix, "-n", batches, "-i", items,
          "-c", 500, "-w", "http://127.0.0.1:9/h"], tool_env)
    procs = {f"broker-{i}": p for i, p in enumerate(kafka.pids(), 1)}
    cpu0 = {k: cpu_seconds(p) for k, p in procs.items()}
    started = time.time()
    for st in sysm.stages["aggregate"]:
        st.start()
        procs[st.label] = st.pid
        cpu0[st.label] = 0.0

    def counted():
        got = 0
        for st in sysm.stages["aggregate"]:
            try:
                text = http("GET", st.health_url.replace("/healthz", "/metrics"), timeout=5).body.decode()
            except OSError:
                return None
            m = re.search(r"^ferry_aggregate_results_total(?:\{\})? (\d+)", text, re.M)
            got += int(m.group(1)) if m else 0
        return got >= total

    try:
        wait_for(counted, 600, f"{total} results aggregated", 0.1)
        elapsed = time.time() - started
        cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in procs.items()}
    finally:
        sysm.stop()
    rate = total / elapsed
    say(f"aggregate alone, {where(kafka)}, {instances} instance{'s' * (instances > 1)}: {rate:,.0f} results/s "
        f"({total:,} results in {batches:,} batches with webhooks, from process start; "
        f"load {load():.2f})\n    CPU over {elapsed:.1f} s, share of one core: "
        f"{cpu_line(cpu, elapsed, total, 'result')}")
    return rate


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    fast = Pages(count=1000, delay_ms=0, build=BUILD)
    slow = Pages(count=1000, delay_ms=100, build=BUILD)
    say(f"scaleout bench: {ITEMS:,} URLs per batch; load {load():.2f}; {os.cpu_count()} cores")
    single = Kafka(PORT, 1)
    cluster = Kafka(PORT + 2, 3)
    try:
        fast.start()
        slow.start()
        single.start()
        end_to_end(single, fast, None)
        inflight(single, slow)
        single.stop()
        cluster.start()
        end_to_end(cluster, fast, 3)
        one = scrape_alone(cluster, fast, 1, ITEMS, 512)
        two = scrape_alone(cluster, fast, 2, ITEMS, 512)
        say(f"scrape, pages at once: two instances {two / one:.2f}x one")
        one = scrape_alone(cluster, slow, 1, ITEMS // 2, 512)
        two = scrape_alone(cluster, slow, 2, ITEMS // 2, 512)
        say(f"scrape, pages after 100 ms: two instances {two / one:.2f}x one")
        one = aggregate_alone(cluster, 1)
        two = aggregate_alone(cluster, 2)
        say(f"aggregate: two instances {two / one:.2f}x one")
    finally:
        fast.stop()
        slow.stop()
        single.stop()
        cluster.stop()


if __name__ == "__main__":
    main()
