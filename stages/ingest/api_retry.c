/*
 * POST /v1/batch/{id}/retry, body optional: {"status": ["timeout", "connect"]}
 * (default every status but ok, i.e. "failed"). Submits a new batch of the
 * source batch's items whose first result had one of those statuses (and,
 * for "failed", items that never got one), with the source's options,
 * formats, metadata and webhook (URL, events and the same secret: a
 * receiver set up for the first batch verifies the retry), each item with
 * the URL and headers it was fetched with. The new batch's status names
 * the source in `retry_of`. 202 like a submit; 409 while the source is
 * still queued or running; 422 when no item matches; 410 when the source's
 * records have left Kafka (past FERRY_TOPIC_RETENTION).
 *
 * Everything is read back from Kafka as it streams past (origin.h): the
 * source's results are never held, only one byte per item.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "jx.h"
#include "log.h"
#include "origin.h"
#include "words.h"

/* A retry reads the source's topics whole (its results may be gigabytes of
 * pages): it may take longer than a submit. */
#define RETRY_READ_MS 120000

/* The members of a batch record that are submit options, carried as they
 * are into the retry (a new submit option belongs here too). */
static const char *const carried[] = {"formats", "options",  "metadata",   "extract",  "endpoint",
                                      "render",  "wait_for", "screenshot", "block_ads"};

static void bad_field(struct httpd_resp *resp, const char *field, const char *why)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "%s: %s", field, why);
    httpd_error(resp, 422, "invalid_field", msg, json_pack("{s:s}", "field", field));
}

/* The body's choice of statuses into pick (it borrows from doc). 0, or -1
 * answered. */
static int read_pick(struct httpd_req *req, struct httpd_resp *resp, json_t **doc,
                     struct origin_pick *pick)
{
    size_t len, i;
    char why[200];
    const char *body = httpd_body(req, &len), *k;
    json_t *v, *st;
    memset(pick, 0, sizeof(*pick));
    *doc = len ? jx_parse(body, len, 4, why, sizeof(why)) : json_object();
    if (!json_is_object(*doc)) {
        httpd_error(resp, 400, "invalid_json",
                    *doc ? "the body must be a JSON object" : "the body is not valid JSON", NULL);
        return -1;
    }
    json_object_foreach(*doc, k, v)
    {
        if (strcmp(k, "status") != 0) {
            char field[64];
            snprintf(field, sizeof(field), "%.60s", k);
            bad_field(resp, field, "unknown field");
            return -1;
        }
    }
    if (!(st = json_object_get(*doc, "status")) || json_is_null(st)) {
        pick->failed = 1;
        return 0;
    }
    if (!json_is_array(st) || json_array_size(st) == 0 || json_array_size(st) > ORIGIN_CODES_MAX) {
        bad_field(resp, "status", "must be a non-empty array of result statuses");
        return -1;
    }
    json_array_foreach(st, i, v)
    {
        const char *code = json_string_value(v);
        if (!code ||
            (strcmp(code, "failed") != 0 && status_parse(code, strlen(code)) == STATUS_UNKNOWN)) {
            char field[32];
            snprintf(field, sizeof(field), "status[%zu]", i);
            bad_field(resp, field,
                      "failed, or a result status (timeout, connect, http_error, ...)");
            return -1;
        }
        if (strcmp(code, "failed") == 0)
            pick->failed = 1;
        else
            pick->codes[pick->n_codes++] = code;
    }
    return 0;
}

/* The submit body of the retry: the wanted items, and the source record's
 * options and webhook. NULL answered. The secret it may hold is the
 * caller's to wipe. */
static json_t *retry_body(struct api *a, struct httpd_resp *resp, const char *id,
                          const json_t *record, json_t *items)
{
    json_t *body = json_pack("{s:o}", "items", items);
    const json_t *wh = json_object_get(record, "webhook");
    int endpoint = json_is_string(json_object_get(record, "endpoint"));
    for (size_t i = 0; i < sizeof(carried) / sizeof(carried[0]); i++) {
        json_t *v = json_object_get(record, carried[i]);
        /* An endpoint batch's record has the default formats, which its
         * submit may not name: its data is the profile's fields. */
        if (v && !(endpoint && strcmp(carried[i], "formats") == 0))
            json_object_set(body, carried[i], v);
    }
    if (!json_is_object(wh))
        return body;
    json_object_set(body, "webhook_url", json_object_get(wh, "url"));
    json_object_set(body, "webhook_events", json_object_get(wh, "events"));
    const char *sealed = jx_str(wh, "secret_enc", NULL);
    if (!sealed || jx_bool(wh, "tenant_secret", 0))
        return body; /* signed with the tenant's secret, as the source was */
    size_t len = 0;
    char *secret = a->sb ? secretbox_open(a->sb, sealed, id, &len) : NULL;
    if (!secret) {
        httpd_error(resp, 503, "webhooks_unavailable",
                    "the source batch's webhook secret does not open with this server's "
                    "FERRY_SECRET_KEY",
                    NULL);
        json_decref(body);
        return NULL;
    }
    json_object_set_new(body, "webhook_secret", json_stringn(secret, len));
    OPENSSL_cleanse(secret, len);
    free(secret);
    return body;
}

