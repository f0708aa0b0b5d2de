"""Every topic after a full run of the five stages, read back whole: each
message ferry wrote carries the CloudEvents headers schemas/TOPICS.md lists
for its topic (type, source, id, time, content type), each value validates
against its topic's JSON Schema, and each webhook body (on the webhooks topic
and as the receivers got it) against its event's schema.

The run makes every topic hold something: batches with webhooks (one
receiver failing once, one always), item events, a retried fetch and a
retried render, screenshots, a cancel, a redelivery, a submit produced to
Kafka, and poison records for each dead-letter topic."""

import json
import re
import subprocess
from datetime import datetime, timedelta, timezone

import jsonschema
from referencing import Registry, Resource

from conftest import (BROKERS, ROOT, Receiver, http, kafka_consume, kafka_produce, wait_until)
from pipeline import ACME, Site, start_pipeline

SCHEMAS = ROOT / "schemas"
GUIDE = SCHEMAS / "TOPICS.md"
STAGES = ("ingest", "scrape", "aggregate", "deliver", "render")

# The JSON Schema of each topic's values (guide names); None: not JSON
# (the poison bytes of a dead letter, a screenshot).
VALUE_SCHEMA = {
    "ferry.batches": "batches",
    "ferry.scrape.requests": "scrape.requests",
    "ferry.scrape.requests.small": "scrape.requests",
    "ferry.scrape.retry.<delay>": "scrape.requests",
    "ferry.scrape.results": "scrape.results",
    "ferry.scrape.dlq": None,
    "ferry.batch.status": "batch.status",
    "ferry.webhooks": "webhooks",
    "ferry.webhooks.retry.<delay>": "webhooks",
    "ferry.webhooks.dlq": "webhooks",
    "ferry.webhooks.attempts": "webhooks.attempts",
    "ferry.aggregate.dlq": None,
    "ferry.aggregate.state": "aggregate.state",
    "ferry.render.requests": "render.requests",
    "ferry.render.retry.<delay>": "render.requests",
    "ferry.render.dlq": None,
    "ferry.files": None,
    "ferry.usage": "usage",
    "ferry.tenants": "tenants",
    "ferry.idempotency": "idempotency",
    "ferry.submit.replies": "submit.replies",
    "ferry.schedules": "schedules",
    "ferry.schedule.state": "schedule.state",
    "ferry.schedule.changes": "schedule.changes",
    "ferry.crawl.sitefiles": "crawl.sitefiles",
    "ferry.crawl.state": None,  # aggregate's own format (TOPICS.md)
}

# In TOPICS.md but written by nothing in this run.
NOT_WRITTEN_YET = set()

# Topics whose records may be tombstones (a deleted schedule's definition,
# state and change hashes; a finished batch's state and status).
TOMBSTONED = {"ferry.aggregate.state", "ferry.batch.status", "ferry.schedules",
              "ferry.schedule.state", "ferry.schedule.changes", "ferry.crawl.state"}


def schema_registry():
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


def validator(name, registry):
    doc = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return jsonschema.Draft202012Validator(doc, registry=registry,
                                           format_checker=jsonschema.FormatChecker())


def guide():
    """From TOPICS.md: {guide topic: (writers, ce types, ce id words)}."""
    text = GUIDE.read_text()
    rows = re.findall(r"^\| `(ferry\.[^`]+)`(?: \([^|]*\))? \|(.*)\|$", text, re.M)
    writers, events = {}, {}
    for topic, rest in rows:
        cols = [c.strip() for c in rest.split("|")]
        if len(cols) == 6:  # the topics table: key, value, headers, kept, written by, read by
            writers[topic] = {s for s in STAGES if re.search(rf"\b{s}\b", cols[4])}
        elif len(cols) == 2:  # the CloudEvents table: types, ids
            types = set(re.findall(r"`(dev\.ferry\.[a-z.]+)`", cols[0]))
            words = set(re.findall(r"`([a-z]+):", cols[1]))
            events[topic] = (types, words)
    assert writers and events, "TOPICS.md: tables not found"
    return {t: (writers.get(t, set()), *events[t]) for t in events}


def guide_topic(name, prefix, topics):
    """The guide's name of a real topic (retry tiers by their pattern)."""
    for g in topics:
        pattern = re.escape(g.replace("ferry.", prefix, 1)).replace("<delay>", "[0-9]+[a-z]+")
        if re.fullmatch(pattern, name):
            return g
    return None


