#!/usr/bin/env python3
"""The frontier at a million pages: aggregate's peak RSS while one crawl
accepts, deduplicates and completes 1,000,000 pages.

    tests/bench/crawl_frontier.py --pages 1000000

What runs: ingest, aggregate and deliver as built (no scrape); this script
stands in for scrape. It reads the crawl's page requests from
scrape.requests and answers each at once on scrape.results with the page's
links in the `frontier` member, as scrape sends them. The site is a tree:
page n links to pages 10n+1 .. 10n+10 (those below --pages), and to three
pages picked at random (already seen, mostly: the seen set's usual case).
So the real frontier does all of a 1M-page crawl's work: every link
parsed, scoped and looked up in the seen set, 1M pages accepted into the
seen set and the crawl.state changelog, each level's held links read back
from scrape.results, the politeness queue, completion. What it does not
do: fetch or parse HTML, robots.txt or sitemaps (the crawl has robots off
and sitemap skip), or hold pages back for politeness (the window is
lifted so the queue, not the window, is what holds them).

Prints the pages, the wall time, aggregate's peak RSS (VmHWM) and its RSS
at the end. Brokers: FERRY_KAFKA_BROKERS, or its own (compose/kafka.sh on
--kafka-port).
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "chaos"))

from system import ROOT, Kafka, System, load, rss_mb  # noqa: E402

TENANT = "bench"
SITE = "http://site.test"


def links_of(n, pages, rnd):
    out = [f"{SITE}/p/{k}" for k in range(10 * n + 1, min(pages, 10 * n + 11))]
    out += [f"{SITE}/p/{rnd.randrange(pages)}" for _ in range(3)]
    # No hash hint: the frontier hashes every link itself, which is the
    # slower path (scrape's hint only saves it a parse).
    return ["0000000000000000 " + u for u in out]


def result(req, pages, rnd):
    url = req["url"]
    n = int(url.rsplit("/", 1)[1]) if "/p/" in url else 0
    doc = {"schema_version": 1, "batch_id": req["batch_id"], "tenant": req["tenant"],
           "index": req["index"], "input": url, "status": "ok", "http_status": 200,
           "final_url": url, "content_type": "text/html", "duration_ms": 1, "attempts": 1,
           "fetched_at": "2026-11-30T00:00:00.000Z", "error": None, "credits_charged": 1,
           "depth": req["depth"], "found_on": req["found_on"], "data": {}}
    if req.get("frontier"):
        doc["frontier"] = links_of(n, pages, rnd)
    return json.dumps(doc, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=1000000)
    ap.add_argument("--kafka-port", type=int,
                    default=int(os.environ.get("FERRY_LOCAL_KAFKA_PORT", "29692")))
    ap.add_argument("--timeout", type=float, default=1500)
    a = ap.parse_args()
    external = os.environ.get("FERRY_KAFKA_BROKERS")
    kafka = Kafka(a.kafka_port, 1, owned=not external)
    rnd = random.Random(7)
    try:
        if not external:
            kafka.start()
        brokers = external or kafka.brokers
        env = {"FERRY_CRAWL_HOST_CONCURRENCY": "1000000",
               "FERRY_MAX_ITEMS": str(max(100000, a.pages + 10)), "FERRY_LOG_LEVEL": "warn"}
        sysm = System(brokers, ROOT / "build" / "bench-frontier", env=env, tenants=(TENANT,),
                      instances={"scrape": 0})
        try:
            sysm.start()
            agg = sysm.stages["aggregate"][0].pid
            rss0 = rss_mb(agg)
            cons = Consumer({"bootstrap.servers": brokers, "group.id": sysm.prefix + "fakescrape",
                             "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                             "enable.auto.commit": False})
            cons.subscribe([sysm.prefix + "scrape.requests"])
            # Results go to the batch's partition, as scrape writes them
            # (Kafka's murmur2 of the batch id).
            prod = Producer({"bootstrap.servers": brokers, "linger.ms": 5,
                             "partitioner": "murmur2_random",
                             "queue.buffering.max.messages": 1000000})
            results_topic = sysm.prefix + "scrape.results"
            r = sysm.call("POST", "/v1/crawl", TENANT,
                          {"url": SITE + "/p/0", "limit": a.pages, "max_depth": 10,
                           "robots": False, "sitemap": "skip", "formats": ["text"]}, timeout=60)
            assert r.status == 202, r.body
            bid = r.json()["id"]
            t0 = time.time()
            answered, peak, last_check = 0, 0.0, 0.0
            while True:
                for m in cons.consume(2000, 0.2):
                    if m.error():
                        continue
                    req = json.loads(m.value())
                    if req.get("batch_id") != bid or "index" not in req:
                        continue
                    prod.produce(results_topic, result(req, a.pages, rnd), key=bid.encode())
                    answered += 1
                prod.poll(0)
                now = time.time()
                if now - last_check >= 2:
                    last_check = now
                    peak = max(peak, rss_mb(agg, "VmHWM"))
                    doc = sysm.status(bid, TENANT)
                    print(f"{now - t0:7.1f} s answered {answered:,} total {doc['total']:,} "
                          f"processed {doc['processed']:,} aggregate RSS {rss_mb(agg):.0f} MB",
                          flush=True)
                    if doc["status"] != "running" and doc["status"] != "queued":
                        break
                    assert now - t0 < a.timeout, "not done in time"
            prod.flush(30)
            cons.close()
            wall = time.time() - t0
            peak = max(peak, rss_mb(agg, "VmHWM"))
            print(f"crawl of {doc['total']:,} pages ({doc['status']}, discovered "
                  f"{doc.get('discovered', 0):,}) in {wall:.0f} s = {doc['total'] / wall:,.0f} "
                  f"pages/s (load {load():.2f})")
            print(f"aggregate RSS: {rss0:.0f} MB idle, peak (VmHWM) {peak:.0f} MB, "
                  f"{rss_mb(agg):.0f} MB at the end")
            assert doc["status"] == "completed" and doc["total"] == a.pages, doc
        finally:
            sysm.stop()
    finally:
        if not external:
            kafka.stop()


if __name__ == "__main__":
    main()
