/*
 * deadbook — every tenant's dead webhook deliveries, across its batches:
 * GET /v1/deliveries/dead lists them and POST
 * /v1/deliveries/{delivery_id}/redeliver sends one again.
 *
 * Fed from webhooks.attempts, the log the status table (table.h) reads
 * too: deliver writes an attempt with outcome "dead" when it gives a task
 * to webhooks.dlq (tiers exhausted, 410 Gone, a task that can never be
 * sent). A delivery is dead while its newest attempt is; a later attempt
 * of the same delivery id (after a redelivery) takes it off the list, and
 * a new dead one puts it back with its new time. The attempt record names
 * the task (topic, partition, offset) a redelivery reads back; the dead
 * letter topic itself is never read here, since the attempt says the same
 * and is already followed from the beginning by every instance.
 *
 * Per tenant, the dead deliveries are kept in an array sorted by (time of
 * the dead attempt, delivery id), so a page is a binary search for the
 * cursor and a walk down, newest first. At most DEADBOOK_KEPT per tenant
 * (the oldest go first), each with the first DEADBOOK_EXCERPT bytes of the
 * answer (cut at a character), so a receiver that is gone for good costs a
 * fixed amount (about 6 MB a tenant at most) however many item.completed
 * deliveries die.
 *
 * Thread-safe: one writer (the follower's thread), readers on the HTTP
 * workers, under one rwlock.
 */
#ifndef INGEST_DEADBOOK_H
#define INGEST_DEADBOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "table.h"

#define DEADBOOK_KEPT       10000
#define DEADBOOK_EXCERPT    256 /* bytes of response_body a dead entry keeps */
#define DEADBOOK_CURSOR_MAX 96

struct deadbook;

struct deadbook *deadbook_new(void);
void deadbook_free(struct deadbook *d);

/* A webhooks.attempts record of `tenant`, read once for the status table
 * and this book (follow_attempt_parse), without its tenant member;
 * borrowed, never changed. 0 ok, -1 not one (no tenant or delivery id). */
int deadbook_put_attempt(struct deadbook *d, const json_t *a, const char *tenant);

/* Appends up to `limit` dead attempts of `tenant` (the attempt record
 * without its tenant), newest first and comma-separated, to out; fills
 * next_cursor with where the next page starts ("" at the end) and *total
 * with how many the tenant has. 0, or -1 when `cursor` is not one of ours. */
int deadbook_page(struct deadbook *d, const char *tenant, int limit, const char *cursor,
                  struct buf *out, char next_cursor[DEADBOOK_CURSOR_MAX], size_t *total);

/* The task of `tenant`'s dead delivery `delivery_id` and its batch id.
 * 0, -1 not a dead delivery of that tenant, -2 dead but its attempt named
 * no task (nothing to send again). */
int deadbook_task(struct deadbook *d, const char *tenant, const char *delivery_id,
                  struct table_task *out, char batch_id[64]);

#endif
