/* The content type and character set of a body (shared/extract.h): what
 * is HTML, what is text, which charset to decode from, and the decoding. */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "extract.h"
#include "extract_int.h"

/* How far into a body <meta charset> is looked for (the HTML standard says
 * 1024 bytes; real pages put long <head>s first, so be generous). */
#define META_SCAN_BYTES 4096

/* ------------------------------------------------------------ content types */

/* The media type of a Content-Type value, lower case, without parameters. */
static void media_type(const char *ct, char *out, size_t size)
{
    size_t n = 0;
    while (ct && *ct == ' ')
        ct++;
    for (; ct && *ct && *ct != ';' && *ct != ' ' && n + 1 < size; ct++)
        out[n++] = (char)tolower((unsigned char)*ct);
    out[n] = '\0';
}

static int looks_like_html(const char *body, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    return i < len && body[i] == '<';
}

int extract_is_html(const char *content_type, const char *body, size_t len)
{
    char mt[128];
    media_type(content_type, mt, sizeof(mt));
    if (!mt[0])
        return looks_like_html(body, len);
    return strcmp(mt, "text/html") == 0 || strcmp(mt, "application/xhtml+xml") == 0;
}

int extract_is_text(const char *content_type, const char *body, size_t len)
{
    char mt[128];
    media_type(content_type, mt, sizeof(mt));
    if (!mt[0])
        return memchr(body, '\0', len < 1024 ? len : 1024) == NULL;
    if (strncmp(mt, "text/", 5) == 0)
        return 1;
    static const char *const textual[] = {
        "application/xhtml+xml",  "application/xml",        "application/json",
        "application/javascript", "application/ecmascript", "application/x-javascript",
        "application/ld+json",    "application/rss+xml",    "application/atom+xml",
        "image/svg+xml",
    };
    for (size_t i = 0; i < sizeof(textual) / sizeof(textual[0]); i++)
        if (strcmp(mt, textual[i]) == 0)
            return 1;
    size_t n = strlen(mt);
    return (n > 5 && strcmp(mt + n - 5, "+json") == 0) ||
           (n > 4 && strcmp(mt + n - 4, "+xml") == 0);
}

/* ------------------------------------------------------------ charsets */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid
 * (overlong, a surrogate, past U+10FFFF, or cut short). */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
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

static int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        /* ASCII eight bytes at a time. */
        while (end - p >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            if (v & 0x8080808080808080ULL)
                break;
            p += 8;
        }
        if (p >= end)
            break;
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = utf8_seq_len(p, (size_t)(end - p));
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

/* Copies a charset label, lower case, stopping at quotes, spaces, ';', '>'. */
static void copy_label(const char *s, const char *end, char *out, size_t size)
{
    size_t n = 0;
    while (s < end && (*s == '"' || *s == '\'' || *s == ' '))
        s++;
    for (; s < end && n + 1 < size; s++) {
        char c = *s;
        if (c == '"' || c == '\'' || c == ' ' || c == ';' || c == '>' || c == '/' || c == ',')
            break;
        out[n++] = (char)tolower((unsigned char)c);
    }
    out[n] = '\0';
}

static const char *find_ci(const char *hay, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; p + n <= end; p++)
        if (strncasecmp(p, needle, n) == 0)
            return p;
    return NULL;
}

static void meta_charset(const char *body, size_t len, char *out, size_t size)
{
    const char *end = body + (len < META_SCAN_BYTES ? len : META_SCAN_BYTES);
    const char *p = body;
    out[0] = '\0';
    while ((p = find_ci(p, end, "<meta")) != NULL) {
        const char *close = memchr(p, '>', (size_t)(end - p));
        if (!close)
            return;
        const char *cs = find_ci(p, close, "charset=");
        if (cs) {
            copy_label(cs + 8, close, out, size);
            if (out[0])
                return;
        }
        p = close;
    }
}

/* WHATWG maps these labels to windows-1252; iconv's ISO-8859-1 lacks the
 * 0x80-0x9f punctuation real pages use. */
static void normalize_label(char *cs, size_t size)
{
    static const char *const w1252[] = {"iso-8859-1", "iso8859-1", "latin1", "l1",
                                        "us-ascii",   "ascii",     "cp1252", "x-cp1252",
                                        "iso_8859-1", "cp819",     "ibm819"};
    if (strcmp(cs, "utf8") == 0 || strcmp(cs, "unicode-1-1-utf-8") == 0) {
        snprintf(cs, size, "utf-8");
        return;
    }
    for (size_t i = 0; i < sizeof(w1252) / sizeof(w1252[0]); i++)
        if (strcmp(cs, w1252[i]) == 0) {
            snprintf(cs, size, "windows-1252");
            return;
        }
}

void extract_charset(const char *content_type, const char *body, size_t len, int is_html, char *out,
                     size_t size)
{
    out[0] = '\0';
    const char *cs = content_type ? strcasestr(content_type, "charset=") : NULL;
    if (cs)
        copy_label(cs + 8, cs + strlen(cs), out, size);
    if (!out[0]) {
        if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
            snprintf(out, size, "utf-8");
        else if (len >= 2 && memcmp(body, "\xff\xfe", 2) == 0)
            snprintf(out, size, "utf-16le");
        else if (len >= 2 && memcmp(body, "\xfe\xff", 2) == 0)
            snprintf(out, size, "utf-16be");
        else if (is_html)
            meta_charset(body, len, out, size);
    }
    if (!out[0])
        snprintf(out, size, "%s", utf8_valid(body, len) ? "utf-8" : "windows-1252");
    normalize_label(out, size);
    /* A page that claims UTF-8 and is not is nearly always windows-1252. */
    if (strcmp(out, "utf-8") == 0 && !utf8_valid(body, len))
        snprintf(out, size, "windows-1252");
}

int extract_to_utf8(const char *charset, const char *body, size_t len, struct buf *out)
{
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
        return -1;
    char *in = (char *)body;
    size_t inleft = len;
    buf_reserve(out, len + len / 2 + 16);
    while (inleft > 0) {
        buf_reserve(out, inleft * 2 + 16);
        char *o = out->ptr + out->len;
        size_t oleft = out->alloc - out->len - 1;
        size_t r = iconv(cd, &in, &inleft, &o, &oleft);
        out->len = (size_t)(o - out->ptr);
        if (r != (size_t)-1)
            break;
        if (errno == E2BIG)
            continue;
        /* EILSEQ or EINVAL (truncated at the end): one replacement, skip a byte. */
        buf_add(out, "\xef\xbf\xbd", 3);
        in++, inleft--;
    }
    out->ptr[out->len] = '\0';
    iconv_close(cd);
    return 0;
}
