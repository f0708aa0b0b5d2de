"""The tenant's webhook settings and secret rotation (DESIGN.md, "Tenant
webhook settings and secret rotation"), against real stages: the settings
API, the default webhook of batches without webhook_url, which secret signs
what, both signatures during an overlap and only the new one after it, and a
task parked in a retry tier across a rotation. Deliveries are checked as
receivers check them: the seeds' Python snippet taking each space-separated
value, and the Standard Webhooks library (receiver_check.py)."""

import json
import time
from datetime import datetime

import jsonschema

from conftest import ROOT, http, kafka_consume, wait_until
from pipeline import ACME, Site, start_pipeline
from test_ingest import GLOBEX, error_of, start_ingest
from receiver_check import seed_verify, standard_verify, verifies


TENANTS_SCHEMA = json.loads((ROOT / "schemas" / "tenants.schema.json").read_text())
BATCHES_SCHEMA = json.loads((ROOT / "schemas" / "batches.schema.json").read_text())
WEBHOOKS_SCHEMA = json.loads((ROOT / "schemas" / "webhooks.schema.json").read_text())


def put(base, body, headers=ACME):
    return http("PUT", base + "/v1/webhook", body, headers)


def rotate(base, body=None, headers=ACME):
    r = http("POST", base + "/v1/webhook/secret", body if body is not None else {}, headers)
    assert r.status == 200, r.body
    return r.json()


def epoch(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_webhook_settings_api(start_stage, ferry_env):
    st, api = start_ingest(start_stage)
    base = api.base
    empty = {"url": None, "events": None, "secret_set": False, "secret_created_at": None,
             "previous_valid_until": None}
    assert api.get("/v1/webhook").json() == empty
    assert api.get("/v1/webhook", headers={}).status == 401

    error_of(put(base, {"url": "ftp://hooks.example/x"}), 422, "invalid_field", "url")
    error_of(put(base, {"url": "http://127.0.0.1:9/h", "events": ["batch.done"]}), 422,
             "invalid_field", "events[0]")
    error_of(put(base, {"events": ["batch.completed"]}), 422, "invalid_field", "url")
    error_of(put(base, {"url": "http://127.0.0.1:9/h", "color": 1}), 422, "invalid_field", "color")
    error_of(put(base, b"{not json"), 400, "invalid_json")

    r = put(base, {"url": "http://127.0.0.1:9/h", "events": ["batch.completed", "item.completed"]})
    assert r.status == 200, r.body
    assert r.json() == dict(empty, url="http://127.0.0.1:9/h",
                            events=["batch.completed", "item.completed"])
    assert api.get("/v1/webhook").json() == r.json()
    assert api.get("/v1/webhook", headers=GLOBEX).json() == empty  # tenants are apart

    for bad in ("10x", "8d", "3600", "-1s", 5):
        error_of(http("POST", base + "/v1/webhook/secret", {"overlap": bad}, ACME), 422,
                 "invalid_field", "overlap")
    first = rotate(base)
    assert first["secret"].startswith("whsec_") and first["previous_valid_until"] is None
    got = api.get("/v1/webhook").json()
    assert got["secret_set"] is True and got["secret_created_at"] == first["secret_created_at"]
    assert got["previous_valid_until"] is None

    t0 = time.time()
    second = rotate(base, {"overlap": "1h"})
    assert second["secret"] != first["secret"]
    assert abs(epoch(second["previous_valid_until"]) - (t0 + 3600)) < 60
    assert api.get("/v1/webhook").json()["previous_valid_until"] == second["previous_valid_until"]

    r = http("DELETE", base + "/v1/webhook/secret/previous", headers=ACME)
    assert r.status == 200 and r.json()["previous_valid_until"] is None, r.body
    assert r.json()["secret_set"] is True

    r = put(base, {"url": None})  # no default webhook any more; the secret stays
    assert r.status == 200 and r.json()["url"] is None and r.json()["secret_set"] is True

    # The topic holds the secrets sealed only, and is what a restarted ingest reads.
    msgs = kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "tenants")
    assert msgs and all(m.key == "acme" for m in msgs)
    for m in msgs:
        assert first["secret"].encode() not in m.value and second["secret"].encode() not in m.value
        doc = m.json()
        jsonschema.validate(doc, TENANTS_SCHEMA)
        assert doc["secret"] is None or doc["secret"]["enc"].startswith("v1.")
    before = api.get("/v1/webhook").json()
    st.stop()
    st.start()

    def back():
        try:
            return api.get("/healthz", headers={}).status == 200
        except OSError:
            return False

    wait_until(back, timeout=60, what="ingest back")
    assert api.get("/v1/webhook").json() == before


def deliveries(receiver, batch_id):
    return [r for r in receiver.requests
            if r.headers.get("x-ferry-batch-id") == batch_id
            and r.headers.get("x-ferry-event") == "batch.completed"]


def delivered(receiver, batch_id, n=1, timeout=90):
    return wait_until(lambda: (lambda d: d if len(d) >= n else None)(deliveries(receiver, batch_id)),
                      timeout=timeout, what=f"{n} deliveries of {batch_id}")


