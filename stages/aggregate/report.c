#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jx.h"
#include "record.h"
#include "schema.h"

static json_t *iso_or_null(int64_t ms)
{
    char buf[CLK_ISO_LEN];
    if (ms <= 0)
        return json_null();
    clk_iso8601(ms, buf);
    return json_string(buf);
}

static json_t *copy_or(const json_t *obj, const char *key, json_t *fallback)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        return fallback;
    }
    json_decref(fallback);
    return json_deep_copy(v);
}

/* When the batch should be done at the rate observed so far: now plus the
 * items left at the pace of the items counted since the batch started. */
static json_t *estimate(const struct tally *t, int64_t now_ms)
{
    int64_t since = t->started_ms;
    if (t->first_ms > 0 && (since <= 0 || t->first_ms < since))
        since = t->first_ms;
    if (t->processed <= 0 || t->processed >= t->total || since <= 0 || now_ms <= since)
        return json_null();
    double per_item = (double)(now_ms - since) / (double)t->processed;
    return iso_or_null(now_ms + (int64_t)(per_item * (double)(t->total - t->processed)));
}

json_t *report_status(const struct tally *t, const char *status, int64_t now_ms,
                      const char *results_topic)
{
    const json_t *rec = t->record;
    json_t *d = json_object();
    int final = strcmp(status, REPORT_RUNNING) != 0;
    long long failed = 0;
    json_t *errors = json_object();

    for (int i = 0; i < STATUS__COUNT; i++) {
        failed += t->errors[i];
        if (t->errors[i])
            json_object_set_new(errors, status_name(i), json_integer(t->errors[i]));
    }
    for (size_t i = 0; i < t->n_others; i++) {
        failed += t->others[i].n;
        json_object_set_new(errors, t->others[i].name, json_integer(t->others[i].n));
    }
    json_object_set_new(d, SCHEMA_VERSION_KEY, json_integer(SCHEMA_STATUS));
    json_object_set_new(d, "id", json_string(t->id));
    json_object_set_new(d, "tenant", json_string(jx_str(rec, "tenant", "")));
    json_object_set_new(d, "kind", copy_or(rec, "kind", json_string("batch")));
    json_object_set_new(d, "status", json_string(status));
    json_object_set_new(d, "total", json_integer(t->total));
    if (record_is_crawl(rec))
        json_object_set_new(d, "discovered", json_integer(t->discovered));
    json_object_set_new(d, "processed", json_integer(t->processed));
    json_object_set_new(d, "succeeded", json_integer(t->succeeded));
    json_object_set_new(d, "failed", json_integer(failed));
    json_object_set_new(d, "errors", errors);
    double progress = t->total > 0 ? (double)t->processed / (double)t->total : 0;
    json_object_set_new(d, "progress", json_real(round(progress * 1000) / 1000));
    json_object_set_new(d, "credits_charged", json_integer(t->credits));
    json_object_set_new(d, "created_at", copy_or(rec, "created_at", json_null()));
    json_object_set_new(d, "started_at", iso_or_null(t->started_ms));
    json_object_set_new(d, "updated_at", iso_or_null(now_ms));
    json_object_set_new(d, "completed_at", final ? iso_or_null(now_ms) : json_null());
    json_object_set_new(d, "estimated_completion", final ? json_null() : estimate(t, now_ms));
    json_object_set_new(d, "metadata", copy_or(rec, "metadata", json_object()));
    /* Runs of a schedule and retries of a batch say so (DESIGN, wave 2). */
    static const char *const echoed[] = {"schedule_id", "scheduled_for", "retry_of"};
    for (size_t i = 0; i < sizeof(echoed) / sizeof(echoed[0]); i++)
        if (json_object_get(rec, echoed[i]))
            json_object_set_new(d, echoed[i], copy_or(rec, echoed[i], json_null()));

    /* A run of a schedule with track_changes counts its verdicts. */
    if (jx_bool(rec, "track_changes", 0)) {
        json_t *c = json_object();
        for (int i = 0; i < CHANGE__COUNT; i++)
            json_object_set_new(c, change_name((enum change)i), json_integer(t->changes[i]));
        json_object_set_new(d, "changes", c);
    }

    const json_t *wh = json_object_get(rec, "webhook");
    if (json_is_object(wh)) {
        json_t *w = json_object();
        json_object_set_new(w, "url", copy_or(wh, "url", json_null()));
        json_object_set_new(w, "events",
                            copy_or(wh, "events", json_pack("[s]", "batch.completed")));
        json_object_set_new(d, "webhook", w);
    } else {
        json_object_set_new(d, "webhook", json_null());
    }
    /* Where the results lie, for Kafka consumers (and ingest's reader):
     * one partition, the offsets of the first and last counted result's
     * records; null until one is counted. */
    if (t->res_first >= 0)
        json_object_set_new(d, "kafka",
                            json_pack("{s:s, s:i, s:I, s:I}", "results_topic", results_topic,
                                      "partition", (int)t->partition, "first_offset",
                                      (json_int_t)t->res_first, "last_offset",
                                      (json_int_t)t->res_last));
    else
        json_object_set_new(d, "kafka", json_null());
    return d;
}

