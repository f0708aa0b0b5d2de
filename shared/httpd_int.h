/*
 * httpd_int — what httpd.c (connections and workers) and httpd_req.c
 * (requests, responses, routes) share. Not for use outside httpd.
 */
#ifndef FERRY_HTTPD_INT_H
#define FERRY_HTTPD_INT_H

#include <pthread.h>
#include <stdatomic.h>

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
    char *body; /* owned */
    size_t body_len;
    struct buf headers; /* extra "Name: value\r\n" lines */
};

struct httpd_route {
    struct httpd_route *next;
    char method[16];
    size_t n_segs;
    char *segs[HTTPD_MAX_SEGS]; /* owned; ":name" for parameters */
    httpd_fn fn;
    void *arg;
};

struct httpd_worker;

struct httpd {
    struct httpd_limits lim;
    int fd; /* listening socket, -1 until httpd_listen */
    int port;
    struct httpd_route *routes;
    httpd_fn fallback;
    void *fallback_arg;
    struct httpd_worker *workers;
    int n_workers;
    atomic_int stopping;
    atomic_int n_conns;
    /* Connections per client address (IPv4), for max_per_address. */
    pthread_mutex_t addr_lock;
    struct addr_count **addr_bucket;
    size_t addr_buckets;
};

/* Fills req from a complete request (head, body) and answers it into resp:
 * the matching route's handler, 405, the fallback, or 400 for a path or
 * query that does not decode. Releases what it allocated in req. */
void httpd_dispatch(struct httpd *h, const struct httpd_head *head, const char *body,
                    size_t body_len, struct httpd_resp *resp);

/* Empties a response (frees its body and headers). */
void httpd_resp_release(struct httpd_resp *resp);

/* The reason phrase of a status code. */
const char *httpd_reason(unsigned status);

#endif
