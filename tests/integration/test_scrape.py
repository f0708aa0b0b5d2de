"""scrape: real ferry-scrape processes against the real broker and a local
HTTP server that misbehaves on purpose (redirect chains, slow and endless
bodies, gzip, wrong charsets, 429 with Retry-After, resets, hangs).

Requests go into the test's scrape.requests topic with kcat; results are
read back from scrape.results and asserted on, item by item."""

import base64
import gzip
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest

from conftest import BROKERS, free_port, http, kafka_consume, kafka_produce, wait_until

PAGES = Path(__file__).resolve().parent / "scrape_pages"
ROOT = Path(__file__).resolve().parents[2]
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082")


# ---------------------------------------------------------------- test server


class Site:
    """A local HTTP server with one route per misbehaviour. Counts hits per
    path (for retry assertions)."""

    def __init__(self):
        self.hits = {}
        self.concurrent = self.max_concurrent = 0
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, code, body=b"", ctype="text/html; charset=utf-8", extra=None):
                self.send_response(code)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                with outer.lock:
                    outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                    n = outer.hits[self.path]
                p = u.path
                if p.startswith("/page/"):
                    name = p[len("/page/"):]
                    ctype = q.get("ct", "text/html")
                    self.send(200, (PAGES / name).read_bytes(), ctype)
                elif p == "/hello":
                    self.send(200, b"<html><head><title>Hello</title></head>"
                                   b"<body><p>hello world</p></body></html>")
                elif p.startswith("/chain/"):
                    left = int(p.split("/")[2])
                    if left == 0:
                        self.send(200, b"<p>end of chain</p>")
                    else:
                        self.send(302, b"", None, {"Location": f"/chain/{left - 1}"})
                elif p == "/redirect-to":
                    self.send(302, b"", None, {"Location": q["url"]})
                elif p == "/slow":
                    with outer.lock:
                        outer.concurrent += 1
                        outer.max_concurrent = max(outer.max_concurrent, outer.concurrent)
                    time.sleep(int(q.get("ms", "300")) / 1000)
                    with outer.lock:
                        outer.concurrent -= 1
                    self.send(200, b"<p>slow but fine</p>")
                elif p == "/hang":
                    time.sleep(15)
                elif p == "/endless":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"x" * 16384
                    try:
                        for _ in range(100000):
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    except OSError:
                        pass
                    self.close_connection = True
                elif p == "/gzip":
                    body = gzip.compress("<p>compressed caf\u00e9</p>".encode())
                    self.send(200, body, "text/html; charset=utf-8", {"Content-Encoding": "gzip"})
                elif p == "/latin1-meta":
                    body = ('<html><head><meta charset="iso-8859-1"><title>Cr\u00e8me</title></head>'
                            '<body><p>cr\u00e8me br\u00fbl\u00e9e</p></body></html>').encode("latin-1")
                    self.send(200, body, "text/html")
                elif p == "/false-utf8":
                    body = "<p>na\u00efve caf\u00e9</p>".encode("cp1252")
                    self.send(200, body, "text/html; charset=utf-8")
                elif p == "/rate-limited":
                    if n == 1:
                        self.send(429, b"slow down", "text/plain", {"Retry-After": q.get("ra", "1")})
                    else:
                        self.send(200, b"<p>thanks for waiting</p>")
                elif p == "/unavailable":
                    self.send(503, b"down", "text/plain")
                elif p == "/missing":
                    self.send(404, b"nope", "text/plain")
                elif p == "/reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                elif p == "/binary":
                    self.send(200, PNG, "image/png")
                elif p == "/headers":
                    body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
                    self.send(200, body, "application/json")
                elif p == "/big":
                    self.send(200, b"y" * int(q["n"]), "text/plain")
                else:
                    self.send(404, b"no route", "text/plain")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


@pytest.fixture
def tls_site():
    """The same site over HTTPS with a self-signed certificate (untrusted)."""
    s = Site()
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", f"{d}/k.pem", "-out", f"{d}/c.pem"],
                       check=True, capture_output=True, timeout=60)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{d}/c.pem", f"{d}/k.pem")
    s.server.socket = ctx.wrap_socket(s.server.socket, server_side=True)
    s.url = s.url.replace("http://", "https://")
    yield s
    s.close()


