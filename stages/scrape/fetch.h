/*
 * fetch — worker threads, each driving one libcurl multi handle.
 *
 * The stage's main thread submits items; a worker adds them to its multi
 * handle and drives it with curl_multi_socket_action over its own epoll
 * set (libcurl's socket and timer callbacks say what to watch), so a wake-up
 * costs in proportion to the sockets that are ready, not to the thousands of
 * transfers in flight; an eventfd wakes it for new items. It hands each
 * finished transfer to the `done` callback on the worker thread. Each
 * multi keeps its own connection cache (keep-alive reuse) and caps
 * connections per host; per-item options (timeout, body cap, redirects,
 * headers) are set on the item's easy handle. Easy handles are recycled.
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
 * result). Takes ownership of it; it->easy is still valid during the call
 * and is recycled afterwards. */
typedef void (*fetch_done_fn)(struct item *it, CURLcode rc, void *arg);

struct fetch_pool;

struct fetch_pool *fetch_pool_start(const struct fetch_conf *fc, fetch_done_fn done, void *arg);

/* Queues it on the least busy worker. Takes ownership. */
void fetch_pool_submit(struct fetch_pool *p, struct item *it);

/* Transfers queued or running. */
size_t fetch_pool_active(struct fetch_pool *p);

/* Stops the workers: transfers still running are abandoned and their items
 * freed without a result (their offsets stay unstored: redone next run). */
void fetch_pool_stop(struct fetch_pool *p);

#endif
