#include "record.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "jx.h"
#include "state.h"

static int parse(struct record *r, const void *buf, size_t len, char *errstr, size_t errstr_size)
{
    char why[256];
    memset(r, 0, sizeof(*r));
    if (!buf || len == 0) {
        snprintf(errstr, errstr_size, "empty value");
        return -1;
    }
    r->root = jx_parse(buf, len, RECORD_MAX_DEPTH, why, sizeof(why));
    if (!r->root) {
        snprintf(errstr, errstr_size, "not JSON: %s", why);
        return -1;
    }
    if (!json_is_object(r->root)) {
        snprintf(errstr, errstr_size, "not a JSON object");
        return -1;
    }
    return 0;
}

static int take_id(struct record *r, const char *field, const char *key, size_t key_len,
                   char *errstr, size_t errstr_size)
{
    const char *id = jx_str(r->root, field, NULL);
    if (!id || !ids_valid("bat", id)) {
        snprintf(errstr, errstr_size, "%s: missing or not a batch id", field);
        return -1;
    }
    if (key && (key_len != strlen(id) || memcmp(key, id, key_len) != 0)) {
        snprintf(errstr, errstr_size, "key does not match %s", field);
        return -1;
    }
    snprintf(r->batch_id, sizeof(r->batch_id), "%s", id);
    return 0;
}

static int check_webhook(const json_t *wh, char *errstr, size_t errstr_size)
{
    if (!wh || json_is_null(wh))
        return 0;
    if (!json_is_object(wh) || !jx_str(wh, "url", NULL)) {
        snprintf(errstr, errstr_size, "webhook: not null nor an object with a url");
        return -1;
    }
    const json_t *events = json_object_get(wh, "events");
    if (events && !json_is_array(events)) {
        snprintf(errstr, errstr_size, "webhook.events: not an array");
        return -1;
    }
    return 0;
}

int record_parse_batch(struct record *r, const void *buf, size_t len, const char *type_header,
                       const char *key, size_t key_len, long long max_items, char *errstr,
                       size_t errstr_size)
{
    int64_t ms;
    if (parse(r, buf, len, errstr, errstr_size))
        return -1;
    const char *type = type_header ? type_header : jx_str(r->root, "type", "");
    if (strcmp(type, "batch") == 0) {
        r->type = RECORD_BATCH;
    } else if (strcmp(type, "cancel") == 0) {
        r->type = RECORD_CANCEL;
    } else {
        snprintf(errstr, errstr_size, "type: neither batch nor cancel");
        return -1;
    }
    if (take_id(r, "id", key, key_len, errstr, errstr_size))
        return -1;
    if (!jx_str(r->root, "tenant", NULL)) {
        snprintf(errstr, errstr_size, "tenant: missing");
        return -1;
    }
    if (r->type == RECORD_CANCEL)
        return 0;
    r->total = jx_int(r->root, "total", -1);
    if (r->total < 1 || r->total > max_items) {
        snprintf(errstr, errstr_size, "total: not 1..%lld", max_items);
        return -1;
    }
    if (clk_parse_iso8601(jx_str(r->root, "created_at", ""), &ms)) {
        snprintf(errstr, errstr_size, "created_at: not an RFC 3339 UTC time");
        return -1;
    }
    return check_webhook(json_object_get(r->root, "webhook"), errstr, errstr_size);
}

int record_parse_result(struct record *r, const void *buf, size_t len, const char *key,
                        size_t key_len, long long max_items, char *errstr, size_t errstr_size)
{
    if (parse(r, buf, len, errstr, errstr_size))
        return -1;
    r->type = RECORD_RESULT;
    if (take_id(r, "batch_id", key, key_len, errstr, errstr_size))
        return -1;
    r->index = jx_int(r->root, "index", -1);
    if (r->index < 0 || r->index >= max_items) {
        snprintf(errstr, errstr_size, "index: not 0..%lld", max_items - 1);
        return -1;
    }
    const char *status = jx_str(r->root, "status", NULL);
    if (!status || (r->code = state_code_parse(status)) == -2) {
        snprintf(errstr, errstr_size, "status: missing or unknown");
        return -1;
    }
    return 0;
}

void record_release(struct record *r)
{
    json_decref(r->root);
    r->root = NULL;
}

int record_wants_event(const json_t *batch_record, const char *event)
{
    const json_t *wh = json_object_get(batch_record, "webhook");
    if (!json_is_object(wh))
        return 0;
    const json_t *events = json_object_get(wh, "events");
    int terminal = strncmp(event, "batch.", 6) == 0;
    if (!json_is_array(events))
        return terminal; /* the default subscription: the end of the batch */
    size_t i;
    const json_t *e;
    json_array_foreach(events, i, e) {
        const char *name = json_string_value(e);
        if (!name)
            continue;
        if (strcmp(name, event) == 0 || (terminal && strcmp(name, "batch.completed") == 0))
            return 1;
    }
    return 0;
}
