"""The recipes of schemas/TOPICS.md, run as the guide writes them (only the
brokers, the topic prefix and the groups made this test's own) against the
real stages: follow results with kcat and with Python, re-run aggregation
from a time, re-drive the webhook dead letters, tap the attempts."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

from conftest import BROKERS, ROOT, kafka_consume, wait_until
from pipeline import Site, start_pipeline

GUIDE = ROOT / "schemas" / "TOPICS.md"
KAFKA_LIBS = ROOT / "compose" / ".cache" / "kafka" / "libs"


def recipe(name, prefix):
    text = GUIDE.read_text()
    m = re.search(rf"<!-- recipe: {name} -->\n```\w+\n(.*?)```\n", text, re.S)
    assert m, f"TOPICS.md has no recipe {name}"
    code = m.group(1).replace("localhost:9092", BROKERS).replace("ferry.", prefix)
    return code.replace("--group ferry-", f"--group {prefix}ferry-")


class Running:
    """A recipe left running (a follower); its output lines as they come."""

    def __init__(self, cmd, env=None):
        self.out, self.err = [], []
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, start_new_session=True)
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(x.decode()) for x in s],
                             daemon=True).start()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)


def python_recipe(tmp_path, name, prefix, *args, **kw):
    path = tmp_path / f"{name}.py"
    path.write_text(recipe(name, prefix))
    return [sys.executable, str(path), *args]


def test_follow_results_with_kcat_and_python(start_stage, ferry_env, tmp_path):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    p = start_pipeline(start_stage, only=("ingest", "scrape"))
    kcat = Running(["bash", "-c", recipe("kcat-follow", prefix)])
    try:
        with Site() as site:
            n = 12
            bid = p.submit({"urls": [f"{site.url}/p{i}" for i in range(n)] +
                            [f"{site.url}/gone"]})["id"]
            n += 1
            py = subprocess.run(python_recipe(tmp_path, "python-follow", prefix, bid, str(n),
                                              prefix + "follow-test"),
                                capture_output=True, timeout=90)
            assert py.returncode == 0, py.stderr
            rows = [x.split(" ", 3) for x in py.stdout.decode().splitlines()]
            assert sorted(int(r[0]) for r in rows) == list(range(n))
            by = {int(r[0]): r for r in rows}
            assert by[n - 1][1:3] == ["not_found", "404"] and by[0][1:3] == ["ok", "200"]
            assert by[3][3] == f"{site.url}/p3"

            def kcat_lines():
                got = {}
                for line in kcat.out:
                    key, _, value = line.partition(" ")
                    if key == bid:
                        got[json.loads(value)["index"]] = json.loads(value)
                return got if len(got) == n else None

            got = wait_until(kcat_lines, timeout=30, what="kcat's lines")
            assert got[n - 1]["status"] == "not_found" and got[0]["batch_id"] == bid
    finally:
        kcat.stop()


def _consumer_groups_tool(tmp_path):
    if not KAFKA_LIBS.is_dir():
        pytest.skip("Kafka's tools are not in compose/.cache (an external cluster)")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "kafka-consumer-groups.sh"
    tool.write_text("#!/bin/sh\nexec java -Xshare:auto -XX:TieredStopAtLevel=1 "
                    f"-Dlog4j.configuration=file:{ROOT}/compose/kafka/log4j.properties "
                    f"-cp '{KAFKA_LIBS}/*' "
                    "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \"$@\"\n")
    tool.chmod(0o755)
    return bindir


def test_rerun_aggregation_from_a_time(start_stage, ferry_env, receiver, tmp_path):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    bindir = _consumer_groups_tool(tmp_path)
    # a finished batch is forgotten at once, so the replay counts it again
    p = start_pipeline(start_stage, FERRY_AGGREGATE_DONE_TTL="0s")
    since = datetime.now(timezone.utc)
    with Site() as site:
        bid = p.submit({"urls": [f"{site.url}/p{i}" for i in range(5)] + [f"{site.url}/gone"],
                        "webhook_url": receiver.url + "/hook"})["id"]
        first = p.wait_final(bid, webhook=True)
    hook = receiver.wait_for(1)[0]
    assert (first["processed"], first["succeeded"]) == (6, 5)
    aggregate = p.stages["aggregate"]
    assert aggregate.stop() == 0
    frm = since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", FROM=frm)
    r = subprocess.run(["bash", "-c", recipe("rerun-aggregation", prefix)], env=env,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert prefix + "scrape.results" in r.stdout.decode()
    aggregate.start()
    again = receiver.wait_for(2, timeout=60)[1]
    assert again.headers["x-ferry-delivery"] == hook.headers["x-ferry-delivery"]
    assert again.headers["x-ferry-event"] == "batch.completed"
    body = json.loads(again.body)
    assert (body["id"], body["processed"], body["succeeded"], body["errors"]) == (
        bid, 6, 5, {"not_found": 1})
    finals = [m.json() for m in kafka_consume(prefix + "batch.status") if m.key == bid and
              m.json()["status"] == "completed"]
    assert len(finals) >= 2 and all(f["processed"] == 6 for f in finals)


def test_redrive_dead_letters_and_tap_attempts(start_stage, ferry_env, receiver, tmp_path):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    p = start_pipeline(start_stage)
    tap = Running(python_recipe(tmp_path, "tap-attempts", prefix, prefix + "tap-test"))
    try:
        receiver.default = 500  # every attempt fails: 1 + two tiers, then the dead letters
        with Site() as site:
            bid = p.submit({"urls": [f"{site.url}/p1"], "webhook_url": receiver.url + "/h"})["id"]
            dlq = kafka_consume(prefix + "webhooks.dlq", 1, timeout=60)
        assert dlq[0].key == bid
        wait_until(lambda: p.status(bid).get("webhook", {}).get("status") == "failed",
                   timeout=30, what="the webhook given up")
        assert len(receiver.requests) == 3

        receiver.default = 200  # the receiver is fixed
        redrive = python_recipe(tmp_path, "redrive-dlq", prefix, prefix + "redrive-test")
        r = subprocess.run(redrive, capture_output=True, timeout=90)
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().strip() == "re-driven: 1"
        fourth = receiver.wait_for(4, timeout=30)[3]
        assert fourth.headers["x-ferry-delivery"] == receiver.requests[0].headers[
            "x-ferry-delivery"]
        assert fourth.body == receiver.requests[0].body  # the same signed bytes
        d = wait_until(lambda: (lambda d: d if d["webhook"]["status"] == "delivered" else None)(
            p.status(bid)), timeout=30, what="delivered after the re-drive")
        assert d["webhook"]["attempts"] == 4
        r = subprocess.run(redrive, capture_output=True, timeout=90)  # nothing new since
        assert r.returncode == 0 and r.stdout.decode().strip() == "re-driven: 0", r.stderr

        lines = wait_until(lambda: (lambda x: x if len(x) >= 4 else None)(
            [json.loads(x) for x in tap.out]), timeout=30, what="the tap's four lines")
        assert [(x["batch_id"], x["attempt"], x["outcome"]) for x in lines] == [
            (bid, 1, "retrying"), (bid, 2, "retrying"), (bid, 3, "dead"), (bid, 1, "delivered")]
        assert lines[0]["status_code"] == 500 and lines[3]["status_code"] == 200
        assert any(x.startswith(f"ALERT webhook {lines[2]['delivery_id']} of {bid} given up "
                                f"after 3 attempts") for x in tap.err), tap.err
    finally:
        tap.stop()


def test_submit_by_producing(start_stage, ferry_env, tmp_path):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    p = start_pipeline(start_stage, only=("ingest",))
    body = tmp_path / "batch.json"
    body.write_text(json.dumps({"urls": ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]}))

    # the kcat line: its reply comes on the replies topic under the key
    env = dict(os.environ, KEY="order-7", TENANT="acme", BODY_FILE=str(body))
    r = subprocess.run(["bash", "-c", recipe("kcat-submit", prefix)], env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    reply, = kafka_consume(prefix + "submit.replies", 1, timeout=60)
    assert reply.key == "order-7" and reply.headers["ferry-status"] == "202"
    first = reply.json()
    assert first["total"] == 2 and p.status(first["id"])["status"] in ("queued", "running")

    def submit(key, data):
        return subprocess.run(python_recipe(tmp_path, "python-submit", prefix, "acme", key),
                              input=data, capture_output=True, timeout=90)

    # another key through the Python recipe: another batch (the same key
    # again is test_kafka_submit.test_the_key_is_the_idempotency_key's)
    r = submit("order-8", body.read_bytes())
    status, _, answer = r.stdout.decode().partition(" ")
    assert r.returncode == 0 and status == "202", r.stdout + r.stderr
    assert json.loads(answer)["id"] != first["id"]
    r = submit("order-9", b"{not json")
    assert r.returncode == 1 and r.stdout.decode().startswith("400 "), r.stdout + r.stderr
