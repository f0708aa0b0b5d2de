"""Fixtures for ferry's integration tests: real stage processes against a real
Kafka broker (FERRY_KAFKA_BROKERS, set by tests/run.sh).

Each test gets its own topic prefix, so tests share one broker without seeing
each other's messages, and its own ports. Stage logs go to
$B/test-logs/<test>/<stage>.log and are printed when a test fails.

Helpers for test modules:
    start_stage (fixture)   start a stage binary; stopped (SIGTERM, 5 s) after the test
    ferry_env (fixture)     the FERRY_* environment of this test (prefix, brokers, keys)
    receiver (fixture)      a local webhook receiver that records requests
    kafka_consume(...)      read a topic (read_committed) with kcat
    kafka_produce(...)      write one message with kcat
    http(...)               one HTTP request, returns Resp
    wait_until(fn, ...)     poll a condition with a deadline (never a bare sleep)
    free_port()
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("FERRY_TEST_BUILD", ROOT / "build"))
LOGS = Path(os.environ.get("FERRY_TEST_LOGS", BUILD / "test-logs"))
BROKERS = os.environ.get("FERRY_KAFKA_BROKERS", "127.0.0.1:19092")
SECRET_KEY = "5f" * 32  # FERRY_SECRET_KEY for tests: 32 bytes as hex
# A fault or load test marked `long` has two forms: make test runs the short
# one; make chaos runs the long one (FERRY_TEST_LONG=1 tests/run.sh
# --integration-only -m long), more faults over more work, the same checks.
LONG = os.environ.get("FERRY_TEST_LONG") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "long: has a long form, run by make chaos "
                            "(FERRY_TEST_LONG=1); make test runs its short form")


# The ports of the programs a test starts: tests/ports.py.
sys.path.insert(0, str(ROOT / "tests"))
from ports import free_port, free_ports  # noqa: E402,F401


def wait_until(fn, timeout=20.0, interval=0.05, what="condition"):
    """Calls fn until it returns a truthy value; returns it. Fails the test at
    the deadline, naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- processes


