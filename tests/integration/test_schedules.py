"""Schedules (DESIGN.md "Schedules"): the API, firing with a fast clock
(FERRY_SCHEDULE_TICK=1s makes a cron minute last one second, so "* * * * *"
fires every second), each slot exactly once across two ingest instances with
one of them SIGKILLed, catch-up after an outage, run now, the schedule.run
webhook and change tracking across three runs with pages edited between."""

import hashlib
import hmac
import json
import re
import time
from datetime import datetime, timezone

from conftest import free_port, http, kafka_consume, wait_until
from pipeline import ACME, serve, start_pipeline

GLOBEX = {"Authorization": "Bearer key-globex"}
FAST = {"FERRY_SCHEDULE_TICK": "1s"}


def ts(iso):
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def runs_by_slot(ferry_env, schedule_id):
    """Every committed batch record of the schedule: slot -> [batch ids]."""
    out = {}
    for m in kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "batches"):
        r = m.json()
        if r.get("type") == "batch" and r.get("schedule_id") == schedule_id:
            out.setdefault(r["scheduled_for"], []).append(r["id"])
    return out


def start_ingest(start_stage, args=(), **env):
    port = free_port()
    st = start_stage("ingest", args=args, FERRY_LISTEN=f"127.0.0.1:{port}", **env)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ready(base), timeout=60, what="ingest /healthz")
    return st, base


def _ready(base):
    try:
        return http("GET", base + "/healthz", timeout=2).status == 200
    except OSError:
        return False


def test_schedule_api(start_stage):
    _, base = start_ingest(start_stage)
    url = base + "/v1/schedules"
    r = http("POST", url, {"cron": "61 * * * *", "batch": {"urls": ["https://a.example/"]}}, ACME)
    assert r.status == 422 and "minute" in r.json()["error"]["message"]
    r = http("POST", url, {"cron": "0 8 * * *", "timezone": "Mars/Base",
                           "batch": {"urls": ["https://a.example/"]}}, ACME)
    assert r.status == 422 and "timezone" in r.body.decode()
    r = http("POST", url, {"cron": "0 8 * * *", "batch": {"urls": []}}, ACME)
    assert r.status == 422

    body = {"cron": "30 2 * * *", "timezone": "Europe/Madrid", "track_changes": True,
            "batch": {"urls": ["https://a.example/p"], "formats": ["text"]}}
    r = http("POST", url, body, ACME)
    assert r.status == 201, r.body
    s = r.json()
    sid = s["id"]
    assert sid.startswith("sch_") and r.headers["location"] == f"/v1/schedules/{sid}"
    assert s["cron"] == "30 2 * * *" and s["timezone"] == "Europe/Madrid"
    assert s["track_changes"] is True and s["paused"] is False and s["runs"] == []
    assert s["next_run_at"] > datetime.now(timezone.utc).isoformat()[:19]

    g = http("GET", f"{url}/{sid}", headers=ACME)
    assert g.status == 200 and g.json()["id"] == sid
    assert http("GET", f"{url}/{sid}", headers=GLOBEX).status == 404
    lst = http("GET", url, headers=ACME).json()
    assert [x["id"] for x in lst["schedules"]] == [sid]
    assert http("GET", url, headers=GLOBEX).json()["schedules"] == []

    p = http("PATCH", f"{url}/{sid}", {"paused": True}, ACME)
    assert p.status == 200 and p.json()["paused"] is True and p.json()["next_run_at"] is None
    p = http("PATCH", f"{url}/{sid}", {"cron": "0 * * * *"}, ACME)
    assert p.status == 200 and p.json()["cron"] == "0 * * * *" and p.json()["paused"] is True
    assert http("PATCH", f"{url}/{sid}", {"cron": "* *"}, ACME).status == 422

    assert http("DELETE", f"{url}/{sid}", headers=GLOBEX).status == 404
    assert http("DELETE", f"{url}/{sid}", headers=ACME).status == 204
    assert http("GET", f"{url}/{sid}", headers=ACME).status == 404


