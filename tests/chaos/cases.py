"""The chaos cases. Each is a fault schedule played against one batch while
it flows through the whole system; every random choice (when, which
instance, how long down) comes from the run's seeded generator, so a seed
replays a run. A case returns once its faults are over and every process it
stopped runs again; the runner then waits for the batch and verifies it
(verify.py). A case may return a check of its own on the delivery log.

Moments are taken from the batch's progress (processed / total, as
GET /v1/batch shows it), so a fault lands mid-batch however fast the
machine is.
"""

import threading
import time
from dataclasses import dataclass, field

from system import STAGES, wait_for
from verify import check


class Run:
    """One run of a case: the system, its batch, the seeded generator, and
    the log of what was done to them."""

    def __init__(self, sysm, kafka, hook, bid, tenant, rng, seed, deadline):
        self.sysm, self.kafka, self.hook = sysm, kafka, hook
        self.bid, self.tenant = bid, tenant
        self.rng, self.seed = rng, seed
        self.deadline = deadline
        self.events = []
        self.t0 = time.monotonic()
        self._restarts = {}  # Stage -> Timer of its pending restart

    def note(self, what):
        self.events.append(f"{time.monotonic() - self.t0:.1f}s {what}")

    def left(self):
        return max(1.0, self.deadline - time.monotonic())

    def wait_progress(self, p):
        """Waits until the batch has processed the fraction p of its items
        (or completed). Polls through an ingest that is down."""

        def reached():
            doc = self.sysm.status(self.bid, self.tenant)
            if not doc:
                return None
            if doc["status"] != "running" and doc["status"] != "queued":
                return doc["processed"] / max(1, doc["total"]) or 1.0
            got = doc["processed"] / max(1, doc["total"])
            return got if got >= p else None

        return wait_for(reached, self.left(), f"progress {p:.0%}", 0.1)

    def kill(self, st, restart_after=None):
        """SIGKILL an instance; with restart_after (seconds), start it again
        that much later, in the background."""
        self.join(st)
        st.kill()
        if restart_after is None:
            self.note(f"SIGKILL {st.label} (not restarted)")
            return
        self.note(f"SIGKILL {st.label}, restart after {restart_after:.1f}s")
        t = threading.Timer(restart_after, st.start)
        self._restarts[st] = t
        t.start()

    def join(self, st=None):
        """Waits for the pending restart of st (of every instance)."""
        for s, t in list(self._restarts.items()):
            if st is None or s is st:
                t.join()
                del self._restarts[s]

    def pause(self, seconds):
        time.sleep(seconds)

    def deliveries_where(self, pred, what):
        def got():
            d = self.sysm.deliveries(self.bid, self.tenant)
            return d if pred(d) else None

        return wait_for(got, self.left(), what, 0.2)


# ---------------------------------------------------------------- cases


def kill_in_turn(run, names, kills=3):
    """SIGKILL the named stages together at `kills` random moments of the
    batch, each restarted after 0-3 s."""
    for p in sorted(run.rng.uniform(0.05, 0.9) for _ in range(kills)):
        run.wait_progress(p)
        for name in names:
            run.kill(run.rng.choice(run.sysm.stages[name]), run.rng.uniform(0, 3))
    run.join()


def kill_deliver(run):
    """deliver killed at two random moments of the batch, and once more
    while its webhook is in flight (the receiver holds the POST for 2 s):
    the restarted stage sends it again, under the same delivery id."""
    kill_in_turn(run, ["deliver"], kills=2)
    run.hook.delay = 2.0
    wait_for(lambda: any(b == run.bid for _, b in run.hook.arrivals), run.left(),
             "the webhook in flight", 0.02)
    run.kill(run.sysm.stages["deliver"][0], run.rng.uniform(0, 3))
    run.join()
    run.hook.delay = 0.0


def kill_two(run):
    """Two stages (a random pair each time) at two random moments."""
    for p in sorted(run.rng.uniform(0.05, 0.9) for _ in range(2)):
        run.wait_progress(p)
        for name in run.rng.sample(STAGES, 2):
            run.kill(run.sysm.stages[name][0], run.rng.uniform(0, 3))
    run.join()


def broker_freeze(run):
    """A broker (a random node of a cluster) frozen by SIGSTOP for 20 s."""
    run.wait_progress(run.rng.uniform(0.1, 0.6))
    node = run.rng.randint(1, run.kafka.nodes)
    run.kafka.freeze(node)
    run.note(f"SIGSTOP broker node {node} for 20 s")
    try:
        run.pause(20)
    finally:
        run.kafka.thaw(node)
    run.note(f"SIGCONT broker node {node}")


