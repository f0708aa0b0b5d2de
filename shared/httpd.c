#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "httpd_int.h"
#include "log.h"

#define READ_CHUNK   (64 * 1024)
#define LINGER_MS    2000 /* reading what a refused client still sends, so it sees our answer */
#define SWEEP_MS     250  /* how often deadlines are checked */
#define FD_RESERVE   512  /* descriptors kept for Kafka, files and the rest */
#define ACCEPT_BATCH 32

enum conn_state { C_HEAD, C_BODY, C_HANDLER, C_WRITE, C_LINGER };

struct conn {
    struct conn *prev, *next;
    struct httpd_worker *w;
    int fd;
    uint32_t addr; /* IPv4, network order */
    enum conn_state state;
    int64_t deadline; /* ms, monotonic */
    struct buf in;    /* bytes read and not yet consumed */
    size_t scanned;   /* of `in`, by httpd_head_scan */
    /* The request being read. */
    char *head_bytes; /* owned copy the head's strings point into */
    struct httpd_head head;
    long long body_left; /* Content-Length bytes still to come */
    struct httpd_chunked chunked;
    struct buf body;
    /* The answer being written: head, then body. */
    struct buf out;
    size_t out_off;
    char *out_body;
    size_t out_body_len, out_body_off;
    int close_after;
};

struct httpd_worker {
    struct httpd *h;
    pthread_t thread;
    int ep;
    int started;
    struct conn *conns; /* every connection this worker owns */
};

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
    .threads = 1,
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