def test_each_slot_once_across_two_instances_with_one_killed(start_stage, ferry_env):
    # The group's session: 6 s (10 s by default), the takeover waits it out.
    short = ["-X", "session.timeout.ms=6000"]
    a, base_a = start_ingest(start_stage, args=short, **FAST)
    b, base_b = start_ingest(start_stage, args=short, **FAST)
    r = http("POST", base_a + "/v1/schedules",
             {"cron": "* * * * *", "batch": {"urls": ["http://127.0.0.1:9/x"]}}, ACME)
    assert r.status == 201, r.body
    sid = r.json()["id"]
    # Both instances know it (any instance answers for any schedule).
    wait_until(lambda: http("GET", f"{base_b}/v1/schedules/{sid}", headers=ACME).status == 200,
               what="the schedule on the second instance")
    wait_until(lambda: len(runs_by_slot(ferry_env, sid)) >= 3, timeout=40, what="three runs")
    # Kill whichever instance fires it, around a slot boundary.
    owner = a if "schedule_run" in a.current_log() and sid in a.current_log() else b
    survivor = b if owner is a else a
    # Aligned to just after a slot boundary (the run being written).
    time.sleep(1 - time.time() % 1)
    owner.kill()
    t_kill = time.time()
    # The survivor takes the partition over after the group's session
    # timeout and runs the slots it missed (late, never lost).
    wait_until(lambda: max(ts(s) for s in runs_by_slot(ferry_env, sid)) > t_kill + 3,
               timeout=60, what="runs after the takeover")
    owner.start()
    owner.wait_log(r"event=schedules_assigned", timeout=60)
    t_end = time.time()
    wait_until(lambda: max(ts(s) for s in runs_by_slot(ferry_env, sid)) > t_end + 3, timeout=60,
               what="runs after the rejoin")
    runs = runs_by_slot(ferry_env, sid)
    doubled = {s: ids for s, ids in runs.items() if len(ids) != 1}
    assert not doubled, doubled
    slots = sorted(int(round(ts(s))) for s in runs)
    assert slots == list(range(slots[0], slots[-1] + 1)), "a slot has no run"
    # The run's batch id derives from the slot: distinct slots, distinct ids.
    assert len({ids[0] for ids in runs.values()}) == len(runs)
    survivor.stop()


def test_parked_partitions_fire_after_a_change(start_stage, ferry_env):
    """Nothing due within 2 minutes: after FERRY_SCHEDULE_PARK_QUIET (30 s;
    2 s here) quiet the owner parks its partitions (closes their producers).
    A change takes them over again, and the changed schedule fires."""
    st, base = start_ingest(start_stage, FERRY_SCHEDULE_PARK_QUIET="2s", **FAST)
    url = base + "/v1/schedules"
    r = http("POST", url, {"cron": "0 0 1 1 *", "batch": {"urls": ["http://127.0.0.1:9/x"]}}, ACME)
    assert r.status == 201, r.body
    sid = r.json()["id"]

    def all_parked():
        log = st.current_log()
        owned = len(re.findall(r"event=schedules_owned ", log))
        parked = sum(int(n) for n in re.findall(r"event=schedules_parked partitions=(\d+)", log))
        return owned > 0 and parked >= owned

    wait_until(all_parked, timeout=90, what="every partition parked")
    assert runs_by_slot(ferry_env, sid) == {}
    owned_before = len(re.findall(r"event=schedules_owned ", st.current_log()))
    p = http("PATCH", f"{url}/{sid}", {"cron": "* * * * *"}, ACME)
    assert p.status == 200, p.body
    wait_until(lambda: len(runs_by_slot(ferry_env, sid)) >= 2, timeout=40, what="runs after the change")
    assert len(re.findall(r"event=schedules_owned ", st.current_log())) > owned_before
    assert all(len(ids) == 1 for ids in runs_by_slot(ferry_env, sid).values())


