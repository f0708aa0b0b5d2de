"""render benchmark's Kafka ends (bench_render.sh).

    render_bench.py gen N URL PREFIX        N screenshot requests to <PREFIX>render.requests
    render_bench.py watch N TIMEOUT PREFIX METRICS_URL PID
        reads <PREFIX>scrape.results until N results arrived (or TIMEOUT s),
        sampling ferry_render_rss_bytes from METRICS_URL meanwhile; prints
        the rate between the first and the last result, per-item latency
        percentiles (the results' duration_ms), the statuses, peak memory,
        and the CPU time of the stage PID and all its descendants (browsers,
        their zygotes, renderers and helpers, dead ones included) per
        screenshot: what the machine must give per screenshot, whatever else
        it runs.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

BROKERS = os.environ["FERRY_KAFKA_BROKERS"]


def gen(n, url, prefix):
    batch = "bat_01JF" + "0" * 22
    lines = []
    for i in range(n):
        r = {"batch_id": batch, "tenant": "bench", "index": i, "url": url, "headers": {},
             "formats": ["screenshot"], "render": True, "screenshot": {"type": "png"},
             "options": {"timeout_ms": 30000, "max_bytes": 10485760, "follow_redirects": True}}
        lines.append(batch + "\t" + json.dumps(r))
    subprocess.run(["kcat", "-P", "-b", BROKERS, "-t", prefix + "render.requests", "-K", "\t",
                    "-X", "partitioner=murmur2_random"],
                   input=("\n".join(lines) + "\n").encode(), check=True, timeout=120)


def rss(url):
    try:
        body = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return 0
    for line in body.splitlines():
        if line.startswith("ferry_render_rss_bytes"):
            return float(line.split()[1])
    return 0


def tree_cpu(root):
    """CPU seconds of root and every descendant, with what the dead ones
    left in their parents' cutime/cstime."""
    ticks = os.sysconf("SC_CLK_TCK")
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
                procs[int(d)] = (int(st[1]), sum(int(x) for x in st[11:15]))
            except OSError:
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += procs.get(pid, (0, 0))[1]
        todo += [p for p, (pp, _) in procs.items() if pp == pid]
    return total / ticks


def watch(n, timeout, prefix, metrics, pid):
    peak = [0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss(metrics))
            time.sleep(0.25)

    threading.Thread(target=sample, daemon=True).start()
    seen, first, last, lat, statuses = set(), None, None, [], {}
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(["kcat", "-C", "-b", BROKERS, "-t", prefix + "scrape.results", "-o",
                             "beginning", "-q", "-u", "-f", "%s\n"], stdout=subprocess.PIPE)
    try:
        for line in proc.stdout:
            now = time.monotonic()
            r = json.loads(line)
            if r["index"] in seen:
                continue
            seen.add(r["index"])
            first = first or now
            last = now
            lat.append(r["duration_ms"])
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            if len(seen) >= n or now > deadline:
                break
    finally:
        proc.kill()
        done.set()
    cpu = tree_cpu(pid)
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0
    rate = (len(seen) - 1) / (last - first) if last and last > first else 0
    print(f"{rate:.1f} screenshots/s, {len(seen)} results, p50 {pct(0.5)} ms, "
          f"p99 {pct(0.99)} ms, max {lat[-1] if lat else 0} ms, statuses {statuses}, "
          f"peak memory {peak[0] / 1048576:.0f} MB, CPU {1000 * cpu / max(len(seen), 1):.0f} ms "
          f"per screenshot")


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        watch(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