char *report_canonical(const char *text, size_t len, size_t *out_len)
{
    /* Duplicate names are allowed, as JSON.parse allows them: jansson then
     * keeps the last value where the name first stood, as JavaScript does. */
    json_error_t err;
    if (jx_depth(text, len, 64) > 64)
        return NULL;
    json_t *v = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!v)
        return NULL;
    char *out = jx_dump(v, out_len);
    json_decref(v);
    return out;
}

const char *report_event(const char *status)
{
    if (strcmp(status, REPORT_FAILED) == 0)
        return "batch.failed";
    if (strcmp(status, REPORT_CANCELLED) == 0)
        return "batch.cancelled";
    return "batch.completed";
}

/* The body's document: its schema version and the event first, then the
 * status fields a user sees. */
static json_t *body_doc(const json_t *status_doc, const char *event)
{
    json_t *d = json_object();
    const char *k;
    json_t *v;
    json_object_set_new(d, SCHEMA_VERSION_KEY, json_integer(SCHEMA_STATUS));
    json_object_set_new(d, "event", json_string(event));
    json_object_foreach((json_t *)status_doc, k, v)
    {
        if (strcmp(k, "tenant") != 0 && strcmp(k, SCHEMA_VERSION_KEY) != 0)
            json_object_set(d, k, v);
    }
    return d;
}

size_t report_body_base(const json_t *status_doc, const char *event)
{
    size_t len = 0;
    json_t *d = body_doc(status_doc, event);
    json_object_set_new(d, "results", json_array());
    free(jx_dump(d, &len));
    json_decref(d);
    return len;
}

char *report_body(const json_t *status_doc, const char *event, const char *results,
                  size_t results_len, size_t *len)
{
    json_t *d = body_doc(status_doc, event);
    if (!results) {
        char url[96];
        snprintf(url, sizeof(url), "/v1/batch/%s/results", jx_str(status_doc, "id", ""));
        json_object_set_new(d, "results_truncated", json_true());
        json_object_set_new(d, "results_url", json_string(url));
    }
    size_t n;
    char *text = jx_dump(d, &n);
    json_decref(d);
    if (results) {
        /* Splice the array in as the last member: the results are already
         * serialized, one by one, as they arrived. */
        static const char key[] = ",\"results\":";
        char *out = malloc(n + sizeof(key) + results_len + 1);
        if (!out)
            abort();
        memcpy(out, text, n - 1); /* without the closing brace */
        memcpy(out + n - 1, key, sizeof(key) - 1);
        memcpy(out + n - 1 + sizeof(key) - 1, results, results_len);
        n = n - 1 + sizeof(key) - 1 + results_len;
        out[n++] = '}';
        out[n] = '\0';
        free(text);
        text = out;
    }
    *len = n;
    return text;
}

