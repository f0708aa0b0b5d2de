"""The aggregate stage against a real broker: batch records and results are
written straight into `batches` and `scrape.results` (kcat for single
records, tests/tools/aggregate_loadgen for bulk), and we assert on what
comes out in `batch.status`, `webhooks` and `aggregate.dlq`."""

import hashlib
import json
import random
import re
import subprocess
import time
from datetime import datetime, timezone

import jsonschema
import pytest
from conftest import (BROKERS, BUILD, LONG, ROOT, free_port, http, kafka_consume,
                      kafka_produce, wait_until)

LOADGEN = BUILD / "tools" / "aggregate_loadgen"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def schema(name):
    return json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())


def new_batch_id():
    # "bat_" + 26 Crockford digits, the first one 0-7 (ids_valid's shape).
    return "bat_0" + "".join(random.choice(CROCKFORD) for _ in range(25))


def delivery_id(batch, event, item=None):
    text = f"{batch}\n{event}" + (f"\n{item}" if item is not None else "")
    return "dlv_" + hashlib.sha256(text.encode()).hexdigest()[:32]


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def batch_record(bid, total, url="http://127.0.0.1:9/hook", events=("batch.completed",)):
    return {"type": "batch", "id": bid, "tenant": "acme", "created_at": now_iso(),
            "total": total, "formats": ["html"], "options": {}, "metadata": {"k": "v"},
            "webhook": None if url is None else {
                "url": url, "events": list(events), "secret_enc": "v1.sealed",
                "previous_secret_enc": None, "previous_secret_until": None}}


def result(bid, index, status="ok"):
    return {"batch_id": bid, "tenant": "acme", "index": index,
            "input": f"https://example.com/{index}", "status": status,
            "http_status": 200 if status == "ok" else None,
            "final_url": f"https://example.com/{index}", "content_type": "text/html",
            "duration_ms": 5, "attempts": 1, "fetched_at": now_iso(),
            "error": None if status == "ok" else status, "data": {"html": f"<p>{index}</p>"}}


def put_batch(prefix, rec, kind="batch"):
    kafka_produce(prefix + "batches", rec, key=rec["id"],
                  headers={"ferry-type": kind, "ferry-batch": rec["id"]})


def put_result(prefix, res):
    kafka_produce(prefix + "scrape.results", res, key=res["batch_id"],
                  headers={"ferry-batch": res["batch_id"], "ferry-index": str(res["index"])})


def wait_ready(st, timeout=60):
    """/healthz answers 200 once the instance restored its first assignment
    (the process's own answer: log files may hold earlier runs' lines)."""
    url = f"http://{st.env['FERRY_AGGREGATE_METRICS_LISTEN']}/healthz"

    def ready():
        if st.proc.poll() is not None:
            pytest.fail(f"ferry-aggregate exited ({st.proc.returncode}):\n{st.log()[-3000:]}")
        return http("GET", url, timeout=2).status == 200 if port_open(url) else False

    wait_until(ready, timeout, what="ferry-aggregate ready")


def port_open(url):
    try:
        http("GET", url, timeout=2)
        return True
    except OSError:
        return False


def start_aggregate(start_stage, name="a", **env):
    st = start_stage("aggregate", FERRY_AGGREGATE_METRICS_LISTEN=f"127.0.0.1:{free_port()}",
                     FERRY_AGGREGATE_INSTANCE=name, FERRY_AGGREGATE_SESSION_TIMEOUT="6s", **env)
    wait_ready(st)
    return st


def loadgen(prefix, *args, ids_file=None, background=False):
    cmd = [str(LOADGEN), "-b", BROKERS, "-P", prefix, *map(str, args)]
    if ids_file:
        cmd += ["-o", str(ids_file)]
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def read_ids(path):
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def tasks(prefix, count=None, timeout=30):
    msgs = kafka_consume(prefix + "webhooks", count=count, timeout=timeout)
    return [(m, m.json()) for m in msgs]


def final_statuses(prefix):
    final = {}
    for m in kafka_consume(prefix + "batch.status"):
        doc = m.json()
        final[doc["id"]] = doc
    return final