def test_rotation_signs_with_both_secrets_during_the_overlap(start_stage, ferry_env, receiver):
    p = start_pipeline(start_stage)
    with Site() as site:
        assert put(p.base, {"url": receiver.url + "/default"}).status == 200
        s1 = rotate(p.base)["secret"]

        # No webhook_url: the tenant's default webhook, signed with its secret.
        a = p.submit({"urls": [site.url + "/p1"]})
        assert "webhook_signature_secret" not in a
        assert p.status(a["id"])["webhook"]["url"] == receiver.url + "/default"
        [req] = delivered(receiver, a["id"])
        assert req.path == "/default"
        assert verifies(s1, req)
        assert " " not in req.headers["x-ferry-signature"]  # one secret, one value

        # Rotated with an overlap: receivers holding either secret verify.
        r = rotate(p.base, {"overlap": "6s"})
        s2, until = r["secret"], epoch(r["previous_valid_until"])
        b = p.submit({"urls": [site.url + "/p2"]})
        [req] = delivered(receiver, b["id"])
        assert time.time() < until, "the overlap ended before the delivery; raise it"
        assert len(req.headers["x-ferry-signature"].split(" ")) == 2
        assert len(req.headers["webhook-signature"].split(" ")) == 2
        assert seed_verify(s1, req) and seed_verify(s2, req)
        assert standard_verify(s1, [req]) == [True] and standard_verify(s2, [req]) == [True]

        # After the overlap only the new secret signs.
        wait_until(lambda: time.time() > until + 0.5, timeout=30, what="the overlap's end")
        c = p.submit({"urls": [site.url + "/p3"]})
        [req] = delivered(receiver, c["id"])
        assert verifies(s2, req)
        assert not seed_verify(s1, req) and standard_verify(s1, [req]) == [False]

        # Ending the overlap early does the same at once.
        s3 = rotate(p.base, {"overlap": "1h"})["secret"]
        assert http("DELETE", p.base + "/v1/webhook/secret/previous", headers=ACME).status == 200
        d = p.submit({"urls": [site.url + "/p4"]})
        [req] = delivered(receiver, d["id"])
        assert verifies(s3, req) and not seed_verify(s2, req)

        # A batch's own secret wins; a webhook_url without one takes the tenant's.
        own = "a-secret-of-this-batch-only"
        e = p.submit({"urls": [site.url + "/p5"], "webhook_url": receiver.url + "/own",
                      "webhook_secret": own})
        f = p.submit({"urls": [site.url + "/p6"], "webhook_url": receiver.url + "/other"})
        assert "webhook_signature_secret" not in f
        [req_e] = delivered(receiver, e["id"])
        [req_f] = delivered(receiver, f["id"])
        assert verifies(own, req_e) and not seed_verify(s3, req_e)
        assert req_f.path == "/other" and verifies(s3, req_f)

        # The tasks say which secret signs them, and carry none of the tenant's.
        tasks = [m.json() for m in kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "webhooks")]
        for t in tasks:
            jsonschema.validate(t, WEBHOOKS_SCHEMA)
        by_batch = {t["batch_id"]: t for t in tasks}
        assert by_batch[a["id"]]["tenant_secret"] is True
        assert by_batch[a["id"]]["secret_enc"] is None
        assert "tenant_secret" not in by_batch[e["id"]]

        # Another tenant without settings: no default webhook, generated secrets as before.
        g = http("POST", p.base + "/v1/batch", {"urls": [site.url + "/p7"]}, GLOBEX).json()
        assert http("GET", f"{p.base}/v1/batch/{g['id']}", headers=GLOBEX).json()["webhook"] is None
        h = http("POST", p.base + "/v1/batch", {"urls": [site.url + "/p8"],
                                               "webhook_url": receiver.url + "/g"}, GLOBEX).json()
        [req_h] = delivered(receiver, h["id"])
        assert verifies(h["webhook_signature_secret"], req_h)


def test_task_parked_in_a_retry_tier_is_signed_with_the_new_secret(start_stage, receiver):
    p = start_pipeline(start_stage, FERRY_WEBHOOK_RETRY_TIERS="5s,5s")
    receiver.plan = [500]  # the first attempt fails: the task waits 5 s in the first tier
    with Site() as site:
        assert put(p.base, {"url": receiver.url + "/hook"}).status == 200
        s1 = rotate(p.base)["secret"]
        a = p.submit({"urls": [site.url + "/p1"]})
        [first] = delivered(receiver, a["id"])
        assert verifies(s1, first)
        parked_at = time.time()

        # Rotated while the task waits, without overlap: from now on only s2 signs.
        s2 = rotate(p.base, {"overlap": "0s"})["secret"]
        assert time.time() - parked_at < 4, "the rotation took longer than the tier"
        second = delivered(receiver, a["id"], n=2, timeout=60)[1]
        assert second.headers["x-ferry-delivery"] == first.headers["x-ferry-delivery"]
        assert second.body == first.body
        assert verifies(s2, second)
        assert not seed_verify(s1, second) and standard_verify(s1, [second]) == [False]
        d = p.wait_final(a["id"], webhook=True)
        assert d["webhook"]["attempts"] == 2


def test_a_batch_record_says_tenant_secret_instead_of_carrying_one(start_stage, ferry_env):
    st, api = start_ingest(start_stage)
    rotate(api.base)
    a = api.submit({"urls": ["https://example.com/a"], "webhook_url": "http://127.0.0.1:9/h"})
    recs = [m.json() for m in kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "batches", 1)]
    [rec] = [r for r in recs if r["id"] == a["id"]]
    jsonschema.validate(rec, BATCHES_SCHEMA)
    assert rec["webhook"]["tenant_secret"] is True and rec["webhook"]["secret_enc"] is None
    assert json.dumps(rec).find("whsec_") < 0
