"""ingest with the real pipeline behind it: what ingest serves (status,
results pages, webhook state, deliveries, redeliver) from what scrape,
aggregate and deliver really write."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port, http, wait_until

ACME = {"Authorization": "Bearer key-acme"}


@pytest.fixture
def site():
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            body = (f"<html><head><title>{self.path}</title></head>"
                    f"<body><p>page {self.path}</p></body></html>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_status_results_and_deliveries_from_the_real_pipeline(start_stage, receiver, site):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stages = [start_stage("ingest", FERRY_LISTEN=f"127.0.0.1:{port}")]
    for name in ("scrape", "aggregate", "deliver"):
        stages.append(start_stage(name, **{f"FERRY_{name.upper()}_METRICS_LISTEN":
                                           f"127.0.0.1:{free_port()}"}))
    for st in stages:
        st.wait_log(r"event=topics_ready", timeout=60)

    def health():
        try:
            return http("GET", base + "/healthz").status == 200
        except OSError:
            return False

    wait_until(health, timeout=60, what="ingest ready")
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
