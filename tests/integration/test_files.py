"""GET /v1/files/{file_id}: screenshots served by ingest from the files topic,
end to end (ingest, render, aggregate, deliver): the URL in a result and in
the webhook answers the PNG at the requested size to the owning tenant and
404 to anyone else, for unknown ids, and after the file expired."""

import json
import re
import time

import pytest

from conftest import http, wait_until
from pipeline import ACME, start_pipeline
from test_render import Site, png_decode

GLOBEX = {"Authorization": "Bearer key-globex"}


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


def file_id(url):
    m = re.fullmatch(r"/v1/files/(fil_[0-9A-Z]{26})", url)
    assert m, url
    return m.group(1)


def test_files_served_to_their_tenant_end_to_end(start_stage, site, receiver):
    p = start_pipeline(start_stage, only=("ingest", "render", "aggregate", "deliver"),
                       FERRY_RENDER_BROWSERS="1", FERRY_RENDER_TABS="2")
    sub = p.submit({"urls": [site.url + "/hello", site.url + "/tall"],
                    "formats": ["screenshot"],
                    "screenshot": {"width": 700, "height": 500, "full_page": True},
                    "webhook_url": receiver.url + "/hook"})
    final = p.wait_final(sub["id"], timeout=120, webhook=True)
    assert final["status"] == "completed" and final["succeeded"] == 2, final

    results = http("GET", f"{p.base}/v1/batch/{sub['id']}/results", headers=ACME).json()
    shots = {r["index"]: r["data"]["screenshot"] for r in results["results"]}
    hook = json.loads(receiver.wait_for(1)[0].body)
    assert {r["index"]: r["data"]["screenshot"] for r in hook["results"]} == shots

    for i, height in ((0, 500), (1, 3000)):  # the tall page whole: a large body
        shot = shots[i]
        r = http("GET", p.base + shot["url"], headers=ACME)
        assert r.status == 200, r.body
        assert r.headers["content-type"] == "image/png"
        assert int(r.headers["content-length"]) == len(r.body) == shot["size_bytes"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["etag"] == f'"{file_id(shot["url"])}"'
        age = int(re.search(r"max-age=(\d+)", r.headers["cache-control"]).group(1))
        assert r.headers["cache-control"].startswith("private") and 0 < age <= 86400
        assert png_decode(r.body) == (700, height) == (shot["width"], shot["height"])

        # Another tenant, no key, or a mangled id: nothing to see.
        other = http("GET", p.base + shot["url"], headers=GLOBEX)
        assert other.status == 404 and other.json()["error"]["code"] == "not_found"
        assert http("GET", p.base + shot["url"]).status == 401

    fresh = file_id(shots[0]["url"])
    unknown = [fresh[:-1] + ("0" if fresh[-1] != "0" else "1"),  # same time, not written
               "fil_01AAAAAAAAAAAAAAAAAAAAAAAA",  # long expired
               "fil_nope", "bat_" + fresh[4:], fresh.lower()]
    for fid in unknown:
        r = http("GET", f"{p.base}/v1/files/{fid}", headers=ACME)
        assert r.status == 404, (fid, r.status, r.body)
        assert r.json()["error"]["code"] == "not_found"
    body = http("GET", p.base + "/metrics").body.decode()
    assert re.search(r'ferry_ingest_requests_total\{route="files",code="200"\} 2\b', body)


def test_files_gone_after_their_retention(start_stage, site):
    """A file answers until its expires_at, then 404, whatever Kafka still
    holds (it deletes whole segments, later)."""
    p = start_pipeline(start_stage, only=("ingest", "render", "aggregate"),
                       FERRY_FILES_RETENTION="8s", FERRY_RENDER_BROWSERS="1",
                       FERRY_RENDER_TABS="1")
    sub = p.submit({"urls": [site.url + "/hello"], "formats": ["screenshot"]})
    p.wait_final(sub["id"], timeout=90)
    res = http("GET", f"{p.base}/v1/batch/{sub['id']}/results", headers=ACME).json()
    shot = res["results"][0]["data"]["screenshot"]
    expires = time.mktime(time.strptime(shot["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")) - \
        time.timezone
    first = http("GET", p.base + shot["url"], headers=ACME)
    assert first.status == 200 and png_decode(first.body) == (1280, 800)
    wait_until(lambda: http("GET", p.base + shot["url"], headers=ACME).status == 404, 30,
               interval=0.25, what="the file to expire")
    assert time.time() >= expires - 1  # not before its expires_at