def list_topics(prefix):
    out = subprocess.run(["kcat", "-L", "-b", BROKERS, "-J"], capture_output=True, timeout=30)
    names = [t["topic"] for t in json.loads(out.stdout)["topics"]]
    return sorted(n for n in names if n.startswith(prefix))


def problems(v, doc):
    """What a validator finds wrong with doc, the deepest reasons first."""
    out = []
    for e in sorted(v.iter_errors(doc), key=str):
        leaves = [c for c in e.context] or [e]
        out += [f"{'/'.join(map(str, c.absolute_path))}: {c.message[:200]}" for c in leaves]
    return out[:8]


def check_event_headers(m, topic, types, words, writers, since):
    h = m.headers
    where = f"{m.topic}/{m.partition}/{m.offset}"
    assert h.get("ce_specversion") == "1.0", (where, h)
    assert h.get("ce_type") in types, (where, h.get("ce_type"), types)
    src = re.fullmatch(r"/ferry/([a-z]+)/([A-Za-z0-9._-]+)", h.get("ce_source", ""))
    assert src and src.group(1) in writers, (where, h.get("ce_source"), writers)
    word, _, rest = h.get("ce_id", "").partition(":")
    assert word in words and rest, (where, h.get("ce_id"), words)
    assert word == h["ce_type"].rsplit(".", 1)[1], (where, h["ce_id"], h["ce_type"])
    t = datetime.strptime(h.get("ce_time", ""), "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=timezone.utc)
    assert since - timedelta(seconds=5) <= t <= datetime.now(timezone.utc), (where, h["ce_time"])
    want = "image/png" if topic == "ferry.files" else "application/json"
    assert h.get("content-type") == want, (where, h.get("content-type"))


def test_every_topic_after_a_full_run(start_stage, ferry_env, receiver, tmp_path):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    since = datetime.now(timezone.utc)
    topics = guide()
    assert set(topics) == set(VALUE_SCHEMA) | {"ferry.submit"} | NOT_WRITTEN_YET, sorted(topics)
    registry = schema_registry()
    validators = {n: validator(n, registry) for n in set(VALUE_SCHEMA.values()) if n}
    body_validators = {e: validator(f"webhook.{e}", registry) for e in ("batch", "item")}

    # batches of more than two items take scrape.requests, the others its small lane
    # a cron minute lasts a second, so the schedule below fires at once
    p = start_pipeline(start_stage, only=STAGES, FERRY_RENDER_BROWSERS="1",
                       FERRY_RENDER_TABS="2", FERRY_RENDER_RETRY_TIERS="1s",
                       FERRY_SCRAPE_RETRY_TIERS="1s", FERRY_SMALL_BATCH_ITEMS="2",
                       FERRY_SCHEDULE_TICK="1s")
    dead = Receiver()
    dead.default = 500
    receiver.plan = [500]  # the first attempt fails, the retry is delivered
    poison = {"scrape.requests": b"not a request", "render.requests": b"{\"index\": \"x\"}",
              "batches": b"not json {"}
    try:
        with Site() as site:
            a = p.submit({"urls": [f"{site.url}/p1", f"{site.url}/gone", f"{site.url}/flaky1"],
                          "formats": ["html", "text", "markdown", "links", "metadata"],
                          "webhook_url": receiver.url + "/a",
                          "webhook_events": ["batch.completed", "item.completed"],
                          "metadata": {"run": "live"}})["id"]
            b = p.submit({"urls": [f"{site.url}/p2"], "webhook_url": dead.url + "/b"})["id"]
            c = p.submit({"items": [{"url": f"{site.url}/p3"}, {"url": f"{site.url}/flaky2"}],
                          "render": True, "formats": ["html", "screenshot"]})["id"]
            d = p.submit({"urls": [f"{site.url}/slow{i}" for i in range(20)],
                          "options": {"timeout_ms": 2000}})["id"]
            assert http("DELETE", f"{p.base}/v1/batch/{d}", headers=ACME).status == 202
            for suffix, value in poison.items():
                kafka_produce(prefix + suffix, value, key="bat_poison")
            kafka_produce(prefix + "submit", {"urls": [f"{site.url}/p4"]}, key="live-1",
                          headers={"ferry-tenant": "acme"})
            r = http("POST", f"{p.base}/v1/crawl", {"url": f"{site.url}/p5", "limit": 3}, ACME)
            assert r.status == 202, r.body
            for bid in (a, b, c, d, r.json()["id"]):
                p.wait_final(bid)
            # a tenant webhook setting (after the submits: it is their default)
            r = http("PUT", f"{p.base}/v1/webhook", json.dumps({"url": dead.url + "/t"}).encode(),
                     dict(ACME, **{"Content-Type": "application/json"}))
            assert r.status == 200, r.body
            p.wait_final(a, webhook=True)
            wait_until(lambda: p.status(b)["webhook"].get("status") == "failed", timeout=60,
                       what="b's webhook given up")
            r = http("POST", f"{p.base}/v1/batch/{a}/redeliver", headers=ACME)
            assert r.status == 202, r.body
            receiver.wait_for(1 + 1 + 3 + 1, timeout=60)  # a: 2 attempts, 3 items, redelivery
            for topic in ("scrape.dlq", "render.dlq", "aggregate.dlq", "submit.replies",
                          "webhooks.dlq"):
                kafka_consume(prefix + topic, 1, timeout=60)
            # a schedule that tracks changes: its definition, a firing's state
            # and a counted result's hash; deleted, their tombstones
            r = http("POST", f"{p.base}/v1/schedules",
                     {"cron": "* * * * *", "track_changes": True,
                      "batch": {"urls": [f"{site.url}/p1"]}}, ACME)
            assert r.status == 201, r.body
            for topic in ("schedules", "schedule.state", "schedule.changes"):
                kafka_consume(prefix + topic, 1, timeout=60)
            sid = r.json()["id"]
            assert http("DELETE", f"{p.base}/v1/schedules/{sid}", headers=ACME).status == 204
    finally:
        dead.close()

    names = list_topics(prefix)
    seen, wrong = {}, []
    for name in names:
        g = guide_topic(name, prefix, topics)
        assert g, f"{name} is not in TOPICS.md's tables"
        msgs = kafka_consume(name)
        seen[g] = seen.get(g, 0) + len(msgs)
        if g == "ferry.submit":
            continue  # written by the test, not by ferry
        writers, types, words = topics[g]
        ids = {}
        for m in msgs:
            where = f"{name}/{m.partition}/{m.offset}"
            if m.key == "bat_poison" and not g.endswith(".dlq"):
                continue  # the test's own poison record, not ferry's
            try:
                check_event_headers(m, g, types, words, writers, since)
            except AssertionError as e:
                wrong.append(f"{where}: headers: {e}")
            key = (m.headers.get("ce_source"), m.headers.get("ce_id"))
            if ids.setdefault(key, m.value) != m.value:
                wrong.append(f"{where}: {key} names two events")
            schema = VALUE_SCHEMA[g]
            if m.value is None:
                if g not in TOMBSTONED:
                    wrong.append(f"{where}: a tombstone")
            elif schema:
                errors = problems(validators[schema], m.json())
                if errors:
                    wrong.append(f"{where}: {schema}: {errors}")
            elif g == "ferry.crawl.state":
                pass  # aggregate's own format, not a contract (TOPICS.md)
            elif g == "ferry.files":
                # (kcat's JSON replaces the first byte, 0x89, which is no UTF-8)
                if b"PNG\r\n\x1a\n" not in m.value[:12]:
                    wrong.append(f"{where}: not a PNG")
            else:
                origin = {"scrape": "scrape.requests", "render": "render.requests",
                          "aggregate": "batches"}[g[len("ferry."):].replace(".dlq", "")]
                if m.value != poison[origin]:
                    wrong.append(f"{where}: {m.value!r} is not the poison record")
            if g.startswith("ferry.webhooks") and g != "ferry.webhooks.attempts" and m.value:
                task = m.json()
                kind = "item" if task.get("event") == "item.completed" else "batch"
                errors = problems(body_validators[kind], json.loads(task["body"]))
                if errors:
                    wrong.append(f"{where}: webhook.{kind} body: {errors}")
    empty = sorted(g for g in topics if not seen.get(g))
    if empty != sorted(NOT_WRITTEN_YET):
        wrong.append(f"topics nothing was written to: {empty}, not {sorted(NOT_WRITTEN_YET)}")

    # the bodies as the receiver got them: the tasks' bytes, valid
    for req in receiver.requests:
        body = json.loads(req.body)
        kind = "item" if body["event"] == "item.completed" else "batch"
        errors = problems(body_validators[kind], body)
        if errors:
            wrong.append(f"received {kind} body: {errors}")
    assert not wrong, "\n".join(wrong[:40])
