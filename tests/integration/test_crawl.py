"""POST /v1/crawl through the whole pipeline (issue 13): a generated site
(crawl_site.py) is crawled, and the results are checked against the site's
own model: exactly the expected pages, each fetched once, at their
breadth-first depths, with robots.txt obeyed and sitemaps read; limit and
max_depth exact; SIGKILLs of scrape and aggregate change nothing; cancel
stops the crawl."""

import json
import re
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition

from conftest import BROKERS, http, kafka_consume, wait_until
from crawl_site import CrawlSite
from pipeline import ACME, start_pipeline
from test_ingest_pipeline import all_results


def crawl(p, body):
    r = http("POST", p.base + "/v1/crawl", body, ACME)
    assert r.status == 202, r.body
    return r.json()["id"]


def by_page(site, results):
    """{page id: [result, ...]} of a crawl's results."""
    got = {}
    for x in results:
        got.setdefault(site.page_of(x["input"]), []).append(x)
    return got


def check(site, srv, results, want):
    got = by_page(site, results)
    assert sorted(got) == sorted(want)
    assert [p for p, xs in got.items() if len(xs) != 1] == []
    for page, (depth, status) in want.items():
        x = got[page][0]
        assert (x["depth"], x["status"]) == (depth, status), (page, x)
    # Each page fetched at most once, whatever spelling its links used;
    # nothing of the other site, nothing robots.txt refuses.
    # (/go/<i> redirects to /r/<i>: one page, two requests.)
    fetched = {"go" + p[1:] if re.fullmatch(r"r\d+", p) else p for p, n in srv.hits.items() if n}
    assert [p for p, n in srv.hits.items() if n > 1] == []
    assert fetched == {p for p, (_, s) in want.items() if s != "robots_blocked"}
    assert sum(srv.external_hits.values()) == 0
    assert all(n == 1 for n in srv.robots_hits.values()), srv.robots_hits
    # found_on names a page one level up that links to it.
    index = {x["index"]: site.page_of(x["input"]) for x in results}
    for x in results:
        if x["found_on"] is not None:
            assert want[index[x["found_on"]]][0] == x["depth"] - 1


@pytest.fixture
def pipe(start_stage):
    return start_pipeline(start_stage, FERRY_CRAWL_HOST_CONCURRENCY="4")


def test_crawl_fetches_every_page_once_at_its_depth(pipe):
    site = CrawlSite(pages=300)
    with site.serve() as srv:
        bid = crawl(pipe, {"url": srv.start_url, "limit": 5000, "formats": ["text"]})
        d = pipe.wait_final(bid, timeout=240)
        want = site.expected()
        assert d["status"] == "completed" and d["kind"] == "crawl"
        assert d["total"] == d["processed"] == len(want)
        results = all_results(pipe.base, f"/v1/batch/{bid}/results?limit=500")
        check(site, srv, results, want)
        assert not [x for x in results if "frontier" in x]  # internal: never shown


def test_crawl_limit_and_max_depth_are_exact(pipe):
    site = CrawlSite(pages=300, seed=5)
    with site.serve() as srv:
        shallow = crawl(pipe, {"url": srv.start_url, "max_depth": 2, "limit": 5000})
        d = pipe.wait_final(shallow, timeout=180)
        want = site.expected(max_depth=2)
        assert d["total"] == len(want)
        got = all_results(pipe.base, f"/v1/batch/{shallow}/results?limit=500")
        assert {site.page_of(x["input"]): (x["depth"], x["status"]) for x in got} == want
        assert len(got) == len(want)

        limited = crawl(pipe, {"url": srv.start_url, "limit": 40, "sitemap": "skip"})
        d = pipe.wait_final(limited, timeout=180)
        assert d["status"] == "completed" and d["total"] == d["processed"] == 40
        got = all_results(pipe.base, f"/v1/batch/{limited}/results?limit=500")
        full = site.expected(sitemap="skip")
        pages = {site.page_of(x["input"]) for x in got}
        assert len(pages) == len(got) == 40 and pages <= set(full)
        # The first 40 pages of a breadth-first walk: every page shallower
        # than the deepest one taken is in.
        deepest = max(x["depth"] for x in got)
        assert {p for p, (dep, _) in full.items() if dep < deepest} <= pages
        assert d["discovered"] >= 40


RESTARTED = "ferry-restarted/1"  # the User-Agent of the scrape started after the kill


def scrape_committed(p):
    """{partition: offset} the scrape group has committed on scrape.requests
    (0 where it committed none: a restart reads from the beginning)."""
    env = p.stages["scrape"].env
    prefix, parts = env["FERRY_TOPIC_PREFIX"], int(env["FERRY_TOPIC_PARTITIONS"])
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": prefix + "ferry-scrape",
                  "enable.auto.commit": False})
    try:
        tps = c.committed([TopicPartition(prefix + "scrape.requests", i) for i in range(parts)],
                          timeout=30)
    finally:
        c.close()
    return {tp.partition: max(tp.offset, 0) for tp in tps}