static void addr_give(struct httpd *h, uint32_t addr)
{
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

/* ------------------------------------------------------------ connections */

static void conn_watch(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void request_release(struct conn *c)
{
    free(c->head_bytes);
    c->head_bytes = NULL;
    memset(&c->head, 0, sizeof(c->head));
    memset(&c->chunked, 0, sizeof(c->chunked));
    c->body_left = 0;
    buf_release(&c->body);
}

static void conn_close(struct conn *c)
{
    struct httpd *h = c->w->h;
    epoll_ctl(c->w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    request_release(c);
    buf_release(&c->in);
    buf_release(&c->out);
    free(c->out_body);
    addr_give(h, c->addr);
    atomic_fetch_sub(&h->n_conns, 1);
    free(c);
}

/* Drops the first n bytes of `in`. */
static void in_consume(struct conn *c, size_t n)
{
    memmove(c->in.ptr, c->in.ptr + n, c->in.len - n);
    buf_truncate(&c->in, c->in.len - n);
    c->scanned = 0;
}

/* Queues the answer in resp (taken); conn_step() writes it. */
static void conn_answer(struct conn *c, struct httpd_resp *resp, int head_only)
{
    unsigned st = resp->status ? resp->status : 500;
    buf_reset(&c->out);
    buf_addf(&c->out, "HTTP/1.1 %u %s\r\n", st, httpd_reason(st));
    if (resp->content_type[0])
        buf_addf(&c->out, "Content-Type: %s\r\n", resp->content_type);
    buf_addf(&c->out, "Content-Length: %zu\r\n%s%s\r\n", resp->body_len, buf_str(&resp->headers),
             c->close_after ? "Connection: close\r\n" : "");
    c->out_off = 0;
    free(c->out_body);
    c->out_body = head_only ? NULL : resp->body;
    c->out_body_len = head_only ? 0 : resp->body_len;
    c->out_body_off = 0;
    if (!head_only)
        resp->body = NULL;
    httpd_resp_release(resp);
    c->state = C_WRITE;
    c->deadline = clk_mono_ms() + c->w->h->lim.idle_timeout_ms;
}

static const char *const refusal_codes[][2] = {
    {"400", "bad_request"},       {"408", "request_timeout"},
    {"413", "body_too_large"},    {"417", "expectation_failed"},
    {"431", "headers_too_large"}, {"501", "not_implemented"},
    {"503", "unavailable"},       {"505", "http_version_not_supported"},
};

/* Refuses the request being read: an error answer, then the connection
 * closes (what follows on it can no longer be framed with confidence). */
static void conn_refuse(struct conn *c, unsigned status, const char *why)
{
    struct httpd_resp resp = {.headers = BUF_INIT(4096)};
    char st[8];
    const char *code = "bad_request";
    snprintf(st, sizeof(st), "%u", status);
    for (size_t i = 0; i < sizeof(refusal_codes) / sizeof(refusal_codes[0]); i++)
        if (strcmp(refusal_codes[i][0], st) == 0)
            code = refusal_codes[i][1];
    request_release(c);
    httpd_error(&resp, status, code, why, NULL);
    LOG_DEBUG("http_refused", "status=%u why=\"%s\"", status, why);
    c->close_after = 1;
    conn_answer(c, &resp, 0);
}

static void conn_dispatch(struct conn *c)
{
    struct httpd_resp resp = {.headers = BUF_INIT(16384)};
    c->state = C_HANDLER;
    httpd_dispatch(c->w->h, &c->head, buf_str(&c->body), c->body.len, &resp);
    int head_only = strcmp(c->head.method, "HEAD") == 0;
    c->close_after |= !c->head.keep_alive;
    request_release(c);
    conn_answer(c, &resp, head_only);
}

/* Moves a complete head from `in` into the request; refuses it when its
 * framing is ambiguous or its body too large. */
static void take_head(struct conn *c, size_t len)
{
    const char *why;
    struct httpd *h = c->w->h;
    c->head_bytes = malloc(len + 1);
    if (!c->head_bytes) {
        conn_refuse(c, 503, "out of memory");
        return;
    }
    memcpy(c->head_bytes, c->in.ptr, len);
    c->head_bytes[len] = '\0';
    in_consume(c, len);
    int st = httpd_head_parse(c->head_bytes, len, &c->head, &why);
    if (st == 0 && c->head.content_length > (long long)h->lim.max_body) {
        st = 413;
        why = "the body is larger than this server accepts";
    }
    if (st) {
        conn_refuse(c, (unsigned)st, why);
        return;
    }
    buf_init(&c->body, h->lim.max_body);
    c->body_left = c->head.content_length > 0 ? c->head.content_length : 0;
    if (!c->head.chunked && !c->body_left) {
        conn_dispatch(c);
        return;
    }
    c->state = C_BODY;
    c->deadline = clk_mono_ms() + h->lim.idle_timeout_ms;
    /* Only now, with the head accepted, is the client told to send. */
    if (c->head.expect_continue && c->in.len == 0)
        buf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* Consumes what `in` holds (a head, then its body) until more bytes are
 * needed or an answer is queued. */
static void conn_process(struct conn *c)
{
    struct httpd *h = c->w->h;
    if (c->state == C_HEAD) {
        if (c->in.len == 0)
            return;
        if (c->scanned == 0)
            c->deadline = clk_mono_ms() + h->lim.header_timeout_ms;
        long end = httpd_head_scan(c->in.ptr, c->in.len, &c->scanned, h->lim.max_head);
        if (end == 0)
            return;
        if (end < 0) {
            conn_refuse(c, (unsigned)-end,
                        end == -431 ? "the request head is too large"
                                    : "a control byte, or a line end other than CRLF");
            return;
        }
        take_head(c, (size_t)end);
    }
    if (c->state != C_BODY)
        return;
    if (c->head.chunked) {
        long used = httpd_chunked_feed(&c->chunked, c->in.ptr, c->in.len, &c->body);
        if (used < 0) {
            conn_refuse(c, (unsigned)-used,
                        used == -413 ? "the body is larger than this server accepts"
                                     : "malformed chunked body");
            return;
        }
        in_consume(c, (size_t)used);
        if (c->chunked.done)
            conn_dispatch(c);
        return;
    }
    size_t n = c->in.len < (size_t)c->body_left ? c->in.len : (size_t)c->body_left;
    buf_add(&c->body, c->in.ptr, n); /* within the cap: checked on Content-Length */
    in_consume(c, n);
    c->body_left -= (long long)n;
    if (c->body_left == 0)
        conn_dispatch(c);
}

/* Writes what is queued: 1 all out, 0 waiting for the socket, -1 closed. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out.len || c->out_body_off < c->out_body_len) {
        struct iovec iov[2];
        int n = 0;
        if (c->out_off < c->out.len)
            iov[n++] = (struct iovec){c->out.ptr + c->out_off, c->out.len - c->out_off};
        if (c->out_body_off < c->out_body_len)
            iov[n++] =
                (struct iovec){c->out_body + c->out_body_off, c->out_body_len - c->out_body_off};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            conn_watch(c, c->state == C_BODY ? EPOLLIN | EPOLLOUT : EPOLLOUT);
            return 0;
        }
        if (w < 0) {
            conn_close(c);
            return -1;
        }
        size_t left = (size_t)w, head = c->out.len - c->out_off;
        size_t from_head = left < head ? left : head;
        c->out_off += from_head;
        c->out_body_off += left - from_head;
        c->deadline = clk_mono_ms() + c->w->h->lim.idle_timeout_ms;
    }
    buf_reset(&c->out);
    c->out_off = 0;
    free(c->out_body);
    c->out_body = NULL;
    c->out_body_len = c->out_body_off = 0;
    return 1;
}

/* Moves the connection as far as it can go without waiting: reads what is
 * buffered, writes answers, and serves pipelined requests in order.
 * Returns -1 when the connection was closed (c is gone). */
static int conn_step(struct conn *c)
{
    for (;;) {
        conn_process(c);
        if (c->state == C_HEAD || c->state == C_BODY) {
            if (c->out.len) { /* 100 Continue */
                int r = conn_flush(c);
                if (r < 0)
                    return -1;
                if (r == 1)
                    conn_watch(c, EPOLLIN | EPOLLRDHUP);
            }
            return 0;
        }
        int r = conn_flush(c);
        if (r <= 0)
            return r;
        if (c->close_after) {
            /* Half-close and read what the client still sends, so closing
             * with unread bytes does not reset the connection under the
             * answer. */
            shutdown(c->fd, SHUT_WR);
            c->state = C_LINGER;
            c->deadline = clk_mono_ms() + LINGER_MS;
            buf_release(&c->in);
            conn_watch(c, EPOLLIN | EPOLLRDHUP);
            return 0;
        }
        c->state = C_HEAD;
        c->deadline = clk_mono_ms() + c->w->h->lim.idle_timeout_ms;
        conn_watch(c, EPOLLIN | EPOLLRDHUP);
    }
}

static void conn_readable(struct conn *c)
{
    for (int round = 0; round < 16; round++) {
        if (c->state == C_LINGER) {
            char sink[4096];
            ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                conn_close(c);
            if (n <= 0)
                return;
            continue;
        }
        if (c->state != C_HEAD && c->state != C_BODY)
            return;
        if (buf_reserve(&c->in, READ_CHUNK)) {
            conn_refuse(c, 431, "the request head is too large");
            conn_step(c);
            return;
        }
        ssize_t n = recv(c->fd, c->in.ptr + c->in.len, READ_CHUNK, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            conn_close(c); /* the client left (mid-request or between requests) */
            return;
        }
        c->in.len += (size_t)n;
        c->in.ptr[c->in.len] = '\0';
        if (c->state == C_BODY)
            c->deadline = clk_mono_ms() + c->w->h->lim.idle_timeout_ms;
        if (conn_step(c) < 0 || (size_t)n < READ_CHUNK)
            return;
    }
}

static void conn_expire(struct conn *c)
{
    if (c->state == C_HEAD && c->in.len > 0) {
        conn_refuse(c, 408, "the request head took too long");
        conn_step(c);
        return;
    }
    conn_close(c);
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
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            addr_give(h, addr);
            atomic_fetch_sub(&h->n_conns, 1);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->w = w;
        c->fd = fd;
        c->addr = addr;
        c->state = C_HEAD;
        c->deadline = clk_mono_ms() + h->lim.header_timeout_ms;
        buf_init(&c->in, h->lim.max_head + READ_CHUNK);
        buf_init(&c->out, BUF_NO_MAX);
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

static void sweep(struct httpd_worker *w)
{
    int64_t now = clk_mono_ms();
    for (struct conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (c->deadline <= now)
            conn_expire(c);
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
            if (ev[i].data.ptr == NULL) {
                accept_some(w);
                continue;
            }
            struct conn *c = ev[i].data.ptr;
            if (ev[i].events & EPOLLERR)
                conn_close(c);
            else if (c->state == C_WRITE || (ev[i].events & EPOLLOUT))
                conn_step(c);
            else
                conn_readable(c);
        }
        if (clk_mono_ms() >= next_sweep) {
            sweep(w);
            next_sweep = clk_mono_ms() + SWEEP_MS;
        }
    }
    while (w->conns)
        conn_close(w->conns);
    return NULL;
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
    if (h->lim.threads < 1)
        h->lim.threads = 1;
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
    h->addr_buckets = 4096;
    h->addr_bucket = calloc(h->addr_buckets, sizeof(*h->addr_bucket));
    h->workers = calloc((size_t)h->lim.threads, sizeof(*h->workers));
    if (!h->addr_bucket || !h->workers) {
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
    for (int i = 0; i < h->lim.threads; i++) {
        struct httpd_worker *w = &h->workers[i];
        w->h = h;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        /* Every worker watches the listener; EPOLLEXCLUSIVE wakes one of
         * the idle ones per connection, not all of them. */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
        if (w->ep < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, h->fd, &ev) ||
            pthread_create(&w->thread, NULL, worker_main, w)) {
            snprintf(errstr, errstr_size, "cannot start HTTP worker %d: %s", i, strerror(errno));
            return -1;
        }
        w->started = 1;
        h->n_workers++;
    }
    return 0;
}

void httpd_free(struct httpd *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, 1);
    for (int i = 0; i < h->lim.threads && h->workers; i++) {
        if (h->workers[i].started)
            pthread_join(h->workers[i].thread, NULL);
        if (h->workers[i].ep > 0)
            close(h->workers[i].ep);
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
    pthread_mutex_destroy(&h->addr_lock);
    free(h);
}
