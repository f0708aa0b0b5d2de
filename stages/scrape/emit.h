/*
 * emit — everything scrape writes to Kafka, and what happens when Kafka
 * acknowledges it.
 *
 * An item produces one result (or its parts), or one retry-tier record, or
 * (a poison request) one dead letter. Each message carries the item as its
 * opaque; the delivery report counts the item's acknowledged messages, and
 * when the last one is in, marks the source offset done (offtrack) — unless
 * a delivery failed, in which case the offset is never stored and the
 * request is fetched again after a restart — then frees the item.
 */
#ifndef FERRY_SCRAPE_EMIT_H
#define FERRY_SCRAPE_EMIT_H

#include <pthread.h>
#include <stdatomic.h>

#include "item.h"
#include "result.h"
#include "topics.h"

struct emit {
    rd_kafka_t *producer;
    rd_kafka_topic_t *results, *dlq;
    rd_kafka_topic_t *tiers[CFG_MAX_DURATIONS];
    long long tier_ms[CFG_MAX_DURATIONS];
    size_t n_tiers;
    size_t max_message; /* a result part's largest size */

    /* Items handed to the stage and not yet finished; the main loop stops
     * taking requests while this is at the in-flight limit. */
    atomic_long outstanding;
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

/* Topic handles for the producer. 0 ok. */
int emit_init(struct emit *em, rd_kafka_t *producer, const struct topics *t, size_t max_message);
void emit_release(struct emit *em);

/* The delivery-report callback to install on the producer (opaque = em). */
void emit_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Each takes ownership of it. */
void emit_result(struct emit *em, struct item *it, const struct result_meta *m,
                 const struct extract *ex);
void emit_retry(struct emit *em, struct item *it, size_t tier, int64_t due_ms,
                const char *last_error);
void emit_dead_letter(struct emit *em, struct item *it, const char *why);

/* Waits up to timeout_ms for an item to finish (for the full main loop). */
void emit_wait_freed(struct emit *em, int timeout_ms);

#endif
