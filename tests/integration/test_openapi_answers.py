"""Every (path, method, status) schemas/openapi.yaml documents, provoked on a
live ingest (with aggregate and deliver, so batches end and webhooks are
sent) by the request a user would send, the status checked and the body
validated against the response's schema in the document. test_openapi (schemathesis) sends generated
requests; this one makes sure each documented answer is really seen. The
answers no request here can cause are listed in NOT_PROVOKED with why and
the test that covers them, if any; a documented answer in neither list
fails the test, so a new path or status needs a case."""

import json

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conftest import ROOT, SECRET_KEY, http, wait_until
from pipeline import ACME, start_pipeline

GLOBEX = {"Authorization": "Bearer key-globex"}
NOBODY = {"Authorization": "Bearer not-a-key"}
UNKNOWN_BATCH = "bat_01JD000000000000000000000"
UNKNOWN_SCHEDULE = "sch_01JD000000000000000000000"
MAX_BODY = 2048

# Documented answers no request of a user can cause here, and why.
NOT_PROVOKED = {
    "503": "Kafka unreachable or the stage starting (test_ingest_kafka_down, test_ingest)",
    ("POST", "/v1/batch/{id}/retry", "410"): "the source's records past FERRY_TOPIC_RETENTION: "
                                             "Kafka deletes segments minutes after, no test waits",
    ("GET", "/v1/files/{file_id}", "200"): "needs a rendered screenshot (test_files)",
    ("POST", "/v1/schedules/{id}/run", "422"): "a stored template that no longer submits "
                                               "(limits changed since it was stored)",
    ("GET", "/v1/batch/{id}/deliveries/{delivery_id}/request", "410"): "the task past the "
                                                                      "webhooks topic's retention",
    ("POST", "/v1/deliveries/{delivery_id}/redeliver", "409"): "a dead attempt naming no task "
                                                               "(deliver writes one only for a "
                                                               "record it cannot read), or one "
                                                               "past retention",
}


def documented():
    doc = yaml.safe_load((ROOT / "schemas" / "openapi.yaml").read_text())
    pairs = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            for status, resp in op["responses"].items():
                pairs[(method.upper(), path, status)] = (
                    f"/paths/{path.replace('~', '~0').replace('/', '~1')}/{method}"
                    f"/responses/{status}")
    return doc, pairs


def body_schema(doc, pointer):
    """The JSON Schema of an answer's application/json body, as a $ref into
    the document (None: no JSON body documented)."""
    node, ref = doc, pointer
    for part in pointer.strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    while "$ref" in node:
        ref = node["$ref"][1:]
        node = doc
        for part in ref.strip("/").split("/"):
            node = node[part]
    if "application/json" not in node.get("content", {}):
        return None
    return {"$ref": f"urn:openapi#{ref}/content/application~1json/schema"}


