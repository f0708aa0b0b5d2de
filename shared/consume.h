/*
 * consume — how a stage that works through requests (scrape, render) takes
 * them in, and how many at once.
 *
 Up to three consumers feed it: the requests (group ferry-<stage>: this
 * instance's share of the partitions), optionally a small lane (group
 * ferry-<stage>-small on its own topic, where ingest writes small batches)
 * and the retry tiers (a delay queue that hands a record back when it is
 * due). The loop polls the tiers first, so a busy stage does not starve its
 * retries, then the lanes, and hands each record to the stage's take
 * callback with the offset tracker the record belongs to. With a small
 * lane, each free slot goes to the lane first, except that while both have
 * records the bulk gets one slot in every `bulk_every`, so neither starves. It
 * never holds more than `inflight` jobs (counted by the job sink,
 * shared/job.h): when full it waits for one to finish, so a backlog stays in
 * Kafka, not in memory. A record's offset is stored (offtrack) when
 * everything it caused is acknowledged, so a crash takes it again and never
 * skips; a revoked partition's unfinished records are taken again by its new
 * owner.
 *
 *     struct consume cs;
 *     struct consume_conf cc = {.stage = "render", .topic = ..., .take = take, ...};
 *     consume_open(&cs, &cc, &stage, errstr, size);
 *     consume_run(&cs);          // until a stop signal
 *     ... stop the workers, flush the producer ...
 *     consume_close(&cs);        // commits the stored offsets
 *
 * A stage that runs an event loop of its own (deliver: one thread that also
 * drives curl's sockets and the producer's acks) calls consume_take_ready()
 * from it instead of consume_run(): the same intake, without waiting; the
 * stage counts its own jobs (no job sink), consumed_total is counted here as
 * for every stage. It sleeps on the consumers' queues
 * itself (rd_kafka_queue_io_event_enable on cs->consumer's and the tiers').
 *
 * Metrics: ferry_<stage>_consumed_total, ferry_<stage>_consumer_lag, and
 * ferry_<stage>_cancelled_batches when given the stage's cancels.
 */
#ifndef FERRY_CONSUME_H
#define FERRY_CONSUME_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

#include "cancel.h"
#include "delayq.h"
#include "metrics.h"
#include "offtrack.h"
#include "stage.h"
#include "topics.h"

struct job_sink; /* job.h: a stage's count of its jobs */

struct consume_conf {
    const char *stage;       /* "scrape": group ferry-scrape, ferry-scrape-retry, metric names */
    const char *topic;       /* the requests topic */
    const char *small_topic; /* the small lane's topic; NULL: no small lane */
    int bulk_every;          /* while both lanes have records, every n-th slot goes to the
                                bulk; 0: the small lane always first */
    /* The retry tier topics (struct topics'), n_tiers of them (0: none); a
     * delay named twice in a row (1m,1m,5m) is one topic, subscribed once. */
    const char (*tiers)[TOPIC_NAME_MAX];
    size_t n_tiers;
    /* The longest an item can take: the group waits twice that (and a
     * minute) for a poll while every slot is taken. */
    long long max_item_ms;
    /* 1: librdkafka's fetch sizes and poll interval instead of the bounded
     * prefetch and the patience above (deliver: a task may carry a whole
     * batch's results, its loop polls every 100 ms at most, and it bounds
     * what it holds itself, FERRY_WEBHOOK_MAX_IN_FLIGHT). */
    int default_fetch;
    long inflight;           /* jobs held at once (consume_run) */
    struct job_sink *sink;   /* counts them (consume_run; NULL with consume_take_ready) */
    struct cancels *cancels; /* borrowed, for its gauge; NULL: none */
    /* One record: takes msg (destroys it); ot is where its offset is
     * tracked (the requests' or the retry tiers'). */
    void (*take)(void *arg, rd_kafka_message_t *msg, struct offtrack *ot);
    void *arg;
};

struct consume {
    struct consume_conf conf;  /* a copy; its strings borrowed */
    rd_kafka_t *consumer;      /* requests */
    struct offtrack *ot;       /* its offsets */
    rd_kafka_t *small;         /* the small lane, or NULL */
    struct offtrack *small_ot; /* its offsets */
    int small_run;             /* small-lane records taken since the bulk's last */
    struct delayq *dq;         /* retry tiers; NULL when none are configured */
    struct metric *consumed;
    char names[3][64]; /* the metrics' names (the registry borrows them) */
    atomic_llong lag;  /* requests in Kafka not yet taken */
    int64_t next_lag;  /* when lag is asked of the consumers next (clk_mono_ms) */
};

/* Opens the consumers and registers the metrics (cs must outlive the
 * metrics server: the gauges read it). 0, or -1 with errstr (nothing left
 * open). */
int consume_open(struct consume *cs, const struct consume_conf *conf, const struct stage *st,
                 char *errstr, size_t errstr_size);

/* Takes records until a stop signal, never holding more than conf.inflight
 * jobs (conf.sink counts them). */
void consume_run(struct consume *cs);

/* Takes the records already waiting, without blocking: at most `room` of
 * them, a due retry and a request in turn (so neither starves), until both
 * have none or room is used up. Returns how many were taken. For a stage
 * with its own event loop, instead of consume_run(). */
long consume_take_ready(struct consume *cs, long room);

/* Closes the consumers (committing the stored offsets) and forgets the
 * cancels (their gauge reads 0): stop them after this. */
void consume_close(struct consume *cs);

#endif
