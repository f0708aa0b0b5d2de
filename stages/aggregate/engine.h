/*
 * engine — the aggregator's loop: consume, count, emit, commit; exactly once.
 *
 * One group consumer reads `batches`, `scrape.results`, `webhooks.attempts`
 * and `crawl.sitefiles` (range assignor: partition p of each goes to the
 * same instance, since they are co-partitioned by batch id). Each record is
 * counted into the batch's tally (state.h); what that causes (status
 * snapshots, webhook tasks, dead letters, usage counters (usage.h),
 * changelog records) is produced in the open transaction (txn.h), which
 * commits with the consumed offsets every FERRY_AGGREGATE_COMMIT_INTERVAL.
 * A crawl's frontier (frontier.h) lives beside its tally and writes its
 * requests and its changelog (`crawl.state`) in the same transaction. A
 * crash loses the open transaction and nothing else: the restarted instance
 * restores its partitions from the changelog (restore.h) and resumes from
 * the committed offsets.
 *
 * Rebalances: librdkafka's callback only notes what changed; the loop acts
 * on it. On assignment it restores the partitions' state, then assigns
 * them; on revocation it commits what is open while the partitions are
 * still ours (or aborts, when they were lost), drops their state, then
 * unassigns. An aborted transaction is rolled back the same way: the
 * assigned partitions are restored and the consumer seeks back to their
 * committed offsets. Nothing is counted while a restore is pending.
 */
#ifndef FERRY_AGGREGATE_ENGINE_H
#define FERRY_AGGREGATE_ENGINE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "stage.h"

/* The settings the engine runs with (main.c reads them). */
struct engine_conf {
    const char *instance; /* stable instance name: the transactional.id's tail */
    long long session_timeout_ms, txn_timeout_ms;
    long long commit_ms;   /* how long one transaction collects work */
    long long status_ms;   /* at most one progress snapshot per batch per this */
    long long done_ttl_ms; /* finished batches remembered (late duplicates) */
    long long pending_ttl_ms, max_pending;
    long long deadline_ms; /* a batch not complete this long after created_at fails */
    long long inline_max, cache_max, max_items, max_message;
    long long delivered_ttl_ms;       /* how long counted deliveries are remembered (delivered.h) */
    long long crawl_host_concurrency; /* a crawl's fetches at a host at once, mean (hostwin.h) */
    long long crawl_replay_step;      /* results a crawl reads back per step */
    long long crawl_commit_ms;        /* a transaction with crawl requests commits within this */
};

struct engine;

/* The transactional producer, under the instance's transactional.id
 * (<prefix>aggregate.<instance>); waits for the cluster, as a stage may
 * start before its broker. NULL with errstr, or when a stop was asked. */
rd_kafka_t *engine_producer(struct stage *st, const struct engine_conf *conf, char *errstr,
                            size_t errstr_size);

/* Builds the range reader and the group consumer around `producer` (taken
 * over, also on failure). The topics must exist. NULL with errstr. */
struct engine *engine_open(struct stage *st, const struct engine_conf *conf, rd_kafka_t *producer,
                           char *errstr, size_t errstr_size);

/* Runs until a stop signal (or a fatal Kafka error); commits what is open
 * on the way out. 0 clean, -1 fatal. */
int engine_run(struct engine *e);

/* Leaves the group, flushes the producer and frees. */
void engine_close(struct engine *e);

/* /healthz readiness: ready once the first assignment was restored. */
int engine_ready(void *arg, char *why, size_t why_size);

#endif
