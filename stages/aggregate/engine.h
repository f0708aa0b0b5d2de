/*
 * engine — the aggregator's consume-count-emit loop, exactly once.
 *
 * One group consumer reads `batches` and `scrape.results` (range assignor:
 * partition p of both topics goes to the same instance, since they are
 * co-partitioned by batch id). Everything one poll cycle causes — status
 * snapshots, webhook tasks, dead letters, changelog records of the batches
 * it changed — is produced in one Kafka transaction together with the
 * consumed offsets (send_offsets_to_transaction with the consumer's group
 * metadata, so a zombie from an older generation is fenced). A crash loses
 * the open transaction and nothing else: the restarted instance restores
 * its partitions' state from the changelog topic (`aggregate.state`,
 * compacted, keyed by batch id, partition p holds the state of input
 * partition p) and resumes from the committed offsets.
 *
 * On assignment: committed offsets are fetched first (librdkafka waits for
 * pending transactional offsets, so a previous owner's last transaction is
 * settled), then the changelog partitions are read to their end, then the
 * inputs are assigned. On revocation: the open transaction is committed,
 * then the partitions' state is dropped.
 */
#ifndef FERRY_AGGREGATE_ENGINE_H
#define FERRY_AGGREGATE_ENGINE_H

#include <librdkafka/rdkafka.h>

#include "stage.h"
#include "state.h"

/* This stage's own settings (main.c registers them). */
extern const struct cfg_opt engine_opts[];

struct engine;

/* Builds the clients (transactional producer, group consumer, reader) and
 * provisions the topics. NULL with errstr. */
struct engine *engine_open(struct stage *st, char *errstr, size_t errstr_size);

/* Runs until a stop signal (or a fatal Kafka error). 0 clean, -1 fatal. */
int engine_run(struct engine *e);

/* Commits what is open, leaves the group, flushes and frees. */
void engine_close(struct engine *e);

/* /healthz readiness: ready once the first assignment was restored. */
int engine_ready(void *arg, char *why, size_t why_size);

#endif
