#include "httpd_parse.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: the characters of a token (method, field name, coding). */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Bytes of CRLF pairs before the request line. */
static size_t leading_empty_lines(const char *data, size_t len)
{
    size_t k = 0;
    while (k + 1 < len && data[k] == '\r' && data[k + 1] == '\n')
        k += 2;
    return k;
}

long httpd_head_scan(const char *data, size_t len, size_t *scanned, size_t max)
{
    size_t skip = leading_empty_lines(data, len), i = *scanned;
    if (i < skip)
        i = skip;
    for (; i < len && i < max; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\r') {
            if (i + 1 == len)
                break; /* decide when the next byte is here */
            if (data[i + 1] != '\n')
                return -400;
        } else if (c == '\n') {
            if (i == 0 || data[i - 1] != '\r')
                return -400;
            /* An empty line after the request line ends the head. */
            if (i >= skip + 3 && data[i - 2] == '\n') {
                *scanned = i + 1;
                return (long)(i + 1);
            }
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return -400;
        }
    }
    *scanned = i;
    return i >= max ? -431 : 0;
}

/* Splits off the line starting at *p (which ends in CRLF within end);
 * returns it NUL-terminated and advances *p past the CRLF. */
static char *next_line(char **p, char *end)
{
    char *line = *p, *cr = memchr(line, '\r', (size_t)(end - line));
    if (!cr || cr + 1 >= end)
        return NULL;
    *cr = '\0';
    *p = cr + 2;
    return line;
}

static int list_has(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ',' || is_ows(*p))
            p++;
        size_t len = strcspn(p, ",");
        while (len && is_ows(p[len - 1]))
            len--;
        if (len == n && strncasecmp(p, token, n) == 0)
            return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

/* Transfer-Encoding, all its fields together: exactly one coding, chunked. */
static int check_transfer_encoding(const struct httpd_head *h, const char **why)
{
    int codings = 0, chunked = 0;
    for (size_t i = 0; i < h->n_headers; i++) {
        if (strcasecmp(h->h[i].name, "Transfer-Encoding") != 0)
            continue;
        for (const char *p = h->h[i].value;;) {
            while (is_ows(*p))
                p++;
            size_t len = strcspn(p, ",");
            size_t tok = len;
            while (tok && is_ows(p[tok - 1]))
                tok--;
            if (tok == 0) {
                *why = "empty transfer coding";
                return 400;
            }
            codings++;
            if (tok == 7 && strncasecmp(p, "chunked", 7) == 0)
                chunked++;
            p += len;
            if (!*p)
                break;
            p++;
        }
    }
    if (codings == 1 && chunked == 1)
        return 0;
    if (codings == chunked) {
        *why = "chunked given more than once";
        return 400;
    }
    *why = "transfer codings other than chunked are not supported";
    return 501;
}

static int parse_content_length(const char *v, long long *out)
{
    size_t n = strlen(v);
    if (n == 0 || n > 18 || strspn(v, "0123456789") != n)
        return -1;
    long long x = 0;
    for (size_t i = 0; i < n; i++)
        x = x * 10 + (v[i] - '0');
    *out = x;
    return 0;
}

/* Fields a request may carry once: a second copy is read differently by
 * different parsers (the first, the last, or joined). */
static const char *const singletons[] = {"Host", "Content-Length", "Content-Type", "Authorization"};

static int check_fields(struct httpd_head *h, const char **why)
{
    int has_te = 0;
    for (size_t i = 0; i < h->n_headers; i++) {
        const char *name = h->h[i].name;
        for (size_t s = 0; s < sizeof(singletons) / sizeof(singletons[0]); s++) {
            if (strcasecmp(name, singletons[s]) != 0)
                continue;
            for (size_t j = 0; j < i; j++)
                if (strcasecmp(h->h[j].name, name) == 0) {
                    *why = "a field that may appear once appears twice";
                    return 400;
                }
        }
        has_te |= strcasecmp(name, "Transfer-Encoding") == 0;
    }
    const char *cl = httpd_head_get(h, "Content-Length");
    h->content_length = -1;
    if (cl && parse_content_length(cl, &h->content_length)) {
        *why = "Content-Length is not a decimal number";
        return 400;
    }
    if (has_te) {
        if (cl) {
            *why = "Content-Length together with Transfer-Encoding";
            return 400;
        }
        if (h->minor == 0) {
            *why = "Transfer-Encoding in an HTTP/1.0 request";
            return 400;
        }
        int st = check_transfer_encoding(h, why);
        if (st)
            return st;
        h->chunked = 1;
    }
    if (h->minor == 1 && !httpd_head_get(h, "Host")) {
        *why = "an HTTP/1.1 request without Host";
        return 400;
    }
    const char *expect = httpd_head_get(h, "Expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0) {
            *why = "only the expectation 100-continue is supported";
            return 417;
        }
        h->expect_continue = h->minor == 1; /* HTTP/1.0 clients never wait for it */
    }
    const char *conn = httpd_head_get(h, "Connection");
    h->keep_alive =
        h->minor == 1 ? !(conn && list_has(conn, "close")) : conn && list_has(conn, "keep-alive");
    return 0;
}

