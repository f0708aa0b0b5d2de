/*
 * item — one scrape request on its way through the stage.
 *
 * An item crosses three threads; at each step exactly one owns it:
 *
 *   1. main thread (intake.c): item_new() from a consumed record, filled by
 *      request_parse(). Intake then hands it on, and no longer touches it:
 *        - to the fetch pool (fetch_pool_submit): step 2;
 *        - to emit (process_skip, emit_dead_letter) when it is not fetched
 *          (cancelled batch, invalid URL, poison record): step 3.
 *   2. a fetch worker thread (fetch.c): the worker's httpc engine holds it
 *      while it waits for its host's slot and while it transfers (it->x);
 *      then process_fetched() classifies the outcome, extracts, and hands
 *      it to emit (emit_result, emit_retry): step 3. If the stage stops
 *      first, the worker frees it unfinished (its offset was never stored,
 *      so the next run fetches it again).
 *   3. Kafka's producer (emit.c): each message produced for it carries it
 *      as its opaque; the delivery report of the last one, on the producer
 *      poller thread, marks its source offset done and calls item_free().
 *
 * So a field is written by one step and read by the later ones only; no
 * lock guards an item. The atomics count its messages across the
 * producer's reports.
 */
#ifndef FERRY_SCRAPE_ITEM_H
#define FERRY_SCRAPE_ITEM_H

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdint.h>

#include "httpc.h"
#include "offtrack.h"

struct item {
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
    struct curl_slist *headers;

    /* The transfer (step 2): the body, capped at max_bytes, and what curl
     * and the SSRF guard reported. */
    struct httpc_xfer x;

    /* Delivery: messages produced and not yet acknowledged; any failure
     * keeps the source offset from being marked done. */
    atomic_int pending;
    atomic_int failed;
};

/* A new item holding a copy of msg's source (topic, partition, offset,
 * value): enough to dead-letter it. msg may be destroyed afterwards. */
struct item *item_new(const rd_kafka_message_t *msg, struct offtrack *ot);

/* Frees the item and everything it owns. NULL is fine. */
void item_free(struct item *it);

#endif
