#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ids.h"
#include "kafka.h"
#include "metrics.h"

/* Every group of routes ingest serves: one entry per group. */
static const struct api_route *const groups[] = {
    api_submit_routes,  api_batch_routes, api_delivery_routes,   api_dead_routes,
    api_payload_routes, api_files_routes, api_ops_routes,        api_usage_routes,
    api_webhook_routes, api_list_routes,  api_retry_routes,      api_schedule_routes,
    api_crawl_routes,   api_ui_routes,    api_throughput_routes,
};

/* A route as mounted: its table row, the api, its latency histogram. */
struct api_mount {
    const struct api_route *route;
    struct api *api;
    struct metric *latency;
};

static void count(const char *route, unsigned int code)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%u\"", route, code);
    metric_inc(
        metric_counter("ferry_ingest_requests_total", "API requests by route and status", labels),
        1);
}

static void on_request(struct httpd_req *req, struct httpd_resp *resp, void *arg)
{
    struct api_mount *m = arg;
    int64_t t0 = clk_mono_us();
    const char *tenant = NULL;
    if (!m->route->public &&
        !(tenant = keys_tenant(m->api->keys, httpd_header(req, "Authorization")))) {
        httpd_resp_header(resp, "WWW-Authenticate", "Bearer");
        httpd_error(resp, 401, "unauthorized", "missing or unknown API key (Authorization: Bearer)",
                    NULL);
    } else {
        m->route->fn(m->api, req, resp, tenant);
    }
    metric_observe(m->latency, (double)(clk_mono_us() - t0) / 1e6);
    count(m->route->name, httpd_resp_status(resp));
}

static void on_unknown(struct httpd_req *req, struct httpd_resp *resp, void *arg)
{
    (void)arg;
    char msg[160];
    snprintf(msg, sizeof(msg), "no route %.20s %.100s", httpd_method(req), httpd_path(req));
    httpd_error(resp, 404, "not_found", msg, NULL);
    count("unknown", 404);
}

int api_init(struct api *a, struct httpd *h, char *errstr, size_t errstr_size)
{
    size_t n = 0;
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        for (const struct api_route *r = groups[g]; r->method; r++)
            n++;
    a->mounts = calloc(n, sizeof(*a->mounts));
    if (!a->mounts) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    a->m_batches = metric_counter("ferry_ingest_batches_accepted_total", "Batches accepted", "");
    a->m_items = metric_counter("ferry_ingest_items_accepted_total", "Items accepted", "");
    a->m_produce_errors = metric_counter("ferry_ingest_produce_errors_total",
                                         "Writes to Kafka that failed (the client got a 503)", "");
    api_throughput_init();
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        for (const struct api_route *r = groups[g]; r->method; r++) {
            struct api_mount *m = &a->mounts[a->n_mounts++];
            char labels[64];
            snprintf(labels, sizeof(labels), "route=\"%s\"", r->name);
            m->route = r;
            m->api = a;
            m->latency =
                metric_histogram("ferry_ingest_request_seconds", "API request latency by route",
                                 labels, metric_latency_bounds, metric_latency_n);
            if (httpd_route(h, r->method, r->path, r->blocks, on_request, m)) {
                snprintf(errstr, errstr_size, "cannot add route %s %s", r->method, r->path);
                return -1;
            }
        }
    httpd_fallback(h, on_unknown, NULL);
    return 0;
}

void api_release(struct api *a)
{
    free(a->mounts);
    a->mounts = NULL;
    a->n_mounts = 0;
}

const char *api_batch_id(const struct httpd_req *req)
{
    const char *id = httpd_param(req, "id");
    return id && ids_valid("bat", id) ? id : NULL;
}

int api_is_final(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "cancelled") == 0;
}

void api_not_found(struct httpd_resp *resp, const char *id)
{
    httpd_error(resp, 404, "not_found", "no such batch", json_pack("{s:s}", "id", id ? id : ""));
}

/* ------------------------------------------------------------ one record, acknowledged */

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

int api_produce_sync(struct api *a, const char *topic, const char *key, const void *value,
                     size_t len, rd_kafka_headers_t *hdrs, char *errstr, size_t errstr_size)
{
    struct sent s = {0};
    struct kafka_msg m = {.topic = topic,
                          .partition = RD_KAFKA_PARTITION_UA,
                          .key = key,
                          .key_len = strlen(key),
                          .value = (void *)value,
                          .len = len,
                          .msgflags = RD_KAFKA_MSG_F_COPY,
                          .headers = hdrs,
                          .opaque = &s};
    rd_kafka_resp_err_t err = kafka_produce_wait(a->producer, &m, a->timeout_ms);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
        metric_inc(a->m_produce_errors, 1);
        return -1;
    }
    /* message.timeout.ms bounds this wait: the report always comes. */
    while (!atomic_load(&s.done))
        rd_kafka_poll(a->producer, 20);
    if (s.err) {
        snprintf(errstr, errstr_size, "delivery: %s", rd_kafka_err2str(s.err));
        metric_inc(a->m_produce_errors, 1);
        return -1;
    }
    return 0;
}
