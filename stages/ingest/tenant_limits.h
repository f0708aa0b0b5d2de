/*
 * tenant_limits — FERRY_TENANT_LIMITS: per tenant, the most items it may have
 * unfinished (max_active_items) and the most credits it may use in one UTC
 * day (credits_per_day). A submit that would pass either is answered 429
 * `quota_exceeded` with Retry-After before anything is written to Kafka.
 *
 *     FERRY_TENANT_LIMITS=acme:max_active_items=100000:credits_per_day=50000,globex:credits_per_day=10
 *
 * A tenant not listed has no limit; a limit not given is none.
 *
 * What a submit of n items at price c (credits per succeeded item) is
 * checked against, from what this instance knows:
 *  - items: the tenant's unfinished batches' items without a result yet
 *    (table_load, from batch.status) + submits on this instance between
 *    their check and the table knowing them (held here) + n;
 *  - credits: today's credits (usage table: aggregate's exact count) + what
 *    the unfinished batches would cost if every remaining item succeeded +
 *    the held submits' + n * c.
 *
 * Reserving the worst case means a tenant cannot get past its day's credits
 * by submitting many batches before any item is counted; the price is a
 * refusal that would in the end have fitted (failures cost nothing): the
 * Retry-After says when the reservation will have drained. A running batch
 * reserves one credit per remaining item (its status document does not say
 * its price); the new batch is priced exactly (FERRY_CREDITS_RENDER for a
 * rendered one), so a tenant's day can end a few rendered batches past its
 * credits, never more.
 *
 * Several ingest instances: each sees the others' batches once their
 * `queued` documents reach batch.status (milliseconds), so at the same
 * instant two instances may each admit one batch: the overshoot is bounded
 * by one batch per instance, and a limit that must never be passed wants a
 * single ingest per tenant.
 *
 * Retry-After: for items, the time for the surplus to drain at the pace the
 * tenant's batches are being counted (1 s .. 1 h; 10 s while no pace is
 * known); for credits, the same while the surplus is only reserved, else the
 * seconds to the next UTC midnight. A batch larger than the limit itself
 * can never fit: still 429, with `fits_never: true` in the details.
 */
#ifndef INGEST_TENANT_LIMITS_H
#define INGEST_TENANT_LIMITS_H

#include <stddef.h>

#include "httpd.h"
#include "table.h"
#include "usage.h"

#define LIMITS_NONE (-1LL)

struct limits;

/* Parses FERRY_TENANT_LIMITS (NULL or "" : no limits). NULL with errstr
 * when the text is wrong (a bad tenant name, key or number). */
struct limits *limits_new(const char *spec, char *errstr, size_t errstr_size);
void limits_free(struct limits *l);

/* The tenant's limits (LIMITS_NONE when none). */
void limits_of(const struct limits *l, const char *tenant, long long *max_active_items,
               long long *credits_per_day);

/* Number of tenants with limits. */
size_t limits_count(const struct limits *l);

/* What a submit holds from its check until the table knows its batch. */
struct limits_hold {
    char tenant[64];
    long long items, credits; /* 0: nothing held */
};

/* Checks a submit of `items` items at `price` credits each for `tenant`.
 * 0: admitted, and *hold holds them until limits_release (call it after
 * the batch is in the table, or when the submit fails). -1: refused, and
 * resp carries the 429 with Retry-After. now_ms: wall clock. */
int limits_admit(struct limits *l, struct table *table, struct usage *usage, const char *tenant,
                 long long items, long long price, int64_t now_ms, struct limits_hold *hold,
                 struct httpd_resp *resp);

/* Lets go of what limits_admit held (a zero hold is nothing). */
void limits_release(struct limits *l, struct limits_hold *hold);

#endif
