#!/usr/bin/env python3
"""bench_e2e (make bench e2e): ferry end to end against bare curl on the same
pages. Each round fetches the same URLs twice from one page server
(tests/tools/page_server, 1,000 pages of about 1 KB under distinct query
strings, every hundredth URL a 404):

  1. bare `curl -s -Z --parallel-max 200 -K urls` (every body to /dev/null);
  2. one ferry batch of the same URLs, from POST to a verified
     batch.completed webhook (e2e.measure(): counts, signature, delivery id
     and every result's index checked after the clock stopped).

Prints both rates and their ratio for every round, then the best and the
median of the rounds, and per process CPU microseconds per URL (from
/proc/<pid>/stat before and after) and peak RSS (VmHWM) per stage, with the
1-minute load average beside every figure.

    FERRY_BENCH_E2E_ITEMS    URLs per batch (default 100000)
    FERRY_BENCH_E2E_ROUNDS   rounds (default 3)
    FERRY_BENCH_E2E_PERF     a folder: `perf record -g` of every stage during
                             each ferry batch, perf-<stage>-r<round>.data
                             there (read with perf report -i)
    FERRY_BENCH_E2E_WARM     a batch of this many URLs through the fresh
                             system first (default 0): the figure is then a
                             running service's, not a cold start's (the
                             first submit also opens ingest's transactional
                             producer and its partitions: 0.2-0.4 s)
    FERRY_BENCH_E2E_SET      settings for every stage, "NAME=VALUE NAME=VALUE"
                             (e.g. FERRY_SCRAPE_INFLIGHT=1024), to compare
                             one against the defaults
    FERRY_BENCH_E2E_KAFKA_PORT  its own broker's port (default 29792), unless
                             FERRY_KAFKA_BROKERS names a running one (a
                             compose/kafka.sh broker on 127.0.0.1: its CPU
                             is counted too)
Loopback only.
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from e2e import measure  # noqa: E402
from system import Kafka, Pages, build_dir, cpu_seconds, load  # noqa: E402
from verify import batch_urls  # noqa: E402

ITEMS = int(os.environ.get("FERRY_BENCH_E2E_ITEMS", "100000"))
ROUNDS = int(os.environ.get("FERRY_BENCH_E2E_ROUNDS", "3"))
WARM = int(os.environ.get("FERRY_BENCH_E2E_WARM", "0"))
PORT = int(os.environ.get("FERRY_BENCH_E2E_KAFKA_PORT", "29792"))
CURL_PARALLEL = 200
STAGES = ("ingest", "scrape", "aggregate", "deliver")


def say(text):
    print(text, flush=True)


def curl_config(urls, path):
    """A curl -K file: every URL with its body to /dev/null."""
    with open(path, "w") as f:
        for u in urls:
            f.write(f'url = "{u}"\noutput = "/dev/null"\n')


def bare_curl(config, pages, items):
    """One bare curl run over the config; returns rate, seconds, CPU."""
    page0 = cpu_seconds(pages.proc.pid)
    t0 = time.time()
    before = os.times()
    subprocess.run(["curl", "-s", "-Z", "--parallel-max", str(CURL_PARALLEL), "-K", config],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.time() - t0
    after = os.times()
    curl_cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system)
    return {"rate": items / seconds, "seconds": seconds, "load": load(),
            "cpu": {"curl": curl_cpu, "page_server": cpu_seconds(pages.proc.pid) - page0}}


def per_url(cpu, items):
    return ", ".join(f"{k} {v / items * 1e6:.0f}"
                     for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])) + \
        f"; sum {sum(cpu.values()) / items * 1e6:.0f}"


# Processes of one thread: each of them alone caps the rate at one core.
SINGLE_THREADED = ("curl", "page_server")


def cpu_floor(cpu, items):
    """URLs/s that CPU alone allows: the processes' summed CPU per URL on
    every core of the machine with nothing else and no waiting, and no
    single-threaded process past one core."""
    rate = (os.cpu_count() or 1) / (sum(cpu.values()) / items)
    for k, v in cpu.items():
        if k in SINGLE_THREADED and v > 0:
            rate = min(rate, items / v)
    return rate


def perf_watch(folder, rnd):
    """A measure() watch: perf record of each stage while the clock runs."""
    def watch(procs):
        runs = []
        for label, pid in procs.items():
            if label.startswith(STAGES):
                out = Path(folder) / f"perf-{label}-r{rnd}.data"
                runs.append(subprocess.Popen(
                    ["perf", "record", "-q", "-F", "499", "-g", "-o", str(out), "-p", str(pid)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def stop():
            for p in runs:
                p.send_signal(signal.SIGINT)
            for p in runs:
                p.wait(60)
        return stop
    return watch


def broker_pids(kafka):
    """The broker's pid when compose/kafka.sh runs it here (its CPU is in
    the table), else none."""
    try:
        return kafka.pids()
    except (RuntimeError, ValueError, OSError):
        return []


def main():
    external = os.environ.get("FERRY_KAFKA_BROKERS")
    port = PORT
    if external and external.startswith("127.0.0.1:") and "," not in external:
        port = int(external.rsplit(":", 1)[1])  # a local broker: its CPU is counted too
    kafka = Kafka(port, 1, owned=not external)
    pages = Pages(count=1000, build=build_dir())
    env = {"FERRY_LOG_LEVEL": "warn"}
    env.update(kv.split("=", 1) for kv in os.environ.get("FERRY_BENCH_E2E_SET", "").split())
    ratios, curl_rates, ferry_rates, floor_ratios = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-e2e.") as work:
        try:
            if not external:
                kafka.start()
            pages.start()
            brokers = external or kafka.brokers
            pids = broker_pids(kafka)
            urls = batch_urls(pages.url, pages.count, ITEMS)
            config = os.path.join(work, "urls")
            curl_config(urls, config)
            say(f"e2e: {ITEMS:,} URLs, {ROUNDS} rounds, page server {pages.url} (1,000 pages "
                f"of about 1 KB, every 100th URL a 404), broker {brokers}, build {build_dir()}"
                + (f", warmed by a {WARM:,}-URL batch" if WARM else ", cold (no batch before)")
                + (f", set {os.environ['FERRY_BENCH_E2E_SET']}"
                   if os.environ.get("FERRY_BENCH_E2E_SET") else ""))
            for k in range(1, ROUNDS + 1):
                c = bare_curl(config, pages, ITEMS)
                say(f"round {k}: curl -Z --parallel-max {CURL_PARALLEL}: {c['rate']:,.0f} URLs/s "
                    f"({c['seconds']:.1f} s, load {c['load']:.2f}); CPU us/URL: "
                    f"{per_url(c['cpu'], ITEMS)}")
                perf = os.environ.get("FERRY_BENCH_E2E_PERF")
                r = measure(brokers, pids, pages, ITEMS, env=env, workdir=Path(work) / f"r{k}",
                            watch=perf_watch(perf, k) if perf else None, spans=True,
                            warm=WARM)
                ratio = r["rate"] / c["rate"]
                # Both sides' CPU on all cores: the ratio CPU alone would allow,
                # and how much of its CPU-bound rate each side reached.
                cf, ff = cpu_floor(c["cpu"], ITEMS), cpu_floor(r["cpu"], ITEMS)
                floor_ratios.append(ff / cf)
                say(f"round {k}: ferry POST to verified webhook: {r['rate']:,.0f} URLs/s "
                    f"({r['seconds']:.1f} s, 202 after {r['accept_s']:.2f} s, load "
                    f"{r['load']:.2f}); ratio {ratio:.2f}\n"
                    f"    CPU us/URL: {per_url(r['cpu'], ITEMS)}\n"
                    "    peak RSS MB: " + ", ".join(f"{s} {r['rss'][s]:.0f}"
                                                   for s in sorted(r["rss"])) +
                    f"\n    CPU-bound rate on {os.cpu_count()} cores: curl {cf:,.0f}, ferry "
                    f"{ff:,.0f} URLs/s (ratio {ff / cf:.2f}); reached: curl {c['rate'] / cf:.0%}, "
                    f"ferry {r['rate'] / ff:.0%}")
                sp = r["spans"]
                rq, rs = sp["scrape.requests"], sp["scrape.results"]
                if None not in rq + rs:
                    say(f"    timeline s from the POST: requests written {rq[0]:.2f}-{rq[1]:.2f}, "
                        f"202 {r['accept_s']:.2f}, results written {rs[0]:.2f}-{rs[1]:.2f} "
                        f"({ITEMS / max(rs[1] - rs[0], 1e-3):,.0f}/s), webhook {r['seconds']:.2f}")
                ratios.append(ratio)
                curl_rates.append(c["rate"])
                ferry_rates.append(r["rate"])
            say(f"e2e: curl {max(curl_rates):,.0f} best / {statistics.median(curl_rates):,.0f} "
                f"median URLs/s; ferry {max(ferry_rates):,.0f} best / "
                f"{statistics.median(ferry_rates):,.0f} median URLs/s; ratio "
                f"{max(ratios):.2f} best / {statistics.median(ratios):.2f} median "
                f"(target 0.85; load {load():.2f}); the ratio CPU alone allows "
                f"{statistics.median(floor_ratios):.2f} median")
        finally:
            pages.stop()
            if not external:
                kafka.stop()


if __name__ == "__main__":
    main()
