#!/usr/bin/env python3
"""One batch through the whole system, from POST to a verified
batch.completed webhook, timed; with the CPU each process spent on it (from
/proc/<pid>/stat before and after: the page server, every broker, every
stage instance) and each stage's peak RSS.

    tests/bench/e2e.py --items 100000                 one broker, one of each stage
    tests/bench/e2e.py --items 100000 --cluster       three brokers, replication 3
    tests/bench/e2e.py --scrape 2 --inflight 2000 --page-delay-ms 100

Brokers: its own (compose/kafka.sh on --kafka-port), unless FERRY_KAFKA_BROKERS
names running ones. The page server (tests/tools/page_server) serves 1,000
pages of about 1 KB under distinct query strings, every hundredth URL a 404,
so the exact counts are known and checked (tests/chaos/verify.py), as are
the webhook's signature and delivery id and every result's index. Loopback
only. Used by bench_scaleout.sh; measure() is the reusable part.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from system import (ROOT, Kafka, Pages, Receiver, System, build_dir, cpu_seconds,  # noqa: E402
                    load, rss_mb)
from verify import (await_done, batch_urls, verify_results, verify_status,  # noqa: E402
                    verify_webhooks)

TENANT = "bench"


def topic_span(brokers, topic):
    """The first and the last record timestamp (epoch s, the producer's
    CreateTime) of a topic, from the first and last record of each
    partition: when a stage began and finished writing it."""
    from confluent_kafka import Consumer, TopicPartition  # a test tool, only here
    c = Consumer({"bootstrap.servers": brokers, "group.id": "bench-span",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        first, last = None, None
        for p in parts:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for off in {lo, hi - 1} if hi > lo else ():
                c.assign([TopicPartition(topic, p, off)])
                m = c.poll(10)
                # A transaction's commit marker takes an offset: the last
                # record may sit a few offsets earlier.
                while m is None or m.error():
                    if off <= lo:
                        break
                    off -= 1
                    c.assign([TopicPartition(topic, p, off)])
                    m = c.poll(10)
                if m is None or m.error():
                    continue
                ts = m.timestamp()[1] / 1000.0
                first = ts if first is None else min(first, ts)
                last = ts if last is None else max(last, ts)
        return first, last
    finally:
        c.close()


def process_table(sysm, kafka_pids, pages):
    """label -> pid of every process that works on a batch."""
    procs = {st.label: st.pid for st in sysm.all() if st.alive()}
    for i, pid in enumerate(kafka_pids, 1):
        procs[f"broker-{i}"] = pid
    procs["page_server"] = pages.proc.pid
    return procs


def measure(brokers, kafka_pids, pages, items, instances=None, replication=None, env=None,
            workdir=None, timeout=900.0, check_results=True, watch=None, spans=False, warm=0):
    """Runs one batch of `items` URLs on a fresh system; returns a dict:
    seconds (POST to webhook), rate (URLs/s), accept_s (POST to 202),
    cpu {label: seconds}, rss {label: peak MB}, load (1-min average).
    watch(procs) is called once every process runs, before the POST, with
    {label: pid}; what it returns, if callable, is called when the clock
    stops (a profiler attached to the stages, for example). spans: also
    "spans", seconds from the POST to the first and the last request ingest
    wrote and result scrape wrote (record timestamps), to see where the
    wall time goes. warm: a batch of that many URLs first, through to its
    webhook, before the clock and the CPU counts start: the figure is then
    a running service's (its transactional producers, connections and
    consumers ready), not a cold start's."""
    workdir = Path(workdir or ROOT / "build" / "bench-e2e")
    sysm = System(brokers, workdir, instances, replication, env=env, tenants=(TENANT,))
    hook = Receiver()
    urls = batch_urls(pages.url, pages.count, items)
    secret = "whsec-bench-0123456789abcdef"
    try:
        sysm.start()
        procs = process_table(sysm, kafka_pids, pages)
        if warm:
            acc = sysm.submit({"urls": batch_urls(pages.url, pages.count, warm),
                               "webhook_url": hook.url + "/hook", "webhook_secret": secret},
                              TENANT, timeout=120)
            await_done(sysm, acc["id"], TENANT, hook, timeout)
        stop_watch = watch(procs) if watch else None
        cpu0 = {k: cpu_seconds(p) for k, p in procs.items()}
        t0 = time.time()
        acc = sysm.submit({"urls": urls, "webhook_url": hook.url + "/hook",
                           "webhook_secret": secret}, TENANT, timeout=120)
        accepted = time.time()
        done = await_done(sysm, acc["id"], TENANT, hook, timeout)
        cpu1 = {k: cpu_seconds(p) for k, p in procs.items()}
        if callable(stop_watch):
            stop_watch()
        rss = {st.label: rss_mb(st.pid, "VmHWM") for st in sysm.all() if st.alive()}
        ld = load()
        # Verified after the clock stopped: reading 100,000 results back
        # is not part of the figure.
        verify_status(sysm.status(acc["id"], TENANT), items)
        verify_webhooks(hook.of_batch(acc["id"]), acc["id"], secret, items)
        if check_results:
            verify_results(sysm.results(acc["id"], TENANT), urls, pages.count)
        seconds = done - t0
        out = {"seconds": seconds, "rate": items / seconds, "accept_s": accepted - t0,
               "cpu": {k: cpu1[k] - cpu0[k] for k in procs}, "rss": rss, "load": ld,
               "items": items}
        if spans:
            out["spans"] = {}
            for name in ("scrape.requests", "scrape.results"):
                a, b = topic_span(brokers, sysm.prefix + name)
                out["spans"][name] = (a - t0 if a else None, b - t0 if b else None)
        return out
    finally:
        sysm.stop()
        hook.close()


