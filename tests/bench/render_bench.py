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
        it runs; and the CPU this watcher itself took meanwhile.

The watcher samples /proc and /metrics every FERRY_BENCH_RENDER_SAMPLE_MS
(default 1000): the stage measures its PSS at most every 5 s, and what a
sample misses of short-lived renderers is counted as theirs from the tree's
total at the end, so sampling more often only takes CPU from the stage.
"""

import json
import os
import resource
import subprocess
import sys
import threading
import time
import urllib.request

BROKERS = os.environ["FERRY_KAFKA_BROKERS"]
SAMPLE_S = int(os.environ.get("FERRY_BENCH_RENDER_SAMPLE_MS", "1000")) / 1000


BATCH = "bat_01JF" + "0" * 22


def request(i, url):
    r = {"batch_id": BATCH, "tenant": "bench", "index": i, "url": url, "headers": {},
         "formats": ["screenshot"], "render": True, "screenshot": {"type": "png"},
         "options": {"timeout_ms": 30000, "max_bytes": 10485760, "follow_redirects": True}}
    return BATCH + "\t" + json.dumps(r)


def gen(n, url, prefix):
    lines = [request(i, url) for i in range(n)]
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


def procs_now():
    """pid -> (ppid, CPU ticks of itself and its reaped children, CPU ticks
    of itself alone)."""
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
                own = int(st[11]) + int(st[12])
                procs[int(d)] = (int(st[1]), own + int(st[13]) + int(st[14]), own)
            except OSError:
                pass
    return procs


def descendants(procs, root):
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += [p for p, v in procs.items() if v[0] == pid]
    return out


def tree_cpu(root):
    """CPU seconds of root and every descendant, with what the dead ones
    left in their parents' cutime/cstime."""
    procs = procs_now()
    return sum(procs[p][1] for p in descendants(procs, root) if p in procs) / TICKS


TICKS = os.sysconf("SC_CLK_TCK")
KINDS = {"gpu-process": "gpu", "utility": "network", "renderer": "renderers",
         "zygote": "renderers"}


def kind(pid, root, procs):
    if pid == root:
        return "stage"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            # Chromium's children rewrite theirs, spaces between arguments.
            args = f.read().replace(b"\0", b" ").split()
    except OSError:
        return None
    for a in args:
        if a.startswith(b"--type="):
            k = a[7:].decode()
            # A zygote's fresh child (a renderer, the GPU process) shows the
            # zygote's command line until it sets its own: ask again later.
            if k == "zygote" and procs.get(procs[pid][0], (0,))[0] != root:
                return None
            return KINDS.get(k, "renderers")
    return "browser" if procs[pid][0] == root else "renderers"


def sample_kinds(root, seen):
    """Updates seen: pid -> [kind, CPU ticks of the process alone]."""
    procs = procs_now()
    for pid in descendants(procs, root):
        own = procs[pid][2]
        if pid not in seen:
            k = kind(pid, root, procs)
            if k is None:
                continue
            seen[pid] = [k, own]
        seen[pid][1] = own


def watch(n, timeout, prefix, metrics, pid):
    peak = [0.0]
    done = threading.Event()
    by_pid = {}

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss(metrics))
            sample_kinds(pid, by_pid)
            done.wait(SAMPLE_S)

    threading.Thread(target=sample, daemon=True).start()
    seen, first, last, lat, statuses = set(), None, None, [], {}
    own0 = time.process_time()
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
    own = time.process_time() - own0
    proc.wait()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    kcat = ru.ru_utime + ru.ru_stime
    cpu = tree_cpu(pid)
    sample_kinds(pid, by_pid)
    split = {}
    for k, ticks in by_pid.values():
        split[k] = split.get(k, 0) + ticks / TICKS
    # What the samples missed: the last moments of processes that exited.
    split["renderers"] = split.get("renderers", 0) + max(0, cpu - sum(split.values()))
    shots = max(len(seen), 1)
    # Small parts with a decimal: the stage's own share is a few ms.
    parts = ", ".join(f"{k} {1000 * v / shots:.{1 if v < 10 * shots / 1000 else 0}f}" for k, v in
                      sorted(split.items(), key=lambda kv: -kv[1]))
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0
    rate = (len(seen) - 1) / (last - first) if last and last > first else 0
    print(f"{rate:.1f} screenshots/s, {len(seen)} results, p50 {pct(0.5)} ms, "
          f"p99 {pct(0.99)} ms, max {lat[-1] if lat else 0} ms, statuses {statuses}, "
          f"peak memory {peak[0] / 1048576:.0f} MB, CPU {1000 * cpu / shots:.0f} ms "
          f"per screenshot ({parts}); watcher {1000 * own / shots:.1f}, "
          f"its kcat {1000 * kcat / shots:.1f})")


def lone(n, url, prefix):
    proc = subprocess.Popen(["kcat", "-C", "-b", BROKERS, "-t", prefix + "scrape.results", "-o",
                             "end", "-q", "-u", "-f", "%s\n"], stdout=subprocess.PIPE)
    time.sleep(2)  # kcat has its partitions before the first request
    lat, wall = [], []
    try:
        for i in range(n):
            t0 = time.monotonic()
            subprocess.run(["kcat", "-P", "-b", BROKERS, "-t", prefix + "render.requests", "-K",
                            "\t"], input=(request(i, url) + "\n").encode(), check=True,
                           timeout=60)
            line = proc.stdout.readline()
            wall.append(int(1000 * (time.monotonic() - t0)))
            lat.append(json.loads(line)["duration_ms"])
            time.sleep(0.3)  # the slot goes back to waiting
    finally:
        proc.kill()
    lat.sort()
    wall.sort()
    print(f"render p50 {lat[n // 2]} ms (min {lat[0]}, max {lat[-1]}), request to result p50 "
          f"{wall[n // 2]} ms")


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "lone":
        lone(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        watch(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
