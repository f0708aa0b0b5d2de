/* GET /v1/batches?status=&kind=&limit=&cursor=: the caller's batches,
 * newest first, a page at a time: {"batches": [status documents], "next":
 * the URL of the next page, or null}. Answered from the status table's
 * per-tenant index (table.h) in memory, so it never waits on Kafka and
 * costs the same with 10 batches or 100,000. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX     100

static const char *const states[] = {"queued", "running", "completed", "failed", "cancelled"};
static const char *const kinds[] = {"batch", "crawl"};

static int one_of(const char *v, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, list[i]) == 0)
            return 1;
    return 0;
}

void api_bad_param(struct httpd_resp *resp, const char *field, const char *why)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "%s: %s", field, why);
    httpd_error(resp, 422, "invalid_field", msg, json_pack("{s:s}", "field", field));
}

int api_int_param(struct httpd_req *req, struct httpd_resp *resp, const char *name, int max,
                  int *out)
{
    const char *l = httpd_query(req, name);
    if (!l)
        return 0;
    char *end;
    long v = strtol(l, &end, 10);
    if (!isdigit((unsigned char)*l) || *end || v < 1 || v > max) {
        char why[64];
        snprintf(why, sizeof(why), "must be a whole number from 1 to %d", max);
        api_bad_param(resp, name, why);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int api_limit(struct httpd_req *req, struct httpd_resp *resp, int max, int *limit)
{
    return api_int_param(req, resp, "limit", max, limit);
}

static void h_list(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                   const char *tenant)
{
    struct table_page_query q = {httpd_query(req, "status"), httpd_query(req, "kind"),
                                 LIST_LIMIT_DEFAULT, httpd_query(req, "cursor")};
    char next[TABLE_CURSOR_MAX];
    if (q.status && !one_of(q.status, states, sizeof(states) / sizeof(states[0]))) {
        api_bad_param(resp, "status", "one of queued, running, completed, failed, cancelled");
        return;
    }
    if (q.kind && !one_of(q.kind, kinds, sizeof(kinds) / sizeof(kinds[0]))) {
        api_bad_param(resp, "kind", "batch or crawl");
        return;
    }
    if (api_limit(req, resp, LIST_LIMIT_MAX, &q.limit))
        return;
    struct buf out = BUF_INIT(BUF_NO_MAX);
    buf_adds(&out, "{\"batches\":[");
    if (table_page(a->table, tenant, &q, &out, next)) {
        buf_release(&out);
        api_bad_param(resp, "cursor", "not a cursor of this API");
        return;
    }
    buf_adds(&out, "],\"next\":");
    if (next[0]) {
        buf_addf(&out, "\"/v1/batches?limit=%d&cursor=%s%s%s%s%s\"", q.limit, next,
                 q.status ? "&status=" : "", q.status ? q.status : "", q.kind ? "&kind=" : "",
                 q.kind ? q.kind : "");
    } else {
        buf_adds(&out, "null");
    }
    buf_addc(&out, '}');
    size_t len;
    char *body = buf_detach(&out, &len);
    httpd_reply_take(resp, 200, "application/json", body, len);
}

const struct api_route api_list_routes[] = {
    /* A page is read from memory: never waits on Kafka. */
    {"GET", "/v1/batches", "list", h_list, 0, httpd_never_blocks},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
