"""Submits that users of a batch service expect to be forgiving (DESIGN.md,
"Submit (additions)", "Status document and results"), against real stages:
Idempotency-Key (the same key twice, across an ingest restart, across two
ingest instances at the same moment: one batch), ignore_invalid_urls,
retrying a batch's failed items, and listing a tenant's batches."""

import json
import threading

import jsonschema

from conftest import ROOT, free_port, http, kafka_consume, wait_until
from pipeline import ACME, Site, start_pipeline
from test_ingest import GLOBEX, error_of, start_ingest
from receiver_check import verifies


IDEMPOTENCY_SCHEMA = json.loads((ROOT / "schemas" / "idempotency.schema.json").read_text())
BATCHES_SCHEMA = json.loads((ROOT / "schemas" / "batches.schema.json").read_text())


def post(base, body, key=None, headers=ACME, path="/v1/batch"):
    h = dict(headers)
    if key is not None:
        h["Idempotency-Key"] = key
    return http("POST", base + path, body, h, timeout=30)


def healthy(base):
    def up():
        try:
            return http("GET", base + "/healthz", timeout=2).status == 200
        except OSError:
            return False

    wait_until(up, timeout=60, what=f"{base}/healthz")


def test_idempotency_key(start_stage, ferry_env, receiver):
    p = start_pipeline(start_stage)
    with Site() as site:
        body = {"urls": [site.url + "/p1", site.url + "/p2"], "webhook_url": receiver.url}
        r1 = post(p.base, body, "order-1")
        assert r1.status == 202, r1.body
        assert "idempotent-replayed" not in r1.headers
        first = r1.json()
        assert first["webhook_signature_secret"].startswith("whsec_")

        r2 = post(p.base, body, "order-1")
        assert r2.status == 202 and r2.headers["idempotent-replayed"] == "true"
        assert r2.json() == first  # the original answer, its generated secret too
        assert r2.headers["location"] == f"/v1/batch/{first['id']}"

        e = error_of(post(p.base, dict(body, urls=[site.url + "/p3"]), "order-1"), 422,
                     "idempotency_key_reused", "Idempotency-Key")
        assert e["details"]["batch_id"] == first["id"]
        # Keys are per tenant.
        other = post(p.base, body, "order-1", headers=GLOBEX)
        assert other.status == 202 and other.json()["id"] != first["id"]
        error_of(post(p.base, body, "x" * 256), 422, "invalid_field", "Idempotency-Key")
        error_of(post(p.base, body, "caf\u00e9".encode().decode("latin-1")), 422,
                 "invalid_field", "Idempotency-Key")

        # Across a restart: read back from Kafka.
        ingest = p.stages["ingest"]
        ingest.stop()
        ingest.start()
        healthy(p.base)
        r3 = post(p.base, body, "order-1")
        assert r3.status == 202 and r3.headers["idempotent-replayed"] == "true"
        assert r3.json() == first

        # Two instances, the same keys at the same moment: one batch per key.
        port2 = free_port()
        start_stage("ingest", FERRY_LISTEN=f"127.0.0.1:{port2}")
        base2 = f"http://127.0.0.1:{port2}"
        healthy(base2)
        answers = {}
        keys = [f"race-{i}" for i in range(6)]
        for key in keys:
            gate = threading.Barrier(2)
            got = []

            def send(base, key=key, gate=gate, got=got):
                gate.wait()
                got.append(post(base, dict(body, metadata={"key": key}), key))

            ts = [threading.Thread(target=send, args=(b,)) for b in (p.base, base2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert [r.status for r in got] == [202, 202], [r.body for r in got]
            a, b = (r.json() for r in got)
            assert a["id"] == b["id"], (a, b)
            assert a["webhook_signature_secret"] == b["webhook_signature_secret"]
            answers[key] = a
        for key, a in answers.items():
            d = p.wait_final(a["id"], webhook=True)
            assert (d["status"], d["total"], d["processed"]) == ("completed", 2, 2)
            assert d["metadata"] == {"key": key}
            # Each item counted once, one webhook, signed with the one secret.
            hooks = [r for r in receiver.requests if r.headers.get("x-ferry-batch-id") == a["id"]
                     and r.headers.get("x-ferry-event") == "batch.completed"]
            assert len(hooks) == 1 and verifies(a["webhook_signature_secret"], hooks[0])
        keyed = [m.json() for m in kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "idempotency")]
        for rec in keyed:
            jsonschema.validate(rec, IDEMPOTENCY_SCHEMA)
        assert {r["key"] for r in keyed if r["tenant"] == "acme"} == {"order-1", *keys}
        for base in (p.base, base2):
            listed = http("GET", base + "/v1/batches?limit=100", headers=ACME).json()["batches"]
            ids = [d["id"] for d in listed]
            assert len(ids) == len(set(ids)) == len(keys) + 1, ids
            # Both instances know every key by now: the replay is the same everywhere.
            for key, a in answers.items():
                r = post(base, dict(body, metadata={"key": key}), key)
                assert r.status == 202 and r.json()["id"] == a["id"]


def test_ignore_invalid_urls(start_stage, ferry_env):
    st, api = start_ingest(start_stage)
    body = {"urls": ["https://ok.example/a", "not a url", "ftp://files.example/x",
                     "https://ok.example/b"],
            "items": [{"url": "https://ok.example/c", "headers": {"X-A": "1"}},
                      {"url": "https://user:pw@ok.example/d"}, {"headers": {}}, {"url": 7}]}
    error_of(api.post("/v1/batch", body), 422, "invalid_field", "urls[1]", 1)
    error_of(api.post("/v1/batch", dict(body, ignore_invalid_urls=False)), 422, "invalid_field",
             "urls[1]", 1)
    error_of(api.post("/v1/batch", dict(body, ignore_invalid_urls="yes")), 422, "invalid_field",
             "ignore_invalid_urls")

    r = api.post("/v1/batch", dict(body, ignore_invalid_urls=True))
    assert r.status == 202, r.body
    a = r.json()
    assert a["total"] == 3
    assert [(x["index"], x["url"], x["code"]) for x in a["invalid_urls"]] == [
        (1, "not a url", "invalid_url"), (2, "ftp://files.example/x", "invalid_url"),
        (5, "https://user:pw@ok.example/d", "invalid_url"), (6, None, "invalid_url"),
        (7, None, "invalid_url")]
    assert all(x["message"] for x in a["invalid_urls"])
    assert api.get(f"/v1/batch/{a['id']}").json()["total"] == 3
    reqs = [m.json() for m in kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "scrape.requests", 3)
            if m.key == a["id"]]
    assert sorted((q["index"], q["url"], q["headers"]) for q in reqs) == [
        (0, "https://ok.example/a", {}), (1, "https://ok.example/b", {}),
        (2, "https://ok.example/c", {"X-A": "1"})]

    none = {"urls": ["nope", "ftp://x.example/"], "ignore_invalid_urls": True}
    error_of(api.post("/v1/batch", none), 422, "invalid_field", "urls")
    ok = api.submit({"urls": ["https://ok.example/a"], "ignore_invalid_urls": True})
    assert ok["invalid_urls"] == [] and ok["total"] == 1
    assert "invalid_urls" not in api.submit({"urls": ["https://ok.example/a"]})


