/*
 * emit — everything scrape writes to Kafka.
 *
 * An item produces one result (or its parts), or one retry-tier record, or
 * (a poison request) one dead letter, or (a crawl's site file) what
 * sitefile.h writes, through its job (shared/job.h): the
 * delivery reports count the item's acknowledged messages, and when the
 * last one is in, the source offset is marked done (offtrack) — unless a
 * delivery failed, in which case the offset is never stored and the request
 * is fetched again after a restart — and the item is freed.
 */
#ifndef FERRY_SCRAPE_EMIT_H
#define FERRY_SCRAPE_EMIT_H

#include "item.h"
#include "job.h"
#include "result.h"
#include "topics.h"

struct emit {
    /* The producer, and the items handed to the stage and not yet finished
     * (the intake stops taking requests while they are at its limit). Its
     * delivery reports go to job_dr with the sink as the opaque. */
    struct job_sink sink;
    rd_kafka_topic_t *results, *dlq;
    rd_kafka_topic_t *sitefiles; /* a crawl's robots.txt and sitemaps (sitefile.h) */
    rd_kafka_topic_t *tiers[CFG_MAX_DURATIONS];
    long long tier_ms[CFG_MAX_DURATIONS];
    size_t n_tiers;
    size_t max_message; /* a result part's largest size */
};

/* The sink and the topic handles for the producer. 0 ok. */
int emit_init(struct emit *em, rd_kafka_t *producer, const struct topics *t, size_t max_message);
void emit_release(struct emit *em);

/* Each takes ownership of it. */
void emit_result(struct emit *em, struct item *it, const struct result_meta *m,
                 const struct extract *ex);
void emit_retry(struct emit *em, struct item *it, size_t tier, int64_t due_ms,
                const char *last_error);
void emit_dead_letter(struct emit *em, struct item *it, const char *why);

#endif
