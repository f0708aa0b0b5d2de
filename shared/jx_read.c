/*
 * jx_read — the quick path of jx_parse for the JSON ferry's own stages
 * write: ASCII, short escapes, integers. jansson's reader takes about 200
 * instructions a byte (one callback per character, a string buffer per
 * token): 42k for a 200-byte scrape request, a fifth of scrape's work per
 * URL. This one builds the same jansson values in one pass over the bytes
 * and gives up (NULL) at anything it does not handle exactly as jansson
 * does: any byte above 0x7e or below 0x20 in a string, \u escapes, numbers
 * with a fraction or exponent or more than 18 digits, duplicate keys, depth
 * beyond the cap, anything malformed. jx_parse then reads the input again
 * with jansson, whose value or error message is the answer.
 */
#include <stdlib.h>
#include <string.h>

#include "jx.h"

struct rd {
    const char *p, *end;
    char *tmp; /* unescaped string scratch, len + 1 bytes */
};

static json_t *read_value(struct rd *r, int depth);

static void skip_ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* A string's bytes, escapes resolved, into r->tmp (NUL-terminated); its
 * length, or -1 to give up. */
static long read_chars(struct rd *r)
{
    if (r->p >= r->end || *r->p != '"')
        return -1;
    r->p++;
    char *o = r->tmp;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p++;
        if (c == '"') {
            *o = '\0';
            return o - r->tmp;
        }
        if (c < 0x20 || c > 0x7e)
            return -1;
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (r->p >= r->end)
            return -1;
        switch (*r->p++) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        default: return -1; /* \u and anything else: jansson's */
        }
    }
    return -1;
}

static json_t *read_number(struct rd *r)
{
    const char *s = r->p;
    int neg = *s == '-';
    const char *d = s + neg, *q = d;
    while (q < r->end && *q >= '0' && *q <= '9')
        q++;
    size_t digits = (size_t)(q - d);
    if (digits == 0 || digits > 18 || (digits > 1 && *d == '0'))
        return NULL;
    if (q < r->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return NULL;
    long long v = 0;
    for (const char *c = d; c < q; c++)
        v = v * 10 + (*c - '0');
    r->p = q;
    return json_integer(neg ? -v : v);
}

static int read_word(struct rd *r, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
        return -1;
    r->p += n;
    return 0;
}

/* After a member or element: 1 at a comma, 0 at `close`, -1 otherwise;
 * past either. */
static int read_sep(struct rd *r, char close)
{
    skip_ws(r);
    if (r->p < r->end && (*r->p == ',' || *r->p == close))
        return *r->p++ == ',';
    return -1;
}

static json_t *read_object(struct rd *r, int depth)
{
    json_t *o = json_object();
    r->p++; /* { */
    skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return o;
    }
    for (;;) {
        skip_ws(r);
        long n = read_chars(r);
        if (n < 0 || json_object_get(o, r->tmp))
            goto fail;
        char *key = strdup(r->tmp);
        skip_ws(r);
        json_t *v = NULL;
        if (r->p < r->end && *r->p == ':') {
            r->p++;
            v = read_value(r, depth);
        }
        if (!v || !key || json_object_set_new_nocheck(o, key, v)) {
            free(key);
            json_decref(v);
            goto fail;
        }
        free(key);
        int more = read_sep(r, '}');
        if (more == 0)
            return o;
        if (more < 0)
            goto fail;
    }
fail:
    json_decref(o);
    return NULL;
}

static json_t *read_array(struct rd *r, int depth)
{
    json_t *a = json_array();
    r->p++; /* [ */
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return a;
    }
    for (;;) {
        json_t *v = read_value(r, depth);
        if (!v || json_array_append_new(a, v))
            goto fail;
        int more = read_sep(r, ']');
        if (more == 0)
            return a;
        if (more < 0)
            goto fail;
    }
fail:
    json_decref(a);
    return NULL;
}

static json_t *read_value(struct rd *r, int depth)
{
    skip_ws(r);
    if (r->p >= r->end)
        return NULL;
    switch (*r->p) {
    case '{': return depth > 0 ? read_object(r, depth - 1) : NULL;
    case '[': return depth > 0 ? read_array(r, depth - 1) : NULL;
    case '"': {
        long n = read_chars(r);
        return n < 0 ? NULL : json_stringn_nocheck(r->tmp, (size_t)n);
    }
    case 't': return read_word(r, "true") ? NULL : json_true();
    case 'f': return read_word(r, "false") ? NULL : json_false();
    case 'n': return read_word(r, "null") ? NULL : json_null();
    default: return read_number(r);
    }
}

json_t *jx_read_plain(const char *buf, size_t len, int max_depth)
{
    struct rd r = {buf, buf + len, malloc(len + 1)};
    if (!r.tmp)
        return NULL;
    skip_ws(&r);
    json_t *v = NULL;
    if (r.p < r.end && (*r.p == '{' || *r.p == '['))
        v = read_value(&r, max_depth);
    if (v) {
        skip_ws(&r);
        if (r.p != r.end) { /* trailing bytes: jansson's error */
            json_decref(v);
            v = NULL;
        }
    }
    free(r.tmp);
    return v;
}