# ---------------------------------------------------------------- helpers


def produce_requests(prefix, reqs):
    """Writes many requests in one kcat run (key = batch id)."""
    lines = "".join(f"{r['batch_id']}\t{json.dumps(r)}\n" for r in reqs)
    subprocess.run(["kcat", "-P", "-b", BROKERS, "-t", prefix + "scrape.requests", "-K", "\t",
                    "-X", "partitioner=murmur2_random"],
                   input=lines.encode(), check=True, capture_output=True, timeout=60)


def req(batch, index, url, formats=None, **options):
    r = {"batch_id": batch, "tenant": "acme", "index": index, "url": url,
         "formats": formats or ["html"]}
    headers = options.pop("headers", None)
    if headers:
        r["headers"] = headers
    if options:
        r["options"] = options
    return r


def results_by_index(prefix, batch, count, timeout=60.0):
    """Waits until `count` distinct items of batch have a result; returns
    {index: result} (the first result per index)."""
    def got():
        out = {}
        for m in kafka_consume(prefix + "scrape.results"):
            r = m.json()
            if r["batch_id"] == batch and r["index"] not in out:
                r["_headers"] = m.headers
                out[r["index"]] = r
        return out if len(out) >= count else None
    return wait_until(got, timeout, interval=0.5, what=f"{count} results of {batch}")


