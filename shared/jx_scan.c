/* jx_scan's validating readers (jx.h, "scanning"): exactly RFC 8259, no
 * allocation, and whether the text is in JSON.stringify's form. */
#include <stdlib.h>
#include <string.h>

#include "jx.h"

void jx_scan_ws_run(struct jx_scan *s)
{
    const char *p = s->p;
    while (p < s->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    if (p != s->p)
        s->canonical = 0;
    s->p = p;
}

/* The value of four hex digits, -1 when one is not; *lower cleared by an
 * upper-case digit. */
static int hex4(const unsigned char *p, int *lower)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (int)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (int)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (int)(c - 'A' + 10);
            *lower = 0;
        } else {
            return -1;
        }
    }
    return v;
}

/* 1 when JSON.stringify writes code point v (< 0x20) as \u00xx, 0 when it
 * has a short escape for it. */
static int long_escape(int v)
{
    return v != '\b' && v != '\f' && v != '\n' && v != '\r' && v != '\t';
}

int jx_scan_skip_str_rest(struct jx_scan *s, const unsigned char *p, int *plain)
{
    const unsigned char *end = (const unsigned char *)s->end;
    *plain = 1;
    while (p < end) {
        p += jx_plain_run((const char *)p, (size_t)(end - p));
        if (p >= end)
            break;
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
                int lower = 1, v = end - p < 5 ? -1 : hex4(p + 1, &lower);
                if (v < 0)
                    return -1;
                if (!lower || v >= 0x20 || !long_escape(v))
                    s->canonical = 0;
                p += 5;
            } else if (*p && strchr("\"\\/bfnrt", *p)) {
                if (*p == '/')
                    s->canonical = 0;
                p++;
            } else {
                return -1;
            }
            continue;
        }
        /* UTF-8: the lead byte's length, continuation bytes, no overlongs
         * or surrogates. */
        int n = c >= 0xF5 ? -1 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : -1;
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

static int scan_number(struct jx_scan *s)
{
    const char *p = s->p, *digits;
    if (p < s->end && *p == '-')
        p++;
    digits = p;
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
    /* JavaScript prints integers below 2^53 digit for digit; "-0" is 0. */
    if (p - digits > 15 || (*digits == '0' && digits != s->p))
        s->canonical = 0;
    if (p < s->end && *p == '.') {
        const char *d = ++p;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return -1;
        s->canonical = 0;
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
        s->canonical = 0;
    }
    s->p = p;
    return 0;
}

void jx_scan_index_key(struct jx_scan *s, const char *key, size_t key_len)
{
    /* An array index (a canonical decimal below 2^32 - 1): JavaScript
     * orders such keys first, so the text may not keep its order. */
    const char *d = key + 1;
    size_t n = key_len - 2;
    if (n <= 10 && (n == 1 || *d != '0') && strspn(d, "0123456789") >= n &&
        strtoull(d, NULL, 10) <= 4294967294ULL)
        s->canonical = 0;
}

static int scan_container(struct jx_scan *s, char close, int object)
{
    const char *key;
    size_t key_len;
    int plain;
    if (++s->depth > s->max_depth)
        return -1;
    s->p++;
    if (jx_scan_eat(s, close)) {
        s->depth--;
        return 0;
    }
    for (;;) {
        if (object && jx_scan_key(s, &key, &key_len, &plain))
            return -1;
        if (jx_scan_skip(s))
            return -1;
        if (jx_scan_eat(s, ','))
            continue;
        if (!jx_scan_eat(s, close))
            return -1;
        s->depth--;
        return 0;
    }
}

static int scan_literal(struct jx_scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

int jx_scan_skip(struct jx_scan *s)
{
    int plain;
    jx_scan_ws(s);
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '{': return scan_container(s, '}', 1);
    case '[': return scan_container(s, ']', 0);
    case '"': return jx_scan_skip_str(s, &plain);
    case 't': return scan_literal(s, "true");
    case 'f': return scan_literal(s, "false");
    case 'n': return scan_literal(s, "null");
    default: return scan_number(s);
    }
}