def check_batches(prefix, ids, expect_one_task=True):
    """Every batch of ids has exactly one batch.completed task whose body
    counts exactly, and a final completed status."""
    got = tasks(prefix, count=len(ids), timeout=60)
    per = {}
    for m, t in got:
        if t["event"] == "batch.completed":
            per.setdefault(t["batch_id"], []).append((m, t))
    assert set(per) == set(ids), f"missing: {set(ids) - set(per)}; extra: {set(per) - set(ids)}"
    for bid, (total, failed) in ids.items():
        if expect_one_task:
            assert len(per[bid]) == 1, f"{bid}: {len(per[bid])} batch.completed tasks"
        m, t = per[bid][0]
        body = json.loads(t["body"])
        assert body["event"] == "batch.completed" and body["id"] == bid
        assert body["status"] == "completed"
        assert (body["total"], body["processed"]) == (total, total), body
        assert body["failed"] == failed and body["succeeded"] == total - failed, body
        assert "tenant" not in body
        if "results" in body:  # inline: every index once, in order
            assert [r["index"] for r in body["results"]] == list(range(total)), bid
        else:
            assert body["results_truncated"] is True
            assert body["results_url"] == f"/v1/batch/{bid}/results"
        assert t["delivery_id"] == delivery_id(bid, "batch.completed")
        assert m.headers.get("ferry-event") == "batch.completed"
        assert m.headers.get("ferry-delivery") == t["delivery_id"]
        assert m.headers.get("ferry-batch") == bid and m.key == bid
    return per


# ------------------------------------------------------------------ tests


def test_aggregate_exact_counts_with_duplicates(start_stage, ferry_env, tmp_path):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_aggregate(start_stage)
    ids_file = tmp_path / "ids"
    # 30 batches of 40; 20% of results sent twice more (itself and an earlier one).
    loadgen(prefix, "-n", 30, "-i", 40, "-D", 20, "-w", "http://127.0.0.1:9/h", ids_file=ids_file)
    ids = read_ids(ids_file)
    per = check_batches(prefix, ids)

    # Inline results: every index once, in order, without batch_id/tenant.
    for bid, [(m, t)] in per.items():
        body = json.loads(t["body"])
        assert [r["index"] for r in body["results"]] == list(range(40))
        assert all("batch_id" not in r and "tenant" not in r for r in body["results"])
        assert body["errors"] == {"timeout": 4}
        assert t["url"] == "http://127.0.0.1:9/h" and t["secret_enc"] == "v1.test"
        assert t["tenant"] == "acme"
        assert body["completed_at"] and body["metadata"] == {"run": "loadgen"}

    # Every task and status document matches its schema.
    for _, t in (v[0] for v in per.values()):
        jsonschema.validate(t, schema("webhooks"))
    for m in kafka_consume(prefix + "batch.status"):
        jsonschema.validate(m.json(), schema("batch.status"))

    # The final status: tenant, completed, where the results lie.
    final = final_statuses(prefix)
    for bid in ids:
        doc = final[bid]
        assert doc["status"] == "completed" and doc["tenant"] == "acme"
        assert doc["processed"] == 40 and doc["progress"] == 1
        assert "results" not in doc
        loc = doc["kafka"]
        assert loc["results_topic"] == prefix + "scrape.results"
        assert 0 <= loc["first_offset"] <= loc["last_offset"]
    # A running snapshot came before each final one.
    running = {m.json()["id"] for m in kafka_consume(prefix + "batch.status")
               if m.json()["status"] == "running"}
    assert set(ids) <= running


