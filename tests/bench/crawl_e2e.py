#!/usr/bin/env python3
"""A crawl against the plain batch of the same pages, end to end: the
generated site of tests/integration/crawl_site.py is crawled from its home
page (POST /v1/crawl to `completed`), then the URLs the crawl fetched are
submitted as one batch (POST /v1/batch to `completed`) on the same system;
the figure is the crawl's pages per second against the batch's, and the
aggregator's peak RSS during the crawl.

    tests/bench/crawl_e2e.py --pages 20000

The site is served by Python (ThreadingHTTPServer), which limits both rates
alike. Brokers: its own (compose/kafka.sh on --kafka-port), unless
FERRY_KAFKA_BROKERS names running ones.
"""

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "chaos"))
sys.path.insert(0, str(HERE.parents[0] / "integration"))

from crawl_site import CrawlSite  # noqa: E402
from system import ROOT, Kafka, System, load, rss_mb, wait_for  # noqa: E402

TENANT = "bench"


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
                   "FERRY_MAX_ITEMS": str(max(100000, 2 * len(want))), "FERRY_LOG_LEVEL": "warn"}
            sysm = System(external or kafka.brokers, ROOT / "build" / "bench-crawl", env=env,
                          tenants=(TENANT,))
            try:
                sysm.start()
                agg = sysm.stages["aggregate"][0].pid
                # Every stage's consumer group assigned and warm before
                # either run is timed: a one-page batch first.
                run(sysm, "/v1/batch", {"urls": [srv.start_url]}, 300)
                bid, doc, crawl_s = run(sysm, "/v1/crawl",
                                        {"url": srv.start_url, "limit": len(want) + 10,
                                         "formats": ["text"]}, 1800)
                crawl_load = load()
                agg_rss = rss_mb(agg, "VmHWM")
                assert doc["status"] == "completed" and doc["total"] == len(want), doc
                urls = [x["input"] for x in sysm.results(bid, TENANT)
                        if x["status"] != "robots_blocked"]
                _, bdoc, batch_s = run(sysm, "/v1/batch", {"urls": urls, "formats": ["text"]}, 1800)
                batch_load = load()
                assert bdoc["status"] == "completed", bdoc
            finally:
                sysm.stop()
        crawl_rate = len(urls) / crawl_s
        batch_rate = len(urls) / batch_s
        print(f"crawl: {len(want):,} pages ({len(urls):,} fetched) in {crawl_s:.1f} s = "
              f"{crawl_rate:,.0f} pages/s (load {crawl_load:.2f}); aggregate peak RSS "
              f"{agg_rss:.0f} MB")
        print(f"batch of the same {len(urls):,} URLs: {batch_s:.1f} s = {batch_rate:,.0f} URLs/s "
              f"(load {batch_load:.2f})")
        print(f"crawl / batch rate: {crawl_rate / batch_rate:.0%}")
    finally:
        if not external:
            kafka.stop()


if __name__ == "__main__":
    main()
