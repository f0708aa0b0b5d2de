/*
 * accounts — what ingest keeps per tenant besides its batches: webhook
 * settings (the `tenants` topic, shared/tenant.h) and Idempotency-Keys (the
 * `idempotency` topic, idem.h). One follower (shared/follower.h) reads both
 * topics whole into the tables the API reads, on its own thread.
 *
 * Changing settings (PUT /v1/webhook, POST /v1/webhook/secret, DELETE
 * /v1/webhook/secret/previous) is read, modify, write of one tenant's
 * record, and two ingest instances may change one tenant at the same
 * moment. Kafka serializes them, so no change is ever lost: each change is
 * a transaction under the transactional id of the tenant's partition,
 * "<prefix>ingest-tenants.<partition>", the same in every instance.
 * Opening that producer fences every other holder of the id (its open
 * transaction is aborted and its commit fails); then the follower reads
 * the partition to its end, so the table holds the latest record, the
 * change is applied to that, written and committed. A writer that was
 * fenced starts over from a fresh read. Two rotations at the same moment
 * thus become two rotations one after the other, each answered with the
 * secret it made (the first then valid during the second's overlap). A
 * change costs a producer's start (tens of milliseconds): settings change
 * rarely. Within one instance, changes take turns behind a lock.
 *
 * Reads: GET /v1/webhook reads the tenant's partition to its end first
 * (one offsets request), so it shows a change just made through any
 * instance. A submit reads the table as it is (no round trip on the submit
 * path): a submit that reaches another instance within milliseconds of a
 * change may still see the settings from before it.
 */
#ifndef INGEST_ACCOUNTS_H
#define INGEST_ACCOUNTS_H

#include <pthread.h>

#include "follower.h"
#include "idem.h"
#include "secretbox.h"
#include "stage.h"
#include "tenant.h"

struct accounts {
    const struct stage *st;
    struct tenant_table *tenants;
    struct idem *idem;
    int timeout_ms;
    pthread_mutex_t lock; /* guards f */
    pthread_cond_t opened;
    struct follower *f;         /* NULL until accounts_follow */
    pthread_mutex_t write_lock; /* one change at a time from this instance */
};

/* Makes the (empty) tables. 0, or -1 when out of memory. */
int accounts_init(struct accounts *ac, const struct stage *st, int timeout_ms);

/* Starts following both topics (they must exist) on the hub's consumer. 0,
 * or -1 with errstr. */
int accounts_follow(struct accounts *ac, struct follower_hub *hub, char *errstr,
                    size_t errstr_size);

/* 1 once both topics were read whole. */
int accounts_caught_up(struct accounts *ac);

/* Waits up to timeout_ms for accounts_caught_up(). 0, or -1. */
int accounts_wait_ready(struct accounts *ac, int timeout_ms);

/* A change of a tenant's settings: modifies s (the latest settings, zeroed
 * when the tenant has none) in place. 0, or -1 with errstr (nothing is
 * written). It may run more than once for one change (after a fence), on
 * fresher settings each time. */
typedef int (*accounts_change_fn)(struct tenant_settings *s, void *arg, char *errstr,
                                  size_t errstr_size);

/* Applies fn to `tenant`'s settings and writes the result (see above); on
 * success `out` holds the settings written. 0; -1 with errstr when Kafka
 * failed (503); -2 when fn refused (its errstr). */
int accounts_change(struct accounts *ac, const char *tenant, accounts_change_fn fn, void *arg,
                    struct tenant_settings *out, char *errstr, size_t errstr_size);

/* `tenant`'s settings into out (zeroed when it has none). `fresh`: read the
 * tenant's partition to its end first. 0, or -1 with errstr. */
int accounts_settings(struct accounts *ac, const char *tenant, int fresh,
                      struct tenant_settings *out, char *errstr, size_t errstr_size);

/* Stops following and frees the tables. */
void accounts_release(struct accounts *ac);

#endif