def test_catch_up_after_an_outage(start_stage, ferry_env):
    """FERRY_SCHEDULE_MISFIRE=2s: a slot more than 2 cron minutes late was
    missed. "*/5" (every 5 s at TICK=1s) and 12 s down: catch_up "one" runs
    the latest missed slot once, "none" runs none of them; the slots after
    run as usual."""
    st, base = start_ingest(start_stage, FERRY_SCHEDULE_TICK="1s", FERRY_SCHEDULE_MISFIRE="2s")
    ids = {}
    for mode in ("one", "none"):
        r = http("POST", base + "/v1/schedules", {"cron": "*/5 * * * *", "catch_up": mode,
                                                 "batch": {"urls": ["http://127.0.0.1:9/x"]}}, ACME)
        assert r.status == 201, r.body
        ids[mode] = r.json()["id"]
    wait_until(lambda: all(runs_by_slot(ferry_env, i) for i in ids.values()), timeout=30,
               what="a run of each before the outage")
    st.stop()
    t_down = time.time()
    wait_until(lambda: time.time() > t_down + 12, timeout=15, what="the outage")
    st.start()
    st.wait_log(r"event=schedules_owned", timeout=60)
    t_up = time.time()
    wait_until(lambda: all(max(ts(s) for s in runs_by_slot(ferry_env, i)) > t_up + 6
                           for i in ids.values()), timeout=30, what="runs after the restart")
    log = st.current_log()
    # When the restarted instance took each partition over (decisions follow).
    owned = {int(p): ts(t) for t, p in
             re.findall(r"(\S+) level=info stage=ingest event=schedules_owned partition=(\d+)", log)}
    part = {m.key: m.partition for m in kafka_consume(ferry_env["FERRY_TOPIC_PREFIX"] + "schedule.state")}
    late = {(sch, slot): int(ms) for sch, slot, ms in re.findall(
        r"event=schedule_run schedule=(\S+) batch=\S+ slot=(\S+) .*late_ms=(\d+)", log)}
    for mode, sid in ids.items():
        runs = runs_by_slot(ferry_env, sid)
        assert all(len(v) == 1 for v in runs.values()), runs
        pre = max(ts(s) for s in runs if ts(s) <= t_down)
        after = sorted((s for s in runs if ts(s) > pre), key=ts)
        # A gap (slots missed and not run), then every slot once.
        assert ts(after[0]) - pre >= 10, (mode, pre, after)
        assert all(ts(b) - ts(a) == 5 for a, b in zip(after, after[1:])), (mode, after)
        assert f"event=schedule_missed schedule={sid} caught_up={mode}" in log
        if mode == "one":
            # The latest missed slot, run once: more than 2 s late.
            assert late[sid, after[0]] > 2000, (after[0], late[sid, after[0]])
        else:
            # Nothing of the outage that was already 2 s old at the takeover.
            t_owned = owned[part[sid]]
            assert ts(after[0]) > t_owned - 2, (after[0], t_owned)


class Pages:
    """A site whose pages the test edits between runs (pipeline.serve)."""

    def __init__(self, pages):
        self.pages = dict(pages)
        self._site = serve(lambda path, headers: (200, self.pages[path].encode())
                           if path in self.pages else (404, b""))
        self.url = self._site.__enter__()

    def close(self):
        self._site.__exit__(None, None, None)


def page(price):
    return f"<html><body><h1>Widget</h1><p class=price>{price}</p></body></html>"


def test_change_tracking_across_three_runs_and_schedule_run_webhook(start_stage, receiver):
    site = Pages({"/a": page("10"), "/b": page("20")})
    try:
        p = start_pipeline(start_stage)
        secret = "a-long-enough-secret-1234"
        body = {"cron": "0 3 * * *", "paused": True, "track_changes": True,
                "batch": {"urls": [site.url + "/a", site.url + "/b"], "formats": ["text"],
                          "webhook_url": receiver.url + "/hook", "webhook_secret": secret}}
        r = http("POST", p.base + "/v1/schedules", body, ACME)
        assert r.status == 201, r.body
        sid = r.json()["id"]

        def run_now():
            a = http("POST", f"{p.base}/v1/schedules/{sid}/run", headers=ACME)
            assert a.status == 202, a.body
            assert a.json()["schedule_id"] == sid
            return p.wait_final(a.json()["id"], timeout=60)

        def changes(d):
            res = http("GET", f"{p.base}/v1/batch/{d['id']}/results", headers=ACME).json()
            return {x["input"][len(site.url):]: x["change"] for x in res["results"]}

        d1 = run_now()
        assert d1["changes"] == {"new": 2, "same": 0, "changed": 0}
        assert changes(d1) == {"/a": "new", "/b": "new"}
        site.pages["/b"] = page("25")  # a price moved
        d2 = run_now()
        assert d2["changes"] == {"new": 0, "same": 1, "changed": 1}
        assert changes(d2) == {"/a": "same", "/b": "changed"}
        d3 = run_now()  # nothing edited
        assert d3["changes"] == {"new": 0, "same": 2, "changed": 0}

        # schedule.run for each, signed with the schedule's secret.
        hooks = receiver.wait_for(3, timeout=60)
        bodies = []
        for h in hooks:
            sig = "sha256=" + hmac.new(secret.encode(), h.body, hashlib.sha256).hexdigest()
            assert h.headers["x-ferry-signature"] == sig
            bodies.append(json.loads(h.body))
        assert {b["event"] for b in bodies} == {"schedule.run"}
        assert {b["id"] for b in bodies} == {d1["id"], d2["id"], d3["id"]}
        assert all(b["schedule_id"] == sid and b["scheduled_for"] for b in bodies)
        # The runs are listed by the schedule, newest first.
        g = http("GET", f"{p.base}/v1/schedules/{sid}", headers=ACME).json()
        assert [x["batch_id"] for x in g["runs"]] == [d3["id"], d2["id"], d1["id"]]
        assert {x["status"] for x in g["runs"]} == {"completed"}
    finally:
        site.close()
