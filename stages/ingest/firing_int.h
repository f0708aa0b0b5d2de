/*
 * firing_int — what firing.c (the agenda, rounds, the thread) and
 * firing_part.c (partitions taken over and given up, and their
 * transactions) share. Private to the two; firing.h is the interface.
 */
#ifndef INGEST_FIRING_INT_H
#define INGEST_FIRING_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "firing.h"
#include "strmap.h"
#include "metrics.h"

/* Runs (and their items) one transaction takes at most. */
#define FIRE_ROUND_MAX   500
#define FIRE_ROUND_ITEMS 200000
/* The longest sleep: a wall-clock step is noticed within it. */
#define WAKE_MAX_MS 1000
/* How long a partition that could not be taken over waits to try again. */
#define RETRY_MS 1000
/* Takeover of a partition: its producer's start and the reads to the end. */
#define TAKEOVER_TIMEOUT_MS 15000
/* An idle owner parks its partitions (closes their transactional
 * producers, whose librdkafka threads cost CPU while idle) when they were
 * quiet for FERRY_SCHEDULE_PARK_QUIET (env.park_quiet_ms, 30 s) and nothing
 * is due within PARK_AFTER_MS; it takes them over again (fence, read to the
 * end) PARK_LEAD_MS before the next due time, or at once on a change. */
#define PARK_AFTER_MS 120000
#define PARK_LEAD_MS  30000

/* A schedule on this owner's agenda. Heap entries name it by index and
 * generation (agenda_entry.ref = index << 32 | gen): a change bumps the
 * generation, so the entries pushed before it are recognised as stale. */
struct slot {
    char id[SCHED_ID_LEN];
    int32_t partition;
    uint32_t gen;
    int used;
};

struct part {
    int owned, ready;
    rd_kafka_t *producer; /* "<prefix>ingest-schedules.<p>"; NULL until opened */
    int64_t retry_mono;
    int64_t active_mono;           /* taken over, or last wrote */
    int64_t parked_until;          /* wall ms it is taken over again; 0: not parked */
    int64_t start_offset;          /* where the group consumer began on p */
    char (*cleanup)[SCHED_ID_LEN]; /* deleted schedules whose records go */
    size_t n_cleanup, cap_cleanup;
};

/* One decision of a round: a run to start and/or done_through to move. */
struct fire {
    size_t slot;
    char id[SCHED_ID_LEN];
    int32_t partition;
    int has_run;
    struct submission b;
    char *secret_enc;
    char (*stale)[CHANGES_KEY_MAX];
    size_t n_stale;
    int64_t fire_ms, done_ms, wake_ms;
};

struct dirty {
    char id[SCHED_ID_LEN];
    int32_t partition;
};

struct firing {
    struct firing_env env;
    rd_kafka_t *consumer;
    pthread_t thread;
    int started;
    atomic_int stop;
    atomic_size_t owned;

    pthread_mutex_t lock; /* guards dirty */
    pthread_cond_t wake;
    struct dirty *dirty;
    size_t n_dirty, cap_dirty;

    /* The thread's own from here on. */
    struct agenda_heap heap;
    struct strmap by_id; /* id -> slot index + 1 */
    struct slot *slots;
    size_t n_slots, cap_slots;
    size_t *free_slots;
    size_t n_free;
    struct part *parts;
    int32_t n_parts;
    rd_kafka_topic_partition_list_t *rebalance;
    rd_kafka_resp_err_t rebalance_err;
    struct metric *m_runs, *m_missed, *m_aborts, *m_late;
};

/* firing.c: the agenda. */
void firing_push(struct firing *fi, size_t i, int64_t due_ms);
size_t firing_slot_own(struct firing *fi, const char *id, int32_t partition);
void firing_slot_drop(struct firing *fi, size_t i);

/* firing_part.c: partitions and their transactions. */
const char *firing_topic(const struct firing *fi, enum topic_id id);
/* Partitions assigned and not yet taken over: tries each that is due. */
void firing_prepare_parts(struct firing *fi);
/* The group's rebalance callback: only notes what changed. */
void firing_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);
/* Acts on the noted rebalance, between rounds. */
void firing_apply_rebalance(struct firing *fi);
/* Parks the partitions that can wait (FERRY_SCHEDULE_PARK_QUIET), when nothing is due
 * soon. */
void firing_park_idle(struct firing *fi);
/* Definitions that changed since the last turn onto the agenda (or off). */
void firing_take_dirty(struct firing *fi);
/* One transaction for partition p: the fires' runs, states and stale keys,
 * and the tombstones of p's deleted schedules. 0 committed; -1 aborted
 * (nothing of it visible), the producer thrown away when it can never
 * commit again. */
int firing_commit_part(struct firing *fi, int32_t p, struct fire *fires, size_t n);

#endif
