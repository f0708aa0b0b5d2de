#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define FAILURES_KEPT 8
#define RELAY_BUF     16384
#define HANDSHAKE_MS  10000
#define CONN_STACK    (256 * 1024)
#define STOP_WAIT_S   2 /* seconds proxy_stop waits for connection threads */

/* SOCKS5 reply codes (RFC 1928 section 6). */
enum {
    REP_OK = 0,
    REP_FAILURE = 1,
    REP_NOT_ALLOWED = 2,
    REP_HOST_UNREACHABLE = 4,
    REP_REFUSED = 5,
    REP_TTL_EXPIRED = 6,
    REP_BAD_COMMAND = 7,
    REP_BAD_ADDRESS = 8,
};

struct slot {
    pthread_mutex_t lock;
    unsigned long gen; /* bumped per item: late connections of the last one record nothing */
    int block_ads;
    struct proxy_failure fail[FAILURES_KEPT];
    size_t n_fail; /* total recorded; the latest is fail[(n_fail - 1) % FAILURES_KEPT] */
    struct proxy_stats stats;
};

struct conn {
    struct conn *next, *prev;
    struct proxy *p;
    int slot; /* PROXY_DEFAULT or 0..slots-1 */
    unsigned long gen;
    int client, upstream;
};

struct proxy {
    struct proxy_conf conf;
    int slots;
    int *listen_fd; /* [0] default, [1 + i] slot i */
    int *port;
    struct slot *slot;
    int wake[2];
    pthread_t acceptor;
    pthread_mutex_t lock; /* conns, n_conns, stopping */
    pthread_cond_t gone;
    struct conn *conns;
    long n_conns;
    int stopping;
    int abandoned; /* proxy_stop returned: the last connection frees the proxy */
};

static struct metric *m_ok, *m_blocked, *m_ads, *m_dns, *m_connect;

static void record(struct conn *c, const char *host, int port, const char *kind, const char *why)
{
    if (c->slot == PROXY_DEFAULT)
        return;
    struct slot *s = &c->p->slot[c->slot];
    pthread_mutex_lock(&s->lock);
    if (s->gen == c->gen) {
        struct proxy_failure *f = &s->fail[s->n_fail++ % FAILURES_KEPT];
        snprintf(f->host, sizeof(f->host), "%s", host);
        f->port = port;
        f->kind = kind;
        snprintf(f->why, sizeof(f->why), "%s", why);
        if (strcmp(kind, "blocked") == 0)
            s->stats.blocked++;
        else if (strcmp(kind, "ad") == 0)
            s->stats.ads++;
    }
    pthread_mutex_unlock(&s->lock);
}

