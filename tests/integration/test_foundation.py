"""The foundation: every stage starts against the real broker, provisions the
topics, runs its loop, serves /healthz and /metrics, and stops on SIGTERM
within 5 s; bad settings are refused with the variable's name."""

import json
import subprocess
import time

from conftest import BROKERS, BUILD, free_port, http, wait_until

STAGES = ["ingest", "scrape", "aggregate", "deliver"]


def topic_metadata(topic):
    out = subprocess.run(["kcat", "-L", "-b", BROKERS, "-t", topic, "-J"],
                         capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)["topics"][0]


def test_help_lists_settings():
    for s in STAGES:
        out = subprocess.run([str(BUILD / f"ferry-{s}"), "--help"], capture_output=True,
                             text=True, timeout=10)
        assert out.returncode == 0
        assert "FERRY_KAFKA_BROKERS" in out.stdout and "-X name=value" in out.stdout


def test_bad_setting_is_named(ferry_env):
    env = dict(ferry_env, FERRY_TOPIC_PARTITIONS="lots")
    out = subprocess.run([str(BUILD / "ferry-scrape")], env=env, capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 2
    assert "FERRY_TOPIC_PARTITIONS=lots" in out.stderr
    out = subprocess.run([str(BUILD / "ferry-deliver"), "-X", "no.such.property=1"], env=ferry_env,
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "no.such.property" in out.stderr


def test_stages_start_provision_and_stop(start_stage, ferry_env):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    api = free_port()
    ports = {"scrape": free_port(), "aggregate": free_port(), "deliver": free_port()}
    stages = [start_stage("ingest", FERRY_LISTEN=f"127.0.0.1:{api}")]
    for name, port in ports.items():
        stages.append(start_stage(name, **{f"FERRY_{name.upper()}_METRICS_LISTEN":
                                           f"127.0.0.1:{port}"}))
    for st in stages:
        st.wait_log(r"event=topics_ready", timeout=60)

    # Every topic of the declarative list exists, tiers included.
    md = subprocess.run(["kcat", "-L", "-b", BROKERS], capture_output=True, text=True,
                        timeout=30).stdout
    for suffix in ["batches", "scrape.requests", "scrape.results", "batch.status", "webhooks",
                   "webhooks.attempts", "webhooks.dlq", "aggregate.dlq", "aggregate.state",
                   "webhooks.retry.1s", "webhooks.retry.2s", "scrape.retry.1s",
                   "scrape.retry.2s"]:
        assert f'topic "{prefix}{suffix}"' in md, suffix
    assert len(topic_metadata(prefix + "batches")["partitions"]) == 2

    # Ready once Kafka answers and the status table caught up.
    r = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
        http("GET", f"http://127.0.0.1:{api}/healthz")), timeout=30, what="ingest ready")
    assert r.json()["status"] == "ok"
    for name, port in ports.items():
        r = http("GET", f"http://127.0.0.1:{port}/metrics")
        assert r.status == 200 and b"# TYPE" in r.body

    # Stopping: each stage exits 0 within 5 s of SIGTERM.
    for st in stages:
        t0 = time.monotonic()
        assert st.stop(timeout=5) == 0
        assert time.monotonic() - t0 < 5
        assert "event=stopped" in st.log()


def describe(topic):
    out = subprocess.run([str(BUILD / "tools" / "topic_config"), BROKERS, topic],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return dict(line.split("=", 1) for line in out.stdout.splitlines())


def test_topic_policies(start_stage, ferry_env):
    """Status and changelog are compacted; pipeline topics are deleted by
    age; every topic takes ferry's largest message."""
    st = start_stage("aggregate", FERRY_AGGREGATE_METRICS_LISTEN=f"127.0.0.1:{free_port()}",
                     FERRY_TOPIC_RETENTION="3d", FERRY_MAX_MESSAGE_BYTES="12M")
    st.wait_log(r"event=topics_ready", timeout=60)
    p = ferry_env["FERRY_TOPIC_PREFIX"]
    for suffix in ["batch.status", "aggregate.state"]:
        assert describe(p + suffix)["cleanup.policy"] == "compact"
    for suffix in ["scrape.results", "webhooks.retry.2s"]:
        c = describe(p + suffix)
        assert c["cleanup.policy"] == "delete"
        assert c["retention.ms"] == str(3 * 86400000)
        assert c["max.message.bytes"] == str(12 << 20)
    # Dead letters wait for a human: at least 30 days whatever the pipeline keeps.
    assert describe(p + "webhooks.dlq")["retention.ms"] == str(30 * 86400000)

    # Provisioning is idempotent: a second stage on the same prefix starts cleanly.
    st2 = start_stage("deliver", FERRY_DELIVER_METRICS_LISTEN=f"127.0.0.1:{free_port()}",
                      FERRY_TOPIC_RETENTION="3d", FERRY_MAX_MESSAGE_BYTES="12M")
    st2.wait_log(r"event=topics_ready", timeout=60)
    assert "topic_created" not in st2.log()
