"""ingest's follower (batch.status, webhooks.attempts, usage) under a topic
prefix that is not the default: its consumer group carries the prefix once
(it was once `man1.man1.ingest-follow`)."""

import re

from pipeline import start_pipeline


def test_follower_group_has_the_prefix_once(start_stage, ferry_env):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    assert prefix != "ferry."
    p = start_pipeline(start_stage, only=("ingest",))
    ingest = p.stages["ingest"]
    # ingest follows other topics too (accounts, schedules), each in a group
    # of its own, logged in no fixed order: wait for the status follower's.
    ingest.wait_log(r"event=following group=\S*ferry-ingest-follow\s")
    groups = re.findall(r"event=following group=(\S+)", ingest.current_log())
    assert prefix + "ferry-ingest-follow" in groups, groups
    assert all(g.startswith(prefix) and not g.startswith(prefix * 2) for g in groups), groups
