/* A batch as its owner sees it: GET /v1/batch/{id} (with ?include=results),
 * GET /v1/batch/{id}/results (paged, ?status= filters), DELETE (cancel). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "fhdr.h"
#include "jx.h"
#include "log.h"
#include "metrics.h"
#include "schema.h"

/* The query of a results page; 422 answered (and -1) when a value is bad. */
struct page_query {
    int limit;
    int64_t cursor;
    struct results_filter filter;
};

static int bad_param(struct httpd_resp *resp, const char *field, const char *why)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "%s: %s", field, why);
    httpd_error(resp, 422, "invalid_field", msg, json_pack("{s:s}", "field", field));
    return -1;
}

static int page_query(const struct httpd_req *req, struct httpd_resp *resp, int with_filter,
                      struct page_query *q)
{
    const char *l = httpd_query(req, "limit"), *c = httpd_query(req, "cursor"),
               *st = httpd_query(req, "status");
    char *end;
    q->limit = RESULTS_LIMIT_DEFAULT;
    q->cursor = -1;
    q->filter.status = NULL;
    if (l) {
        long v = strtol(l, &end, 10);
        if (!*l || *end || v < 1 || v > RESULTS_LIMIT_MAX || !isdigit((unsigned char)*l))
            return bad_param(resp, "limit", "must be a whole number from 1 to 1000");
        q->limit = (int)v;
    }
    if (c) {
        long long v = strtoll(c, &end, 10);
        if (!*c || *end || v < 0 || !isdigit((unsigned char)*c))
            return bad_param(resp, "cursor", "not a cursor of this API");
        q->cursor = v;
    }
    if (with_filter && st) {
        if (!results_filter_valid(st))
            return bad_param(resp, "status", "ok, failed, or a result status code");
        q->filter.status = st;
    }
    return 0;
}

/* The link to the page after this one (null when none), keeping the filter. */
static json_t *next_link(const char *id, int64_t next, const struct page_query *q)
{
    char url[256];
    if (next < 0)
        return json_null();
    snprintf(url, sizeof(url), "/v1/batch/%s/results?cursor=%lld&limit=%d%s%s", id, (long long)next,
             q->limit, q->filter.status ? "&status=" : "",
             q->filter.status ? q->filter.status : "");
    return json_string(url);
}

/* Fills items and next for a page; answers the error itself and returns -1. */
static int page(struct api *a, struct httpd_resp *resp, const char *id, const json_t *doc,
                const struct page_query *q, json_t **items, int64_t *next)
{
    char errstr[256];
    int rc = results_page(a->results, id, doc, q->cursor, q->limit, &q->filter, items, next, errstr,
                          sizeof(errstr));
    if (rc == -2) {
        bad_param(resp, "cursor", "outside this batch's results");
    } else if (rc) {
        char quoted[300];
        LOG_WARN("results_failed", "batch=%s err=%s", id,
                 log_quote(quoted, sizeof(quoted), errstr));
        httpd_error(resp, 503, "kafka_unavailable", "the results could not be read from Kafka",
                    NULL);
    }
    if (rc) {
        json_decref(*items);
        *items = NULL;
    }
    return rc ? -1 : 0;
}

static void h_status(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                     const char *tenant)
{
    const char *id = api_batch_id(req), *include = httpd_query(req, "include");
    struct page_query q;
    char *body;
    size_t len;
    if (include && strcmp(include, "results") != 0) {
        bad_param(resp, "include", "the only value is results");
        return;
    }
    /* limit and cursor are checked even when no page is asked for. */
    if (page_query(req, resp, 0, &q))
        return;
    if (!id || table_get(a->table, id, tenant, &body, &len)) {
        api_not_found(resp, id);
        return;
    }
    if (!include) {
        httpd_reply_take(resp, 200, "application/json", body, len);
        return;
    }
    json_t *doc = json_loadb(body, len, 0, NULL), *items;
    free(body);
    int64_t next;
    if (!doc) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        return;
    }
    if (page(a, resp, id, doc, &q, &items, &next) == 0) {
        json_object_set_new(doc, "results", items);
        json_object_set_new(doc, "results_next", next_link(id, next, &q));
        httpd_json_doc(resp, 200, doc);
    }
    json_decref(doc);
}

static void h_results(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                      const char *tenant)
{
    const char *id = api_batch_id(req);
    json_t *doc = id ? table_get_json(a->table, id, tenant) : NULL, *items;
    struct page_query q;
    int64_t next;
    if (!doc) {
        api_not_found(resp, id);
        return;
    }
    if (page_query(req, resp, 1, &q) == 0 && page(a, resp, id, doc, &q, &items, &next) == 0) {
        json_t *out =
            json_pack("{s:s,s:O,s:o,s:o}", "id", id, "status", json_object_get(doc, "status"),
                      "results", items, "next", next_link(id, next, &q));
        httpd_json_doc(resp, 200, out);
        json_decref(out);
    }
    json_decref(doc);
}

static void h_cancel(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                     const char *tenant)
{
    const char *id = api_batch_id(req);
    json_t *doc = id ? table_get_json(a->table, id, tenant) : NULL;
    char errstr[256], now[CLK_ISO_LEN];
    if (!doc) {
        api_not_found(resp, id);
        return;
    }
    const char *status = jx_str(doc, "status", "");
    if (api_is_final(status)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the batch is already %s", status);
        httpd_error(resp, 409, "batch_finished", msg, json_pack("{s:s}", "status", status));
        json_decref(doc);
        return;
    }
    clk_iso8601(clk_now_ms(), now);
    json_t *rec = json_pack("{s:i,s:s,s:s,s:s,s:s}", SCHEMA_VERSION_KEY, SCHEMA_BATCHES, "type",
                            "cancel", "id", id, "tenant", tenant, "cancelled_at", now);
    size_t len;
    char *value = jx_dump(rec, &len);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    fhdr_add(h, FHDR_TYPE, "cancel");
    fhdr_add(h, FHDR_BATCH, id);
    if (!value) {
        rd_kafka_headers_destroy(h);
        httpd_error(resp, 500, "internal", "out of memory", NULL);
    } else if (api_produce_sync(a, topic_name(&a->st->topics, TOPIC_BATCHES), id, value, len, h,
                                errstr, sizeof(errstr))) {
        httpd_error(resp, 503, "kafka_unavailable", "the cancel could not be written to Kafka",
                    NULL);
    } else {
        LOG_INFO("batch_cancel", "batch=%s tenant=%s", id, tenant);
        /* The cancel is durable; aggregate makes the batch `cancelled` when
         * it reads it, so what is true now is that it is being cancelled. */
        json_t *out = json_pack("{s:s,s:s,s:b,s:s}", "id", id, "status", "cancelling",
                                "cancel_requested", 1, "cancelled_at", now);
        httpd_json_doc(resp, 202, out);
        json_decref(out);
    }
    free(value);
    json_decref(rec);
    json_decref(doc);
}

/* The status alone is a lookup in memory; a page of results reads Kafka. */
static int status_blocks(const struct httpd_req *req)
{
    return httpd_query(req, "include") != NULL;
}

const struct api_route api_batch_routes[] = {
    {"GET", "/v1/batch/:id", "status", h_status, 0, status_blocks},
    {"GET", "/v1/batch/:id/results", "results", h_results, 0, NULL},
    {"DELETE", "/v1/batch/:id", "cancel", h_cancel, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