def broker_restart(run, hard):
    """A broker (a random node of a cluster) stopped, SIGTERM or SIGKILL,
    and started again on its data after 0-3 s."""
    run.wait_progress(run.rng.uniform(0.1, 0.7))
    node = run.rng.randint(1, run.kafka.nodes)
    down = run.rng.uniform(0, 3)
    if hard:
        run.kafka.kill(node)
    else:
        run.kafka.stop_node(node)
    run.note(f"{'SIGKILL' if hard else 'stop'} broker node {node}, start after {down:.1f}s")
    run.pause(down)
    run.kafka.start_node(node)
    run.note(f"broker node {node} back")


def receiver_tiers(run):
    """The receiver down (connections reset) for the first attempt and the
    attempts of three retry tiers, then up: the fifth attempt, from the
    fourth tier, delivers."""
    run.hook.down = True
    run.deliveries_where(lambda d: sum(1 for x in d if x["outcome"] == "retrying") >= 4,
                         "four failed attempts")
    run.hook.down = False
    run.note("receiver up after 4 failed attempts")

    def delivered_by_the_fourth_tier(deliveries):
        ok = [d["attempt"] for d in deliveries if d["outcome"] == "delivered"]
        check(ok and min(ok) == 5, f"delivered on attempt {ok}, want 5 (after three tiers)")

    return delivered_by_the_fourth_tier


def receiver_dlq(run):
    """The receiver down through every tier: the task is dead-lettered and
    the batch's webhook state is failed. Then the receiver comes up and the
    user asks for a redelivery, which arrives under the same delivery id."""
    run.hook.down = True
    run.deliveries_where(lambda d: any(x["outcome"] == "dead" for x in d), "the dead letter")
    wait_for(lambda: ((run.sysm.status(run.bid, run.tenant) or {}).get("webhook") or {})
             .get("status") == "failed", run.left(), "webhook state failed", 0.2)
    run.hook.down = False
    r = run.sysm.call("POST", f"/v1/batch/{run.bid}/redeliver", run.tenant)
    check(r.status == 202, f"redeliver answered {r.status}: {r.body[:300]!r}")
    run.note("dead-lettered; receiver up; redeliver 202")

    def dead_then_delivered(deliveries):
        check(any(d["outcome"] == "dead" and d["attempt"] == 5 for d in deliveries),
              "no dead attempt 5 in the delivery log")

    return dead_then_delivered


def two_instances(run):
    """Two instances of every stage; one instance of one stage (by seed, so
    consecutive seeds take each stage in turn) SIGKILLed mid-batch and left
    dead: the other takes its work over."""
    name = STAGES[run.seed % len(STAGES)]
    run.wait_progress(run.rng.uniform(0.1, 0.8))
    run.kill(run.rng.choice(run.sysm.stages[name]))


@dataclass
class Case:
    name: str
    play: object
    doc: str
    instances: dict = field(default_factory=dict)
    broker: bool = False  # needs control of a local broker
    single: bool = True  # runs on one broker
    cluster: bool = True  # runs on the cluster


CASES = {c.name: c for c in [
    Case("kill-ingest", lambda r: kill_in_turn(r, ["ingest"]),
         "ingest SIGKILLed at 3 random moments, restarted after 0-3 s"),
    Case("kill-scrape", lambda r: kill_in_turn(r, ["scrape"]),
         "scrape SIGKILLed at 3 random moments, restarted after 0-3 s"),
    Case("kill-aggregate", lambda r: kill_in_turn(r, ["aggregate"]),
         "aggregate SIGKILLed at 3 random moments, restarted after 0-3 s"),
    Case("kill-deliver", kill_deliver,
         "deliver SIGKILLed at 2 random moments and with its webhook in flight"),
    Case("kill-two", kill_two, "two random stages SIGKILLed at once, twice"),
    Case("broker-freeze", broker_freeze, "broker SIGSTOPped for 20 s mid-batch", broker=True),
    Case("broker-restart", lambda r: broker_restart(r, hard=False),
         "broker stopped mid-batch, started again after 0-3 s", broker=True, cluster=False),
    Case("broker-kill", lambda r: broker_restart(r, hard=True),
         "a broker SIGKILLed mid-batch, started again after 0-3 s", broker=True, single=False),
    Case("receiver-tiers", receiver_tiers, "receiver down through three retry tiers, then up"),
    Case("receiver-dlq", receiver_dlq, "receiver down through every tier, then redeliver"),
    Case("two-instances", two_instances,
         "two instances of every stage, one SIGKILLed mid-batch",
         instances={s: 2 for s in STAGES}),
]}

