"""Extraction through the real pipeline (issue 12): an `endpoint` batch
whose items are a profile's parameters returns the profile's data with the
item echoed as `input`; a captcha page is the `captcha` status (retried,
then final, never charged); a 404 is `not_found`; a user's `extract` rules
give `data.extract` beside the formats, evaluated by scrape on pages served
locally from the extraction fixtures."""

import pytest

from conftest import ROOT, http
from pipeline import ACME, serve, start_pipeline

FIXTURES = ROOT / "tests" / "fixtures" / "extract"


@pytest.fixture
def shop():
    """/dp/<asin>: the US product page; /captcha/...: Amazon's bot check;
    /plain: a small page; anything else 404. `shop.seen` records each
    request's path and Accept-Language. /flaky/<path> answers 404 until
    `shop.state["fixed"]` is set, then as <path>."""
    seen = []
    state = {"fixed": False}

    def answer(path, headers):
        seen.append((path, headers.get("Accept-Language")))
        if path.startswith("/flaky/"):
            if not state["fixed"]:
                return 404, b"<html><body>not yet</body></html>"
            path = path[len("/flaky"):]
        if path.startswith("/dp/"):
            return 200, (FIXTURES / "amazon_product_us.html").read_bytes()
        if path.startswith("/captcha/"):
            return 200, (FIXTURES / "amazon_captcha.html").read_bytes()
        if path == "/plain":
            return 200, (b"<html><head><title>Plain</title></head><body><h1> Desk lamp </h1>"
                         b"<p class=price>1.299,00 \xe2\x82\xac</p>"
                         b"<a href=/a>a</a><a href=/b>b</a></body></html>")
        return 404, b"<html><body>no such page</body></html>"

    with serve(answer) as url:
        yield type("Shop", (), {"url": url, "seen": seen, "state": state})


def results(p, bid):
    doc = http("GET", f"{p.base}/v1/batch/{bid}/results?limit=100", headers=ACME).json()
    return {r["index"]: r for r in doc["results"]}


def test_endpoint_and_extract_end_to_end(start_stage, shop):
    p = start_pipeline(start_stage)

    # An endpoint batch: items are the profile's parameters (url: a mirror).
    items = [
        {"query": "B09VPHVT2Z", "domain": "com", "language": "es_US",
         "url": f"{shop.url}/dp/B09VPHVT2Z"},
        {"query": "B000000002", "url": f"{shop.url}/captcha/B000000002"},
        {"query": "B000000003", "url": f"{shop.url}/gone/B000000003"},
    ]
    bid = p.submit({"endpoint": "amazon.product", "items": items})["id"]
    final = p.wait_final(bid)
    assert final["status"] == "completed", final
    assert final["succeeded"] == 1 and final["failed"] == 2
    assert final["errors"] == {"captcha": 1, "not_found": 1}
    assert final["credits_charged"] == 1
    got = results(p, bid)
    ok = got[0]
    assert ok["status"] == "ok" and ok["input"] == items[0]
    d = ok["data"]
    assert d["asin"] == "B09VPHVT2Z"
    assert d["title"].startswith("Anker Portable Charger, 737 Power Bank")
    assert d["price"] == {"value": 39.99, "currency": "USD"}
    assert d["rating"] == 4.6 and d["ratings_count"] == 12345
    assert len(d["images"]) == 2 and len(d["features"]) == 3
    assert "html" not in d  # an endpoint's data is the profile's fields only
    # The profile's header template reached the site.
    assert ("/dp/B09VPHVT2Z", "es-US") in shop.seen
    cap = got[1]
    assert cap["status"] == "captcha" and cap["data"] is None and cap["credits_charged"] == 0
    assert "captcha" in cap["error"] and cap["attempts"] == 3  # both tiers tried
    assert got[2]["status"] == "not_found" and got[2]["input"] == items[2]

    # A user's rules: data.extract beside the formats asked for.
    spec = {"fields": {"title": "h1",
                       "price": {"selector": ".price", "type": "price"},
                       "links": {"selector": "a", "attr": "href", "type": "url", "all": True},
                       "missing": ".nope"}}
    bid = p.submit({"urls": [f"{shop.url}/plain"], "formats": ["text"], "extract": spec})["id"]
    final = p.wait_final(bid)
    assert final["status"] == "completed" and final["succeeded"] == 1, final
    r = results(p, bid)[0]
    assert r["input"] == f"{shop.url}/plain"
    assert "Desk lamp" in r["data"]["text"]
    assert r["data"]["extract"] == {"title": "Desk lamp",
                                    "price": {"value": 1299, "currency": "EUR"},
                                    "links": [f"{shop.url}/a", f"{shop.url}/b"],
                                    "missing": None}


def test_retry_keeps_the_rules(start_stage, shop):
    """A retried item is extracted as its source was: the new batch carries
    the source's extract rules, and an endpoint batch's items stay the
    profile's parameters."""
    p = start_pipeline(start_stage)
    spec = {"fields": {"title": "h1", "price": {"selector": ".price", "type": "price"}}}
    ex = p.submit({"urls": [f"{shop.url}/plain", f"{shop.url}/flaky/plain"], "extract": spec})
    items = [{"query": "B09VPHVT2Z", "url": f"{shop.url}/dp/B09VPHVT2Z"},
             {"query": "B09VPHVT2Z", "url": f"{shop.url}/flaky/dp/B09VPHVT2Z"}]
    ep = p.submit({"endpoint": "amazon.product", "items": items})
    for bid in (ex["id"], ep["id"]):
        final = p.wait_final(bid)
        assert (final["succeeded"], final["errors"]) == (1, {"not_found": 1}), final
    shop.state["fixed"] = True

    def retried(bid):
        r = http("POST", f"{p.base}/v1/batch/{bid}/retry", None, ACME, timeout=30)
        assert r.status == 202, r.body
        new = r.json()
        assert new["total"] == 1 and new["retry_of"] == bid
        final = p.wait_final(new["id"])
        assert final["status"] == "completed" and final["succeeded"] == 1, final
        return results(p, new["id"])[0]

    r = retried(ex["id"])
    assert r["status"] == "ok" and r["input"] == f"{shop.url}/flaky/plain"
    assert r["data"]["extract"] == {"title": "Desk lamp",
                                    "price": {"value": 1299, "currency": "EUR"}}
    r = retried(ep["id"])
    assert r["status"] == "ok" and r["input"] == items[1]
    assert r["data"]["asin"] == "B09VPHVT2Z" and r["data"]["price"]["value"] == 39.99


def test_rules_are_checked_at_submit(start_stage):
    p = start_pipeline(start_stage, only=("ingest",))

    def refused(body):
        r = http("POST", p.base + "/v1/batch", body, ACME)
        assert r.status == 422, r.body
        return r.json()["error"]["details"]

    d = refused({"urls": ["https://a.example/"],
                 "extract": {"fields": {"price": {"selector": ".p[", "type": "price"}}}})
    assert d["field"] == "extract.fields.price.selector"
    assert refused({"endpoint": "no.such", "items": [{"query": "x"}]})["field"] == "endpoint"
    d = refused({"endpoint": "amazon.product", "items": [{"domain": "com"}]})
    assert d["field"] == "items[0].query" and d["index"] == 0
    d = refused({"endpoint": "amazon.product", "items": [{"query": "B09VPHVT2Z", "domain": "xx"}]})
    assert d["field"] == "items[0].domain"
    assert refused({"endpoint": "amazon.product",
                    "urls": ["https://a.example/"]})["field"] == "urls"
