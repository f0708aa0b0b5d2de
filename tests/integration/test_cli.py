"""The `ferry` client (build/ferry): end to end against the real stages for the
endpoints main serves, and against a local fake API for every answer a
script must tell apart (exit codes), for endpoints built from the contract
(crawl, retry, batches), for page-by-page streaming and for the progress
display (a pseudo-terminal and a pipe)."""

import json
import os
import pty
import re
import select
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import BUILD, wait_until
from pipeline import Site, start_pipeline

FERRY = str(BUILD / "ferry")


def ferry(*args, url=None, key="key-acme", stdin=None, timeout=120, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    if url:
        e["FERRY_URL"] = url
    if key:
        e["FERRY_API_KEY"] = key
    e.update(env or {})
    return subprocess.run([FERRY, *args], input=stdin, capture_output=True, env=e,
                          timeout=timeout)


# ---------------------------------------------------------------- a raw capture


class RawCapture:
    """A webhook receiver that keeps each request exactly as its bytes came
    (request line, headers, body): what `ferry verify` reads."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.raw = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                while len(body) < n:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.raw.append(head + b"\r\n\r\n" + body)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- end to end


def test_cli_against_the_real_stages(start_stage, tmp_path):
    p = start_pipeline(start_stage)
    cap = RawCapture()
    with Site() as site:
        inp = tmp_path / "in.txt"
        inp.write_text(f"# three pages and one that is gone\n{site.url}/p0\n\n"
                       f'{{"url": "{site.url}/p1", "headers": {{"Accept-Language": "es"}}}}\n'
                       f"  {site.url}/gone  \n{site.url}/p3\n")
        r = ferry("submit", str(inp), "--format", "text", "-f", "links", "--webhook", cap.url,
                  "--metadata", '{"run": 7}', "--json", url=p.base)
        assert r.returncode == 0, r.stderr
        sub = json.loads(r.stdout)
        bid, secret = sub["id"], sub["webhook_signature_secret"]
        assert sub["total"] == 4 and secret.startswith("whsec_")

        # wait without a terminal: plain progress lines on stderr, a summary on stdout.
        r = ferry("wait", bid, "--interval", "0.2", url=p.base)
        assert r.returncode == 0, r.stderr
        assert re.search(rf"{bid} completed: 4/4 processed, 3 succeeded, 1 failed \(not_found 1\)",
                         r.stdout.decode()), r.stdout
        lines = r.stderr.decode().splitlines()
        assert lines and all(re.fullmatch(rf"\S+Z {bid} \w+ \d/4 [\d.]+% \S+/s eta \S+", x)
                             for x in lines), lines
        assert "\r" not in r.stderr.decode() and "\033" not in r.stderr.decode()

        r = ferry("status", bid, "--json", url=p.base)
        assert r.returncode == 0
        st = json.loads(r.stdout)
        assert st["status"] == "completed" and st["metadata"] == {"run": 7}
        r = ferry("status", bid, url=p.base)
        assert "succeeded 3  failed 1" in r.stdout.decode() and "not_found 1" in r.stdout.decode()

        # results: NDJSON, every page followed (limit 1: four pages).
        r = ferry("results", bid, "--limit", "1", url=p.base)
        assert r.returncode == 0, r.stderr
        res = [json.loads(x) for x in r.stdout.decode().splitlines()]
        assert sorted(x["index"] for x in res) == [0, 1, 2, 3]
        by = {x["index"]: x for x in res}
        assert by[1]["input"] in (f"{site.url}/p1", {"url": f"{site.url}/p1",
                                                      "headers": {"Accept-Language": "es"}})
        assert by[2]["status"] == "not_found" and "page /p3" in by[3]["data"]["text"]

        # the webhook as captured verifies with the secret, and only with it.
        wait_until(lambda: cap.raw, timeout=60, what="the webhook")
        raw = tmp_path / "hook.http"
        raw.write_bytes(cap.raw[0])
        r = ferry("verify", "--secret", secret, str(raw))
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout.decode()
        assert "X-Ferry-Signature   valid (secret 1)" in out
        assert "webhook-signature   valid (secret 1)" in out
        r = ferry("verify", "--secret", "whsec_" + "A" * 44, "--secret", secret, "--json",
                  stdin=cap.raw[0])
        v = json.loads(r.stdout)
        assert r.returncode == 0 and v["valid"] and v["secret"] == 2
        assert v["ferry_signature"] == v["standard_signature"] == "valid"
        assert v["event"] == "batch.completed" and v["delivery_id"].startswith("dlv_")
        tampered = cap.raw[0].replace(b'"run":7', b'"run":8')
        assert tampered != cap.raw[0]
        r = ferry("verify", "--secret", secret, stdin=tampered)
        assert r.returncode == 5 and "NOT valid" in r.stdout.decode()
        r = ferry("verify", "--secret", "not-the-secret-at-all", stdin=cap.raw[0])
        assert r.returncode == 5

        # cancel: a batch stuck on a hanging page ends cancelled; wait exits 1.
        r = ferry("submit", "-", "-q", url=p.base,
                  stdin=f"{site.url}/hang1\n{site.url}/hang2\n".encode())
        assert r.returncode == 0, r.stderr
        bid2 = r.stdout.decode().strip()
        assert re.fullmatch(r"bat_\w+", bid2)
        r = ferry("cancel", bid2, url=p.base)
        assert r.returncode == 0 and "cancel requested" in r.stdout.decode(), r.stderr
        site.closing.set()  # let the hanging fetches end
        r = ferry("wait", bid2, "--interval", "0.2", "--json", url=p.base)
        assert r.returncode == 1, r.stderr
        assert json.loads(r.stdout)["status"] == "cancelled"
        r = ferry("cancel", bid2, url=p.base)
        assert r.returncode == 3 and b"batch_finished" in r.stderr

    # what a script must tell apart
    assert ferry("status", "bat_01JD000000000000000000000", url=p.base).returncode == 3
    r = ferry("status", bid, url=p.base, key="wrong-key")
    assert r.returncode == 3 and b"401 unauthorized" in r.stderr
    r = ferry("submit", "-", url=p.base, stdin=b"not a url\n")
    assert r.returncode == 3 and b"422" in r.stderr
    cap.close()


# ---------------------------------------------------------------- a fake API


class FakeAPI:
    """Answers from `routes`: (METHOD, path) -> (status, body) or a callable
    (handler, query, body) -> (status, body). Records every request."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                u = urlsplit(self.path)
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                ans = outer.routes.get((self.command, u.path), (404, {"error": {
                    "code": "not_found", "message": "no route", "details": None}}))
                if callable(ans):
                    ans = ans(self, parse_qs(u.query), body)
                code, doc = ans
                data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _any

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def api():
    a = FakeAPI()
    yield a
    a.close()


ACCEPTED = {"id": "bat_01JDNEW", "status": "queued", "total": 2, "created_at": "2026-11-22T10:00:00Z",
            "status_url": "/v1/batch/bat_01JDNEW"}


def test_cli_submit_body_and_headers(api, tmp_path):
    api.routes[("POST", "/v1/batch")] = (202, ACCEPTED)
    spec = tmp_path / "extract.json"
    spec.write_text('{"fields": {"title": "h1", "price": {"selector": ".price", "type": "price"}}}')
    r = ferry("submit", "-", "--endpoint", "amazon.product", "--extract", str(spec), "-f", "html",
              "--format", "text,markdown", "--webhook", "https://h.example/x", "--events",
              "batch.completed,item.completed", "--webhook-secret", "s" * 20, "--timeout-ms",
              "5000", "--idempotency-key", "nightly-2026-11-22", "--ignore-invalid", "-q",
              url=api.url, stdin=b'{"query": "B09HN3Q81F", "domain": "com"}\nhttps://e.example/a\n')
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"bat_01JDNEW\n"
    method, path, headers, body = api.requests[-1]
    assert (method, path) == ("POST", "/v1/batch")
    assert headers["Authorization"] == "Bearer key-acme"
    assert headers["Idempotency-Key"] == "nightly-2026-11-22"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "endpoint": "amazon.product",
        "extract": {"fields": {"title": "h1", "price": {"selector": ".price", "type": "price"}}},
        "webhook_url": "https://h.example/x",
        "webhook_events": ["batch.completed", "item.completed"],
        "webhook_secret": "s" * 20, "options": {"timeout_ms": 5000},
        "ignore_invalid_urls": True,
        # a JSON item in the input makes every line an item, in the file's order
        "items": [{"query": "B09HN3Q81F", "domain": "com"}, {"url": "https://e.example/a"}],
        "formats": ["html", "text", "markdown"]}

    # URLs only: `urls`; the replay of an idempotency key is said
    api.routes[("POST", "/v1/batch")] = lambda h, q, b: (202, ACCEPTED)
    r = ferry("submit", "-", url=api.url, stdin=b"https://e.example/a\nhttps://e.example/b\n")
    assert json.loads(api.requests[-1][3]) == {"urls": ["https://e.example/a",
                                                        "https://e.example/b"]}
    assert r.stdout.decode().startswith("bat_01JDNEW queued: 2 items")

    # bad input is refused before anything is sent
    n = len(api.requests)
    for stdin, why in ((b"https://e.example/a\n{not json\n", b"-:2: not a JSON object"),
                       (b"\n# nothing\n", b"no URLs or items"),
                       (b"[1, 2]\n", None)):
        r = ferry("submit", "-", url=api.url, stdin=stdin)
        if why is None:  # a line that is not an object or URL goes as a URL: the API judges it
            continue
        assert r.returncode == 2 and why in r.stderr, r.stderr
    assert ferry("submit", url=api.url).returncode == 2
    assert ferry("submit", "/nonexistent/file", url=api.url).returncode == 2
    assert ferry("submit", "-", "--extract", "/nonexistent", url=api.url, stdin=b"x\n"
                 ).returncode == 2
    assert len(api.requests) == n + 1  # only the "[1, 2]" line went out