def scrape_committed_settled(p, tries=5, pause=0.3):
    """scrape_committed() once two reads in a row agree: an offset commit
    the killed scrape sent just before the kill may still be in the broker's
    socket and be applied after a first read, and the restarted scrape
    starts from what the broker holds by then, not from that read."""
    last = scrape_committed(p)
    for _ in range(tries - 1):
        time.sleep(pause)
        now = scrape_committed(p)
        if now == last:
            return now
        last = now
    raise AssertionError(f"scrape's committed offsets still moving after {tries} reads: {last}")


def test_crawl_survives_sigkills_with_the_same_pages_and_one_webhook(start_stage, receiver):
    p = start_pipeline(start_stage, FERRY_CRAWL_HOST_CONCURRENCY="2")
    site = CrawlSite(pages=260, seed=21)
    with site.serve() as srv:
        bid = crawl(p, {"url": srv.start_url, "limit": 5000, "formats": ["text"],
                        "webhook_url": receiver.url + "/hook"})
        wait_until(lambda: p.status(bid)["processed"] >= 60, timeout=120,
                   what="the crawl under way")
        # The frontier's transaction is lost with aggregate: nothing it
        # asked for in it reaches scrape, and it asks again after restoring.
        p.stages["aggregate"].kill()
        p.stages["aggregate"].start()
        wait_until(lambda: p.status(bid)["processed"] >= 150, timeout=120,
                   what="the crawl under way again")
        assert [q for q, n in srv.hits.items() if n > 1] == []
        p.stages["scrape"].kill()
        p.stages["aggregate"].kill()
        # Where the restarted scrape will start: the offsets the killed one
        # committed (it can commit no more).
        committed = scrape_committed_settled(p)
        # The restarted scrape names itself, so each fetch is known by the
        # run of scrape that made it, whenever it reached the site (a
        # request the killed one sent may be served after the kill).
        p.stages["scrape"].env["FERRY_SCRAPE_USER_AGENT"] = RESTARTED
        p.stages["scrape"].start()
        p.stages["aggregate"].start()
        d = p.wait_final(bid, timeout=240, webhook=True)
        want = site.expected()
        assert d["status"] == "completed" and d["total"] == d["processed"] == len(want)
        results = all_results(p.base, f"/v1/batch/{bid}/results?limit=500")
        got = by_page(site, results)
        assert sorted(got) == sorted(want)
        assert [q for q, xs in got.items() if len(xs) != 1] == []
        assert {q: (xs[0]["depth"], xs[0]["status"]) for q, xs in got.items()} == want
        # The frontier asked for each page once, across both kills.
        asked = Counter()
        taken_again = set()
        for m in kafka_consume(p.stages["scrape"].env["FERRY_TOPIC_PREFIX"] + "scrape.requests"):
            r = json.loads(m.value)
            page = None if "fetch" in r else site.page_of(r["url"])
            if page is None:
                continue
            asked[page] += 1
            if m.offset >= committed[m.partition]:
                # A redirect's landing comes with the page that redirected.
                taken_again |= {page, "r" + page[2:]} if page.startswith("go") else {page}
        assert [q for q, n in asked.items() if n > 1] == []
        # scrape's requests are at least once: the restarted scrape takes
        # again every request from its group's committed offsets on (they
        # advance as results are acknowledged, in offset order, and are
        # committed every 5 s), and nothing before them; no run of scrape
        # fetches a page twice.
        assert len({a for (_, a) in srv.agent_hits}) == 2
        assert [k for k, n in srv.agent_hits.items() if n > 1] == []
        before = {q for (q, a) in srv.agent_hits if a != RESTARTED}
        again = {q for (q, a) in srv.agent_hits if a == RESTARTED} & before
        assert again == before & taken_again, (sorted(again - taken_again),
                                               sorted(before & taken_again - again))
        time.sleep(1)  # a second webhook would have come by now
        hooks = [r for r in receiver.requests if bid.encode() in r.body]
        assert len(hooks) == 1


def test_crawl_waits_for_pages_in_retry_tiers(pipe):
    # Pages at several depths answer 503 once: each goes through a retry
    # tier and the crawl neither ends before them nor loses their links.
    site = CrawlSite(pages=120, seed=4, flaky=("p0", "s3", "p40", "p77"))
    with site.serve() as srv:
        bid = crawl(pipe, {"url": srv.start_url, "limit": 5000})
        d = pipe.wait_final(bid, timeout=180)
        want = site.expected()
        assert d["status"] == "completed" and d["total"] == d["processed"] == len(want)
        results = all_results(pipe.base, f"/v1/batch/{bid}/results?limit=500")
        got = {site.page_of(x["input"]): x for x in results}
        assert {p: (x["depth"], x["status"]) for p, x in got.items()} == want
        for p in site.flaky & set(want):
            assert srv.hits[p] == 2 and got[p]["attempts"] == 2, (p, got[p])


