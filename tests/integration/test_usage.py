"""Usage and credits (issue 11, item 4): GET /v1/usage counts every item
exactly once, however often the aggregator is killed while it counts; the
webhooks delivered are counted once per delivery."""

import datetime

from conftest import http, kafka_consume, wait_until
from pipeline import ACME, Site, start_pipeline

GLOBEX = {"Authorization": "Bearer key-globex"}
FIELDS = ("batches", "items", "succeeded", "failed", "credits", "webhooks_delivered")


def usage(base, headers=ACME):
    # Yesterday too: a run across midnight bills each day what it did then.
    today = datetime.datetime.now(datetime.timezone.utc).date()
    r = http("GET", f"{base}/v1/usage?from={today - datetime.timedelta(days=1)}&to={today}",
             headers=headers)
    assert r.status == 200, r.body
    return r.json()


def test_usage_counted_once_while_aggregate_is_killed(start_stage, receiver):
    with Site() as site:
        p = start_pipeline(start_stage, FERRY_SMALL_BATCH_ITEMS="100")  # the default
        agg = p.stages["aggregate"]
        expect = dict.fromkeys(FIELDS, 0)
        ids = []
        for i in range(50):
            ok, bad = 1 + i % 4, i % 3  # every third batch has no failure
            urls = [f"{site.url}/p{i}-{j}" for j in range(ok)]
            urls += [f"{site.url}/gone{i}-{j}" for j in range(bad)]
            ids.append(p.submit({"urls": urls, "webhook_url": receiver.url + "/hook"})["id"])
            expect["batches"] += 1
            expect["items"] += ok + bad
            expect["succeeded"] += ok
            expect["failed"] += bad
            expect["credits"] += ok  # a plain page costs one credit; a failure none
            expect["webhooks_delivered"] += 1  # batch.completed, once per batch
            if i % 12 == 5:  # four SIGKILLs while batches are being counted
                agg.kill()
                agg.start()
        seen_max = dict.fromkeys(FIELDS, 0)

        def counted():
            t = usage(p.base)["total"]
            for f in FIELDS:
                seen_max[f] = max(seen_max[f], t[f])
            return t if t == {**t, **expect} else None

        for bid in ids:
            d = p.wait_final(bid, timeout=120, webhook=True)
            assert d["status"] == "completed"
        wait_until(counted, timeout=60, what=f"usage totals {expect}")
        # Killed once more after everything was counted: the replay from
        # the changelog and the committed offsets bills nothing again.
        agg.kill()
        agg.start()
        # Four more batches after it (the ids spread them over the
        # partitions): counted once, and the earlier ones not again.
        for i in range(4):
            bid = p.submit({"urls": [f"{site.url}/after{i}"]})["id"]
            assert p.wait_final(bid, timeout=60)["status"] == "completed"
            for f, n in (("batches", 1), ("items", 1), ("succeeded", 1), ("credits", 1)):
                expect[f] += n
        final = wait_until(counted, timeout=30, what="usage exact after a restart and four more batches")
        assert {f: final[f] for f in FIELDS} == expect
        assert seen_max == expect, f"a total went past the exact count: {seen_max}"
        # Per status, the batch carries what it charged.
        d = p.status(ids[3])
        assert d["credits_charged"] == d["succeeded"]
        # Another tenant used nothing.
        assert all(v == 0 for v in usage(p.base, GLOBEX)["total"].values())


def test_usage_range_checked(start_stage):
    p = start_pipeline(start_stage, only=("ingest",))
    today = datetime.datetime.now(datetime.timezone.utc).date()
    for q, field in (("from=2026-02-30", "from"), ("to=yesterday", "to"),
                     (f"from={today}&to={today - datetime.timedelta(days=1)}", "from"),
                     (f"from={today - datetime.timedelta(days=400)}&to={today}", "from")):
        r = http("GET", f"{p.base}/v1/usage?{q}", headers=ACME)
        assert r.status == 422, (q, r.body)
        assert r.json()["error"]["details"]["field"] == field, q
    r = http("GET", f"{p.base}/v1/usage", headers=ACME)
    assert r.status == 200, r.body
    u = r.json()
    assert len(u["days"]) == 30 and u["to"] == str(today)
    assert u["days"][-1]["date"] == str(today)
    assert all(u["total"][f] == 0 for f in FIELDS)
    assert http("GET", f"{p.base}/v1/usage").status == 401


def test_limits_answer_429_and_write_nothing(start_stage, ferry_env):
    # Ingest alone: nothing is scraped, so what is accepted stays active.
    p = start_pipeline(start_stage, only=("ingest",),
                       FERRY_TENANT_LIMITS="acme:max_active_items=5,globex:credits_per_day=4")
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    site = "http://127.0.0.1:9"

    def submit(n, headers):
        return http("POST", p.base + "/v1/batch",
                    {"urls": [f"{site}/{i}" for i in range(n)]}, headers)

    accepted = []
    r = submit(3, ACME)
    assert r.status == 202, r.body
    accepted.append(r.json()["id"])
    r = submit(3, ACME)  # 3 active + 3 > 5
    assert r.status == 429, r.body
    e = r.json()["error"]
    assert e["code"] == "quota_exceeded"
    assert e["details"]["limit"] == "max_active_items"
    assert e["details"]["in_use"] == 3 and e["details"]["requested"] == 3
    assert not e["details"]["fits_never"]
    assert 1 <= int(r.headers["retry-after"]) <= 3600
    r = submit(2, ACME)  # exactly up to the limit
    assert r.status == 202, r.body
    accepted.append(r.json()["id"])
    assert submit(1, ACME).status == 429

    # Credits: a batch larger than the day's credits never fits; 3 fit and
    # reserve 3 of the 4, so 2 more do not.
    r = submit(5, GLOBEX)
    assert r.status == 429, r.body
    assert r.json()["error"]["details"]["limit"] == "credits_per_day"
    assert r.json()["error"]["details"]["fits_never"]
    r = submit(3, GLOBEX)
    assert r.status == 202, r.body
    accepted.append(r.json()["id"])
    r = submit(2, GLOBEX)
    assert r.status == 429, r.body
    assert r.json()["error"]["details"]["in_use"] == 3
    assert int(r.headers["retry-after"]) >= 1

    # Only the accepted batches reached Kafka: their records, their 3+2+3
    # requests and their status documents, nothing of the refused ones.
    batches = {m.key for m in kafka_consume(prefix + "batches")}
    assert batches == set(accepted)
    requests = kafka_consume(prefix + "scrape.requests")
    assert len(requests) == 8
    assert {m.json()["batch_id"] for m in requests} == set(accepted)
    assert {m.key for m in kafka_consume(prefix + "batch.status")} == set(accepted)
    metrics = http("GET", f"{p.base}/metrics").body.decode()
    assert any('route="submit"' in line and 'code="429"' in line and line.endswith(" 4")
               for line in metrics.splitlines()), "four 429 answers counted"
