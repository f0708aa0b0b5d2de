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

/* A string at *p (its opening quote), escapes resolved, into out
 * (NUL-terminated; at most as many bytes as the literal takes); past it.
 * Its length, or -1 to give up. */
static long plain_chars(const char **p, const char *end, char *out)
{
    const char *s = *p;
    if (s >= end || *s != '"')
        return -1;
    s++;
    char *o = out;
    while (s < end) {
        unsigned char c = (unsigned char)*s++;
        if (c == '"') {
            *o = '\0';
            *p = s;
            return o - out;
        }
        if (c < 0x20 || c > 0x7e)
            return -1;
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        if (s >= end)
            return -1;
        switch (*s++) {
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

static long read_chars(struct rd *r)
{
    return plain_chars(&r->p, r->end, r->tmp);
}

/* An integer of at most 18 digits at *p, past it; -1 to give up (a
 * fraction, an exponent, a leading zero, more digits). */
static int plain_int(const char **p, const char *end, long long *out)
{
    const char *s = *p;
    int neg = s < end && *s == '-';
    const char *d = s + neg, *q = d;
    while (q < end && *q >= '0' && *q <= '9')
        q++;
    size_t digits = (size_t)(q - d);
    if (digits == 0 || digits > 18 || (digits > 1 && *d == '0'))
        return -1;
    if (q < end && (*q == '.' || *q == 'e' || *q == 'E'))
        return -1;
    long long v = 0;
    for (const char *c = d; c < q; c++)
        v = v * 10 + (*c - '0');
    *p = q;
    *out = neg ? -v : v;
    return 0;
}

static json_t *read_number(struct rd *r)
{
    long long v;
    return plain_int(&r->p, r->end, &v) ? NULL : json_integer(v);
}

/* Past the literal w (true, false, null) at *p; -1 when it is not there. */
static int plain_word(const char **p, const char *end, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(end - *p) < n || memcmp(*p, w, n) != 0)
        return -1;
    *p += n;
    return 0;
}

static int read_word(struct rd *r, const char *w)
{
    return plain_word(&r->p, r->end, w);
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

/* ------------------------------------------------------------ scanning
 *
 * jx_scan's typed readers (jx.h): the plain subset above, one member at a
 * time. The validating readers are in jx_scan.c. */

int jx_scan_peek(struct jx_scan *s)
{
    jx_scan_ws(s);
    return s->p < s->end ? (unsigned char)*s->p : 0;
}

int jx_scan_enter(struct jx_scan *s, char open)
{
    if (jx_scan_peek(s) != open || s->depth >= s->max_depth)
        return -1;
    s->p++;
    s->depth++;
    s->first = 1;
    return 0;
}

/* Past the separator before the next member or element: 1 when one
 * follows, 0 past `close`, -1 otherwise. */
static int scan_next(struct jx_scan *s, char close)
{
    int c = jx_scan_peek(s);
    if (c == close) {
        s->p++;
        s->depth--;
        s->first = 0; /* the enclosing container has had a value */
        return 0;
    }
    if (!s->first) {
        if (c != ',')
            return -1;
        s->p++;
    }
    s->first = 0;
    return 1;
}

int jx_scan_member(struct jx_scan *s, const char **key)
{
    int more = scan_next(s, '}');
    if (more <= 0)
        return more;
    size_t len;
    if (jx_scan_str(s, key, &len) || jx_scan_peek(s) != ':')
        return -1;
    s->p++;
    return 1;
}

int jx_scan_element(struct jx_scan *s)
{
    int more = scan_next(s, ']');
    /* "[1,]": a comma must be followed by a value. */
    if (more > 0 && jx_scan_peek(s) == ']')
        return -1;
    return more;
}

int jx_scan_str(struct jx_scan *s, const char **out, size_t *len)
{
    jx_scan_ws(s);
    long n = plain_chars(&s->p, s->end, s->arena);
    if (n < 0)
        return -1;
    *out = s->arena;
    *len = (size_t)n;
    s->arena += n + 1;
    return 0;
}

int jx_scan_int(struct jx_scan *s, long long *out)
{
    jx_scan_ws(s);
    return plain_int(&s->p, s->end, out);
}

int jx_scan_bool(struct jx_scan *s, int *out)
{
    jx_scan_ws(s);
    if (plain_word(&s->p, s->end, "true") == 0)
        *out = 1;
    else if (plain_word(&s->p, s->end, "false") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

int jx_scan_null(struct jx_scan *s)
{
    jx_scan_ws(s);
    return plain_word(&s->p, s->end, "null") == 0;
}

int jx_scan_end(struct jx_scan *s)
{
    jx_scan_ws(s);
    return s->p == s->end ? 0 : -1;
}
