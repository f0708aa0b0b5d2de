/*
 * follow — keeps the status table, the dead deliveries (deadbook.h) and
 * the usage table current: reads
 * batch.status, webhooks.attempts and usage from the beginning, every
 * partition, forever, on a thread of its own (shared/follower.h).
 *
 * No consumer group is joined (partitions are assigned by hand, nothing is
 * committed): every ingest instance must see every batch. The table has
 * caught up once each partition reached the end it had when following
 * started; until then /healthz says "starting", so a load balancer does not
 * send status requests that would answer 404 for batches not read yet.
 */
#ifndef INGEST_FOLLOW_H
#define INGEST_FOLLOW_H

#include "deadbook.h"
#include "follower.h"
#include "stage.h"
#include "table.h"
#include "usage.h"

struct follow;

/* Assigns every partition of the three topics on the hub's consumer (they
 * must exist: call after stage_ensure_topics). NULL with errstr. */
struct follow *follow_open(const struct stage *st, struct follower_hub *hub, struct table *table,
                           struct deadbook *dead, struct usage *usage, char *errstr,
                           size_t errstr_size);

/* A webhooks.attempts record, parsed once for the status table and the
 * dead book (table_put_attempt, deadbook_put_attempt): a new object without
 * its "tenant", whose value goes to tenant ("" when absent; cut to size).
 * NULL when the value is not a JSON object. */
json_t *follow_attempt_parse(const char *value, size_t len, char *tenant, size_t size);

/* Paces the caller's loop: returns after timeout_ms (the records are
 * applied meanwhile, on the follower's thread). */
void follow_poll(struct follow *f, int timeout_ms);

/* 1 once every partition has been read to its end once. */
int follow_caught_up(const struct follow *f);

void follow_close(struct follow *f);

#endif