static void wipe(json_t *body)
{
    json_t *s = json_object_get(body, "webhook_secret");
    if (json_is_string(s))
        OPENSSL_cleanse((char *)json_string_value(s), json_string_length(s));
}

static void h_retry(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                    const char *tenant)
{
    const char *id = api_batch_id(req);
    json_t *doc = id ? table_get_json(a->table, id, tenant) : NULL, *pick_doc = NULL;
    json_t *record = NULL, *items = NULL, *body = NULL;
    struct origin o = {a->readers, a->producer, &a->st->topics, RETRY_READ_MS};
    struct origin_pick pick;
    struct submission b;
    struct submission_err err;
    unsigned char *want = NULL;
    char errstr[512], *text = NULL;
    size_t n_want = 0, text_len = 0;
    int64_t created_ms;
    int gone = 0;
    memset(&b, 0, sizeof(b));
    if (!doc) {
        api_not_found(resp, id);
        return;
    }
    const char *state = jx_str(doc, "status", "");
    long long total = jx_int(doc, "total", 0);
    if (!api_is_final(state)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the batch is still %s; retry it once it has finished", state);
        httpd_error(resp, 409, "batch_running", msg, json_pack("{s:s}", "status", state));
        goto out;
    }
    if (read_pick(req, resp, &pick_doc, &pick))
        goto out;
    if (total <= 0 || clk_parse_iso8601(jx_str(doc, "created_at", ""), &created_ms) ||
        !(want = calloc((size_t)total, 1))) {
        httpd_error(resp, 500, "internal", "the batch's status document is incomplete", NULL);
        goto out;
    }
    if (origin_pick_results(&o, id, doc, (size_t)total, &pick, want, &n_want, errstr,
                            sizeof(errstr)))
        goto kafka;
    if (n_want == 0) {
        json_t *asked = json_object_get(pick_doc, "status");
        httpd_error(resp, 422, "nothing_to_retry", "no item of the batch ended with those statuses",
                    asked ? json_pack("{s:O}", "status", asked)
                          : json_pack("{s:[s]}", "status", "failed"));
        goto out;
    }
    if (!(record = origin_record(&o, id, created_ms, &gone, errstr, sizeof(errstr))) ||
        !(items =
              origin_items(&o, id, created_ms,
                           txn_requests_topic(a->txn, jx_bool(record, "render", 0), (size_t)total),
                           (size_t)total, want, n_want, &gone, errstr, sizeof(errstr))))
        goto kafka;
    body = retry_body(a, resp, id, record, items);
    items = NULL;
    if (!body || !(text = jx_dump(body, &text_len)))
        goto out;
    if (submission_parse(&b, text, text_len, 0, tenant, &a->lim, &err)) {
        api_refuse(resp, &err);
        goto out;
    }
    snprintf(b.retry_of, sizeof(b.retry_of), "%s", id);
    if (api_tenant_defaults(a, &b, resp) == 0)
        api_write_batch(a, &b, resp);
    goto out;
kafka:
    if (gone) {
        httpd_error(resp, 410, "gone", errstr, NULL);
    } else {
        char q[600];
        LOG_WARN("retry_read_failed", "batch=%s err=%s", id, log_quote(q, sizeof(q), errstr));
        httpd_error(resp, 503, "kafka_unavailable", "the batch could not be read from Kafka", NULL);
    }
out:
    if (text) {
        OPENSSL_cleanse(text, text_len);
        free(text);
    }
    wipe(body);
    json_decref(body);
    json_decref(items);
    json_decref(record);
    json_decref(pick_doc);
    json_decref(doc);
    free(want);
    submission_release(&b);
}

const struct api_route api_retry_routes[] = {
    {"POST", "/v1/batch/:id/retry", "retry", h_retry, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
