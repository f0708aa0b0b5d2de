/*
 * usage — what each tenant used, per UTC day, counted exactly once: batches,
 * items, succeeded, failed, credits and webhooks delivered (GET /v1/usage).
 *
 * Why here: the aggregator is the one place where every item is counted
 * once (tally.h), inside a Kafka transaction with the consumed offsets. The
 * usage counters are written in that same transaction, so a commit moves
 * counts, changelog and offsets together, and an abort, a replay or a
 * SIGKILL moves none of them: nothing is counted twice or lost.
 *
 * The counters are cumulative rows, one per (day, input partition, tenant),
 * in the compacted `usage` topic (usagerec.h), written to the partition of
 * the same number. Only the owner of input partition p ever writes p's rows,
 * so two aggregator instances never write one key, and a reader (ingest)
 * adds the partitions up. When p moves, its new owner reads p's rows back
 * (usage_restore_begin: in the changelog's scan, after the committed offsets) before
 * it counts anything.
 *
 * What is counted where:
 *  - batches, items, succeeded, failed, credits: billed from the tallies
 *    (usage_bill) as the difference between a batch's counts and what was
 *    billed of it before (tally.billed, kept in the changelog with the
 *    counts). A crawl's growing total is billed as it grows. A batch is
 *    billed once known (its record read); items are what it accepted, so a
 *    cancelled batch bills all its items but only the results it got.
 *  - webhooks_delivered: deliver's attempts with outcome `delivered`, once
 *    per delivery id (delivered.h tells a first delivery from a repeat).
 *
 * A row is the day the aggregator counted it (UTC, wall clock), so a batch
 * that runs across midnight bills each day what was done on it then.
 */
#ifndef FERRY_AGGREGATE_USAGE_H
#define FERRY_AGGREGATE_USAGE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "scan.h"
#include "state.h"
#include "strmap.h"
#include "tally.h"
#include "txn.h"
#include "usagerec.h"

/* One row as the aggregator keeps it. */
struct usage_row {
    struct usagerec r;
    unsigned dirty : 1; /* changed since the topic last got it */
};

struct usage {
    struct strmap rows; /* usagerec key -> struct usage_row (owned) */
    size_t n_dirty;
    size_t restore_bad; /* records of the restore under way that did not parse */
};

void usage_init(struct usage *u);
void usage_release(struct usage *u);

/* Adds `add` to the row of (partition, tenant, day of now_ms). */
void usage_add(struct usage *u, int32_t partition, const char *tenant, int64_t now_ms,
               const struct usage_counts *add);

/* Adds what t counted since it was last billed to its tenant's row of the
 * day of now_ms, and moves t->billed up (marking t dirty, so the changelog
 * carries it). Nothing is billed before t's record is known, nor of a done
 * tally read back from the changelog (not billable). 1 when it billed. */
int usage_bill(struct usage *u, struct tally *t, int64_t now_ms);

/* usage_bill for every changed (dirty) tally of s: before the changelog
 * is written, in every commit. */
void usage_bill_dirty(struct usage *u, struct state *s, int64_t now_ms);

/* Writes every changed row to `topic` in the open transaction x. */
void usage_flush(struct usage *u, struct txn *x, const char *topic);

/* Forgets the rows of partition p (revoked, or about to be read back). */
void usage_drop_partition(struct usage *u, int32_t partition);

/* Forgets written rows older than the day before now_ms: history, never
 * added to again (a row is always the day of its count). */
void usage_trim(struct usage *u, int64_t now_ms);

/* Reading partitions back: the usage topic's part of the changelog's scan
 * (restore_partitions reads both at once). usage_restore_begin drops the
 * rows of partitions nums[0..n) and fills *t (the records go to u);
 * usage_restore_done after a scan that read them all. */
void usage_restore_begin(struct usage *u, const char *topic, const int32_t *nums, size_t n,
                         struct scan_topic *t);
void usage_restore_done(struct usage *u);

/* The row of a key, or NULL (tests). */
const struct usage_row *usage_get(const struct usage *u, int32_t partition, const char *tenant,
                                  const char *date);

#endif
