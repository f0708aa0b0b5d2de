"""Submits produced to the submit topic (DESIGN.md, "Kafka-native submission"):
answered on the replies topic exactly as POST /v1/batch answers, exactly once
per record, whatever the duplicates, the poison records and a crash of ingest
in the middle."""

import json
import os
import random
import signal
import time

import jsonschema
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from conftest import BROKERS, ROOT, http, kafka_consume, wait_until
from test_ingest import ACME, start_ingest

MAX_BODY = 65536
REPLY = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schemas" / "submit.replies.schema.json").read_text()),
    format_checker=jsonschema.FormatChecker())


def produce(topic, records):
    """Writes (key, value, headers) records in order; returns each one's
    "topic/partition/offset"."""
    p = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True,
                  "partitioner": "murmur2_random", "linger.ms": 20})
    origins = [None] * len(records)

    def done(i):
        def cb(err, msg):
            assert err is None, err
            origins[i] = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
        return cb

    for i, (key, value, headers) in enumerate(records):
        p.produce(topic, key=key, value=value, headers=headers, on_delivery=done(i))
        p.poll(0)
    assert p.flush(60) == 0
    return origins


def count_replies(topic, at_least, timeout=60):
    """Counts committed records of a topic as they come, until at_least."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "unused",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    n, deadline = 0, time.monotonic() + timeout
    while n < at_least and time.monotonic() < deadline:
        m = c.poll(0.05)
        n += m is not None and not m.error()
    c.close()
    assert n >= at_least, f"{n} replies within {timeout}s"
    return n


def lag_of(api, group):
    """The summed ferry_kafka_consumer_lag of a group in ingest's /metrics
    (None until it shows a series)."""
    text = http("GET", api.base + "/metrics").body.decode()
    vals = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("ferry_kafka_consumer_lag{") and f'group="{group}"' in line]
    return sum(vals) if vals else None


def partitions_of(api, group):
    """The partitions a group's consumer in this ingest holds now: those its
    ferry_kafka_consumer_lag shows (the series follow the assignment)."""
    text = http("GET", api.base + "/metrics").body.decode()
    return {line.split('partition="', 1)[1].split('"', 1)[0] for line in text.splitlines()
            if line.startswith("ferry_kafka_consumer_lag{") and f'group="{group}"' in line}


def body_of(i, n_urls, site="http://127.0.0.1:9"):
    return json.dumps({"urls": [f"{site}/k{i}/{j}" for j in range(n_urls)],
                       "metadata": {"i": i}}).encode()


def test_a_thousand_produced_submits(start_stage, ferry_env):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    env = dict(FERRY_MAX_BODY_BYTES=str(MAX_BODY), FERRY_INGEST_INSTANCE="in-1")
    ingest, api = start_ingest(start_stage, **env)
    rnd = random.Random(17)
    acme, globex = [("ferry-tenant", b"acme")], [("ferry-tenant", b"globex")]

    # (key, value, headers, kind); duplicates and reused keys come after
    # their first record (same key: same partition, so read after it).
    firsts = [(f"order-{i}".encode(), body_of(i, 1 + i % 3), acme, "new") for i in range(700)]
    records = list(firsts)
    records += [(None, body_of(1000 + i, 1), globex, "new") for i in range(100)]
    records += [(k, v, h, "other-tenant") for k, v, h, _ in rnd.sample(firsts, 10)
                for h in [globex]]
    poison = []
    poison += [(f"bad-{i}".encode(), b'{"urls": ["http://x/' + bytes([48 + i % 10]), acme,
                ("400", "invalid_json")) for i in range(15)]
    poison += [(f"anon-{i}".encode(), body_of(2000 + i, 1), [], ("401", "unauthorized"))
               for i in range(10)]
    poison += [(f"who-{i}".encode(), body_of(2100 + i, 1), [("ferry-tenant", b"initech")],
                ("401", "unauthorized")) for i in range(10)]
    big = json.dumps({"urls": ["http://127.0.0.1:9/big"], "metadata": {"pad": "x" * MAX_BODY}})
    poison += [(f"big-{i}".encode(), big.encode(), acme, ("413", "body_too_large"))
               for i in range(10)]
    poison += [(f"field-{i}".encode(), json.dumps({"urls": ["ftp://x/"]}).encode(), acme,
                ("422", "invalid_field")) for i in range(10)]
    poison += [(b"k" * 300 + bytes([48 + i]), body_of(2200 + i, 1), acme,
                ("422", "invalid_field")) for i in range(10)]
    poison += [(f"empty-{i}".encode(), b"", acme, ("400", "invalid_json")) for i in range(5)]
    records += poison
    rnd.shuffle(records)
    # then more after the shuffle, in order (the same key again is
    # test_the_key_is_the_idempotency_key's)
    records += [(f"later-{i}".encode(), body_of(5000 + i, 1), acme, "new") for i in range(120)]
    assert len(records) == 1000

    # ingest holds still while they are written, so it takes them in full
    # chunks, and is killed after its first few transactions: what was
    # committed stays answered once, what was in flight is answered by the
    # restarted instance
    wait_until(lambda: lag_of(api, prefix + "ferry-ingest-submit") == 0, timeout=60,
               what="the intake's partitions assigned")
    os.kill(ingest.proc.pid, signal.SIGSTOP)
    origins = produce(prefix + "submit", [(k, v, h) for k, v, h, _ in records])
    os.kill(ingest.proc.pid, signal.SIGCONT)
    seen = count_replies(prefix + "submit.replies", 100)
    ingest.kill()
    print(f"killed with {seen} replies committed")
    ingest, api = start_ingest(start_stage, **env)
    kafka_consume(prefix + "submit.replies", 1000, timeout=120)
    wait_until(lambda: lag_of(api, prefix + "ferry-ingest-submit") == 0, timeout=60,
               what="the submit topic read to its end")
    replies = kafka_consume(prefix + "submit.replies")

    # exactly one reply per record, under the record's key
    by_origin = {}
    for m in replies:
        o = m.headers["ferry-origin"]
        assert o not in by_origin, f"{o} answered twice"
        by_origin[o] = m
    assert set(by_origin) == set(origins)

    batch_of = {}  # (tenant, key) -> batch id of its first accepted record
    accepted = set()
    for (key, value, headers, kind), origin in zip(records, origins):
        m = by_origin[origin]
        assert (m.key.encode() if m.key is not None else None) == key
        body = m.json()
        REPLY.validate(body)
        assert m.headers["ce_type"] in ("dev.ferry.submit.accepted", "dev.ferry.submit.rejected")
        assert m.headers["ce_id"].endswith(origin)
        tenant = dict(headers).get("ferry-tenant")
        if isinstance(kind, tuple):
            assert (m.headers["ferry-status"], body["error"]["code"]) == kind, (kind, body)
            assert m.headers["ferry-outcome"] == "rejected"
            assert m.headers["ce_type"] == "dev.ferry.submit.rejected"
            continue
        assert m.headers["ferry-status"] == "202", body
        assert m.headers["ferry-outcome"] == "accepted"
        assert m.headers["ferry-batch"] == body["id"] and body["status"] == "queued"
        assert m.headers["ferry-tenant"] == tenant.decode()
        assert body["total"] == len(json.loads(value)["urls"])
        assert "ferry-replayed" not in m.headers
        if key is not None:
            assert (tenant, key) not in batch_of
            batch_of[(tenant, key)] = body["id"]
        assert body["id"] not in accepted
        accepted.add(body["id"])
    assert len(accepted) == 700 + 100 + 10 + 120

    # exactly those batches, each written once, with their items
    batches = [m for m in kafka_consume(prefix + "batches") if m.headers["ferry-type"] == "batch"]
    assert sorted(m.key for m in batches) == sorted(accepted)
    totals = {m.key: m.json()["total"] for m in batches}
    requests = kafka_consume(prefix + "scrape.requests", sum(totals.values()), timeout=60)
    assert len(requests) == sum(totals.values())
    assert {m.key for m in requests} == accepted

    # a produced batch is the tenant's like any other
    b5 = batch_of[(b"acme", b"order-5")]
    st = http("GET", f"{api.base}/v1/batch/{b5}", headers=ACME)
    assert st.status == 200 and st.json()["metadata"] == {"i": 5}


def test_the_key_is_the_idempotency_key(start_stage, ferry_env):
    """The same key and body again is answered with the first batch; the
    same key with another body is refused; HTTP with the key as its
    Idempotency-Key answers the produced batch. (The same key twice in one
    chunk of the intake answers the second 503, retry: see README.)"""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    _, api = start_ingest(start_stage)
    acme = [("ferry-tenant", b"acme")]
    firsts = [(f"order-{i}".encode(), body_of(i, 1), acme) for i in range(5)]
    origins = produce(prefix + "submit", firsts)
    kafka_consume(prefix + "submit.replies", len(firsts), timeout=60)
    records = firsts + firsts[:3] + [(b"order-4", body_of(99, 2), acme)]
    origins += produce(prefix + "submit", records[5:])
    by_origin = {m.headers["ferry-origin"]: m
                 for m in kafka_consume(prefix + "submit.replies", len(records), timeout=60)}
    replies = [by_origin[o] for o in origins]
    ids = [m.json().get("id") for m in replies]
    assert ids[5:8] == ids[:3] and len(set(ids[:5])) == 5
    assert [m.headers.get("ferry-replayed") for m in replies[5:8]] == ["true"] * 3
    assert replies[8].json()["error"]["code"] == "idempotency_key_reused"
    r = http("POST", api.base + "/v1/batch", body_of(0, 1),
             dict(ACME, **{"Idempotency-Key": "order-0", "Content-Type": "application/json"}))
    assert r.status == 202 and r.json()["id"] == ids[0]
    assert r.headers.get("idempotent-replayed") == "true"


def test_refusals_are_the_http_answers(start_stage, ferry_env):
    """A refused produced submit carries the very error body POST /v1/batch
    answers for the same bytes."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    _, api = start_ingest(start_stage)
    bodies = [b"[1,2", json.dumps({"urls": []}).encode(),
              json.dumps({"urls": ["http://127.0.0.1:9/a"], "formats": ["pdf"]}).encode(),
              json.dumps({"urls": ["http://127.0.0.1:9/a"], "webhook_url": "ftp://x"}).encode(),
              json.dumps({"items": [{"url": "http://127.0.0.1:9/a"}, {"url": 7}]}).encode()]
    origins = produce(prefix + "submit",
                      [(f"r{i}".encode(), b, [("ferry-tenant", b"acme")])
                       for i, b in enumerate(bodies)])
    replies = {m.headers["ferry-origin"]: m
               for m in kafka_consume(prefix + "submit.replies", len(bodies), timeout=60)}
    for body, origin in zip(bodies, origins):
        r = http("POST", api.base + "/v1/batch", body,
                 dict(ACME, **{"Content-Type": "application/json"}))
        m = replies[origin]
        assert r.status >= 400 and m.headers["ferry-status"] == str(r.status)
        reply = m.json()
        assert reply.pop("schema_version") == 1 and reply == r.json()
        REPLY.validate(m.json())
        assert m.headers["content-type"] == "application/json"


