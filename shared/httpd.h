/*
 * httpd — the HTTP/1.1 server of every stage: ingest's API and each
 * stage's /healthz and /metrics.
 *
 * Built to stay up under hostile clients (issue 10):
 *
 *   - a few I/O workers, each with its own epoll set, read and write every
 *     connection; an idle or slow connection costs a socket and a small
 *     buffer, never a thread;
 *   - a cap on connections (FERRY_HTTP_MAX_CONNECTIONS) and on connections
 *     from one address (FERRY_HTTP_MAX_PER_ADDRESS); past either, a new
 *     connection gets 503 and is closed at once;
 *   - a deadline for a whole request head (FERRY_HTTP_HEADER_TIMEOUT), not
 *     per byte, so a client feeding one header line at a time is cut off;
 *     an idle or stalled connection is closed after FERRY_HTTP_IDLE_TIMEOUT;
 *   - strict framing (httpd_parse.h): whatever two parsers could read
 *     differently is refused with 400, 413, 417, 431, 501 or 505 and the
 *     connection is closed; a body over the server's cap is refused from its
 *     Content-Length, before any of it is read and before 100 Continue.
 *
 * Handlers may block (a submit waits for its Kafka transaction): they run
 * in a pool of handler threads, so the I/O workers keep every other
 * connection moving meanwhile; a request that cannot block (/healthz, a
 * lookup in memory; the route says which, httpd_blocks_fn) runs on its I/O
 * worker, ahead of any queue. Routes are added
 * before httpd_start() and never change afterwards.
 *
 *     struct httpd *h = httpd_new(&lim, errstr, sizeof(errstr));
 *     httpd_listen(h, "127.0.0.1:8080", ...);   // bind early: port conflicts
 *     httpd_route(h, "GET", "/v1/batch/:id", on_status, ctx);  // fail first
 *     httpd_start(h, ...);                      // workers start serving
 *     ...
 *     httpd_free(h);                            // stops and joins them
 */
#ifndef FERRY_HTTPD_H
#define FERRY_HTTPD_H

#include <jansson.h>
#include <netinet/in.h>
#include <stddef.h>

#include "cfg.h"

/* The server's settings: registered by every stage (stage_init), which
 * then calls httpd_configure(). */
extern const struct cfg_opt httpd_cfg[];

struct httpd_limits {
    int io_threads;        /* I/O workers (each its own epoll set) */
    int threads;           /* handler threads; 0: every handler runs on its I/O worker */
    int max_connections;   /* open connections at once */
    int max_per_address;   /* from one client address; 0: no cap */
    int header_timeout_ms; /* from a request's first byte to its complete head */
    int idle_timeout_ms;   /* no progress (keep-alive wait, slow body, slow reader) */
    size_t max_head;       /* request line and fields */
    size_t max_body;       /* 413 beyond */
};

/* Takes the httpd_cfg settings as the process's defaults. */
void httpd_configure(const struct cfg *cfg);

/* The defaults: the settings, one I/O worker and no handler pool (the ops
 * servers), a 64 KiB body cap. */
void httpd_limits_default(struct httpd_limits *lim);

/* Parses "host:port" (IPv4 literal or "localhost"; port 0..65535). 0/-1. */
int httpd_parse_listen(const char *text, struct sockaddr_in *addr, char *errstr,
                       size_t errstr_size);