class Stage:
    """One running stage program."""

    def __init__(self, name, env, args, log_path):
        self.name = name
        self.log_path = log_path
        self.env = env
        self.args = list(args)
        self.proc = None

    def start(self):
        """Starts (or restarts) the process; wait_log() then looks only at
        what this run writes."""
        self._log = open(self.log_path, "ab")
        self._log_from = self._log.tell()
        self.proc = subprocess.Popen(
            [str(BUILD / f"ferry-{self.name}"), *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def log(self):
        """Everything this stage logged in this test (all its runs)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def current_log(self):
        """What the current run of the process logged."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_from)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=30.0):
        """Waits for a log line matching the regex; returns the match."""
        rx = re.compile(pattern)

        def found():
            if self.proc.poll() is not None:
                pytest.fail(f"ferry-{self.name} exited ({self.proc.returncode}) "
                            f"while waiting for /{pattern}/:\n{self.log()[-3000:]}")
            return rx.search(self.current_log())

        return wait_until(found, timeout, what=f"ferry-{self.name} log /{pattern}/")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM, and the stage must exit within timeout. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"ferry-{self.name} did not stop within {timeout}s of SIGTERM")

    def kill(self):
        """SIGKILL: a crash, nothing flushed."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def ferry_env():
    prefix = f"t{uuid.uuid4().hex[:10]}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update({
        "FERRY_KAFKA_BROKERS": BROKERS,
        "FERRY_TOPIC_PREFIX": prefix,
        "FERRY_TOPIC_PARTITIONS": "2",
        "FERRY_LOG_LEVEL": "info",
        "FERRY_ALLOW_PRIVATE_NETWORKS": "1",
        "FERRY_WEBHOOK_ALLOW_HTTP": "1",
        "FERRY_SECRET_KEY": SECRET_KEY,
        "FERRY_API_KEYS": "key-acme:acme,key-globex:globex",
        "FERRY_WEBHOOK_RETRY_TIERS": "1s,2s",
        "FERRY_SCRAPE_RETRY_TIERS": "1s,2s",
        # Every request in scrape.requests, where the tests that read
        # ingest's output look; test_fairness turns the small lane on.
        "FERRY_SMALL_BATCH_ITEMS": "0",
    })
    return env


@pytest.fixture
def start_stage(request, ferry_env):
    """start_stage("ingest", FERRY_LISTEN=..., args=[...]) -> Stage (started).
    Every stage started here gets SIGTERM at teardown and must exit in 5 s."""
    started = []
    logdir = LOGS / re.sub(r"[^\w.-]", "_", request.node.name)
    shutil.rmtree(logdir, ignore_errors=True)  # a previous run's lines must not match
    logdir.mkdir(parents=True, exist_ok=True)

    def start(name, args=(), **env):
        full = dict(ferry_env)
        full.update({k: str(v) for k, v in env.items()})
        n = sum(1 for s in started if s.name == name)
        st = Stage(name, full, args, logdir / f"{name}{'-' + str(n) if n else ''}.log")
        started.append(st.start())
        return st

    yield start
    failed = []
    for st in started:
        if st.running():
            rc = st.stop()
            if rc not in (0, None):
                failed.append(f"ferry-{st.name} exited {rc} on SIGTERM")
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for st in started:
            print(f"\n----- ferry-{st.name} log (last 4000 bytes) -----\n{st.log()[-4000:]}")
    if failed:
        pytest.fail("; ".join(failed))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


# ---------------------------------------------------------------- Kafka


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    headers: dict = field(default_factory=dict)

    def json(self):
        return json.loads(self.value)


def _kcat_read(topic, committed, extra=()):
    # fetch.wait.max.ms: the broker answers a fetch at the end of a
    # partition at once, not after librdkafka's default 500 ms, so a read
    # to the end (-e) takes milliseconds, not one or two half-seconds.
    cmd = ["kcat", "-C", "-b", BROKERS, "-t", topic, "-o", "beginning", "-e", "-q", "-J",
           "-X", "isolation.level=" + ("read_committed" if committed else "read_uncommitted"),
           "-X", "fetch.wait.max.ms=10", *extra]
    out = subprocess.run(cmd, capture_output=True, timeout=60)
    if out.returncode != 0 and b"Unknown topic" in out.stderr:
        return []
    msgs = []
    for line in out.stdout.splitlines():
        if not line.strip():
            continue
        # kcat writes a value that is not UTF-8 (a poison record) as it is
        j = json.loads(line.decode("utf-8", "replace"))
        h = j.get("headers") or []
        headers = {h[i]: h[i + 1] for i in range(0, len(h) - 1, 2)}
        payload = j.get("payload")
        msgs.append(Msg(j["topic"], j["partition"], j["offset"], j.get("key"),
                        payload.encode() if payload is not None else None, headers))
    return msgs


def kafka_consume(topic, count=None, timeout=20.0, committed=True):
    """All messages of a topic from the beginning (read_committed by default).
    With count, waits until at least that many are there."""
    if count is None:
        return _kcat_read(topic, committed)
    return wait_until(lambda: (lambda m: m if len(m) >= count else None)(
        _kcat_read(topic, committed)), timeout, interval=0.3,
        what=f"{count} messages in {topic}")


def kafka_produce(topic, value, key=None, headers=None, partition=None):
    """Writes one message (value: bytes, str or a JSON-able object)."""
    if not isinstance(value, (bytes, str)):
        value = json.dumps(value)
    if isinstance(value, str):
        value = value.encode()
    with tempfile.NamedTemporaryFile() as f:
        f.write(value)
        f.flush()
        cmd = ["kcat", "-P", "-b", BROKERS, "-t", topic, "-X", "partitioner=murmur2_random"]
        if key is not None:
            cmd += ["-k", key]
        if partition is not None:
            cmd += ["-p", str(partition)]
        for k, v in (headers or {}).items():
            cmd += ["-H", f"{k}={v}"]
        subprocess.run(cmd + [f.name], check=True, capture_output=True, timeout=30)


# ---------------------------------------------------------------- HTTP


@dataclass
class Resp:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def http(method, url, body=None, headers=None, timeout=15.0):
    """One request; never raises on an HTTP error status."""
    data = body
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        data = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(data, str):
        data = data.encode()
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


# ---------------------------------------------------------------- webhook receiver


@dataclass
class Received:
    at: float
    method: str
    path: str
    headers: dict
    body: bytes


class Receiver:
    """A local HTTP receiver. `plan` is consumed one action per request:
    an int status, ("status", code, extra_headers), ("hang", seconds),
    ("close",) to drop the connection; when empty, answers `default`."""

    def __init__(self):
        self.requests = []
        self.plan = []
        self.default = 200
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append(Received(time.time(), "POST", self.path,
                                                   {k.lower(): v for k, v in self.headers.items()},
                                                   body))
                    action = outer.plan.pop(0) if outer.plan else outer.default
                if isinstance(action, int):
                    action = ("status", action, {})
                if action[0] == "hang":
                    time.sleep(action[1])
                    return
                if action[0] == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                _, code, extra = action
                self.send_response(code)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, n, timeout=30.0):
        return wait_until(lambda: self.requests[:] if len(self.requests) >= n else None,
                          timeout, what=f"{n} webhook requests")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()
