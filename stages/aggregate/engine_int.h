/*
 * engine_int — what engine.c and engine_rebalance.c share: the engine
 * itself, its commit, and the rebalance and restore steps the loop calls
 * (engine.h says how they act).
 */
#ifndef FERRY_AGGREGATE_ENGINE_INT_H
#define FERRY_AGGREGATE_ENGINE_INT_H

#include <stdatomic.h>

#include "complete.h"
#include "delivered.h"
#include "emit.h"
#include "engine.h"
#include "frontier.h"
#include "state.h"
#include "txn.h"
#include "usage.h"

/* The topics the reader scans: changelog, results, usage, crawl.state. */
#define ENGINE_READER_TOPICS 4

struct engine {
    struct stage *st;
    const struct topics *t;
    struct engine_conf conf;
    rd_kafka_t *consumer, *producer, *reader;
    rd_kafka_topic_t *warm[ENGINE_READER_TOPICS]; /* the reader's topics, metadata kept warm */
    struct state state;
    struct usage usage;         /* tenants' usage rows of the assigned partitions */
    struct delivered delivered; /* deliveries counted in usage */
    struct txn txn;
    struct emit out;
    struct completion done;
    struct frontier *fr;

    /* The last rebalance event, noted by the callback for the loop. */
    rd_kafka_topic_partition_list_t *rebalance;
    rd_kafka_resp_err_t rebalance_err;
    int rebalance_lost;
    /* Partitions to restore before anything is counted: a new assignment
     * (assigned once restored) or, after an abort, the current one (the
     * consumer seeks back once restored). */
    rd_kafka_topic_partition_list_t *restore;
    int restore_seek;
    int64_t restore_at; /* monotonic ms of the next try */
    int closing;        /* the consumer is being closed: rebalances act at once */

    int64_t tick_mono, trim_mono, expire_mono, work_mono;
    atomic_int ready;
    struct metric *m_results, *m_dups, *m_active, *m_pending, *m_lag, *m_restore_ms;
};

/* Writes what is due, then commits; on an abort (may_roll_back) the
 * assigned partitions are restored again. 0 committed (or nothing open). */
int engine_commit(struct engine *e, int may_roll_back);

/* librdkafka's rebalance callback: notes the event for the loop. */
void engine_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);
/* Acts on the noted rebalance: an assignment becomes a pending restore; a
 * revocation commits (or aborts, when lost), drops the partitions' state
 * and unassigns. */
void engine_apply_rebalance(struct engine *e);
/* One try at the pending restore (changelog, usage rows, the crawls'
 * frontiers); on failure the next one is due later. */
void engine_restore_step(struct engine *e);
/* After an aborted transaction: restore the assignment and seek back. */
void engine_roll_back(struct engine *e);

#endif
