#!/usr/bin/env python3
"""make chaos: every chaos case (cases.py) run several times in a row
against the whole running system, each run a fresh set of stage processes
on a fresh topic prefix, one batch of --items URLs; then a table of runs,
passes and times to complete (submit to verified webhook).

    tests/chaos/run.py                       every case, 10 runs, one broker
    tests/chaos/run.py --cluster             the same on a three-broker cluster
    tests/chaos/run.py --case kill-scrape --seed 1234 --runs 1   replay a run

Brokers: its own, started with compose/kafka.sh on --kafka-port (default
FERRY_LOCAL_KAFKA_PORT, else 29592; a cluster takes that port and the next
five) and stopped at the end. Pages come from tests/tools/page_server, which
answers after 250 ms as slow sites do (so one scrape instance, 512 transfers
in flight, takes ~10 s over 20,000 URLs, and a fault lands mid-batch);
webhooks go to a local receiver: loopback only. Each run prints its seed; a failed run
keeps its stage logs under build/chaos-logs/.
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES, Run  # noqa: E402
from system import ROOT, Kafka, Pages, Receiver, System, Timeout, load  # noqa: E402
from verify import Failure, await_done, batch_urls, verify_all, verify_replication  # noqa: E402

TENANT = "chaos"


@dataclass
class Outcome:
    case: str
    seed: int
    passed: bool
    seconds: float = 0.0
    error: str = ""
    events: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    exits: list = field(default_factory=list)  # stages that exited by themselves
    logs: str = ""


def play(case, seed, kafka, pages, hook, items, logdir, build=None, timeout=300.0):
    """One run of a case: start a system, submit the batch, play the
    faults, wait for the batch, verify. Returns an Outcome; never raises
    for a failure of the system under test."""
    # The case's name is part of the seed: each case gets its own moments.
    rng = random.Random(f"{case.name}:{seed}")
    out = Outcome(case.name, seed, False)
    replication = 3 if kafka.nodes >= 3 else None
    sysm = System(kafka.brokers, logdir, case.instances, replication, build=build,
                  tenants=(TENANT,))
    hook.down, hook.delay = False, 0.0
    urls = batch_urls(pages.url, pages.count, items)
    secret = f"whsec-chaos-{seed}-0123456789"
    run = None
    try:
        sysm.start()
        if kafka.nodes >= 3:
            verify_replication(sysm.build, kafka.brokers, sysm.prefix)
        t0 = time.time()
        deadline = time.monotonic() + timeout
        acc = sysm.submit({"urls": urls, "formats": ["text"], "webhook_url": hook.url + "/hook",
                           "webhook_secret": secret}, TENANT)
        bid = acc["id"]
        run = Run(sysm, kafka, hook, bid, TENANT, rng, seed, deadline)
        run.note(f"submitted {bid}")
        extra = case.play(run)
        arrived = await_done(sysm, bid, TENANT, hook, max(1.0, deadline - time.monotonic()))
        out.seconds = arrived - t0
        deliveries = verify_all(sysm, bid, TENANT, urls, pages.count, secret, hook, out.notes)
        if extra:
            extra(deliveries)
        out.events = run.events
        out.passed = True
    except (Failure, Timeout) as e:
        out.error = str(e)
    except Exception as e:  # a harness error fails the run, with its trace
        out.error = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    finally:
        kafka.thaw_all()
        if run:
            run.join()
            out.events = run.events
        hung = sysm.stop()
        out.exits = list(sysm.exits)
        if hung:
            out.notes.append("did not exit cleanly on SIGTERM: " + ", ".join(hung))
        heal(kafka)
    out.logs = str(logdir)
    return out


def heal(kafka):
    """After a run that left a broker node down (a failed case), start it
    again so the next run has its cluster."""
    for node in range(1, kafka.nodes + 1):
        try:
            kafka.pid(node)
        except RuntimeError:
            try:
                kafka.start_node(node)
            except RuntimeError as e:
                print(f"[chaos] could not restart broker node {node}: {e}", flush=True)


def table(rows):
    """Markdown: case, runs, passed, time to complete min/median/max (s),
    and the runs in which a stage exited by itself (and was restarted, as
    a restart policy would)."""
    lines = ["| case | runs | passed | time to complete, s (min / median / max) | runs with a stage exit |",
             "|---|---|---|---|---|"]
    for name, outs in rows:
        t = [o.seconds for o in outs if o.passed]
        span = f"{min(t):.1f} / {statistics.median(t):.1f} / {max(t):.1f}" if t else "-"
        lines.append(f"| {name} | {len(outs)} | {sum(o.passed for o in outs)} | {span} | "
                     f"{sum(1 for o in outs if o.exits)} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("FERRY_CHAOS_RUNS", "10")))
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="only these (repeatable)")
    ap.add_argument("--seed", type=int, help="first seed (default: from the clock); run k uses seed+k")
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--page-delay-ms", type=int, default=250,
                    help="how long the page server takes to answer (the batch lasts ~items/2000 s)")
    ap.add_argument("--cluster", action="store_true", help="three brokers, replication 3")
    ap.add_argument("--kafka-port", type=int,
                    default=int(os.environ.get("FERRY_LOCAL_KAFKA_PORT", "29592")))
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds a run may take")
    ap.add_argument("--table", help="also write the table (markdown) to this file")
    ap.add_argument("--keep-logs", action="store_true", help="keep logs of passed runs too")
    a = ap.parse_args()

    nodes = 3 if a.cluster else 1
    mode = "cluster" if a.cluster else "single"
    cases = [CASES[n] for n in (a.case or CASES)]
    cases = [c for c in cases if (c.cluster if a.cluster else c.single)]
    seed0 = a.seed if a.seed is not None else int(time.time()) % 1000000 * 100
    build = Path(os.environ.get("B", "build"))
    logroot = ROOT / build / "chaos-logs"
    print(f"[chaos] {mode}: {len(cases)} cases x {a.runs} runs, {a.items} URLs each, first seed "
          f"{seed0}; brokers on port {a.kafka_port}{'-' + str(a.kafka_port + 5) if a.cluster else ''}; "
          f"load {load():.2f}", flush=True)

    kafka = Kafka(a.kafka_port, nodes)
    pages = Pages(delay_ms=a.page_delay_ms, build=build)
    hook = Receiver()
    rows = []
    started = time.monotonic()
    try:
        kafka.start()
        pages.start()
        for case in cases:
            outs = []
            for k in range(a.runs):
                seed = seed0 + k
                logdir = logroot / f"{mode}-{case.name}-{seed}"
                shutil.rmtree(logdir, ignore_errors=True)
                o = play(case, seed, kafka, pages, hook, a.items, logdir, build)
                outs.append(o)
                verdict = f"passed in {o.seconds:.1f} s" if o.passed else "FAILED"
                print(f"[chaos] {mode} {case.name} run {k + 1}/{a.runs} seed={seed} {verdict} "
                      f"(load {load():.2f}): {'; '.join(o.events)}", flush=True)
                for n in o.notes:
                    print(f"[chaos]     note: {n}", flush=True)
                for x in o.exits:
                    print(f"[chaos]     restarted: {x}", flush=True)
                if o.passed and not a.keep_logs:
                    shutil.rmtree(logdir, ignore_errors=True)
                if not o.passed:
                    print(f"[chaos]     {o.error}", flush=True)
                    print(f"[chaos]     logs: {logdir}", flush=True)
                    print(f"[chaos]     replay: tests/chaos/run.py{' --cluster' if a.cluster else ''} "
                          f"--case {case.name} --seed {seed} --runs 1 --items {a.items}", flush=True)
            rows.append((case.name, outs))
    finally:
        hook.close()
        pages.stop()
        kafka.stop()

    text = table(rows)
    mins = (time.monotonic() - started) / 60
    where = "three brokers, replication 3, min.insync.replicas 2" if a.cluster else "one broker"
    print(f"\nchaos, {mode} ({where}), {a.items} URLs per batch, pages answered after "
          f"{a.page_delay_ms} ms, {mins:.0f} min, load at the end {load():.2f}:\n{text}", flush=True)
    notes = sorted({n for _, outs in rows for o in outs for n in o.notes})
    for n in notes:
        print(f"note: {n}")
    if a.table:
        Path(a.table).write_text(text + "\n")
    failed = sum(not o.passed for _, outs in rows for o in outs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
