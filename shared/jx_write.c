/* jx's writer: JSON exactly as JavaScript's JSON.stringify(JSON.parse(text))
 * writes it (see jx.h for the rules). */
#include "jx.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* ------------------------------------------------------------ strings */

/* clang-format off */
const unsigned char jx_plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),                                     /* 0x00-0x1f: controls */
    1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    R16(1), R16(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \\ */, 1, 1, 1,
    R16(1), R16(1),
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), /* >= 0x80: decoded */
#undef R16
};
/* clang-format on */

static const char hex[] = "0123456789abcdef";

/* What the bytes at s (s[0] >= 0x80) are, by the WHATWG UTF-8 decoder
 * (what a browser or node does with bytes that claim to be UTF-8):
 *   > 0   a valid sequence of that many bytes;
 *   < 0   -n: n bytes (the "maximal subpart") that become one U+FFFD;
 *   0     a UTF-16 surrogate encoded as UTF-8 (ED A0..BF xx), 3 bytes: how
 *         a lone surrogate of a JavaScript string is stored in bytes (WTF-8);
 *         *cp is the surrogate. */
static int utf8_at(const unsigned char *s, size_t avail, unsigned *cp)
{
    unsigned c = s[0], lo = 0x80, hi = 0xbf, need;
    if (c >= 0xc2 && c <= 0xdf) /* two bytes, the most common: Latin letters */
        return avail >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : -1;
    if (c >= 0xe0 && c <= 0xef)
        need = 2, lo = c == 0xe0 ? 0xa0 : 0x80;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return -1;
    if (c == 0xed && avail >= 3 && s[1] >= 0xa0 && s[1] <= 0xbf && (s[2] & 0xc0) == 0x80) {
        *cp = 0xd000 | (unsigned)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
        return 0;
    }
    if (c == 0xed)
        hi = 0x9f;
    for (unsigned i = 1; i <= need; i++) {
        if (i >= avail || s[i] < lo || s[i] > hi)
            return -(int)i;
        lo = 0x80, hi = 0xbf;
    }
    return (int)need + 1;
}

/* The longest prefix of s[0..len) that JSON.stringify copies unchanged. */
size_t jx_plain_run(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    /* Eight ASCII bytes at a time with none of < 0x20, >= 0x80, '"', '\\'
     * (the has-zero-byte bit trick; a borrow can only flag a byte after a
     * real hit, so nothing is taken wrongly): scraped text is mostly these. */
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
        if (((v - ones * 0x20) | ((q - ones) & ~q) | ((b - ones) & ~b) | v) & high)
            break;
        p += 8;
    }
    while (p < end && jx_plain[*p])
        p++;
    return (size_t)(p - (const unsigned char *)s);
}

static size_t plain_run(const unsigned char *s, size_t len)
{
    const unsigned char *p = s, *end = s + len;
    for (;;) {
        p += jx_plain_run((const char *)p, (size_t)(end - p));
        if (p < end && *p >= 0x80) {
            unsigned cp;
            int n = utf8_at(p, (size_t)(end - p), &cp);
            if (n > 0) {
                p += n;
                continue;
            }
        }
        return (size_t)(p - s);
    }
}

/* Escapes and short plain runs gather in a small staging area, so the
 * buffer is appended to once per few hundred bytes rather than once per
 * escape (scraped HTML has a quote or a newline every few dozen bytes). */
struct stage {
    struct buf *b;
    size_t n;
    char v[512];
};

static int stage_flush(struct stage *st)
{
    size_t n = st->n;
    st->n = 0;
    return n ? buf_add(st->b, st->v, n) : 0;
}

static int stage_add(struct stage *st, const void *data, size_t len)
{
    if (st->n + len > sizeof(st->v)) {
        if (stage_flush(st))
            return -1;
        if (len > sizeof(st->v) / 2) /* a long plain run goes straight in */
            return buf_add(st->b, data, len);
    }
    memcpy(st->v + st->n, data, len);
    st->n += len;
    return 0;
}

static int stage_unit(struct stage *st, unsigned u)
{
    char e[6] = {'\\', 'u', hex[u >> 12], hex[(u >> 8) & 15], hex[(u >> 4) & 15], hex[u & 15]};
    return stage_add(st, e, 6);
}