def results(base, bid):
    out, url = [], f"/v1/batch/{bid}/results?limit=1000"
    while url:
        page = http("GET", base + url, headers=ACME).json()
        out += page["results"]
        url = page["next"]
    return out


def test_retry_submits_exactly_the_failed_items(start_stage, ferry_env, receiver):
    p = start_pipeline(start_stage)
    with Site(slow_s=8) as site:
        ok = [f"{site.url}/p{i}" for i in range(7)]
        gone = [f"{site.url}/gone{i}" for i in range(2)]
        body = {"urls": ok[:4] + gone + ok[4:],
                "items": [{"url": f"{site.url}/gone9", "headers": {"X-Test": "kept"}}],
                "formats": ["html", "links"], "options": {"timeout_ms": 5000},
                "metadata": {"run": 7}, "webhook_url": receiver.url,
                "webhook_secret": "the-source-batch-secret"}
        failing = set(gone + [f"{site.url}/gone9"])  # 3 of 10: 30%
        src = p.submit(body)
        d = p.wait_final(src["id"])
        assert (d["succeeded"], d["failed"], d["errors"]) == (7, 3, {"not_found": 3})
        hook_url = d["webhook"]["url"]

        error_of(post(p.base, {"status": ["bogus"]}, path=f"/v1/batch/{src['id']}/retry"), 422,
                 "invalid_field", "status[0]")
        error_of(post(p.base, {"status": ["timeout"]}, path=f"/v1/batch/{src['id']}/retry"), 422,
                 "nothing_to_retry")
        error_of(post(p.base, {}, headers=GLOBEX, path=f"/v1/batch/{src['id']}/retry"), 404,
                 "not_found")

        r = post(p.base, None, path=f"/v1/batch/{src['id']}/retry")
        assert r.status == 202, r.body
        new = r.json()
        assert new["id"] != src["id"] and new["total"] == 3 and new["retry_of"] == src["id"]
        assert "webhook_signature_secret" not in new  # the source's secret signs it
        d = p.wait_final(new["id"], webhook=True)
        assert d["retry_of"] == src["id"] and d["total"] == 3
        assert d["metadata"] == {"run": 7} and d["webhook"]["url"] == hook_url
        got = results(p.base, new["id"])
        assert sorted(x["input"] for x in got) == sorted(failing)
        assert {x["status"] for x in got} == {"not_found"}

        for m in kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "batches"):
            jsonschema.validate(m.json(), BATCHES_SCHEMA)
        # The requests carry the source's options and each item's headers.
        reqs = [m.json() for m in kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "scrape.requests")
                if m.key == new["id"]]
        assert len(reqs) == 3
        for q in reqs:
            assert q["formats"] == ["html", "links"] and q["options"]["timeout_ms"] == 5000
            assert q["headers"] == ({"X-Test": "kept"} if q["url"].endswith("/gone9") else {})
        [hook] = [x for x in receiver.requests if x.headers.get("x-ferry-batch-id") == new["id"]]
        assert verifies("the-source-batch-secret", hook)

        # By status: the same three.
        r = post(p.base, {"status": ["not_found"]}, path=f"/v1/batch/{src['id']}/retry")
        assert r.status == 202 and r.json()["total"] == 3

        # A batch still running cannot be retried yet.
        slow = p.submit({"urls": [site.url + "/slow1"]})
        e = error_of(post(p.base, {}, path=f"/v1/batch/{slow['id']}/retry"), 409, "batch_running")
        assert e["details"]["status"] in ("queued", "running")


