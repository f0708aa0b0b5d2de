"""ingest's follower (batch.status, webhooks.attempts, usage) under a topic
prefix that is not the default: its consumer group carries the prefix once
(it was once `man1.man1.ingest-follow`)."""

from pipeline import start_pipeline


def test_follower_group_has_the_prefix_once(start_stage, ferry_env):
    prefix = ferry_env["FERRY_TOPIC_PREFIX"]
    assert prefix != "ferry."
    p = start_pipeline(start_stage, only=("ingest",))
    m = p.stages["ingest"].wait_log(r"event=following group=(\S+)")
    assert m.group(1) == prefix + "ferry-ingest-follow"
