/*
 * emit — everything render writes to Kafka.
 *
 * An item produces one result in scrape.results (or its parts: the same
 * shape as scrape's, so aggregate and deliver do not know who rendered it),
 * or one retry-tier record, or (a poison request) one dead letter — through
 * shared/job.h, which marks the source offset done once all of it is
 * acknowledged.
 *
 * A screenshot goes to the files topic (key: the file id, value: the image
 * bytes, headers content-type, ferry-tenant, ferry-batch, ferry-index,
 * ferry-expires-ms) BEFORE the result that points at it: the slot waits for
 * the file's delivery report, so a reader that sees data.screenshot.url can
 * always fetch the file. The files producer is a separate client (its own
 * queue of large messages, its own delivery reports).
 */
#ifndef FERRY_RENDER_EMIT_H
#define FERRY_RENDER_EMIT_H

#include "job.h"
#include "page.h"
#include "ritem.h"
#include "topics.h"
#include "words.h"

struct emit {
    struct job_sink sink;
    rd_kafka_t *files_producer;
    rd_kafka_topic_t *results, *dlq, *files;
    rd_kafka_topic_t *tiers[CFG_MAX_DURATIONS];
    long long tier_ms[CFG_MAX_DURATIONS];
    size_t n_tiers;
    size_t max_message;           /* a result part's or a file's largest size */
    long long files_retention_ms; /* expires_at = now + this */
    int credits;                  /* charged for an ok item (FERRY_CREDITS_RENDER) */
};

/* Topic handles on the two producers. 0 ok. */
int emit_init(struct emit *em, rd_kafka_t *producer, rd_kafka_t *files_producer,
              const struct topics *t, size_t max_message, long long files_retention_ms,
              int credits);
void emit_release(struct emit *em);

/* The files producer's dr_msg_cb. */
void emit_file_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* The item's outcome: a result (ok or failed), or a retry when the failure
 * is transient and tiers are left. Takes it. */
void emit_rendered(struct emit *em, struct ritem *it, struct page_res *res, long long duration_ms);

/* An item that is not rendered (cancelled batch, unusable request). Takes it. */
void emit_skip(struct emit *em, struct ritem *it, enum status status, const char *error);

/* An item that cannot be rendered here as it is (its rules are unknown to
 * this instance): a retry tier when the status is always retried and tiers
 * are left, else its result. Takes it. */
void emit_unusable(struct emit *em, struct ritem *it, enum status status, const char *error);

/* A poison request to render.dlq. Takes it. */
void emit_dead_letter(struct emit *em, struct ritem *it, const char *why);

#endif
