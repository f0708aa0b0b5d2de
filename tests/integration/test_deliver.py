"""deliver: signed webhook POSTs, retry tiers as delay topics, dead letters,
the attempt log, and no loss across a kill -9 (issue 6).

Tasks are written straight into `webhooks` (as aggregate would), with the
secret sealed by tests/tools/deliver_seal (as ingest would)."""

import base64
import hashlib
import hmac
import json
import re
import subprocess
import time

import jsonschema
from conftest import (BUILD, ROOT, SECRET_KEY, Receiver, free_port, http, kafka_consume,
                      kafka_produce, wait_until)

BATCH = "bat_01JDZZZZZZZZZZZZZZZZZZZZZZ"
ATTEMPT_SCHEMA = json.loads((ROOT / "schemas" / "webhooks.attempts.schema.json").read_text())


def seal(batch, secret):
    out = subprocess.run([str(BUILD / "tools" / "deliver_seal"), SECRET_KEY, batch, secret],
                         capture_output=True, text=True, timeout=10, check=True)
    return out.stdout.strip()


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + ".000Z"


def task(url, secret, batch=BATCH, event="batch.completed", delivery=None, previous=None,
         previous_until=None, body=None):
    delivery = delivery or "dlv_" + hashlib.sha256(f"{batch}\n{event}\n{url}".encode()).hexdigest()[:32]
    body = body if body is not None else json.dumps(
        {"id": batch, "status": "completed", "note": "caf\u00e9 \u2603", "n": 1},
        separators=(", ", ": "), ensure_ascii=False)
    return {"delivery_id": delivery, "event": event, "batch_id": batch, "tenant": "acme",
            "url": url, "created_at": iso(time.time()), "secret_enc": seal(batch, secret),
            "previous_secret_enc": seal(batch, previous) if previous else None,
            "previous_secret_until": previous_until, "body": body}


def produce_task(env, t, topic_suffix="webhooks", headers=None):
    kafka_produce(env["FERRY_TOPIC_PREFIX"] + topic_suffix, json.dumps(t, ensure_ascii=False),
                  key=t["batch_id"], headers=headers)


def start_deliver(start_stage, **env):
    port = free_port()
    st = start_stage("deliver", FERRY_DELIVER_METRICS_LISTEN=f"127.0.0.1:{port}", **env)
    st.metrics_port = port
    st.wait_log(r"event=started", timeout=60)
    return st


def metric(st, name):
    r = http("GET", f"http://127.0.0.1:{st.metrics_port}/metrics")
    total = 0.0
    for line in r.body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def attempts(env, delivery, n, timeout=30):
    """The attempt records of one delivery (at least n), each checked against
    the topic's schema."""
    topic = env["FERRY_TOPIC_PREFIX"] + "webhooks.attempts"
    recs = wait_until(lambda: (lambda a: a if len(a) >= n else None)(
        [m.json() for m in kafka_consume(topic) if m.json()["delivery_id"] == delivery]),
        timeout, interval=0.3, what=f"{n} attempt records of {delivery}")
    for r in recs:
        jsonschema.validate(r, ATTEMPT_SCHEMA)
    return recs


# ------------------------------------------------------------ verification


def seeds_verify(signature_header, raw_body, secret):
    """The seeds' Python snippet, as written (000_*, 003_*)."""
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature_header, expected)


