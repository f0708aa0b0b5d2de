"""render: real ferry-render processes (headless Chromium) against the real
broker and local pages served on 127.0.0.1: JavaScript-written content,
screenshots decoded back, the SSRF guard on every request a page makes,
block_ads, timeouts, a browser killed mid-item, a page that eats memory, and
no Chromium left behind when the stage is SIGKILLed.

Requests go into the test's render.requests topic with kcat; results are read
back from scrape.results (the same topic scrape writes), screenshots from the
files topic."""

import json
import os
import re
import signal
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import jsonschema
import pytest

from conftest import BROKERS, ROOT, free_port, http, kafka_consume, kafka_produce, wait_until

SCHEMAS = {name: json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
           for name in ("render.requests", "scrape.results")}

BATCH = "bat_01JD" + "0" * 22

JS_NOW = b"""<!doctype html><html><head><title>JS now</title></head><body>
<div id="out">static text</div>
<script>document.getElementById('out').textContent = 'written by script';</script>
</body></html>"""

JS_LATER = b"""<!doctype html><html><head><title>JS later</title></head><body>
<div id="shell">loading</div>
<script>setTimeout(() => {
  const p = document.createElement('p'); p.id = 'late'; p.textContent = 'arrived after a delay';
  document.body.appendChild(p);
}, 600);</script></body></html>"""

TALL = b"""<!doctype html><html><head><style>html,body{margin:0}</style></head>
<body><div style="height:3000px;background:linear-gradient(#fff,#08f)">tall</div></body></html>"""

MEMORY_HOG = b"""<!doctype html><html><body><p>eating</p><script>
const keep = [];
setInterval(() => { for (let i = 0; i < 32; i++) keep.push(new Uint8Array(1 << 20).fill(7)); }, 5);
</script></body></html>"""

STATEFUL = b"""<!doctype html><html><body><p id="seen"></p><script>
document.getElementById('seen').textContent =
  'cookie=' + (document.cookie || 'none') + ' storage=' + (localStorage.getItem('k') || 'none');
document.cookie = 'k=v; max-age=3600'; localStorage.setItem('k', 'v');
</script></body></html>"""


# ---------------------------------------------------------------- test servers


class Site:
    """Pages on 127.0.0.1. `other` is the URL of a second server (the one a
    page must not reach when the guard is on)."""

    def __init__(self):
        self.hits = {}
        self.lock = threading.Lock()
        self.other = ""
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
                p = urlparse(self.path).path
                with outer.lock:
                    outer.hits[p] = outer.hits.get(p, 0) + 1
                o = outer.other.encode()
                if p == "/js-now":
                    self.send(200, JS_NOW)
                elif p == "/js-later":
                    self.send(200, JS_LATER)
                elif p == "/tall":
                    self.send(200, TALL)
                elif p == "/hog":
                    self.send(200, MEMORY_HOG)
                elif p == "/stateful":
                    self.send(200, STATEFUL)
                elif p == "/hello":
                    self.send(200, b"<!doctype html><title>Hello</title><p>hello world</p>")
                elif p == "/never-loads":
                    self.send(200, b"<!doctype html><p>almost</p><img src='/hang'>")
                elif p == "/hang":
                    time.sleep(20)
                elif p == "/slow":
                    time.sleep(3)
                    self.send(200, b"<!doctype html><title>Slow</title><p>slow but fine</p>")
                elif p == "/missing":
                    self.send(404, b"<p>no such page</p>")
                elif p == "/download":
                    self.send(200, b"PK" + bytes(500), "application/zip",
                              {"Content-Disposition": "attachment; filename=a.zip"})
                elif p == "/no-content":
                    self.send(204, ctype=None)
                elif p == "/opens-window":
                    self.send(200, b"<!doctype html><p>opener</p>"
                              b"<script>window.open('/popup', '_blank')</script>")
                elif p == "/popup":
                    self.send(200, b"<!doctype html><p>popup</p>")
                elif p == "/reaches-out":
                    # Every kind of request a page makes, towards the other server.
                    host = outer.other.replace("127.0.0.1", "localhost").encode()
                    self.send(200, b"<!doctype html><title>Reaches out</title><p id='mine'>mine</p>"
                              b"<img src='" + o + b"/img.png'>"
                              b"<img src='" + host + b"/by-name.png'>"
                              b"<iframe src='" + o + b"/frame'></iframe>"
                              b"<script src='" + o + b"/script.js'></script>"
                              b"<link rel=stylesheet href='" + o + b"/style.css'>"
                              b"<script>fetch('" + o + b"/fetch', {mode: 'no-cors'}).catch(() => {});"
                              b"new WebSocket('" + o.replace(b"http", b"ws") + b"/ws');"
                              b"</script>")
                elif p == "/redirect-out":
                    self.send(302, b"", None, {"Location": outer.other + "/target"})
                elif p == "/ads":
                    ad = outer.url.replace("127.0.0.1", "localhost").encode()
                    self.send(200, b"<!doctype html><title>Ads</title><p>article</p>"
                              b"<script src='" + ad + b"/ad.js'></script>")
                elif p == "/ad.js":
                    self.send(200, b"document.body.dataset.ad = 'shown';",
                              "application/javascript")
                else:
                    self.send(404, b"<p>unknown</p>")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hit(self, path):
        with self.lock:
            return self.hits.get(path, 0)

    def total_hits(self):
        with self.lock:
            return sum(self.hits.values())

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    s = Site()
    other = Site()
    s.other = other.url
    s.other_site = other
    yield s
    s.close()
    other.close()


