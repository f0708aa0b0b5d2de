"""The whole pipeline for tests that use ferry as its users do (the CLI, the
receiver examples, the topic guide's recipes, /metrics): the four stages
started and ready, and a local site to scrape.

    p = start_pipeline(start_stage)      # after the start_stage fixture
    p.base, p.metrics["scrape"], p.stages["aggregate"], ...
    with Site() as site: site.url + "/p1"
"""

import contextlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import free_port, http, wait_until

ACME = {"Authorization": "Bearer key-acme"}
STAGES = ("ingest", "scrape", "aggregate", "deliver")


@dataclass
class Pipeline:
    base: str
    metrics: dict = field(default_factory=dict)  # stage -> base URL of its /metrics
    stages: dict = field(default_factory=dict)  # stage -> Stage

    def submit(self, body, headers=ACME):
        r = http("POST", self.base + "/v1/batch", body, headers)
        assert r.status == 202, r.body
        return r.json()

    def status(self, bid):
        return http("GET", f"{self.base}/v1/batch/{bid}", headers=ACME).json()

    def wait_final(self, bid, timeout=90, webhook=False):
        def final():
            d = self.status(bid)
            if d.get("status") not in ("completed", "failed", "cancelled"):
                return None
            if webhook and (d.get("webhook") or {}).get("status") != "delivered":
                return None
            return d

        return wait_until(final, timeout=timeout, what=f"{bid} final")


def start_pipeline(start_stage, only=STAGES, **env):
    """Starts the stages in `only` with their HTTP ports on free ports and
    waits until each is ready; extra env goes to every stage."""
    port = free_port()
    p = Pipeline(base=f"http://127.0.0.1:{port}")
    for name in only:
        extra = dict(env)
        if name == "ingest":
            extra["FERRY_LISTEN"] = f"127.0.0.1:{port}"
            p.metrics[name] = p.base
        else:
            mport = free_port()
            extra[f"FERRY_{name.upper()}_METRICS_LISTEN"] = f"127.0.0.1:{mport}"
            p.metrics[name] = f"http://127.0.0.1:{mport}"
        p.stages[name] = start_stage(name, **extra)
    for name, st in p.stages.items():
        st.wait_log(r"event=topics_ready", timeout=60)

    def ready():
        try:
            return all(http("GET", m + "/healthz", timeout=2).status == 200
                       for m in p.metrics.values())
        except OSError:
            return False

    wait_until(ready, timeout=60, what="every stage's /healthz")
    return p


class Site:
    """A local site: /p<N> is a small HTML page; /slow<N> answers after
    `slow_s` seconds; /hang waits until close(); /gone is 404; /flaky<N>
    answers 503 the first time, then the page."""

    def __init__(self, slow_s=0.5):
        self.slow_s = slow_s
        self.closing = threading.Event()
        self.flaky_seen = set()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.startswith("/hang"):
                    outer.closing.wait(60)
                    self.close_connection = True  # no answer: the fetch fails at once
                    return
                if self.path.startswith("/slow"):
                    time.sleep(outer.slow_s)
                code = 404 if self.path.startswith("/gone") else 200
                if self.path.startswith("/flaky") and self.path not in outer.flaky_seen:
                    outer.flaky_seen.add(self.path)
                    code = 503
                body = (f"<html><head><title>{self.path}</title></head>"
                        f"<body><p>page {self.path}</p></body></html>").encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.closing.set()
        self.srv.shutdown()
        self.srv.server_close()


@contextlib.contextmanager
def serve(answer):
    """A local site whose GET answers come from answer(path, headers) ->
    (status, body bytes); yields its base URL."""

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            code, body = answer(self.path, self.headers)
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
