"""The whole ferry system on one machine, for the chaos suite and the
end-to-end benchmarks: local Kafka (one broker or a cluster, through
compose/kafka.sh), a page server, a webhook receiver, and any number of
instances of each stage, all on 127.0.0.1.

    kafka = Kafka(port, nodes=3); kafka.start()
    pages = Pages(delay_ms=500); pages.start()
    hook = Receiver()
    sysm = System(kafka.brokers, workdir, instances={"scrape": 2}, replication=3)
    sysm.start()
    bid, secret = sysm.submit(urls, hook.url + "/hook")
    ...
    sysm.stop(); hook.close(); pages.stop(); kafka.stop()

Nothing here asserts; verify.py does. Every wait has a deadline.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# The run's block of ports, as the integration tests take theirs.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ports import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "compose" / "kafka.sh"
STAGES = ("ingest", "scrape", "aggregate", "deliver")
SECRET_KEY = "5f" * 32  # FERRY_SECRET_KEY of the system under test
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Timeout(Exception):
    """A wait ran past its deadline."""


def wait_for(fn, timeout, what, interval=0.1):
    """Calls fn until it returns something truthy; returns that. Raises
    Timeout naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)




def load():
    """The 1-minute load average, for figures taken beside other work."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# ---------------------------------------------------------------- HTTP


@dataclass
class Resp:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def http(method, url, body=None, headers=None, timeout=15.0):
    """One request; an HTTP error status is an answer, a connection error
    raises OSError."""
    hdrs = dict(headers or {})
    data = body
    if body is not None and not isinstance(body, bytes):
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def healthy(url):
    try:
        return http("GET", url, timeout=2).status == 200
    except OSError:
        return False


# ---------------------------------------------------------------- Kafka


class Kafka:
    """Brokers of compose/kafka.sh on `port` (node i serves port+i-1). With
    owned=False the broker(s) already run (tests/run.sh started them): they
    are neither started nor stopped here, but nodes can still be frozen,
    killed and restarted."""

    def __init__(self, port, nodes=1, owned=True):
        self.port, self.nodes, self.owned = port, nodes, owned
        self.env = {**os.environ, "FERRY_LOCAL_KAFKA_PORT": str(port),
                    "FERRY_LOCAL_KAFKA_NODES": str(nodes)}
        # kafka.sh probes FERRY_KAFKA_BROKERS when set; this object is about
        # the brokers on its own port.
        self.env.pop("FERRY_KAFKA_BROKERS", None)
        self.brokers = ",".join(f"127.0.0.1:{port + i}" for i in range(nodes))
        self.frozen = set()

    def sh(self, *args, timeout=180):
        out = subprocess.run([str(KAFKA_SH), *map(str, args)], env=self.env, text=True,
                             capture_output=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"kafka.sh {' '.join(map(str, args))}: "
                               f"{(out.stderr or out.stdout).strip()[-2000:]}")
        return out.stdout

    def start(self):
        self.sh("start")

    def stop(self):
        if self.owned:
            self.sh("stop")

    def pid(self, node=1):
        return int(self.sh("pid", node).strip())

    def freeze(self, node=1):
        os.kill(self.pid(node), signal.SIGSTOP)
        self.frozen.add(node)

    def thaw(self, node=1):
        os.kill(self.pid(node), signal.SIGCONT)
        self.frozen.discard(node)

    def kill(self, node=1):
        self.sh("kill", node)

    def stop_node(self, node=1):
        self.sh("stop-node", node)

    def start_node(self, node=1):
        self.sh("start-node", node)

    def status(self):
        out = subprocess.run([str(KAFKA_SH), "status"], env=self.env, text=True,
                             capture_output=True, timeout=60)
        return out.returncode == 0, (out.stdout + out.stderr).strip()

    def thaw_all(self):
        """Never leave a node frozen behind a failed case."""
        for node in list(self.frozen):
            try:
                self.thaw(node)
            except (RuntimeError, OSError):
                pass

    def pids(self):
        return [self.pid(n) for n in range(1, self.nodes + 1)]


# ---------------------------------------------------------------- pages


class Pages:
    """tests/tools/page_server on loopback: `count` pages /p<k>.html of about
    1 KB (heading "page k of ferry"), each answered after `delay_ms`, as the
    slow real web answers; every other path is a 404."""

    def __init__(self, count=100, delay_ms=0, build=None):
        self.count, self.delay_ms = count, delay_ms
        self.build = build_dir(build)
        self.proc = None
        self.port = None
        self.url = None

    def start(self):
        fd, portfile = tempfile.mkstemp(prefix="ferry-pages.")
        os.close(fd)
        os.unlink(portfile)
        self.proc = subprocess.Popen(
            [str(self.build / "tools" / "page_server"), str(free_port()), str(self.delay_ms),
             str(self.count), portfile], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: os.path.exists(portfile) and open(portfile).read().endswith("\n")
                     or self.proc.poll() is not None, 10, "page_server")
            if self.proc.poll() is not None:
                raise RuntimeError(f"page_server exited ({self.proc.returncode})")
            self.port = int(open(portfile).read())
        finally:
            if os.path.exists(portfile):
                os.unlink(portfile)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- receiver


@dataclass
class Hook:
    at: float
    headers: dict
    body: bytes
    answered: int  # the status we answered (0: connection reset while "down")


class Receiver:
    """A webhook receiver on loopback. While `down`, every connection is
    reset before a byte is read (a crashed receiver behind a load balancer);
    otherwise each POST is recorded and answered 200 after `delay` seconds
    (a slow receiver keeps a delivery in flight, for kill tests). `hooks`
    holds the POSTs answered (or answered to a sender that was gone)."""

    def __init__(self):
        self.hooks = []
        self.arrivals = []  # (time, batch id) as each POST's body is read
        self.resets = 0
        self.down = False
        self.delay = 0.0
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.arrivals.append((time.time(), self.headers.get("X-Ferry-Batch-Id")))
                if outer.delay:
                    time.sleep(outer.delay)
                hook = Hook(time.time(), {k.lower(): v for k, v in self.headers.items()}, body, 200)
                with outer.lock:
                    outer.hooks.append(hook)
                # The sender may be gone by now (killed mid-request): the
                # receiver took the webhook all the same, and a retry of it
                # is a duplicate under the same delivery id.
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    self.close_connection = True

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request, client_address):
                if not outer.down:
                    return True
                # SO_LINGER 0: close() sends RST, as a port with nothing
                # behind it would.
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                with outer.lock:
                    outer.resets += 1
                return False

            def shutdown_request(self, request):
                if outer.down:
                    request.close()
                else:
                    super().shutdown_request(request)

        self.server = Server(("127.0.0.1", free_port()), H)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_batch(self, bid):
        with self.lock:
            return [h for h in self.hooks if h.headers.get("x-ferry-batch-id") == bid]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- stages


class Stage:
    """One instance of a stage program, restartable; its output appends to
    one log file over all its runs."""

    def __init__(self, name, index, binary, env, args, log_path, health_url):
        self.name, self.index, self.binary = name, index, binary
        self.env, self.args = env, list(args)
        self.log_path, self.health_url = log_path, health_url
        self.proc = None
        self.runs = 0
        # Down on purpose (killed by a case, restart pending or never):
        # the supervisor leaves it alone.
        self.held = False

    @property
    def label(self):
        return f"{self.name}-{self.index}"

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(self.binary), *self.args], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.runs += 1
        self.held = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def healthy(self):
        return self.alive() and healthy(self.health_url)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def kill(self):
        """SIGKILL: a crash, nothing flushed."""
        self.held = True
        if self.alive():
            self.proc.kill()
        if self.proc:
            self.proc.wait()

    def stop(self, timeout=15.0, signalled=False):
        """SIGTERM (unless already sent: a second one means "now" to a
        stage); returns the exit code, or None when it had to be killed."""
        self.held = True
        if not self.alive():
            return self.proc.returncode if self.proc else 0
        if not signalled:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def tail(self, n=3000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def build_dir(build=None):
    """The build folder: `build`, else $B, else build/ (relative to the
    checkout)."""
    b = Path(build or os.environ.get("B") or "build")
    return b if b.is_absolute() else ROOT / b


class System:
    """ferry's four stages, `instances[name]` of each, on their own topic
    prefix (a fresh system every time), against `brokers`."""

    def __init__(self, brokers, workdir, instances=None, replication=None, env=None,
                 tenants=("chaos",), build=None):
        self.brokers = brokers
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.build = build_dir(build)
        self.prefix = f"c{os.urandom(5).hex()}."
        self.keys = {t: f"key-{t}" for t in tenants}
        base = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        base.update({
            "FERRY_KAFKA_BROKERS": brokers,
            "FERRY_TOPIC_PREFIX": self.prefix,
            "FERRY_TOPIC_PARTITIONS": "4",
            "FERRY_LOG_LEVEL": "info",
            "FERRY_ALLOW_PRIVATE_NETWORKS": "1",
            "FERRY_WEBHOOK_ALLOW_HTTP": "1",
            "FERRY_SECRET_KEY": SECRET_KEY,
            "FERRY_API_KEYS": ",".join(f"{k}:{t}" for t, k in self.keys.items()),
            # Four short tiers: a receiver can be down through three and
            # come back for the fourth, or through all of them.
            "FERRY_WEBHOOK_RETRY_TIERS": "1s,2s,3s,4s",
            "FERRY_SCRAPE_RETRY_TIERS": "1s,2s",
            # One host serves every page: lift the per-host politeness cap
            # to the in-flight count, as a batch spread over many hosts would.
            "FERRY_SCRAPE_HOST_CONNECTIONS": "512",
        })
        if replication:
            base["FERRY_TOPIC_REPLICATION"] = str(replication)
        base.update(env or {})
        self.env = base
        self.exits = []
        self._supervising = False
        self._supervisor = None
        self.stages = {name: [] for name in STAGES}
        for name in STAGES:
            for i in range((instances or {}).get(name, 1)):
                self.stages[name].append(self._stage(name, i))

    def _stage(self, name, i):
        port = free_port()
        env = dict(self.env)
        args = []
        if name == "ingest":
            env["FERRY_LISTEN"] = f"127.0.0.1:{port}"
            env["FERRY_INGEST_ID"] = f"ingest-{i}"
        else:
            env[f"FERRY_{name.upper()}_METRICS_LISTEN"] = f"127.0.0.1:{port}"
        if name == "aggregate":
            env["FERRY_AGGREGATE_INSTANCE"] = f"aggregate-{i}"
        if name in ("scrape", "deliver"):
            # Their consumer groups have no static membership: a killed
            # member's partitions move once the broker drops it, after
            # session.timeout.ms (librdkafka's default is 45 s).
            args = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]
        return Stage(name, i, self.build / f"ferry-{name}", env, args,
                     self.dir / f"{name}-{i}.log", f"http://127.0.0.1:{port}/healthz")

    def all(self):
        return [st for name in STAGES for st in self.stages[name]]

    def start(self, timeout=90):
        for st in self.all():
            st.start()
        for st in self.all():
            wait_for(lambda st=st: st.healthy() or not st.alive(), timeout, f"{st.label} healthy")
            if not st.alive():
                raise RuntimeError(f"{st.label} exited at start:\n{st.tail()}")
        self._supervising = True
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()

    def _supervise(self):
        """A restart policy (Docker's unless-stopped, systemd's Restart=):
        an instance that exits by itself is started again after 1 s. Each
        such exit is recorded in `exits`: it is no failure of the batch, but
        it is worth knowing."""
        while self._supervising:
            for st in self.all():
                if st.proc and not st.held and st.proc.poll() is not None and self._supervising:
                    self.exits.append(f"{st.label} exited by itself (code {st.proc.returncode})")
                    time.sleep(1)
                    if self._supervising and not st.held:
                        st.start()
            time.sleep(0.2)

    def stop(self):
        """SIGTERM to every instance; returns the labels of those that did
        not exit cleanly within 15 s."""
        self._supervising = False
        if self._supervisor:
            self._supervisor.join()
        for st in self.all():
            st.held = True
            if st.alive():
                st.proc.send_signal(signal.SIGTERM)
        bad = []
        for st in self.all():
            rc = st.stop(signalled=True)
            if rc not in (0, -signal.SIGKILL):
                bad.append(f"{st.label} ({'hung' if rc is None else f'exit {rc}'})")
        self.drop_topics()
        return bad

    def drop_topics(self, timeout=30.0):
        """Deletes this system's topics (its prefix's). Every run has a
        prefix of its own; kept, they pile up on a long-lived broker until
        it runs out of open files (a file per partition). Best effort: the
        logs, not the topics, are what a failed run leaves to read."""
        try:
            from confluent_kafka.admin import AdminClient
            admin = AdminClient({"bootstrap.servers": self.brokers})
            names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(self.prefix)]
            if names:
                for f in admin.delete_topics(names, operation_timeout=timeout).values():
                    f.result(timeout)
        except Exception as e:  # noqa: BLE001 (a leftover topic fails no run)
            print(f"[chaos] topics of {self.prefix} not deleted: {e}", flush=True)

    # ------------------------------------------------------------ the API

    def api(self):
        """Base URL of an ingest instance that is running (the first one)."""
        for st in self.stages["ingest"]:
            if st.alive():
                return st.health_url.rsplit("/", 1)[0]
        return self.stages["ingest"][0].health_url.rsplit("/", 1)[0]

    def auth(self, tenant):
        return {"Authorization": f"Bearer {self.keys[tenant]}"}

    def call(self, method, path, tenant, body=None, timeout=30.0, base=None):
        return http(method, (base or self.api()) + path, body, self.auth(tenant), timeout)

    def try_json(self, path, tenant):
        """GET path -> (status, json or None); (0, None) when no ingest answers."""
        try:
            r = self.call("GET", path, tenant, timeout=10)
        except OSError:
            return 0, None
        try:
            return r.status, r.json()
        except ValueError:
            return r.status, None

    def submit(self, body, tenant, timeout=60):
        """POST /v1/batch until a 202 (a 503 while Kafka is away is retried
        with the same body: nothing was written); returns the 202 body."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = self.call("POST", "/v1/batch", tenant, body, timeout=30)
                if r.status == 202:
                    return r.json()
                if r.status != 503:
                    raise RuntimeError(f"submit answered {r.status}: {r.body[:500]!r}")
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise Timeout("submit not accepted in time")
            time.sleep(0.5)

    def status(self, bid, tenant):
        code, doc = self.try_json(f"/v1/batch/{bid}", tenant)
        return doc if code == 200 else None

    def progress(self, bid, tenant):
        """processed / total, or None while no ingest answers."""
        doc = self.status(bid, tenant)
        if not doc:
            return None
        return doc["processed"] / max(1, doc["total"])

    def results(self, bid, tenant, limit=1000):
        got, url = [], f"/v1/batch/{bid}/results?limit={limit}"
        while url:
            r = self.call("GET", url, tenant, timeout=60)
            if r.status != 200:
                raise RuntimeError(f"GET {url} answered {r.status}: {r.body[:300]!r}")
            page = r.json()
            got += page["results"]
            url = page.get("next")
        return got

    def deliveries(self, bid, tenant):
        code, doc = self.try_json(f"/v1/batch/{bid}/deliveries", tenant)
        return doc["deliveries"] if code == 200 and doc else []
