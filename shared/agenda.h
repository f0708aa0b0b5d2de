/*
 * agenda — the scheduler's agenda: when a schedule's runs start. Slots on a
 * (possibly fast-forwarded) clock, catch-up after downtime, and the heap of
 * due times the firing loop sleeps on.
 *
 * This module is the pure part of the scheduler: no Kafka, no threads, no
 * clock reads (every function takes "now"), so every decision is
 * table-tested. The firing loop in ingest is built on it as follows.
 *
 * Storage. Two compacted topics, both keyed by schedule id and with the
 * same partition count, so a schedule's two records share a partition
 * number (every ferry producer uses librdkafka's one partitioner):
 *
 *   ferry.schedules       the definition: tenant, cron, timezone, template
 *                         (batch or crawl body; secrets sealed), catch_up,
 *                         paused, track_changes, created/updated/resumed
 *                         times. Written by whichever ingest instance takes
 *                         the API call; DELETE writes a tombstone.
 *   ferry.schedule.state  firing state: `done_through`, the instant up to
 *                         which every slot is settled (run or skipped).
 *                         Written only by the owner, in the same Kafka
 *                         transaction as the runs it records.
 *
 * Every ingest instance reads ferry.schedules whole, so any of them answers
 * GET/PATCH/DELETE for any schedule. The runs listed by GET come from the
 * batch status topic (status documents carry `schedule_id`).
 *
 * Ownership. Ingest instances also join one consumer group on
 * ferry.schedules (range assignor); the member assigned partition p owns the
 * schedules in p and is the only one that fires them. On assignment it
 * reads ferry.schedule.state partition p to its end with read_committed
 * (which waits out a transaction the previous owner left open) and pushes
 * each schedule's next due time into an agenda_heap; on revocation it drops
 * them.
 *
 * Exactly one run per slot. A run is written in one Kafka transaction with
 * the state record that moves `done_through` past its slot, and the
 * transaction carries the group's position on p (send_offsets_to_transaction,
 * KIP-447): if p moved to another instance meanwhile, the broker refuses the
 * commit and nothing of it becomes visible. So:
 *   - an owner killed before its commit: the transaction aborts; the next
 *     owner finds the slot not done and runs it (same batch id);
 *   - killed after its commit: the next owner reads done_through and does
 *     not run it again;
 *   - an owner that lost p without knowing (paused, partitioned): fenced at
 *     commit.
 * The run's batch id derives from schedule id and slot (ids_schedule_run),
 * so even a run started twice by a fault outside this design (state topic
 * deleted) is one batch: ingest finds the id already written and answers
 * the existing batch; aggregate counts each item of a batch id once;
 * webhook delivery ids derive from the batch id.
 *
 * Lateness and catch-up (agenda_decide). A slot fires if it is at most
 * FERRY_SCHEDULE_MISFIRE (default 5 min, longer than a consumer-group
 * takeover) late, however late that is (an owner's crash costs lateness,
 * not runs). Slots older than that were missed (no instance up, partition
 * unowned): catch_up "one" runs the most recent missed slot once, "none"
 * skips them; either way done_through moves past them.
 *
 * Pause, resume, edits. A paused schedule has no heap entry. Resuming
 * records `resumed_at`, and changing cron or timezone `updated_at`; the
 * owner starts from max(done_through, that time), so slots of a pause or of
 * the old expression are neither run nor caught up.
 *
 * Run now. POST /v1/schedules/{id}/run is a plain submit by the instance
 * that takes the call: a random batch id (ids_batch_new, never equal to a
 * slot's), `schedule_id`, `scheduled_for` = the request time, and the
 * Idempotency-Key header as for POST /v1/batch. No owner is involved.
 *
 * Tests in seconds. FERRY_SCHEDULE_TICK (default 1m) is the length of a
 * cron minute. Slots are computed on a clock that runs 60 s / tick times
 * faster than the real one, from the Unix epoch: with 1s, `* * * * *` fires
 * every second, `*` / 5 every 5 s, @hourly at second 0 of each real minute.
 * The fast clock runs centuries ahead, past TZ_RULE_LAST_YEAR, where zones
 * keep their last offset: tests of daylight saving use the unit tests of
 * cron_next(), not the tick.
 *
 * Speed. Idle, the firing thread sleeps on a condition variable until the
 * heap's earliest due time (at most 1 s, to follow wall-clock steps): no
 * per-schedule polling, so 10,000 idle schedules cost one wake-up a second.
 * When 10,000 come due in one minute, it pops all due entries at once and
 * writes their runs in transactions of a few hundred runs each (one commit
 * round trip per transaction, not per run), then pushes each schedule's
 * next due time (one cron_next each, microseconds).
 *
 * Times here are epoch milliseconds of the real clock unless named _s.
 */
