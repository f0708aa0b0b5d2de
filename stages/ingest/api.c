#include "api.h"

#include <ctype.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ids.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"

typedef void (*route_fn)(struct api *a, const struct _u_request *req, struct _u_response *resp,
                         const char *tenant);

struct route {
    const char *method, *path, *name;
    route_fn fn;
    struct api *api;
    struct metric *latency;
};

static struct metric *m_batches, *m_items, *m_produce_errors;

static void reply(struct _u_response *resp, unsigned int status, const char *body, size_t len)
{
    ulfius_set_binary_body_response(resp, status, body, len);
    u_map_put(resp->map_header, "Content-Type", "application/json");
}

static void reply_json(struct _u_response *resp, unsigned int status, json_t *doc)
{
    size_t len = 0;
    char *s = jx_dump(doc, &len);
    if (s)
        reply(resp, status, s, len);
    else
        reply(resp, 500, "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}", 57);
    free(s);
}

/* {"error": {"code", "message", "details"}}; details is stolen (may be NULL). */
static void reply_error(struct _u_response *resp, unsigned int status, const char *code,
                        const char *message, json_t *details)
{
    json_t *doc = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", code, "message", message,
                            "details", details ? details : json_null());
    reply_json(resp, status, doc);
    json_decref(doc);
}

static void not_found(struct _u_response *resp, const char *id)
{
    reply_error(resp, 404, "not_found", "no such batch", json_pack("{s:s}", "id", id));
}

/* ------------------------------------------------------------------ submit */

static void submit(struct api *a, const struct _u_request *req, struct _u_response *resp,
                   const char *tenant, int single)
{
    struct batch b;
    struct batch_err err;
    char errstr[512];
    char *secret_enc = NULL, *answer = NULL, *status = NULL;

    if (req->binary_body_length > (size_t)a->max_body) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the body is larger than %lld bytes", a->max_body);
        reply_error(resp, 413, "body_too_large", msg,
                    json_pack("{s:I}", "max_bytes", (json_int_t)a->max_body));
        return;
    }
    if (batch_parse(&b, req->binary_body ? req->binary_body : "", req->binary_body_length, single,
                    tenant, &a->lim, &err)) {
        json_t *details = NULL;
        if (err.field[0])
            details = err.index >= 0
                          ? json_pack("{s:s,s:i}", "field", err.field, "index", (int)err.index)
                          : json_pack("{s:s}", "field", err.field);
        reply_error(resp, (unsigned)err.status, err.code, err.message, details);
        goto out;
    }
    if (b.webhook_url) {
        if (!a->sb) {
            reply_error(resp, 503, "webhooks_unavailable",
                        "this server has no FERRY_SECRET_KEY, so it cannot keep webhook secrets",
                        NULL);
            goto out;
        }
        secret_enc = secretbox_seal(a->sb, b.secret, strlen(b.secret), b.id);
        if (!secret_enc) {
            reply_error(resp, 500, "internal", "could not seal the webhook secret", NULL);
            goto out;
        }
    }
    int64_t t0 = clk_mono_ms();
    if (txn_submit(a->txn, &b, secret_enc, errstr, sizeof(errstr))) {
        char q[600];
        metric_inc(m_produce_errors, 1);
        LOG_WARN("submit_failed", "batch=%s tenant=%s items=%zu err=%s", b.id, tenant, b.total,
                 log_quote(q, sizeof(q), errstr));
        reply_error(resp, 503, "kafka_unavailable",
                    "the batch could not be written to Kafka; nothing was accepted, retry later",
                    NULL);
        goto out;
    }
    /* This instance answers `queued` at once; the copy from the topic (and
     * aggregate's later documents) follow through the status consumer. */
    status = batch_status_json(&b);
    if (status)
        table_put_status(a->table, b.id, status, strlen(status), 1);
    metric_inc(m_batches, 1);
    metric_inc(m_items, (long long)b.total);
    LOG_INFO("batch_accepted", "batch=%s tenant=%s items=%zu ms=%lld", b.id, tenant, b.total,
             (long long)(clk_mono_ms() - t0));
    answer = batch_accepted_json(&b);
    if (!answer) {
        reply_error(resp, 500, "internal", "out of memory", NULL);
        goto out;
    }
    char location[64];
    snprintf(location, sizeof(location), "/v1/batch/%s", b.id);
    reply(resp, 202, answer, strlen(answer));
    u_map_put(resp->map_header, "Location", location);
out:
    if (answer) {
        OPENSSL_cleanse(answer, strlen(answer));
        free(answer);
    }
    free(status);
    free(secret_enc);
    size_t total = b.total;
    batch_release(&b);
    /* A large batch's parse tree and message copies are gone now; hand the
     * pages back instead of keeping the peak resident. */
    if (total > 10000)
        malloc_trim(0);
}

