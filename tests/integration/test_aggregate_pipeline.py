"""What aggregate writes, end to end through the real stages (ingest, scrape,
aggregate, deliver) to a webhook receiver:

- a result larger than a Kafka message, which scrape writes in parts, is
  counted once and comes back whole in the webhook bodies, in every format;
- every webhook body (and status document) is byte for byte what
  JavaScript's JSON.stringify(JSON.parse(body)) writes, so seed 002's
  verification snippet, which HMACs the re-serialized body, accepts it.
"""

import base64
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from conftest import free_port, http, kafka_consume, wait_until

ACME = {"Authorization": "Bearer key-acme"}
SECRET = "s3cret-for-the-seed-snippet"

# A page of about 2.3 MiB: text with accents, symbols, emoji, a form feed
# and other control characters, links, a title, a description and JSON-LD
# with numbers JavaScript prints its own way.
PARA = ("<p>Caf\u00e9 cr\u00e8me \u2603 \U0001F600 \u2028 tab\there \x0cfeed \x01 "
        "\"quoted\" back\\slash <a href=\"/l/{i}\">link {i}</a> "
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.</p>\n")
BIG = ("<html><head><title>Big caf\u00e9 page</title>"
       "<meta name=\"description\" content=\"A page larger than a Kafka message\">"
       "<script type=\"application/ld+json\">"
       "{\"@type\": \"Product\", \"price\": 1.10, \"ratio\": 0.1, \"big\": 1e21, "
       "\"small\": 1e-7, \"n\": 10.0}</script></head><body>"
       + "".join(PARA.replace("{i}", str(i)) for i in range(16000))
       + "</body></html>").encode()
MEDIUM = BIG[:BIG.index(b"<p>", 20000)] + b"</body></html>"
SMALL = b"<html><head><title>small</title></head><body><p>small page</p></body></html>"
FORMATS = [["html"], ["text"], ["markdown"], ["links"], ["metadata"],
           ["html", "text", "markdown", "links", "metadata"]]


@pytest.fixture
def site():
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            path = urlparse(self.path).path
            if path == "/slow":
                threading.Event().wait(20)  # past the batch's deadline
            body = {"/big": BIG, "/medium": MEDIUM}.get(path, SMALL)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def metric(port, name):
    body = http("GET", f"http://127.0.0.1:{port}/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{} "):
            return int(float(line.split()[-1]))
    return 0


class Pipeline:
    """ingest, scrape, aggregate and deliver. aggregate starts first, so the
    topics are made with its (default, 16 MiB) FERRY_MAX_MESSAGE_BYTES."""

    def __init__(self, start_stage, aggregate_env=None, scrape_env=None):
        self.start_stage = start_stage
        self.agg_port = free_port()
        self.agg = start_stage("aggregate", FERRY_AGGREGATE_METRICS_LISTEN=f"127.0.0.1:{self.agg_port}",
                               **(aggregate_env or {}))
        self.agg.wait_log(r"event=topics_ready", timeout=60)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.ingest = start_stage("ingest", FERRY_LISTEN=f"127.0.0.1:{port}")
        self.deliver = start_stage("deliver", FERRY_DELIVER_METRICS_LISTEN=f"127.0.0.1:{free_port()}")
        self.scrape = self.start_scrape(**(scrape_env or {}))

        def health():
            try:
                return http("GET", self.base + "/healthz").status == 200
            except OSError:
                return False
        wait_until(health, timeout=60, what="ingest ready")
        for st in (self.agg, self.deliver):
            st.wait_log(r"event=topics_ready", timeout=60)

    def start_scrape(self, **env):
        # One name for every scrape of the pipeline, as a restarted
        # deployment keeps its own: the new process takes the stopped one's
        # place in the group at once (a static member that stopped keeps its
        # partitions until its session times out, 45 s, for any other name).
        env.setdefault("FERRY_SCRAPE_INSTANCE", "scrape-a")
        st = self.start_stage("scrape", FERRY_SCRAPE_METRICS_LISTEN=f"127.0.0.1:{free_port()}",
                              **env)
        st.wait_log(r"event=topics_ready", timeout=60)
        return st

    def submit(self, urls, formats, receiver, **extra):
        body = {"urls": urls, "formats": formats, "webhook_url": receiver.url + "/hook",
                "webhook_secret": SECRET,
                "webhook_events": ["batch.completed", "item.completed"], **extra}
        r = http("POST", self.base + "/v1/batch", body, ACME, timeout=30)
        assert r.status == 202, r.body
        return r.json()["id"]


def bodies_of(receiver, batch, n, timeout=120):
    """The webhook requests of a batch: {event or (event, index): request}."""
    def got():
        out = {}
        for q in receiver.requests[:]:
            if q.headers.get("x-ferry-batch-id") != batch:
                continue
            b = json.loads(q.body)
            key = b["event"] if b["event"] != "item.completed" else ("item", b["index"])
            out.setdefault(key, q)
        return out if len(out) >= n else None
    return wait_until(got, timeout, interval=0.2, what=f"{n} webhooks of {batch}")


def comparable(result):
    """A result without what differs between two fetches of the same page."""
    return {k: v for k, v in result.items() if k not in ("fetched_at", "duration_ms")}


def test_split_results_come_back_whole_in_every_format(start_stage, receiver, site):
    # scrape writes messages of at most 1 MiB (a 2.3 MiB page is split in
    # parts); aggregate and deliver carry bodies as large as the topics allow.
    p = Pipeline(start_stage, aggregate_env={"FERRY_WEBHOOK_INLINE_MAX_BYTES": "64M"},
                 scrape_env={"FERRY_MAX_MESSAGE_BYTES": "1M"})
    prefix = p.agg.env["FERRY_TOPIC_PREFIX"]
    urls = [site + "/big", site + "/small"]
    split = [p.submit(urls, f, receiver) for f in FORMATS]
    got_split = [bodies_of(receiver, b, 3) for b in split]

    # The large results really were written in parts, several each where a
    # page-sized string was asked for.
    parts = {}
    for m in kafka_consume(prefix + "scrape.results"):
        r = m.json()
        if r["batch_id"] in split and "parts" in r:
            parts.setdefault(r["batch_id"], set()).add(r["part"])
    for b, f in zip(split, FORMATS):
        if set(f) & {"html", "text", "markdown"}:
            assert len(parts.get(b, ())) >= 3, (f, parts.get(b))
        else:
            assert b not in parts, f  # links or metadata alone fit in one message
    # Each item counted once: no part was taken for a duplicate.
    assert metric(p.agg_port, "ferry_aggregate_duplicates_total") == 0
    assert metric(p.agg_port, "ferry_aggregate_results_total") == 2 * len(FORMATS)

    # The same pages again, with a scrape whose messages hold them whole.
    p.scrape.stop()
    p.scrape = p.start_scrape()
    whole = [p.submit(urls, f, receiver) for f in FORMATS]
    got_whole = [bodies_of(receiver, b, 3) for b in whole]

    for f, a, b in zip(FORMATS, got_split, got_whole):
        done_a = json.loads(a["batch.completed"].body)
        done_b = json.loads(b["batch.completed"].body)
        assert (done_a["status"], done_a["processed"], done_a["succeeded"]) == ("completed", 2, 2)
        assert done_a["credits_charged"] == 2
        assert "results_truncated" not in done_a, f
        ra, rb = done_a["results"], done_b["results"]
        assert [r["index"] for r in ra] == [0, 1]
        for x, y in zip(ra, rb):
            assert "part" not in x and "parts" not in x
            assert comparable(x) == comparable(y), f
        # item.completed carries the whole result too.
        item0 = json.loads(a[("item", 0)].body)["result"]
        assert comparable(item0) == comparable(ra[0]), f
        if "html" in f:
            assert ra[0]["data"]["html"].encode() == BIG
        if "links" in f:
            assert len(ra[0]["data"]["links"]) == 16000
        if "metadata" in f:
            assert ra[0]["data"]["metadata"]["title"] == "Big caf\u00e9 page"


NODE_CHECK = r"""
// For each {body (base64), signature, secret}: is the body what
// JSON.stringify(JSON.parse(body)) writes, and does seed 002's snippet
// (HMAC-SHA256 of the re-serialized body, hex) accept the signature?
const crypto = require('crypto');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = input.map(({body, signature, secret}) => {
  const raw = Buffer.from(body, 'base64');
  const again = Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))), 'utf8');
  const expectedSig = crypto.createHmac('sha256', secret)
    .update(JSON.stringify(JSON.parse(raw.toString('utf8')))).digest('hex');
  let first = -1;
  for (let i = 0; i < Math.max(raw.length, again.length); i++)
    if (raw[i] !== again[i]) { first = i; break; }
  return {same: raw.equals(again), first,
          near: first < 0 ? '' : raw.slice(Math.max(0, first - 40), first + 40).toString(),
          again: first < 0 ? '' : again.slice(Math.max(0, first - 40), first + 40).toString(),
          verified: signature === null || signature === `sha256=${expectedSig}`};
});
process.stdout.write(JSON.stringify(out));
"""


def node_check(items):
    """items: [(body bytes, X-Ferry-Signature or None)] -> node's verdicts."""
    data = [{"body": base64.b64encode(b).decode(), "signature": s, "secret": SECRET}
            for b, s in items]
    out = subprocess.run(["node", "-e", NODE_CHECK], input=json.dumps(data).encode(),
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


def test_webhook_bodies_are_what_javascript_writes(start_stage, receiver, site):
    p = Pipeline(start_stage, aggregate_env={"FERRY_BATCH_DEADLINE": "8s",
                                             "FERRY_AGGREGATE_STATUS_INTERVAL": "100ms"})
    metadata = {"price": 1.10, "ratio": 2 / 3, "big": 1.5e18, "small": 1e-7, "whole": 10.0,
                "neg": -0.0, "text": "caf\u00e9 \u2603 \U0001F600 \u2028 tab\t bell\u0007 \u001f",
                "nested": {"b": 1, "2": "an index-like key", "1": [1.5, 2.0]}}
    # Completed, with a scraped page full of escapes inline.
    done = p.submit([site + "/medium", site + "/small"], ["text", "metadata"], receiver,
                    metadata=metadata)
    # Failed at its deadline with 2 of 3 items in: progress 2/3.
    failed = p.submit([site + "/small", site + "/small?b", site + "/slow"], ["html"], receiver,
                      metadata=metadata, options={"timeout_ms": 60000})
    got = bodies_of(receiver, done, 3)
    got.update({("failed",) + (k if isinstance(k, tuple) else (k,)): v
                for k, v in bodies_of(receiver, failed, 3).items()})
    ended = json.loads(got[("failed", "batch.failed")].body)
    assert ended["status"] == "failed" and ended["processed"] == 2
    assert ended["progress"] == 0.667
    assert json.loads(got["batch.completed"].body)["metadata"]["nested"]["1"] == [1.5, 2]

    reqs = list(got.values())
    verdicts = node_check([(q.body, q.headers["x-ferry-signature"]) for q in reqs])
    for q, v in zip(reqs, verdicts):
        assert v["same"], f"{q.headers['x-ferry-event']}: differs at byte {v['first']}: " \
                          f"{v['near']!r} vs {v['again']!r}"
        assert v["verified"], q.headers["x-ferry-event"]

    # The status documents aggregate writes too (progress 0.667 while running).
    docs = [m.value for m in kafka_consume(p.agg.env["FERRY_TOPIC_PREFIX"] + "batch.status")
            if m.json().get("status") != "queued"]
    assert any(json.loads(d)["progress"] == 0.667 for d in docs)
    for d, v in zip(docs, node_check([(d, None) for d in docs])):
        assert v["same"], f"status differs at byte {v['first']}: {v['near']!r} vs {v['again']!r}"
