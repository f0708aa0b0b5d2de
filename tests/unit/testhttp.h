/*
 * testhttp — a small HTTP/1.1 server for unit tests of HTTP clients: one
 * thread, 127.0.0.1 on a free port, keep-alive, thousands of connections.
 *
 * What a request gets is said by its path:
 *
 *     /ok                  200, body "ok"
 *     /delay/<ms>          200 after ms milliseconds
 *     /bytes/<n>           200 with an n-byte body ('a'...), Content-Length set
 *     /status/<code>       that status, body "status"
 *     /hang                no answer ever (until the client goes away)
 *
 * A query `?tag=<word>` groups requests: the server counts, per tag, the
 * requests it holds unanswered now and the most it ever held at once, so a
 * test sees the concurrency a client really produced. A query
 * `retry_after=<value>` adds a Retry-After header (URL-encoded spaces as %20).
 */
#ifndef FERRY_TESTHTTP_H
#define FERRY_TESTHTTP_H

#include <stddef.h>

struct testhttp;

/* Starts the server; NULL when it cannot listen. */
struct testhttp *testhttp_start(void);

/* Stops the thread and closes every connection. */
void testhttp_stop(struct testhttp *s);

/* "http://127.0.0.1:<port>" */
const char *testhttp_url(const struct testhttp *s);

/* A tag's requests: received, held unanswered now, most held at once. */
struct testhttp_tag {
    long requests;
    int open, max;
};
struct testhttp_tag testhttp_tag(struct testhttp *s, const char *tag);

/* The last request as it arrived: request line, headers and body. */
void testhttp_last_request(struct testhttp *s, char *out, size_t size);

/* Waits up to timeout_ms for `tag` to hold n requests at once. 0 or -1. */
int testhttp_wait_open(struct testhttp *s, const char *tag, int n, int timeout_ms);

#endif
