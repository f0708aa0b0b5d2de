"""`make run`'s script: it brings up a broker and the five stages, prints a
curl line that works as printed, and Ctrl-C leaves no process behind."""

import os
import re
import shlex
import signal
import subprocess
import time

from conftest import ROOT, BUILD, free_port, free_ports, wait_until


def pids_of(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def listens_on(pid, port):
    """True when process pid was started with FERRY_LISTEN on port (ours)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"FERRY_LISTEN=127.0.0.1:{port}".encode() in f.read()
    except OSError:
        return False


def test_run_script_curl_line_and_ctrl_c(tmp_path):
    # The broker binds this port and the next: two from this run's block.
    # (The suite's port + 100 was another checkout's FERRY_LOCAL_KAFKA_PORT
    # when theirs was ours - 100: this test then stopped their broker.)
    kafka_port = free_ports(2)
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update({
        "B": str(BUILD.relative_to(ROOT)) if BUILD.is_relative_to(ROOT) else str(BUILD),
        "FERRY_LOCAL_KAFKA_PORT": str(kafka_port),
        "FERRY_LISTEN": f"127.0.0.1:{api_port}",
        "FERRY_SCRAPE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        "FERRY_AGGREGATE_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        "FERRY_DELIVER_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        "FERRY_RENDER_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        "FERRY_TOPIC_PARTITIONS": "2",
    })
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        # Its own session, like a terminal's foreground job: Ctrl-C is a
        # SIGINT to the whole process group.
        proc = subprocess.Popen([str(ROOT / "compose" / "run.sh")], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def printed():
            t = log.read_text()
            assert proc.poll() is None, f"run.sh exited early:\n{t[-3000:]}"
            return t if "try it:" in t else None

        text = wait_until(printed, timeout=120, what="make run to print its curl line")
        curl = next(line for line in text.splitlines() if line.startswith("curl "))
        assert f"127.0.0.1:{api_port}" in curl
        r = subprocess.run(shlex.split(curl) + ["-w", "\n%{http_code}"], capture_output=True,
                           text=True, timeout=30)
        body, code = r.stdout.rsplit("\n", 1)
        assert code == "202", (code, body)
        assert re.search(r'"id"\s*:\s*"bat_', body)
        for stage in ["ingest", "scrape", "aggregate", "deliver", "render"]:
            assert f"[{stage}] " in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    # Nothing of this run is left: no stage, no broker JVM on our port.
    time.sleep(0.2)
    assert pids_of(f"ferry-kafka-{kafka_port}/") == []
    assert [p for p in pids_of("build.*/ferry-(ingest|scrape|aggregate|deliver|render)")
            if listens_on(p, api_port)] == []
    assert "[run] stopped" in log.read_text()
