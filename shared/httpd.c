#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "httpd_int.h"
#include "log.h"

#define SWEEP_MS     250 /* how often deadlines are checked */
#define FD_RESERVE   512 /* descriptors kept for Kafka, files and the rest */
#define ACCEPT_BATCH 32

/* epoll tags of a worker's two descriptors that are not connections. */
static char listener_tag, wake_tag;

const struct cfg_opt httpd_cfg[] = {
    {"FERRY_HTTP_MAX_CONNECTIONS", CFG_INT, "10000",
     "open HTTP connections at once (beyond: 503 and closed)", 16, 1000000, NULL},
    {"FERRY_HTTP_MAX_PER_ADDRESS", CFG_INT, "1000",
     "open HTTP connections from one client address (0: no cap; raise behind a proxy)", 0, 1000000,
     NULL},
    {"FERRY_HTTP_HEADER_TIMEOUT", CFG_DURATION, "10s",
     "time a client has to send a whole request head (a slow client is cut off)", 100, 600000,
     NULL},
    {"FERRY_HTTP_IDLE_TIMEOUT", CFG_DURATION, "30s",
     "an HTTP connection with no progress (idle keep-alive, stalled body) is closed after this",
     100, 3600000, NULL},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

static struct httpd_limits defaults = {
    .io_threads = 1,
    .threads = 0,
    .max_connections = 10000,
    .max_per_address = 1000,
    .header_timeout_ms = 10000,
    .idle_timeout_ms = 30000,
    .max_head = 16384,
    .max_body = 65536,
};

void httpd_configure(const struct cfg *cfg)
{
    defaults.max_connections = (int)cfg_int(cfg, "FERRY_HTTP_MAX_CONNECTIONS");
    defaults.max_per_address = (int)cfg_int(cfg, "FERRY_HTTP_MAX_PER_ADDRESS");
    defaults.header_timeout_ms = (int)cfg_int(cfg, "FERRY_HTTP_HEADER_TIMEOUT");
    defaults.idle_timeout_ms = (int)cfg_int(cfg, "FERRY_HTTP_IDLE_TIMEOUT");
}

void httpd_limits_default(struct httpd_limits *lim)
{
    *lim = defaults;
}

/* ------------------------------------------------------------ per-address counts */

struct addr_count {
    struct addr_count *next;
    uint32_t addr;
    int n;
};

/* Counts a new connection from addr; 0, or -1 when the address is at its cap. */
static int addr_take(struct httpd *h, uint32_t addr)
{
    int rc = 0;
    pthread_mutex_lock(&h->addr_lock);
    struct addr_count **pa = &h->addr_bucket[addr % h->addr_buckets];
    while (*pa && (*pa)->addr != addr)
        pa = &(*pa)->next;
    if (!*pa && (*pa = calloc(1, sizeof(**pa))))
        (*pa)->addr = addr;
    if (!*pa || (h->lim.max_per_address && (*pa)->n >= h->lim.max_per_address))
        rc = -1;
    else
        (*pa)->n++;
    pthread_mutex_unlock(&h->addr_lock);
    return rc;
}

void httpd_conn_uncount(struct httpd *h, uint32_t addr)
{
    atomic_fetch_sub(&h->n_conns, 1);
    pthread_mutex_lock(&h->addr_lock);
    struct addr_count **pa = &h->addr_bucket[addr % h->addr_buckets];
    while (*pa && (*pa)->addr != addr)
        pa = &(*pa)->next;
    if (*pa && --(*pa)->n <= 0) {
        struct addr_count *gone = *pa;
        *pa = gone->next;
        free(gone);
    }
    pthread_mutex_unlock(&h->addr_lock);
}

/* ------------------------------------------------------------ workers */

/* Past a connection cap: a short answer without reading the request. */
static void refuse_at_once(int fd)
{
#define BUSY_BODY                                                                                  \
    "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"too many connections from "       \
    "this address or in all; retry later\",\"details\":null}}"
    char msg[512];
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
                     sizeof(BUSY_BODY) - 1, BUSY_BODY);
    ssize_t ignored = send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    close(fd);
}