/* Reads exactly n bytes before the deadline. 0 ok. */
static int read_n(int fd, void *out, size_t n, int64_t deadline)
{
    char *p = out;
    while (n) {
        int64_t left = deadline - clk_mono_ms();
        struct pollfd pf = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            return -1;
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void reply(int fd, int rep)
{
    unsigned char r[10] = {5, (unsigned char)rep, 0, 1, 0, 0, 0, 0, 0, 0};
    if (write(fd, r, sizeof(r)) < 0)
        (void)0; /* the client is gone; nothing to tell it */
}

/* Non-blocking connect with a timeout. The socket (blocking again), or -1
 * with errno. */
static int connect_to(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS)
        goto fail;
    struct pollfd pf = {fd, POLLOUT, 0};
    int r = poll(&pf, 1, timeout_ms);
    if (r == 0) {
        errno = ETIMEDOUT;
        goto fail;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
        errno = err ? err : errno;
        goto fail;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* The SOCKS5 handshake: the target host (NUL-terminated) and port. Answers
 * the client itself when the request is not one we serve. 0 ok. */
static int handshake(int fd, char *host, size_t host_size, int *port)
{
    int64_t deadline = clk_mono_ms() + HANDSHAKE_MS;
    unsigned char h[4], methods[255];
    if (read_n(fd, h, 2, deadline) || h[0] != 5 || read_n(fd, methods, h[1], deadline))
        return -1;
    /* No authentication: the port is on loopback, and Chromium has none. */
    if (!memchr(methods, 0, h[1])) {
        unsigned char no[2] = {5, 0xff};
        if (write(fd, no, 2) < 0)
            return -1;
        return -1;
    }
    unsigned char ok[2] = {5, 0};
    if (write(fd, ok, 2) != 2 || read_n(fd, h, 4, deadline) || h[0] != 5)
        return -1;
    if (h[1] != 1) { /* CONNECT only: no BIND, no UDP ASSOCIATE */
        reply(fd, REP_BAD_COMMAND);
        return -1;
    }
    unsigned char addr[256];
    if (h[3] == 1) {
        if (read_n(fd, addr, 4, deadline))
            return -1;
        inet_ntop(AF_INET, addr, host, (socklen_t)host_size);
    } else if (h[3] == 4) {
        if (read_n(fd, addr, 16, deadline))
            return -1;
        inet_ntop(AF_INET6, addr, host, (socklen_t)host_size);
    } else if (h[3] == 3) {
        unsigned char len;
        if (read_n(fd, &len, 1, deadline) || !len || read_n(fd, addr, len, deadline) ||
            len >= host_size)
            return -1;
        for (int i = 0; i < len; i++)
            if (addr[i] <= ' ' || addr[i] >= 0x7f || addr[i] == '/') {
                reply(fd, REP_BAD_ADDRESS);
                return -1;
            }
        memcpy(host, addr, len);
        host[len] = '\0';
    } else {
        reply(fd, REP_BAD_ADDRESS);
        return -1;
    }
    unsigned char pb[2];
    if (read_n(fd, pb, 2, deadline))
        return -1;
    *port = pb[0] << 8 | pb[1];
    return 0;
}

/* Resolves, checks and connects. The upstream socket, or -1 after
 * replying the failure to the client and recording it. */
static int open_upstream(struct conn *c, const char *host, int port, int block_ads)
{
    struct proxy *p = c->p;
    char why[300], ports[8];
    if (c->slot == PROXY_DEFAULT) {
        reply(c->client, REP_NOT_ALLOWED);
        return -1;
    }
    if (block_ads && adblock_match(p->conf.ads, host)) {
        metric_inc(m_ads, 1);
        snprintf(why, sizeof(why), "%.100s is an ad or tracker host", host);
        record(c, host, port, "ad", why);
        reply(c->client, REP_NOT_ALLOWED);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    snprintf(ports, sizeof(ports), "%d", port);
    int gai = getaddrinfo(host, ports, &hints, &res);
    if (gai) {
        metric_inc(m_dns, 1);
        snprintf(why, sizeof(why), "%.100s did not resolve: %.40s", host, gai_strerror(gai));
        record(c, host, port, "dns", why);
        reply(c->client, REP_HOST_UNREACHABLE);
        return -1;
    }
    int fd = -1, checked = 0, err = 0;
    struct ssrf_guard g = {.allow_private = p->conf.allow_private, .allow = p->conf.allow};
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        /* The address checked is the address connected to. */
        if (ssrf_guard_check(&g, ai->ai_addr))
            continue;
        checked++;
        fd = connect_to(ai, p->conf.connect_timeout_ms);
        if (fd < 0)
            err = errno;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        metric_inc(m_ok, 1);
        return fd;
    }
    if (!checked) {
        metric_inc(m_blocked, 1);
        snprintf(why, sizeof(why), "refused target %.100s: %.120s", host, g.why);
        record(c, host, port, "blocked", why);
        reply(c->client, REP_NOT_ALLOWED);
    } else {
        metric_inc(m_connect, 1);
        snprintf(why, sizeof(why), "%.100s:%d: %s", host, port, strerror(err));
        record(c, host, port, err == ETIMEDOUT ? "timeout" : "connect", why);
        reply(c->client, err == ETIMEDOUT      ? REP_TTL_EXPIRED
                         : err == ECONNREFUSED ? REP_REFUSED
                                               : REP_HOST_UNREACHABLE);
    }
    return -1;
}

/* One direction of a relay. */
struct flow {
    char buf[RELAY_BUF];
    size_t off, len;
    int eof;
};

/* Copies both ways until both sides have closed (or either fails). */
static void relay(int a, int b)
{
    struct flow ab = {0}, ba = {0}; /* a → b, b → a */
    int fds[2] = {a, b};
    struct flow *in[2] = {&ab, &ba}, *out[2] = {&ba, &ab};
    while (!(ab.eof && !ab.len && ba.eof && !ba.len)) {
        struct pollfd pf[2];
        for (int i = 0; i < 2; i++) {
            pf[i].events =
                (short)((!in[i]->eof && !in[i]->len ? POLLIN : 0) | (out[i]->len ? POLLOUT : 0));
            /* poll reports a hang-up or an error whether asked or not: a
             * side with nothing left to do is left out, or its hang-up
             * would wake this loop at once, again and again, until the
             * other side is done (a whole core, for as long as a site
             * keeps a connection open). */
            pf[i].fd = pf[i].events ? fds[i] : -1;
            pf[i].revents = 0;
        }
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].revents & POLLNVAL)
                return;
            if ((pf[i].revents & (POLLIN | POLLHUP | POLLERR)) && !in[i]->eof && !in[i]->len) {
                ssize_t r = read(fds[i], in[i]->buf, RELAY_BUF);
                if (r < 0 && (errno == EINTR || errno == EAGAIN))
                    continue;
                if (r < 0)
                    return; /* reset: nothing sent back can reach it any more */
                if (r == 0) {
                    in[i]->eof = 1;
                    shutdown(fds[1 - i], SHUT_WR);
                } else {
                    in[i]->len = (size_t)r;
                    in[i]->off = 0;
                }
            }
            if ((pf[i].revents & (POLLOUT | POLLERR | POLLHUP)) && out[i]->len) {
                ssize_t w = write(fds[i], out[i]->buf + out[i]->off, out[i]->len);
                if (w < 0 && (errno == EINTR || errno == EAGAIN))
                    continue;
                if (w <= 0)
                    return;
                out[i]->off += (size_t)w;
                out[i]->len -= (size_t)w;
            }
        }
    }
}