# ---------------------------------------------------------------- helpers


def start_render(start_stage, **env):
    port = free_port()
    env.setdefault("FERRY_RENDER_METRICS_LISTEN", f"127.0.0.1:{port}")
    env.setdefault("FERRY_RENDER_BROWSERS", "1")
    env.setdefault("FERRY_RENDER_TABS", "2")
    st = start_stage("render", **env)
    st.metrics_port = port

    def healthy():
        if st.proc.poll() is not None:
            pytest.fail(f"ferry-render exited ({st.proc.returncode}):\n{st.log()[-3000:]}")
        try:
            return http("GET", f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
        except OSError:
            return False

    wait_until(healthy, 60, interval=0.1, what="ferry-render /healthz")
    return st


def req(index, url, formats=("html",), timeout_ms=15000, **extra):
    r = {"schema_version": 1, "batch_id": BATCH, "tenant": "acme", "index": index, "url": url,
         "headers": {}, "formats": list(formats),
         "options": {"timeout_ms": timeout_ms, "max_bytes": 10485760, "follow_redirects": True},
         "render": True}
    r.update(extra)
    return r


def submit(prefix, requests, topic="render.requests", valid=True):
    for r in requests:
        if valid:
            jsonschema.validate(r, SCHEMAS["render.requests"])
        kafka_produce(prefix + topic, r, key=r["batch_id"])


def results(prefix, count, timeout=60):
    def got():
        out = {}
        for m in kafka_consume(prefix + "scrape.results"):
            r = m.json()
            if r["batch_id"] == BATCH and r["index"] not in out:
                out[r["index"]] = r
        return out if len(out) >= count else None
    out = wait_until(got, timeout, interval=0.5, what=f"{count} results")
    for r in out.values():
        jsonschema.validate(r, SCHEMAS["scrape.results"])
    return out


def file_bytes(prefix, file_id):
    """The value and headers of the files record keyed file_id."""
    out = subprocess.run(["kcat", "-C", "-b", BROKERS, "-t", prefix + "files", "-o", "beginning",
                          "-e", "-q", "-f", "%k %p %o %h\n"], capture_output=True, timeout=60)
    for line in out.stdout.decode().splitlines():
        key, part, off, hdrs = (line.split(" ", 3) + [""])[:4]
        if key == file_id:
            raw = subprocess.run(["kcat", "-C", "-b", BROKERS, "-t", prefix + "files", "-p", part,
                                  "-o", off, "-c", "1", "-e", "-q", "-f", "%s"],
                                 capture_output=True, timeout=60).stdout
            headers = dict(h.split("=", 1) for h in hdrs.split(",") if "=" in h)
            return raw, headers
    pytest.fail(f"no file {file_id} in {prefix}files")


def png_decode(data):
    """Decodes a PNG far enough to prove it whole: signature, every chunk's
    CRC, the IDAT stream inflated to exactly height rows of width pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(kind + body) & 0xffffffff == crc, kind
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
        if kind == b"IEND":
            break
    width, height, depth, color = ihdr[:4]
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + (width * channels * depth + 7) // 8)
    return width, height


def jpeg_size(data):
    assert data[:2] == b"\xff\xd8"
    i = 2
    while i < len(data):
        marker, seg = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xc0 <= marker <= 0xcf and marker not in (0xc4, 0xc8, 0xcc):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + seg
    pytest.fail("no JPEG frame header")


def browser_pids(st):
    return [int(p) for p in re.findall(r"event=browser_started browser=\d+ pid=(\d+)", st.log())]


def group_members(pgids):
    """Processes whose process group is one of pgids (a browser and its
    zygote, renderers, GPU and network processes)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids and fields[0] != "Z":
            found.append(int(d))
    return found


# ---------------------------------------------------------------- tests


def test_render_sees_what_javascript_writes_and_scrape_does_not(start_stage, ferry_env, site):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_render(start_stage)
    submit(prefix, [
        req(0, site.url + "/js-now", ["html", "text"]),
        req(1, site.url + "/js-later", ["html", "text", "metadata"], wait_for={"selector": "#late"}),
        req(2, site.url + "/js-later", ["text"], wait_for={"ms": 1500}),
        req(3, site.url + "/js-later", ["text"]),  # no wait: the late content is not there yet
    ])
    res = results(prefix, 4)
    for i in range(4):
        assert res[i]["status"] == "ok", res[i]
        assert res[i]["http_status"] == 200
        assert res[i]["credits_charged"] == 5
    assert "written by script" in res[0]["data"]["text"]
    assert "static text" not in res[0]["data"]["text"]
    assert 'id="out">written by script</div>' in res[0]["data"]["html"]
    assert res[0]["data"]["html"].startswith("<!DOCTYPE html>")
    assert "arrived after a delay" in res[1]["data"]["text"]
    assert res[1]["data"]["metadata"]["title"] == "JS later"
    assert "arrived after a delay" in res[2]["data"]["text"]
    assert "arrived after a delay" not in res[3]["data"]["text"]

    # The same pages through scrape: the HTML as served, scripts not run.
    sport = free_port()
    start_stage("scrape", FERRY_SCRAPE_METRICS_LISTEN=f"127.0.0.1:{sport}")
    batch2 = "bat_01JE" + "0" * 22
    for i, path in enumerate(["/js-now", "/js-later"]):
        r = req(i, site.url + path, ["text"])
        r["batch_id"] = batch2
        kafka_produce(prefix + "scrape.requests", r, key=batch2)

    def scraped():
        out = {m.json()["index"]: m.json() for m in kafka_consume(prefix + "scrape.results")
               if m.json()["batch_id"] == batch2}
        return out if len(out) == 2 else None
    s = wait_until(scraped, 60, interval=0.5, what="scrape's results")
    assert "static text" in s[0]["data"]["text"] and "written by script" not in s[0]["data"]["text"]
    assert "arrived after a delay" not in s[1]["data"]["text"]


def test_render_screenshots_decode_with_the_requested_size(start_stage, ferry_env, site):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_render(start_stage)
    submit(prefix, [
        req(0, site.url + "/hello", ["screenshot"], screenshot={"width": 800, "height": 600}),
        req(1, site.url + "/tall", ["screenshot", "html"],
            screenshot={"width": 1000, "height": 700, "full_page": True}),
        req(2, site.url + "/tall", ["screenshot"],
            screenshot={"type": "jpeg", "quality": 60, "width": 640, "height": 480}),
        req(3, site.url + "/hello", ["screenshot"]),  # defaults: 1280 x 800 png
    ])
    res = results(prefix, 4)
    expect = {0: ("png", 800, 600), 1: ("png", 1000, 3000), 2: ("jpeg", 640, 480),
              3: ("png", 1280, 800)}
    for i, (kind, w, h) in expect.items():
        r = res[i]
        assert r["status"] == "ok", r
        shot = r["data"]["screenshot"]
        assert (shot["type"], shot["width"], shot["height"]) == (kind, w, h), shot
        assert re.fullmatch(r"/v1/files/fil_[0-9A-Z]{26}", shot["url"])
        assert shot["expires_at"] > r["fetched_at"]
        data, headers = file_bytes(prefix, shot["url"].rsplit("/", 1)[1])
        assert len(data) == shot["size_bytes"]
        assert headers["content-type"] == f"image/{kind}"
        assert headers["ferry-tenant"] == "acme" and headers["ferry-batch"] == BATCH
        assert (png_decode(data) if kind == "png" else jpeg_size(data)) == (w, h)
    assert set(res[0]["data"]) == {"screenshot"}  # only what was asked for
    assert "tall" in res[1]["data"]["html"]


def test_render_guard_refuses_every_request_to_a_blocked_address(start_stage, ferry_env, site):
    """Loopback is refused except the site itself (an exact ip:port
    exception): the page's images, iframe, script, stylesheet, fetch and
    WebSocket towards the other server (by address and by name) never reach
    it; a navigation or a redirect there is reported as blocked."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_render(start_stage, FERRY_ALLOW_PRIVATE_NETWORKS="0",
                      FERRY_RENDER_ALLOW_TARGETS=f"127.0.0.1:{site.port}")
    submit(prefix, [
        req(0, site.url + "/reaches-out", ["html"], wait_for={"ms": 800}),
        req(1, site.other + "/target", ["html"]),
        req(2, site.url + "/redirect-out", ["html"]),
        req(3, site.other.replace("127.0.0.1", "localhost") + "/target", ["html"]),
    ], )
    res = results(prefix, 4)
    assert res[0]["status"] == "ok", res[0]
    assert "mine" in res[0]["data"]["html"]
    for i in (1, 2, 3):
        assert res[i]["status"] == "blocked", res[i]
        assert "loopback" in res[i]["error"], res[i]
    assert site.other_site.total_hits() == 0, site.other_site.hits
    body = http("GET", f"http://127.0.0.1:{st.metrics_port}/metrics").body.decode()
    blocked = re.search(r'ferry_render_proxy_connections_total\{outcome="blocked"\} (\d+)', body)
    assert blocked and int(blocked.group(1)) >= 5


def test_render_block_ads(start_stage, ferry_env, site, tmp_path):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    hosts = tmp_path / "hosts"
    hosts.write_text("# test list\nlocalhost\n0.0.0.0 tracker.invalid\n")
    start_render(start_stage, FERRY_RENDER_BLOCK_HOSTS_FILE=str(hosts))
    submit(prefix, [req(0, site.url + "/ads", ["html"], block_ads=True, wait_for={"ms": 300})])
    res = results(prefix, 1)
    assert res[0]["status"] == "ok", res[0]
    assert 'data-ad="shown"' not in res[0]["data"]["html"]
    assert site.hit("/ad.js") == 0
    submit(prefix, [req(1, site.url + "/ads", ["html"], block_ads=False, wait_for={"ms": 300})])
    res = results(prefix, 2)
    assert 'data-ad="shown"' in res[1]["data"]["html"], res[1]
    assert site.hit("/ad.js") == 1


def test_render_fresh_context_per_item(start_stage, ferry_env, site):
    """Cookies and storage a page sets are gone for the next item, even on
    the same browser and slot, whose next page is opened before the item
    comes."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_render(start_stage, FERRY_RENDER_TABS="1")
    for i in range(3):
        submit(prefix, [req(i, site.url + "/stateful", ["text"])])
        res = results(prefix, i + 1)
        assert "cookie=none storage=none" in res[i]["data"]["text"], res[i]
    body = http("GET", f"http://127.0.0.1:{st.metrics_port}/metrics").body.decode()
    used = re.search(r'^ferry_render_prepared_pages_total\{outcome="used"\} (\d+)', body, re.M)
    assert used and int(used.group(1)) >= 2, body  # the first may come before its browser


def test_render_pages_that_are_not_pages_fail_at_once(start_stage, ferry_env, site):
    """A download, a 204 and a refused connection each get their own answer
    at once, whether the item opens its page at its URL or navigates a page
    opened ahead; a window a page opens does not hold its opener up."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_render(start_stage, FERRY_RENDER_TABS="1")
    closed = f"http://127.0.0.1:{free_port()}/"
    paths = [site.url + "/download", site.url + "/no-content", closed, site.url + "/opens-window"]
    # All at once (each after the first opens its page at its URL), then
    # one by one (each in the page opened while the slot waited).
    submit(prefix, [req(i, u, ["html"], timeout_ms=10000) for i, u in enumerate(paths)])
    res = results(prefix, 4)
    for i, u in enumerate(paths):
        submit(prefix, [req(4 + i, u, ["html"], timeout_ms=10000)])
        res = results(prefix, 5 + i)
    for r in res.values():
        assert r["duration_ms"] < 5000, r
    for k in (0, 4):
        assert res[k]["status"] == "http_error" and "download" in res[k]["error"], res[k]
        assert res[k + 1]["status"] == "http_error" and "no content" in res[k + 1]["error"]
        assert res[k + 1]["http_status"] == 204, res[k + 1]
        assert res[k + 2]["status"] == "connect", res[k + 2]
        assert "refused" in res[k + 2]["error"].lower(), res[k + 2]
        assert res[k + 3]["status"] == "ok" and "opener" in res[k + 3]["data"]["html"]


def test_render_page_that_never_loads_times_out_cleanly(start_stage, ferry_env, site):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    # A timeout is transient: one retry tier, so two attempts in all.
    start_render(start_stage, FERRY_RENDER_RETRY_TIERS="1s", FERRY_RENDER_TABS="1")
    t0 = time.monotonic()
    submit(prefix, [req(0, site.url + "/never-loads", ["html"], timeout_ms=2000),
                    req(1, site.url + "/hello", ["text"]),
                    req(2, site.url + "/missing", ["html"])])
    res = results(prefix, 3)
    assert res[0]["status"] == "timeout", res[0]
    assert res[0]["attempts"] == 2 and "2000 ms" in res[0]["error"]
    assert res[0]["duration_ms"] < 4000 and res[0]["credits_charged"] == 0
    assert res[0]["data"] is None
    assert res[1]["status"] == "ok" and "hello world" in res[1]["data"]["text"]
    assert res[2]["status"] == "not_found" and res[2]["http_status"] == 404
    assert time.monotonic() - t0 < 30


def test_render_killed_browser_is_replaced_and_its_item_rendered_again(start_stage, ferry_env,
                                                                        site):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_render(start_stage)
    first = wait_until(lambda: browser_pids(st), 30, what="a browser")[0]
    submit(prefix, [req(0, site.url + "/slow", ["text"])])
    wait_until(lambda: site.hit("/slow"), 30, what="the page being rendered")
    os.kill(first, signal.SIGKILL)
    res = results(prefix, 1)
    assert res[0]["status"] == "ok", res[0]
    assert "slow but fine" in res[0]["data"]["text"]
    assert site.hit("/slow") >= 2
    assert re.search(r"event=browser_died browser=0 pid=%d" % first, st.log())
    assert re.search(r"event=item_requeued .*item=0 losses=1", st.log())
    pids = browser_pids(st)
    assert len(pids) >= 2 and pids[-1] != first
    wait_until(lambda: not group_members({first}), 10, what="the dead browser's processes gone")


def test_render_memory_hungry_page_does_not_take_the_stage_down(start_stage, ferry_env, site):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_render(start_stage, FERRY_RENDER_PAGE_MEMORY="300M")
    submit(prefix, [req(0, site.url + "/hog", ["html"], timeout_ms=20000,
                        wait_for={"ms": 15000})])
    res = results(prefix, 1)
    assert res[0]["status"] == "too_large", res[0]
    assert "memory" in res[0]["error"]
    assert st.running()
    submit(prefix, [req(1, site.url + "/hello", ["text"])])
    res = results(prefix, 2)
    assert res[1]["status"] == "ok", res[1]


def test_render_sigkill_leaves_no_chromium_behind(start_stage, ferry_env, site):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_render(start_stage, FERRY_RENDER_BROWSERS="2")
    wait_until(lambda: len(browser_pids(st)) >= 2, 30, what="two browsers")
    submit(prefix, [req(0, site.url + "/slow", ["text"])])
    wait_until(lambda: site.hit("/slow"), 30, what="a page being rendered")
    pids = set(browser_pids(st))
    assert len(group_members(pids)) > 2  # browsers, zygotes, renderers...
    st.kill()
    wait_until(lambda: not group_members(pids), 10, what="every Chromium process gone")


def test_render_poison_invalid_and_cancelled_requests(start_stage, ferry_env, site):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_render(start_stage)
    gone = "bat_01JG" + "0" * 22
    kafka_produce(prefix + "batches", {"type": "cancel", "id": gone, "tenant": "acme",
                                       "cancelled_at": "2026-11-22T10:00:00Z"},
                  key=gone, headers={"ferry-type": "cancel", "ferry-batch": gone})

    def cancels_known():
        body = http("GET", f"http://127.0.0.1:{st.metrics_port}/metrics").body.decode()
        return re.search(r"ferry_render_cancelled_batches\S* 1\b", body)
    wait_until(cancels_known, 20, what="the cancel read")
    r = req(0, site.url + "/hello", ["html", "screenshot"])
    r["batch_id"] = gone
    submit(prefix, [r])
    kafka_produce(prefix + "render.requests", b"not json", key=BATCH)
    submit(prefix, [req(0, "ftp://example.com/file", ["html"]),
                    req(1, site.url + "/hello", ["html"], screenshot={"type": "gif"})], valid=False)
    res = results(prefix, 2)
    assert res[0]["status"] == "invalid_url" and res[0]["data"] is None
    assert res[1]["status"] == "invalid_url" and "png or jpeg" in res[1]["error"]
    dead = kafka_consume(prefix + "render.dlq", 1)
    assert dead[0].value == b"not json"
    assert dead[0].headers["ferry-origin"].startswith(prefix + "render.requests/")
    skipped = [m.json() for m in kafka_consume(prefix + "scrape.results")
               if m.json()["batch_id"] == gone]
    assert skipped and skipped[0]["status"] == "cancelled" and skipped[0]["data"] is None
    assert skipped[0]["credits_charged"] == 0
    assert site.hit("/hello") == 0
    assert kafka_consume(prefix + "files") == []


def test_render_with_the_full_chromium(start_stage, ferry_env, site):
    """FERRY_RENDER_CHROMIUM may name Debian's full browser instead of the
    headless shell: same protocol, same results."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    start_render(start_stage, FERRY_RENDER_CHROMIUM="/usr/lib/chromium/chromium")
    submit(prefix, [req(0, site.url + "/js-now", ["text", "screenshot"],
                        screenshot={"width": 640, "height": 400})])
    res = results(prefix, 1)
    assert res[0]["status"] == "ok", res[0]
    assert "written by script" in res[0]["data"]["text"]
    data, _ = file_bytes(prefix, res[0]["data"]["screenshot"]["url"].rsplit("/", 1)[1])
    assert png_decode(data) == (640, 400)


def test_render_hung_browser_is_replaced_and_its_item_rendered_again(start_stage, ferry_env,
                                                                      site):
    """A browser that stops answering (SIGSTOP) is found out when its item's
    time is up and it cannot even close the item's context: it is killed,
    replaced, and the item rendered on the new one."""
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    st = start_render(start_stage)
    first = wait_until(lambda: browser_pids(st), 30, what="a browser")[0]
    submit(prefix, [req(0, site.url + "/slow", ["text"], timeout_ms=5000)])
    wait_until(lambda: site.hit("/slow"), 30, what="the page being rendered")
    os.kill(first, signal.SIGSTOP)
    res = results(prefix, 1, timeout=90)
    assert res[0]["status"] == "ok", res[0]
    assert res[0]["attempts"] == 1  # rendered again in the stage, not from a retry tier
    assert "slow but fine" in res[0]["data"]["text"]
    assert re.search(r"event=browser_unresponsive", st.log())
    assert re.search(r"event=browser_replaced browser=0 pid=%d" % first, st.log())
    wait_until(lambda: not group_members({first}), 10, what="the hung browser's processes gone")


def test_render_through_the_pipeline(start_stage, ferry_env, site):
    """A submit asking for a screenshot goes to the render stage, not to
    scrape: its results arrive in the batch's results, with the screenshot,
    charged FERRY_CREDITS_RENDER each; rendering options are checked at
    submit with 422s naming the field, and nothing of a refused submit is
    written."""
    from pipeline import ACME, start_pipeline
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    p = start_pipeline(start_stage, only=("ingest", "render", "aggregate"))
    sub = p.submit({"urls": [site.url + "/js-later", site.url + "/tall"],
                    "formats": ["text", "screenshot"],
                    "wait_for": {"ms": 1500},
                    "screenshot": {"width": 900, "height": 600, "full_page": True},
                    "block_ads": True})
    final = p.wait_final(sub["id"], timeout=120)
    assert final["status"] == "completed" and final["succeeded"] == 2, final
    r = http("GET", f"{p.base}/v1/batch/{sub['id']}/results", headers=ACME)
    res = {x["index"]: x for x in r.json()["results"]}
    assert "arrived after a delay" in res[0]["data"]["text"]
    assert res[0]["data"]["screenshot"]["width"] == 900
    assert res[1]["data"]["screenshot"]["height"] == 3000
    assert all(x["credits_charged"] == 5 for x in res.values())
    reqs = kafka_consume(prefix + "render.requests", 2)
    sent = reqs[0].json()
    jsonschema.validate(sent, SCHEMAS["render.requests"])
    assert sent["render"] is True and sent["block_ads"] is True
    assert sent["wait_for"] == {"ms": 1500}
    assert sent["screenshot"] == {"full_page": True, "width": 900, "height": 600, "type": "png"}
    assert kafka_consume(prefix + "scrape.requests") == []

    bad = [({"wait_for": {"ms": 50}}, "wait_for"),  # not rendered
           ({"block_ads": True}, "block_ads"),
           ({"render": "yes"}, "render"),
           ({"render": True, "wait_for": {"selector": ""}}, "wait_for.selector"),
           ({"render": True, "wait_for": {"ms": -1}}, "wait_for.ms"),
           ({"render": True, "wait_for": {"ms": 1e300}}, "wait_for.ms"),  # beyond long long
           ({"render": True, "wait_for": {"seconds": 1}}, "wait_for.seconds"),
           ({"screenshot": {"width": 50}}, "screenshot.width"),
           ({"screenshot": {"type": "gif"}}, "screenshot.type"),
           ({"screenshot": {"quality": 80}}, "screenshot.quality"),
           ({"formats": ["screenshot"], "screenshot": {"zoom": 2}}, "screenshot.zoom")]
    for extra, field in bad:
        body = {"urls": [site.url + "/hello"], **extra}
        r = http("POST", p.base + "/v1/batch", body, ACME)
        assert r.status == 422, (extra, r.body)
        e = r.json()["error"]
        assert e["code"] == "invalid_field" and e["details"]["field"] == field, (extra, e)
    assert len(kafka_consume(prefix + "render.requests")) == 2


def test_render_extraction_rules_read_the_page_after_its_scripts(start_stage, ferry_env, site):
    """A user's rules on a rendered batch read the document after its
    scripts ran: a field that JavaScript writes late is there in
    data.extract (beside the formats asked for); a page whose required
    field never appears is `empty` (after the retry tiers). An endpoint is never rendered (422)."""
    from pipeline import ACME, start_pipeline
    p = start_pipeline(start_stage, only=("ingest", "render", "aggregate"),
                       FERRY_RENDER_BROWSERS="1", FERRY_RENDER_TABS="2",
                       FERRY_RENDER_RETRY_TIERS="300ms")  # empty is retried, then final
    rules = {"fields": {"late": "#late", "shell": "#shell", "title": "title"}}
    sub = p.submit({"urls": [site.url + "/js-later"], "render": True, "formats": ["text"],
                    "wait_for": {"selector": "#late"}, "extract": rules})
    final = p.wait_final(sub["id"], timeout=120)
    assert final["status"] == "completed" and final["succeeded"] == 1, final
    r = http("GET", f"{p.base}/v1/batch/{sub['id']}/results", headers=ACME).json()
    data = r["results"][0]["data"]
    assert data["extract"] == {"late": "arrived after a delay", "shell": "loading",
                               "title": "JS later"}, data
    assert "arrived after a delay" in data["text"]
    sent = kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "render.requests", 1)[0].json()
    jsonschema.validate(sent, SCHEMAS["render.requests"])
    assert set(sent["extract"]) == {"hash"}

    sub = p.submit({"urls": [site.url + "/js-now"], "formats": ["screenshot"],
                    "extract": {"fields": {"x": "#late"}, "required": ["x"]}})
    final = p.wait_final(sub["id"], timeout=120)
    res = http("GET", f"{p.base}/v1/batch/{sub['id']}/results", headers=ACME).json()["results"][0]
    assert res["status"] == "empty" and res["data"] is None, res

    r = http("POST", p.base + "/v1/batch",
             {"items": [{"domain": "example.com"}], "endpoint": "company", "render": True}, ACME)
    assert r.status == 422 and r.json()["error"]["details"]["field"] == "endpoint", r.body
