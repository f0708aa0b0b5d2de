"""ingest with the real pipeline behind it: what ingest serves (status,
results pages, webhook state, deliveries, redeliver) from what scrape,
aggregate and deliver really write."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port, http, kafka_consume, wait_until

ACME = {"Authorization": "Bearer key-acme"}

# A page several times FERRY_MAX_MESSAGE_BYTES (1 MiB in the parts test):
# every format of it is split into parts.
BIG_PARAS = 24000
BIG = ("<html><head><title>Big page</title><meta name=\"description\" content=\"many parts\">"
       "</head><body>" +
       "".join(f"<p>Paragraph {i} says something <a href=\"/link/{i}\">link {i}</a>.</p>"
               for i in range(BIG_PARAS)) +
       "</body></html>").encode()


@pytest.fixture
def site():
    """/big: BIG; /missing: 404; /boom: 500; /slow/...: 1 s; /wait/...: 0.2 s;
    /to-credentials: a redirect naming user:password@; else a small page.
    `site.hits` counts the requests served."""
    hits = []

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            hits.append(self.path)
            code = 200
            if self.path == "/big":
                body = BIG
            elif self.path == "/missing":
                code, body = 404, b"<html><body>no</body></html>"
            elif self.path == "/boom":
                code, body = 500, b"<html><body>boom</body></html>"
            elif self.path == "/to-credentials":
                self.send_response(302)
                self.send_header("Location", f"http://user:pw-{self.server.server_address[1]}@"
                                             f"127.0.0.1:{self.server.server_address[1]}/landed")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            else:
                if self.path.startswith("/slow/"):
                    time.sleep(1.0)
                elif self.path.startswith("/wait/"):
                    time.sleep(0.2)
                body = (f"<html><head><title>{self.path}</title></head>"
                        f"<body><p>page {self.path}</p></body></html>").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    class Site(str):
        pass

    s = Site(f"http://127.0.0.1:{srv.server_address[1]}")
    s.hits = hits
    yield s
    srv.shutdown()
    srv.server_close()


class Pipeline(str):
    """ingest's base URL; `stages` has the four stages by name."""


def pipeline(start_stage, **env):
    """The four stages; returns ingest's base URL (a Pipeline) once it is ready."""
    port = free_port()
    base = Pipeline(f"http://127.0.0.1:{port}")
    base.stages = {"ingest": start_stage("ingest", FERRY_LISTEN=f"127.0.0.1:{port}", **env)}
    for name in ("scrape", "aggregate", "deliver"):
        base.stages[name] = start_stage(name, **{f"FERRY_{name.upper()}_METRICS_LISTEN":
                                                 f"127.0.0.1:{free_port()}"}, **env)
    for st in base.stages.values():
        st.wait_log(r"event=topics_ready", timeout=60)

    def health():
        try:
            return http("GET", base + "/healthz").status == 200
        except OSError:
            return False

    wait_until(health, timeout=60, what="ingest ready")
    return base


def all_results(base, path):
    got, url = [], path
    while url:
        r = http("GET", base + url, headers=ACME, timeout=60)
        assert r.status == 200, r.body
        got += r.json()["results"]
        url = r.json()["next"]
    return got


def test_status_results_and_deliveries_from_the_real_pipeline(start_stage, receiver, site):
    base = pipeline(start_stage)
    n = 25
    r = http("POST", base + "/v1/batch",
             {"urls": [f"{site}/p{i}" for i in range(n)], "formats": ["text"],
              "webhook_url": receiver.url + "/hook"}, ACME)
    assert r.status == 202, r.body
    bid = r.json()["id"]

    def final():
        d = http("GET", f"{base}/v1/batch/{bid}", headers=ACME).json()
        return d if d["status"] == "completed" and d["webhook"]["status"] == "delivered" else None

    d = wait_until(final, timeout=90, what="completed and webhook delivered")
    assert d["processed"] == n and d["succeeded"] == n and "tenant" not in d
    assert d["webhook"]["attempts"] == 1 and d["webhook"]["delivered_at"]

    got, url = [], f"/v1/batch/{bid}/results?limit=10"
    while url:
        page = http("GET", base + url, headers=ACME).json()
        got += page["results"]
        url = page["next"]
    assert sorted(x["index"] for x in got) == list(range(n))
    assert all(x["status"] == "ok" and f"page /p{x['index']}" in x["data"]["text"] for x in got)

    dl = http("GET", f"{base}/v1/batch/{bid}/deliveries", headers=ACME).json()
    assert [x["outcome"] for x in dl["deliveries"]] == ["delivered"]
    first = receiver.wait_for(1)[0]
    r = http("POST", f"{base}/v1/batch/{bid}/redeliver", headers=ACME)
    assert r.status == 202, r.body
    again = receiver.wait_for(2)[1]
    assert again.body == first.body
    assert again.headers["x-ferry-delivery"] == first.headers["x-ferry-delivery"]
    wait_until(lambda: http("GET", f"{base}/v1/batch/{bid}", headers=ACME)
               .json()["webhook"]["attempts"] == 2, what="the redelivery folded in")