static int parse_request_line(char *line, struct httpd_head *h, const char **why)
{
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1) {
        *why = "malformed request line";
        return 400;
    }
    *sp1 = *sp2 = '\0';
    for (char *p = line; *p; p++)
        if (!is_tchar((unsigned char)*p)) {
            *why = "malformed method";
            return 400;
        }
    for (char *p = sp1 + 1; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            *why = "malformed request target";
            return 400;
        }
    const char *v = sp2 + 1;
    if (strcmp(v, "HTTP/1.1") == 0 || strcmp(v, "HTTP/1.0") == 0) {
        h->minor = v[7] - '0';
    } else if (strncmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
               v[7] >= '0' && v[7] <= '9' && !v[8]) {
        *why = "HTTP version not supported";
        return 505;
    } else {
        *why = "malformed HTTP version";
        return 400;
    }
    if (sp1[1] != '/') {
        *why = "the request target must be a path (origin-form)";
        return 400;
    }
    h->method = line;
    h->target = sp1 + 1;
    return 0;
}

int httpd_head_parse(char *buf, size_t len, struct httpd_head *h, const char **why)
{
    char *p = buf + leading_empty_lines(buf, len), *end = buf + len, *line;
    memset(h, 0, sizeof(*h));
    *why = "";
    if (!(line = next_line(&p, end))) {
        *why = "incomplete head";
        return 400;
    }
    int st = parse_request_line(line, h, why);
    if (st)
        return st;
    while ((line = next_line(&p, end)) && *line) {
        if (is_ows(*line)) {
            *why = "obsolete line folding";
            return 400;
        }
        char *colon = line;
        while (is_tchar((unsigned char)*colon))
            colon++;
        if (*colon != ':' || colon == line) {
            *why = "malformed header field";
            return 400;
        }
        if (h->n_headers == HTTPD_MAX_HEADERS) {
            *why = "too many header fields";
            return 431;
        }
        *colon = '\0';
        char *v = colon + 1, *ve = v + strlen(v);
        while (is_ows(*v))
            v++;
        while (ve > v && is_ows(ve[-1]))
            *--ve = '\0';
        h->h[h->n_headers].name = line;
        h->h[h->n_headers].value = v;
        h->n_headers++;
    }
    if (!line) {
        *why = "incomplete head";
        return 400;
    }
    return check_fields(h, why);
}

const char *httpd_head_get(const struct httpd_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (strcasecmp(h->h[i].name, name) == 0)
            return h->h[i].value;
    return NULL;
}

enum {
    CH_SIZE,
    CH_EXT,
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,
    CH_TRAILER,
    CH_TRAILER_LF,
    CH_END_LF,
};

#define CHUNK_LINE_MAX 4096 /* a size line's extensions, or one trailer field */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

long httpd_chunked_feed(struct httpd_chunked *c, const char *in, size_t len, struct buf *body)
{
    size_t i = 0;
    while (i < len && !c->done) {
        unsigned char b = (unsigned char)in[i];
        int ctl = (b < 0x20 && b != '\t' && b != '\r') || b == 0x7f;
        switch (c->state) {
        case CH_SIZE:
            if (hexval((char)b) >= 0) {
                if (++c->digits > 15)
                    return -400; /* larger than any body we take */
                c->left = c->left * 16 + (unsigned)hexval((char)b);
            } else if (c->digits && (b == ';' || b == '\r')) {
                c->state = b == ';' ? CH_EXT : CH_SIZE_LF;
                c->digits = 0;
            } else {
                return -400;
            }
            i++;
            break;
        case CH_EXT:
            if (ctl || ++c->digits > CHUNK_LINE_MAX)
                return -400;
            if (b == '\r')
                c->state = CH_SIZE_LF;
            i++;
            break;
        case CH_SIZE_LF:
            if (b != '\n')
                return -400;
            c->state = c->left ? CH_DATA : CH_TRAILER_START;
            c->digits = 0;
            i++;
            break;
        case CH_DATA: {
            size_t n = len - i < c->left ? len - i : (size_t)c->left;
            if (buf_add(body, in + i, n))
                return -413;
            c->left -= n;
            i += n;
            if (c->left == 0)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (b != (c->state == CH_DATA_CR ? '\r' : '\n'))
                return -400;
            c->state = c->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE;
            i++;
            break;
        case CH_TRAILER_START:
            c->state = b == '\r' ? CH_END_LF : CH_TRAILER;
            c->digits = 0;
            if (b == '\r') {
                i++;
                break;
            }
            __attribute__((fallthrough)); /* the first byte of a trailer field */
        case CH_TRAILER:
            if (ctl || b == '\n' || ++c->digits > CHUNK_LINE_MAX)
                return -400;
            if (b == '\r')
                c->state = CH_TRAILER_LF;
            i++;
            break;
        case CH_TRAILER_LF:
        case CH_END_LF:
            if (b != '\n')
                return -400;
            if (c->state == CH_END_LF)
                c->done = 1;
            c->state = CH_TRAILER_START;
            i++;
            break;
        }
    }
    return (long)i;
}

long httpd_pct_decode(const char *in, size_t len, char *out, int plus)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[o++] = plus && in[i] == '+' ? ' ' : in[i];
            continue;
        }
        int hi = i + 2 < len ? hexval(in[i + 1]) : -1, lo = hi >= 0 ? hexval(in[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0))
            return -1;
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return (long)o;
}
