#!/usr/bin/env python3
"""A crawl against the plain batch of the same pages, end to end: the
generated site of tests/integration/crawl_site.py is crawled from its home
page (POST /v1/crawl to `completed`), then the URLs the crawl fetched are
submitted as one batch (POST /v1/batch to `completed`) on the same system;
the figure is the crawl's pages per second against the batch's, and the
aggregator's peak RSS during the crawl.

    tests/bench/crawl_e2e.py --pages 20000

The site is served by Python (ThreadingHTTPServer) in this process. Each
run also prints the CPU each process spent per page (µs: the stages, the
broker when it runs here, and this process, which is mostly the site
server), so a crawl page's extra cost shows where it is. --trace reads the
crawl's requests and results back from Kafka and splits a page's round trip
(percentiles, ms): request produced (aggregate) -> fetch started (scrape),
the fetch, fetch done -> result produced; the rest of the round trip is
aggregate's (the result counted, the requests it frees produced).

Brokers: its own (compose/kafka.sh on --kafka-port), unless
FERRY_KAFKA_BROKERS names running ones (the broker's CPU is counted when
--kafka-port is the port they run on here).
"""

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "chaos"))
sys.path.insert(0, str(HERE.parents[0] / "integration"))

from crawl_site import CrawlSite  # noqa: E402
from system import ROOT, Kafka, System, cpu_seconds, load, rss_mb, wait_for  # noqa: E402

TENANT = "bench"


def processes(sysm, kafka):
    """label -> pid of every process whose CPU a run is charged."""
    procs = {st.label: st.pid for st in sysm.all()}
    try:
        procs["broker"] = kafka.pid()
    except (RuntimeError, OSError, ValueError):
        pass  # brokers elsewhere
    return procs


def cpu_now(procs):
    me = os.times()
    out = {k: cpu_seconds(pid) for k, pid in procs.items()}
    out["site+bench"] = me.user + me.system
    return out


