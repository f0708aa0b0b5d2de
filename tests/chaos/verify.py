"""What every chaos case asserts about its batch, as a user sees it: the
batch completes; its results hold every index exactly once, each with the
outcome its URL must have, and the counts are exact; the webhook arrives
signed, under one delivery id (a duplicate only ever with that id); usage
counts are exact.

A failed assertion raises Failure with what was expected and what came.
"""

import datetime
import hashlib
import hmac
import json
import subprocess

from system import Timeout, wait_for

# Every MISSING_EVERY-th index points at a page that does not exist: the
# batch has failures to count too, and a 404 is never retried, so their
# number is exact.
MISSING_EVERY = 100


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def batch_urls(pages_url, count, n):
    """The batch's URLs: distinct query strings over `count` pages, every
    MISSING_EVERY-th a 404."""
    return [f"{pages_url}/missing/{i}" if i % MISSING_EVERY == MISSING_EVERY - 1
            else f"{pages_url}/p{i % count}.html?i={i}" for i in range(n)]


def expected_failed(n):
    return n // MISSING_EVERY


def await_done(sysm, bid, tenant, hook, timeout):
    """Waits until the batch is completed and a webhook for it has been
    answered 200 by the receiver. Returns the time the first one arrived."""

    def done():
        doc = sysm.status(bid, tenant)
        if not doc or doc["status"] != "completed":
            return None
        got = hook.of_batch(bid)
        return got[0].at if got else None

    return wait_for(done, timeout, f"batch {bid} completed and its webhook received", 0.2)


def signature_ok(secret, body, header):
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    # During a secret rotation several signatures are sent, space-separated.
    return any(hmac.compare_digest(want, v) for v in (header or "").split())


def verify_status(doc, n):
    failed = expected_failed(n)
    check(doc["status"] == "completed", f"status {doc['status']}, want completed")
    got = {k: doc[k] for k in ("total", "processed", "succeeded", "failed")}
    want = {"total": n, "processed": n, "succeeded": n - failed, "failed": failed}
    check(got == want, f"status counts {got}, want {want}")
    want_errors = {"not_found": failed} if failed else {}
    check(doc.get("errors", {}) == want_errors, f"errors {doc.get('errors')}, want {want_errors}")


def page_of(result):
    """The page a result carries: its text, else its html."""
    data = result.get("data") or {}
    return data.get("text") or data.get("html") or ""


def verify_results(results, urls, count):
    """Every index once, with its own input and outcome; an ok result
    carries the page its URL names (one of `count`)."""
    n = len(urls)
    seen = [0] * n
    bad = []
    for r in results:
        i = r["index"]
        if not 0 <= i < n:
            bad.append(f"index {i} out of range")
            continue
        seen[i] += 1
        want = "not_found" if i % MISSING_EVERY == MISSING_EVERY - 1 else "ok"
        if r["input"] != urls[i] or r["status"] != want:
            bad.append(f"index {i}: input {r['input']!r} status {r['status']}, want {want}")
        elif want == "ok" and f"page {i % count} of ferry" not in page_of(r):
            bad.append(f"index {i}: text is not page {i % count}'s")
    missing = [i for i in range(n) if seen[i] == 0]
    twice = [i for i in range(n) if seen[i] > 1]
    check(not missing, f"{len(missing)} indexes without a result, e.g. {missing[:10]}")
    check(not twice, f"{len(twice)} indexes returned more than once, e.g. {twice[:10]}")
    check(not bad, f"{len(bad)} wrong results, e.g. {bad[:5]}")
    check(len(results) == n, f"{len(results)} results, want {n}")


def verify_webhooks(hooks, bid, secret, n):
    """The receiver's view: at least one batch.completed, all under one
    delivery id, each signed with the batch's secret, each body the final
    status with exact counts."""
    check(hooks, "no webhook received")
    ids = {h.headers.get("x-ferry-delivery") for h in hooks}
    check(len(ids) == 1, f"{len(hooks)} webhooks under {len(ids)} delivery ids: {sorted(map(str, ids))}")
    failed = expected_failed(n)
    for h in hooks:
        check(h.headers.get("x-ferry-event") == "batch.completed",
              f"webhook event {h.headers.get('x-ferry-event')}, want batch.completed")
        check(signature_ok(secret, h.body, h.headers.get("x-ferry-signature")),
              "webhook signature does not verify with the batch's secret")
        body = json.loads(h.body)
        got = (body.get("id"), body.get("status"), body.get("processed"), body.get("succeeded"),
               body.get("failed"))
        check(got == (bid, "completed", n, n - failed, failed),
              f"webhook body (id, status, processed, succeeded, failed) = {got}")
    return ids.pop()


