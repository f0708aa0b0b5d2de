/*
 * ritem — one render request on its way through the stage: parsed from a
 * consumed record (request.c), rendered by a pool slot (pool.c, page.c),
 * turned into a result (and a file) or a retry record and produced
 * (emit.c), freed when Kafka has acknowledged everything it produced, which
 * is also when its source offset is marked done (shared/job.h).
 *
 * Owner at each step: the main thread until pool_submit(); the pool (its
 * queue, then one slot thread) until emit_*(); then the job's delivery
 * reports, the last of which frees it.
 */
#ifndef FERRY_RENDER_RITEM_H
#define FERRY_RENDER_RITEM_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "job.h"
#include "page.h"
#include "xrules.h"

/* A page's size when the request names none (pages are opened ahead at it). */
#define RITEM_WIDTH  1280
#define RITEM_HEIGHT 800

struct ritem {
    struct job job;     /* source record and delivery accounting */
    struct ritem *next; /* pool queue link */

    /* The request (borrowed strings point into req). */
    json_t *req;
    const char *batch_id, *tenant, *url;
    long long index;
    unsigned formats; /* text formats (extract.h); 0 = none asked */
    long timeout_ms;
    long long max_bytes;
    const char *wait_selector; /* NULL: none */
    long wait_ms;
    int block_ads;
    enum shot_type shot;
    int full_page, width, height, quality;
    const json_t *headers;
    const json_t *input;     /* an endpoint item's submitted object (echoed), or NULL */
    struct xrules_use rules; /* the extraction rules it asks for (rules.spec NULL: none) */
    struct xrules *xr;       /* where rules are held; NULL until resolved */
    char invalid[160];       /* why the request cannot be rendered; "" when fine */
    int browser_losses;      /* browsers that died or hung while rendering it */
};

struct render_limits {
    long default_timeout_ms, max_timeout_ms;
    long long default_max_bytes, max_max_bytes;
};

/* A new item for msg (job started on sink/ot; value copied, msg may be
 * destroyed after). NULL with errstr for a poison record (not JSON, or no
 * batch_id/index/url): the caller dead-letters it through *poison, a bare
 * item holding only the job. An item whose options are unusable comes back
 * with `invalid` set (a result, not a poison record: the batch needs its
 * item accounted). */
struct ritem *request_parse(struct job_sink *sink, const rd_kafka_message_t *msg,
                            struct offtrack *ot, const struct render_limits *lim,
                            struct ritem **poison, char *errstr, size_t errstr_size);

void ritem_free(struct ritem *it);

#endif
