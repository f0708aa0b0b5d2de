"""ingest while Kafka is away: a submit answers 503 within a bounded time and
leaves nothing a read_committed consumer could see, also after the broker
returns. Runs against a broker of its own (stopping the shared one would
break every other test)."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, free_port, free_ports, http, wait_until

# The broker binds this port and the next: two from this run's block, not a
# fixed port (two checkouts running this test at once shared one broker, and
# the first to finish stopped it under the other).
PORT = int(os.environ.get("FERRY_INGEST_DOWN_KAFKA_PORT") or free_ports(2))
BROKERS = f"127.0.0.1:{PORT}"
ACME = {"Authorization": "Bearer key-acme"}


def kafka_sh(cmd):
    env = {k: v for k, v in os.environ.items()
           if k not in ("FERRY_KAFKA_BROKERS", "FERRY_LOCAL_KAFKA_DIR")}
    env["FERRY_LOCAL_KAFKA_PORT"] = str(PORT)
    return subprocess.run([str(ROOT / "compose" / "kafka.sh"), cmd], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def own_broker():
    out = kafka_sh("start")
    assert out.returncode == 0, out.stdout + out.stderr
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"ferry-kafka-{PORT}"
    pid = int((data / "kafka.pid").read_text().split()[0])
    yield pid
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    kafka_sh("stop")


def read_committed(topic):
    out = subprocess.run(["kcat", "-C", "-b", BROKERS, "-t", topic, "-o", "beginning", "-e", "-q",
                          "-J", "-X", "isolation.level=read_committed",
                          "-X", "fetch.wait.max.ms=10"],  # as conftest's reads: no 500 ms waits
                         capture_output=True, timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def health(base):
    try:
        return http("GET", base + "/healthz", timeout=5).status
    except OSError:
        return None


def test_submit_while_kafka_is_away(start_stage, ferry_env, own_broker):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    p = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_stage("ingest", FERRY_LISTEN=f"127.0.0.1:{port}", FERRY_KAFKA_BROKERS=BROKERS,
                     FERRY_SUBMIT_TIMEOUT="3s", FERRY_INGEST_PRODUCERS="1")
    wait_until(lambda: st.running() and health(base) == 200,
               timeout=60, what="ingest ready")

    def submit(url):
        return http("POST", base + "/v1/batch", {"urls": [url, url + "/2"]}, ACME, timeout=30)

    ok = submit("https://before.example")
    assert ok.status == 202, ok.body
    before = ok.json()["id"]

    # 1. The broker hangs (SIGSTOP): requests are sent and never answered.
    os.kill(own_broker, signal.SIGSTOP)
    t0 = time.monotonic()
    r = submit("https://frozen.example")
    took = time.monotonic() - t0
    assert r.status == 503, r.body
    assert r.json()["error"]["code"] == "kafka_unavailable"
    assert took < 9, f"503 after {took:.1f}s"
    # Status of known batches is still served from memory.
    assert http("GET", f"{base}/v1/batch/{before}", headers=ACME).status == 200
    wait_until(lambda: health(base) == 503, timeout=15,
               what="/healthz reports Kafka unreachable")

    # 2. The broker comes back: ingest recovers by itself, and the aborted
    #    submit never becomes visible.
    os.kill(own_broker, signal.SIGCONT)
    wait_until(lambda: health(base) == 200, timeout=60,
               what="ingest ready again")
    after = wait_until(lambda: (lambda r: r if r.status == 202 else None)(
        submit("https://after.example")), timeout=60, what="a submit accepted again").json()["id"]
    batches = wait_until(lambda: (lambda m: m if any(x["key"] == after for x in m) else None)(
        read_committed(p + "batches")), timeout=30, what="the recovered batch")
    assert sorted(x["key"] for x in batches) == sorted([before, after])
    reqs = wait_until(lambda: (lambda m: m if len(m) >= 4 else None)(
        read_committed(p + "scrape.requests")), timeout=30, what="4 requests")
    urls = sorted(json.loads(x["payload"])["url"] for x in reqs)
    assert urls == ["https://after.example/", "https://after.example/2",
                    "https://before.example/", "https://before.example/2"]
    status = wait_until(lambda: (lambda m: m if len(m) >= 2 else None)(
        read_committed(p + "batch.status")), timeout=30, what="both queued status records")
    assert sorted(x["key"] for x in status) == sorted([before, after])

    # 3. The broker is gone (stopped): 503 again, within the bound.
    out = kafka_sh("stop")
    assert out.returncode == 0, out.stderr
    t0 = time.monotonic()
    r = submit("https://stopped.example")
    assert r.status == 503, r.body
    assert time.monotonic() - t0 < 9
    assert http("GET", f"{base}/v1/batch/{after}", headers=ACME).status == 200
    assert st.running()
