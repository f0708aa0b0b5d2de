"""/metrics: consumer lag per group, topic and partition while a stage falls
behind and after it catches up, and the README's list of metrics against
what the running stages really serve."""

import re

from conftest import ROOT, http, wait_until
from pipeline import ACME, Site, start_pipeline

LAG = re.compile(r'^ferry_kafka_consumer_lag\{group="([^"]*)",topic="([^"]*)",'
                 r'partition="(\d+)"\} (\d+)$', re.M)


def lag_of(metrics_url, topic):
    text = http("GET", metrics_url + "/metrics").body.decode()
    return {int(p): int(v) for _, t, p, v in LAG.findall(text) if t == topic}


def families(metrics_url):
    text = http("GET", metrics_url + "/metrics").body.decode()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def test_consumer_lag_per_partition(start_stage, ferry_env):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    requests = prefix + "scrape.requests"
    # scrape takes at most 2 items at a time and the pages hang: the rest wait in Kafka
    p = start_pipeline(start_stage, only=("ingest", "scrape"), FERRY_SCRAPE_INFLIGHT=2,
                       FERRY_SCRAPE_TIMEOUT="60s")
    with Site() as site:
        n = 20
        p.submit({"urls": [f"{site.url}/hang{i}" for i in range(n)]})
        scrape = p.metrics["scrape"]
        # Lag counts offsets: each partition's transaction commit marker is one
        # until the consumer reads past it, so 2 taken of 20 leave 18 to 20.
        lag = wait_until(lambda: (lambda m: m if len(m) == 2 and n - 2 <= sum(m.values()) <= n
                                  else None)(lag_of(scrape, requests)),
                         timeout=30, what=f"lag of about {n - 2} over both partitions")
        assert all(v > 0 for v in lag.values()), lag  # the batch spreads over both partitions
        text = http("GET", scrape + "/metrics").body.decode()
        groups = {g for g, t, _, _ in LAG.findall(text) if t == requests}
        assert groups == {prefix + "ferry-scrape"}, groups
        site.closing.set()  # the hanging fetches end; scrape takes the rest
        wait_until(lambda: (lambda m: m if sum(m.values()) == 0 else None)(
            lag_of(scrape, requests)), timeout=60, what="lag back to 0")
    # ingest follows the status and attempts topics: its table is caught up
    ing = lag_of(p.base, prefix + "batch.status")
    assert ing and sum(ing.values()) == 0, ing


def readme_metrics():
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(ferry_\w+)` \| ([a-z, ]+) \| (\w+) \| (.+) \|$", section, re.M)
    listed = {}
    for name, stages, kind, meaning in rows:
        assert meaning.strip(), name
        for st in stages.split(","):
            listed.setdefault(st.strip(), set()).add(name)
    return listed


def test_readme_lists_every_metric_the_stages_serve(start_stage, receiver):
    p = start_pipeline(start_stage, only=("ingest", "scrape", "aggregate", "deliver", "render"))
    with Site() as site:
        # a batch with a webhook through every stage, so lazily made series exist too
        sub = p.submit({"urls": [f"{site.url}/p1", f"{site.url}/gone"],
                        "webhook_url": receiver.url + "/hook"})
        p.wait_final(sub["id"], webhook=True)
    http("GET", p.base + "/v1/batch/bat_none", headers=ACME)
    listed = readme_metrics()
    assert set(listed) == {"ingest", "scrape", "aggregate", "deliver", "render"}, listed.keys()
    for stage, url in p.metrics.items():
        served = families(url)
        assert served == listed[stage], (
            f"{stage}: served but not in the README: {sorted(served - listed[stage])}; "
            f"in the README but not served: {sorted(listed[stage] - served)}")
