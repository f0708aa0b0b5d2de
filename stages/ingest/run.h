/*
 * run — one run of a schedule as the submit it is: the template parsed by
 * the submit's own parser (submission.h), under the run's batch id, with
 * schedule_id and scheduled_for, the webhook secret unsealed from the
 * schedule and sealed again to the batch, and for a schedule that tracks
 * changes each item's key and previous hash (schedtab_track).
 *
 * A run of a slot has the batch id ids_schedule_run(schedule, slot): the
 * same slot always makes the same batch, so a second attempt to start it
 * is recognisable (firing.h). A run started by POST /v1/schedules/{id}/run
 * has a random id and the request's time as its scheduled_for.
 */
#ifndef INGEST_RUN_H
#define INGEST_RUN_H

#include "schedule.h"
#include "schedtab.h"
#include "secretbox.h"
#include "submission.h"

struct run_env {
    const struct submission_limits *lim;
    const struct secretbox *sb;
    struct schedtab *tab;
};

/* Builds the run of s for `slot_ms` under `batch_id` (made at now_ms) into
 * b; *secret_enc receives the webhook secret sealed to the batch (malloc'd;
 * NULL without webhook); with tracking, *stale the change keys no item has
 * any more (schedtab_track; malloc'd, may be NULL). 0, or -1 with errstr
 * (b needs submission_release() either way). */
int run_build(struct submission *b, const struct sched *s, const char *batch_id, int64_t slot_ms,
              int64_t now_ms, const struct run_env *env, char **secret_enc,
              char (**stale)[CHANGES_KEY_MAX], size_t *n_stale, char *errstr, size_t errstr_size);

#endif