def test_a_second_instance_shares_the_topic(start_stage, ferry_env):
    """Two ingest instances split the topic's partitions (one consumer group,
    static members); every record is answered once, by one of them."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    _, api1 = start_ingest(start_stage, FERRY_INGEST_INSTANCE="one")
    _, api2 = start_ingest(start_stage, FERRY_INGEST_INSTANCE="two")
    # The second instance joins the group after the first took every
    # partition: produce only once the rebalance is over, each instance
    # holding some of the partitions and together all of them, or the first
    # could answer every record while the second is still joining.
    group = prefix + "ferry-ingest-submit"
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "unused"})
    every = {str(p) for p in c.list_topics(prefix + "submit", timeout=10)
             .topics[prefix + "submit"].partitions}
    c.close()

    def split():
        one, two = partitions_of(api1, group), partitions_of(api2, group)
        return one and two and not one & two and one | two == every
    wait_until(split, timeout=60, interval=0.2,
               what=f"both instances holding partitions of {len(every)}")
    n = 200
    origins = produce(prefix + "submit", [(f"s{i}".encode(), body_of(i, 1),
                                          [("ferry-tenant", b"acme")]) for i in range(n)])
    replies = kafka_consume(prefix + "submit.replies", n, timeout=90)
    # the count is exact once the group has read to the end:
    wait_until(lambda: lag_of(api1, prefix + "ferry-ingest-submit") == 0 and
               lag_of(api2, prefix + "ferry-ingest-submit") == 0, timeout=60,
               what="both instances at the end of their partitions")
    replies = kafka_consume(prefix + "submit.replies")
    assert sorted(m.headers["ferry-origin"] for m in replies) == sorted(origins)
    sources = {m.headers["ce_source"] for m in replies}
    assert sources == {"/ferry/ingest/one", "/ferry/ingest/two"}