static void proxy_free(struct proxy *p);

static void conn_end(struct conn *c)
{
    struct proxy *p = c->p;
    pthread_mutex_lock(&p->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    p->n_conns--;
    int last = p->abandoned && !p->n_conns;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->lock);
    close(c->client);
    if (c->upstream >= 0)
        close(c->upstream);
    free(c);
    if (last)
        proxy_free(p);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    char host[256];
    int port, block_ads = 0;
    if (c->slot != PROXY_DEFAULT) {
        struct slot *s = &c->p->slot[c->slot];
        pthread_mutex_lock(&s->lock);
        block_ads = s->block_ads;
        s->stats.connections++;
        pthread_mutex_unlock(&s->lock);
    }
    if (handshake(c->client, host, sizeof(host), &port) == 0) {
        int up = open_upstream(c, host, port, block_ads);
        pthread_mutex_lock(&c->p->lock);
        c->upstream = up;
        int stopping = c->p->stopping;
        pthread_mutex_unlock(&c->p->lock);
        if (up >= 0 && !stopping) {
            reply(c->client, REP_OK);
            relay(c->client, up);
        }
    }
    conn_end(c);
    return NULL;
}

static void accept_one(struct proxy *p, int fd, int slot)
{
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->n_conns >= p->conf.max_connections) {
        pthread_mutex_unlock(&p->lock);
        LOG_WARN("proxy_full", "connections=%ld", p->n_conns);
        close(cfd);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->p = p;
    c->slot = slot;
    c->client = cfd;
    c->upstream = -1;
    if (slot != PROXY_DEFAULT) {
        pthread_mutex_lock(&p->slot[slot].lock);
        c->gen = p->slot[slot].gen;
        pthread_mutex_unlock(&p->slot[slot].lock);
    }
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    p->n_conns++;
    pthread_mutex_unlock(&p->lock);

    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, CONN_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, conn_main, c)) {
        LOG_WARN("proxy_thread_failed", "errno=%d", errno);
        conn_end(c);
    }
    pthread_attr_destroy(&attr);
}

static void *acceptor_main(void *arg)
{
    struct proxy *p = arg;
    int n = p->slots + 1;
    struct pollfd *pf = calloc((size_t)n + 1, sizeof(*pf));
    if (!pf)
        abort();
    for (int i = 0; i < n; i++)
        pf[i] = (struct pollfd){p->listen_fd[i], POLLIN, 0};
    pf[n] = (struct pollfd){p->wake[0], POLLIN, 0};
    for (;;) {
        if (poll(pf, (nfds_t)n + 1, -1) < 0 && errno != EINTR)
            break;
        if (pf[n].revents)
            break;
        for (int i = 0; i < n; i++)
            if (pf[i].revents & POLLIN)
                accept_one(p, pf[i].fd, i - 1);
    }
    free(pf);
    return NULL;
}