static void h_batch(struct api *a, const struct _u_request *req, struct _u_response *resp,
                    const char *tenant)
{
    submit(a, req, resp, tenant, 0);
}

static void h_single(struct api *a, const struct _u_request *req, struct _u_response *resp,
                     const char *tenant)
{
    submit(a, req, resp, tenant, 1);
}

/* ------------------------------------------------------------------ status and results */

static const char *path_id(const struct _u_request *req)
{
    const char *id = u_map_get(req->map_url, "id");
    return id && ids_valid("bat", id) ? id : NULL;
}

/* Parses ?limit= and ?cursor=; answers 422 and returns -1 when bad. */
static int page_params(const struct _u_request *req, struct _u_response *resp, int *limit,
                       int64_t *cursor)
{
    const char *l = u_map_get(req->map_url, "limit"), *c = u_map_get(req->map_url, "cursor");
    char *end;
    *limit = RESULTS_LIMIT_DEFAULT;
    *cursor = -1;
    if (l) {
        long v = strtol(l, &end, 10);
        if (!*l || *end || v < 1 || v > RESULTS_LIMIT_MAX) {
            reply_error(resp, 422, "invalid_field", "limit: must be a whole number from 1 to 1000",
                        json_pack("{s:s}", "field", "limit"));
            return -1;
        }
        *limit = (int)v;
    }
    if (c) {
        long long v = strtoll(c, &end, 10);
        if (!*c || *end || v < 0 || !isdigit((unsigned char)*c)) {
            reply_error(resp, 422, "invalid_field", "cursor: not a cursor of this API",
                        json_pack("{s:s}", "field", "cursor"));
            return -1;
        }
        *cursor = v;
    }
    return 0;
}

static json_t *next_link(const char *id, int64_t next, int limit)
{
    char url[160];
    if (next < 0)
        return json_null();
    snprintf(url, sizeof(url), "/v1/batch/%s/results?cursor=%lld&limit=%d", id, (long long)next,
             limit);
    return json_string(url);
}

/* Fills items and next for a page; answers the error itself and returns -1. */
static int page(struct api *a, struct _u_response *resp, const char *id, const json_t *doc,
                int64_t cursor, int limit, json_t **items, int64_t *next)
{
    char errstr[256];
    int rc = results_page(a->results, id, doc, cursor, limit, items, next, errstr, sizeof(errstr));
    if (rc == -2) {
        reply_error(resp, 422, "invalid_field", "cursor: outside this batch's results",
                    json_pack("{s:s}", "field", "cursor"));
    } else if (rc) {
        char q[300];
        LOG_WARN("results_failed", "batch=%s err=%s", id, log_quote(q, sizeof(q), errstr));
        reply_error(resp, 503, "kafka_unavailable", "the results could not be read from Kafka",
                    NULL);
    }
    if (rc) {
        json_decref(*items);
        *items = NULL;
    }
    return rc ? -1 : 0;
}

static void h_status(struct api *a, const struct _u_request *req, struct _u_response *resp,
                     const char *tenant)
{
    const char *id = path_id(req), *include = u_map_get(req->map_url, "include");
    char *body;
    size_t len;
    if (!id || table_get(a->table, id, tenant, &body, &len)) {
        not_found(resp, id ? id : "");
        return;
    }
    if (!include || strcmp(include, "results") != 0) {
        reply(resp, 200, body, len);
        free(body);
        return;
    }
    json_t *doc = json_loadb(body, len, 0, NULL), *items;
    free(body);
    int limit;
    int64_t cursor, next;
    if (!doc || page_params(req, resp, &limit, &cursor) ||
        page(a, resp, id, doc, cursor, limit, &items, &next)) {
        json_decref(doc);
        return;
    }
    json_object_set_new(doc, "results", items);
    json_object_set_new(doc, "results_next", next_link(id, next, limit));
    reply_json(resp, 200, doc);
    json_decref(doc);
}

static void h_results(struct api *a, const struct _u_request *req, struct _u_response *resp,
                      const char *tenant)
{
    const char *id = path_id(req);
    json_t *doc = id ? table_get_json(a->table, id, tenant) : NULL, *items;
    int limit;
    int64_t cursor, next;
    if (!doc) {
        not_found(resp, id ? id : "");
        return;
    }
    if (page_params(req, resp, &limit, &cursor) == 0 &&
        page(a, resp, id, doc, cursor, limit, &items, &next) == 0) {
        json_t *out =
            json_pack("{s:s,s:O,s:o,s:o}", "id", id, "status", json_object_get(doc, "status"),
                      "results", items, "next", next_link(id, next, limit));
        reply_json(resp, 200, out);
        json_decref(out);
    }
    json_decref(doc);
}

/* ------------------------------------------------------------------ cancel and redeliver */

