/*
 * fetch — the fetch workers: threads each running one httpc engine (one
 * libcurl multi handle, its own connection cache and keep-alive reuse).
 *
 * The main thread submits items to the least busy worker (the engine's
 * inbox, which wakes it); the engine admits each item when its host has a
 * free slot, so the item's timeout counts from its real start, and calls
 * `done` on the worker's thread when the transfer ends. Per-item options
 * (timeout, body cap, redirects, headers) are set here when it starts.
 */
#ifndef FERRY_SCRAPE_FETCH_H
#define FERRY_SCRAPE_FETCH_H

#include <stddef.h>

#include "item.h"

struct fetch_conf {
    int workers;
    int host_connections; /* per host, over all workers */
    int max_redirects;
    int allow_private;              /* FERRY_ALLOW_PRIVATE_NETWORKS */
    const struct ssrf_allow *allow; /* exceptions to the guard (may be NULL) */
    const char *user_agent;
    long connect_timeout_ms;
};

/* Called on a worker thread for every finished transfer (rc = the transfer's
 * result). Takes ownership of it; it->x.easy is valid during the call. */
typedef void (*fetch_done_fn)(struct item *it, CURLcode rc, void *arg);

struct fetch_pool;

/* Starts the workers. NULL with errstr when one cannot start. */
struct fetch_pool *fetch_pool_start(const struct fetch_conf *fc, fetch_done_fn done, void *arg,
                                    char *errstr, size_t errstr_size);

/* Queues it on the least busy worker. Takes ownership. Main thread. */
void fetch_pool_submit(struct fetch_pool *p, struct item *it);

/* Transfers queued or running. Any thread. */
size_t fetch_pool_active(struct fetch_pool *p);

/* Stops the workers: transfers still running are abandoned and their items
 * freed without a result (their offsets stay unstored: redone next run). */
void fetch_pool_stop(struct fetch_pool *p);

/* The admission key of a URL that parsed: scheme and authority (userinfo
 * dropped), lower case, cut to fit. */
void fetch_host_key(const char *url, char *out, size_t size);

#endif