def test_cli_crawl_retry_batches_from_the_contract(api):
    api.routes[("POST", "/v1/crawl")] = (202, dict(ACCEPTED, id="bat_01JDCRAWL", total=1))
    r = ferry("crawl", "https://site.example/", "--limit", "50", "--max-depth", "2",
              "--include", "^/blog/", "--exclude", r"\.pdf$", "--sitemap", "skip",
              "--allow-subdomains", "--ignore-robots", "-f", "markdown", "--json", url=api.url)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == "bat_01JDCRAWL"
    assert json.loads(api.requests[-1][3]) == {
        "url": "https://site.example/", "limit": 50, "max_depth": 2,
        "include_paths": ["^/blog/"], "exclude_paths": [r"\.pdf$"], "sitemap": "skip",
        "allow_subdomains": True, "robots": False, "formats": ["markdown"]}
    assert ferry("crawl", "https://x.example/", "--sitemap", "maybe", url=api.url).returncode == 2

    api.routes[("POST", "/v1/batch/bat_01JDOLD/retry")] = (
        202, dict(ACCEPTED, id="bat_01JDRETRY", total=7, retry_of="bat_01JDOLD"))
    r = ferry("retry", "bat_01JDOLD", "--status", "timeout,connect", url=api.url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "bat_01JDRETRY queued: 7 items, retrying bat_01JDOLD\n"
    assert json.loads(api.requests[-1][3]) == {"status": ["timeout", "connect"]}
    r = ferry("retry", "bat_01JDOLD", "-q", url=api.url)
    assert r.stdout == b"bat_01JDRETRY\n" and json.loads(api.requests[-1][3]) == {}
    api.routes[("POST", "/v1/batch/bat_01JDRUN/retry")] = (409, {"error": {
        "code": "batch_running", "message": "the batch is still running", "details": None}})
    r = ferry("retry", "bat_01JDRUN", url=api.url)
    assert r.returncode == 3 and b"409 batch_running" in r.stderr

    docs = [{"id": f"bat_{i:02d}", "status": "completed", "kind": "batch", "total": i,
             "processed": i, "created_at": f"2026-11-22T10:{i:02d}:00Z"} for i in range(7)]

    def page(h, q, body):
        cur = int(q.get("cursor", ["0"])[0])
        lim = int(q["limit"][0])
        assert q.get("status") == ["completed"] and q.get("kind") == ["batch"]
        nxt = cur + lim
        return 200, {"batches": docs[cur:nxt], "next": (
            f"/v1/batches?status=completed&kind=batch&limit={lim}&cursor={nxt}"
            if nxt < len(docs) else None)}

    api.routes[("GET", "/v1/batches")] = page
    r = ferry("batches", "--status", "completed", "--kind", "batch", "--all", "--json",
              url=api.url)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["id"] for x in r.stdout.decode().splitlines()] == [d["id"] for d in docs]
    r = ferry("batches", "--status", "completed", "--kind", "batch", "--limit", "3",
              url=api.url)
    out = r.stdout.decode().splitlines()
    assert out[0].split() == ["ID", "STATUS", "KIND", "PROCESSED", "CREATED"]
    assert [x.split()[:4] for x in out[1:]] == [["bat_00", "completed", "batch", "0/0"],
                                                ["bat_01", "completed", "batch", "1/1"],
                                                ["bat_02", "completed", "batch", "2/2"]]


