/*
 * proxy — the SOCKS5 proxy every byte a rendered page sends goes through.
 *
 * Why a proxy and not the Fetch domain: Fetch.requestPaused shows a URL
 * before Chromium resolves it, so checking it would mean a second DNS
 * resolution that a rebinding name answers differently; and it does not see
 * WebSocket or service-worker traffic the same way. Here Chromium resolves
 * nothing: with a socks5:// proxy it hands the host NAME to the proxy
 * (remote resolution), for every connection of the browser context —
 * documents, subresources, iframes, redirects, fetch/XHR, WebSockets,
 * service workers. The proxy resolves the name itself, checks every
 * address with the SSRF guard (shared/ssrf), and connects to the address it
 * checked: one resolution, no window to rebind. Chromium is told
 * `<-loopback>` so it sends loopback through the proxy too, and QUIC is off
 * (UDP would not be proxied).
 *
 * Each pool slot has its own listening port (its browser contexts are
 * created with proxyServer socks5://127.0.0.1:<port>), so the proxy knows
 * which item a connection belongs to: block_ads applies per item, and a
 * refused or failed connection is recorded for that item, so a navigation
 * that failed with Chromium's generic proxy error can be reported as what
 * it was (blocked, dns, connect). Port `PROXY_DEFAULT` refuses everything:
 * it is the browser-wide --proxy-server, used by nothing we navigate.
 *
 * A thread per connection: resolution blocks, relaying is a poll() loop
 * with a bounded buffer each way.
 */
#ifndef FERRY_RENDER_PROXY_H
#define FERRY_RENDER_PROXY_H

#include <stddef.h>

#include "adblock.h"
#include "ssrf.h"

#define PROXY_DEFAULT (-1)

struct proxy_conf {
    int allow_private;              /* FERRY_ALLOW_PRIVATE_NETWORKS */
    const struct ssrf_allow *allow; /* FERRY_RENDER_ALLOW_TARGETS */
    const struct adblock *ads;
    int connect_timeout_ms;
    int max_connections; /* all slots together; more are refused */
};

/* Why a connection of a slot's current item was refused or failed. */
struct proxy_failure {
    char host[256];
    int port;
    const char *kind; /* "blocked", "ad", "dns", "connect", "timeout" (static) */
    char why[300];
};

struct proxy_stats {
    long connections; /* CONNECT requests of the current item */
    long blocked;     /* refused by the SSRF guard */
    long ads;         /* refused by block_ads */
};

struct proxy;

/* Listens on 127.0.0.1 (ephemeral ports): one port per slot and the
 * default port. NULL with errstr. */
struct proxy *proxy_start(const struct proxy_conf *pc, int slots, char *errstr, size_t errstr_size);

/* Closes the listeners and every relayed connection; waits for the
 * connection threads. */
void proxy_stop(struct proxy *p);

int proxy_port(const struct proxy *p, int slot);

/* A new item starts on the slot: forget the last one's records. */
void proxy_slot_begin(struct proxy *p, int slot, int block_ads);

/* The latest failure of the slot's current item for host (NULL: any host).
 * 1 found (copied to *out), 0 none. */
int proxy_slot_failure(struct proxy *p, int slot, const char *host, struct proxy_failure *out);

void proxy_slot_stats(struct proxy *p, int slot, struct proxy_stats *out);

/* Connections being relayed now. */
long proxy_active(struct proxy *p);

#endif
