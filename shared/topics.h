/*
 * topics — the one declarative list of ferry's topics, and their creation.
 *
 * Every topic ferry reads or writes is a row of topics.c: name (after
 * FERRY_TOPIC_PREFIX), cleanup policy, retention, whether it carries large
 * messages. Retry tiers add one delay topic per configured delay, named by
 * the delay: ferry.webhooks.retry.1m, ferry.scrape.retry.30s, ...
 *
 * All batch-scoped topics have the same partition count (FERRY_TOPIC_PARTITIONS)
 * and are keyed by batch id, so a batch's record, results, status and
 * webhooks land on the same partition number: co-partitioned.
 *
 * topics_ensure() creates whatever is missing through the admin API; topics
 * that exist are left as they are. Every stage calls it at start-up, so any
 * cluster — a fresh local broker or a managed one — works without a
 * separate provisioning step.
 */
#ifndef FERRY_TOPICS_H
#define FERRY_TOPICS_H

#include <librdkafka/rdkafka.h>

#include "cfg.h"

enum topic_id {
    TOPIC_BATCHES,          /* batch records and cancel records (header ferry-type) */
    TOPIC_REQUESTS,         /* one scrape request per item */
    TOPIC_RESULTS,          /* one result per item (more on retries and replays) */
    TOPIC_STATUS,           /* compacted: latest status document per batch */
    TOPIC_WEBHOOKS,         /* webhook tasks: the exact body to sign and send */
    TOPIC_ATTEMPTS,         /* every delivery attempt */
    TOPIC_WEBHOOKS_DLQ,     /* webhook tasks whose tiers are exhausted */
    TOPIC_AGGREGATE_DLQ,    /* poison messages the aggregator skipped */
    TOPIC_SCRAPE_DLQ,       /* poison scrape requests */
    TOPIC_AGGREGATE_STATE,  /* compacted: the aggregator's changelog */
    TOPIC_RENDER_REQUESTS,  /* one render request per item (render: true or a screenshot) */
    TOPIC_RENDER_DLQ,       /* poison render requests */
    TOPIC_FILES,            /* screenshot bytes, keyed by file id; kept FERRY_FILES_RETENTION */
    TOPIC_USAGE,            /* compacted: each tenant's usage per day, cumulative, from aggregate */
    TOPIC_SCHEDULES,        /* compacted: schedule definitions, keyed by schedule id */
    TOPIC_SCHEDULE_STATE,   /* compacted: each schedule's firing state (done_through) */
    TOPIC_SCHEDULE_CHANGES, /* compacted: content hash per schedule and input (changes.h) */
    TOPIC_REQUESTS_SMALL,   /* scrape requests of small batches: the lane scrape serves first */
    TOPIC_TENANTS,          /* compacted: each tenant's webhook settings, keyed by tenant */
    TOPIC_IDEMPOTENCY,      /* Idempotency-Keys of submits, kept 2 days (compacted) */
    TOPIC_SUBMIT,           /* submit bodies produced by users (key: Idempotency-Key) */
    TOPIC_SUBMIT_REPLIES,   /* ingest's answer to each, under the same key */
    TOPIC_CRAWL_SITEFILES,  /* what scrape read of a crawl's robots.txt and sitemaps */
    TOPIC_CRAWL_STATE,      /* compacted: the crawl frontier's changelog (aggregate) */
    TOPIC__COUNT
};

#define TOPIC_NAME_MAX 256

struct topics {
    char name[TOPIC__COUNT][TOPIC_NAME_MAX];
    size_t n_webhook_tiers;
    long long webhook_tier_ms[CFG_MAX_DURATIONS];
    char webhook_tier[CFG_MAX_DURATIONS][TOPIC_NAME_MAX];
    size_t n_scrape_tiers;
    long long scrape_tier_ms[CFG_MAX_DURATIONS];
    char scrape_tier[CFG_MAX_DURATIONS][TOPIC_NAME_MAX];
    size_t n_render_tiers;
    long long render_tier_ms[CFG_MAX_DURATIONS];
    char render_tier[CFG_MAX_DURATIONS][TOPIC_NAME_MAX];
};

/* Resolves every name from the configuration. Fails when a retry tier is
 * not shorter than FERRY_TOPIC_RETENTION (parked records would expire). */
int topics_init(struct topics *t, const struct cfg *cfg, char *errstr, size_t errstr_size);

/* Creates the missing topics with the admin API of any client `rk`.
 * 0 when every topic exists afterwards. */
int topics_ensure(const struct topics *t, rd_kafka_t *rk, const struct cfg *cfg, int timeout_ms,
                  char *errstr, size_t errstr_size);

/* min.insync.replicas of a topic replicated `replication` ways: a majority
 * of the replicas, but fewer than all of them (1 of 2, 2 of 3, 3 of 5), at
 * least 1. topics_ensure() sets it on every topic it creates when
 * FERRY_TOPIC_REPLICATION is above 1. */
int topics_min_insync(int replication);

/* The distinct topics of a tier list (the n names of tier), in order:
 * tiers with the same delay ("1m,1m,5m": two retries a minute apart) share
 * one topic. Fills out (room for n; NULL: only counted) with pointers
 * into tier; returns how many. */
size_t topics_tier_topics(const char (*tier)[TOPIC_NAME_MAX], size_t n, const char **out);

/* The name of a topic: t->name[id]. */
#define topic_name(t, id) ((const char *)(t)->name[(id)])

#endif