int jx_add_str_content(struct buf *b, const char *str, size_t len)
{
    const unsigned char *p = (const unsigned char *)str, *end = p + len;
    struct stage st = {.b = b};
    /* Room for the common case up front; when that passes the cap the
     * appends below decide (the escaped text may still fit). */
    (void)buf_reserve(b, len + len / 16 + 8);
    while (p < end) {
        size_t run = plain_run(p, (size_t)(end - p));
        if (run && stage_add(&st, p, run))
            return -1;
        p += run;
        if (p >= end)
            break;
        unsigned c = *p, cp, low;
        int rc = 0;
        if (c >= 0x80) {
            int n = utf8_at(p, (size_t)(end - p), &cp);
            if (n < 0) {
                rc = stage_add(&st, "\xef\xbf\xbd", 3); /* U+FFFD */
                p += -n;
            } else if (cp < 0xdc00 && end - p >= 6 && p[3] == 0xed &&
                       utf8_at(p + 3, (size_t)(end - p - 3), &low) == 0 && low >= 0xdc00) {
                /* A high and a low surrogate: the character they encode. */
                unsigned v = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                unsigned char u[UTF8_MAX];
                rc = stage_add(&st, u, utf8_put(u, v));
                p += 6;
            } else {
                rc = stage_unit(&st, cp); /* a lone surrogate, as JSON.stringify writes it */
                p += 3;
            }
        } else {
            static const char short_esc[32] = {
                ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
            char e[2] = {'\\', c == '"' || c == '\\' ? (char)c : short_esc[c]};
            rc = e[1] ? stage_add(&st, e, 2) : stage_unit(&st, c);
            p++;
        }
        if (rc)
            return -1;
    }
    return stage_flush(&st);
}

int jx_add_str(struct buf *b, const char *s, size_t len)
{
    /* Most strings written are short and need no escape (ids, names,
     * statuses, URLs): one copy, quotes and all. */
    if (len <= 256 && jx_plain_run(s, len) == len) {
        char q[258];
        q[0] = '"';
        memcpy(q + 1, s, len);
        q[len + 1] = '"';
        return buf_add(b, q, len + 2);
    }
    return buf_addc(b, '"') || jx_add_str_content(b, s, len) || buf_addc(b, '"') ? -1 : 0;
}

int jx_add_strz(struct buf *b, const char *s)
{
    return s ? jx_add_str(b, s, strlen(s)) : buf_add(b, "null", 4);
}

/* ------------------------------------------------------------ numbers */

/* The shortest digits that read back as v (v > 0, finite): digits[0..k)
 * and the decimal exponent n with v = 0.d1d2...dk x 10^n, as ECMAScript's
 * Number::toString defines them. Of the k-digit decimals the nearest one,
 * printf's correctly rounded %.*e, is tried first; when v sits next to a
 * power of two its rounding interval is lopsided, and the neighbour on the
 * wide side may read back where the nearest does not. */
static int shortest(double v, char digits[20], int *n)
{
    char s[40];
    for (int k = 1; k <= 17; k++) {
        snprintf(s, sizeof(s), "%.*e", k - 1, v);
        char *e = strchr(s, 'e');
        int exp10 = atoi(e + 1);
        unsigned long long m = 0;
        for (char *q = s; q < e; q++)
            if (*q != '.')
                m = m * 10 + (unsigned long long)(*q - '0');
        unsigned long long cand[3] = {m, m + 1, m - 1};
        for (int c = 0; c < 3; c++) {
            char t[48];
            snprintf(t, sizeof(t), "%llue%d", cand[c], exp10 - (k - 1));
            if (strtod(t, NULL) != v)
                continue;
            /* Normalize: digits without trailing zeros, and n. */
            int len = snprintf(digits, 20, "%llu", cand[c]);
            *n = exp10 - (k - 1) + len;
            while (len > 1 && digits[len - 1] == '0')
                digits[--len] = '\0';
            return len;
        }
    }
    /* Not reached: 17 significant digits always read back. */
    int len = snprintf(digits, 20, "%.0f", v);
    *n = len;
    return len;
}

/* The common case without printf: |v| under 2^31 with at most six
 * decimals (prices, ratings). Its rounding interval is narrower than 1e-6,
 * so the first k whose k-decimal reading, x / 10^k, reads back as v gives
 * the shortest digits, the only ones of that length (a correctly rounded
 * division of two exact doubles is what strtod makes of that decimal).
 * 0 when v is not such a number. */
static size_t short_fixed(char *out, double v)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    double av = fabs(v);
    if (!(av < 2147483648.0))
        return 0;
    for (int k = 0; k <= 6; k++) {
        double x = nearbyint(av * p10[k]);
        if (x / p10[k] != av)
            continue;
        unsigned long long n = (unsigned long long)x, p = (unsigned long long)p10[k];
        char *o = out;
        if (v < 0)
            *o++ = '-';
        char t[24];
        int len = 0;
        unsigned long long ip = n / p, fp = n % p;
        do
            t[len++] = (char)('0' + ip % 10);
        while (ip /= 10);
        while (len)
            *o++ = t[--len];
        if (k) {
            *o++ = '.';
            for (int i = k - 1; i >= 0; i--, fp /= 10)
                o[i] = (char)('0' + fp % 10);
            o += k;
        }
        *o = '\0';
        return (size_t)(o - out);
    }
    return 0;
}

