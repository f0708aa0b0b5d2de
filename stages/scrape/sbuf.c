#include "sbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf_grow(struct sbuf *sb, size_t extra)
{
    if (sb->len + extra + 1 <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + extra + 1)
        cap *= 2;
    char *p = realloc(sb->buf, cap);
    if (!p)
        abort();
    sb->buf = p;
    sb->cap = cap;
}

void sbuf_add(struct sbuf *sb, const void *data, size_t len)
{
    sbuf_grow(sb, len);
    memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void sbuf_adds(struct sbuf *sb, const char *s)
{
    sbuf_add(sb, s, strlen(s));
}

void sbuf_addc(struct sbuf *sb, char c)
{
    sbuf_grow(sb, 1);
    sb->buf[sb->len++] = c;
    sb->buf[sb->len] = '\0';
}

void sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    sbuf_grow(sb, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    if (avail < n)
        return 0;
    unsigned cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* 1 for bytes copied as they are inside a JSON string. */
/* clang-format off */
static const unsigned char json_plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),                                     /* 0x00-0x1f: controls */
    1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    R16(1), R16(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \\ */, 1, 1, 1,
    R16(1), R16(1),
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), /* >= 0x80: checked */
#undef R16
};
/* clang-format on */

void sbuf_add_json_str(struct sbuf *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    sbuf_grow(sb, len + len / 16 + 16);
    while (p < end) {
        /* Copy the longest run that needs no escaping (valid UTF-8
         * included) in one go. */
        const unsigned char *run = p;
        for (;;) {
            /* Eight plain ASCII bytes at a time: no byte < 0x20, >= 0x80,
             * '"' or '\\' (the classic has-zero-byte bit trick). */
            while (end - p >= 8) {
                uint64_t v;
                memcpy(&v, p, 8);
                const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
                uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
                uint64_t special =
                    ((v - ones * 0x20) | ((q - ones) & ~q) | ((b - ones) & ~b) | v) & high;
                if (special)
                    break;
                p += 8;
            }
            while (p < end && json_plain[*p])
                p++;
            if (p < end && *p >= 0x80) {
                size_t n = utf8_seq_len(p, (size_t)(end - p));
                if (n) {
                    p += n;
                    continue;
                }
            }
            break;
        }
        if (p > run)
            sbuf_add(sb, run, (size_t)(p - run));
        if (p >= end)
            break;
        unsigned c = *p;
        if (c >= 0x80) { /* invalid UTF-8 */
            sbuf_add(sb, "\xef\xbf\xbd", 3);
            p++;
            continue;
        }
        char esc[7] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
            n = 6;
        }
        sbuf_add(sb, esc, n);
        p++;
    }
}

void sbuf_add_json_strz(struct sbuf *sb, const char *s)
{
    if (!s) {
        sbuf_add(sb, "null", 4);
        return;
    }
    sbuf_addc(sb, '"');
    sbuf_add_json_str(sb, s, strlen(s));
    sbuf_addc(sb, '"');
}

char *sbuf_detach(struct sbuf *sb, size_t *len)
{
    if (!sb->buf)
        sbuf_grow(sb, 0), sb->buf[0] = '\0';
    char *p = sb->buf;
    if (len)
        *len = sb->len;
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    return p;
}

void sbuf_release(struct sbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}
