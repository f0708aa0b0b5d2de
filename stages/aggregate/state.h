/*
 * state — what the aggregator knows about each batch, and its changelog form.
 *
 * A struct batch counts one batch's results: a bitmap of the item indexes
 * already seen (so a duplicate never counts twice), the counters, and where
 * the results lie in `scrape.results`. A batch exists here from the first
 * record that names it: a result that arrives before its batch record makes a
 * "pending" batch (known = 0) that counts as usual and waits for the total.
 *
 * Once a batch has completed, only a small "done" entry is kept (no record,
 * no bitmap) so late duplicates are swallowed; it expires after a while and
 * is tombstoned in the changelog.
 *
 * The table is keyed by batch id; each batch remembers its partition (the
 * same number in every co-partitioned topic), so a rebalance drops or
 * restores whole partitions.
 *
 * Nothing here talks to Kafka: the engine feeds parsed records in and
 * serializes changed batches (state_encode) into the changelog topic;
 * state_decode rebuilds a batch from it on assignment.
 */
#ifndef FERRY_AGGREGATE_STATE_H
#define FERRY_AGGREGATE_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"

/* The result status codes other than "ok" (MESSAGES.md, scrape.results). */
enum state_code {
    CODE_TIMEOUT,
    CODE_DNS,
    CODE_CONNECT,
    CODE_TLS,
    CODE_HTTP_ERROR,
    CODE_TOO_LARGE,
    CODE_BLOCKED,
    CODE_INVALID_URL,
    CODE_CANCELLED,
    CODE_NOT_FOUND,
    CODE__COUNT
};
extern const char *const state_code_names[CODE__COUNT];

/* -1 for "ok", a code, or -2 when `status` is no known value. */
int state_code_parse(const char *status);

/* One result as it goes inline in the webhook body (report_result text). */
struct batch_item {
    long long index;
    char *text; /* owned */
    size_t len;
};

/* A list of inline results: a batch's cache, or a read-back. */
struct batch_items {
    struct batch_item *v;
    size_t n, cap, bytes;
};

/* Takes ownership of text. */
void batch_items_add(struct batch_items *l, long long index, char *text, size_t len);
void batch_items_clear(struct batch_items *l);
/* Sorts by index and writes "[a,b,...]" (malloc'd) with its length. */
char *batch_items_join(struct batch_items *l, size_t *len);

struct batch {
    char id[IDS_BATCH_LEN];
    int32_t partition;
    unsigned known : 1;     /* the batch record has been seen */
    unsigned done : 1;      /* the final status and webhook went out */
    unsigned cancelled : 1; /* a cancel record was seen */
    unsigned dirty : 1;     /* changed since the changelog last got it */
    unsigned progress : 1;  /* counts changed since the last status snapshot */
    json_t *record;         /* the batch record (owned), while known and not done */
    char *record_text;      /* its serialization, for the changelog (owned) */
    long long total;
    long long processed, succeeded;
    long long errors[CODE__COUNT];
    int64_t created_ms;          /* record's created_at */
    int64_t seen_ms;             /* first record naming it (pending expiry) */
    int64_t started_ms;          /* batch record consumed: "running" from then */
    int64_t first_ms, last_ms;   /* first/last counted result (record timestamps) */
    int64_t done_ms;             /* wall time of completion */
    int64_t res_first, res_last; /* offsets in scrape.results, -1 unknown */
    int64_t status_mono;         /* last status snapshot (monotonic ms) */
    uint8_t *bits;               /* seen indexes; bits_len bytes */
    size_t bits_len;
    /* Every counted result's inline text, while complete (cache_ok: no
     * result was left out since the batch began; not kept across restarts)
     * and small; saves reading the results back at completion. */
    struct batch_items cache;
    unsigned cache_ok : 1;
    unsigned inline_over : 1; /* the results alone exceed the inline cap */
    /* Finished, its webhook body waiting for the results to be read back
     * at the end of the transaction (engine.c): keeps bits and record. */
    unsigned deferred : 1;
    json_t *final_doc; /* the final status document (owned) while deferred */
    const char *final_event;
    size_t budget; /* bytes the inline results may take */
};

/* The table of batches (open addressing, linear probing). */
struct state {
    struct batch **slot;
    size_t cap; /* power of two */
    size_t n;
};

void state_init(struct state *s);
/* Frees every batch and the table. */
void state_release(struct state *s);

struct batch *state_get(struct state *s, const char *id);
/* Returns the batch, creating an empty pending one (seen at now_ms) when
 * absent. */
struct batch *state_get_or_add(struct state *s, const char *id, int32_t partition, int64_t now_ms);
/* Inserts b (takes ownership); replaces and frees an existing batch of the
 * same id. */
void state_put(struct state *s, struct batch *b);
/* Removes and frees the batch. */
void state_remove(struct state *s, const char *id);
/* Removes and frees every batch of `partition`. Returns how many. */
size_t state_drop_partition(struct state *s, int32_t partition);

/* Iteration: for (size_t i = 0; ...) with state_at(s, i) which may be NULL. */
#define state_slots(s) ((s)->cap)
#define state_at(s, i) ((s)->slot[(i)])

void batch_free(struct batch *b);

/* Takes the batch record (a new reference is taken): total, created_at.
 * Sizes the bitmap for total items. 0 ok, -1 when an index already counted
 * is >= total (the pending results disagree with the record: reported, the
 * record still applies). */
int batch_set_record(struct batch *b, json_t *record, int64_t started_ms);

/* Counts one result. Returns 1 counted, 0 duplicate (or batch done), -1 when
 * the index is out of range (>= total when known, >= max_index otherwise). */
int batch_count(struct batch *b, long long index, int code, int64_t ts_ms, int64_t offset,
                long long max_index);

/* 1 when a known, unfinished batch has every item counted. */
int batch_complete(const struct batch *b);

/* 1 when index has been counted. */
int batch_seen(const struct batch *b, long long index);

/* Turns b into a small done entry: frees record and bitmap. */
void batch_finish(struct batch *b, int64_t now_ms);

/* The changelog value of b: JSON text (malloc'd), length in *len. Written
 * by hand, not through jansson: every changed batch is encoded on every
 * commit. Fills b->record_text on first use. */
char *state_encode(struct batch *b, size_t *len);
/* Rebuilds a batch from a changelog value; NULL with errstr when invalid. */
struct batch *state_decode(const char *id, int32_t partition, const json_t *v, char *errstr,
                           size_t errstr_size);

#endif