/* A cfg check for listen addresses (see cfg.h). */
int httpd_check_listen(const char *value, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ requests */

struct httpd_req;

const char *httpd_method(const struct httpd_req *req);
/* The path as sent (percent-encoded), without the query. */
const char *httpd_path(const struct httpd_req *req);
/* A path parameter of the route (":id"), percent-decoded; NULL when none. */
const char *httpd_param(const struct httpd_req *req, const char *name);
/* The first query parameter of that name, decoded ('+' is a space); NULL
 * when absent. */
const char *httpd_query(const struct httpd_req *req, const char *name);
/* Calls fn for each query parameter in order; stops when fn returns non-zero
 * and returns that. */
int httpd_query_each(const struct httpd_req *req,
                     int (*fn)(void *arg, const char *name, const char *value), void *arg);
/* The value of a request header (case-insensitive name), or NULL. */
const char *httpd_header(const struct httpd_req *req, const char *name);
/* The body (empty string when none); always NUL-terminated after len. */
const char *httpd_body(const struct httpd_req *req, size_t *len);

/* ------------------------------------------------------------ responses */

struct httpd_resp;

/* Sets status and body (copied). */
void httpd_reply(struct httpd_resp *resp, unsigned status, const char *content_type,
                 const void *body, size_t len);
/* Same, taking ownership of a malloc'd body. */
void httpd_reply_take(struct httpd_resp *resp, unsigned status, const char *content_type,
                      char *body, size_t len);
/* Same, with a body the caller keeps: it stays valid until
 * release(arg) is called, once the answer was written or the connection
 * closed (from the I/O worker). For large bodies held elsewhere already (a
 * file in a Kafka record): nothing is copied. */
void httpd_reply_borrow(struct httpd_resp *resp, unsigned status, const char *content_type,
                        const void *body, size_t len, void (*release)(void *arg), void *arg);
/* An application/json body (copied). */
void httpd_json(struct httpd_resp *resp, unsigned status, const char *body);
/* Serializes doc (borrowed) as the body; 500 when out of memory. */
void httpd_json_doc(struct httpd_resp *resp, unsigned status, const json_t *doc);
/* ferry's error body {"error": {"code", "message", "details"}}; details is
 * stolen (NULL: null). */
void httpd_error(struct httpd_resp *resp, unsigned status, const char *code, const char *message,
                 json_t *details);
/* Adds a response header; refused (-1) when name or value holds CR, LF or
 * NUL. */
int httpd_resp_header(struct httpd_resp *resp, const char *name, const char *value);
/* The status set so far (0: none). */
unsigned httpd_resp_status(const struct httpd_resp *resp);

/* A response made outside a server, so a handler's code can answer a
 * request that came another way (a submit produced to Kafka, ingest's
 * intake.h) exactly as it answers HTTP. Free it with httpd_resp_free. */
struct httpd_resp *httpd_resp_new(void);
void httpd_resp_free(struct httpd_resp *resp);
/* The body set so far (NULL when none), its length in *len. */
const char *httpd_resp_body(const struct httpd_resp *resp, size_t *len);
/* The value of header `name` (case-insensitive) added with
 * httpd_resp_header, copied into buf; NULL when absent or larger than
 * size-1. */
const char *httpd_resp_header_value(const struct httpd_resp *resp, const char *name, char *buf,
                                    size_t size);

/* ------------------------------------------------------------ the server */

typedef void (*httpd_fn)(struct httpd_req *req, struct httpd_resp *resp, void *arg);

struct httpd;

struct httpd *httpd_new(const struct httpd_limits *lim, char *errstr, size_t errstr_size);

/* Binds and listens on "host:port" now; connections wait in the backlog
 * until httpd_start(). 0, or -1 with errstr (port taken). */
int httpd_listen(struct httpd *h, const char *listen, char *errstr, size_t errstr_size);

/* The port bound (useful with port 0). */
int httpd_port(const struct httpd *h);

/* Whether a request to a route may block (wait on Kafka, say): 1 runs its
 * handler in the pool, 0 on the I/O worker that read it. Called on the I/O
 * worker, with the route matched; must itself never block. */
typedef int (*httpd_blocks_fn)(const struct httpd_req *req);

/* For routes whose handler never blocks. */
int httpd_never_blocks(const struct httpd_req *req);

/* Adds a route. `pattern` is a path whose segments are literal or
 * ":name" (one non-empty segment, read with httpd_param). A path that
 * matches a route of another method answers 405 with Allow. `blocks`:
 * NULL when every request may block (the pool), httpd_never_blocks, or a
 * test of the request. 0/-1. */
int httpd_route(struct httpd *h, const char *method, const char *pattern, httpd_blocks_fn blocks,
                httpd_fn fn, void *arg);

/* What answers a path no route matches (default: 404 not_found). */
void httpd_fallback(struct httpd *h, httpd_fn fn, void *arg);

/* Starts the workers. 0, or -1 with errstr. */
int httpd_start(struct httpd *h, char *errstr, size_t errstr_size);

/* Stops the workers (a handler running finishes first), closes every
 * connection and the socket, frees h. NULL is fine. */
void httpd_free(struct httpd *h);

/* ------------------------------------------------------------ operations */

/* Readiness: 1 ready, 0 not; may fill `why` (shown in the /healthz body). */
typedef int (*httpd_ready_fn)(void *arg, char *why, size_t why_size);

/* The /healthz answer: 200 {"status":"ok"}, or 503 {"status":"starting",
 * "reason":...} while ready(arg) says no. ready may be NULL (always ready). */
void httpd_healthz_reply(struct httpd_resp *resp, httpd_ready_fn ready, void *arg);

/* The /metrics answer: every metric in Prometheus text format. */
void httpd_metrics_reply(struct httpd_resp *resp);

/* Adds GET /healthz and GET /metrics answering as above; arg must outlive
 * the server. */
int httpd_add_ops_routes(struct httpd *h, httpd_ready_fn ready, void *arg);

/* A stand-alone ops server (one worker), for the stages without an API. */
struct httpd_ops {
    struct httpd *h;
};

/* Binds `listen` now. Call it before creating any Kafka client, so a
 * second instance whose port is taken stops before it can disturb the
 * first (fence its transactional id, unseat its group membership).
 * Connections wait in the backlog until httpd_ops_serve. 0, or -1 with
 * errstr. */
int httpd_ops_bind(struct httpd_ops *ops, const char *listen, char *errstr, size_t errstr_size);

/* Serves /healthz and /metrics on the bound port (once what `ready` looks
 * at exists). 0, or -1 with errstr. */
int httpd_ops_serve(struct httpd_ops *ops, httpd_ready_fn ready, void *arg, char *errstr,
                    size_t errstr_size);

/* Stops serving and closes the port (bound or serving; a zeroed ops is fine). */
void httpd_ops_stop(struct httpd_ops *ops);

#endif
