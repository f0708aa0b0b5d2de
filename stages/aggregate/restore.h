/*
 * restore — the changelog: what survives a crash, and reading it back.
 *
 * Every batch a transaction changed is written to `aggregate.state`
 * (compacted, keyed by batch id; partition p holds the state of input
 * partition p) in that transaction, so the changelog and the committed
 * offsets always agree. A batch forgotten after FERRY_AGGREGATE_DONE_TTL
 * gets a tombstone.
 *
 * Restoring partitions: their committed offsets are fetched first (with
 * read_committed librdkafka asks for stable offsets, which waits until a
 * previous owner's transaction has ended, so the changelog read next is at
 * least as new as the offsets), then their changelog partitions are read to
 * the end into the table. The engine calls this from its loop, never from
 * librdkafka's rebalance callback.
 *
 * The changelog also holds the webhook deliveries counted in usage
 * (delivered.h), under keys of their own ("dlv/<batch id>").
 */
#ifndef FERRY_AGGREGATE_RESTORE_H
#define FERRY_AGGREGATE_RESTORE_H

#include <librdkafka/rdkafka.h>

#include "delivered.h"
#include "scan.h"
#include "state.h"
#include "txn.h"

/* Writes every changed (dirty) tally of s to the changelog topic in x. */
void changelog_flush(struct state *s, struct txn *x, const char *topic);

/* Writes the tombstone of a forgotten batch. */
void changelog_forget(struct txn *x, const char *topic, const struct tally *t);

/* How long reading the changelogs of restored partitions (aggregate.state
 * with usage, then crawl.state: frontier.h) may take before the restore is
 * tried again. crawl.state is read in a scan of its own, after: its records
 * need their batches' tallies, which the first scan restores, and a scan
 * delivers no order across topics. */
#define RESTORE_TIMEOUT_MS 120000

struct restore_stats {
    size_t partitions, records, bad;
    int64_t offsets_ms, ms;
};

/* Fills the offsets of `parts` with the consumer's committed offsets, then
 * replaces the state of their partition numbers in s (and d, unless NULL)
 * with what the changelog topic holds, read with `reader` (a scan.h
 * consumer), together with the same partitions of also[0..n_also) (the
 * usage rows: written in the same transactions, so read after the offsets
 * too) in one scan. 0 ok, -1 with errstr (s may then hold part of it:
 * call again). */
int restore_partitions(struct state *s, struct delivered *d, rd_kafka_t *consumer,
                       rd_kafka_t *reader, const char *topic, const struct scan_topic *also,
                       size_t n_also, rd_kafka_topic_partition_list_t *parts,
                       struct restore_stats *stats, char *errstr, size_t errstr_size);

/* The distinct partition numbers of a list (out has room for l->cnt).
 * Returns how many. */
size_t restore_partition_numbers(const rd_kafka_topic_partition_list_t *l, int32_t *out);

#endif
