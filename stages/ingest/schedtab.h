/*
 * schedtab — every schedule, as this ingest instance knows it.
 *
 * Fed on the follower's thread from three compacted topics read whole by
 * every instance (so any instance answers for any schedule):
 *
 *   schedules         definitions (schedule.h); a tombstone deletes
 *   schedule.state    each schedule's firing state: done_through, the
 *                     instant up to which every slot is settled, and its
 *                     last run (written by the owner, schedule.c)
 *   schedule.changes  the content hash of each tracked input (changes.h),
 *                     kept per schedule as a compact table of 64-bit input
 *                     keys to 64-bit hashes: 16 bytes an input, every
 *                     instance
 *
 * and from batch.status through the status table's hook (the runs of each
 * schedule, their batch ids and slots; their status is looked up in the
 * status table when asked).
 *
 * Records of the three topics may be read in any order relative to each
 * other: a schedule's entry exists from the first record that names it.
 * Entries with no definition are dropped once the definitions were read
 * whole (schedtab_ready), and from then on only their owner's cleanup
 * refers to them (schedtab_orphans).
 *
 * Thread safety: one read-write lock; the change callback is called
 * outside it.
 */
#ifndef INGEST_SCHEDTAB_H
#define INGEST_SCHEDTAB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agenda.h"
#include "changes.h"
#include "schedule.h"

#define SCHEDTAB_RUNS 20 /* runs listed by GET /v1/schedules/{id} */

struct schedtab;

/* Called (outside the lock) when the definition of `id` changed or went;
 * `partition` is its partition in `schedules` (-1 when unknown). */
typedef void (*schedtab_change_fn)(void *arg, const char *id, int32_t partition);

struct schedtab *schedtab_new(const struct agenda_clock *k);
void schedtab_free(struct schedtab *t);

void schedtab_on_change(struct schedtab *t, schedtab_change_fn fn, void *arg);

/* ---- feeding (the follower's thread) ---- */

/* A `schedules` record (value NULL: tombstone). Bad records are logged and
 * skipped. */
void schedtab_put_def(struct schedtab *t, const char *id, int32_t partition, const void *value,
                      size_t len);

/* A `schedule.state` record (value NULL: tombstone):
 *     {"v": 1, "done_through": ms, "last_batch_id", "last_scheduled_for", "at"} */
void schedtab_put_state(struct schedtab *t, const char *id, int32_t partition, const void *value,
                        size_t len);

/* A `schedule.changes` record keyed "<schedule id>/<input key>". */
void schedtab_put_change(struct schedtab *t, const char *key, size_t key_len, int32_t partition,
                         const void *value, size_t len);

/* A run seen in batch.status. */
void schedtab_put_run(struct schedtab *t, const char *schedule_id, const char *batch_id,
                      const char *scheduled_for);

/* The definitions were read whole: entries without one go. */
void schedtab_ready(struct schedtab *t);

/* ---- reading ---- */

/* A copy of the definition of `id` when `tenant` owns it (NULL: any
 * tenant), its state and partition. 0, or -1 when unknown. *s needs
 * sched_release(). */
int schedtab_get(struct schedtab *t, const char *id, const char *tenant, struct sched *s,
                 int64_t *done_ms, int32_t *partition);

/* The API document of `id` for `tenant` (sched_doc with next_run_at and
 * last_run_at), or NULL when unknown. The runs are added by the caller
 * (schedtab_runs). */
json_t *schedtab_doc(struct schedtab *t, const char *id, const char *tenant, int64_t now_ms);

struct schedtab_run {
    char batch_id[IDS_BATCH_LEN];
    char scheduled_for[CLK_ISO_LEN];
};

/* The newest runs of `id` (at most SCHEDTAB_RUNS, newest first) into out;
 * returns how many. */
size_t schedtab_runs(struct schedtab *t, const char *id, struct schedtab_run *out);

/* The tenant's schedules, ordered by id (creation), starting after
 * `after` (NULL: from the first), at most `limit` documents (new array);
 * *more says whether others follow. */
json_t *schedtab_list(struct schedtab *t, const char *tenant, const char *after, size_t limit,
                      int64_t now_ms, int *more);

/* 1 when a schedule whose runs' ids would equal those of `id` exists
 * (ids_schedule_run uses 79 of the id's bits). */
int schedtab_bits_taken(struct schedtab *t, const char *id);

/* The ids of the schedules (with a definition) of `partition`, as a
 * malloc'd array of n; NULL when none. */
char (*schedtab_partition_ids(struct schedtab *t, int32_t partition, size_t *n))[SCHED_ID_LEN];

/* Ids of `partition` with state or change records but no definition (a
 * deleted schedule's leftovers, for its owner to tombstone); like
 * schedtab_partition_ids. */
char (*schedtab_orphans(struct schedtab *t, int32_t partition, size_t *n))[SCHED_ID_LEN];

/* Raises done_through of `id` to done_ms (never lowers it): the owner's
 * own commit, ahead of the follower reading it back. */
void schedtab_set_done(struct schedtab *t, const char *id, int64_t done_ms);

/* Fills b->track for a run of `id` (b parsed from its template): each
 * item's key and its input's previous hash. *stale receives the change
 * keys the schedule has that no item of b has (inputs dropped from the
 * template; malloc'd array of *n_stale, NULL when none). 0, or -1 when out
 * of memory. */
int schedtab_track(struct schedtab *t, const char *id, struct submission *b,
                   char (**stale)[CHANGES_KEY_MAX], size_t *n_stale);

/* Every change key of `id` (for tombstones); like schedtab_track's stale. */
char (*schedtab_change_keys(struct schedtab *t, const char *id, size_t *n))[CHANGES_KEY_MAX];

/* Schedules with a definition. */
size_t schedtab_count(struct schedtab *t);

#endif
