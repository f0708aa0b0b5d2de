/*
 * results — pages of a batch's results, read from scrape.results.
 *
 * The final status says where a batch's results lie: one partition and an
 * offset range, shared with other batches' results and possibly holding
 * duplicates (a crash or a replay re-writes an item). A page scans that
 * range from a cursor (an offset), keeps this batch's records and emits an
 * item only at its first occurrence in the range, until `limit` items.
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
#include <stdint.h>

#include "reader.h"

#define RESULTS_LIMIT_DEFAULT 100
#define RESULTS_LIMIT_MAX     1000

struct results;

struct results *results_new(struct reader_pool *rp, int timeout_ms);
void results_free(struct results *r);

/* One page of batch `id`, whose status document is `status` (its `results`
 * location, `total` and `status` are used). `cursor` < 0: from the start.
 * On success *items is a new array and *next the cursor of the next page,
 * or -1 when the batch is final and nothing follows. 0 ok; -1 Kafka
 * failed (errstr); -2 the cursor is outside the batch's range. */
int results_page(struct results *r, const char *id, const json_t *status, int64_t cursor, int limit,
                 json_t **items, int64_t *next, char *errstr, size_t errstr_size);

#endif
