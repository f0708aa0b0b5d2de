/* GET /v1/batch/{id}/deliveries/{delivery_id}/request?attempt=N: what an
 * attempt POSTed, its body and headers.
 *
 * Kept by reference, not by copy: the attempt record names the webhook
 * task it sent (topic, partition, offset: the task in webhooks, which every
 * retry tier and a redelivery carry unchanged), and the task holds the
 * exact bytes signed and POSTed (webhooks.schema.json, "body"). So the body
 * is read back from Kafka here, byte for byte what the receiver got, for
 * as long as the webhooks topic retains it; storing a copy per attempt
 * would write every body (inline results, up to
 * FERRY_WEBHOOK_INLINE_MAX_BYTES) once more per retry for a page that is
 * seldom opened. The headers are deliver's (sender.c), from the attempt:
 * the event, delivery and batch ids, the attempt's unix second. The two
 * signatures are not given: they are HMACs under the secret in force at
 * that attempt, which only deliver opens, and nothing keeps them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "jx.h"

#define ATTEMPT_MAX 1000000

struct body_copy {
    const char *delivery_id;
    json_t *task; /* the task record, when it is this delivery's */
};

static int on_record(void *arg, const rd_kafka_message_t *m)
{
    struct body_copy *bc = arg;
    json_t *doc = json_loadb(m->payload, m->len, 0, NULL);
    if (json_is_string(json_object_get(doc, "body")) &&
        strcmp(jx_str(doc, "delivery_id", ""), bc->delivery_id) == 0)
        bc->task = doc;
    else
        json_decref(doc);
    return 1;
}

/* The newest kept attempt of delivery `dlv` (number `n`; 0: any), borrowed
 * from `list`, or NULL. */
static json_t *find_attempt(json_t *list, const char *dlv, long long n)
{
    for (size_t i = json_array_size(list); i-- > 0;) {
        json_t *a = json_array_get(list, i);
        if (strcmp(jx_str(a, "delivery_id", ""), dlv) == 0 && (!n || jx_int(a, "attempt", 0) == n))
            return a;
    }
    return NULL;
}

static json_t *headers_of(const json_t *a)
{
    char ts[32];
    int64_t at = 0;
    const char *dlv = jx_str(a, "delivery_id", "");
    if (clk_parse_iso8601(jx_str(a, "at", ""), &at))
        at = 0;
    snprintf(ts, sizeof(ts), "%lld", (long long)(at / 1000));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "Content-Type", "application/json",
                     "User-Agent", "ferry/" FERRY_VERSION, "X-Ferry-Event", jx_str(a, "event", ""),
                     "X-Ferry-Delivery", dlv, "X-Ferry-Batch-Id", jx_str(a, "batch_id", ""),
                     "X-Ferry-Timestamp", ts, "webhook-id", dlv, "webhook-timestamp", ts);
}

static void h_request(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                      const char *tenant)
{
    const char *id = api_batch_id(req), *dlv = httpd_param(req, "delivery_id");
    int n = 0; /* 0: the newest */
    long long total;
    if (api_int_param(req, resp, "attempt", ATTEMPT_MAX, &n))
        return;
    json_t *list = id ? table_attempts(a->table, id, tenant, &total) : NULL;
    if (!list) {
        api_not_found(resp, id);
        return;
    }
    struct body_copy bc = {dlv ? dlv : "", NULL};
    json_t *at = dlv ? find_attempt(list, dlv, n) : NULL, *task = json_object_get(at, "task");
    char errstr[256];
    int64_t next;
    if (!at) {
        httpd_error(resp, 404, "not_found",
                    "no such attempt among this batch's kept attempts (the newest 50)",
                    json_pack("{s:s?,s:I}", "delivery_id", dlv, "attempt", (json_int_t)n));
        goto out;
    }
    if (!json_is_object(task)) {
        httpd_error(resp, 410, "payload_gone", "this attempt names no task to read back", NULL);
        goto out;
    }
    if (reader_scan(a->readers, jx_str(task, "topic", ""), (int32_t)jx_int(task, "partition", 0),
                    jx_int(task, "offset", 0), jx_int(task, "offset", 0), a->timeout_ms, on_record,
                    &bc, &next, errstr, sizeof(errstr))) {
        httpd_error(resp, 503, "kafka_unavailable", "the webhook task could not be read", NULL);
        goto out;
    }
    if (!bc.task) {
        httpd_error(resp, 410, "payload_gone",
                    "the webhook task is no longer in Kafka (past the webhooks topic's retention)",
                    NULL);
        goto out;
    }
    json_t *body = json_object_get(bc.task, "body");
    json_t *doc = json_pack(
        "{s:s,s:s,s:s,s:O,s:O,s:s,s:O,s:o,s:O,s:I,s:[ss],s:O}", "delivery_id", dlv, "batch_id", id,
        "event", jx_str(at, "event", ""), "attempt", json_object_get(at, "attempt"), "at",
        json_object_get(at, "at"), "method", "POST", "url", json_object_get(at, "url"), "headers",
        headers_of(at), "body", body, "body_bytes", (json_int_t)json_string_length(body),
        "omitted_headers", "X-Ferry-Signature", "webhook-signature", "task", task);
    httpd_json_doc(resp, 200, doc); /* NULL (out of memory): 500 */
    json_decref(doc);
out:
    json_decref(bc.task);
    json_decref(list);
}

const struct api_route api_payload_routes[] = {
    {"GET", "/v1/batch/:id/deliveries/:delivery_id/request", "delivery_request", h_request, 0,
     NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