struct sent {
    atomic_int done;
    rd_kafka_resp_err_t err;
};

void api_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    kafka_dr_default(rk, msg, opaque);
    struct sent *s = msg->_private;
    if (s) {
        s->err = msg->err;
        atomic_store(&s->done, 1);
    }
}

/* Produces one record and waits for Kafka's acknowledgement. Takes
 * ownership of hdrs. 0 ok, -1 with errstr. */
static int produce_sync(struct api *a, const char *topic, const char *key, const void *value,
                        size_t len, rd_kafka_headers_t *hdrs, char *errstr, size_t errstr_size)
{
    struct sent s = {0};
    rd_kafka_resp_err_t err = rd_kafka_producev(
        a->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&s), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
        return -1;
    }
    /* message.timeout.ms bounds this wait: the report always comes. */
    while (!atomic_load(&s.done))
        rd_kafka_poll(a->producer, 20);
    if (s.err) {
        snprintf(errstr, errstr_size, "delivery: %s", rd_kafka_err2str(s.err));
        return -1;
    }
    return 0;
}

static int is_final(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "cancelled") == 0;
}

static void h_cancel(struct api *a, const struct _u_request *req, struct _u_response *resp,
                     const char *tenant)
{
    const char *id = path_id(req);
    json_t *doc = id ? table_get_json(a->table, id, tenant) : NULL;
    char errstr[256], now[CLK_ISO_LEN];
    if (!doc) {
        not_found(resp, id ? id : "");
        return;
    }
    const char *status = jx_str(doc, "status", "");
    if (is_final(status)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the batch is already %s", status);
        reply_error(resp, 409, "batch_finished", msg, json_pack("{s:s}", "status", status));
        json_decref(doc);
        return;
    }
    clk_iso8601(clk_now_ms(), now);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s}", "type", "cancel", "id", id, "tenant", tenant,
                            "cancelled_at", now);
    size_t len;
    char *value = jx_dump(rec, &len);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "ferry-type", -1, "cancel", -1);
    rd_kafka_header_add(h, "ferry-batch", -1, id, -1);
    if (!value || produce_sync(a, topic_name(&a->st->topics, TOPIC_BATCHES), id, value, len, h,
                               errstr, sizeof(errstr))) {
        metric_inc(m_produce_errors, 1);
        reply_error(resp, 503, "kafka_unavailable", "the cancel could not be written to Kafka",
                    NULL);
    } else {
        LOG_INFO("batch_cancel", "batch=%s tenant=%s", id, tenant);
        json_t *out = json_pack("{s:s,s:s,s:b,s:s}", "id", id, "status", status, "cancel_requested",
                                1, "cancelled_at", now);
        reply_json(resp, 202, out);
        json_decref(out);
    }
    free(value);
    json_decref(rec);
    json_decref(doc);
}

static void h_deliveries(struct api *a, const struct _u_request *req, struct _u_response *resp,
                         const char *tenant)
{
    const char *id = path_id(req);
    long long total = 0;
    json_t *list = id ? table_attempts(a->table, id, tenant, &total) : NULL;
    if (!list) {
        not_found(resp, id ? id : "");
        return;
    }
    json_t *out = json_pack("{s:s,s:I,s:o}", "id", id, "total_attempts", (json_int_t)total,
                            "deliveries", list);
    reply_json(resp, 200, out);
    json_decref(out);
}

struct task_copy {
    const char *delivery_id;
    char *value;
    size_t len;
    rd_kafka_headers_t *hdrs;
};

static int on_task(void *arg, const rd_kafka_message_t *m)
{
    struct task_copy *tc = arg;
    json_t *doc = json_loadb(m->payload, m->len, 0, NULL);
    if (strcmp(jx_str(doc, "delivery_id", ""), tc->delivery_id) == 0 &&
        (tc->value = malloc(m->len ? m->len : 1))) {
        memcpy(tc->value, m->payload, m->len);
        tc->len = m->len;
        rd_kafka_headers_t *h;
        tc->hdrs = rd_kafka_message_headers(m, &h) == 0 ? rd_kafka_headers_copy(h)
                                                        : rd_kafka_headers_new(4);
    }
    json_decref(doc);
    return 1;
}