def test_cli_exit_codes(api, tmp_path):
    err = lambda code, c: (code, {"error": {"code": c, "message": c, "details": None}})
    api.routes[("GET", "/v1/batch/bat_401")] = err(401, "unauthorized")
    api.routes[("GET", "/v1/batch/bat_422")] = err(422, "invalid_field")
    api.routes[("GET", "/v1/batch/bat_500")] = err(500, "internal")
    api.routes[("GET", "/v1/batch/bat_503")] = err(503, "kafka_unavailable")
    api.routes[("GET", "/v1/batch/bat_html")] = (200, b"<html>a proxy's page</html>")
    api.routes[("GET", "/v1/batch/bat_failed")] = (200, {"id": "bat_failed", "status": "failed",
                                                         "total": 2, "processed": 2, "failed": 2,
                                                         "errors": {"dns": 2}})
    api.routes[("GET", "/v1/batch/bat_slow")] = (200, {"id": "bat_slow", "status": "running",
                                                       "total": 2, "processed": 1})
    cases = [(("status", "bat_401"), 3), (("status", "bat_422"), 3), (("status", "bat_nope"), 3),
             (("status", "bat_500"), 4), (("status", "bat_503"), 4), (("status", "bat_html"), 4),
             (("wait", "bat_failed"), 1), (("wait", "bat_slow", "--interval", "0.1",
                                            "--timeout", "0.5"), 6),
             (("status",), 2), (("status", "a", "b"), 2), (("bogus",), 2),
             (("wait", "x", "--interval", "0"), 2), (("results", "x", "--limit", "0"), 2),
             (("verify", str(tmp_path / "none")), 2)]
    for args, want in cases:
        r = ferry(*args, url=api.url)
        assert r.returncode == want, (args, r.returncode, r.stderr)
    # no server at all
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = ferry("status", "bat_x", url=dead)
    assert r.returncode == 4 and b"onnect" in r.stderr
    # --json puts the API's error document on stdout for scripts
    r = ferry("status", "bat_422", "--json", url=api.url)
    assert json.loads(r.stdout)["error"]["code"] == "invalid_field"
    # every command has --help, exit 0
    for cmd in ("submit", "crawl", "status", "wait", "results", "cancel", "retry", "batches",
                "verify"):
        r = ferry(cmd, "--help")
        assert r.returncode == 0 and r.stdout.startswith(b"Usage: ferry " + cmd.encode())
        assert b"Exit codes:" in r.stdout
    assert ferry("--help").returncode == 0


