/*
 * usage — every tenant's usage per UTC day, as this ingest instance knows
 * it: GET /v1/usage and the credit limit (limits.h) read it.
 *
 * Fed by follow.c from the compacted `usage` topic (usagerec.h), read from
 * the beginning on every partition like batch.status. Each record is the
 * cumulative count of one (day, aggregator partition, tenant), so a new
 * record of a key replaces the old one, and the table keeps, per (tenant,
 * day), the sum over partitions up to date: a record adds its difference
 * from the one it replaces. A query is one lookup per day of its range.
 *
 * Counting happens in aggregate, exactly once (its usage.h); this is only a
 * view of the topic, so two ingest instances agree once both have read it,
 * and a restart reads it again.
 *
 * Thread-safe: the follower writes, request handlers read (a rwlock).
 */
#ifndef INGEST_USAGE_H
#define INGEST_USAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "usagerec.h"

/* The longest range GET /v1/usage answers, in days (a year and a day). */
#define USAGE_MAX_DAYS 366

struct usage;

struct usage *usage_new(void);
void usage_free(struct usage *u);

/* A `usage` record. 0 ok, -1 when it is not one (ignored). */
int usage_put(struct usage *u, const char *value, size_t len);

/* The tenant's counts on the day `days` (since 1970-01-01, UTC). */
void usage_day(struct usage *u, const char *tenant, int64_t days, struct usage_counts *out);

/* The answer of GET /v1/usage for days [from, to] (to - from < USAGE_MAX_DAYS):
 * {"from", "to", "days": [{"date", <counters>}...], "total": {<counters>}},
 * every day of the range listed, oldest first. New reference. */
json_t *usage_report(struct usage *u, const char *tenant, int64_t from, int64_t to);

/* Rows (records kept), for the metrics. */
size_t usage_rows(struct usage *u);

#endif
