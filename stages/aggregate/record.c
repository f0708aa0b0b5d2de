#include "record.h"

#include <stdio.h>
#include <stdlib.h>
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

/* ---- a validating JSON scanner for results, the hot path: no tree, no
 * allocation but the inline text. It accepts exactly RFC 8259 JSON
 * (UTF-8 checked, nesting capped), as jansson would. */

struct scan {
    const char *p, *end;
    int depth;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* A string at s->p ('"'); sets *plain when it has no escapes. */
static int scan_string(struct scan *s, int *plain)
{
    const unsigned char *p = (const unsigned char *)s->p + 1, *end = (const unsigned char *)s->end;
    *plain = 1;
    while (p < end) {
        unsigned c = *p;
        if (c == '"') {
            s->p = (const char *)p + 1;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            *plain = 0;
            if (++p >= end)
                return -1;
            if (*p == 'u') {
                if (end - p < 5 || hex4((const char *)p + 1) < 0)
                    return -1;
                p += 5;
            } else if (strchr("\"\\/bfnrt", *p) && *p) {
                p++;
            } else {
                return -1;
            }
            continue;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        /* UTF-8: the lead byte's length, continuation bytes, no overlongs
         * or surrogates. */
        int n = c >= 0xF0 && c <= 0xF4 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 && c < 0xE0 ? 1 : -1;
        if (n < 0 || end - p <= n)
            return -1;
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return -1;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) ||
            (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))
            return -1;
        p += n + 1;
    }
    return -1;
}

static int scan_number(struct scan *s)
{
    const char *p = s->p;
    if (p < s->end && *p == '-')
        p++;
    if (p >= s->end)
        return -1;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return -1;
    }
    if (p < s->end && *p == '.') {
        const char *d = ++p;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return -1;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        const char *d = p;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return -1;
    }
    s->p = p;
    return 0;
}

static int scan_value(struct scan *s);

static int scan_container(struct scan *s, char close, int object)
{
    int plain;
    if (++s->depth > RECORD_MAX_DEPTH)
        return -1;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        skip_ws(s);
        if (object) {
            if (s->p >= s->end || *s->p != '"' || scan_string(s, &plain))
                return -1;
            skip_ws(s);
            if (s->p >= s->end || *s->p++ != ':')
                return -1;
        }
        if (scan_value(s))
            return -1;
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p++ != close)
            return -1;
        s->depth--;
        return 0;
    }
}

static int scan_literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int scan_value(struct scan *s)
{
    int plain;
    skip_ws(s);
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '{': return scan_container(s, '}', 1);
    case '[': return scan_container(s, ']', 0);
    case '"': return scan_string(s, &plain);
    case 't': return scan_literal(s, "true");
    case 'f': return scan_literal(s, "false");
    case 'n': return scan_literal(s, "null");
    default: return scan_number(s);
    }
}

/* The top-level members the aggregator reads, and the inline text: every
 * member but batch_id and tenant, copied as written. */
static int scan_result(struct record *r, const char *buf, size_t len, const char **status,
                       size_t *status_len, char *errstr, size_t errstr_size)
{
    struct scan s = {buf, buf + len, 1};
    const char *id = NULL, *idx = NULL;
    size_t id_len = 0;
    int plain, seen_index = 0;
    char *out = malloc(len + 2), *o = out;
    if (!out)
        abort();
    *o++ = '{';
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        goto bad;
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}')
        s.p++;
    else
        for (;;) {
            skip_ws(&s);
            const char *member = s.p, *key = s.p + 1;
            if (s.p >= s.end || *s.p != '"' || scan_string(&s, &plain))
                goto bad;
            size_t key_len = (size_t)(s.p - key - 1);
            skip_ws(&s);
            if (s.p >= s.end || *s.p++ != ':')
                goto bad;
            skip_ws(&s);
            const char *value = s.p;
            if (scan_value(&s))
                goto bad;
            size_t value_len = (size_t)(s.p - value);
#define KEY_IS(k) (plain && key_len == sizeof(k) - 1 && memcmp(key, k, key_len) == 0)
            if (KEY_IS("batch_id") || KEY_IS("tenant")) {
                if (KEY_IS("batch_id")) {
                    if (id || *value != '"')
                        goto dup_or_type;
                    id = value + 1;
                    id_len = value_len - 2;
                }
            } else {
                if (KEY_IS("index")) {
                    if (seen_index++)
                        goto dup_or_type;
                    idx = value;
                } else if (KEY_IS("status")) {
                    if (*status || *value != '"')
                        goto dup_or_type;
                    *status = value + 1;
                    *status_len = value_len - 2;
                }
                if (o > out + 1)
                    *o++ = ',';
                memcpy(o, member, (size_t)(s.p - member));
                o += s.p - member;
            }
#undef KEY_IS
            skip_ws(&s);
            if (s.p >= s.end)
                goto bad;
            if (*s.p == ',') {
                s.p++;
                continue;
            }
            if (*s.p++ != '}')
                goto bad;
            break;
        }
    skip_ws(&s);
    if (s.p != s.end)
        goto bad;
    *o++ = '}';
    *o = '\0';
    r->text = out;
    r->text_len = (size_t)(o - out);

    if (!id || id_len >= sizeof(r->batch_id)) {
        snprintf(errstr, errstr_size, "batch_id: missing or not a batch id");
        return -1;
    }
    memcpy(r->batch_id, id, id_len);
    r->batch_id[id_len] = '\0';
    r->index = -1;
    if (idx && *idx >= '0' && *idx <= '9') {
        char *end;
        long long v = strtoll(idx, &end, 10);
        if (*end != '.' && *end != 'e' && *end != 'E')
            r->index = v;
    }
    return 0;
dup_or_type:
    snprintf(errstr, errstr_size, "duplicate or mistyped batch_id/index/status");
    free(out);
    return -1;
bad:
    snprintf(errstr, errstr_size, "not JSON: syntax error at byte %zu", (size_t)(s.p - buf));
    free(out);
    return -1;
}

int record_parse_result(struct record *r, const void *buf, size_t len, const char *key,
                        size_t key_len, long long max_items, char *errstr, size_t errstr_size)
{
    const char *status = NULL;
    size_t status_len = 0;
    char code[16];
    memset(r, 0, sizeof(*r));
    r->type = RECORD_RESULT;
    if (!buf || len == 0) {
        snprintf(errstr, errstr_size, "empty value");
        return -1;
    }
    if (scan_result(r, buf, len, &status, &status_len, errstr, errstr_size))
        return -1;
    if (!ids_valid("bat", r->batch_id)) {
        snprintf(errstr, errstr_size, "batch_id: missing or not a batch id");
        return -1;
    }
    if (key && (key_len != strlen(r->batch_id) || memcmp(key, r->batch_id, key_len) != 0)) {
        snprintf(errstr, errstr_size, "key does not match batch_id");
        return -1;
    }
    if (r->index < 0 || r->index >= max_items) {
        snprintf(errstr, errstr_size, "index: not 0..%lld", max_items - 1);
        return -1;
    }
    if (!status || status_len >= sizeof(code) || memchr(status, '\\', status_len)) {
        snprintf(errstr, errstr_size, "status: missing or unknown");
        return -1;
    }
    memcpy(code, status, status_len);
    code[status_len] = '\0';
    if ((r->code = state_code_parse(code)) == -2) {
        snprintf(errstr, errstr_size, "status: missing or unknown");
        return -1;
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
