/*
 * fhdr — ferry's record headers: their names, written once as an X-macro
 * (schemas/MESSAGES.md, "Headers"), and the builders of the sets the
 * stages write, so a record's headers are spelled and ordered in one place.
 *
 * A header is for routing without parsing the value: a reader that needs a
 * batch id or an item index takes it from here (fhdr_get) before, or
 * instead of, the JSON.
 *
 * Ownership: a builder returns a new header list the caller owns until a
 * produce call succeeds with it (librdkafka then owns it); destroy it with
 * rd_kafka_headers_destroy() when the produce fails.
 */
#ifndef FERRY_FHDR_H
#define FERRY_FHDR_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* Columns: enum suffix, name on the wire. Order is free (nothing stores a
 * position); a new header is one line here and one row in MESSAGES.md. */
#define FHDR_MAP(X)                                                                                \
    X(TYPE, "ferry-type")                                                                          \
    X(BATCH, "ferry-batch")                                                                        \
    X(INDEX, "ferry-index")                                                                        \
    X(PART, "ferry-part")                                                                          \
    X(FETCH, "ferry-fetch")                                                                        \
    X(EVENT, "ferry-event")                                                                        \
    X(DELIVERY, "ferry-delivery")                                                                  \
    X(ATTEMPT, "ferry-attempt")                                                                    \
    X(DUE_MS, "ferry-due-ms")                                                                      \
    X(FIRST_ATTEMPT_MS, "ferry-first-attempt-ms")                                                  \
    X(LAST_ERROR, "ferry-last-error")                                                              \
    X(ORIGIN, "ferry-origin")                                                                      \
    X(CONTENT_TYPE, "content-type")                                                                \
    X(TENANT, "ferry-tenant")                                                                      \
    X(EXPIRES_MS, "ferry-expires-ms")                                                              \
    X(OUTCOME, "ferry-outcome")                                                                    \
    X(STATUS, "ferry-status")                                                                      \
    X(REPLAYED, "ferry-replayed")

enum fhdr {
#define FHDR_ENUM(e, n) FHDR_##e,
    FHDR_MAP(FHDR_ENUM)
#undef FHDR_ENUM
        FHDR__COUNT
};

/* The header's name on the wire ("ferry-batch"). */
const char *fhdr_name(enum fhdr h);

/* Adds header h with the string value (copied); 0 ok, -1 refused. */
int fhdr_add(rd_kafka_headers_t *hs, enum fhdr h, const char *value);

/* Adds header h with a decimal value. */
int fhdr_add_ll(rd_kafka_headers_t *hs, enum fhdr h, long long value);

/* A batch-scoped record's headers: ferry-batch (none when batch_id is
 * NULL: a record whose request could not be read), then ferry-index when
 * index >= 0 (a result, a file). */
rd_kafka_headers_t *fhdr_batch(const char *batch_id, long long index);

/* Adds ferry-part "part/parts" (1-based) when a result is split, nothing
 * when parts is 1. */
int fhdr_add_part(rd_kafka_headers_t *hs, size_t part, size_t parts);

/* A request's headers (scrape.requests, render.requests, the frontier's
 * site files): ferry-batch, ferry-index when index >= 0, ferry-fetch when
 * fetch is not NULL, and ferry-attempt 1 (tiers count on from there). */
rd_kafka_headers_t *fhdr_request(const char *batch_id, long long index, const char *fetch);

/* A dead letter's headers: ferry-origin ("topic/partition/offset" of the
 * record it replaces) and ferry-last-error (why). */
rd_kafka_headers_t *fhdr_dead(const char *origin, const char *why);

/* Copies header h of msg into buf as a NUL-terminated string; returns buf,
 * or NULL when absent or larger than size-1 (kafka_header()). */
const char *fhdr_get(const rd_kafka_message_t *msg, enum fhdr h, char *buf, size_t size);

#endif
