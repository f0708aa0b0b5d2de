"""Dead webhook deliveries across a tenant's batches: GET
/v1/deliveries/dead (paged, newest first, tenant-isolated) and POST
/v1/deliveries/{delivery_id}/redeliver, against ingest, aggregate and
deliver on a real broker. A receiver answering 410 Gone makes a delivery
dead at its first attempt (no tier waited on)."""

from conftest import http, wait_until
from pipeline import ACME, start_pipeline

GLOBEX = {"Authorization": "Bearer key-globex"}


def dead(p, headers=ACME, query=""):
    r = http("GET", p.base + "/v1/deliveries/dead" + query, headers=headers)
    assert r.status == 200, r.body
    return r.json()


def test_dead_deliveries_across_batches(start_stage, receiver):
    p = start_pipeline(start_stage, only=("ingest", "aggregate", "deliver"))
    receiver.default = 410  # gone: dead at once
    hook = receiver.url + "/gone"
    ids = []
    # No scrape runs: each batch stays queued until cancelled, which ends it
    # with a batch.cancelled webhook.
    for i in range(3):
        bid = p.submit({"urls": [f"https://a.example/{i}"], "webhook_url": hook})["id"]
        assert http("DELETE", f"{p.base}/v1/batch/{bid}", headers=ACME).status == 202
        ids.append(bid)
        # one at a time, so their dead attempts are in a known order
        wait_until(lambda: dead(p)["total"] == i + 1, timeout=60, what=f"{i + 1} dead")
    other = p.submit({"urls": ["https://a.example/g"], "webhook_url": hook}, GLOBEX)["id"]
    assert http("DELETE", f"{p.base}/v1/batch/{other}", headers=GLOBEX).status == 202
    wait_until(lambda: dead(p, GLOBEX)["total"] == 1, timeout=60, what="globex's dead delivery")

    # Newest first, two pages of two and one; each entry is the dead attempt.
    first = dead(p, query="?limit=2")
    assert first["total"] == 3 and len(first["dead"]) == 2 and first["next"]
    second = http("GET", p.base + first["next"], headers=ACME).json()
    assert len(second["dead"]) == 1 and second["next"] is None
    entries = first["dead"] + second["dead"]
    assert [e["batch_id"] for e in entries] == ids[::-1]
    for e in entries:
        assert e["outcome"] == "dead" and e["status_code"] == 410 and e["url"] == hook
        assert e["event"] == "batch.cancelled" and "tenant" not in e
    # Another tenant sees only its own, and cannot send acme's again.
    g = dead(p, GLOBEX)["dead"]
    assert [e["batch_id"] for e in g] == [other]
    victim = entries[0]["delivery_id"]
    r = http("POST", f"{p.base}/v1/deliveries/{victim}/redeliver", headers=GLOBEX)
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"

    # The receiver is back: replay the newest; it is delivered, same
    # delivery id, and leaves the dead list.
    receiver.default = 200
    seen = len(receiver.requests)
    r = http("POST", f"{p.base}/v1/deliveries/{victim}/redeliver", headers=ACME)
    assert r.status == 202, r.body
    assert r.json() == {"id": ids[2], "delivery_id": victim, "event": "batch.cancelled",
                        "status": "queued"}
    got = receiver.wait_for(seen + 1)[seen]
    assert got.headers["x-ferry-delivery"] == victim and ids[2] in got.body.decode()
    wait_until(lambda: dead(p)["total"] == 2, timeout=30, what="the replayed one off the list")
    assert [e["batch_id"] for e in dead(p)["dead"]] == ids[1::-1]
    atts = http("GET", f"{p.base}/v1/batch/{ids[2]}/deliveries", headers=ACME).json()
    assert [a["outcome"] for a in atts["deliveries"]] == ["dead", "delivered"]
    # Once delivered it is no longer a dead delivery to send again.
    r = http("POST", f"{p.base}/v1/deliveries/{victim}/redeliver", headers=ACME)
    assert r.status == 404

    # Bad input is a clear JSON error.
    for q in ("?limit=0", "?limit=101", "?cursor=made-up", "?cursor=1.bat_x"):
        r = http("GET", p.base + "/v1/deliveries/dead" + q, headers=ACME)
        assert r.status == 422 and r.json()["error"]["code"] == "invalid_field", q
    assert http("POST", f"{p.base}/v1/deliveries/not-an-id/redeliver", headers=ACME).status == 404
    assert http("GET", p.base + "/v1/deliveries/dead").status == 401