def test_every_documented_answer_is_seen(start_stage, receiver):
    doc, pairs = documented()
    registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents(doc, default_specification=DRAFT202012))
    p = start_pipeline(start_stage, only=("ingest", "aggregate", "deliver"), FERRY_SECRET_KEY=SECRET_KEY,
                       FERRY_WEBHOOK_ALLOW_HTTP="1", FERRY_ALLOW_PRIVATE_NETWORKS="1",
                       FERRY_MAX_BODY_BYTES=str(MAX_BODY),
                       FERRY_TENANT_LIMITS="globex:max_active_items=1")
    base = p.base

    def req(method, path, body=None, headers=ACME, raw=None):
        h = dict(headers)
        if raw is not None:
            h["Content-Type"] = "application/json"
            return http(method, base + path, raw, h)
        return http(method, base + path, body, h)

    # What the cases act on: a queued batch (no scrape runs, so it stays
    # queued), a cancelled one, a schedule.
    queued = req("POST", "/v1/batch", {"urls": ["https://a.example/1"]}).json()["id"]
    victim = req("POST", "/v1/batch", {"urls": ["https://a.example/v"]}).json()["id"]
    # globex holds its one active item (FERRY_TENANT_LIMITS): its next submit is refused
    assert req("POST", "/v1/batch", {"urls": ["https://a.example/g"]}, GLOBEX).status == 202
    done = req("POST", "/v1/batch", {"urls": ["https://a.example/2"],
                                     "webhook_url": receiver.url + "/h"}).json()["id"]
    assert req("DELETE", f"/v1/batch/{done}").status == 202
    wait_until(lambda: req("GET", f"/v1/batch/{done}").json()["status"] == "cancelled",
               timeout=60, what="the cancelled batch final")
    sent = wait_until(lambda: req("GET", f"/v1/batch/{done}/deliveries").json()["deliveries"],
                      timeout=60, what="its webhook attempted")[0]["delivery_id"]
    # A dead delivery: the receiver answers 410 Gone to this batch's webhook.
    receiver.plan = [410]
    gone = req("POST", "/v1/batch", {"urls": ["https://a.example/d"],
                                     "webhook_url": receiver.url + "/gone"}).json()["id"]
    assert req("DELETE", f"/v1/batch/{gone}").status == 202
    dead = wait_until(lambda: req("GET", "/v1/deliveries/dead").json()["dead"],
                      timeout=60, what="a dead delivery")[0]["delivery_id"]
    sched = req("POST", "/v1/schedules", {"cron": "0 3 * * *", "paused": True,
                                          "batch": {"urls": ["https://a.example/s"]}})
    assert sched.status == 201, sched.body
    sid = sched.json()["id"]
    big = {"urls": ["https://a.example/" + "x" * MAX_BODY]}
    bad_escape = "?limit=%zz"

    B, S = "/v1/batch/{id}", "/v1/schedules/{id}"
    D = "/v1/deliveries/{delivery_id}/redeliver"
    R = B + "/deliveries/{delivery_id}/request"
    cases = {
        ("POST", "/v1/batch", "202"): lambda: req("POST", "/v1/batch",
                                                 {"urls": ["https://a.example/3"]}),
        ("POST", "/v1/batch", "400"): lambda: req("POST", "/v1/batch", raw=b"{"),
        ("POST", "/v1/batch", "413"): lambda: req("POST", "/v1/batch", big),
        ("POST", "/v1/batch", "422"): lambda: req("POST", "/v1/batch", {"urls": []}),
        ("POST", "/v1/batch", "429"): lambda: req("POST", "/v1/batch", {
            "urls": ["https://a.example/4", "https://a.example/5"]}, GLOBEX),
        ("POST", "/v1/crawl", "202"): lambda: req("POST", "/v1/crawl",
                                                 {"url": "https://a.example/", "limit": 5}),
        ("POST", "/v1/crawl", "400"): lambda: req("POST", "/v1/crawl", raw=b"{"),
        ("POST", "/v1/crawl", "413"): lambda: req("POST", "/v1/crawl", {"url": big["urls"][0]}),
        ("POST", "/v1/crawl", "422"): lambda: req("POST", "/v1/crawl", {"url": "not a url"}),
        ("POST", "/v1/scrape/async", "202"): lambda: req("POST", "/v1/scrape/async",
                                                        {"url": "https://a.example/6"}),
        ("POST", "/v1/scrape/async", "400"): lambda: req("POST", "/v1/scrape/async", raw=b"[1,"),
        ("POST", "/v1/scrape/async", "413"): lambda: req("POST", "/v1/scrape/async",
                                                        {"url": big["urls"][0]}),
        ("POST", "/v1/scrape/async", "422"): lambda: req("POST", "/v1/scrape/async",
                                                        {"url": "not a url"}),
        ("POST", "/v1/scrape/async", "429"): lambda: req("POST", "/v1/scrape/async", {
            "url": "https://a.example/7", "formats": ["html"]}, GLOBEX),
        ("GET", B, "200"): lambda: req("GET", f"/v1/batch/{queued}"),
        ("GET", B, "400"): lambda: req("GET", f"/v1/batch/{queued}{bad_escape}"),
        ("GET", B, "404"): lambda: req("GET", f"/v1/batch/{UNKNOWN_BATCH}"),
        ("GET", B, "422"): lambda: req("GET", f"/v1/batch/{queued}?include=results&limit=0"),
        ("DELETE", B, "202"): lambda: req("DELETE", f"/v1/batch/{victim}"),
        ("DELETE", B, "400"): lambda: req("DELETE", f"/v1/batch/{queued}{bad_escape}"),
        ("DELETE", B, "404"): lambda: req("DELETE", f"/v1/batch/{UNKNOWN_BATCH}"),
        ("DELETE", B, "409"): lambda: req("DELETE", f"/v1/batch/{done}"),
        ("GET", B + "/results", "200"): lambda: req("GET", f"/v1/batch/{done}/results"),
        ("GET", B + "/results", "400"): lambda: req("GET", f"/v1/batch/{done}/results{bad_escape}"),
        ("GET", B + "/results", "404"): lambda: req("GET", f"/v1/batch/{UNKNOWN_BATCH}/results"),
        ("GET", B + "/results", "422"): lambda: req("GET", f"/v1/batch/{done}/results?cursor=x"),
        ("GET", B + "/deliveries", "200"): lambda: req("GET", f"/v1/batch/{done}/deliveries"),
        ("GET", B + "/deliveries", "400"): lambda: req(
            "GET", f"/v1/batch/{done}/deliveries{bad_escape}"),
        ("GET", B + "/deliveries", "404"): lambda: req(
            "GET", f"/v1/batch/{UNKNOWN_BATCH}/deliveries"),
        ("GET", R, "200"): lambda: req("GET", f"/v1/batch/{done}/deliveries/{sent}/request"),
        ("GET", R, "400"): lambda: req("GET", f"/v1/batch/{done}/deliveries/{sent}/request"
                                              f"{bad_escape}"),
        ("GET", R, "404"): lambda: req("GET", f"/v1/batch/{done}/deliveries/dlv_{'0' * 32}/request"),
        ("GET", R, "422"): lambda: req("GET", f"/v1/batch/{done}/deliveries/{sent}/request"
                                              "?attempt=0"),
        ("GET", B + "/throughput", "200"): lambda: req("GET", f"/v1/batch/{done}/throughput"),
        ("GET", B + "/throughput", "400"): lambda: req("GET", f"/v1/batch/{done}/throughput"
                                                              f"{bad_escape}"),
        ("GET", B + "/throughput", "404"): lambda: req("GET", f"/v1/batch/{UNKNOWN_BATCH}/throughput"),
        ("GET", B + "/throughput", "422"): lambda: req("GET", f"/v1/batch/{done}/throughput"
                                                              "?buckets=0"),
        ("POST", B + "/redeliver", "202"): lambda: req("POST", f"/v1/batch/{done}/redeliver"),
        ("POST", B + "/redeliver", "400"): lambda: req(
            "POST", f"/v1/batch/{done}/redeliver{bad_escape}"),
        ("POST", B + "/redeliver", "404"): lambda: req(
            "POST", f"/v1/batch/{UNKNOWN_BATCH}/redeliver"),
        ("POST", B + "/redeliver", "409"): lambda: req("POST", f"/v1/batch/{queued}/redeliver"),
        ("GET", "/v1/deliveries/dead", "200"): lambda: req("GET", "/v1/deliveries/dead?limit=5"),
        ("GET", "/v1/deliveries/dead", "400"): lambda: req("GET", "/v1/deliveries/dead" +
                                                          bad_escape),
        ("GET", "/v1/deliveries/dead", "422"): lambda: req("GET", "/v1/deliveries/dead?limit=0"),
        ("POST", D, "202"): lambda: req("POST", f"/v1/deliveries/{dead}/redeliver"),
        ("POST", D, "400"): lambda: req("POST", f"/v1/deliveries/{dead}/redeliver{bad_escape}"),
        ("POST", D, "404"): lambda: req("POST", f"/v1/deliveries/dlv_{'0' * 32}/redeliver"),
        ("GET", "/v1/usage", "200"): lambda: req("GET", "/v1/usage"),
        ("GET", "/v1/usage", "400"): lambda: req("GET", "/v1/usage?from=%zz"),
        ("GET", "/v1/usage", "422"): lambda: req("GET", "/v1/usage?from=2026-02-01&to=2026-01-01"),
        ("GET", "/v1/files/{file_id}", "404"): lambda: req(
            "GET", "/v1/files/fil_" + "0" * 26),
        ("POST", B + "/retry", "202"): lambda: req("POST", f"/v1/batch/{done}/retry"),
        ("POST", B + "/retry", "400"): lambda: req("POST", f"/v1/batch/{done}/retry", raw=b"{"),
        ("POST", B + "/retry", "404"): lambda: req("POST", f"/v1/batch/{UNKNOWN_BATCH}/retry"),
        ("POST", B + "/retry", "409"): lambda: req("POST", f"/v1/batch/{queued}/retry"),
        ("POST", B + "/retry", "422"): lambda: req("POST", f"/v1/batch/{done}/retry",
                                                  {"status": ["not-a-status"]}),
        ("GET", "/v1/batches", "200"): lambda: req("GET", "/v1/batches?limit=2"),
        ("GET", "/v1/batches", "400"): lambda: req("GET", "/v1/batches" + bad_escape),
        ("GET", "/v1/batches", "422"): lambda: req("GET", "/v1/batches?cursor=made-up"),
        ("GET", "/v1/webhook", "200"): lambda: req("GET", "/v1/webhook"),
        ("PUT", "/v1/webhook", "200"): lambda: req("PUT", "/v1/webhook",
                                                  {"url": "http://127.0.0.1:9/t"}),
        ("PUT", "/v1/webhook", "400"): lambda: req("PUT", "/v1/webhook", raw=b"{"),
        ("PUT", "/v1/webhook", "422"): lambda: req("PUT", "/v1/webhook", {"url": 5}),
        ("POST", "/v1/webhook/secret", "200"): lambda: req("POST", "/v1/webhook/secret", {}),
        ("POST", "/v1/webhook/secret", "400"): lambda: req("POST", "/v1/webhook/secret",
                                                          raw=b"{"),
        ("POST", "/v1/webhook/secret", "422"): lambda: req("POST", "/v1/webhook/secret",
                                                          {"overlap": "8d"}),
        ("DELETE", "/v1/webhook/secret/previous", "200"): lambda: req(
            "DELETE", "/v1/webhook/secret/previous"),
        ("POST", "/v1/schedules", "201"): lambda: req("POST", "/v1/schedules", {
            "cron": "0 4 * * *", "paused": True, "batch": {"urls": ["https://a.example/t"]}}),
        ("POST", "/v1/schedules", "400"): lambda: req("POST", "/v1/schedules", raw=b"{"),
        ("POST", "/v1/schedules", "413"): lambda: req("POST", "/v1/schedules",
                                                     {"cron": "0 4 * * *", "batch": big}),
        ("POST", "/v1/schedules", "422"): lambda: req("POST", "/v1/schedules", {
            "cron": "61 * * * *", "batch": {"urls": ["https://a.example/t"]}}),
        ("GET", "/v1/schedules", "200"): lambda: req("GET", "/v1/schedules"),
        ("GET", "/v1/schedules", "400"): lambda: req("GET", "/v1/schedules" + bad_escape),
        ("GET", "/v1/schedules", "422"): lambda: req("GET", "/v1/schedules?limit=0"),
        ("GET", S, "200"): lambda: req("GET", f"/v1/schedules/{sid}"),
        ("GET", S, "400"): lambda: req("GET", f"/v1/schedules/{sid}{bad_escape}"),
        ("GET", S, "404"): lambda: req("GET", f"/v1/schedules/{UNKNOWN_SCHEDULE}"),
        ("PATCH", S, "200"): lambda: req("PATCH", f"/v1/schedules/{sid}", {"name": "nightly"}),
        ("PATCH", S, "400"): lambda: req("PATCH", f"/v1/schedules/{sid}", raw=b"{"),
        ("PATCH", S, "404"): lambda: req("PATCH", f"/v1/schedules/{UNKNOWN_SCHEDULE}",
                                         {"name": "x"}),
        ("PATCH", S, "413"): lambda: req("PATCH", f"/v1/schedules/{sid}", {"batch": big}),
        ("PATCH", S, "422"): lambda: req("PATCH", f"/v1/schedules/{sid}",
                                         {"timezone": "Mars/Base"}),
        ("POST", S + "/run", "202"): lambda: req("POST", f"/v1/schedules/{sid}/run"),
        ("POST", S + "/run", "400"): lambda: req("POST", f"/v1/schedules/{sid}/run{bad_escape}"),
        ("POST", S + "/run", "404"): lambda: req("POST", f"/v1/schedules/{UNKNOWN_SCHEDULE}/run"),
        ("DELETE", S, "400"): lambda: req("DELETE", f"/v1/schedules/{sid}{bad_escape}"),
        ("DELETE", S, "404"): lambda: req("DELETE", f"/v1/schedules/{UNKNOWN_SCHEDULE}"),
        ("DELETE", S, "204"): lambda: req("DELETE", f"/v1/schedules/{sid}"),
        ("GET", "/healthz", "200"): lambda: req("GET", "/healthz", headers={}),
        ("GET", "/metrics", "200"): lambda: req("GET", "/metrics", headers={}),
    }

    def unauthorized(method, path):
        concrete = (path.replace("{id}", UNKNOWN_SCHEDULE if "schedules" in path else queued)
                    .replace("{file_id}", "fil_" + "0" * 26)
                    .replace("{delivery_id}", "dlv_" + "0" * 32))
        body = {} if method in ("POST", "PUT", "PATCH") else None
        return lambda: req(method, concrete, body, NOBODY)

    for (method, path, status) in pairs:
        if status == "401":
            cases[(method, path, status)] = unauthorized(method, path)

    missing = sorted(k for k in pairs
                     if k not in cases and k not in NOT_PROVOKED and k[2] not in NOT_PROVOKED)
    assert not missing, f"documented answers with no case and no reason: {missing}"
    unknown = sorted(k for k in cases if k not in pairs)
    assert not unknown, f"cases for answers openapi.yaml does not document: {unknown}"

    wrong = []
    gone = ("DELETE", S, "204")  # last: the schedule is gone after it
    for key in sorted(pairs, key=lambda k: k == gone):
        if key not in cases:
            continue
        method, path, status = key
        r = cases[key]()
        if str(r.status) != status:
            wrong.append(f"{method} {path}: {r.status}, not {status}: {r.body[:200]!r}")
            continue
        schema = body_schema(doc, pairs[key])
        if schema is None:
            continue
        if "json" not in r.headers.get("content-type", ""):
            wrong.append(f"{method} {path} {status}: content-type {r.headers.get('content-type')}")
            continue
        v = jsonschema.Draft202012Validator(schema, registry=registry,
                                            format_checker=jsonschema.FormatChecker())
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:160]}"
                  for e in v.iter_errors(json.loads(r.body))][:4]
        if errors:
            wrong.append(f"{method} {path} {status}: {errors}")
    assert not wrong, "\n".join(wrong)
    print("not provoked here:", sorted(map(str, NOT_PROVOKED)))
