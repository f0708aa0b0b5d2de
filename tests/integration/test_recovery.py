"""Recovery in seconds (issue 10): a stage restarted after SIGKILL takes its
partitions back at once (static membership under its stable instance
name), and a duplicate that cannot start disturbs nothing."""

import time

import pytest

from conftest import free_port, http, wait_until
from test_ingest_pipeline import ACME, pipeline, site  # noqa: F401 (site is a fixture)


def status(base, bid):
    return http("GET", f"{base}/v1/batch/{bid}", headers=ACME).json()


def test_scrape_and_deliver_killed_mid_batch_finish_within_seconds(start_stage, receiver, site):
    # 4 pages at a time, 0.2 s each: 60 pages take 3 s of fetching.
    base = pipeline(start_stage, FERRY_SCRAPE_INFLIGHT="4", FERRY_SCRAPE_HOST_CONNECTIONS="4")
    stages = base.stages
    n = 60
    r = http("POST", base + "/v1/batch",
             {"urls": [f"{site}/wait/{i}" for i in range(n)], "formats": ["text"],
              "webhook_url": receiver.url + "/hook"}, ACME)
    assert r.status == 202, r.body
    bid = r.json()["id"]
    wait_until(lambda: status(base, bid)["processed"] >= 8, timeout=60,
               what="the batch under way")
    stages["scrape"].kill()
    stages["deliver"].kill()
    assert status(base, bid)["status"] != "completed"
    restarted = time.monotonic()
    # The same settings, hence the same instance names (host and port).
    stages["scrape"].start()
    stages["deliver"].start()

    def done():
        d = status(base, bid)
        return d if d["status"] == "completed" and d["webhook"]["status"] == "delivered" else None

    d = wait_until(done, timeout=60, what="completed and delivered after the restart")
    took = time.monotonic() - restarted
    assert d["processed"] == n and d["succeeded"] == n
    assert took < 15, f"{took:.1f} s from the restart to the webhook"
    assert len(receiver.requests) >= 1


def test_a_duplicate_that_cannot_start_disturbs_nothing(start_stage, site):
    base = pipeline(start_stage, FERRY_AGGREGATE_INSTANCE="agg-1")
    agg = base.stages["aggregate"]
    # A second aggregate with the same name whose port is taken: it must
    # stop before any Kafka client exists (no fencing of agg-1).
    dup = start_stage("aggregate", FERRY_AGGREGATE_INSTANCE="agg-1",
                      FERRY_AGGREGATE_METRICS_LISTEN=agg.env["FERRY_AGGREGATE_METRICS_LISTEN"])
    wait_until(lambda: dup.proc.poll() is not None, timeout=30, what="the duplicate to stop")
    assert dup.proc.returncode == 2
    assert "cannot listen" in dup.log()
    assert "transactional_id" not in dup.log()
    # The running instance still completes batches at once.
    r = http("POST", base + "/v1/batch", {"urls": [f"{site}/a", f"{site}/b"]}, ACME)
    assert r.status == 202, r.body
    bid = r.json()["id"]
    wait_until(lambda: status(base, bid)["status"] == "completed", timeout=20,
               what="a batch completed by the running aggregate")
    assert agg.running()
    assert "fenced" not in agg.current_log().lower()


@pytest.mark.parametrize("stage", ["scrape", "deliver", "aggregate"])
def test_a_fenced_stage_exits_non_zero(start_stage, stage):
    # Two instances under one name: the group fences one of them (a fatal
    # Kafka error, as after a session lost in a broker outage). It must exit
    # with a failure, so a supervisor with Restart=on-failure starts it again.
    listen = f"FERRY_{stage.upper()}_METRICS_LISTEN"
    name = {f"FERRY_{stage.upper()}_INSTANCE": f"{stage}-dup"}
    first = start_stage(stage, **{listen: f"127.0.0.1:{free_port()}"}, **name)
    first.wait_log(r"event=started", timeout=60)
    second = start_stage(stage, **{listen: f"127.0.0.1:{free_port()}"}, **name)
    ended = wait_until(lambda: [s for s in (first, second) if not s.running()], timeout=120,
                       what="one of the two instances to be fenced and exit")[0]
    assert "event=kafka_fatal" in ended.log(), ended.log()[-3000:]
    assert ended.proc.returncode != 0, ended.log()[-3000:]
