"""ingest: the HTTP API against a real broker. What a user sees (answers,
error bodies) and what lands in the topics (read back with kcat)."""

import json
import socket
import time

import jsonschema
import pytest

from conftest import ROOT, free_port, http, kafka_consume, kafka_produce, wait_until

BATCHES_SCHEMA = json.loads((ROOT / "schemas" / "batches.schema.json").read_text())
REQUESTS_SCHEMA = json.loads((ROOT / "schemas" / "scrape.requests.schema.json").read_text())
STATUS_SCHEMA = json.loads((ROOT / "schemas" / "batch.status.schema.json").read_text())

ACME = {"Authorization": "Bearer key-acme"}
GLOBEX = {"Authorization": "Bearer key-globex"}


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path, headers=ACME):
        return http("GET", self.base + path, headers=headers)

    def post(self, path, body, headers=ACME, timeout=30.0):
        return http("POST", self.base + path, body=body, headers=headers, timeout=timeout)

    def delete(self, path, headers=ACME):
        return http("DELETE", self.base + path, headers=headers)

    def submit(self, body, headers=ACME):
        r = self.post("/v1/batch", body, headers)
        assert r.status == 202, r.body
        return r.json()


def start_ingest(start_stage, **env):
    port = free_port()
    st = start_stage("ingest", FERRY_LISTEN=f"127.0.0.1:{port}", **env)
    api = Api(port)

    def ready():
        if not st.running():
            pytest.fail(f"ingest exited:\n{st.log()[-3000:]}")
        try:
            return api.get("/healthz", headers={}).status == 200
        except OSError:
            return False

    wait_until(ready, timeout=60, what="ingest /healthz 200")
    return st, api