def test_list_batches_newest_first(start_stage):
    st, api = start_ingest(start_stage)
    mine = [api.submit({"urls": [f"https://example.com/{i}"], "metadata": {"n": i}})["id"]
            for i in range(7)]
    theirs = [api.submit({"urls": ["https://example.com/g"]}, headers=GLOBEX)["id"]
              for _ in range(2)]

    page = api.get("/v1/batches").json()
    assert [d["id"] for d in page["batches"]] == mine[::-1] and page["next"] is None
    assert all("tenant" not in d for d in page["batches"])
    assert page["batches"][0]["metadata"] == {"n": 6}
    got = api.get("/v1/batches", headers=GLOBEX).json()
    assert [d["id"] for d in got["batches"]] == theirs[::-1]

    seen, url = [], "/v1/batches?limit=3"
    while url:
        page = api.get(url).json()
        assert len(page["batches"]) <= 3
        seen += [d["id"] for d in page["batches"]]
        url = page["next"]
    assert seen == mine[::-1]

    assert len(api.get("/v1/batches?status=queued").json()["batches"]) == 7
    assert api.get("/v1/batches?status=completed").json() == {"batches": [], "next": None}
    assert len(api.get("/v1/batches?kind=batch&limit=2").json()["batches"]) == 2
    assert api.get("/v1/batches?kind=crawl").json()["batches"] == []
    assert api.get("/v1/batches", headers={}).status == 401
    for q, field in (("status=done", "status"), ("kind=job", "kind"), ("limit=0", "limit"),
                     ("limit=101", "limit"), ("cursor=xyz", "cursor")):
        error_of(api.get("/v1/batches?" + q), 422, "invalid_field", field)