static int listen_local(int *port, char *errstr, size_t errstr_size)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 256) ||
        getsockname(fd, (struct sockaddr *)&a, &len)) {
        snprintf(errstr, errstr_size, "proxy listener: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

struct proxy *proxy_start(const struct proxy_conf *pc, int slots, char *errstr, size_t errstr_size)
{
    struct proxy *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->conf = *pc;
    p->slots = slots;
    p->listen_fd = calloc((size_t)slots + 1, sizeof(int));
    p->port = calloc((size_t)slots + 1, sizeof(int));
    p->slot = calloc((size_t)slots, sizeof(*p->slot));
    if (!p->listen_fd || !p->port || !p->slot || pipe2(p->wake, O_CLOEXEC))
        abort();
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->gone, NULL);
    for (int i = 0; i < slots; i++)
        pthread_mutex_init(&p->slot[i].lock, NULL);
    for (int i = 0; i <= slots; i++)
        p->listen_fd[i] = -1;
    for (int i = 0; i <= slots; i++) {
        p->listen_fd[i] = listen_local(&p->port[i], errstr, errstr_size);
        if (p->listen_fd[i] < 0)
            goto fail;
    }
    static const char help[] = "Connections the render proxy was asked for, by outcome";
    m_ok = metric_counter("ferry_render_proxy_connections_total", help, "outcome=\"ok\"");
    m_blocked = metric_counter("ferry_render_proxy_connections_total", help, "outcome=\"blocked\"");
    m_ads = metric_counter("ferry_render_proxy_connections_total", help, "outcome=\"ad\"");
    m_dns = metric_counter("ferry_render_proxy_connections_total", help, "outcome=\"dns\"");
    m_connect = metric_counter("ferry_render_proxy_connections_total", help, "outcome=\"connect\"");
    if (pthread_create(&p->acceptor, NULL, acceptor_main, p)) {
        snprintf(errstr, errstr_size, "proxy thread: %s", strerror(errno));
        goto fail;
    }
    return p;
fail:
    for (int i = 0; i <= slots; i++)
        if (p->listen_fd[i] >= 0)
            close(p->listen_fd[i]);
    close(p->wake[0]);
    close(p->wake[1]);
    free(p->listen_fd);
    free(p->port);
    free(p->slot);
    free(p);
    return NULL;
}

static void proxy_free(struct proxy *p)
{
    for (int i = 0; i < p->slots; i++)
        pthread_mutex_destroy(&p->slot[i].lock);
    pthread_cond_destroy(&p->gone);
    pthread_mutex_destroy(&p->lock);
    free(p->listen_fd);
    free(p->port);
    free(p->slot);
    free(p);
}

void proxy_stop(struct proxy *p)
{
    if (!p)
        return;
    if (write(p->wake[1], "x", 1) < 0)
        LOG_WARN("proxy_wake_failed", "errno=%d", errno);
    pthread_join(p->acceptor, NULL);
    for (int i = 0; i <= p->slots; i++)
        close(p->listen_fd[i]);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    /* Wake every relay and handshake: their reads and polls end. */
    for (struct conn *c = p->conns; c; c = c->next) {
        shutdown(c->client, SHUT_RDWR);
        if (c->upstream >= 0)
            shutdown(c->upstream, SHUT_RDWR);
    }
    /* A thread inside getaddrinfo() cannot be woken: after a while it is
     * left to finish on its own, and the last one out frees the proxy. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += STOP_WAIT_S;
    while (p->n_conns && pthread_cond_timedwait(&p->gone, &p->lock, &ts) == 0)
        ;
    int left = (int)p->n_conns;
    p->abandoned = left > 0;
    pthread_mutex_unlock(&p->lock);
    if (left)
        LOG_WARN("proxy_stop_left", "connections=%d why=resolving", left);
    else
        proxy_free(p);
}

int proxy_port(const struct proxy *p, int slot)
{
    return p->port[slot + 1];
}

void proxy_slot_begin(struct proxy *p, int slot, int block_ads)
{
    struct slot *s = &p->slot[slot];
    pthread_mutex_lock(&s->lock);
    s->gen++;
    s->block_ads = block_ads;
    s->n_fail = 0;
    memset(&s->stats, 0, sizeof(s->stats));
    pthread_mutex_unlock(&s->lock);
}

int proxy_slot_failure(struct proxy *p, int slot, const char *host, struct proxy_failure *out)
{
    struct slot *s = &p->slot[slot];
    int found = 0;
    pthread_mutex_lock(&s->lock);
    size_t kept = s->n_fail < FAILURES_KEPT ? s->n_fail : FAILURES_KEPT;
    for (size_t k = 0; k < kept && !found; k++) {
        const struct proxy_failure *f = &s->fail[(s->n_fail - 1 - k) % FAILURES_KEPT];
        if (!host || strcasecmp(f->host, host) == 0) {
            *out = *f;
            found = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

void proxy_slot_stats(struct proxy *p, int slot, struct proxy_stats *out)
{
    struct slot *s = &p->slot[slot];
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}

long proxy_active(struct proxy *p)
{
    pthread_mutex_lock(&p->lock);
    long n = p->n_conns;
    pthread_mutex_unlock(&p->lock);
    return n;
}