#ifndef FERRY_AGENDA_H
#define FERRY_AGENDA_H

#include <stddef.h>
#include <stdint.h>

#include "cron.h"

#define AGENDA_NONE INT64_MAX

enum agenda_catch_up {
    AGENDA_CATCH_UP_ONE,  /* after downtime, run the latest missed slot once */
    AGENDA_CATCH_UP_NONE, /* skip missed slots */
};

/* What the firing loop needs to know about one schedule. */
struct agenda_rule {
    struct cron cron;
    const struct tz *tz;
    enum agenda_catch_up catch_up;
};

/* Clock settings, the same for every schedule of a process. */
struct agenda_clock {
    int64_t tick_ms;    /* FERRY_SCHEDULE_TICK: a cron minute; divides 60000 */
    int64_t misfire_ms; /* FERRY_SCHEDULE_MISFIRE */
};

/* 0 when tick_ms is a valid FERRY_SCHEDULE_TICK (1 s to 1 min, dividing a
 * minute evenly), else -1 with errstr. */
int agenda_tick_check(int64_t tick_ms, char *errstr, size_t errstr_size);

/* The first slot strictly after after_ms, or AGENDA_NONE. */
int64_t agenda_next(const struct agenda_rule *r, const struct agenda_clock *k, int64_t after_ms);

/* The last slot in (after_ms, at_ms], or AGENDA_NONE if there is none. */
int64_t agenda_last(const struct agenda_rule *r, const struct agenda_clock *k, int64_t after_ms,
                    int64_t at_ms);

/* One step of the firing loop for one schedule whose slots up to done_ms
 * are settled. */
struct agenda_decision {
    int64_t fire_ms; /* the slot to run now, or AGENDA_NONE */
    int64_t done_ms; /* done_through after this step (write it with the run) */
    int missed;      /* 1: slots older than the misfire limit were found; with
                        catch_up one, fire_ms is the last of them, with none
                        they are skipped (done_ms moves past them) */
    int64_t wake_ms; /* when to decide again: now_ms if more may be due, the
                        next slot, or AGENDA_NONE */
};

void agenda_decide(const struct agenda_rule *r, const struct agenda_clock *k, int64_t done_ms,
                   int64_t now_ms, struct agenda_decision *d);

/* A binary min-heap of due times: the firing loop's agenda. `ref` is the
 * caller's (e.g. a table slot and a version, so entries of a schedule
 * since changed are recognised and dropped when popped). Grows as needed;
 * allocation failure aborts. Not thread-safe. */
struct agenda_entry {
    int64_t due_ms;
    uint64_t ref;
};

struct agenda_heap {
    struct agenda_entry *e;
    size_t n, cap;
};

#define AGENDA_HEAP_INIT                                                                           \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void agenda_heap_push(struct agenda_heap *h, int64_t due_ms, uint64_t ref);

/* The earliest entry, or NULL when empty. */
const struct agenda_entry *agenda_heap_peek(const struct agenda_heap *h);

/* Removes the earliest entry into *out; 0 ok, -1 when empty. */
int agenda_heap_pop(struct agenda_heap *h, struct agenda_entry *out);

void agenda_heap_release(struct agenda_heap *h);

#endif
