#!/usr/bin/env python3
"""edge_load.py — what issue 10 measures at ingest's edge, on loopback only.

    edge_load.py submits BASE KEY N      N concurrent submits (one connection
                                         each); prints p50/p99/max and codes
    edge_load.py slow BASE KEY N SECS    N slow clients (a header line every
                                         10 s, spread over 127.0.0.2..) for
                                         SECS while /healthz and a keyed GET
                                         are probed twice a second
    edge_load.py hostile BASE KEY        the framing and NUL attacks of the
                                         issue, once each; prints the answers

Counts and durations are bounded by the arguments; nothing leaves 127/8.
"""

import asyncio
import json
import socket
import sys
import time

SMALL = json.dumps({"urls": [f"https://www.example.com/p/{i}" for i in range(10)],
                    "metadata": {"bench": True}}).encode()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def split(base):
    hostport = base.split("//", 1)[1]
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


async def one_request(host, port, raw, timeout=30.0, source=None):
    """Sends raw bytes on a fresh connection; returns (status or None, seconds)."""
    t0 = time.monotonic()
    try:
        kw = {"local_addr": (source, 0)} if source else {}
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port, **kw), timeout)
        w.write(raw)
        await w.drain()
        line = await asyncio.wait_for(r.readline(), timeout)
        status = int(line.split()[1]) if line.startswith(b"HTTP/") else None
        took = time.monotonic() - t0
        # The rest of the answer, and whether the server then closes.
        try:
            await asyncio.wait_for(r.read(), 2.0)
            closed = True
        except asyncio.TimeoutError:
            closed = False
        w.close()
        return (status, closed), took
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        return (None, True), time.monotonic() - t0


def post(path, key, body):
    return (f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


def get(path, key=None):
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\n{auth}Connection: close\r\n\r\n".encode()


async def submits(base, key, n):
    host, port = split(base)
    t0 = time.monotonic()
    res = await asyncio.gather(*(one_request(host, port, post("/v1/batch", key, SMALL), 60.0)
                                 for _ in range(n)))
    wall = time.monotonic() - t0
    codes = {}
    res = [(st, t) for (st, _), t in res]
    for st, _ in res:
        codes[st] = codes.get(st, 0) + 1
    lat = [s for st, s in res if st == 202]
    print(f"submits: {n} concurrent, {codes.get(202, 0)} accepted in {wall:.2f} s; "
          f"latency of the 202s p50 {pct(lat, 0.5):.3f} s, p99 {pct(lat, 0.99):.3f} s, "
          f"max {max(lat) if lat else float('nan'):.3f} s; codes {codes}")


async def slow_client(host, port, source, stop, stats):
    """Sends a request head one line every 10 s; records whether (and when)
    the server answered or closed."""
    try:
        r, w = await asyncio.open_connection(host, port, local_addr=(source, 0))
    except OSError:
        stats["refused"] += 1
        return
    t0 = time.monotonic()

    async def until_closed():
        try:
            while await r.read(4096):
                pass
        except OSError:
            pass

    closed = asyncio.create_task(until_closed())
    stats["open"] += 1
    try:
        w.write(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
        await w.drain()
        i = 0
        while not stop.is_set() and not closed.done():
            done, _ = await asyncio.wait({closed, asyncio.ensure_future(stop.wait())},
                                         timeout=10.0, return_when=asyncio.FIRST_COMPLETED)
            if closed.done() or stop.is_set():
                break
            w.write(f"X-Slow-{i}: {i}\r\n".encode())
            await w.drain()
            i += 1
    except OSError:
        pass
    if closed.done():
        stats["closed_by_server"] += 1
        stats["closed_after"].append(time.monotonic() - t0)
    else:
        stats["held_to_end"] += 1
        closed.cancel()
    w.close()


async def slow(base, key, n, secs):
    host, port = split(base)
    stop = asyncio.Event()
    stats = {"open": 0, "refused": 0, "held_to_end": 0, "closed_by_server": 0, "closed_after": []}
    # 50 per source address, as a botnet's many addresses would arrive.
    sources = [f"127.0.0.{2 + i // 50}" for i in range(n)]
    tasks = []
    for s in sources:
        tasks.append(asyncio.create_task(slow_client(host, port, s, stop, stats)))
        if len(tasks) % 100 == 0:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    probes = {"healthz": [], "status": []}
    fails = {"healthz": 0, "status": 0}
    t_end = time.monotonic() + secs
    while time.monotonic() < t_end:
        for name, raw in (("healthz", get("/healthz")),
                          ("status", get("/v1/batch/bat_00000000000000000000000000", key))):
            (st, _), t = await one_request(host, port, raw, 5.0)
            if st in (200, 404):
                probes[name].append(t)
            else:
                fails[name] += 1
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    ca = stats["closed_after"]
    print(f"slow: {n} slow clients: {stats['open']} connected, {stats['refused']} refused at "
          f"connect, {stats['closed_by_server']} cut off by the server (after "
          f"{pct(ca, 0.5):.1f} s median, {max(ca) if ca else float('nan'):.1f} s at most), "
          f"{stats['held_to_end']} still open after {secs:.0f} s")
    for name in probes:
        ok = len(probes[name])
        print(f"slow: {name} during the attack: {ok}/{ok + fails[name]} answered, "
              f"p99 {pct(probes[name], 0.99) * 1000:.1f} ms")


HOSTILE = {
    "two Content-Length": (b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {key}\r\n"
                           b"Content-Length: 12\r\nContent-Length: 2\r\n\r\n{\"urls\":[1]}"),
    "Content-Length with chunked": (
        b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {key}\r\n"
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"),
    "unknown Transfer-Encoding": (
        b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {key}\r\n"
        b"Transfer-Encoding: gzip\r\n\r\n"),
    "Expect with a body over the cap": (
        b"POST /v1/batch HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {key}\r\n"
        b"Content-Length: 999999999999\r\nExpect: 100-continue\r\n\r\n"),
    "bare LF": b"GET /healthz HTTP/1.1\nHost: h\n\n",
    "NUL in the key": (b"GET /v1/batch/bat_00000000000000000000000000 HTTP/1.1\r\nHost: h\r\n"
                       b"Authorization: Bearer {key}\x00x\r\n\r\n"),
}


async def hostile(base, key):
    host, port = split(base)
    for name, raw in HOSTILE.items():
        raw = raw.replace(b"{key}", key.encode())
        (st, closed), t = await one_request(host, port, raw, 5.0)
        print(f"hostile: {name}: {st if st else 'no answer'} after {t:.2f} s, "
              f"connection {'closed' if closed else 'kept open'}")


def main():
    cmd, base, key = sys.argv[1], sys.argv[2], sys.argv[3]
    if cmd == "submits":
        asyncio.run(submits(base, key, int(sys.argv[4])))
    elif cmd == "slow":
        asyncio.run(slow(base, key, int(sys.argv[4]), float(sys.argv[5])))
    elif cmd == "hostile":
        asyncio.run(hostile(base, key))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
