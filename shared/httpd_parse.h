/*
 * httpd_parse — the strict reading of HTTP/1.1 requests that httpd serves.
 *
 * Everything that two HTTP parsers could read differently (a proxy in front
 * of ferry and ferry itself: request smuggling) is refused instead of being
 * guessed at (RFC 9112):
 *
 *   - a line end other than CRLF (a bare LF or CR), a NUL or other control
 *     byte anywhere in the head (400);
 *   - whitespace before a header's colon, obsolete line folding (400);
 *   - Content-Length that is not one plain decimal number, given twice, or
 *     together with Transfer-Encoding (400);
 *   - a Transfer-Encoding other than exactly `chunked` (501), or any on an
 *     HTTP/1.0 request (400);
 *   - a second Host, Authorization or Content-Type, or an HTTP/1.1 request
 *     without Host (400);
 *   - an Expect other than 100-continue (417); a version other than 1.0 or
 *     1.1 (505); a head larger than the cap or with too many fields (431).
 *
 * Pure functions over bytes (no sockets), so each rule has a unit test.
 */
#ifndef FERRY_HTTPD_PARSE_H
#define FERRY_HTTPD_PARSE_H

#include <stddef.h>

#include "buf.h"

#define HTTPD_MAX_HEADERS 64

struct httpd_head {
    const char *method; /* these point into the buffer given to httpd_head_parse */
    const char *target; /* origin-form: starts with '/' */
    int minor;          /* HTTP/1.<minor>: 0 or 1 */
    size_t n_headers;
    struct {
        const char *name, *value; /* value without surrounding whitespace */
    } h[HTTPD_MAX_HEADERS];
    /* Framing, derived from the fields above. */
    long long content_length; /* -1: none */
    int chunked;
    int expect_continue;
    int keep_alive; /* 1.1 unless "Connection: close"; 1.0 only with keep-alive */
};

/* Scans the bytes received so far for the end of a request head, from
 * *scanned on (kept between calls, start at 0). Empty lines before the
 * request line are skipped (RFC 9112 2.2) and counted in the result.
 * Returns the length up to and including the blank line when complete, 0
 * when more bytes are needed, or -status: -400 for a byte no head may hold,
 * -431 when `max` bytes hold no complete head. */
long httpd_head_scan(const char *data, size_t len, size_t *scanned, size_t max);

/* Parses a complete head (as delimited by httpd_head_scan) in place: writes
 * NULs into buf, so the strings of h point into it. Returns 0, or the HTTP
 * status to refuse the request with, and *why says what was wrong. */
int httpd_head_parse(char *buf, size_t len, struct httpd_head *h, const char **why);

/* The first value of a header (case-insensitive name), or NULL. */
const char *httpd_head_get(const struct httpd_head *h, const char *name);

/* A chunked request body, decoded as its bytes arrive. */
struct httpd_chunked {
    int state;
    unsigned long long left; /* bytes left in the current chunk */
    size_t digits;           /* hex digits of the size line so far */
    int done;                /* the last chunk and trailer section were read */
};

/* Consumes bytes of a chunked body from in[0..len), appending the data to
 * body (whose cap is the body limit). Returns the number of bytes consumed
 * (less than len once done: the rest is the next request), or -400 when the
 * framing is malformed, -413 when the data passes the body's cap. */
long httpd_chunked_feed(struct httpd_chunked *c, const char *in, size_t len, struct buf *body);

/* Percent-decodes in[0..len) into out (at least len + 1 bytes; NUL-terminated);
 * `plus` turns '+' into a space (query strings). Returns the decoded length,
 * or -1 for a malformed escape or an encoded NUL (%00), which could
 * truncate the value for one reader and not another. */
long httpd_pct_decode(const char *in, size_t len, char *out, int plus);

#endif