static void accept_some(struct httpd_worker *w)
{
    struct httpd *h = w->h;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(h->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                LOG_WARN("http_accept", "err=%s", strerror(errno));
                usleep(10000); /* the listener stays readable; do not spin */
            }
            return;
        }
        uint32_t addr = peer.sin_addr.s_addr;
        if (atomic_fetch_add(&h->n_conns, 1) >= h->lim.max_connections) {
            atomic_fetch_sub(&h->n_conns, 1);
            refuse_at_once(fd);
            continue;
        }
        if (addr_take(h, addr)) {
            atomic_fetch_sub(&h->n_conns, 1);
            refuse_at_once(fd);
            continue;
        }
        httpd_conn_open(w, fd, addr);
    }
}

/* Connections the pool answered: written by their worker. */
static void take_done(struct httpd_worker *w)
{
    uint64_t n;
    ssize_t ignored = read(w->wake_fd, &n, sizeof(n));
    (void)ignored;
    pthread_mutex_lock(&w->done_lock);
    struct httpd_conn *c = w->done;
    w->done = NULL;
    pthread_mutex_unlock(&w->done_lock);
    while (c) {
        struct httpd_conn *next = c->job_next;
        c->job_next = NULL;
        httpd_conn_answered(c);
        c = next;
    }
}

static void *worker_main(void *arg)
{
    struct httpd_worker *w = arg;
    struct epoll_event ev[64];
    int64_t next_sweep = clk_mono_ms() + SWEEP_MS;
    while (!atomic_load(&w->h->stopping)) {
        int n = epoll_wait(w->ep, ev, 64, SWEEP_MS);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == &listener_tag)
                accept_some(w);
            else if (ev[i].data.ptr == &wake_tag)
                take_done(w);
            else
                httpd_conn_event(ev[i].data.ptr, ev[i].events);
        }
        int64_t now = clk_mono_ms();
        if (now >= next_sweep) {
            for (struct httpd_conn *c = w->conns, *next; c; c = next) {
                next = c->next;
                httpd_conn_sweep(c, now);
            }
            next_sweep = now + SWEEP_MS;
        }
    }
    while (w->conns)
        httpd_conn_close(w->conns);
    return NULL;
}

/* ------------------------------------------------------------ the handler pool */

void httpd_job_push(struct httpd *h, struct httpd_conn *c)
{
    pthread_mutex_lock(&h->job_lock);
    c->job_next = NULL;
    *h->jobs_tail = c;
    h->jobs_tail = &c->job_next;
    pthread_cond_signal(&h->job_cond);
    pthread_mutex_unlock(&h->job_lock);
}

static void *handler_main(void *arg)
{
    struct httpd *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->job_lock);
        while (!h->jobs && !atomic_load(&h->stopping))
            pthread_cond_wait(&h->job_cond, &h->job_lock);
        struct httpd_conn *c = atomic_load(&h->stopping) ? NULL : h->jobs;
        if (c && !(h->jobs = c->job_next))
            h->jobs_tail = &h->jobs;
        pthread_mutex_unlock(&h->job_lock);
        if (!c)
            return NULL;
        c->route->fn(&c->req, &c->resp, c->route->arg);
        /* Back to the worker that owns the connection. */
        struct httpd_worker *w = c->w;
        pthread_mutex_lock(&w->done_lock);
        c->job_next = w->done;
        w->done = c;
        pthread_mutex_unlock(&w->done_lock);
        uint64_t one = 1;
        ssize_t ignored = write(w->wake_fd, &one, sizeof(one));
        (void)ignored;
    }
}

/* ------------------------------------------------------------ the server */