def test_aggregate_inline_read_back_and_truncated(start_stage, ferry_env, tmp_path):
    """With no result cache the inline results are read back from
    scrape.results; past the inline cap the body links to them instead."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_aggregate(start_stage, FERRY_AGGREGATE_CACHE_BYTES="0",
                    FERRY_WEBHOOK_INLINE_MAX_BYTES="12000")
    ids_file = tmp_path / "ids"
    loadgen(prefix, "-n", 10, "-i", 25, "-D", 30, "-w", "http://127.0.0.1:9/h", ids_file=ids_file)
    small = read_ids(ids_file)
    loadgen(prefix, "-n", 3, "-i", 60, "-w", "http://127.0.0.1:9/h", ids_file=ids_file)
    big = read_ids(ids_file)
    per = check_batches(prefix, {**small, **big})
    for bid in small:
        assert "results" in json.loads(per[bid][0][1]["body"])
    for bid in big:
        body = json.loads(per[bid][0][1]["body"])
        assert body["results_truncated"] is True and "results" not in body
        assert len(per[bid][0][1]["body"]) < 12000


def test_aggregate_results_before_batch(start_stage, ferry_env):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_aggregate(start_stage)
    bid = new_batch_id()
    for i in range(3):
        put_result(prefix, result(bid, i, "ok" if i else "dns"))
    put_result(prefix, result(bid, 1))  # a duplicate while held
    # Held, not dropped, and nothing completes without the record.
    port = st.env["FERRY_AGGREGATE_METRICS_LISTEN"]
    wait_until(lambda: b"ferry_aggregate_pending_batches{} 1" in metrics(port), 20,
               what="the batch held as pending")
    assert tasks(prefix) == []
    put_batch(prefix, batch_record(bid, 4, events=("batch.completed", "item.completed")))
    put_result(prefix, result(bid, 3))
    got = tasks(prefix, count=5)
    events = sorted(t["event"] for _, t in got)
    assert events == ["batch.completed"] + ["item.completed"] * 4, events
    items = {json.loads(t["body"])["index"]: t for _, t in got if t["event"] == "item.completed"}
    assert sorted(items) == [0, 1, 2, 3]
    assert items[2]["delivery_id"] == delivery_id(bid, "item.completed", 2)
    body = next(json.loads(t["body"]) for _, t in got if t["event"] == "batch.completed")
    assert (body["processed"], body["succeeded"], body["failed"]) == (4, 3, 1)
    assert body["errors"] == {"dns": 1}
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]


def test_aggregate_bulk_results_before_batch(start_stage, ferry_env, tmp_path):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_aggregate(start_stage)
    ids_file = tmp_path / "ids"
    loadgen(prefix, "-n", 20, "-i", 30, "-D", 10, "-r", "-w", "http://127.0.0.1:9/h",
            ids_file=ids_file)
    check_batches(prefix, read_ids(ids_file))


def test_aggregate_cancel(start_stage, ferry_env):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_aggregate(start_stage)
    port = st.env["FERRY_AGGREGATE_METRICS_LISTEN"]
    a, b = new_batch_id(), new_batch_id()
    put_batch(prefix, batch_record(a, 10))
    for i in range(3):
        put_result(prefix, result(a, i))
    wait_until(lambda: any(m.json().get("processed") == 3
                           for m in kafka_consume(prefix + "batch.status")), 20,
               what="a progress snapshot with 3 processed")
    put_batch(prefix, {"type": "cancel", "id": a, "tenant": "acme", "cancelled_at": now_iso()},
              kind="cancel")
    # Cancelled before its record arrived: ends cancelled once it does.
    put_batch(prefix, {"type": "cancel", "id": b, "tenant": "acme", "cancelled_at": now_iso()},
              kind="cancel")
    put_batch(prefix, batch_record(b, 5, url=None))
    got = tasks(prefix, count=1)
    assert len(got) == 1  # b has no webhook: status only
    m, t = got[0]
    assert t["event"] == "batch.cancelled" and t["batch_id"] == a
    assert t["delivery_id"] == delivery_id(a, "batch.cancelled")
    body = json.loads(t["body"])
    assert body["status"] == "cancelled" and body["processed"] == 3
    final = wait_until(lambda: (lambda f: f if f.get(b, {}).get("status") == "cancelled" else None)(
        final_statuses(prefix)), 20, what="b cancelled")
    assert final[a]["status"] == "cancelled" and final[a]["completed_at"]
    # Results after the cancel are swallowed (counted as duplicates), and
    # nothing more is emitted for a.
    put_result(prefix, result(a, 5))
    put_result(prefix, result(a, 6))
    wait_until(lambda: b"ferry_aggregate_duplicates_total{} 2" in metrics(port), 20,
               what="late results swallowed")
    assert len([1 for _, t in tasks(prefix) if t["batch_id"] == a]) == 1


def metrics(port):
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://{port}/metrics", timeout=5) as r:
            return r.read()
    except OSError:
        return b""


def test_aggregate_poison_in_each_input(start_stage, ferry_env):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_aggregate(start_stage)
    bid = new_batch_id()
    kafka_produce(prefix + "scrape.results", b"{not json", key=bid)
    bad = batch_record(bid, 2)
    del bad["total"]
    put_batch(prefix, bad)
    put_result(prefix, dict(result(bid, 0), status="Exploded!"))  # not a status word
    # The stage goes on: a good batch after the poison completes.
    put_batch(prefix, batch_record(bid, 2))
    put_result(prefix, result(bid, 0))
    put_result(prefix, result(bid, 1))
    dlq = kafka_consume(prefix + "aggregate.dlq", count=3)
    assert len(dlq) == 3
    by_value = {m.value: m for m in dlq}
    assert b"{not json" in by_value
    assert by_value[b"{not json"].headers["ferry-origin"].startswith(prefix + "scrape.results/")
    assert "not JSON" in by_value[b"{not json"].headers["ferry-last-error"]
    errors = sorted(m.headers["ferry-last-error"] for m in dlq)
    assert any(e.startswith("total") for e in errors), errors
    assert any(e.startswith("status") for e in errors), errors
    assert any(m.headers["ferry-origin"].startswith(prefix + "batches/") for m in dlq)
    got = tasks(prefix, count=1)
    assert json.loads(got[0][1]["body"])["processed"] == 2
    port = st.env["FERRY_AGGREGATE_METRICS_LISTEN"]
    assert b"ferry_aggregate_dlq_total{} 3" in metrics(port)


@pytest.mark.long
def test_aggregate_sigkill_exactly_once(start_stage, ferry_env, tmp_path):
    """SIGKILL the aggregator at random moments (>= 8 times; >= 20 in the
    long form, make chaos) while batches flow in; every batch still gets
    exactly one batch.completed task with exact counts."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    env = {"FERRY_AGGREGATE_COMMIT_INTERVAL": "50ms"}
    st = start_aggregate(start_stage, **env)
    ids_file = tmp_path / "ids"
    # 96 batches x 40 items (240 in the long form), 60 in flight at once,
    # 10% re-sent: ~4,600 results (~11,500) at 600/s, so the run lasts ~8 s
    # (~20 s) while the kills go on.
    batches, min_kills = (240, 20) if LONG else (96, 8)
    gen = loadgen(prefix, "-n", batches, "-i", 40, "-c", 60, "-D", 10, "-R", 600,
                  "-w", "http://127.0.0.1:9/h", ids_file=ids_file, background=True)
    agg_env = {k: v for k, v in st.env.items() if k.startswith("FERRY_AGGREGATE")}
    kills = 0
    rng = random.Random()
    while (kills < min_kills or gen.poll() is None) and kills < 45:
        # One kill in four lands during start-up (init_transactions, group
        # join, restore); the others while the instance is processing.
        if rng.random() >= 0.25:
            wait_ready(st, 30)
        time.sleep(rng.uniform(0.05, 1.2))  # a random moment, not a wait for a condition
        st.kill()
        kills += 1
        agg_env["FERRY_AGGREGATE_METRICS_LISTEN"] = f"127.0.0.1:{free_port()}"
        st = start_stage("aggregate", **agg_env)
    assert gen.wait(60) == 0, gen.stderr.read()
    assert kills >= min_kills
    check_batches(prefix, read_ids(ids_file))


