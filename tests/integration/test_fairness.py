"""Fairness (issue 11, item 6): a small batch submitted while a large one
runs is not queued behind the large one's backlog: ingest writes it to the
small lane, and scrape serves the lane first (with a share kept for the
bulk). The large batch need not finish: it is cancelled at the end."""

import time

from conftest import http, wait_until
from pipeline import ACME, Site, start_pipeline

BIG = 40000


def test_small_batch_overtakes_a_large_backlog(start_stage):
    with Site() as site:
        p = start_pipeline(start_stage, FERRY_SMALL_BATCH_ITEMS="100",
                           FERRY_SCRAPE_INFLIGHT="64", FERRY_SCRAPE_HOST_CONNECTIONS="8")
        big = p.submit({"urls": [f"{site.url}/big/{i}" for i in range(BIG)]})["id"]
        # The large batch under way: its backlog is in scrape's way.
        wait_until(lambda: p.status(big)["processed"] >= 200, timeout=60,
                   what="the large batch under way")
        t0 = time.monotonic()
        small = p.submit({"urls": [f"{site.url}/small/{i}" for i in range(10)]})["id"]
        d = p.wait_final(small, timeout=30)
        took = time.monotonic() - t0
        b = p.status(big)
        assert d["status"] == "completed" and d["succeeded"] == 10
        assert b["status"] == "running" and b["processed"] < BIG, b
        assert took < 3.0, f"the 10-URL batch took {took:.2f} s behind {BIG - b['processed']} items"
        r = http("DELETE", f"{p.base}/v1/batch/{big}", headers=ACME)
        assert r.status in (200, 202), r.body
