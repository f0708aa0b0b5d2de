/*
 * table — the status of every batch, as this ingest instance knows it.
 *
 * Fed from two topics the main loop follows from the beginning, every
 * partition (each instance sees every batch): the compacted batch.status
 * (the latest document per batch, from ingest's own `queued` write and then
 * aggregate) and webhooks.attempts (deliver's log of every attempt). The
 * answer to GET /v1/batch/{id} is rendered when either changes — the
 * document without its internal `tenant`, with the webhook delivery state
 * folded in — so a GET only copies a string under a read lock.
 *
 * Status only moves forward: a `queued` document (ingest's own write, also
 * when an idempotent submit was written twice) never replaces a later
 * state's.
 *
 * Per batch, only the newest TABLE_ATTEMPTS_KEPT attempt records are kept
 * in memory (plus counters), so a receiver failing for days costs a fixed
 * amount.
 *
 * Per tenant, the table also keeps the load of its unfinished batches
 * (table_load), summed as documents come and go, so the limits checked at
 * every submit (limits.h) cost a lookup, not a walk over the batches.
 */
#ifndef INGEST_TABLE_H
#define INGEST_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TABLE_ATTEMPTS_KEPT 50

struct table;

/* Where the original webhook task of a batch.* event lies. */
struct table_task {
    char topic[256];
    int32_t partition;
    int64_t offset;
    char delivery_id[64];
    char event[32];
};

struct table *table_new(void);
void table_free(struct table *t);

/* Told of every status document of a schedule's run (schedtab.h keeps
 * each schedule's runs): the schedule, the batch and its slot. Called on
 * the feeding thread, outside the table's lock. */
typedef void (*table_run_fn)(void *arg, const char *schedule_id, const char *batch_id,
                             const char *scheduled_for);
void table_on_run(struct table *t, table_run_fn fn, void *arg);

/* A batch.status record (value NULL or empty: a tombstone, the batch is
 * forgotten). `only_if_absent`: ingest's own `queued` write, which must not
 * replace a newer document already read from the topic. 0 ok, -1 bad JSON. */
int table_put_status(struct table *t, const char *id, const char *value, size_t len,
                     int only_if_absent);

/* A webhooks.attempts record, read once for this table and the dead book
 * (follow_attempt_parse), without its tenant. Borrowed: the table keeps
 * references to some of its members but never changes it. 0 ok, -1 not an
 * attempt (no batch_id). */
int table_put_attempt(struct table *t, json_t *a);

/* The GET answer of batch `id` when `tenant` owns it: malloc'd in *body.
 * 0 ok, -1 unknown (or another tenant's). */
int table_get(struct table *t, const char *id, const char *tenant, char **body, size_t *len);

/* A copy of the answer as JSON (new reference) or NULL; see table_get. */
json_t *table_get_json(struct table *t, const char *id, const char *tenant);

/* The kept attempts, oldest first, as a new JSON array, and the total
 * number of attempts seen; NULL when the batch is unknown to `tenant`. */
json_t *table_attempts(struct table *t, const char *id, const char *tenant, long long *total);

/* The task of the newest batch.* attempt. 0 found, -1 unknown batch,
 * -2 known but nothing to redeliver yet. */
int table_task(struct table *t, const char *id, const char *tenant, struct table_task *out);

/* Number of batches with a status document. */
size_t table_count(struct table *t);

/* A tenant's unfinished (queued, running) batches, summed. */
struct table_load {
    long long active_items;     /* their items without a result yet */
    long long credits_reserved; /* what those would cost if each succeeded (credits_per_item) */
    double items_per_s;         /* the pace their items are being counted at */
    double credits_per_s;       /* the same, in reserved credits */
};

/* The tenant's load (zeros when it has no unfinished batch). */
void table_load(struct table *t, const char *tenant, struct table_load *out);
/* ---- listing: GET /v1/batches
 *
 * Per tenant, the batches with a status document are kept in an array
 * sorted by (created_at, id), updated as documents come and go, so a page
 * is a binary search for the cursor and a walk down the array: newest
 * first, without sorting or parsing anything at request time, however many
 * batches the tenant has. */

#define TABLE_CURSOR_MAX 64

struct table_page_query {
    const char *status; /* only batches in this state; NULL: any */
    const char *kind;   /* only this kind ("batch", "crawl"); NULL: any */
    int limit;
    const char *cursor; /* where the previous page ended; NULL: the newest */
};

/* Appends up to q->limit status documents of `tenant`, newest first and
 * comma-separated, to out, and fills next_cursor with where the next page
 * starts ("" when no batch follows). 0, or -1 when the cursor is not one of
 * this table's. */
int table_page(struct table *t, const char *tenant, const struct table_page_query *q,
               struct buf *out, char next_cursor[TABLE_CURSOR_MAX]);

#endif