def completions(port):
    for line in metrics(port).decode().splitlines():
        if line.startswith('ferry_aggregate_completions_total{status="completed"}'):
            return int(line.split()[-1])
    return 0


def test_aggregate_two_instances_rebalance(start_stage, ferry_env, tmp_path):
    """Two instances share the partitions; one joins in the middle of a run
    and later leaves, so state moves twice through the changelog. No batch
    completes twice or never."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    env = {"FERRY_TOPIC_PARTITIONS": "4"}
    a = start_aggregate(start_stage, "a", **env)
    base = len(a.log())  # log files are appended to across runs
    ids_file = tmp_path / "ids"
    gen = loadgen(prefix, "-n", 360, "-i", 30, "-c", 60, "-D", 10, "-R", 1200,
                  "-w", "http://127.0.0.1:9/h", ids_file=ids_file, background=True)
    port_a = a.env["FERRY_AGGREGATE_METRICS_LISTEN"]
    wait_until(lambda: completions(port_a) >= 20, 30, what="a completing batches")
    b = start_aggregate(start_stage, "b", **env)
    port_b = b.env["FERRY_AGGREGATE_METRICS_LISTEN"]
    # Both own partitions now: a gave some up (revoked after committing).
    wait_until(lambda: "event=revoked" in a.log()[base:], 30, what="a revoking")
    wait_until(lambda: completions(port_b) >= 5, 30, what="b completing batches")
    assert gen.poll() is None, "the run ended before the rebalance"
    assert b.stop() == 0
    assert gen.wait(60) == 0, gen.stderr.read()
    per = check_batches(prefix, read_ids(ids_file))
    assert len(per) == 360
    # a restored b's partitions after b left (a second restore in a's log).
    assert len(re.findall(r"event=restored", a.log()[base:])) >= 2


def test_aggregate_deadline_fails_batch_and_state_expires(start_stage, ferry_env):
    """A batch not complete FERRY_BATCH_DEADLINE after created_at ends
    failed (one batch.failed task); finished state is tombstoned in the
    changelog after FERRY_AGGREGATE_DONE_TTL."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_aggregate(start_stage, FERRY_BATCH_DEADLINE="3s", FERRY_AGGREGATE_DONE_TTL="1s")
    bid = new_batch_id()
    put_batch(prefix, batch_record(bid, 5))
    put_result(prefix, result(bid, 0))
    put_result(prefix, result(bid, 3, "tls"))
    got = tasks(prefix, count=1, timeout=30)
    assert len(got) == 1
    m, t = got[0]
    assert t["event"] == "batch.failed" and t["delivery_id"] == delivery_id(bid, "batch.failed")
    body = json.loads(t["body"])
    assert body["status"] == "failed" and body["processed"] == 2 and body["failed"] == 1
    assert [r["index"] for r in body["results"]] == [0, 3]
    assert final_statuses(prefix)[bid]["status"] == "failed"

    def tombstoned():
        msgs = [m for m in kafka_consume(prefix + "aggregate.state") if m.key == bid]
        return msgs and msgs[-1].value is None

    wait_until(tombstoned, 30, what="the batch's state tombstoned")