def cpu_line(before, after, pages):
    d = {k: after[k] - before[k] for k in after}
    parts = ", ".join(f"{k} {v / pages * 1e6:.0f}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]))
    return f"CPU per page (µs): {parts}; sum {sum(d.values()) / pages * 1e6:.0f}"


def read_topic(sysm, topic, bid):
    """(partition, offset, create time ms, headers dict, value) of bid's
    committed records on a topic of the system."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": sysm.brokers, "group.id": f"trace-{os.getpid()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    name = sysm.prefix + topic
    parts = c.list_topics(name, timeout=30).topics[name].partitions
    c.assign([TopicPartition(name, p, 0) for p in parts])
    left, out, key = set(parts), [], bid.encode()
    while left:
        for m in c.consume(1000, 5):
            if m.error():
                left.discard(m.partition())
            elif m.key() == key:
                out.append((m.partition(), m.offset(), m.timestamp()[1],
                            {k: v.decode() for k, v in (m.headers() or [])}, m.value()))
    c.close()
    return out


def pct(xs):
    xs = sorted(xs)
    if not xs:
        return "-"
    at = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]  # noqa: E731
    return f"p10 {at(.1):.0f} p50 {at(.5):.0f} p90 {at(.9):.0f} mean {sum(xs) / len(xs):.1f}"


def trace(sysm, bid):
    """The parts of a crawl page's round trip, from the records it left."""
    import json
    reqs = {int(h["ferry-index"]): ts for _, _, ts, h, _ in read_topic(sysm, "scrape.requests", bid)
            if "ferry-index" in h}
    res = []
    for part, off, ts, h, v in read_topic(sysm, "scrape.results", bid):
        doc = json.loads(v)
        if doc.get("status") == "robots_blocked" or "ferry-index" not in h:
            continue
        at = datetime.fromisoformat(doc["fetched_at"].replace("Z", "+00:00")).timestamp() * 1000
        res.append((off, int(h["ferry-index"]), ts, at, doc.get("duration_ms") or 0))
    res.sort()
    intake, fetch, post, trip = [], [], [], []
    for _, i, ts, at, dur in res:
        if i in reqs:
            intake.append(at - dur - reqs[i])
            fetch.append(dur)
            post.append(ts - at)
            trip.append(ts - reqs[i])
    print(f"trace ({len(res):,} pages): request produced -> fetch started: {pct(intake)}")
    print(f"  fetch: {pct(fetch)}; fetch done -> result produced: {pct(post)}")
    print(f"  request produced -> result produced: {pct(trip)}")


def run(sysm, path, body, timeout):
    r = sysm.call("POST", path, TENANT, body, timeout=60)
    assert r.status == 202, r.body
    bid = r.json()["id"]
    t0 = time.time()

    def done():
        doc = sysm.status(bid, TENANT)
        return doc if doc and doc["status"] in ("completed", "failed", "cancelled") else None

    doc = wait_for(done, timeout, f"{path} {bid} done", 0.2)
    return bid, doc, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=20000)
    ap.add_argument("--host-concurrency", type=int, default=64)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting of every stage (e.g. FERRY_CRAWL_COMMIT_INTERVAL=25)")
    ap.add_argument("--trace", action="store_true",
                    help="split the crawl's round trip (reads its records back)")
    ap.add_argument("--kafka-port", type=int,
                    default=int(os.environ.get("FERRY_LOCAL_KAFKA_PORT", "29692")))
    a = ap.parse_args()
    external = os.environ.get("FERRY_KAFKA_BROKERS")
    kafka = Kafka(a.kafka_port, 1, owned=not external)
    site = CrawlSite(pages=a.pages, seed=17)
    want = site.expected()
    try:
        if not external:
            kafka.start()
        with site.serve() as srv:
            env = {"FERRY_CRAWL_HOST_CONCURRENCY": str(a.host_concurrency),
                   "FERRY_SCRAPE_HOST_CONNECTIONS": str(a.host_concurrency),
                   "FERRY_MAX_ITEMS": str(max(100000, 2 * len(want))), "FERRY_LOG_LEVEL": "warn",
                   **dict(kv.split("=", 1) for kv in a.set)}
            sysm = System(external or kafka.brokers, ROOT / "build" / "bench-crawl", env=env,
                          tenants=(TENANT,))
            try:
                sysm.start()
                agg = sysm.stages["aggregate"][0].pid
                # Every stage's consumer group assigned and warm before
                # either run is timed: a one-page batch first.
                run(sysm, "/v1/batch", {"urls": [srv.start_url]}, 300)
                procs = processes(sysm, kafka)
                cpu0 = cpu_now(procs)
                bid, doc, crawl_s = run(sysm, "/v1/crawl",
                                        {"url": srv.start_url, "limit": len(want) + 10,
                                         "formats": ["text"]}, 1800)
                cpu1 = cpu_now(procs)
                crawl_load = load()
                agg_rss = rss_mb(agg, "VmHWM")
                assert doc["status"] == "completed" and doc["total"] == len(want), doc
                urls = [x["input"] for x in sysm.results(bid, TENANT)
                        if x["status"] != "robots_blocked"]
                cpu2 = cpu_now(procs)
                _, bdoc, batch_s = run(sysm, "/v1/batch", {"urls": urls, "formats": ["text"]}, 1800)
                cpu3 = cpu_now(procs)
                batch_load = load()
                assert bdoc["status"] == "completed", bdoc
                if a.trace:
                    trace(sysm, bid)
            finally:
                sysm.stop()
        crawl_rate = len(urls) / crawl_s
        batch_rate = len(urls) / batch_s
        print(f"crawl: {len(want):,} pages ({len(urls):,} fetched) in {crawl_s:.1f} s = "
              f"{crawl_rate:,.0f} pages/s (load {crawl_load:.2f}); aggregate peak RSS "
              f"{agg_rss:.0f} MB")
        print("  " + cpu_line(cpu0, cpu1, len(urls)))
        print(f"batch of the same {len(urls):,} URLs: {batch_s:.1f} s = {batch_rate:,.0f} URLs/s "
              f"(load {batch_load:.2f})")
        print("  " + cpu_line(cpu2, cpu3, len(urls)))
        print(f"crawl / batch rate: {crawl_rate / batch_rate:.0%}")
    finally:
        if not external:
            kafka.stop()


if __name__ == "__main__":
    main()
