/*
 * intake — what scrape takes in, and how much at once.
 *
 * The requests, a small lane (scrape.requests.small, where ingest writes
 * batches of at most FERRY_SMALL_BATCH_ITEMS items) and the retry tiers are
 * taken in by shared/consume.h (an in-flight cap, offsets stored once what a
 * record caused is acknowledged, so a crash refetches and never skips); the
 * cancels (every partition of the batches topic) are followed by a thread of
 * their own, which also hands the batches' extract specs to xr. This module
 * hands each record on: a poison record to the dead letters, an item of a
 * cancelled batch, with an unusable URL or with rules this instance cannot
 * use to its result (or a retry tier), every other item, its rules
 * resolved, to the fetch workers.
 *
 * Fairness: Kafka hands records out in offset order, so a 10-URL batch
 * written behind a 1,000,000-URL one would wait for all of it. Its items
 * are in the small lane instead, and each free slot goes to the lane first,
 * except that while both have records the bulk gets one slot in every
 * `bulk_every` (FERRY_SCRAPE_SMALL_SHARE: 75% to the lane gives the bulk
 * every 4th), so neither starves. What it does not do: small batches among
 * themselves are first come first served (a tenant submitting thousands of
 * small batches queues the others' small batches behind its own: limits.h
 * in ingest bounds what one tenant has in flight), and large batches
 * among themselves still share the bulk in offset order. An item already in
 * a fetch worker's host queue is not overtaken (a host's queue is at most
 * `inflight` deep).
 *
 *     struct intake in = {.em = &em, .pr = &pr, .lim = &lim, .inflight = n};
 *     intake_open(&in, &stage, errstr, size);   // consumers; cancels caught up
 *     in.pool = fetch_pool_start(...);
 *     intake_run(&in);                          // until a stop signal
 *     ... stop the workers, flush the producer ...
 *     intake_close(&in);                        // commits the stored offsets
 */
#ifndef FERRY_SCRAPE_INTAKE_H
#define FERRY_SCRAPE_INTAKE_H

#include "cancel.h"
#include "consume.h"
#include "emit.h"
#include "fetch.h"
#include "process.h"
#include "request.h"
#include "stage.h"
#include "xrules.h"

struct intake {
    /* Set by the caller. */
    struct emit *em;
    struct process *pr;
    const struct request_limits *lim;
    long inflight;           /* items held at once */
    int bulk_every;          /* while both lanes have records, every n-th slot goes to the
                                bulk; 0: the small lane always first */
    struct fetch_pool *pool; /* before intake_run */
    struct xrules *xr;       /* the extraction rules requests name (shared/xrules.h) */

    /* Owned by the intake. */
    struct consume cs; /* requests, the small lane and the retry tiers */
    struct cancels *cancels;
};

/* Opens the consumers and waits (a bounded while) for the cancels to catch
 * up, so a restart does not fetch what was cancelled meanwhile. Registers
 * the intake's metrics. 0, or -1 with errstr (nothing left open). */
int intake_open(struct intake *in, const struct stage *st, char *errstr, size_t errstr_size);

/* Takes records until a stop signal. */
void intake_run(struct intake *in);

/* Closes the consumers (committing the stored offsets) and the cancels. */
void intake_close(struct intake *in);

#endif