char *report_item_body(const char *batch_id, long long index, const char *result, size_t result_len,
                       int truncated, size_t *len)
{
    if (truncated) {
        /* Rare (a result near the Kafka message size): through jansson. */
        char url[96];
        json_t *r = jx_parse(result, result_len, 64, url, sizeof(url));
        json_t *d =
            json_pack("{s:i, s:s, s:s, s:I}", SCHEMA_VERSION_KEY, SCHEMA_WEBHOOK_ITEM, "event",
                      "item.completed", "batch_id", batch_id, "index", (json_int_t)index);
        json_object_del(r, "data");
        json_object_set_new(d, "result", r ? r : json_null());
        snprintf(url, sizeof(url), "/v1/batch/%s/results", batch_id);
        json_object_set_new(d, "result_truncated", json_true());
        json_object_set_new(d, "results_url", json_string(url));
        char *text = jx_dump(d, len);
        json_decref(d);
        return text;
    }
    size_t cap = result_len + strlen(batch_id) + 96;
    char *out = malloc(cap);
    if (!out)
        abort();
    int n = snprintf(out, cap,
                     "{\"" SCHEMA_VERSION_KEY "\":%d,\"event\":\"item.completed\","
                     "\"batch_id\":\"%s\",\"index\":%lld,\"result\":",
                     SCHEMA_WEBHOOK_ITEM, batch_id, index);
    memcpy(out + n, result, result_len);
    n += (int)result_len;
    out[n++] = '}';
    out[n] = '\0';
    *len = (size_t)n;
    return out;
}

char *report_task(const json_t *record, const char *event, long item, const char *body,
                  size_t body_len, int64_t now_ms, char delivery_id[IDS_DELIVERY_LEN], size_t *len)
{
    const json_t *wh = json_object_get(record, "webhook");
    const char *id = jx_str(record, "id", "");
    char at[CLK_ISO_LEN];
    clk_iso8601(now_ms, at);
    ids_delivery(id, event, item, delivery_id);

    /* Everything but the body through jansson (small), then the body. */
    json_t *t = json_object();
    json_object_set_new(t, SCHEMA_VERSION_KEY, json_integer(SCHEMA_WEBHOOKS));
    json_object_set_new(t, "delivery_id", json_string(delivery_id));
    json_object_set_new(t, "event", json_string(event));
    json_object_set_new(t, "batch_id", json_string(id));
    if (item >= 0) /* which item: deliver copies it into its attempt records */
        json_object_set_new(t, "index", json_integer(item));
    json_object_set_new(t, "tenant", json_string(jx_str(record, "tenant", "")));
    json_object_set_new(t, "url", copy_or(wh, "url", json_null()));
    json_object_set_new(t, "created_at", json_string(at));
    json_object_set_new(t, "secret_enc", copy_or(wh, "secret_enc", json_null()));
    json_object_set_new(t, "previous_secret_enc", copy_or(wh, "previous_secret_enc", json_null()));
    json_object_set_new(t, "previous_secret_until",
                        copy_or(wh, "previous_secret_until", json_null()));
    /* Signed with the tenant's secret, which deliver looks up per attempt. */
    if (json_is_true(json_object_get(wh, "tenant_secret")))
        json_object_set_new(t, "tenant_secret", json_true());
    size_t head_len;
    char *head = jx_dump(t, &head_len);
    json_decref(t);
    /* The body as a string through the shared writer: copying it into a
     * json_t first would cost a copy of up to 1 MiB of inline results. */
    struct buf out = BUF_INIT(BUF_NO_MAX);
    buf_reserve(&out, head_len + 16 + body_len + body_len / 8);
    buf_add(&out, head, head_len - 1); /* without the closing brace */
    buf_adds(&out, ",\"body\":");
    jx_add_str(&out, body, body_len);
    buf_addc(&out, '}');
    free(head);
    return buf_detach(&out, len);
}