def test_cli_results_stream_page_by_page(api):
    """The first page is on stdout before the second is even asked for."""
    second_asked = threading.Event()
    release = threading.Event()
    rows = [{"index": i, "status": "ok" if i % 2 else "timeout", "input": f"u{i}"}
            for i in range(5)]

    def page(h, q, body):
        cur = int(q.get("cursor", ["0"])[0])
        assert q["status"] == ["failed"]
        if cur:
            second_asked.set()
            release.wait(20)
        nxt = cur + 3
        return 200, {"id": "bat_s", "status": "completed", "results": rows[cur:nxt],
                     "next": f"/v1/batch/bat_s/results?cursor={nxt}&limit=3&status=failed"
                     if nxt < len(rows) else None}

    api.routes[("GET", "/v1/batch/bat_s/results")] = page
    e = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    proc = subprocess.Popen([FERRY, "results", "bat_s", "--status", "failed", "--limit", "3",
                             "--url", api.url, "--api-key", "k"], stdout=subprocess.PIPE, env=e)
    first = [proc.stdout.readline() for _ in range(3)]
    assert second_asked.wait(10)
    assert [json.loads(x)["index"] for x in first] == [0, 1, 2]
    release.set()
    rest = proc.stdout.read()
    assert proc.wait(10) == 0
    assert [json.loads(x)["index"] for x in rest.splitlines()] == [3, 4]
    assert api.requests[0][1] == "/v1/batch/bat_s/results?limit=3&status=failed"
    assert api.requests[0][2]["Authorization"] == "Bearer k"