def error_of(r, status, code=None, field=None, index=None):
    assert r.status == status, (r.status, r.body)
    assert r.headers.get("content-type") == "application/json"
    e = r.json()["error"]
    assert set(e) == {"code", "message", "details"} and e["message"]
    if code:
        assert e["code"] == code, e
    if field is not None:
        assert e["details"]["field"] == field, e
    if index is not None:
        assert e["details"]["index"] == index, e
    return e


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's default partitioner)."""
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    n = len(data) // 4
    for i in range(n):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = data[4 * n:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if len(rest) >= 1:
        h ^= rest[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def test_submit_writes_batch_requests_and_status(start_stage, ferry_env):
    _, api = start_ingest(start_stage)
    p = ferry_env["FERRY_TOPIC_PREFIX"]
    body = {
        "urls": ["https://example.com/a", "http://example.org/b?x=1", "https://example.net/c"],
        "items": [{"url": "https://example.com/d", "headers": {"Accept-Language": "es"}}],
        "formats": ["text", "links"],
        "webhook_url": "http://127.0.0.1:9/hook",
        "webhook_secret": "a-long-enough-secret-1234",
        "options": {"timeout_ms": 5000},
        "metadata": {"job": 42},
    }
    r = api.post("/v1/batch", body)
    assert r.status == 202, r.body
    a = r.json()
    bid = a["id"]
    assert bid.startswith("bat_") and a["status"] == "queued" and a["total"] == 4
    assert a["status_url"] == f"/v1/batch/{bid}" and r.headers["location"] == a["status_url"]
    assert "webhook_signature_secret" not in a  # given, so not shown

    # Answers `queued` at once, without the internal tenant.
    st = api.get(f"/v1/batch/{bid}").json()
    assert st["status"] == "queued" and st["total"] == 4 and st["processed"] == 0
    assert "tenant" not in st and st["metadata"] == {"job": 42}
    assert st["webhook"]["url"] == body["webhook_url"] and st["webhook"]["status"] == "pending"

    batches = kafka_consume(p + "batches", 1)
    assert len(batches) == 1
    rec = batches[0].json()
    jsonschema.validate(rec, BATCHES_SCHEMA)
    assert batches[0].key == bid and batches[0].headers["ferry-type"] == "batch"
    assert rec["type"] == "batch" and rec["id"] == bid and rec["tenant"] == "acme"
    assert rec["total"] == 4 and rec["formats"] == ["text", "links"]
    assert rec["options"] == {"timeout_ms": 5000, "max_bytes": 10485760,
                              "follow_redirects": True}
    assert rec["webhook"]["secret_enc"].startswith("v1.")
    assert b"a-long-enough-secret" not in batches[0].value

    reqs = kafka_consume(p + "scrape.requests", 4)
    assert len(reqs) == 4
    base = murmur2(bid.encode()) & 0x7FFFFFFF
    by_index = {}
    for m in reqs:
        v = m.json()
        jsonschema.validate(v, REQUESTS_SCHEMA)
        by_index[v["index"]] = v
        assert m.key == bid and m.headers["ferry-batch"] == bid
        assert m.headers["ferry-index"] == str(v["index"]) and m.headers["ferry-attempt"] == "1"
        assert m.partition == (base + v["index"]) % 2
        assert v["batch_id"] == bid and v["tenant"] == "acme" and v["formats"] == ["text", "links"]
        assert b"secret" not in m.value
    assert [by_index[i]["url"] for i in range(4)] == body["urls"] + ["https://example.com/d"]
    assert by_index[3]["headers"] == {"Accept-Language": "es"}

    status = kafka_consume(p + "batch.status", 1)
    assert len(status) == 1 and status[0].key == bid
    queued = status[0].json()
    jsonschema.validate(queued, STATUS_SCHEMA)  # the queued record keeps its own schema
    assert queued["status"] == "queued" and queued["tenant"] == "acme"
    assert queued["kafka"] is None and "results" not in queued
    assert queued["credits_charged"] == 0 and queued["estimated_completion"] is None

    # No webhook secret given: one is generated and shown once.
    a = api.submit({"urls": ["https://example.com/one"], "webhook_url": "http://127.0.0.1:9/h"})
    assert a["webhook_signature_secret"].startswith("whsec_")
    assert "webhook_signature_secret" not in api.get(f"/v1/batch/{a['id']}").json()

    # A batch of one.
    r = api.post("/v1/scrape/async", {"url": "https://example.com/solo",
                                      "headers": {"X-A": "1"}})
    assert r.status == 202 and r.json()["total"] == 1, r.body
    solo = r.json()["id"]
    reqs = wait_until(lambda: [m for m in kafka_consume(p + "scrape.requests")
                               if m.key == solo], what="the single request")
    assert reqs[0].json()["url"] == "https://example.com/solo"
    assert reqs[0].json()["headers"] == {"X-A": "1"}


def test_error_codes(start_stage):
    _, api = start_ingest(start_stage, FERRY_MAX_ITEMS="5", FERRY_MAX_BODY_BYTES="4k",
                          FERRY_WEBHOOK_ALLOW_HTTP="0")
    ok = {"urls": ["https://example.com/"]}
    error_of(api.post("/v1/batch", ok, headers={}), 401, "unauthorized")
    error_of(api.post("/v1/batch", ok, headers={"Authorization": "Bearer nope-nope-nope"}), 401)
    error_of(api.post("/v1/batch", ok, headers={"Authorization": "key-acme"}), 401)
    error_of(api.get("/v1/batch/bat_01M816TZ7MSG7GBE1TYYCV6RYZ", headers={}), 401)
    error_of(api.post("/v1/batch", '{"urls": ['), 400, "invalid_json")
    error_of(api.post("/v1/batch", "[1,2]"), 400, "invalid_json")
    error_of(api.post("/v1/batch", "x" * 5000), 413, "body_too_large")
    error_of(api.get("/v1/batch/bat_01M816TZ7MSG7GBE1TYYCV6RYZ"), 404, "not_found")
    error_of(api.get("/v1/batch/not-an-id"), 404, "not_found")
    error_of(api.get("/v2/whatever"), 404, "not_found")

    cases = [
        ({}, "urls", None),
        ({"urls": []}, "urls", None),
        ({"urls": "https://example.com"}, "urls", None),
        ({"urls": ["https://a.example", "ftp://b.example"]}, "urls[1]", 1),
        ({"urls": ["https://a.example", "not a url"]}, "urls[1]", 1),
        ({"urls": ["https://"]}, "urls[0]", 0),
        ({"urls": ["https://a.example", 7]}, "urls[1]", 1),
        ({"urls": ["https://a.example"], "items": [{"url": "https://b.example"},
                                                   {"url": "gopher://c"}]}, "items[1].url", 2),
        ({"items": [{"url": "https://b.example", "headers": {"X": 1}}]}, "items[0].headers", 0),
        ({"items": [{"url": "https://b.example", "extra": 1}]}, "items[0].extra", 0),
        ({"urls": ["https://a.example/%d" % i for i in range(6)]}, "urls", None),
        ({"urls": ["https://a.example"], "formats": ["html", "pdf"]}, "formats[1]", None),
        ({"urls": ["https://a.example"], "formats": []}, "formats", None),
        ({"urls": ["https://a.example"], "webhook_url": "http://hooks.example/x"},
         "webhook_url", None),
        ({"urls": ["https://a.example"], "webhook_url": "https://hooks.example/x",
          "webhook_secret": "short"}, "webhook_secret", None),
        ({"urls": ["https://a.example"], "webhook_url": "https://hooks.example/x",
          "webhook_events": ["batch.exploded"]}, "webhook_events[0]", None),
        ({"urls": ["https://a.example"], "webhook_secret": "0123456789abcdef0"},
         "webhook_secret", None),
        ({"urls": ["https://a.example"], "options": {"timeout_ms": 5}}, "options.timeout_ms",
         None),
        ({"urls": ["https://a.example"], "options": {"max_bytes": -1}}, "options.max_bytes",
         None),
        ({"urls": ["https://a.example"], "options": {"follow_redirects": "yes"}},
         "options.follow_redirects", None),
        ({"urls": ["https://a.example"], "options": {"colour": "red"}}, "options.colour", None),
        ({"urls": ["https://a.example"], "metadata": [1]}, "metadata", None),
        ({"urls": ["https://a.example"], "surprise": True}, "surprise", None),
    ]
    for body, field, index in cases:
        e = error_of(api.post("/v1/batch", body), 422, "invalid_field", field, index)
        assert field.split("[")[0].split(".")[0] in e["message"]
    error_of(api.post("/v1/scrape/async", {"urls": ["https://a.example"]}), 422,
             field="urls")
    error_of(api.post("/v1/scrape/async", {"url": "mailto:x@y"}), 422, field="url", index=0)
    # The limits are the configured ones: 5 items pass.
    api.submit({"urls": ["https://a.example/%d" % i for i in range(5)]})


def test_hostile_bodies_get_4xx_and_server_keeps_serving(start_stage):
    # 4 MiB instead of the default 32 MiB: the same refusal, cheaper under ASan.
    st, api = start_ingest(start_stage, FERRY_MAX_BODY_BYTES="4M")
    nested = '{"urls": ["https://a.example"], "metadata": ' + '{"a": ' * 50 + "1" + "}" * 50 + "}"
    error_of(api.post("/v1/batch", nested), 400, "invalid_json")
    error_of(api.post("/v1/batch", '{"urls": ["https://a.exa'), 400, "invalid_json")
    error_of(api.post("/v1/batch", b'{"urls": ["https://a.example/\x00x"]}'), 400,
             "invalid_json")
    error_of(api.post("/v1/batch", '{"urls": ["https://a.example/\\u0000x"]}'), 400,
             "invalid_json")
    error_of(api.post("/v1/batch", {"items": [{"url": "https://a.example/",
                                               "headers": {"X": "a\r\nInjected: 1"}}]}), 422,
             field="items[0].headers", index=0)
    too_many = {"urls": ["https://a.example/%d" % i for i in range(100001)]}
    error_of(api.post("/v1/batch", too_many, timeout=60), 422, "invalid_field", "urls")

    # 100 MB: refused with 413, nothing buffered whole.
    big = b'{"urls": ["https://a.example/' + b"a" * (100 << 20) + b'"]}'
    t0 = time.monotonic()
    error_of(api.post("/v1/batch", big, timeout=120), 413, "body_too_large")
    assert time.monotonic() - t0 < 60
    # The peak stays far below the body (ASan's quarantine keeps freed
    # buffers, so the figure means nothing in that build).
    if "libasan" not in open(f"/proc/{st.proc.pid}/maps").read():
        rss_kb = int(open(f"/proc/{st.proc.pid}/status").read().split("VmHWM:")[1].split()[0])
        assert rss_kb < 80 * 1024, f"peak RSS {rss_kb} kB after a 100 MB body"

    # A client that dies halfway through a body does not hurt anyone.
    s = socket.create_connection(("127.0.0.1", int(api.base.rsplit(":", 1)[1])))
    s.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-acme\r\n"
              b"Content-Length: 1000\r\n\r\n{\"urls\": [")
    s.close()

    assert st.running()
    assert api.get("/healthz", headers={}).status == 200
    a = api.submit({"urls": ["https://a.example/still-here"]})
    assert api.get(f"/v1/batch/{a['id']}").json()["status"] == "queued"


def test_tenant_isolation(start_stage):
    _, api = start_ingest(start_stage)
    bid = api.submit({"urls": ["https://a.example/"], "webhook_url": "http://127.0.0.1:9/h"})["id"]
    assert api.get(f"/v1/batch/{bid}").status == 200
    for method, path in [("GET", ""), ("GET", "/results"), ("GET", "/deliveries"),
                         ("GET", "?include=results")]:
        error_of(http(method, f"{api.base}/v1/batch/{bid}{path}", headers=GLOBEX), 404,
                 "not_found")
    error_of(api.delete(f"/v1/batch/{bid}", headers=GLOBEX), 404, "not_found")
    error_of(api.post(f"/v1/batch/{bid}/redeliver", None, headers=GLOBEX), 404, "not_found")
    # Still acme's, still queued.
    assert api.get(f"/v1/batch/{bid}").json()["status"] == "queued"


def offsets_of(topic, key):
    return [m for m in kafka_consume(topic) if m.key == key]


def test_results_paging_dedupes_over_several_pages(start_stage, ferry_env):
    _, api = start_ingest(start_stage)
    p = ferry_env["FERRY_TOPIC_PREFIX"]
    n = 23
    bid = api.submit({"urls": ["https://a.example/%d" % i for i in range(n)]})["id"]
    other = api.submit({"urls": ["https://b.example/"]})["id"]

    # Not final, no results known: an empty page without a next link.
    r = api.get(f"/v1/batch/{bid}/results")
    assert r.status == 200 and r.json()["results"] == [] and r.json()["next"] is None

    def result(i, batch=bid, status="ok"):
        return {"batch_id": batch, "tenant": "acme", "index": i, "input": "https://a.example/%d" % i,
                "status": status, "http_status": 200, "final_url": "https://a.example/%d" % i,
                "content_type": "text/html", "duration_ms": 3, "attempts": 1,
                "fetched_at": "2026-11-22T10:00:00.000Z", "error": None,
                "data": {"html": "<p>%d</p>" % i}}

    # Results in a scrambled order, another batch's in between, and
    # duplicates (a replay) of items 4 and 17: the later copies say "dup".
    order = list(range(0, n, 2)) + list(range(1, n, 2))
    for k, i in enumerate(order):
        headers = {"ferry-batch": bid, "ferry-index": str(i)} if k % 3 else None
        kafka_produce(p + "scrape.results", result(i), key=bid, headers=headers)
        if k == 5:
            kafka_produce(p + "scrape.results", result(0, other), key=other)
    kafka_produce(p + "scrape.results", result(4, status="dup"), key=bid)
    kafka_produce(p + "scrape.results", result(17, status="dup"), key=bid,
                  headers={"ferry-batch": bid, "ferry-index": "17"})
    mine = offsets_of(p + "scrape.results", bid)
    assert len(mine) == n + 2
    part = mine[0].partition
    final = {"id": bid, "tenant": "acme", "status": "completed", "total": n, "processed": n,
             "succeeded": n, "failed": 0, "errors": {}, "progress": 1.0,
             "created_at": "2026-11-22T10:00:00.000Z", "started_at": None,
             "updated_at": "2026-11-22T10:00:01.000Z",
             "completed_at": "2026-11-22T10:00:01.000Z", "metadata": {}, "webhook": None,
             "results": {"topic": p + "scrape.results", "partition": part,
                         "first_offset": min(m.offset for m in mine),
                         "last_offset": max(m.offset for m in mine)}}
    kafka_produce(p + "batch.status", final, key=bid)
    wait_until(lambda: api.get(f"/v1/batch/{bid}").json()["status"] == "completed",
               what="the final status folded in")
    st = api.get(f"/v1/batch/{bid}").json()
    # The location is `kafka` (older documents said `results`); `results`
    # itself only comes with ?include=results.
    assert "tenant" not in st and "results" not in st
    assert st["kafka"] == {"results_topic": p + "scrape.results", "partition": part,
                           "first_offset": min(m.offset for m in mine),
                           "last_offset": max(m.offset for m in mine)}

    seen, pages, url = [], 0, f"/v1/batch/{bid}/results?limit=10"
    while url:
        r = api.get(url)
        assert r.status == 200, r.body
        page = r.json()
        assert len(page["results"]) <= 10
        for res in page["results"]:
            assert "tenant" not in res and res["batch_id"] == bid
        seen += page["results"]
        pages += 1
        url = page["next"]
        assert pages < 10
    assert pages == 3
    assert sorted(r["index"] for r in seen) == list(range(n))
    assert all(r["status"] == "ok" for r in seen)

    # The same page twice gives the same answer (cursors are stable).
    first = api.get(f"/v1/batch/{bid}/results?limit=10").json()
    again = api.get(first["next"]).json()
    assert [r["index"] for r in again["results"]] == [r["index"] for r in seen[10:20]]
    # include=results: the status plus the first page.
    inc = api.get(f"/v1/batch/{bid}?include=results&limit=5").json()
    assert inc["status"] == "completed" and len(inc["results"]) == 5 and inc["results_next"]
    # Bad paging parameters name the field.
    error_of(api.get(f"/v1/batch/{bid}/results?limit=0"), 422, field="limit")
    error_of(api.get(f"/v1/batch/{bid}/results?limit=abc"), 422, field="limit")
    error_of(api.get(f"/v1/batch/{bid}/results?cursor=-4"), 422, field="cursor")
    error_of(api.get(f"/v1/batch/{bid}/results?cursor=99999999"), 422, field="cursor")


def test_cancel(start_stage, ferry_env):
    _, api = start_ingest(start_stage)
    p = ferry_env["FERRY_TOPIC_PREFIX"]
    bid = api.submit({"urls": ["https://a.example/1", "https://a.example/2"]})["id"]
    r = api.delete(f"/v1/batch/{bid}")
    assert r.status == 202, r.body
    assert r.json()["id"] == bid and r.json()["cancel_requested"] is True
    msgs = wait_until(lambda: (lambda m: m if len(m) == 2 else None)(
        offsets_of(p + "batches", bid)), what="the cancel record")
    cancel = msgs[1]
    assert cancel.headers["ferry-type"] == "cancel" and cancel.headers["ferry-batch"] == bid
    assert cancel.partition == msgs[0].partition  # co-partitioned with the batch record
    v = cancel.json()
    jsonschema.validate(v, BATCHES_SCHEMA)
    jsonschema.validate(msgs[0].json(), BATCHES_SCHEMA)  # webhook null
    assert v["type"] == "cancel" and v["id"] == bid and v["tenant"] == "acme" and v["cancelled_at"]

    # Once aggregate says the batch is final, cancelling is a conflict.
    kafka_produce(p + "batch.status", {"id": bid, "tenant": "acme", "status": "cancelled",
                                       "total": 2, "processed": 0}, key=bid)
    wait_until(lambda: api.get(f"/v1/batch/{bid}").json()["status"] == "cancelled",
               what="cancelled status")
    error_of(api.delete(f"/v1/batch/{bid}"), 409, "batch_finished")
    error_of(api.delete("/v1/batch/bat_01M816TZ7MSG7GBE1TYYCV6RYZ"), 404)


def test_deliveries_and_redeliver(start_stage, ferry_env):
    _, api = start_ingest(start_stage)
    p = ferry_env["FERRY_TOPIC_PREFIX"]
    bid = api.submit({"urls": ["https://a.example/"], "webhook_url": "http://127.0.0.1:9/h"})["id"]
    error_of(api.post(f"/v1/batch/{bid}/redeliver", None), 409, "nothing_to_redeliver")
    assert api.get(f"/v1/batch/{bid}/deliveries").json()["deliveries"] == []

    dlv = "dlv_" + "ab" * 16
    task = {"delivery_id": dlv, "event": "batch.completed", "batch_id": bid, "tenant": "acme",
            "url": "http://127.0.0.1:9/h", "created_at": "2026-11-22T10:00:00.000Z",
            "secret_enc": "v1.xxx", "previous_secret_enc": None, "previous_secret_until": None,
            "body": json.dumps({"id": bid, "status": "completed"})}
    hdrs = {"ferry-event": "batch.completed", "ferry-delivery": dlv, "ferry-batch": bid,
            "ferry-attempt": "1"}
    kafka_produce(p + "webhooks", task, key=bid, headers=hdrs)
    orig = offsets_of(p + "webhooks", bid)[0]

    def attempt(n, outcome, code, err):
        return {"delivery_id": dlv, "batch_id": bid, "tenant": "acme", "event": "batch.completed",
                "attempt": n, "at": "2026-11-22T10:00:0%d.000Z" % n, "url": task["url"],
                "status_code": code, "latency_ms": 5, "error": err, "outcome": outcome,
                "next_attempt_at": None, "response_body": "",
                "task": {"topic": orig.topic, "partition": orig.partition, "offset": orig.offset}}

    kafka_produce(p + "webhooks.attempts", attempt(1, "retrying", 500, "http 500"), key=bid,
                  headers={"ferry-event": "batch.completed", "ferry-delivery": dlv})
    wait_until(lambda: api.get(f"/v1/batch/{bid}").json()["webhook"]["status"] == "retrying",
               what="retrying folded into the status")
    wh = api.get(f"/v1/batch/{bid}").json()["webhook"]
    assert wh["attempts"] == 1 and wh["last_error"] == "http 500" and wh["delivered_at"] is None
    kafka_produce(p + "webhooks.attempts", attempt(2, "delivered", 200, None), key=bid)
    wait_until(lambda: api.get(f"/v1/batch/{bid}").json()["webhook"]["status"] == "delivered",
               what="delivered folded into the status")
    wh = api.get(f"/v1/batch/{bid}").json()["webhook"]
    assert wh["attempts"] == 2 and wh["delivered_at"] == "2026-11-22T10:00:02.000Z"
    assert wh["last_error"] is None  # the delivery ended the error

    d = api.get(f"/v1/batch/{bid}/deliveries").json()
    assert d["total_attempts"] == 2
    assert [(x["attempt"], x["status_code"], x["outcome"]) for x in d["deliveries"]] == \
        [(1, 500, "retrying"), (2, 200, "delivered")]
    assert all("tenant" not in x and x["latency_ms"] == 5 for x in d["deliveries"])

    r = api.post(f"/v1/batch/{bid}/redeliver", None)
    assert r.status == 202, r.body
    assert r.json()["delivery_id"] == dlv and r.json()["event"] == "batch.completed"
    tasks = wait_until(lambda: (lambda m: m if len(m) == 2 else None)(
        offsets_of(p + "webhooks", bid)), what="the re-enqueued task")
    again = tasks[1]
    assert again.value == orig.value  # the same bytes
    assert again.headers["ferry-delivery"] == dlv and again.headers["ferry-attempt"] == "1"
    assert again.headers["ferry-event"] == "batch.completed" and again.partition == orig.partition


def test_status_served_by_every_instance_and_metrics(start_stage):
    _, a = start_ingest(start_stage)
    bid = a.submit({"urls": ["https://a.example/"]})["id"]
    # A second instance learns the batch from the status topic alone.
    _, b = start_ingest(start_stage)
    wait_until(lambda: b.get(f"/v1/batch/{bid}").status == 200, what="status on instance 2")
    assert b.get(f"/v1/batch/{bid}").json()["status"] == "queued"
    m = a.get("/metrics", headers={}).body.decode()
    assert 'ferry_ingest_requests_total{route="submit",code="202"} 1' in m
    assert "ferry_ingest_batches_accepted_total{} 1" in m or \
        "ferry_ingest_batches_accepted_total 1" in m
    assert 'ferry_ingest_request_seconds_bucket{route="submit"' in m


def test_keys_from_file(start_stage, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# ferry API keys\nfile-key-0001:initech\n\nfile-key-0002:acme\n")
    st, api = start_ingest(start_stage, FERRY_API_KEYS="", FERRY_API_KEYS_FILE=str(keys))
    bid = api.submit({"urls": ["https://a.example/"]},
                     headers={"Authorization": "Bearer file-key-0001"})["id"]
    assert api.get(f"/v1/batch/{bid}", headers={"Authorization": "Bearer file-key-0001"}) \
        .status == 200
    error_of(api.get(f"/v1/batch/{bid}", headers={"Authorization": "Bearer file-key-0002"}), 404)
    error_of(api.get(f"/v1/batch/{bid}"), 401)  # key-acme is not configured here


def test_no_keys_warns_and_refuses(start_stage):
    st, api = start_ingest(start_stage, FERRY_API_KEYS="")
    assert "event=no_api_keys" in st.log()
    error_of(api.post("/v1/batch", {"urls": ["https://a.example/"]}), 401, "unauthorized")
