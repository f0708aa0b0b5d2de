"""A batch's throughput over time (GET /v1/batch/{id}/throughput, the
dashboard's chart): every item once, ok and failed apart, in buckets of
the time its result was written, against the pipeline on a real broker."""

from datetime import datetime

from conftest import http
from pipeline import ACME, Site, start_pipeline

GLOBEX = {"Authorization": "Bearer key-globex"}


def cache_count(base, outcome):
    body = http("GET", base + "/metrics").body.decode()
    series = f'ferry_ingest_throughput_cache_total{{outcome="{outcome}"}} '
    return sum(int(float(line.split()[-1])) for line in body.splitlines()
               if line.startswith(series))


def ts(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_throughput_buckets_the_results_by_completion_time(start_stage):
    p = start_pipeline(start_stage)
    with Site(slow_s=3) as site:
        # Four fast pages and a 404 now, two slow pages about 3 s later.
        urls = [f"{site.url}/p{i}" for i in range(4)] + [site.url + "/gone"] + [
            f"{site.url}/slow{i}" for i in range(2)]
        bid = p.submit({"urls": urls, "formats": ["text"]})["id"]
        # A batch with no result yet (its page hangs): an empty series.
        hung = p.submit({"urls": [site.url + "/hang"]}, GLOBEX)["id"]
        e = http("GET", f"{p.base}/v1/batch/{hung}/throughput", headers=GLOBEX).json()
        assert e["items"] == 0 and e["buckets"] == [] and e["from"] is None
        d = p.wait_final(bid)
    assert d["processed"] == 7 and d["failed"] == 1
    # A running batch's answer is read every time, never cached.
    assert cache_count(p.base, "hit") == 0 and cache_count(p.base, "miss") == 0
    r = http("GET", f"{p.base}/v1/batch/{bid}/throughput?buckets=60", headers=ACME)
    assert r.status == 200, r.body
    # A finished batch's is read once, then served from the cache: the same
    # answer, per bucket count.
    assert cache_count(p.base, "miss") == 1 and cache_count(p.base, "hit") == 0
    again = http("GET", f"{p.base}/v1/batch/{bid}/throughput?buckets=60", headers=ACME)
    assert again.status == 200 and again.json() == r.json()
    assert cache_count(p.base, "miss") == 1 and cache_count(p.base, "hit") == 1
    t = r.json()
    b = t["buckets"]
    assert t["items"] == 7 and t["bucket_ms"] == 1000  # a ~3 s span in 60 columns: 1 s each
    assert sum(x["ok"] for x in b) == 6 and sum(x["failed"] for x in b) == 1
    # Contiguous from `from` to `to`, a bucket's width apart, empty ones kept.
    assert ts(b[0]["at"]) == ts(t["from"]) and ts(t["to"]) == ts(b[-1]["at"]) + 1
    assert all(ts(y["at"]) - ts(x["at"]) == 1 for x, y in zip(b, b[1:]))
    assert b[0]["ok"] + b[0]["failed"] >= 1 and b[-1]["ok"] >= 1
    # The slow pages came at least 2 s after the first result.
    assert len(b) >= 3
    assert max(x["ok"] + x["failed"] for x in b) == t["peak_per_s"]  # 1 s buckets: per second
    # One column: all seven in one bucket wider than the span.
    one = http("GET", f"{p.base}/v1/batch/{bid}/throughput?buckets=1", headers=ACME).json()
    assert len(one["buckets"]) == 1 and one["buckets"][0] == {
        "at": one["from"], "ok": 6, "failed": 1} and one["bucket_ms"] >= 5000
    assert cache_count(p.base, "miss") == 2  # another bucket count: read, not the 60's answer
    assert http("GET", f"{p.base}/v1/batch/{bid}/throughput?buckets=1", headers=ACME).json() == one
    assert cache_count(p.base, "hit") == 2
    # Another tenant's: 404, cached or not.
    assert http("GET", f"{p.base}/v1/batch/{bid}/throughput", headers=GLOBEX).status == 404
    assert http("GET", f"{p.base}/v1/batch/{bid}/throughput?buckets=1",
                headers=GLOBEX).status == 404
    for bad in ("0", "501", "x"):
        r = http("GET", f"{p.base}/v1/batch/{bid}/throughput?buckets={bad}", headers=ACME)
        assert r.status == 422 and r.json()["error"]["details"]["field"] == "buckets", bad
