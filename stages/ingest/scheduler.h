/*
 * scheduler — ingest's schedules put together: the schedule table
 * (schedtab.h) fed by a follower of the three schedule topics and by the
 * status table's runs, and the firing thread (firing.h) that owns some of
 * their partitions. main.c opens it once topics exist, before the status
 * follower, and closes it before the producers it writes with.
 */
#ifndef INGEST_SCHEDULER_H
#define INGEST_SCHEDULER_H

#include "api.h"

struct scheduler;

/* Sets api->schedules and api->sched_follower. NULL with errstr. */
struct scheduler *scheduler_open(struct api *api, const struct agenda_clock *clock, char *errstr,
                                 size_t errstr_size);

/* 1 once the definitions were read whole (the table drops leftovers then);
 * kept in api->schedules_caught_up by the main loop. */
int scheduler_caught_up(struct scheduler *s);

/* Stops firing and the follower, unhooks the status table and frees the
 * schedule table (after the HTTP server stopped and the status follower
 * is no longer polled). NULL is fine. */
void scheduler_close(struct scheduler *s);

#endif
