/*
 * results — pages of a batch's results, read from scrape.results.
 *
 * The status document says where a batch's results lie (`kafka`: one
 * partition and an offset range), shared with other batches' results and
 * possibly holding duplicates (a crash or a replay re-writes an item). A
 * page scans that range from a cursor (an offset), keeps this batch's
 * records and emits each item once, at its first occurrence, until `limit`
 * items.
 *
 * Results written in parts (`part`/`parts`, header ferry-part "k/n": a
 * result larger than FERRY_MAX_MESSAGE_BYTES) are returned whole: an item's
 * first occurrence is its part 1, and the page reads on (past its range if
 * need be) until the item's parts 2..n have come, concatenating each data
 * string in part order. A new part 1 of the same item before the set is
 * complete (a scrape that crashed mid-write and wrote the item again)
 * starts the set over.
 *
 * Deduplication without holding results: per batch, one 32-bit slot per
 * item remembers the offset of the item's first occurrence, filled as the
 * range is scanned (the prefix before a cursor is scanned once, headers
 * only in effect). 100,000 items cost 400 KB; a few recent batches are
 * cached, the least recently used are dropped.
 */
#ifndef INGEST_RESULTS_H
#define INGEST_RESULTS_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "reader.h"

#define RESULTS_LIMIT_DEFAULT 100
#define RESULTS_LIMIT_MAX     1000

struct results;

struct results *results_new(struct reader_pool *rp, int timeout_ms);
void results_free(struct results *r);

/* Which items a page keeps: every one (NULL), "ok", "failed" (every status
 * but ok), or one status code. */
struct results_filter {
    const char *status;
};

/* 1 when `status` is a value ?status= takes (ok, failed, or a code). */
int results_filter_valid(const char *status);

/* One page of batch `id`, whose status document (as GET answers it) is
 * `status` (its `kafka` location, `total` and `status` are used). `cursor`
 * < 0: from the start. On success *items is a new array and *next the
 * cursor of the next page, or -1 when the batch is final and nothing
 * follows. 0 ok; -1 Kafka failed (errstr); -2 the cursor is outside the
 * batch's range. */
int results_page(struct results *r, const char *id, const json_t *status, int64_t cursor, int limit,
                 const struct results_filter *filter, json_t **items, int64_t *next, char *errstr,
                 size_t errstr_size);

/* ---- one record of scrape.results, for other scans of a batch's range */

/* The item index of record m when it is batch `id`'s: from its routing
 * headers (ferry-batch, ferry-index; ferry-part "k/n" into *part and
 * *parts, 0 and 1 when whole), else from the value, parsed into *doc (NULL
 * otherwise; the caller frees it). -1: another batch's, or no index. */
long results_record_index(const rd_kafka_message_t *m, const char *id, json_t **doc, int *part,
                          int *parts);

/* The record's `status` into out: peeked ahead of the page, or read from
 * *doc (parsed here when the peek cannot tell; the caller frees it). */
void results_record_status(const rd_kafka_message_t *m, json_t **doc, char *out, size_t size);

#endif
