#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jx.h"
#include "schema.h"

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
    if (parse(r, buf, len, errstr, errstr_size) ||
        schema_check(jx_int(r->root, SCHEMA_VERSION_KEY, 1), SCHEMA_BATCHES, errstr, errstr_size))
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

/* ---- results, the hot path: one pass of jx_scan, no tree, no allocation but
 * the inline text. */

/* A whole number member (0 .. max), -1 when it is not one. */
static long long member_int(const char *v, size_t len, long long max)
{
    long long n = 0;
    if (len == 0 || len > 18 || (v[0] == '0' && len > 1))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    return n <= max ? n : -1;
}

/* FNV-1a over bytes, continued from h (ids_hash's, one step at a time). */
static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

struct members {
    const char *id, *index, *status, *credits, *part, *parts, *change, *change_key, *hash, *version,
        *depth, *found_on, *input, *frontier, *final_url, *duration;
    size_t id_len, index_len, status_len, credits_len, part_len, parts_len, change_len,
        change_key_len, hash_len, version_len, depth_len, found_on_len, input_len, frontier_len,
        final_url_len, duration_len;
    size_t data_at, data_len; /* where data lies in the output text */
};

/* Copies every member but batch_id, tenant, part, parts and schema_version
 * (the record's, not the result's: schema.h) to r->text and notes the
 * members the aggregator reads. */
static int scan_members(struct record *r, const char *buf, size_t len, struct members *m,
                        char *errstr, size_t errstr_size)
{
    struct jx_scan s;
    int plain;
    char *out = malloc(len + 2), *o = out;
    if (!out)
        abort();
    jx_scan_init(&s, buf, len, NULL, RECORD_MAX_DEPTH);
    *o++ = '{';
    if (!jx_scan_eat(&s, '{'))
        goto bad;
    s.depth = 1;
    if (!jx_scan_eat(&s, '}'))
        for (;;) {
            const char *key;
            size_t key_len;
            jx_scan_ws(&s);
            const char *member = s.p;
            if (jx_scan_key(&s, &key, &key_len, &plain))
                goto bad;
            key++, key_len -= 2; /* without the quotes */
            jx_scan_ws(&s);
            const char *value = s.p;
            if (jx_scan_skip(&s))
                goto bad;
            size_t value_len = (size_t)(s.p - value);
#define KEY_IS(k) (plain && key_len == sizeof(k) - 1 && memcmp(key, k, key_len) == 0)
#define TAKE(field, quoted)                                                                        \
    do {                                                                                           \
        if (m->field || (quoted && *value != '"'))                                                 \
            goto dup_or_type;                                                                      \
        m->field = quoted ? value + 1 : value;                                                     \
        m->field##_len = quoted ? value_len - 2 : value_len;                                       \
    } while (0)
            if (KEY_IS("batch_id")) {
                TAKE(id, 1);
            } else if (KEY_IS("part")) {
                TAKE(part, 0);
            } else if (KEY_IS("parts")) {
                TAKE(parts, 0);
            } else if (KEY_IS(SCHEMA_VERSION_KEY)) {
                TAKE(version, 0);
            } else if (KEY_IS("frontier")) {
                TAKE(frontier, 0);
            } else if (!KEY_IS("tenant")) {
                if (KEY_IS("index"))
                    TAKE(index, 0);
                else if (KEY_IS("status"))
                    TAKE(status, 1);
                else if (KEY_IS("credits_charged"))
                    TAKE(credits, 0);
                else if (KEY_IS("change"))
                    TAKE(change, 0);
                else if (KEY_IS("change_key"))
                    TAKE(change_key, 1);
                else if (KEY_IS("content_hash"))
                    TAKE(hash, 0);
                else if (KEY_IS("depth"))
                    TAKE(depth, 0);
                else if (KEY_IS("found_on"))
                    TAKE(found_on, 0);
                else if (KEY_IS("input") && *value == '"')
                    TAKE(input, 1);
                else if (KEY_IS("final_url") && *value == '"')
                    TAKE(final_url, 1);
                else if (KEY_IS("duration_ms"))
                    TAKE(duration, 0);
                if (o > out + 1)
                    *o++ = ',';
                if (KEY_IS("data")) {
                    m->data_at = (size_t)(o - out);
                    m->data_len = (size_t)(s.p - member);
                }
                memcpy(o, member, (size_t)(s.p - member));
                o += s.p - member;
            }
#undef TAKE
#undef KEY_IS
            if (jx_scan_eat(&s, ','))
                continue;
            if (!jx_scan_eat(&s, '}'))
                goto bad;
            break;
        }
    jx_scan_ws(&s);
    if (s.p != s.end)
        goto bad;
    *o++ = '}';
    *o = '\0';
    r->text = out;
    r->text_len = (size_t)(o - out);
    r->canonical = s.canonical;
    return 0;
dup_or_type:
    snprintf(errstr, errstr_size, "duplicate or mistyped member");
    free(out);
    return -1;
bad:
    snprintf(errstr, errstr_size, "not JSON: syntax error at byte %zu", (size_t)(s.p - buf));
    free(out);
    return -1;
}

/* The status: a word of words.h, or an unknown one kept by name when it
 * is a plausible word ([a-z0-9_], short). */