def _progress_api(api, total=60, step=4):
    calls = {"n": 0}

    def status(h, q, body):
        calls["n"] += 1
        done = min(total, step * calls["n"])
        return 200, {"id": "bat_p", "status": "completed" if done == total else "running",
                     "total": total, "processed": done, "succeeded": done, "failed": 0,
                     "errors": {}}

    api.routes[("GET", "/v1/batch/bat_p")] = status


def test_cli_wait_draws_a_progress_bar_on_a_terminal(api):
    _progress_api(api)
    e = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    e.update(FERRY_URL=api.url, FERRY_API_KEY="k", COLUMNS="100")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(FERRY, [FERRY, "wait", "bat_p", "--interval", "0.05"], e)
    out = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, st = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st) == 0, out
    text = out.decode()
    frames = [f for f in text.split("\r") if f.startswith("bat_p running")]
    assert len(frames) >= 5, text
    # a bar that fills, the count, the rate and the time left, redrawn in place
    m = re.search(r"bat_p running \[(#*)(\.*)\] (\d+)/60 +\d+% ([\d.]+)/s ETA (\d+:\d\d)\033\[K",
                  frames[-1])
    assert m, frames[-1]
    assert float(m.group(4)) > 0 and len(m.group(1)) > 0 and len(m.group(1) + m.group(2)) >= 10
    first = re.search(r"\[(#*)", frames[0]).group(1)
    assert len(first) < len(m.group(1))
    assert "bat_p completed: 60/60 processed, 60 succeeded, 0 failed in" in text
    assert "\n" not in "".join(frames[:-1])  # one line, redrawn


def test_cli_wait_plain_lines_without_a_terminal(api):
    _progress_api(api, total=20, step=5)
    r = ferry("wait", "bat_p", "--interval", "0.05", url=api.url)
    assert r.returncode == 0
    lines = r.stderr.decode().splitlines()
    got = [re.fullmatch(r"\S+Z bat_p (\w+) (\d+)/20 [\d.]+% \S+/s eta \S+", x) for x in lines]
    assert all(got), lines
    assert [(m.group(1), int(m.group(2))) for m in got] == [
        ("running", 5), ("running", 10), ("running", 15), ("completed", 20)]
    assert r.stdout.decode().startswith("bat_p completed: 20/20 processed")
    r = ferry("wait", "bat_p", "-q", url=api.url)  # quiet: nothing, the exit code tells
    assert r.returncode == 0 and r.stdout == b"" and r.stderr == b""


# ---------------------------------------------------------------- verify's input forms


