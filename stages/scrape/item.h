/*
 * item — one scrape request on its way through the stage: parsed from a
 * consumed record (request.c), fetched by a worker (fetch.c), turned into a
 * result or a retry record and produced (emit.c), freed when Kafka has
 * acknowledged everything it produced, which is also when its source
 * offset is marked done.
 */
#ifndef FERRY_SCRAPE_ITEM_H
#define FERRY_SCRAPE_ITEM_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "offtrack.h"
#include "sbuf.h"
#include "ssrf.h"

struct item {
    struct item *next, *prev; /* worker inbox / running list links */

    /* Source record: offtrack_done(ot, src_topic, partition, offset) once
     * every message produced for it is acknowledged. */
    struct offtrack *ot;
    char *src_topic;
    int32_t partition;
    int64_t offset;
    char *value; /* the request's bytes, re-sent as-is to a retry tier */
    size_t value_len;

    /* The request (borrowed strings point into req). */
    json_t *req;
    const char *batch_id, *tenant, *url;
    long long index;
    unsigned formats;
    long timeout_ms;
    long long max_bytes;
    int follow_redirects;
    int attempt;              /* 1-based, this attempt */
    int64_t first_attempt_ms; /* epoch ms of attempt 1 */
    char origin[300];         /* topic/partition/offset of the original request */
    char invalid_url[128];    /* why the URL is unusable; "" when it is fine */

    /* Fetch state (worker-owned). */
    CURL *easy; /* the worker's; valid only during the fetch */
    void *host; /* fetch.c's per-host admission slot */
    struct curl_slist *headers;
    struct ssrf_guard guard;
    struct sbuf body;
    int too_large;
    char retry_after[64];
    char curl_err[CURL_ERROR_SIZE];
    int64_t started_us;

    /* Delivery: messages produced and not yet acknowledged; any failure
     * keeps the source offset from being marked done. */
    atomic_int pending;
    atomic_int failed;
};

void item_free(struct item *it);

#endif
