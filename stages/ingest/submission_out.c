/* The messages a validated submission becomes (submission.h): its scrape
 * requests, the batch record, the `queued` status document and the 202
 * answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "schema.h"
#include "scrapereq.h"
#include "submission.h"

const char *submission_item(const struct submission *b, size_t index, const json_t **headers)
{
    *headers = NULL;
    if (b->profile) {
        const json_t *e = json_array_get(b->expanded, index);
        const json_t *h = json_object_get(e, "headers");
        if (h && json_object_size(h) > 0)
            *headers = h;
        return jx_str(e, "url", "");
    }
    if (index < b->n_urls)
        return json_string_value(json_array_get(b->urls, index));
    json_t *it = json_array_get(b->items, index - b->n_urls);
    json_t *h = json_object_get(it, "headers");
    if (h && json_object_size(h) > 0)
        *headers = h;
    return jx_str(it, "url", "");
}

long submission_request_json(const struct submission *b, size_t index, char **buf, size_t *cap)
{
    const json_t *headers;
    const char *url = submission_item(b, index, &headers);
    char *hdr = headers ? jx_dump(headers, NULL) : NULL;
    /* The caller's storage, kept from item to item, written through buf. */
    struct buf w = {*buf, 0, *buf ? *cap : 0, BUF_NO_MAX};
    struct scrapereq r = {.batch_id = b->id,
                          .tenant = b->tenant,
                          .index = (long long)index,
                          .url = url,
                          .headers = hdr};
    if (b->track) {
        r.track_key = b->track[index].key;
        r.track_previous = b->track[index].previous;
    }
    scrapereq_begin(&w, &r);
    int rc = submission_rules_request(b, index, &w);
    buf_adds(&w, b->request_tail);
    free(hdr);
    *buf = w.ptr;
    *cap = w.alloc;
    return rc ? -1 : (long)w.len;
}

/* A run of a schedule says so in its record and its status; a tracked
 * one's status counts verdicts from the start. */
static void add_schedule_members(json_t *doc, const struct submission *b, int status)
{
    if (!doc || !b->schedule_id[0])
        return;
    json_object_set_new(doc, "schedule_id", json_string(b->schedule_id));
    json_object_set_new(doc, "scheduled_for", json_string(b->scheduled_for));
    if (!b->track)
        return;
    if (status)
        json_object_set_new(doc, "changes",
                            json_pack("{s:i,s:i,s:i}", "new", 0, "same", 0, "changed", 0));
    else
        json_object_set_new(doc, "track_changes", json_true());
}

static json_t *webhook_public(const struct submission *b)
{
    if (!b->webhook_url)
        return json_null();
    return json_pack("{s:s,s:O}", "url", b->webhook_url, "events", b->events);
}

char *submission_record_json(const struct submission *b, const char *secret_enc)
{
    json_t *wh = json_null();
    if (b->webhook_url) {
        wh = json_pack("{s:s,s:O,s:s?,s:n,s:n}", "url", b->webhook_url, "events", b->events,
                       "secret_enc", secret_enc, "previous_secret_enc", "previous_secret_until");
        /* No secret of its own: deliver signs with the tenant's, looked up
         * at each attempt. */
        if (b->tenant_secret)
            json_object_set_new(wh, "tenant_secret", json_true());
    }
    json_t *doc = json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:O,s:O,s:O}", SCHEMA_VERSION_KEY,
                            SCHEMA_BATCHES, "type", "batch", "id", b->id, "tenant", b->tenant,
                            "created_at", b->created_at, "total", (json_int_t)b->total, "formats",
                            b->formats, "options", b->options, "metadata", b->metadata);
    add_schedule_members(doc, b, 0);
    /* The spec rides here once; each request names it by hash. */
    if (doc && b->extract) {
        json_object_set(doc, "extract", b->extract);
        json_object_set_new(doc, "extract_hash", json_string(b->extract_hash));
    }
    if (doc && b->profile)
        json_object_set_new(doc, "endpoint", json_string(b->profile->name));
    /* A rendered batch's options are its too (a retry renders alike). */
    if (doc && b->render)
        json_object_update(doc, b->render);
    if (doc && b->retry_of[0])
        json_object_set_new(doc, "retry_of", json_string(b->retry_of));
    if (doc && b->crawl) {
        json_object_set_new(doc, "kind", json_string("crawl"));
        json_object_set(doc, "crawl", b->crawl);
    }
    if (doc)
        json_object_set_new(doc, "webhook", wh);
    else
        json_decref(wh);
    char *s = doc ? jx_dump(doc, NULL) : NULL;
    json_decref(doc);
    return s;
}

char *submission_status_json(const struct submission *b)
{
    json_t *doc =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:i,s:i,s:i,s:{},s:i,s:i,s:n,s:s,s:n,s:s,s:n,s:O}",
                  SCHEMA_VERSION_KEY, SCHEMA_STATUS, "id", b->id, "tenant", b->tenant, "kind",
                  "batch", "status", "queued", "total", (json_int_t)b->total, "processed", 0,
                  "succeeded", 0, "failed", 0, "errors", "progress", 0, "credits_charged", 0,
                  "estimated_completion", "created_at", b->created_at, "started_at", "updated_at",
                  b->created_at, "completed_at", "metadata", b->metadata);
    if (!doc)
        return NULL;
    /* The members aggregate's documents have, in the same order. */
    add_schedule_members(doc, b, 1);
    if (b->crawl) {
        /* The start page is found and accepted; total grows from there. */
        json_object_set_new(doc, "kind", json_string("crawl"));
        json_object_set_new(doc, "discovered", json_integer(1));
    }
    if (b->retry_of[0])
        json_object_set_new(doc, "retry_of", json_string(b->retry_of));
    json_object_set_new(doc, "webhook", webhook_public(b));
    json_object_set_new(doc, "kafka", json_null());
    char *s = jx_dump(doc, NULL);
    json_decref(doc);
    return s;
}

char *submission_accepted_json(const struct submission *b)
{
    char url[64];
    snprintf(url, sizeof(url), "/v1/batch/%s", b->id);
    json_t *doc = json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", b->id, "status", "queued", "total",
                            (json_int_t)b->total, "created_at", b->created_at, "status_url", url);
    if (doc && b->retry_of[0])
        json_object_set_new(doc, "retry_of", json_string(b->retry_of));
    if (doc && b->crawl)
        json_object_set_new(doc, "kind", json_string("crawl"));
    if (doc && b->secret_generated)
        json_object_set_new(doc, "webhook_signature_secret", json_string(b->secret));
    if (doc && b->invalid)
        json_object_set(doc, "invalid_urls", b->invalid);
    if (doc && b->schedule_id[0]) {
        json_object_set_new(doc, "schedule_id", json_string(b->schedule_id));
        json_object_set_new(doc, "scheduled_for", json_string(b->scheduled_for));
    }
    char *s = doc ? jx_dump(doc, NULL) : NULL;
    json_decref(doc);
    return s;
}
