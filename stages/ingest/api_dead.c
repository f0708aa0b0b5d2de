/* The dead webhook deliveries of the caller's tenant, across its batches
 * (deadbook.h): GET /v1/deliveries/dead?limit=&cursor= lists them newest
 * first, {"total", "dead": [attempts], "next"}; POST
 * /v1/deliveries/{delivery_id}/redeliver sends one again as a fresh first
 * attempt (the same bytes and delivery id, read back from Kafka). Both
 * answer from memory but the redelivery's read and write. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "ids.h"

#define DEAD_LIMIT_DEFAULT 20
#define DEAD_LIMIT_MAX     100

static void h_dead(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                   const char *tenant)
{
    int limit = DEAD_LIMIT_DEFAULT;
    const char *cursor = httpd_query(req, "cursor");
    char next[DEADBOOK_CURSOR_MAX];
    size_t total;
    if (api_limit(req, resp, DEAD_LIMIT_MAX, &limit))
        return;
    struct buf out = BUF_INIT(BUF_NO_MAX);
    buf_adds(&out, "{\"dead\":[");
    if (deadbook_page(a->dead, tenant, limit, cursor, &out, next, &total)) {
        buf_release(&out);
        api_bad_param(resp, "cursor", "not a cursor of this API");
        return;
    }
    buf_addf(&out, "],\"total\":%zu,\"next\":", total);
    if (next[0])
        buf_addf(&out, "\"/v1/deliveries/dead?limit=%d&cursor=%s\"", limit, next);
    else
        buf_adds(&out, "null");
    buf_addc(&out, '}');
    size_t len;
    char *body = buf_detach(&out, &len);
    httpd_reply_take(resp, 200, "application/json", body, len);
}

static void h_redeliver_dead(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                             const char *tenant)
{
    const char *id = httpd_param(req, "id");
    struct table_task task;
    char batch[64];
    if (!ids_delivery_valid(id))
        id = NULL;
    int rc = id ? deadbook_task(a->dead, tenant, id, &task, batch) : -1;
    if (rc == -1) {
        httpd_error(resp, 404, "not_found",
                    "no dead delivery with this id (it may have been delivered since)",
                    json_pack("{s:s?}", "delivery_id", id));
        return;
    }
    if (rc == -2) {
        httpd_error(resp, 409, "nothing_to_redeliver",
                    "this delivery's task could never be read back (its attempt names none)", NULL);
        return;
    }
    api_redeliver_task(a, batch, &task, resp);
}

const struct api_route api_dead_routes[] = {
    /* A page is read from memory: never waits on Kafka. */
    {"GET", "/v1/deliveries/dead", "dead", h_dead, 0, httpd_never_blocks},
    {"POST", "/v1/deliveries/:id/redeliver", "redeliver_dead", h_redeliver_dead, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
