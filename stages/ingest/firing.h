/*
 * firing — the owner's side of schedules: which ingest instance fires which
 * schedule, and each slot's run started exactly once (the design is
 * shared/agenda.h's; this is the part with Kafka and a thread).
 *
 * Ownership. Every ingest instance joins the consumer group
 * "ferry-ingest-schedules" on the `schedules` topic; the member assigned
 * partition p owns the schedules whose definitions lie in p (the same
 * partition number holds their state and change records). The group
 * consumer reads nothing of use (it starts at the end): the definitions
 * come from the table every instance keeps (schedtab.h).
 *
 * Taking p over: a transactional producer under the id
 * "<prefix>ingest-schedules.<p>", the same in every instance. Opening it
 * fences every earlier holder (its open transaction is aborted, its next
 * commit fails); then the follower reads p of the three schedule topics to
 * their end, so done_through is the last one committed by anyone. Only
 * then are p's schedules put on the agenda.
 *
 * Firing. The thread sleeps on a condition variable until the earliest due
 * time (at most a second, to follow clock steps, and woken when a
 * definition changes). Due schedules are decided by agenda_decide(); each
 * run (its batch record, requests and `queued` status, txn_write) and the
 * state record that moves done_through past its slot are written in one
 * transaction of p's producer, together with the group's position on p
 * (send_offsets_to_transaction): a member that lost p without knowing it is
 * refused at commit, and nothing of the transaction is seen. Runs of many
 * schedules share a transaction (up to FIRE_ROUND_MAX), so 10,000 slots
 * due at once cost tens of commits, not 10,000. A failed transaction is
 * aborted and its schedules decided again from the committed state.
 *
 * Cleaning up. The owner also writes the tombstones that keep the state
 * and change topics bounded: for a deleted schedule (its state and every
 * change key), and at each run for inputs its template no longer has.
 */
#ifndef INGEST_FIRING_H
#define INGEST_FIRING_H

#include "follower.h"
#include "run.h"
#include "schedtab.h"
#include "stage.h"
#include "txn.h"

/* Topic numbers of the follower that feeds the schedule table. */
enum { FIRING_SCHEDULES, FIRING_STATE, FIRING_CHANGES };

struct firing_env {
    const struct stage *st;
    struct schedtab *tab;
    struct follower *f; /* follows FIRING_SCHEDULES, FIRING_STATE, FIRING_CHANGES */
    struct txn_pool *txn;
    struct run_env run;
    struct agenda_clock clock;
    int timeout_ms;        /* one transaction's deadline */
    int64_t park_quiet_ms; /* FERRY_SCHEDULE_PARK_QUIET (firing_int.h: parking) */
};

struct firing;

/* Joins the group and starts the thread. NULL with errstr. */
struct firing *firing_start(const struct firing_env *env, char *errstr, size_t errstr_size);

/* The definition of `id` (in `partition`) changed: schedtab's change
 * callback (any thread). */
void firing_changed(void *arg, const char *id, int32_t partition);

/* Schedules this instance owns and has on its agenda. */
size_t firing_owned(struct firing *fi);

/* Stops the thread, leaves the group, closes the producers. NULL is fine. */
void firing_stop(struct firing *fi);

#endif
