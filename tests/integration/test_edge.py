"""The edge against hostile clients (issue 10): framing two parsers could
read differently, NUL bytes, slow clients, connection caps, URLs read once
by curl's parser. Raw sockets, loopback only, bounded in count and time."""

import asyncio
import json
import re
import socket
import time

import pytest

from conftest import free_port, http, kafka_consume, wait_until
from test_ingest import ACME, error_of, start_ingest

KEY = b"key-acme"


def raw(port, data, timeout=5.0, source=None):
    """Sends data on a fresh connection; returns (every byte the server sent
    until it closed or went quiet, whether it closed)."""
    s = socket.socket()
    if source:
        s.bind((source, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.sendall(data)
    got, closed = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        got += chunk
        s.settimeout(0.5)  # after the first bytes, only wait briefly for more
    s.close()
    return got, closed


def statuses(data):
    """Status codes of every response in a byte stream (responses follow
    each other's bodies directly)."""
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def port_of(api):
    return int(api.base.rsplit(":", 1)[1])


CASES = [
    # (what, bytes, status)
    ("two different Content-Length",
     b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + KEY +
     b"\r\nContent-Length: 38\r\nContent-Length: 2\r\n\r\n{\"urls\": [\"https://a.example/\"]}  ",
     400),
    ("Content-Length with chunked, a second request after the last chunk",
     b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + KEY +
     b"\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
     b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ("unknown Transfer-Encoding",
     b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + KEY +
     b"\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ("bare LF line ends", b"GET /healthz HTTP/1.1\nHost: h\n\n", 400),
    ("bare LF in one line", b"GET /healthz HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400),
    ("obsolete line folding", b"GET /healthz HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
    ("space before the colon", b"GET /healthz HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    ("two Host fields", b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n", 400),
    ("Transfer-Encoding in HTTP/1.0",
     b"POST /v1/batch HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("HTTP/2 in an HTTP/1 request line", b"GET /healthz HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    ("malformed chunk size",
     b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + KEY +
     b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
]


def test_ambiguous_framing_is_refused_and_closed(start_stage):
    _, api = start_ingest(start_stage)
    port = port_of(api)
    for what, data, want in CASES:
        got, closed = raw(port, data)
        assert statuses(got) == [want], (what, got[:300])
        assert closed, f"{what}: the connection stayed open"
        body = json.loads(got.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["code"] and body["error"]["message"], what
    # The server is unharmed, and a clean request on one connection is
    # answered, kept alive, and a pipelined second one answered too.
    got, closed = raw(port, b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
                            b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert statuses(got) == [200, 200] and closed


def test_expect_continue_over_the_cap_gets_413_not_100(start_stage):
    _, api = start_ingest(start_stage, FERRY_MAX_BODY_BYTES="1M")
    port = port_of(api)
    got, closed = raw(port, b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + KEY +
                      b"\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n")
    assert statuses(got) == [413] and closed, got[:300]
    assert json.loads(got.split(b"\r\n\r\n", 1)[1])["error"]["details"] == {"max_bytes": 1 << 20}
    # Under the cap: 100 Continue first, then the answer.
    body = b'{"urls": ["https://a.example/"]}'
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + KEY +
              b"\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
    assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(body)
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    s.close()
    assert statuses(got) == [202]


def test_nul_bytes_do_not_truncate(start_stage):
    _, api = start_ingest(start_stage)
    port = port_of(api)
    bid = api.submit({"urls": ["https://a.example/"]})["id"]
    ok = b"GET /v1/batch/" + bid.encode() + b" HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer "
    got, _ = raw(port, ok + KEY + b"\r\nConnection: close\r\n\r\n")
    assert statuses(got) == [200]
    # The key followed by a NUL and more: not the key.
    got, closed = raw(port, ok + KEY + b"\x00x\r\n\r\n")
    assert statuses(got) == [400] and closed
    # The batch id followed by an encoded NUL: not the batch.
    r = api.get(f"/v1/batch/{bid}%00")
    assert r.status == 400 and r.json()["error"]["code"] == "bad_request"
    r = api.get(f"/v1/batch/{bid}/results?cursor=0%00")
    assert r.status == 400


async def _slow_attack(port, n, probe, seconds):
    """n connections sending a header line every 2 s from 127.0.0.2..; while
    they are held, probe() runs twice a second. Returns (probe results,
    seconds after which each slow connection was cut off)."""
    loop = asyncio.get_running_loop()
    cut = []

    async def slow(i):
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port,
                                                 local_addr=(f"127.0.0.{2 + i // 100}", 0))
        except OSError:
            return
        t0 = loop.time()
        w.write(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
        try:
            for k in range(int(seconds / 2) + 2):
                try:
                    if await asyncio.wait_for(r.read(4096), 2.0) == b"" or r.at_eof():
                        break
                    await asyncio.wait_for(r.read(), 2.0)  # the 408, then EOF
                    break
                except asyncio.TimeoutError:
                    w.write(b"X-Slow-%d: %d\r\n" % (k, k))
                    await w.drain()
            cut.append(loop.time() - t0)
        except (OSError, asyncio.TimeoutError):
            cut.append(loop.time() - t0)
        w.close()

    tasks = [asyncio.create_task(slow(i)) for i in range(n)]
    await asyncio.sleep(1.0)
    results = []
    for _ in range(int(seconds * 2)):
        results.append(await loop.run_in_executor(None, probe))
        await asyncio.sleep(0.5)
    await asyncio.gather(*tasks)
    return results, cut


def test_slow_clients_do_not_take_the_api_down(start_stage):
    # 1,500 clients feeding a header line every 2 s, spread over 15 loopback
    # addresses; heads get 4 s.
    _, api = start_ingest(start_stage, FERRY_HTTP_HEADER_TIMEOUT="4s")
    bid = api.submit({"urls": ["https://a.example/"]})["id"]

    def probe():
        try:
            return (api.get("/healthz", headers={}).status,
                    api.get(f"/v1/batch/{bid}").status)
        except OSError as e:
            return str(e)

    results, cut = asyncio.run(_slow_attack(port_of(api), 1500, probe, 6.0))
    assert results and all(r == (200, 200) for r in results), results
    assert len(cut) == 1500
    assert max(cut) < 9, f"a slow client was held {max(cut):.1f} s (head deadline 4 s)"


def test_connection_caps(start_stage):
    _, api = start_ingest(start_stage, FERRY_HTTP_MAX_PER_ADDRESS="20")
    port = port_of(api)
    held = []
    for _ in range(20):
        s = socket.socket()
        s.bind(("127.0.0.7", 0))
        s.connect(("127.0.0.1", port))
        held.append(s)
    # The 21st from that address: 503 at once, closed.
    got, closed = raw(port, b"", source="127.0.0.7")
    assert statuses(got) == [503] and closed
    assert json.loads(got.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "too_many_connections"
    # Other addresses are served.
    assert api.get("/healthz", headers={}).status == 200
    for s in held:
        s.close()
    wait_until(lambda: statuses(raw(port, b"GET /healthz HTTP/1.1\r\nHost: h\r\n"
                                          b"Connection: close\r\n\r\n", source="127.0.0.7")[0])
               == [200], what="the address served again once its connections closed")


def test_urls_are_read_once_by_curl(start_stage, ferry_env):
    _, api = start_ingest(start_stage, FERRY_ALLOW_PRIVATE_NETWORKS="0")
    p = ferry_env["FERRY_TOPIC_PREFIX"]
    for url, field in [("http://127.0.0.1:28181\\@evil.example/x", "urls[0]"),
                       ("https://a.example:99999/", "urls[0]"),
                       ("http://user:secret@a.example/", "urls[0]")]:
        e = error_of(api.post("/v1/batch", {"urls": [url]}), 422, "invalid_field", field)
        assert "secret" not in e["message"] and "evil" not in e["message"]
    e = error_of(api.post("/v1/batch", {"urls": ["https://a.example/"],
                                        "webhook_url": "http://127.0.0.1:9/h"}),
                 422, "invalid_field", "webhook_url")
    assert "loopback" in e["message"]
    error_of(api.post("/v1/batch", {"urls": ["https://a.example/"],
                                    "webhook_url": "http://[::ffff:10.0.0.1]/h"}),
             422, "invalid_field", "webhook_url")
    # What is accepted is curl's own reading, and that is what scrape gets.
    bid = api.submit({"urls": ["HTTP://A.example:8080/x/../y?q=1", "http://2130706433/"]})["id"]
    reqs = kafka_consume(p + "scrape.requests", 2)
    assert sorted(json.loads(m.value)["url"] for m in reqs if m.key == bid) == \
        ["http://127.0.0.1/", "http://A.example:8080/y?q=1"]