def standard_verify(headers, raw_body, secret, tolerance=300):
    """The Standard Webhooks verification: key = base64 part of a whsec_
    secret (else its bytes), signed content "id.timestamp.body", any of the
    space-separated v1 signatures, timestamp within tolerance."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + raw_body,
                                         hashlib.sha256).digest()).decode()
    for sig in headers["webhook-signature"].split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


# ------------------------------------------------------------ tests


def test_deliver_signs_both_schemes(start_stage, ferry_env, receiver):
    whsec = "whsec_" + base64.b64encode(b"k" * 24).decode()
    plain = "s3cr3t-plain-secret"
    old = "whsec_" + base64.b64encode(b"o" * 24).decode()
    new = "whsec_" + base64.b64encode(b"n" * 24).decode()
    t_whsec = task(receiver.url + "/a", whsec)
    t_plain = task(receiver.url + "/b", plain, event="batch.failed")
    t_rot = task(receiver.url + "/c", new, event="batch.cancelled", previous=old,
                 previous_until=iso(time.time() + 3600))
    t_expired = task(receiver.url + "/d", new, event="item.completed", previous=old,
                     previous_until=iso(time.time() - 60))
    st = start_deliver(start_stage)
    for t in (t_whsec, t_plain, t_rot, t_expired):
        produce_task(ferry_env, t)
    reqs = {r.path: r for r in receiver.wait_for(4)}

    for path, t, secret in (("/a", t_whsec, whsec), ("/b", t_plain, plain)):
        r = reqs[path]
        assert r.body == t["body"].encode()  # the exact bytes, never rebuilt
        h = r.headers
        assert h["content-type"] == "application/json"
        assert re.fullmatch(r"ferry/\d+\.\d+\.\d+", h["user-agent"])
        assert h["x-ferry-event"] == t["event"] and h["x-ferry-batch-id"] == BATCH
        assert h["x-ferry-delivery"] == h["webhook-id"] == t["delivery_id"]
        assert h["x-ferry-timestamp"] == h["webhook-timestamp"]
        assert abs(int(h["x-ferry-timestamp"]) - time.time()) < 30
        assert seeds_verify(h["x-ferry-signature"], r.body, secret)
        assert standard_verify(h, r.body, secret)
        assert not seeds_verify(h["x-ferry-signature"], r.body, secret + "x")
        assert not standard_verify(h, r.body + b" ", secret)

    # Rotation: both signatures, space-separated; either secret verifies.
    h, body = reqs["/c"].headers, reqs["/c"].body
    assert len(h["x-ferry-signature"].split(" ")) == 2
    assert any(seeds_verify(s, body, new) for s in h["x-ferry-signature"].split(" "))
    assert any(seeds_verify(s, body, old) for s in h["x-ferry-signature"].split(" "))
    assert standard_verify(h, body, new) and standard_verify(h, body, old)
    # An expired previous secret signs no more.
    h, body = reqs["/d"].headers, reqs["/d"].body
    assert seeds_verify(h["x-ferry-signature"], body, new)
    assert standard_verify(h, body, new) and not standard_verify(h, body, old)

    # Each attempt is recorded, pointing at the original task record.
    tasks = {m.json()["delivery_id"]: m for m in
             kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "webhooks")}
    for t in (t_whsec, t_plain, t_rot, t_expired):
        [a] = attempts(ferry_env, t["delivery_id"], 1)
        src = tasks[t["delivery_id"]]
        assert a["outcome"] == "delivered" and a["status_code"] == 200 and a["error"] is None
        assert a["attempt"] == 1 and a["response_body"] == "ok" and a["url"] == t["url"]
        assert a["batch_id"] == BATCH and a["tenant"] == "acme" and a["event"] == t["event"]
        assert a["task"] == {"topic": src.topic, "partition": src.partition,
                             "offset": src.offset}
        assert a["next_attempt_at"] is None and a["latency_ms"] >= 0
    assert metric(st, "ferry_deliver_attempts_total") == 4
    # Secrets never reach a topic or the log in plain text.
    for s in (whsec, plain, old, new):
        assert s not in st.log()


def test_deliver_retries_through_tiers_then_dead_letters(start_stage, ferry_env, receiver):
    tiers = [1.0, 2.0, 3.0, 4.0]
    env = dict(FERRY_WEBHOOK_RETRY_TIERS="1s,2s,3s,4s", FERRY_WEBHOOK_TIMEOUT_MS=1000)
    # Fails four ways, then succeeds on attempt 5. The dropped connection
    # comes first, on a fresh connection: on a reused one libcurl itself
    # resends a request that got no answer at all.
    receiver.plan = [("close",), 500, ("hang", 3), ("status", 302, {"Location": "/elsewhere"})]
    gone = Receiver()
    gone.default = 410
    busy = Receiver()
    busy.plan = [("status", 503, {"Retry-After": "30"})]
    refused_url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    try:
        t_ok = task(receiver.url + "/flaky", "sec-1")
        t_gone = task(gone.url + "/gone", "sec-2")
        t_busy = task(busy.url + "/busy", "sec-3")
        t_refused = task(refused_url, "sec-4")
        start_deliver(start_stage, **env)
        for t in (t_ok, t_gone, t_busy, t_refused):
            produce_task(ferry_env, t)

        # The flaky receiver: five attempts, same delivery id, tier delays.
        reqs = receiver.wait_for(5, timeout=40)
        assert len({r.headers["x-ferry-delivery"] for r in reqs}) == 1
        assert len({r.headers["x-ferry-signature"] for r in reqs}) == 1  # same body, same key
        took = [0.0, 0.0, 1.0, 0.0]  # attempt 3 hung until the 1 s timeout
        for i in range(4):
            gap = reqs[i + 1].at - reqs[i].at
            expected = tiers[i] + took[i]
            assert expected - 0.05 <= gap <= expected + 1.2, (i, gap, expected)
        a = attempts(ferry_env, t_ok["delivery_id"], 5)
        assert [x["attempt"] for x in a] == [1, 2, 3, 4, 5]
        assert [x["outcome"] for x in a] == ["retrying"] * 4 + ["delivered"]
        assert [x["status_code"] for x in a] == [None, 500, None, 302, 200]
        assert a[0]["error"].startswith("closed") and a[1]["error"] == "http 500"
        assert a[2]["error"].startswith("timeout") and "redirect" in a[3]["error"]
        assert len({json.dumps(x["task"]) for x in a}) == 1  # the original record, every time
        assert a[0]["next_attempt_at"] is not None

        # 410 Gone: one attempt, straight to the dead letters.
        assert len(gone.wait_for(1)) == 1
        [g] = attempts(ferry_env, t_gone["delivery_id"], 1)
        assert g["outcome"] == "dead" and g["status_code"] == 410

        # 503 with Retry-After: 30 s asked, capped at 2x the 1 s tier.
        breqs = busy.wait_for(2, timeout=20)
        gap = breqs[1].at - breqs[0].at
        assert 1.95 <= gap <= 3.2, gap

        # Connection refused on every attempt: all tiers, then the DLQ.
        a = attempts(ferry_env, t_refused["delivery_id"], 5, timeout=40)
        assert [x["outcome"] for x in a] == ["retrying"] * 4 + ["dead"]
        assert all(x["error"].startswith("connect") and x["status_code"] is None for x in a)
        dlq = kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "webhooks.dlq", count=2)
        by_id = {m.json()["delivery_id"]: m for m in dlq}
        assert set(by_id) == {t_gone["delivery_id"], t_refused["delivery_id"]}
        d = by_id[t_refused["delivery_id"]]
        assert d.json() == t_refused  # the task value, unchanged
        assert d.headers["ferry-attempt"] == "5" and d.headers["ferry-last-error"].startswith("connect")
        assert d.headers["ferry-origin"].startswith(ferry_env["FERRY_TOPIC_PREFIX"] + "webhooks/")
        assert "410" in by_id[t_gone["delivery_id"]].headers["ferry-last-error"]
        # Nothing delivered twice: exactly five requests to the flaky receiver.
        assert len(receiver.requests) == 5
    finally:
        gone.close()
        busy.close()


def test_deliver_parked_records_survive_kill9(start_stage, ferry_env, receiver):
    """Records parked in every tier when the stage dies are each delivered at
    their due time after the restart; none is lost."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    # One name for both runs, as a restarted deployment keeps its own: the
    # restarted instance takes the killed one's partitions at once (static
    # membership; a short session all the same); frequent commits, so the
    # acked work of the first run is not redone.
    env = dict(FERRY_WEBHOOK_RETRY_TIERS="2s,4s", FERRY_DELIVER_INSTANCE="deliver-a")
    args = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
            "-X", "auto.commit.interval.ms=100"]
    st = start_deliver(start_stage, args=args, **env)
    now = time.time()
    due = {}
    # Records parked by the first run, in both tiers, on both partitions.
    for i, (tier, attempt, delay) in enumerate([("2s", 2, 14), ("4s", 3, 15), ("2s", 2, 16),
                                                ("4s", 3, 17)]):
        t = task(receiver.url + f"/p{i}", "sec", batch=f"bat_01JDZZZZZZZZZZZZZZZZZZZZZ{i}")
        due[t["delivery_id"]] = now + delay
        produce_task(ferry_env, t, f"webhooks.retry.{tier}", headers={
            "ferry-attempt": attempt, "ferry-due-ms": int((now + delay) * 1000),
            "ferry-first-attempt-ms": int((now - 5) * 1000),
            "ferry-origin": f"{prefix}webhooks/0/7"})
    # And a task that fails now and parks itself in the first tier.
    receiver.plan = [500]
    fresh = task(receiver.url + "/fresh", "sec")
    produce_task(ferry_env, fresh)
    receiver.wait_for(1)
    attempts(ferry_env, fresh["delivery_id"], 1)
    wait_until(lambda: metric(st, "ferry_deliver_parked_partitions") >= 3, 20,
               what="records held in the tiers")

    st.kill()
    killed_at = time.time()
    assert len(receiver.requests) == 1, "a parked record was sent before its time"
    start_deliver(start_stage, args=args, **env)

    wait_until(lambda: {r.headers["x-ferry-delivery"] for r in receiver.requests[1:]}
               >= set(due) | {fresh["delivery_id"]}, 40, what="every parked record delivered")
    got = {}
    for r in receiver.requests[1:]:
        got.setdefault(r.headers["x-ferry-delivery"], r.at)
    for d, at in due.items():
        assert due[d] > killed_at + 6  # parked across the kill and the restart
        assert -0.05 <= at - due[d] <= 1.0, (d, at - due[d])
    # The fresh task was due while the stage was down: sent once it is back.
    f = attempts(ferry_env, fresh["delivery_id"], 2)
    assert f[0]["outcome"] == "retrying" and f[-1]["outcome"] == "delivered"
    assert f[-1]["attempt"] == 2


