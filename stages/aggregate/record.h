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

#include "changes.h"
#include "ids.h"
#include "tally.h"

/* JSON nesting allowed in input records (results carry page metadata). */
#define RECORD_MAX_DEPTH 32
/* Most parts one result may be written in (a 1 GiB page in 1 MiB messages). */
#define RECORD_MAX_PARTS 4096

enum record_type { RECORD_BATCH, RECORD_CANCEL, RECORD_RESULT };

struct record {
    enum record_type type;
    json_t *root; /* owned; batch records only */
    /* Results: the result as it goes inline (every member but batch_id,
     * tenant, part and parts, as written); owned. Results are scanned, not
     * parsed into a tree: they are the hot path. */
    char *text;
    size_t text_len;
    unsigned canonical : 1; /* text is as JSON.stringify would write it (jx.h, "scanning") */
    char batch_id[IDS_BATCH_LEN];
    struct tally_in in; /* results: what the count needs */
    /* Results of a tracked run (changes.h): where the input's content hash
     * is remembered, and the hash ("" when the item failed). */
    char change_key[CHANGES_KEY_MAX];
    char content_hash[CHANGES_HASH_LEN];
    long long total; /* batch records */
    /* Results of a crawl's pages (frontier.h): depth and found_on (-1 when
     * absent or null), and, pointing into the record's own bytes (valid
     * while its message is), `input` as written between its quotes and the
     * `frontier` array of links found on the page (not in `text`: it is the
     * frontier's, not the user's), and `final_url` as `input` (NULL when
     * null: the page was not fetched). */
    long long depth, found_on;
    long long duration_ms; /* the fetch's, -1 when absent (the host's window: hostwin.h) */
    const char *input, *frontier, *final_url;
    size_t input_len, frontier_len, final_url_len;
};

/* Parses a `batches` record; `type_header` is the ferry-type header or NULL
 * (then the value's "type" decides). `key` (may be NULL) must equal the id
 * when present. 0 ok, -1 with errstr. */
int record_parse_batch(struct record *r, const void *buf, size_t len, const char *type_header,
                       const char *key, size_t key_len, long long max_items, char *errstr,
                       size_t errstr_size);

/* Parses a `scrape.results` record. A status words.h does not know is
 * kept by name when it looks like one (a newer scrape's), else refused.
 * A tracked result's change, change_key and content_hash are read when
 * well-formed (else the result counts as untracked).
 * A crawl's page also gets depth, found_on, input, final_url and frontier.
 * credits_charged defaults to 1 for a success and 0 otherwise. A part
 * (`part` of `parts`) also gets its attempt hash. 0 ok, -1 with errstr. */
int record_parse_result(struct record *r, const void *buf, size_t len, const char *key,
                        size_t key_len, long long max_items, char *errstr, size_t errstr_size);

void record_release(struct record *r);

/* 1 when the batch record's webhook asks for `event`. A terminal event
 * (batch.failed, batch.cancelled) is also sent to whoever asked for
 * batch.completed: it is the batch's one end-of-batch notification. */
int record_wants_event(const json_t *batch_record, const char *event);

/* 1 when some webhook of the batch's end carries its results: a batch.*
 * event, or schedule.run of a schedule's run. */
int record_wants_body(const json_t *batch_record);

/* 1 when the batch record is a crawl's (kind "crawl"); a record without a
 * kind is a plain batch's. */
int record_is_crawl(const json_t *batch_record);

#endif
