/*
 * origin — what a finished batch was made of, read back from Kafka for
 * POST /v1/batch/{id}/retry: which items ended how, the batch record (its
 * options and webhook), and the scrape requests of the chosen items (their
 * URL and headers exactly as they were fetched).
 *
 * Nothing is held per batch in ingest, so each read streams from the topics
 * and keeps only what the retry needs:
 *
 *   - results: the batch's range of scrape.results (the status document's
 *     `kafka` location) is read once, record by record; each item's first
 *     result decides (as for the results pages and aggregate's counts), and
 *     only its status is looked at (jx_peek_str: the page data after it is
 *     skipped, never parsed). One byte per item remembers what was seen and
 *     what is wanted: 200 KB for 100,000 items, whatever their pages weigh.
 *   - the batch record: on its partition of `batches`, from the first
 *     record written around its created_at (Kafka's offsets-for-times) to
 *     the record with its key.
 *   - requests: ingest put item i on partition (murmur2(id) + i) % n of
 *     scrape.requests (render.requests for a rendered batch, the small-batch
 *     lane for a small one: txn_requests_topic), all in the
 *     submit transaction; each partition holding
 *     a wanted item is read from around created_at until its wanted items
 *     are found.
 *
 * A read that passes a record written more than ORIGIN_WINDOW_MS after
 * created_at without finding what it looks for stops: those records are
 * gone (past the topics' retention).
 */
#ifndef INGEST_ORIGIN_H
#define INGEST_ORIGIN_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "reader.h"
#include "topics.h"

#define ORIGIN_WINDOW_MS (10LL * 60 * 1000)
#define ORIGIN_CODES_MAX 32

struct origin {
    struct reader_pool *rp;
    rd_kafka_t *meta; /* any client: partition counts */
    const struct topics *topics;
    int timeout_ms; /* for each whole read */
};

/* Which items to take, by the status of their first result. */
struct origin_pick {
    int failed; /* every status but ok, and items that have no result at all */
    const char *codes[ORIGIN_CODES_MAX];
    size_t n_codes;
};

/* Sets want[i] (want: `total` bytes, zeroed) for the items of batch `id`
 * that `pick` takes, reading the results range of `status` (its status
 * document); *n_want counts them. 0, or -1 with errstr. */
int origin_pick_results(const struct origin *o, const char *id, const json_t *status, size_t total,
                        const struct origin_pick *pick, unsigned char *want, size_t *n_want,
                        char *errstr, size_t errstr_size);

/* The batch record of `id`, created at created_ms: a new reference; NULL
 * with errstr (*gone set when Kafka answered but the record is not there
 * any more). */
json_t *origin_record(const struct origin *o, const char *id, int64_t created_ms, int *gone,
                      char *errstr, size_t errstr_size);

/* The wanted items' requests as submit items ({"url", "headers"}; an
 * endpoint batch's items as submitted, the profile's parameters), in
 * index order, read from the topic `requests` they were written to
 * (txn_requests_topic: render.requests for a rendered batch, the
 * small-batch lane or scrape.requests): a new array; NULL with errstr
 * (*gone as above, also when a wanted request was not found). */
json_t *origin_items(const struct origin *o, const char *id, int64_t created_ms,
                     enum topic_id requests, size_t total, const unsigned char *want, size_t n_want,
                     int *gone, char *errstr, size_t errstr_size);

#endif