def test_deliver_refuses_unsafe_and_broken_tasks(start_stage, ferry_env, receiver):
    """Private addresses (without FERRY_ALLOW_PRIVATE_NETWORKS), http:// URLs
    (without FERRY_WEBHOOK_ALLOW_HTTP) and unreadable tasks go straight to the
    dead letters, with the reason; nothing is sent."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_deliver(start_stage, FERRY_ALLOW_PRIVATE_NETWORKS=0, FERRY_WEBHOOK_ALLOW_HTTP=0)
    https_private = task(f"https://127.0.0.1:{receiver.port}/x", "sec")
    plain_http = task("http://hooks.example.com/x", "sec", event="batch.failed")
    produce_task(ferry_env, https_private)
    produce_task(ferry_env, plain_http)
    kafka_produce(prefix + "webhooks", b"{not json", key="bat_broken")
    wrong_batch = task("https://hooks.example.com/y", "sec", event="batch.cancelled")
    wrong_batch["batch_id"] = "bat_01JDYYYYYYYYYYYYYYYYYYYYYY"  # the secret was sealed for another
    produce_task(ferry_env, wrong_batch)

    dlq = {m.key: m for m in kafka_consume(prefix + "webhooks.dlq", count=4)}
    assert dlq["bat_broken"].value == b"{not json"
    assert "JSON" in dlq["bat_broken"].headers["ferry-last-error"]
    [a] = attempts(ferry_env, https_private["delivery_id"], 1)
    assert a["outcome"] == "dead" and a["error"].startswith("blocked") and "loopback" in a["error"]
    [a] = attempts(ferry_env, plain_http["delivery_id"], 1)
    assert a["outcome"] == "dead" and "https" in a["error"]
    [a] = attempts(ferry_env, wrong_batch["delivery_id"], 1)
    assert a["outcome"] == "dead" and "does not open" in a["error"]
    assert receiver.requests == []


def test_deliver_hanging_host_costs_its_own_slots_only(start_stage, ferry_env, receiver):
    """A receiver that never answers holds at most FERRY_WEBHOOK_MAX_PER_HOST
    POSTs; the other host's tasks, written after it, go through at once."""
    hang = Receiver()
    hang.default = ("hang", 30)
    try:
        start_deliver(start_stage, FERRY_WEBHOOK_MAX_PER_HOST=3, FERRY_WEBHOOK_TIMEOUT_MS=20000)
        for i in range(10):
            produce_task(ferry_env, task(hang.url + f"/h{i}", "sec", event=f"item.completed.{i}"))
        hang.wait_for(3)
        t0 = time.time()
        for i in range(20):
            produce_task(ferry_env, task(receiver.url + f"/f{i}", "sec", event=f"e{i}"))
        receiver.wait_for(20, timeout=15)
        assert time.time() - t0 < 10  # not behind the 20 s timeouts
        assert len(hang.requests) == 3  # its cap, no more
    finally:
        hang.close()