size_t jx_number(char out[JX_NUMBER_MAX], double v)
{
    if (isnan(v) || isinf(v))
        return (size_t)snprintf(out, JX_NUMBER_MAX, "null"); /* as JSON.stringify */
    if (v == 0)
        return (size_t)snprintf(out, JX_NUMBER_MAX, "0"); /* -0 too */
    size_t fixed = short_fixed(out, v);
    if (fixed)
        return fixed;
    char d[20], *o = out;
    int n, k = shortest(fabs(v), d, &n);
    if (v < 0)
        *o++ = '-';
    if (k <= n && n <= 21) { /* an integer: the digits, then zeros */
        o += sprintf(o, "%s", d);
        for (int i = k; i < n; i++)
            *o++ = '0';
    } else if (0 < n && n <= 21) { /* the point inside the digits */
        o += sprintf(o, "%.*s.%s", n, d, d + n);
    } else if (-6 < n && n <= 0) { /* 0.000ddd */
        *o++ = '0', *o++ = '.';
        for (int i = n; i < 0; i++)
            *o++ = '0';
        o += sprintf(o, "%s", d);
    } else if (k == 1) { /* 1e+21, 1e-7 */
        o += sprintf(o, "%ce%+d", d[0], n - 1);
    } else {
        o += sprintf(o, "%c.%se%+d", d[0], d + 1, n - 1);
    }
    *o = '\0';
    return (size_t)(o - out);
}

int jx_add_real(struct buf *b, double v)
{
    char s[JX_NUMBER_MAX];
    return buf_add(b, s, jx_number(s, v));
}

int jx_add_int(struct buf *b, long long v)
{
    /* Past 2^53 a JavaScript number no longer holds every integer: it
     * prints the double nearest, as its shortest digits. */
    if (v > (1LL << 53) || v < -(1LL << 53))
        return jx_add_real(b, (double)v);
    /* By hand: snprintf costs ten times as much, and results and
     * reports write several integers each. */
    char s[24], *p = s + sizeof(s);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    return buf_add(b, p, (size_t)(s + sizeof(s) - p));
}

/* ------------------------------------------------------------ trees */

/* A key that JavaScript orders as an array index: the canonical decimal
 * form of an integer 0 .. 2^32 - 2. Its value in *index. */
static int array_index(const char *key, size_t len, uint32_t *index)
{
    if (len == 0 || len > 10 || (key[0] == '0' && len > 1))
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] < '0' || key[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(key[i] - '0');
    }
    if (v >= 0xffffffffULL)
        return 0;
    *index = (uint32_t)v;
    return 1;
}

struct member {
    uint32_t index;
    const char *key;
    size_t key_len;
    json_t *value;
};

static int by_index(const void *a, const void *b)
{
    uint32_t x = ((const struct member *)a)->index, y = ((const struct member *)b)->index;
    return x < y ? -1 : x > y;
}

static int add_value(struct buf *b, const json_t *v);

static int add_member(struct buf *b, int first, const char *key, size_t key_len, const json_t *v)
{
    return (!first && buf_addc(b, ',')) || jx_add_str(b, key, key_len) || buf_addc(b, ':') ||
                   add_value(b, v)
               ? -1
               : 0;
}

/* Members in JavaScript's order: array indexes ascending, then the other
 * keys in insertion order (jansson iterates in insertion order). */
static int add_object(struct buf *b, const json_t *obj)
{
    const char *key;
    size_t key_len, n_index = 0, i = 0;
    json_t *v;
    uint32_t idx;
    int rc = -1;
    json_object_keylen_foreach((json_t *)obj, key, key_len, v) n_index +=
        array_index(key, key_len, &idx);
    if (buf_addc(b, '{'))
        return -1;
    if (n_index == 0) {
        json_object_keylen_foreach((json_t *)obj, key, key_len, v)
        {
            if (add_member(b, i++ == 0, key, key_len, v))
                return -1;
        }
        return buf_addc(b, '}');
    }
    struct member *m = malloc(n_index * sizeof(*m));
    if (!m)
        abort();
    json_object_keylen_foreach((json_t *)obj, key, key_len, v) if (array_index(key, key_len, &idx))
        m[i++] = (struct member){idx, key, key_len, v};
    qsort(m, n_index, sizeof(*m), by_index);
    for (i = 0; i < n_index; i++)
        if (add_member(b, i == 0, m[i].key, m[i].key_len, m[i].value))
            goto out;
    json_object_keylen_foreach((json_t *)obj, key, key_len, v)
    {
        if (!array_index(key, key_len, &idx) && add_member(b, i++ == 0, key, key_len, v))
            goto out;
    }
    rc = buf_addc(b, '}');
out:
    free(m);
    return rc;
}

static int add_value(struct buf *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return add_object(b, v);
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        if (buf_addc(b, '['))
            return -1;
        json_array_foreach(v, i, e)
        {
            if ((i && buf_addc(b, ',')) || add_value(b, e))
                return -1;
        }
        return buf_addc(b, ']');
    }
    case JSON_STRING: return jx_add_str(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: return jx_add_int(b, json_integer_value(v));
    case JSON_REAL: return jx_add_real(b, json_real_value(v));
    case JSON_TRUE: return buf_add(b, "true", 4);
    case JSON_FALSE: return buf_add(b, "false", 5);
    case JSON_NULL: return buf_add(b, "null", 4);
    }
    return -1;
}

int jx_add(struct buf *b, const json_t *v)
{
    return v ? add_value(b, v) : buf_add(b, "null", 4);
}

char *jx_dump(const json_t *value, size_t *len)
{
    struct buf b = BUF_INIT(BUF_NO_MAX);
    if (jx_add(&b, value))
        return NULL;
    return buf_detach(&b, len);
}