def start_scrape(start_stage, args=(), **env):
    port = free_port()
    env.setdefault("FERRY_SCRAPE_METRICS_LISTEN", f"127.0.0.1:{port}")
    st = start_stage("scrape", args=args, **env)
    st.metrics_port = port
    # /healthz answers 200 once the fetch workers run (the log file may hold
    # lines of an earlier run of the same test, so it is not waited on).
    def healthy():
        if st.proc.poll() is not None:
            pytest.fail(f"ferry-scrape exited ({st.proc.returncode}):\n{st.log()[-3000:]}")
        try:
            return http("GET", f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
        except OSError:
            return False
    wait_until(healthy, 60, interval=0.1, what="ferry-scrape /healthz")
    return st


def metric(st, series):
    body = http("GET", f"http://127.0.0.1:{st.metrics_port}/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(series + " ") or line.startswith(series + "{} "):
            return int(float(line.split()[-1]))
    return 0


def fetched_ok(st):
    return metric(st, 'ferry_scrape_fetches_total{outcome="ok"}')


# ---------------------------------------------------------------- tests


def test_scrape_outcomes(start_stage, ferry_env, site, tls_site):
    """One batch exercising every outcome of the taxonomy, retries included
    (tiers 1s,2s: three attempts in all)."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_scrape(start_stage, FERRY_SCRAPE_MAX_REDIRECTS="5")
    b = "bat_outcomes"
    u = site.url
    cases = [
        req(b, 0, u + "/hello", ["html", "text"]),
        req(b, 1, u + "/chain/3"),
        req(b, 2, u + "/chain/8"),                                    # over the redirect limit
        req(b, 3, u + "/slow?ms=300"),
        req(b, 4, u + "/hang", timeout_ms=1500),                      # timeout, retried twice
        req(b, 5, u + "/endless", max_bytes=200000),
        req(b, 6, u + "/gzip", ["html", "text"]),
        req(b, 7, u + "/latin1-meta", ["html", "text", "metadata"]),
        req(b, 8, u + "/false-utf8", ["html"]),
        req(b, 9, u + "/rate-limited?ra=3"),                          # 429, then fine
        req(b, 10, u + "/unavailable"),                               # 503 on every attempt
        req(b, 11, u + "/missing"),
        req(b, 12, u + "/reset"),
        req(b, 13, u + "/binary", ["html", "text"]),
        req(b, 14, u + "/headers", ["text"], headers={"X-Ferry-Test": "yes",
                                                     "Accept-Language": "es"}),
        req(b, 15, "http://no-such-host.invalid/"),
        req(b, 16, "ftp://example.com/file"),
        req(b, 17, "not a url at all"),
        req(b, 18, u + "/big?n=5000", max_bytes=4000),                # Content-Length over cap
        req(b, 19, u + "/chain/2", follow_redirects=False),
        req(b, 20, tls_site.url + "/hello"),                          # untrusted certificate
    ]
    produce_requests(prefix, cases)
    res = results_by_index(prefix, b, len(cases), timeout=60)

    assert res[0]["status"] == "ok" and res[0]["http_status"] == 200
    assert res[0]["data"]["text"] == "hello world" and "<title>Hello</title>" in res[0]["data"]["html"]
    assert res[0]["attempts"] == 1 and res[0]["_headers"]["ferry-index"] == "0"
    assert res[1]["status"] == "ok" and res[1]["final_url"] == u + "/chain/0"
    assert res[1]["data"]["html"] == "<p>end of chain</p>"
    assert res[2]["status"] == "http_error" and "redirect" in res[2]["error"]
    assert res[3]["status"] == "ok" and res[3]["duration_ms"] >= 300
    assert res[4]["status"] == "timeout" and res[4]["attempts"] == 3
    assert site.hits["/hang"] == 3
    assert res[5]["status"] == "too_large" and res[5]["data"] is None
    assert res[6]["status"] == "ok" and res[6]["data"]["text"] == "compressed caf\u00e9"
    assert res[7]["status"] == "ok" and res[7]["data"]["text"] == "cr\u00e8me br\u00fbl\u00e9e"
    assert res[7]["data"]["metadata"]["title"] == "Cr\u00e8me"
    assert res[8]["data"]["html"] == "<p>na\u00efve caf\u00e9</p>"
    assert res[9]["status"] == "ok" and res[9]["attempts"] == 2
    assert res[10]["status"] == "http_error" and res[10]["http_status"] == 503
    assert res[10]["attempts"] == 3 and site.hits["/unavailable"] == 3
    assert res[11]["status"] == "not_found" and res[11]["http_status"] == 404
    assert res[11]["attempts"] == 1
    assert res[12]["status"] == "connect" and res[12]["attempts"] == 3
    assert res[13]["status"] == "ok" and res[13]["content_type"] == "image/png"
    assert base64.b64decode(res[13]["data"]["base64"]) == PNG
    echoed = json.loads(res[14]["data"]["text"])
    assert echoed["x-ferry-test"] == "yes" and echoed["accept-language"] == "es"
    assert "gzip" in echoed["accept-encoding"] and echoed["user-agent"].startswith("ferry/")
    assert res[15]["status"] == "dns"
    assert res[16]["status"] == "invalid_url" and res[17]["status"] == "invalid_url"
    assert res[18]["status"] == "too_large"
    assert res[19]["status"] == "ok" and res[19]["http_status"] == 302
    assert res[20]["status"] == "tls" and res[20]["attempts"] == 1, res[20]
    # Every result has the documented shape, and only successful items cost.
    results_schema = json.loads((ROOT / "schemas" / "scrape.results.schema.json").read_text())
    for r in res.values():
        jsonschema.validate({k: v for k, v in r.items() if k != "_headers"}, results_schema)
        assert r["credits_charged"] == (1 if r["status"] == "ok" else 0), r

    # Retry-After: 3 beat the 1 s tier: the parked record is due >= 3 s later.
    tier = [m for m in kafka_consume(prefix + "scrape.retry.1s")
            if m.headers.get("ferry-index") == "9"]
    assert len(tier) == 1
    h = tier[0].headers
    assert int(h["ferry-due-ms"]) - int(h["ferry-first-attempt-ms"]) >= 3000
    assert h["ferry-attempt"] == "2" and h["ferry-last-error"] == "http 429"
    assert h["ferry-origin"].startswith(prefix + "scrape.requests/")

    # Metrics count outcomes, bytes and latency.
    m = http("GET", f"http://127.0.0.1:{st.metrics_port}/metrics").body.decode()
    assert 'ferry_scrape_fetches_total{outcome="ok"}' in m
    assert 'ferry_scrape_fetches_total{outcome="retry"}' in m
    assert "ferry_scrape_fetch_seconds_bucket" in m and "ferry_scrape_inflight" in m
    assert "ferry_scrape_consumer_lag" in m and "ferry_scrape_bytes_total" in m


def test_scrape_ssrf_guard(start_stage, ferry_env, site):
    """With the guard on, 127.0.0.1, a name resolving to it (localhost), the
    metadata address, ::1 and a redirect to 127.0.0.1 are all refused. One
    exact ip:port is excepted (FERRY_SCRAPE_ALLOW_TARGETS) so that a
    redirecting server can be reached at all on this loopback-only host."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    victim = Site()
    try:
        start_scrape(start_stage, FERRY_ALLOW_PRIVATE_NETWORKS="0",
                     FERRY_SCRAPE_ALLOW_TARGETS=f"127.0.0.1:{site.port}")
        b = "bat_ssrf"
        v = victim.url
        cases = [
            req(b, 0, v + "/hello"),
            req(b, 1, f"http://localhost:{victim.port}/hello"),
            req(b, 2, site.url + "/redirect-to?url=" + v + "/hello"),
            req(b, 3, "http://169.254.169.254/latest/meta-data/", timeout_ms=3000),
            req(b, 4, f"http://[::1]:{victim.port}/hello"),
            req(b, 5, site.url + "/hello"),  # the excepted target itself works
        ]
        produce_requests(prefix, cases)
        res = results_by_index(prefix, b, len(cases))
        for i in range(5):
            assert res[i]["status"] == "blocked", (i, res[i])
            assert res[i]["data"] is None
        assert "loopback" in res[0]["error"] and "link-local" in res[3]["error"]
        assert res[2]["final_url"] == v + "/hello"
        assert res[5]["status"] == "ok"
        assert victim.hits == {}  # never reached
    finally:
        victim.close()


def test_scrape_formats_match_expected(start_stage, ferry_env, site):
    """Real-world-shaped pages: every format compared with expected files
    (scrape_pages/<page>.{text,md,links.json,metadata.json}; {base} stands
    for the test server's URL)."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_scrape(start_stage)
    pages = ["article", "product", "table"]
    b = "bat_formats"
    fmts = ["html", "text", "markdown", "links", "metadata"]
    produce_requests(prefix, [req(b, i, f"{site.url}/page/{p}.html", fmts)
                              for i, p in enumerate(pages)])
    res = results_by_index(prefix, b, len(pages))
    base = site.url
    for i, p in enumerate(pages):
        r = res[i]
        assert r["status"] == "ok", r
        d = r["data"]
        exp = lambda ext: (PAGES / f"{p}.{ext}").read_text().replace("{base}", base)
        assert d["text"] == exp("text").rstrip("\n"), p
        assert d["markdown"] == exp("md").rstrip("\n"), p
        assert d["links"] == json.loads(exp("links.json")), p
        assert d["metadata"] == json.loads(exp("metadata.json")), p
        # html is the page decoded to UTF-8 (product.html is windows-1252).
        raw = (PAGES / f"{p}.html").read_bytes()
        assert d["html"] == raw.decode("cp1252" if p == "product" else "utf-8"), p


def cancel(prefix, batch):
    kafka_produce(prefix + "batches", {"type": "cancel", "id": batch, "tenant": "acme",
                                       "cancelled_at": "2026-11-22T10:00:00Z"},
                  key=batch, headers={"ferry-type": "cancel", "ferry-batch": batch})


def test_scrape_cancelled_batch_is_skipped(start_stage, ferry_env, site):
    """Items of a cancelled batch get `cancelled` without a fetch; a stage
    started after the cancel reads it before taking any request."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    # Both instances under one name, as a restarted deployment: the second
    # takes the first's place in the group at once (under another name it
    # waits out the stopped static member's 45 s session).
    st = start_scrape(start_stage, FERRY_SCRAPE_INSTANCE="scrape-a")
    cancel(prefix, "bat_gone")
    wait_until(lambda: metric(st, "ferry_scrape_cancelled_batches") == 1, what="cancel read")
    produce_requests(prefix, [req("bat_gone", i, site.url + "/hello") for i in range(5)] +
                     [req("bat_kept", 0, site.url + "/hello")])
    gone = results_by_index(prefix, "bat_gone", 5)
    assert [gone[i]["status"] for i in range(5)] == ["cancelled"] * 5
    assert all(r["data"] is None for r in gone.values())
    assert results_by_index(prefix, "bat_kept", 1)[0]["status"] == "ok"
    assert site.hits["/hello"] == 1  # only the kept item was fetched

    # A fresh instance: the cancel is in the batches topic already.
    assert st.stop() == 0
    start_scrape(start_stage, FERRY_SCRAPE_INSTANCE="scrape-a")
    produce_requests(prefix, [req("bat_gone", i, site.url + "/hello") for i in range(5, 8)])
    later = results_by_index(prefix, "bat_gone", 8)
    assert all(later[i]["status"] == "cancelled" for i in range(5, 8))
    assert site.hits["/hello"] == 1


def test_scrape_kill9_loses_no_item(start_stage, ferry_env, site):
    """kill -9 mid-batch: after a restart every item has a result. Also:
    one host never sees more than FERRY_SCRAPE_HOST_CONNECTIONS (8) at once."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    n = 300
    b = "bat_kill"
    # The restarted instance rejoins the same group under the same name, so
    # it takes the killed one's place at once (static membership); a short
    # session timeout all the same.
    fast = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]
    st = start_scrape(start_stage, args=fast, FERRY_SCRAPE_INFLIGHT="40",
                      FERRY_SCRAPE_INSTANCE="scrape-a")
    produce_requests(prefix, [req(b, i, site.url + f"/slow?ms=250&i={i}") for i in range(n)])

    # (kcat cannot read a topic being written to without pause, so progress
    # is watched on /metrics.)
    def some():
        k = fetched_ok(st)
        return k if k >= 60 else None
    before = wait_until(some, 60, interval=0.1, what="first results")
    st.kill()
    assert before < n - 60  # killed mid-batch
    start_scrape(start_stage, args=fast, FERRY_SCRAPE_INFLIGHT="200",
                 FERRY_SCRAPE_INSTANCE="scrape-a")
    res = results_by_index(prefix, b, n, timeout=90)
    assert sorted(res) == list(range(n))
    assert all(r["status"] == "ok" for r in res.values())
    assert 2 <= site.max_concurrent <= 8


def test_scrape_host_cap_queues_before_the_clock_starts(start_stage, ferry_env, site):
    """Politeness: at most FERRY_SCRAPE_HOST_CONNECTIONS transfers per host;
    items waiting for their host do not burn their timeout meanwhile
    (8 fetches of 0.5 s, 2 at a time, each with a 1.5 s timeout: all ok)."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_scrape(start_stage, FERRY_SCRAPE_HOST_CONNECTIONS="2")
    b = "bat_polite"
    produce_requests(prefix, [req(b, i, site.url + f"/slow?ms=500&i={i}", timeout_ms=1500)
                              for i in range(8)])
    res = results_by_index(prefix, b, 8)
    assert [res[i]["status"] for i in range(8)] == ["ok"] * 8
    assert site.max_concurrent == 2


def test_scrape_large_result_is_split_not_dropped(start_stage, ferry_env, site):
    """A result over the largest Kafka message is written as parts that each
    fit and reassemble to the exact data (schemas/scrape.results.schema.json)."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_scrape(start_stage, FERRY_MAX_MESSAGE_BYTES="1M")
    n = 3 * 1024 * 1024
    produce_requests(prefix, [req("bat_big", 0, site.url + f"/big?n={n}", ["html", "text"])])

    def parts():
        ms = [m for m in kafka_consume(prefix + "scrape.results") if m.headers.get("ferry-batch")]
        if not ms:
            return None
        total = ms[0].json().get("parts", 1)
        return ms if len(ms) >= total else None
    ms = wait_until(parts, 60, interval=0.5, what="every part of the result")
    docs = [m.json() for m in ms]
    assert len(docs) >= 6 and all(len(m.value) <= 1024 * 1024 for m in ms)
    assert [d["part"] for d in docs] == list(range(1, len(docs) + 1))
    assert all(d["parts"] == len(docs) and d["status"] == "ok" and d["index"] == 0 for d in docs)
    assert [m.headers["ferry-part"] for m in ms] == [f"{i}/{len(docs)}" for i in range(1, len(docs) + 1)]
    html = "".join(d["data"].get("html", "") for d in docs)
    text = "".join(d["data"].get("text", "") for d in docs)
    assert html == "y" * n and text == "y" * n
