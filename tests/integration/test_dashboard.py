"""The dashboard (ui/, served by ingest at /): its static serving over HTTP,
and a user's way through it in Debian's Chromium driven by playwright-core
(dashboard_e2e.mjs) against the whole pipeline on a real broker.
Screenshots land in $B/test-logs/<test>/shots/."""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import LOGS, ROOT, http, wait_until
from pipeline import ACME, Site, start_pipeline
from receiver_check import verifies

NODE_PATH = ROOT / "compose" / ".cache" / "npm" / "node_modules"
CHROMIUM = "/usr/bin/chromium"


def test_ingest_serves_the_dashboard(start_stage):
    p = start_pipeline(start_stage, only=("ingest",))
    r = http("GET", p.base + "/")
    assert r.status == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="/ui/app.js">' in r.body
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-cache"
    for name, ctype in (("app.js", "text/javascript; charset=utf-8"),
                        ("style.css", "text/css; charset=utf-8")):
        r = http("GET", f"{p.base}/ui/{name}")
        assert r.status == 200 and r.headers["content-type"] == ctype, name
        assert r.body == (ROOT / "stages" / "ingest" / "ui" / name).read_bytes()
        # Unchanged: revalidated with its ETag, answered 304 without a body.
        again = http("GET", f"{p.base}/ui/{name}", headers={"If-None-Match": r.headers["etag"]})
        assert again.status == 304 and again.body == b""
    # Nothing outside the folder, encoded or not, and no hidden files.
    for path in ("/ui/..%2FMakefile", "/ui/%2e%2e", "/ui/..", "/ui/.gitignore", "/ui/",
                 "/ui/x/../app.js", "/ui/index.html%00", "/ui/README.md"):
        r = http("GET", p.base + path)
        assert r.status in (400, 404), (path, r.status)
        assert b"Makefile" not in r.body or r.status == 404
    # The API is untouched: still keyed.
    assert http("GET", p.base + "/v1/batches").status == 401


def test_ingest_ui_dir_setting(start_stage, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>mine</title>")
    (tmp_path / "notes.bin").write_bytes(b"\0")
    p = start_pipeline(start_stage, only=("ingest",), FERRY_INGEST_UI_DIR=str(tmp_path))
    assert http("GET", p.base + "/").body == b"<!doctype html><title>mine</title>"
    assert http("GET", p.base + "/ui/notes.bin").status == 404  # no type: never served
    missing = start_pipeline(start_stage, only=("ingest",),
                             FERRY_INGEST_UI_DIR=str(tmp_path / "nope"))
    r = http("GET", missing.base + "/")
    assert r.status == 404 and b"FERRY_INGEST_UI_DIR" in r.body


@pytest.fixture
def shots(request):
    d = LOGS / re.sub(r"[^\w.-]", "_", request.node.name) / "shots"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def test_dashboard_in_a_browser(start_stage, shots, receiver):
    if not (NODE_PATH / "playwright-core").is_dir() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail("playwright-core or chromium missing: run compose/deps.sh")
    with Site() as site:
        p = start_pipeline(start_stage, only=("ingest", "scrape", "render", "aggregate", "deliver"),
                           FERRY_RENDER_BROWSERS="1", FERRY_RENDER_TABS="2")
        other = http("POST", p.base + "/v1/batch", {"urls": [site.url + "/p9"]},
                     {"Authorization": "Bearer key-globex"}).json()["id"]
        sched = http("POST", p.base + "/v1/schedules",
                     {"name": "nightly", "cron": "0 3 * * *", "batch": {"urls": [site.url + "/p5"]}},
                     ACME)
        assert sched.status == 201, sched.body
        # A dead delivery for the dead-letter page: the receiver answers
        # this batch's webhook 410 Gone (the next ones 200).
        receiver.plan = [410]
        dead = p.submit({"urls": [site.url + "/p8"], "webhook_url": receiver.url + "/gone"})["id"]
        wait_until(lambda: http("GET", p.base + "/v1/deliveries/dead", headers=ACME).json()["total"],
                   60, what="a dead delivery")
        env = dict(os.environ, SCHED=sched.json()["id"], DEAD=dead, NODE_PATH=str(NODE_PATH), BASE=p.base, SITE=site.url,
                   SHOTS=str(shots), OTHER=other, CHROMIUM=CHROMIUM,
                   HOOK=receiver.url + "/hook")
        out = subprocess.run(["node", str(ROOT / "tests" / "integration" / "dashboard_e2e.mjs")],
                             env=env, capture_output=True, text=True, timeout=240)
        print(out.stdout)
        assert out.returncode == 0, out.stderr[-3000:]
    steps = {s["step"]: s for s in map(json.loads, out.stdout.splitlines())}
    bid = steps["batch_completed"]["id"]
    # What the page showed is what the API says.
    d = http("GET", f"{p.base}/v1/batch/{bid}", headers=ACME).json()
    assert d["status"] == "completed" and d["processed"] == 3 and d["failed"] == 1
    # Every API the page called is in the OpenAPI document.
    spec = (ROOT / "schemas" / "openapi.yaml").read_text()
    for call in steps["done"]["calls"]:
        method, path = call.split(" ", 1)
        path = re.sub(r"(bat|sch)_\w+", "{id}", path)
        path = re.sub(r"fil_\w+", "{file_id}", path)
        path = re.sub(r"dlv_\w+", "{delivery_id}", path)
        assert f"\n  {path}:" in spec, call
        block = spec.split(f"\n  {path}:", 1)[1].split("\n  /", 1)[0]
        assert f"\n    {method.lower()}:" in block, call
    # The replay reached the receiver: the batch's event twice, same delivery id.
    events = [json.loads(r.body) for r in receiver.requests if bid in r.body.decode()]
    assert len(events) >= 2 and len({r.headers["x-ferry-delivery"] for r in receiver.requests
                                     if bid in r.body.decode()}) == 1
    # The request body the page showed is the bytes the receiver got.
    assert steps["request"]["body"].encode() in [r.body for r in receiver.requests]
    # The secret the page showed once is the tenant's: it signs the next
    # batch sent to the webhook set on the page.
    w = http("GET", p.base + "/v1/webhook", headers=ACME).json()
    assert w["secret_set"] and w["url"] == receiver.url + "/hook"
    with Site() as site:
        nxt = p.submit({"urls": [site.url + "/p3"]})["id"]
        got = wait_until(lambda: next((r for r in receiver.requests if nxt in r.body.decode()),
                                      None), 30, what="the next batch's webhook")
    assert verifies(steps["rotated"]["secret"], got)
    # Paused on the page, paused in the API; its run is a batch of the schedule.
    s = http("GET", f"{p.base}/v1/schedules/{sched.json()['id']}", headers=ACME).json()
    assert s["paused"] is True and s["next_run_at"] is None
    run = http("GET", f"{p.base}/v1/batch/{steps['schedule']['run']}", headers=ACME).json()
    assert run["status"] == "completed" and run["total"] == 1
    assert steps["screenshot"]["size"] == [1280, 800]  # the default viewport, as stored
    # The dead delivery replayed on the page reached the receiver, same id.
    again = [r for r in receiver.requests if r.path == "/gone"]
    assert len(again) == 2 and again[1].headers["x-ferry-delivery"] == steps["dead"]["delivery"]
    assert http("GET", p.base + "/v1/deliveries/dead", headers=ACME).json()["total"] == 0
    for name in ("signin", "batches", "batch", "deliveries", "settings", "schedules", "dead",
                 "result-screenshot", "other-tenant"):
        for size in ("desktop", "phone"):
            assert (shots / f"{name}-{size}.png").stat().st_size > 1000
