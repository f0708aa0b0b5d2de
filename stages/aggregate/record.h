/*
 * record — the aggregator's inputs, parsed and checked against their schema.
 *
 * A record that fails here is poison: the engine sends its bytes to
 * `aggregate.dlq` with the reason, and goes on. Checks are what the counting
 * relies on (ids, index, status, total), not every optional field.
 */
#ifndef FERRY_AGGREGATE_RECORD_H
#define FERRY_AGGREGATE_RECORD_H

#include <jansson.h>
#include <stddef.h>

#include "ids.h"

/* JSON nesting allowed in input records (results carry page metadata). */
#define RECORD_MAX_DEPTH 32

enum record_type { RECORD_BATCH, RECORD_CANCEL, RECORD_RESULT };

struct record {
    enum record_type type;
    json_t *root; /* owned; batch records only */
    /* Results: the result as it goes inline (every member but batch_id and
     * tenant, as written); owned. Results are scanned, not parsed into a
     * tree: they are the hot path. */
    char *text;
    size_t text_len;
    char batch_id[IDS_BATCH_LEN];
    long long index; /* results */
    int code;        /* results: state_code_parse() of status */
    long long total; /* batch records */
};

/* Parses a `batches` record; `type_header` is the ferry-type header or NULL
 * (then the value's "type" decides). `key` (may be NULL) must equal the id
 * when present. 0 ok, -1 with errstr. */
int record_parse_batch(struct record *r, const void *buf, size_t len, const char *type_header,
                       const char *key, size_t key_len, long long max_items, char *errstr,
                       size_t errstr_size);

/* Parses a `scrape.results` record. 0 ok, -1 with errstr. */
int record_parse_result(struct record *r, const void *buf, size_t len, const char *key,
                        size_t key_len, long long max_items, char *errstr, size_t errstr_size);

void record_release(struct record *r);

/* 1 when the batch record's webhook asks for `event`. A terminal event
 * (batch.failed, batch.cancelled) is also sent to whoever asked for
 * batch.completed: it is the batch's one end-of-batch notification. */
int record_wants_event(const json_t *batch_record, const char *event);

#endif