static int take_status(struct tally_in *in, const char *v, size_t len)
{
    if (!v || len == 0 || len >= TALLY_NAME_MAX)
        return -1;
    in->status = status_parse(v, len);
    if (in->status != STATUS_UNKNOWN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_'))
            return -1;
    memcpy(in->other, v, len);
    in->other[len] = '\0';
    return 0;
}

/* The tracking members, when all are well-formed: a verdict (or null for
 * a failed item, then no hash), a change key and a hash. */
static void take_change(struct record *r, const struct members *m)
{
    size_t id_len;
    const char *input;
    if (!m->change || !m->change_key || m->change_key_len >= sizeof(r->change_key) ||
        changes_key_split(m->change_key, m->change_key_len, &id_len, &input))
        return;
    if (m->change_len > 2 && *m->change == '"') {
        enum change c = change_parse(m->change + 1, m->change_len - 2);
        if (c == CHANGE_UNKNOWN || !m->hash || m->hash_len != 18 ||
            !changes_hash_valid(m->hash + 1, 16))
            return;
        r->in.has_change = 1;
        r->in.change = c;
        memcpy(r->content_hash, m->hash + 1, 16);
        r->content_hash[16] = '\0';
    } else if (m->change_len != 4 || memcmp(m->change, "null", 4) != 0) {
        return;
    }
    memcpy(r->change_key, m->change_key, m->change_key_len);
    r->change_key[m->change_key_len] = '\0';
}

int record_parse_result(struct record *r, const void *buf, size_t len, const char *key,
                        size_t key_len, long long max_items, char *errstr, size_t errstr_size)
{
    struct members m = {0};
    struct tally_in *in = &r->in;
    memset(r, 0, sizeof(*r));
    r->type = RECORD_RESULT;
    if (!buf || len == 0) {
        snprintf(errstr, errstr_size, "empty value");
        return -1;
    }
    if (scan_members(r, buf, len, &m, errstr, errstr_size) ||
        schema_check(m.version ? strtoll(m.version, NULL, 10) : 1, SCHEMA_RESULTS, errstr,
                     errstr_size))
        return -1;
    if (!m.id || m.id_len >= sizeof(r->batch_id) || memchr(m.id, '\\', m.id_len)) {
        snprintf(errstr, errstr_size, "batch_id: missing or not a batch id");
        return -1;
    }
    memcpy(r->batch_id, m.id, m.id_len);
    r->batch_id[m.id_len] = '\0';
    if (!ids_valid("bat", r->batch_id)) {
        snprintf(errstr, errstr_size, "batch_id: missing or not a batch id");
        return -1;
    }
    if (key && (key_len != m.id_len || memcmp(key, r->batch_id, key_len) != 0)) {
        snprintf(errstr, errstr_size, "key does not match batch_id");
        return -1;
    }
    in->index = m.index ? member_int(m.index, m.index_len, max_items - 1) : -1;
    if (in->index < 0) {
        snprintf(errstr, errstr_size, "index: not 0..%lld", max_items - 1);
        return -1;
    }
    if (take_status(in, m.status, m.status_len)) {
        snprintf(errstr, errstr_size, "status: missing or not a status word");
        return -1;
    }
    in->credits = in->status != STATUS_UNKNOWN && status_counts(in->status) == STATUS_SUCCEEDED;
    if (m.credits && (in->credits = member_int(m.credits, m.credits_len, 1000000)) < 0) {
        snprintf(errstr, errstr_size, "credits_charged: not a whole number 0..1000000");
        return -1;
    }
    take_change(r, &m);
    r->depth = m.depth ? member_int(m.depth, m.depth_len, 1000000) : -1;
    r->found_on = m.found_on ? member_int(m.found_on, m.found_on_len, max_items - 1) : -1;
    r->duration_ms = m.duration ? member_int(m.duration, m.duration_len, 86400000) : -1;
    r->input = m.input;
    r->input_len = m.input_len;
    r->frontier = m.frontier;
    r->frontier_len = m.frontier_len;
    r->final_url = m.final_url;
    r->final_url_len = m.final_url_len;
    if (m.part || m.parts) {
        in->part = (int)(m.part ? member_int(m.part, m.part_len, RECORD_MAX_PARTS) : -1);
        in->parts = (int)(m.parts ? member_int(m.parts, m.parts_len, RECORD_MAX_PARTS) : -1);
        if (in->parts < 2 || in->part < 1 || in->part > in->parts) {
            snprintf(errstr, errstr_size, "part/parts: not 1 <= part <= parts, 2 <= parts <= %d",
                     RECORD_MAX_PARTS);
            return -1;
        }
        /* The head (every member but data) is the same in every part of
         * one attempt: fetched_at, duration_ms tell two attempts apart. */
        size_t after = m.data_at + m.data_len;
        in->attempt = fnv(fnv(14695981039346656037ULL, r->text, m.data_at), r->text + after,
                          r->text_len - after);
    }
    return 0;
}

void record_release(struct record *r)
{
    json_decref(r->root);
    r->root = NULL;
    free(r->text);
    r->text = NULL;
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
    json_array_foreach(events, i, e)
    {
        const char *name = json_string_value(e);
        if (!name)
            continue;
        if (strcmp(name, event) == 0 || (terminal && strcmp(name, "batch.completed") == 0))
            return 1;
    }
    return 0;
}

int record_wants_body(const json_t *batch_record)
{
    static const enum event ends[] = {EVENT_BATCH_COMPLETED, EVENT_BATCH_FAILED,
                                      EVENT_BATCH_CANCELLED};
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
        if (record_wants_event(batch_record, event_name(ends[i])))
            return 1;
    return json_object_get(batch_record, "schedule_id") &&
           record_wants_event(batch_record, event_name(EVENT_SCHEDULE_RUN));
}

int record_is_crawl(const json_t *batch_record)
{
    return strcmp(jx_str(batch_record, "kind", "batch"), "crawl") == 0;
}
