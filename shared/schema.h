/*
 * schema — the version of each kind of JSON message ferry writes.
 *
 * Every JSON message on a topic starts with the member "schema_version": the
 * version of its JSON Schema in schemas/ that it follows. A version is
 * raised only by a change that a reader of the old one would misread (a
 * member removed, renamed or changing meaning or type); a new optional
 * member does not raise it. A reader that meets a version it does not know
 * must not guess: it skips or dead-letters the message, or stops.
 *
 * The versions live here, once; each schemas/<name>.schema.json says the
 * same ("schema_version": {"const": N}) and the integration tests validate
 * the messages of a full run against the schemas (test_topics_live.py).
 * Documents read through the HTTP API carry it where they are the message
 * itself (GET /v1/batch/{id} is the status document), never inside a
 * result as a results page or a webhook body embeds it.
 */
#ifndef FERRY_SCHEMA_H
#define FERRY_SCHEMA_H

#include <jansson.h>
#include <stdio.h>

/* The member, first in each message. */
#define SCHEMA_VERSION_KEY "schema_version"

#define SCHEMA_BATCHES      1 /* batches: batch and cancel records */
#define SCHEMA_REQUESTS     1 /* scrape.requests, render.requests and their retry tiers */
#define SCHEMA_RESULTS      1 /* scrape.results */
#define SCHEMA_STATUS       1 /* batch.status, GET /v1/batch/{id}, batch.* webhook bodies */
#define SCHEMA_WEBHOOKS     1 /* webhooks (tasks), their retry tiers and webhooks.dlq */
#define SCHEMA_WEBHOOK_ITEM 1 /* item.completed webhook bodies */
#define SCHEMA_ATTEMPTS     1 /* webhooks.attempts */
#define SCHEMA_REPLIES      1 /* submit.replies */
#define SCHEMA_USAGE        1 /* usage */
#define SCHEMA_SITEFILES    1 /* crawl.sitefiles */
#define SCHEMA_STATE        4 /* aggregate.state (its own; versions 1 to 3 named it "v") */
#define SCHEMA_TENANTS      1 /* tenants */
#define SCHEMA_IDEMPOTENCY  1 /* idempotency */
#define SCHEMA_SCHEDULES    2 /* schedules (version 1 named it "v") */
#define SCHEMA_SCHED_STATE  2 /* schedule.state (version 1 named it "v") */
#define SCHEMA_SCHED_CHANGE 1 /* schedule.changes */

/* 0 when a reader that knows versions 1 to `known` can read a message of
 * `version` (the member's value; a message without it predates it: 1);
 * else -1 with errstr, and the reader skips or dead-letters the message. */
static inline int schema_check(long long version, int known, char *errstr, size_t errstr_size)
{
    if (version >= 1 && version <= known)
        return 0;
    snprintf(errstr, errstr_size, SCHEMA_VERSION_KEY " %lld is not known here (1 to %d)", version,
             known);
    return -1;
}

/* The version of a parsed message of a kind whose version 1 named the member
 * "v" (schedules, schedule.state): schema_version, else "v", else 1; 0 when
 * it is not an integer. */
static inline long long schema_version_or_v(const json_t *doc)
{
    const json_t *v = json_object_get(doc, SCHEMA_VERSION_KEY);
    if (!v && !(v = json_object_get(doc, "v")))
        return 1;
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

#endif
