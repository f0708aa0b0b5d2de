"""The chaos suite's short form (make chaos runs every case ten times): a few
cases, once each, against the whole running system. Each plays its faults
on one batch of 8,000 URLs and asserts what a user would see: the batch
completes, its results hold every index exactly once with exact counts, the
webhook arrives signed under one delivery id, and usage counts are exact
(GET /v1/usage). A failure prints
the seed that replays it with tests/chaos/run.py.

The broker cases freeze or restart the suite's own broker (tests/run.sh
started it on FERRY_LOCAL_KAFKA_PORT); the cluster case starts three
brokers of its own on that port + 2 to + 7.
"""

import os
import sys
import time
from pathlib import Path

import pytest

from conftest import BROKERS, BUILD, LOGS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from cases import CASES  # noqa: E402
from run import play  # noqa: E402
from system import Kafka, Pages, Receiver  # noqa: E402

ITEMS = 8000
# Pages answer after 400 ms: with 512 transfers in flight a batch takes
# about 6 s undisturbed, long enough for faults to land mid-batch (their
# moments follow the batch's progress, and a stage that is down holds it
# back), short enough for the suite. make chaos plays each case ten times
# on batches of 20,000.
PAGE_DELAY_MS = 400
PORT = int(os.environ.get("FERRY_LOCAL_KAFKA_PORT", "19092"))


@pytest.fixture(scope="module")
def pages():
    p = Pages(delay_ms=PAGE_DELAY_MS, build=BUILD)
    p.start()
    yield p
    p.stop()


@pytest.fixture
def hook():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def suite_broker():
    """The suite's own broker, to freeze and restart; skipped when the suite
    runs against a cluster it did not start."""
    kafka = Kafka(PORT, 1, owned=False)
    if BROKERS != kafka.brokers:
        pytest.skip(f"the broker cases need the suite's local broker, not {BROKERS}")
    yield kafka
    kafka.thaw_all()


def run_case(name, kafka, pages, hook, request):
    seed = int(time.time() * 1000) % 100000000
    logdir = LOGS / request.node.name
    out = play(CASES[name], seed, kafka, pages, hook, ITEMS, logdir, BUILD, timeout=240)
    print(f"{name} seed={seed}: {'passed in %.1f s' % out.seconds if out.passed else 'FAILED'}; "
          f"{'; '.join(out.events)}")
    for n in out.notes + out.exits:
        print(f"  {n}")
    if not out.passed:
        cluster = " --cluster" if kafka.nodes > 1 else ""
        pytest.fail(f"{name} (seed {seed}): {out.error}\n  events: {'; '.join(out.events)}\n"
                    f"  logs: {logdir}\n  replay: tests/chaos/run.py{cluster} --case {name} "
                    f"--seed {seed} --runs 1 --page-delay-ms {PAGE_DELAY_MS}")
    return out


def test_chaos_scrape_killed_three_times(suite_broker, pages, hook, request):
    run_case("kill-scrape", suite_broker, pages, hook, request)


def test_chaos_two_stages_killed_at_once(suite_broker, pages, hook, request):
    run_case("kill-two", suite_broker, pages, hook, request)


def test_chaos_broker_frozen_20s(suite_broker, pages, hook, request):
    run_case("broker-freeze", suite_broker, pages, hook, request)


def test_chaos_receiver_down_through_every_tier_then_redeliver(suite_broker, pages, hook, request):
    run_case("receiver-dlq", suite_broker, pages, hook, request)


def test_chaos_cluster_broker_killed(pages, hook, request):
    """Three brokers, replication 3, min.insync.replicas 2 (checked on every
    topic ferry created); one broker SIGKILLed mid-batch and restarted:
    nothing lost."""
    kafka = Kafka(PORT + 2, 3)
    kafka.start()
    try:
        run_case("broker-kill", kafka, pages, hook, request)
    finally:
        kafka.thaw_all()
        kafka.stop()