def test_cancel_stops_a_crawl(pipe):
    site = CrawlSite(pages=400, seed=3, crawl_delay=0.2)
    with site.serve() as srv:
        bid = crawl(pipe, {"url": srv.start_url, "limit": 5000})
        wait_until(lambda: pipe.status(bid)["processed"] >= 3, timeout=60,
                   what="the crawl under way")
        r = http("DELETE", f"{pipe.base}/v1/batch/{bid}", None, ACME)
        assert r.status in (200, 202), r.body
        d = pipe.wait_final(bid, timeout=60)
        assert d["status"] == "cancelled"
        fetched = sum(srv.hits.values())
        time.sleep(1.5)
        assert sum(srv.hits.values()) == fetched  # nothing more is fetched
        assert fetched < 30


def test_crawl_extracts_every_page(pipe):
    site = CrawlSite(pages=40, seed=11)
    with site.serve() as srv:
        bid = crawl(pipe, {"url": srv.start_url, "limit": 12, "sitemap": "skip",
                           "formats": ["text"], "extract": {"fields": {"heading": "h1"}}})
        d = pipe.wait_final(bid, timeout=120)
        assert d["status"] == "completed" and d["total"] == 12
        results = all_results(pipe.base, f"/v1/batch/{bid}/results?limit=500")
        ok = [x for x in results if x["status"] == "ok"]
        # The rules ran on each page the frontier asked for, not only the
        # start page; the links still came back (12 pages were reached).
        assert len([x for x in ok if x["depth"] > 0]) >= 5, results
        for x in ok:
            page = site.page_of(x["final_url"] or x["input"])
            assert x["data"]["extract"] == {"heading": page}, x
            assert x["data"]["text"]


def test_crawl_delay_spaces_requests(pipe):
    site = CrawlSite(pages=20, seed=8, crawl_delay=0.3)
    with site.serve() as srv:
        bid = crawl(pipe, {"url": srv.start_url, "limit": 8, "sitemap": "skip"})
        d = pipe.wait_final(bid, timeout=120)
        assert d["total"] == 8
        # Crawl-delay is per host (robots.txt's scope): www.localhost is one.
        gaps = []
        for host in {h for h, _, _ in srv.page_times}:
            times = sorted(t for h, _, t in srv.page_times if h == host)
            gaps += [b - a for a, b in zip(times, times[1:])]
        assert gaps and min(gaps) >= 0.29, gaps


BAD_OPTIONS = [
    ({}, "url"),
    ({"url": "ftp://x.example/"}, "url"),
    ({"url": "http://x.example/", "limit": 0}, "limit"),
    ({"url": "http://x.example/", "max_depth": -1}, "max_depth"),
    ({"url": "http://x.example/", "max_depth": 1e300}, "max_depth"),  # no long long holds it
    ({"url": "http://x.example/", "sitemap": "maybe"}, "sitemap"),
    ({"url": "http://x.example/", "include_paths": ["("]}, "include_paths[0]"),
    ({"url": "http://x.example/", "robots": "yes"}, "robots"),
    ({"url": "http://x.example/", "render": True}, "render"),
]


def test_crawl_refuses_bad_options(start_stage):
    # One ingest answers every case (each one started its own: 2 s apiece).
    p = start_pipeline(start_stage, only=("ingest",))
    for body, field in BAD_OPTIONS:
        r = http("POST", p.base + "/v1/crawl", body, ACME)
        assert r.status in (400, 422), (body, r.body)
        assert r.json()["error"]["details"]["field"] == field, (body, r.body)


def test_retry_of_a_crawl_fetches_its_failed_pages_again(pipe):
    # A retry of a crawl is a plain batch of the pages that failed, with
    # the crawl's options; it finds no new pages.
    site = CrawlSite(pages=60, seed=9)
    with site.serve() as srv:
        bid = crawl(pipe, {"url": srv.start_url, "limit": 5000, "sitemap": "skip",
                           "formats": ["text"]})
        assert pipe.wait_final(bid, timeout=120)["status"] == "completed"
        results = all_results(pipe.base, f"/v1/batch/{bid}/results?limit=500")
        missing = sorted(x["input"] for x in results if x["status"] == "not_found")
        assert missing
        r = http("POST", f"{pipe.base}/v1/batch/{bid}/retry", {"status": ["not_found"]}, ACME)
        assert r.status == 202, r.body
        again = r.json()["id"]
        d = pipe.wait_final(again, timeout=120)
        assert d["status"] == "completed" and d["total"] == len(missing)
        assert d["kind"] == "batch" and d["retry_of"] == bid
        redo = all_results(pipe.base, f"/v1/batch/{again}/results?limit=500")
        assert sorted(x["input"] for x in redo) == missing
        assert {x["status"] for x in redo} == {"not_found"}
        assert sum(srv.hits[site.page_of(u)] for u in missing) == 2 * len(missing)
