/*
 * loop — the deliver stage's event loop (see loop.c).
 *
 *     struct deliver_loop l = {producer, &topics, policy, ...};
 *     deliver_loop_open_intake(&l, &stage, ...); // the consumers (shared/consume.h)
 *     deliver_loop_init(&l, &sender_opts, ...);
 *     deliver_loop_run(&l);          // until a stop signal
 *     deliver_loop_drain(&l, ms);    // finish what is in flight, stop waking
 *     kafka_producer_close(...);     // acks → offsets stored
 *     deliver_loop_release(&l);
 *     consume_close(&l.cs);          // commits the stored offsets
 */
#ifndef FERRY_DELIVER_LOOP_H
#define FERRY_DELIVER_LOOP_H

#include "consume.h"
#include "deliver.h"
#include "stage.h"

struct deliver_loop {
    /* Set by the caller. */
    rd_kafka_t *producer; /* configured with deliver_loop_set_dr */
    const struct topics *topics;
    struct task_policy pol;
    int max_pending;       /* tasks held in memory at once */
    long host_max_wait_ms; /* longest a task may queue behind its host */

    /* Owned by the loop. */
    /* The task topic (group ferry-deliver) and the retry tiers (group
     * ferry-deliver-retry), with their offsets: deliver_loop_open_intake. */
    struct consume cs;
    struct sender *snd;
    struct recorder *rec;
    int alive; /* jobs in memory: queued, sending or being recorded */
    int wake[2];
    rd_kafka_queue_t *queues[3];
};

/* Opens the task and retry-tier consumers (after l->topics is set), the
 * intake shared with the other stages (shared/consume.h), which the loop
 * drives with consume_take_ready. 0, or -1 with errstr (nothing open). */
int deliver_loop_open_intake(struct deliver_loop *l, const struct stage *st, char *errstr,
                             size_t errstr_size);

/* Routes the producer's delivery reports to the loop's recorder. */
void deliver_loop_set_dr(rd_kafka_conf_t *conf, struct deliver_loop *l);

int deliver_loop_init(struct deliver_loop *l, const struct sender_opts *so, char *errstr,
                      size_t errstr_size);
/* One round: takes records while there is room, then waits for a transfer,
 * a record, an ack or the next parked due time (100 ms at most). */
void deliver_loop_step(struct deliver_loop *l);
/* Steps until a stop signal. */
void deliver_loop_run(struct deliver_loop *l);
void deliver_loop_drain(struct deliver_loop *l, int timeout_ms);
void deliver_loop_release(struct deliver_loop *l);

#endif
