"""What a webhook attempt POSTed: GET
/v1/batch/{id}/deliveries/{delivery_id}/request gives each attempt's body
(read back from the webhook task the attempt names) and headers, checked
byte for byte against what the receiver got, against ingest, aggregate and
deliver on a real broker."""

from conftest import http, wait_until
from pipeline import ACME, start_pipeline

GLOBEX = {"Authorization": "Bearer key-globex"}
SIGNATURES = {"x-ferry-signature", "webhook-signature"}


def test_each_attempts_request_is_what_the_receiver_got(start_stage, receiver):
    p = start_pipeline(start_stage, only=("ingest", "aggregate", "deliver"))
    receiver.plan = [500]  # the first attempt fails; the retry (1 s tier) is delivered
    bid = p.submit({"urls": ["https://a.example/1"], "webhook_url": receiver.url + "/h",
                    "metadata": {"note": "caf\u00e9 \u2713"}})["id"]
    assert http("DELETE", f"{p.base}/v1/batch/{bid}", headers=ACME).status == 202
    got = receiver.wait_for(2, timeout=60)

    def attempts():
        d = http("GET", f"{p.base}/v1/batch/{bid}/deliveries", headers=ACME).json()
        return d["deliveries"] if len(d["deliveries"]) >= 2 else None

    atts = wait_until(attempts, timeout=30, what="both attempts recorded")
    assert [a["outcome"] for a in atts] == ["retrying", "delivered"]
    dlv = atts[0]["delivery_id"]
    path = f"{p.base}/v1/batch/{bid}/deliveries/{dlv}/request"
    for n, sent in ((1, got[0]), (2, got[1])):
        r = http("GET", f"{path}?attempt={n}", headers=ACME)
        assert r.status == 200, r.body
        d = r.json()
        assert d["attempt"] == n and d["method"] == "POST" and d["url"] == receiver.url + "/h"
        assert d["event"] == "batch.cancelled" and d["delivery_id"] == dlv
        # The exact bytes, and every header but the two signatures.
        assert d["body"].encode() == sent.body and d["body_bytes"] == len(sent.body)
        assert sorted(h.lower() for h in d["omitted_headers"]) == sorted(SIGNATURES)
        for name, value in d["headers"].items():
            assert sent.headers[name.lower()] == value, name
        assert set(sent.headers) - {k.lower() for k in d["headers"]} - SIGNATURES <= {
            "host", "accept", "content-length"}
        assert d["task"]["topic"].endswith("webhooks")
    # Without ?attempt: the newest attempt of that delivery.
    assert http("GET", path, headers=ACME).json()["attempt"] == 2
    # Another tenant's batch, an unknown delivery or attempt: 404; a bad number: 422.
    assert http("GET", path, headers=GLOBEX).status == 404
    r = http("GET", f"{p.base}/v1/batch/{bid}/deliveries/dlv_{'0' * 32}/request", headers=ACME)
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    assert http("GET", f"{path}?attempt=9", headers=ACME).status == 404
    for bad in ("0", "x", "-1"):
        r = http("GET", f"{path}?attempt={bad}", headers=ACME)
        assert r.status == 422 and r.json()["error"]["details"]["field"] == "attempt", bad
