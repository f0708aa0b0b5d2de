/*
 * item — one scrape request on its way through the stage.
 *
 * An item crosses three threads; at each step exactly one owns it:
 *
 *   1. main thread (intake.c): item_new() from a consumed record (its job
 *      begins: offset begun, counted in the sink), filled by
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
 *   3. Kafka's producer (emit.c, through shared/job.h): each message
 *      produced for it carries its job as the opaque; the delivery report
 *      of the last one, on the producer poller thread, marks its source
 *      offset done and releases the job, which frees the item.
 *
 * So a field is written by one step and read by the later ones only; no
 * lock guards an item. The job's atomics count its messages across the
 * producer's reports.
 */
#ifndef FERRY_SCRAPE_ITEM_H
#define FERRY_SCRAPE_ITEM_H

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "httpc.h"
#include "job.h"
#include "xrules.h"

struct item {
    /* The source record and what was produced for it (shared/job.h): its
     * coordinates, its bytes (re-sent as-is to a retry tier), the retry
     * headers it came with (attempt, first attempt, origin), and the count
     * of its unacknowledged messages. */
    struct job job;

    /* The request. Its strings point into req, the jansson tree of a
     * request the quick reader left to jansson, or into strs, where the
     * quick reader (request.c) unescaped them; one of the two is NULL. A
     * request without a tree has no input, track or rules. */
    json_t *req;
    char *strs;
    const char *batch_id, *tenant, *url;
    long long index;
    unsigned formats;
    long timeout_ms;
    long long max_bytes;
    int follow_redirects;
    char invalid_url[128]; /* why the URL is unusable; "" when it is fine */
    struct curl_slist *headers;
    const json_t *input; /* the submitted item object, echoed as "input"; NULL: the URL */

    /* The extraction rules the request names (shared/xrules.h), resolved
     * by the intake; rules.spec NULL when it names none. The item holds
     * them until it is freed. */
    struct xrules *xr;
    struct xrules_use rules;

    /* A crawl's page (the frontier's request, frontier.h in aggregate):
     * its depth (-1: not a crawl's page), the page that linked it (-1:
     * none), and whether its links go back in the result. Or a site file
     * the frontier asked for (robots.txt, a sitemap; index -1): its answer
     * goes to crawl.sitefiles, not to scrape.results (sitefile.h). */
    int depth;
    long long found_on;
    int frontier;
    enum item_fetch { FETCH_PAGE = 0, FETCH_ROBOTS, FETCH_SITEMAP } fetch;

    /* The transfer (step 2): the body, capped at max_bytes, and what curl
     * and the SSRF guard reported. */
    struct httpc_xfer x;
};

/* A site file's word in the request's fetch member, its answer and its
 * ferry-fetch header; NULL for a page (which has none). */
static inline const char *item_fetch_word(enum item_fetch f)
{
    return f == FETCH_ROBOTS ? "robots" : f == FETCH_SITEMAP ? "sitemap" : NULL;
}

/* A new item for msg, its job started on sink and ot (job_start: the
 * source copied, enough to dead-letter it; its offset begun). msg may be
 * destroyed afterwards. */
struct item *item_new(struct job_sink *sink, const rd_kafka_message_t *msg, struct offtrack *ot);

/* Frees the item and everything it owns. NULL is fine. */
void item_free(struct item *it);

#endif
