/*
 * intake — what scrape takes in, and how much at once.
 *
 * Three consumers feed the stage: the requests (group ferry-scrape: this
 * instance's share of the partitions), the retry tiers (a delay queue that
 * hands a record back when it is due), and the cancels (every partition of
 * the batches topic, followed by a thread of its own). The main thread polls
 * the first two and hands each record on: a poison record to the dead
 * letters, an item of a cancelled batch or with an unusable URL to its
 * result, every other item to the fetch workers. It never holds more than
 * `inflight` items: when full it waits for one to finish, so a backlog
 * stays in Kafka, not in memory. A record's offset is stored (offtrack)
 * when everything it caused is acknowledged, so a crash refetches and
 * never skips.
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

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

#include "emit.h"
#include "fetch.h"
#include "process.h"
#include "request.h"
#include "stage.h"

struct intake {
    /* Set by the caller. */
    struct emit *em;
    struct process *pr;
    const struct request_limits *lim;
    long inflight;           /* items held at once */
    struct fetch_pool *pool; /* before intake_run */

    /* Owned by the intake. */
    rd_kafka_t *consumer; /* requests */
    struct offtrack *ot;  /* its offsets */
    struct delayq *dq;    /* retry tiers; NULL when none are configured */
    struct cancels *cancels;
    atomic_llong lag; /* requests in Kafka not yet taken */
};

/* Opens the consumers and waits (a bounded while) for the cancels to catch
 * up, so a restart does not fetch what was cancelled meanwhile. Registers
 * the intake's gauges. 0, or -1 with errstr (nothing left open). */
int intake_open(struct intake *in, const struct stage *st, char *errstr, size_t errstr_size);

/* Takes records until a stop signal. */
void intake_run(struct intake *in);

/* Closes the consumers (committing the stored offsets) and the cancels. */
void intake_close(struct intake *in);

#endif
