/*
 * httpd_int — what httpd's three files share: httpd.c (the server, its I/O
 * workers and handler pool), httpd_conn.c (one connection's state machine)
 * and httpd_req.c (requests, responses, routes). Not for use outside httpd.
 *
 * Threads and ownership:
 *   - an I/O worker owns its connections: only it reads, writes, parses,
 *     times out and frees them;
 *   - a request whose route may block goes to the handler pool: the
 *     connection leaves its worker's epoll set (state C_HANDLER) and a
 *     handler thread owns the request and response until it puts the
 *     connection on its worker's `done` list and wakes the worker, which
 *     owns it again from there;
 *   - requests that cannot block (the route's httpd_blocks_fn says so) and
 *     servers without a pool run their handler on the I/O worker.
 */
#ifndef FERRY_HTTPD_INT_H
#define FERRY_HTTPD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "httpd.h"
#include "httpd_parse.h"

#define HTTPD_MAX_QUERY  32
#define HTTPD_MAX_PARAMS 8
#define HTTPD_MAX_SEGS   16

struct httpd_req {
    const struct httpd_head *head;
    char *path;  /* target up to '?' (raw); in `arena` */
    char *query; /* after '?' (raw), "" when none; in `arena` */
    char *arena; /* owned: copies and decoded strings, all at most the target's size */
    size_t arena_used, arena_size;
    size_t n_query, n_params;
    struct {
        const char *name, *value;
    } q[HTTPD_MAX_QUERY], p[HTTPD_MAX_PARAMS];
    const char *body;
    size_t body_len;
};

struct httpd_resp {
    unsigned status;
    char content_type[64];
    char *body; /* owned (free), or borrowed when body_free is set */
    size_t body_len;
    void (*body_free)(void *arg); /* gives a borrowed body back (httpd_reply_borrow) */
    void *body_arg;
    struct buf headers; /* extra "Name: value\r\n" lines */
};

struct httpd_route {
    struct httpd_route *next;
    char method[16];
    size_t n_segs;
    char *segs[HTTPD_MAX_SEGS]; /* owned; ":name" for parameters */
    httpd_blocks_fn blocks;     /* NULL: every request may block */
    httpd_fn fn;
    void *arg;
};

enum conn_state { C_HEAD, C_BODY, C_HANDLER, C_WRITE, C_LINGER };

struct httpd_worker;

struct httpd_conn {
    struct httpd_conn *prev, *next; /* the worker's list */
    struct httpd_conn *job_next;    /* the pool's queue, then the worker's done list */
    struct httpd_worker *w;
    int fd;
    uint32_t addr; /* IPv4, network order */
    enum conn_state state;
    int64_t deadline; /* ms, monotonic */
    struct buf in;    /* bytes read and not yet consumed */
    size_t scanned;   /* of `in`, by httpd_head_scan */
    /* The request being read or handled. */
    char *head_bytes; /* owned copy the head's strings point into */
    struct httpd_head head;
    long long body_left; /* Content-Length bytes still to come */
    struct httpd_chunked chunked;
    struct buf body;
    struct httpd_req req;
    struct httpd_resp resp;
    const struct httpd_route *route;
    /* The answer being written: head, then body. */
    struct buf out;
    size_t out_off;
    char *out_body; /* owned, or borrowed when out_body_free is set */
    size_t out_body_len, out_body_off;
    void (*out_body_free)(void *arg);
    void *out_body_arg;
    int close_after;
};

struct httpd_worker {
    struct httpd *h;
    pthread_t thread;
    int ep, wake_fd;
    int started;
    struct httpd_conn *conns; /* every connection this worker owns */
    pthread_mutex_t done_lock;
    struct httpd_conn *done; /* answered by the pool, to be written */
};

struct addr_count;

struct httpd {
    struct httpd_limits lim;
    int fd; /* listening socket, -1 until httpd_listen */
    int port;
    struct httpd_route *routes;
    httpd_fn fallback;
    void *fallback_arg;
    struct httpd_worker *workers;
    int n_workers;
    pthread_t *handlers;
    int n_handlers;
    atomic_int stopping;
    atomic_int n_conns;
    /* The handler pool's queue. */
    pthread_mutex_t job_lock;
    pthread_cond_t job_cond;
    struct httpd_conn *jobs, **jobs_tail;
    /* Connections per client address (IPv4), for max_per_address. */
    pthread_mutex_t addr_lock;
    struct addr_count **addr_bucket;
    size_t addr_buckets;
};

/* ---- httpd.c ---- */

/* Hands a connection whose request is matched (c->route) to the pool. */
void httpd_job_push(struct httpd *h, struct httpd_conn *c);

/* Gives back a connection's share of the caps. */
void httpd_conn_uncount(struct httpd *h, uint32_t addr);

/* ---- httpd_conn.c ---- */

/* A new connection on worker w (already counted against the caps). */
void httpd_conn_open(struct httpd_worker *w, int fd, uint32_t addr);

/* The worker's reaction to epoll events on c. */
void httpd_conn_event(struct httpd_conn *c, uint32_t events);

/* The pool answered c (its resp is set): write it. */
void httpd_conn_answered(struct httpd_conn *c);

/* Closes c if its deadline passed (408 when a head was under way). */
void httpd_conn_sweep(struct httpd_conn *c, int64_t now);

void httpd_conn_close(struct httpd_conn *c);

/* ---- httpd_req.c ---- */

/* Prepares req (head, body set by the caller) and finds its route. NULL
 * when resp was answered already (400 for a target that does not decode,
 * 405, or the fallback). Release req with httpd_req_release either way. */
const struct httpd_route *httpd_match(struct httpd *h, struct httpd_req *req,
                                      struct httpd_resp *resp);
void httpd_req_release(struct httpd_req *req);

/* Empties a response (frees its body and headers). */
void httpd_resp_release(struct httpd_resp *resp);

/* Frees a body, or gives a borrowed one back (fn non-NULL: fn(arg)). */
void httpd_body_free(char *body, void (*fn)(void *arg), void *arg);

/* The reason phrase of a status code. */
const char *httpd_reason(unsigned status);

#endif