static void h_redeliver(struct api *a, const struct _u_request *req, struct _u_response *resp,
                        const char *tenant)
{
    const char *id = path_id(req);
    struct table_task task;
    struct task_copy tc = {0};
    char errstr[256];
    int64_t next;
    int rc = id ? table_task(a->table, id, tenant, &task) : -1;
    if (rc == -1) {
        not_found(resp, id ? id : "");
        return;
    }
    if (rc == -2) {
        reply_error(resp, 409, "nothing_to_redeliver",
                    "no webhook of this batch has been attempted yet; redeliver works once the "
                    "batch finished and its webhook was tried",
                    NULL);
        return;
    }
    tc.delivery_id = task.delivery_id;
    if (reader_scan(a->readers, task.topic, task.partition, task.offset, task.offset, a->timeout_ms,
                    on_task, &tc, &next, errstr, sizeof(errstr))) {
        reply_error(resp, 503, "kafka_unavailable", "the webhook task could not be read", NULL);
        return;
    }
    if (!tc.value) {
        reply_error(resp, 409, "nothing_to_redeliver",
                    "the original webhook task is no longer in Kafka (retention)", NULL);
        return;
    }
    /* Same bytes, same delivery id: a fresh first attempt. */
    rd_kafka_header_remove(tc.hdrs, "ferry-attempt");
    rd_kafka_header_remove(tc.hdrs, "ferry-due-ms");
    rd_kafka_header_remove(tc.hdrs, "ferry-first-attempt-ms");
    rd_kafka_header_remove(tc.hdrs, "ferry-last-error");
    rd_kafka_header_remove(tc.hdrs, "ferry-origin");
    rd_kafka_header_add(tc.hdrs, "ferry-attempt", -1, "1", -1);
    if (produce_sync(a, topic_name(&a->st->topics, TOPIC_WEBHOOKS), id, tc.value, tc.len, tc.hdrs,
                     errstr, sizeof(errstr))) {
        metric_inc(m_produce_errors, 1);
        reply_error(resp, 503, "kafka_unavailable", "the webhook could not be re-enqueued", NULL);
    } else {
        LOG_INFO("redeliver", "batch=%s delivery=%s event=%s", id, task.delivery_id, task.event);
        json_t *out = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "delivery_id", task.delivery_id,
                                "event", task.event, "status", "queued");
        reply_json(resp, 202, out);
        json_decref(out);
    }
    free(tc.value);
}

/* ------------------------------------------------------------------ dispatch */

static struct route routes[] = {
    {"POST", "/v1/batch", "submit", h_batch, NULL, NULL},
    {"POST", "/v1/scrape/async", "scrape_async", h_single, NULL, NULL},
    {"GET", "/v1/batch/:id", "status", h_status, NULL, NULL},
    {"GET", "/v1/batch/:id/results", "results", h_results, NULL, NULL},
    {"DELETE", "/v1/batch/:id", "cancel", h_cancel, NULL, NULL},
    {"GET", "/v1/batch/:id/deliveries", "deliveries", h_deliveries, NULL, NULL},
    {"POST", "/v1/batch/:id/redeliver", "redeliver", h_redeliver, NULL, NULL},
};

static void count(const char *route, unsigned int code)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%u\"", route, code);
    metric_inc(
        metric_counter("ferry_ingest_requests_total", "API requests by route and status", labels),
        1);
}

static int on_request(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct route *r = user;
    int64_t t0 = clk_mono_us();
    const char *tenant =
        keys_tenant(r->api->keys, u_map_get_case(req->map_header, "Authorization"));
    if (!tenant) {
        reply_error(resp, 401, "unauthorized", "missing or unknown API key (Authorization: Bearer)",
                    NULL);
        u_map_put(resp->map_header, "WWW-Authenticate", "Bearer");
    } else {
        r->fn(r->api, req, resp, tenant);
    }
    metric_observe(r->latency, (double)(clk_mono_us() - t0) / 1e6);
    count(r->name, resp->status);
    return U_CALLBACK_COMPLETE;
}

static int on_unknown(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)user;
    char msg[160];
    snprintf(msg, sizeof(msg), "no route %.20s %.100s", req->http_verb, req->http_url);
    reply_error(resp, 404, "not_found", msg, NULL);
    count("unknown", 404);
    return U_CALLBACK_COMPLETE;
}

void api_metrics_init(struct api *a)
{
    m_batches = metric_counter("ferry_ingest_batches_accepted_total", "Batches accepted", "");
    m_items = metric_counter("ferry_ingest_items_accepted_total", "Items accepted", "");
    m_produce_errors = metric_counter("ferry_ingest_produce_errors_total",
                                      "Writes to Kafka that failed (the client got a 503)", "");
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "route=\"%s\"", routes[i].name);
        routes[i].api = a;
        routes[i].latency =
            metric_histogram("ferry_ingest_request_seconds", "API request latency by route", labels,
                             metric_latency_bounds, metric_latency_n);
    }
}

int api_add_routes(struct api *a, struct _u_instance *inst)
{
    (void)a;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (ulfius_add_endpoint_by_val(inst, routes[i].method, NULL, routes[i].path, 0, on_request,
                                       &routes[i]) != U_OK)
            return -1;
    return ulfius_set_default_endpoint(inst, on_unknown, NULL) == U_OK ? 0 : -1;
}