def test_results_written_in_parts_are_read_whole(start_stage, site):
    base = pipeline(start_stage, FERRY_MAX_MESSAGE_BYTES="1M")
    formats = ["html", "text", "markdown", "links", "metadata"]
    r = http("POST", base + "/v1/batch",
             {"urls": [f"{site}/big", f"{site}/small"], "formats": formats}, ACME)
    assert r.status == 202, r.body
    bid = r.json()["id"]
    wait_until(lambda: http("GET", f"{base}/v1/batch/{bid}", headers=ACME).json()["status"]
               == "completed", timeout=90, what="the batch completed")
    html = BIG.decode()
    for path in (f"/v1/batch/{bid}/results", f"/v1/batch/{bid}?include=results"):
        doc = http("GET", base + path, headers=ACME, timeout=60).json()
        got = {x["index"]: x for x in doc["results"]}
        assert sorted(got) == [0, 1], path
        big = got[0]
        assert "part" not in big and "parts" not in big
        d = big["data"]
        assert d["html"] == html, (path, len(d["html"]), len(html))
        for fmt in ("text", "markdown"):
            assert d[fmt].count("Paragraph ") == BIG_PARAS, (path, fmt)
            assert "Paragraph 0 says" in d[fmt] and f"Paragraph {BIG_PARAS - 1} says" in d[fmt]
        assert len(d["links"]) == BIG_PARAS and d["links"][-1].endswith(f"/link/{BIG_PARAS - 1}")
        assert d["metadata"]["title"] == "Big page"
        assert got[1]["data"]["html"].endswith("</html>")


def test_results_filtered_by_status(start_stage, site):
    base = pipeline(start_stage)
    urls = [f"{site}/a", f"{site}/missing", f"{site}/boom", f"{site}/b", f"{site}/boom"]
    r = http("POST", base + "/v1/batch", {"urls": urls, "formats": ["text"]}, ACME)
    assert r.status == 202, r.body
    bid = r.json()["id"]
    wait_until(lambda: http("GET", f"{base}/v1/batch/{bid}", headers=ACME).json()["status"]
               == "completed", timeout=90, what="the batch completed")
    every = all_results(base, f"/v1/batch/{bid}/results")
    status_of = {x["index"]: x["status"] for x in every}
    assert sorted(status_of) == [0, 1, 2, 3, 4]
    assert status_of[0] == status_of[3] == "ok" and status_of[2] == status_of[4] != "ok"

    def indexes(query):
        return sorted(x["index"] for x in all_results(base, f"/v1/batch/{bid}/results?{query}"))

    assert indexes("status=ok") == [0, 3]
    assert indexes("status=failed") == [1, 2, 4]
    assert indexes(f"status={status_of[2]}") == [2, 4]
    assert indexes(f"status={status_of[1]}&limit=1") == [1]
    # Pages of a filter keep the filter in their next link.
    first = http("GET", f"{base}/v1/batch/{bid}/results?status=failed&limit=1",
                 headers=ACME).json()
    assert "status=failed" in first["next"] and len(first["results"]) == 1
    r = http("GET", f"{base}/v1/batch/{bid}/results?status=nonsense", headers=ACME)
    assert r.status == 422 and r.json()["error"]["details"]["field"] == "status"


def test_cancel_end_to_end(start_stage, receiver, site):
    base = pipeline(start_stage, FERRY_SCRAPE_INFLIGHT="2", FERRY_SCRAPE_HOST_CONNECTIONS="2")
    n = 40  # 2 at a time, 1 s each: 20 s of work
    r = http("POST", base + "/v1/batch",
             {"urls": [f"{site}/slow/{i}" for i in range(n)], "formats": ["text"],
              "webhook_url": receiver.url + "/hook"}, ACME)
    assert r.status == 202, r.body
    bid = r.json()["id"]
    wait_until(lambda: http("GET", f"{base}/v1/batch/{bid}", headers=ACME).json()["processed"]
               >= 2, timeout=60, what="the batch under way")

    r = http("DELETE", f"{base}/v1/batch/{bid}", headers=ACME)
    assert r.status == 202, r.body
    ans = r.json()
    # Not the status from before the cancel: the cancel is under way.
    assert ans["id"] == bid and ans["status"] == "cancelling" and ans["cancel_requested"] is True

    d = wait_until(lambda: (lambda d: d if d["status"] == "cancelled" else None)(
        http("GET", f"{base}/v1/batch/{bid}", headers=ACME).json()), timeout=20,
        what="aggregate made the batch cancelled")
    assert d["completed_at"] and d["processed"] < n
    hook = receiver.wait_for(1)[0]
    assert hook.headers["x-ferry-event"] == "batch.cancelled"
    assert '"status":"cancelled"' in hook.body.decode()
    r = http("DELETE", f"{base}/v1/batch/{bid}", headers=ACME)
    assert r.status == 409 and r.json()["error"]["code"] == "batch_finished"
    # Items not yet fetched are skipped: fewer than n pages were asked for.
    assert len([h for h in site.hits if h.startswith("/slow/")]) < n


def test_credentials_of_a_redirect_are_never_echoed(start_stage, ferry_env, site):
    base = pipeline(start_stage)
    p = ferry_env["FERRY_TOPIC_PREFIX"]
    r = http("POST", base + "/v1/batch",
             {"urls": [f"{site}/to-credentials"], "formats": ["html", "links"]}, ACME)
    assert r.status == 202, r.body
    bid = r.json()["id"]
    wait_until(lambda: http("GET", f"{base}/v1/batch/{bid}", headers=ACME).json()["status"]
               == "completed", timeout=60, what="the batch completed")
    res = all_results(base, f"/v1/batch/{bid}/results")
    assert res[0]["status"] == "ok" and res[0]["final_url"] == f"{site}/landed"
    secret = f"pw-{site.rsplit(':', 1)[1]}".encode()
    for topic in ("scrape.results", "batch.status", "scrape.requests"):
        assert not any(secret in (m.value or b"") for m in kafka_consume(p + topic)), topic