def describe(r, label):
    """One figure line and one line of CPU per process."""
    el = r["seconds"]
    cpu = ", ".join(f"{k} {v / el:.0%} ({v / r['items'] * 1e6:.0f} us/URL)"
                    for k, v in sorted(r["cpu"].items(), key=lambda kv: -kv[1]) if v > 0.05)
    rss = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["rss"].items()))
    return (f"{label}: {r['rate']:,.0f} URLs/s ({r['items']:,} URLs, POST to verified webhook "
            f"{el:.1f} s, 202 after {r['accept_s']:.2f} s; load {r['load']:.2f})\n"
            f"    CPU, share of one core: {cpu}\n    peak RSS MB: {rss}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100000)
    ap.add_argument("--cluster", action="store_true")
    ap.add_argument("--kafka-port", type=int,
                    default=int(os.environ.get("FERRY_LOCAL_KAFKA_PORT", "29692")))
    ap.add_argument("--scrape", type=int, default=1, help="scrape instances")
    ap.add_argument("--aggregate", type=int, default=1, help="aggregate instances")
    ap.add_argument("--inflight", type=int, default=512, help="FERRY_SCRAPE_INFLIGHT")
    ap.add_argument("--page-delay-ms", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()

    external = os.environ.get("FERRY_KAFKA_BROKERS")
    kafka = Kafka(a.kafka_port, 3 if a.cluster else 1, owned=not external)
    pages = Pages(count=1000, delay_ms=a.page_delay_ms, build=build_dir())
    try:
        if not external:
            kafka.start()
        pages.start()
        brokers = external or kafka.brokers
        pids = [] if external else kafka.pids()
        env = {"FERRY_SCRAPE_INFLIGHT": str(a.inflight),
               "FERRY_SCRAPE_HOST_CONNECTIONS": str(a.inflight), "FERRY_LOG_LEVEL": "warn"}
        for k in range(a.rounds):
            r = measure(brokers, pids, pages, a.items, {"scrape": a.scrape, "aggregate": a.aggregate},
                        3 if a.cluster else None, env)
            print(describe(r, f"e2e round {k + 1}"), flush=True)
    finally:
        pages.stop()
        if not external:
            kafka.stop()


if __name__ == "__main__":
    main()