def verify_deliveries(deliveries, delivery_id):
    """The delivery log agrees: every attempt under the same id, one of them
    delivered."""
    check(deliveries, "GET /deliveries lists no attempt")
    ids = {d["delivery_id"] for d in deliveries}
    check(ids == {delivery_id}, f"delivery log ids {sorted(ids)}, receiver saw {delivery_id}")
    check(any(d["outcome"] == "delivered" for d in deliveries),
          f"no delivered attempt in the log: {[d['outcome'] for d in deliveries]}")


def usage_window():
    today = datetime.datetime.now(datetime.timezone.utc).date()
    day = datetime.timedelta(days=1)
    return f"from={today - day}&to={today + day}"


def verify_usage(sysm, tenant, n, delivered_attempts, notes, timeout=60):
    """Usage of the run's tenant (one batch): exact items, successes,
    failures and credits, and the webhook counted once."""
    path = f"/v1/usage?{usage_window()}"
    code, doc = sysm.try_json(path, tenant)
    check(code == 200 and doc, f"GET /v1/usage answered {code}")
    failed = expected_failed(n)
    want = {"batches": 1, "items": n, "succeeded": n - failed, "failed": failed,
            "credits": n - failed}

    def counted():
        c, d = sysm.try_json(path, tenant)
        if c != 200 or not d:
            return None
        tot = d.get("total", {})
        got = {k: tot.get(k) for k in want}
        # Usage is counted from the aggregator's output: it may lag, but it
        # must never pass the truth.
        if any(isinstance(got[k], int) and got[k] > want[k] for k in want):
            raise Failure(f"usage {got} exceeds {want}")
        return tot if got == want and tot.get("webhooks_delivered", 0) >= 1 else None

    try:
        tot = wait_for(counted, timeout, "usage to reach the batch's counts", 0.5)
    except Timeout:
        c, d = sysm.try_json(path, tenant)
        raise Failure(f"usage {d and d.get('total')}, want {want} and webhooks_delivered >= 1")
    # A delivery is counted once however many times it was sent; never more
    # than the attempts that were delivered.
    check(tot["webhooks_delivered"] <= delivered_attempts,
          f"usage webhooks_delivered {tot['webhooks_delivered']} > {delivered_attempts} delivered attempts")


def verify_all(sysm, bid, tenant, urls, count, secret, hook, notes):
    """Everything a case asserts once the batch is done."""
    n = len(urls)
    doc = sysm.status(bid, tenant)
    check(doc is not None, "GET /v1/batch answers no status")
    verify_status(doc, n)
    verify_results(sysm.results(bid, tenant), urls, count)
    delivery_id = verify_webhooks(hook.of_batch(bid), bid, secret, n)
    # The attempt log is folded in by ingest a moment after the receiver
    # answered.
    try:
        deliveries = wait_for(lambda: (lambda d: d if any(x["outcome"] == "delivered" for x in d)
                                       else None)(sysm.deliveries(bid, tenant)),
                              30, "the delivered attempt in GET /deliveries", 0.3)
    except Timeout:
        deliveries = sysm.deliveries(bid, tenant)
    verify_deliveries(deliveries, delivery_id)
    delivered = sum(1 for d in deliveries if d["outcome"] == "delivered")
    verify_usage(sysm, tenant, n, delivered, notes)
    return deliveries


def verify_replication(build, brokers, prefix, replicas=3, min_isr=2):
    """On a cluster: every ferry topic has `replicas` replicas per partition,
    all in sync, and min.insync.replicas = min_isr."""
    out = subprocess.run(["kcat", "-b", brokers, "-L", "-J"], capture_output=True, text=True,
                         timeout=30, check=True)
    md = json.loads(out.stdout)
    topics = [t for t in md["topics"] if t["topic"].startswith(prefix)]
    check(len(topics) >= 10, f"only {len(topics)} topics under {prefix}")
    for t in topics:
        for p in t["partitions"]:
            check(len(p["replicas"]) == replicas,
                  f"{t['topic']}[{p['partition']}] has {len(p['replicas'])} replicas, want {replicas}")
        cfg = subprocess.run([str(build / "tools" / "topic_config"), brokers, t["topic"]],
                             capture_output=True, text=True, timeout=30)
        check(f"min.insync.replicas={min_isr}" in cfg.stdout.split(),
              f"{t['topic']}: min.insync.replicas is not {min_isr}")
    return len(topics)

