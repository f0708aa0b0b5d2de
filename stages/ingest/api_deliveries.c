/* The webhook of a batch: GET /v1/batch/{id}/deliveries (every attempt) and
 * POST /v1/batch/{id}/redeliver (the same task again, a fresh first attempt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fhdr.h"
#include "jx.h"
#include "log.h"

static void h_deliveries(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                         const char *tenant)
{
    const char *id = api_batch_id(req);
    long long total = 0;
    json_t *list = id ? table_attempts(a->table, id, tenant, &total) : NULL;
    if (!list) {
        api_not_found(resp, id);
        return;
    }
    json_t *out = json_pack("{s:s,s:I,s:o}", "id", id, "total_attempts", (json_int_t)total,
                            "deliveries", list);
    httpd_json_doc(resp, 200, out);
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

void api_redeliver_task(struct api *a, const char *batch_id, const struct table_task *task,
                        struct httpd_resp *resp)
{
    struct task_copy tc = {0};
    char errstr[256];
    int64_t next;
    tc.delivery_id = task->delivery_id;
    if (reader_scan(a->readers, task->topic, task->partition, task->offset, task->offset,
                    a->timeout_ms, on_task, &tc, &next, errstr, sizeof(errstr))) {
        httpd_error(resp, 503, "kafka_unavailable", "the webhook task could not be read", NULL);
        return;
    }
    if (!tc.value) {
        httpd_error(resp, 409, "nothing_to_redeliver",
                    "the original webhook task is no longer in Kafka (retention)", NULL);
        return;
    }
    /* Same bytes, same delivery id: a fresh first attempt. */
    static const enum fhdr attempt_headers[] = {FHDR_ATTEMPT, FHDR_DUE_MS, FHDR_FIRST_ATTEMPT_MS,
                                                FHDR_LAST_ERROR, FHDR_ORIGIN};
    for (size_t i = 0; i < sizeof(attempt_headers) / sizeof(attempt_headers[0]); i++)
        rd_kafka_header_remove(tc.hdrs, fhdr_name(attempt_headers[i]));
    fhdr_add(tc.hdrs, FHDR_ATTEMPT, "1");
    if (api_produce_sync(a, topic_name(&a->st->topics, TOPIC_WEBHOOKS), batch_id, tc.value, tc.len,
                         tc.hdrs, errstr, sizeof(errstr))) {
        httpd_error(resp, 503, "kafka_unavailable", "the webhook could not be re-enqueued", NULL);
    } else {
        LOG_INFO("redeliver", "batch=%s delivery=%s event=%s", batch_id, task->delivery_id,
                 task->event);
        json_t *out = json_pack("{s:s,s:s,s:s,s:s}", "id", batch_id, "delivery_id",
                                task->delivery_id, "event", task->event, "status", "queued");
        httpd_json_doc(resp, 202, out);
        json_decref(out);
    }
    free(tc.value);
}

static void h_redeliver(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                        const char *tenant)
{
    const char *id = api_batch_id(req);
    struct table_task task;
    int rc = id ? table_task(a->table, id, tenant, &task) : -1;
    if (rc == -1) {
        api_not_found(resp, id);
        return;
    }
    if (rc == -2) {
        httpd_error(resp, 409, "nothing_to_redeliver",
                    "no webhook of this batch has been attempted yet; redeliver works once the "
                    "batch finished and its webhook was tried",
                    NULL);
        return;
    }
    api_redeliver_task(a, id, &task, resp);
}

const struct api_route api_delivery_routes[] = {
    {"GET", "/v1/batch/:id/deliveries", "deliveries", h_deliveries, 0, httpd_never_blocks},
    {"POST", "/v1/batch/:id/redeliver", "redeliver", h_redeliver, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
