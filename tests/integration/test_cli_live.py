"""`ferry retry`, `ferry batches` and `ferry crawl` (build/ferry) against a
live ingest with every stage running: the list is the tenant's batches newest
first, a retry submits exactly the items that failed, a crawl follows the
site within its options, each exiting as README's exit codes say (0
accepted, 3 refused: unknown batch, still running, invalid)."""

import json
import threading

from conftest import http
from pipeline import ACME, serve, start_pipeline
from test_cli import ferry


def test_cli_batches_and_retry_against_the_stages(start_stage):
    p = start_pipeline(start_stage)
    broken = {"/b1", "/b2"}  # 404 until mended
    release = threading.Event()

    def answer(path, headers):
        if path.startswith("/hang"):
            release.wait(60)
        if path in broken:
            return 404, b"gone for now"
        return 200, f"<html><body><p>page {path}</p></body></html>".encode()

    with serve(answer) as site:
        urls = [f"{site}/a", f"{site}/b1", f"{site}/c", f"{site}/b2"]
        r = ferry("submit", "-", "-q", "--format", "text", url=p.base,
                  stdin="\n".join(urls).encode() + b"\n")
        assert r.returncode == 0, r.stderr
        first = r.stdout.decode().strip()
        r = ferry("wait", first, "--interval", "0.2", "--json", url=p.base)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["status"] == "completed" and doc["failed"] == 2, doc

        # still running: refused (409), exit 3, nothing submitted
        r = ferry("submit", "-", "-q", url=p.base, stdin=f"{site}/hang\n".encode())
        assert r.returncode == 0, r.stderr
        running = r.stdout.decode().strip()
        r = ferry("retry", running, url=p.base)
        assert r.returncode == 3 and b"409 batch_running" in r.stderr, r.stderr
        release.set()
        assert ferry("wait", running, "--interval", "0.2", url=p.base).returncode == 0
        # unknown: 404, exit 3
        r = ferry("retry", "bat_01JD000000000000000000000", url=p.base)
        assert r.returncode == 3 and b"404" in r.stderr, r.stderr

        # the failing pages answer now; the retry submits exactly those two
        broken.clear()
        r = ferry("retry", first, "--json", url=p.base)
        assert r.returncode == 0, r.stderr
        acc = json.loads(r.stdout)
        assert acc["total"] == 2 and acc["id"] not in (first, running), acc
        retry = acc["id"]
        r = ferry("wait", retry, "--interval", "0.2", "--json", url=p.base)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["retry_of"] == first and doc["succeeded"] == 2 and doc["failed"] == 0, doc
        r = ferry("results", retry, url=p.base)
        assert r.returncode == 0, r.stderr
        res = [json.loads(x) for x in r.stdout.decode().splitlines()]
        inputs = sorted(x["input"] if isinstance(x["input"], str) else x["input"]["url"]
                        for x in res)
        assert inputs == [f"{site}/b1", f"{site}/b2"]
        assert all(x["status"] == "ok" and "page /b" in x["data"]["text"] for x in res), res
        # nothing failed: refused (422 nothing_to_retry), exit 3
        r = ferry("retry", retry, url=p.base)
        assert r.returncode == 3 and b"422 nothing_to_retry" in r.stderr, r.stderr

    # the list, newest first, as JSON lines; the same as the API's page
    r = ferry("batches", "--json", url=p.base)
    assert r.returncode == 0, r.stderr
    listed = [json.loads(x) for x in r.stdout.decode().splitlines()]
    ids = [d["id"] for d in listed]
    assert ids[:3] == [retry, running, first], ids
    assert [d["created_at"] for d in listed] == sorted((d["created_at"] for d in listed),
                                                       reverse=True)
    api = http("GET", p.base + "/v1/batches", headers=ACME).json()
    assert [d["id"] for d in api["batches"]] == ids
    r = ferry("batches", "--status", "completed", "--limit", "1", "--all", "--json", url=p.base)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["id"] for x in r.stdout.decode().splitlines()][:3] == ids[:3]
    # the table a person reads
    r = ferry("batches", "--limit", "2", url=p.base)
    out = r.stdout.decode().splitlines()
    assert out[0].split() == ["ID", "STATUS", "KIND", "PROCESSED", "CREATED"]
    assert [x.split()[:4] for x in out[1:]] == [[retry, "completed", "batch", "2/2"],
                                                [running, "completed", "batch", "1/1"]]


def test_cli_crawl_against_the_stages(start_stage):
    """`ferry crawl URL` submits POST /v1/crawl as the contract says: the
    crawl follows the site's links within --limit and ends completed."""
    p = start_pipeline(start_stage)
    pages = {"/": b'<a href="/a">a</a> <a href="/b">b</a> <a href="/c.pdf">pdf</a>',
             "/a": b'<a href="/b">b</a>', "/b": b"<p>end</p>"}

    def answer(path, headers):
        if path in pages:
            return 200, b"<html><body>" + pages[path] + b"</body></html>"
        return 404, b"no"

    with serve(answer) as site:
        r = ferry("crawl", site + "/", "--limit", "10", "--exclude", r"\.pdf$", "--sitemap",
                  "skip", "-f", "text", "--json", url=p.base)
        assert r.returncode == 0, r.stderr
        acc = json.loads(r.stdout)
        r = ferry("wait", acc["id"], "--interval", "0.2", "--json", url=p.base)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["kind"] == "crawl" and doc["status"] == "completed", doc
        r = ferry("results", acc["id"], url=p.base)
        got = sorted((x["input"] if isinstance(x["input"], str) else x["input"]["url"])
                     for x in map(json.loads, r.stdout.decode().splitlines()))
        assert got == [site + "/", site + "/a", site + "/b"], got
    r = ferry("crawl", "not a url", url=p.base)
    assert r.returncode == 3 and b"422" in r.stderr, r.stderr