struct httpd *httpd_new(const struct httpd_limits *lim, char *errstr, size_t errstr_size)
{
    struct httpd *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    h->lim = *lim;
    h->fd = -1;
    if (h->lim.io_threads < 1)
        h->lim.io_threads = 1;
    if (h->lim.threads < 0)
        h->lim.threads = 0;
    /* Every connection is a descriptor: take the hard limit, and keep the
     * connection cap below it so accept() never runs out first. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur != RLIM_INFINITY &&
            (rlim_t)h->lim.max_connections + FD_RESERVE > rl.rlim_cur)
            h->lim.max_connections =
                rl.rlim_cur > 2 * FD_RESERVE ? (int)(rl.rlim_cur - FD_RESERVE) : 64;
    }
    pthread_mutex_init(&h->addr_lock, NULL);
    pthread_mutex_init(&h->job_lock, NULL);
    pthread_cond_init(&h->job_cond, NULL);
    h->jobs_tail = &h->jobs;
    h->addr_buckets = 4096;
    h->addr_bucket = calloc(h->addr_buckets, sizeof(*h->addr_bucket));
    h->workers = calloc((size_t)h->lim.io_threads, sizeof(*h->workers));
    h->handlers = calloc((size_t)h->lim.threads + 1, sizeof(*h->handlers));
    if (!h->addr_bucket || !h->workers || !h->handlers) {
        snprintf(errstr, errstr_size, "out of memory");
        httpd_free(h);
        return NULL;
    }
    return h;
}

int httpd_listen(struct httpd *h, const char *listen_addr, char *errstr, size_t errstr_size)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int one = 1;
    if (httpd_parse_listen(listen_addr, &addr, errstr, errstr_size))
        return -1;
    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->fd < 0 || setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(h->fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(h->fd, 4096) ||
        getsockname(h->fd, (struct sockaddr *)&addr, &len)) {
        snprintf(errstr, errstr_size, "cannot listen on %s: %s", listen_addr, strerror(errno));
        if (h->fd >= 0)
            close(h->fd);
        h->fd = -1;
        return -1;
    }
    h->port = ntohs(addr.sin_port);
    return 0;
}

int httpd_port(const struct httpd *h)
{
    return h->port;
}

int httpd_start(struct httpd *h, char *errstr, size_t errstr_size)
{
    for (int i = 0; i < h->lim.io_threads; i++) {
        struct httpd_worker *w = &h->workers[i];
        w->h = h;
        pthread_mutex_init(&w->done_lock, NULL);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        /* Every worker watches the listener; EPOLLEXCLUSIVE wakes one of
         * the idle ones per connection, not all of them. */
        struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &listener_tag};
        struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &wake_tag};
        if (w->ep < 0 || w->wake_fd < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, h->fd, &lev) ||
            epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake_fd, &wev) ||
            pthread_create(&w->thread, NULL, worker_main, w)) {
            snprintf(errstr, errstr_size, "cannot start HTTP worker %d: %s", i, strerror(errno));
            return -1;
        }
        w->started = 1;
        h->n_workers++;
    }
    for (int i = 0; i < h->lim.threads; i++) {
        if (pthread_create(&h->handlers[i], NULL, handler_main, h)) {
            snprintf(errstr, errstr_size, "cannot start HTTP handler %d: %s", i, strerror(errno));
            return -1;
        }
        h->n_handlers++;
    }
    return 0;
}

void httpd_free(struct httpd *h)
{
    if (!h)
        return;
    /* Handlers first (each finishes the request it holds; queued ones are
     * dropped), then the workers, which close every connection. */
    atomic_store(&h->stopping, 1);
    pthread_mutex_lock(&h->job_lock);
    pthread_cond_broadcast(&h->job_cond);
    pthread_mutex_unlock(&h->job_lock);
    for (int i = 0; i < h->n_handlers; i++)
        pthread_join(h->handlers[i], NULL);
    for (int i = 0; i < h->lim.io_threads && h->workers; i++) {
        struct httpd_worker *w = &h->workers[i];
        if (w->started) {
            pthread_join(w->thread, NULL);
            pthread_mutex_destroy(&w->done_lock);
        }
        if (w->ep > 0)
            close(w->ep);
        if (w->wake_fd > 0)
            close(w->wake_fd);
    }
    if (h->fd >= 0)
        close(h->fd);
    for (struct httpd_route *r = h->routes, *next; r; r = next) {
        next = r->next;
        for (size_t i = 0; i < r->n_segs; i++)
            free(r->segs[i]);
        free(r);
    }
    for (size_t i = 0; h->addr_bucket && i < h->addr_buckets; i++)
        for (struct addr_count *a = h->addr_bucket[i], *next; a; a = next) {
            next = a->next;
            free(a);
        }
    free(h->addr_bucket);
    free(h->workers);
    free(h->handlers);
    pthread_mutex_destroy(&h->addr_lock);
    pthread_mutex_destroy(&h->job_lock);
    pthread_cond_destroy(&h->job_cond);
    free(h);
}