def _sign(secret, body, msg_id="dlv_1", ts=None):
    import base64
    import hashlib
    import hmac
    ts = ts or int(time.time())
    f = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    s = "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body,
                                          hashlib.sha256).digest()).decode()
    return f, s, ts


def test_cli_verify_capture_forms(tmp_path):
    secret, body = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", b'{"id":"bat_1","n":1}'
    f, s, ts = _sign(secret, body)
    head = (f"POST http://127.0.0.1:9/hook HTTP/1.1\r\nHost: x\r\nX-Ferry-Signature: {f}\r\n"
            f"webhook-id: dlv_1\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: {s}\r\n")
    ok = lambda raw, *a: ferry("verify", "--secret", secret, *a, stdin=raw).returncode
    # CRLF with Content-Length (a trailing newline an editor added is ignored)
    assert ok((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body + b"\n") == 0
    # LF line ends, no request line, body to the end
    lf = head.split("\r\n", 1)[1].replace("\r\n", "\n") + "\n"
    assert ok(lf.encode() + body) == 0
    # chunked
    ch = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + \
        b"5\r\n" + body[:5] + b"\r\n" + format(len(body) - 5, "x").encode() + b"\r\n" + \
        body[5:] + b"\r\n0\r\n\r\n"
    assert ok(ch) == 0
    # head and body apart
    (tmp_path / "body").write_bytes(body)
    assert ok(lf.encode(), "--body", str(tmp_path / "body")) == 0
    # rotation: two values in each header, one good
    f2, s2, _ = _sign("whsec_" + "A" * 44, body, ts=ts)
    rot = (head.replace(f, f"{f2} {f}").replace(s, f"{s2} {s}") + "\r\n").encode() + body
    assert ok(rot) == 0
    # one scheme alone verifies; a wrong one fails the whole
    only_f = f"X-Ferry-Signature: {f}\n\n".encode() + body
    assert ok(only_f) == 0
    assert ok((head.replace(s, s2) + "\r\n").encode() + body) == 5
    # nothing to verify, a cut capture, an old timestamp with --max-age
    assert ok(b"Host: x\n\n" + body) == 5
    assert ok((head + "Content-Length: 999\r\n\r\n").encode() + body) == 2
    f3, s3, ts3 = _sign(secret, body, ts=int(time.time()) - 3600)
    old = (f"X-Ferry-Signature: {f3}\nwebhook-id: dlv_1\nwebhook-timestamp: {ts3}\n"
           f"webhook-signature: {s3}\n\n").encode() + body
    assert ok(old) == 0 and ok(old, "--max-age", "300") == 5
    # a timestamp far before 1970 (a hostile capture) has no age: too old for --max-age
    # (one past LLONG_MIN is not plain decimal as signed: its standard signature fails)
    for neg, code in (("-9223372036854775808", 0), ("-99999999999999999999", 5), ("-1", 0)):
        fn, sn, _ = _sign(secret, body, ts=neg)
        bad = (f"X-Ferry-Signature: {fn}\nwebhook-id: dlv_1\nwebhook-timestamp: {neg}\n"
               f"webhook-signature: {sn}\n\n").encode() + body
        r = ferry("verify", "--secret", secret, "--json", stdin=bad)
        assert r.returncode == code and "age_seconds" not in json.loads(r.stdout), (neg, r.stderr)
        assert ok(bad, "--max-age", "300") == 5, neg
    # a plain (non-whsec) secret keys both schemes with its bytes
    pf, ps, pts = _sign("plain-secret-of-20-bytes", body)
    plain = (f"X-Ferry-Signature: {pf}\nwebhook-id: dlv_1\nwebhook-timestamp: {pts}\n"
             f"webhook-signature: {ps}\n\n").encode() + body
    r = ferry("verify", "-s", "plain-secret-of-20-bytes", "--json", stdin=plain)
    assert r.returncode == 0 and json.loads(r.stdout)["standard_signature"] == "valid"
    assert ferry("verify", stdin=plain).returncode == 2  # --secret is required
