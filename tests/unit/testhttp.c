#include "testhttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

#define MAX_CONNS 4096
#define MAX_TAGS  32

struct conn {
    int fd;
    char in[4096];
    size_t in_len;
    int holding;       /* a request is in, its answer not yet sent */
    int64_t answer_at; /* monotonic ms; -1: never (/hang) */
    char tag[32];
    char *out; /* the answer being written */
    size_t out_len, out_off;
};

struct tag {
    int used;
    char name[32];
    long requests;
    int open, max;
};

struct testhttp {
    int lfd, port;
    int stop_pipe[2];
    char url[64];
    pthread_t thread;
    pthread_mutex_t lock; /* guards the tags and `last` */
    struct tag tags[MAX_TAGS];
    char last[4096]; /* the head of the last request */
    struct conn *conns[MAX_CONNS];
    int n_conns;
};

static struct tag *tag_get(struct testhttp *s, const char *name)
{
    for (int i = 0; i < MAX_TAGS; i++) {
        if (s->tags[i].used && strcmp(s->tags[i].name, name) == 0)
            return &s->tags[i];
        if (!s->tags[i].used) {
            s->tags[i].used = 1;
            snprintf(s->tags[i].name, sizeof(s->tags[i].name), "%s", name);
            return &s->tags[i];
        }
    }
    return &s->tags[MAX_TAGS - 1];
}

static void conn_close(struct testhttp *s, int i)
{
    struct conn *c = s->conns[i];
    if (c->holding) {
        pthread_mutex_lock(&s->lock);
        tag_get(s, c->tag)->open--;
        pthread_mutex_unlock(&s->lock);
    }
    close(c->fd);
    free(c->out);
    free(c);
    s->conns[i] = s->conns[--s->n_conns];
}

/* The value of query parameter `name` in the request line, or "". */
static void query_param(const char *target, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    const char *q = strchr(target, '?');
    size_t nlen = strlen(name);
    while (q) {
        q++;
        if (strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
            const char *v = q + nlen + 1;
            size_t o = 0;
            while (*v && *v != '&' && *v != ' ' && o + 1 < size) {
                if (v[0] == '%' && v[1] == '2' && v[2] == '0') {
                    out[o++] = ' ';
                    v += 3;
                } else {
                    out[o++] = *v++;
                }
            }
            out[o] = '\0';
            return;
        }
        q = strchr(q, '&');
    }
}

static void set_answer(struct conn *c, int status, const char *retry_after, size_t body_len,
                       const char *body)
{
    char head[256];
    int n = snprintf(
        head, sizeof(head),
        "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s%s%sContent-Type: text/plain\r\n\r\n", status,
        body_len, retry_after[0] ? "Retry-After: " : "", retry_after, retry_after[0] ? "\r\n" : "");
    c->out = malloc((size_t)n + body_len);
    if (!c->out)
        abort();
    memcpy(c->out, head, (size_t)n);
    if (body)
        memcpy(c->out + n, body, body_len);
    else
        memset(c->out + n, 'a', body_len);
    c->out_len = (size_t)n + body_len;
    c->out_off = 0;
}

/* A whole request is in c->in: decide the answer and when it goes. */
static void take_request(struct testhttp *s, struct conn *c, size_t req_len)
{
    char target[1024] = "", retry_after[64];
    sscanf(c->in, "%*s %1023s", target);
    query_param(target, "tag", c->tag, sizeof(c->tag));
    query_param(target, "retry_after", retry_after, sizeof(retry_after));
    pthread_mutex_lock(&s->lock);
    snprintf(s->last, sizeof(s->last), "%.*s", (int)req_len, c->in);
    struct tag *t = tag_get(s, c->tag);
    t->requests++;
    if (++t->open > t->max)
        t->max = t->open;
    pthread_mutex_unlock(&s->lock);
    memmove(c->in, c->in + req_len, c->in_len - req_len);
    c->in_len -= req_len;
    c->holding = 1;
    c->answer_at = clk_mono_ms();
    long v = 0;
    if (sscanf(target, "/delay/%ld", &v) == 1) {
        c->answer_at += v;
        set_answer(c, 200, retry_after, 2, "ok");
    } else if (sscanf(target, "/bytes/%ld", &v) == 1) {
        set_answer(c, 200, retry_after, (size_t)v, NULL);
    } else if (sscanf(target, "/status/%ld", &v) == 1) {
        set_answer(c, (int)v, retry_after, 6, "status");
    } else if (strncmp(target, "/hang", 5) == 0) {
        c->answer_at = -1;
    } else {
        set_answer(c, 200, retry_after, 2, "ok");
    }
}

/* Reads what arrived; -1 when the peer is gone. A request's body (POST) is
 * skipped by its Content-Length. */
static int conn_read(struct testhttp *s, struct conn *c)
{
    ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
    if (n <= 0)
        return n == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
    c->in_len += (size_t)n;
    if (c->holding)
        return 0;
    c->in[c->in_len < sizeof(c->in) ? c->in_len : sizeof(c->in) - 1] = '\0';
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end)
        return c->in_len == sizeof(c->in) ? -1 : 0;
    size_t head = (size_t)(end + 4 - c->in);
    char *cl = strcasestr(c->in, "\r\nContent-Length:");
    size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    if (head + body > sizeof(c->in))
        return -1;
    if (c->in_len < head + body)
        return 0;
    take_request(s, c, head + body);
    return 0;
}

/* Writes what is due; -1 when the peer is gone. */
static int conn_write(struct testhttp *s, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->holding = 0;
    pthread_mutex_lock(&s->lock);
    tag_get(s, c->tag)->open--;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void *serve(void *arg)
{
    struct testhttp *s = arg;
    static struct pollfd pfd[MAX_CONNS + 2];
    for (;;) {
        int64_t now = clk_mono_ms(), wait = 200;
        pfd[0] = (struct pollfd){.fd = s->stop_pipe[0], .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        for (int i = 0; i < s->n_conns; i++) {
            struct conn *c = s->conns[i];
            int due = c->holding && c->answer_at >= 0 && c->answer_at <= now;
            pfd[i + 2] = (struct pollfd){.fd = c->fd, .events = due ? POLLIN | POLLOUT : POLLIN};
            if (c->holding && c->answer_at > now && c->answer_at - now < wait)
                wait = c->answer_at - now;
        }
        int nfds = s->n_conns + 2;
        if (poll(pfd, (nfds_t)nfds, (int)wait) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents)
            break;
        now = clk_mono_ms();
        for (int i = nfds - 3; i >= 0; i--) {
            struct conn *c = s->conns[i];
            int gone = (pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) && conn_read(s, c) < 0;
            if (!gone && c->holding && c->answer_at >= 0 && c->answer_at <= now && c->out)
                gone = conn_write(s, c) < 0;
            if (gone)
                conn_close(s, i);
        }
        if (pfd[1].revents & POLLIN) {
            int fd;
            while (s->n_conns < MAX_CONNS &&
                   (fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                struct conn *c = calloc(1, sizeof(*c));
                if (!c)
                    abort();
                c->fd = fd;
                s->conns[s->n_conns++] = c;
            }
        }
    }
    while (s->n_conns)
        conn_close(s, s->n_conns - 1);
    return NULL;
}

struct testhttp *testhttp_start(void)
{
    struct testhttp *s = calloc(1, sizeof(*s));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int one = 1;
    if (!s)
        return NULL;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 4096) ||
        getsockname(s->lfd, (struct sockaddr *)&a, &alen) || pipe(s->stop_pipe)) {
        if (s->lfd >= 0)
            close(s->lfd);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, serve, s)) {
        close(s->lfd);
        free(s);
        return NULL;
    }
    return s;
}

void testhttp_stop(struct testhttp *s)
{
    if (!s)
        return;
    if (write(s->stop_pipe[1], "x", 1) != 1)
        abort();
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const char *testhttp_url(const struct testhttp *s)
{
    return s->url;
}

void testhttp_last_request(struct testhttp *s, char *out, size_t size)
{
    pthread_mutex_lock(&s->lock);
    snprintf(out, size, "%s", s->last);
    pthread_mutex_unlock(&s->lock);
}

struct testhttp_tag testhttp_tag(struct testhttp *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    struct tag *t = tag_get(s, name);
    struct testhttp_tag got = {t->requests, t->open, t->max};
    pthread_mutex_unlock(&s->lock);
    return got;
}

int testhttp_wait_open(struct testhttp *s, const char *tag, int n, int timeout_ms)
{
    int64_t deadline = clk_mono_ms() + timeout_ms;
    while (testhttp_tag(s, tag).open < n) {
        if (clk_mono_ms() >= deadline)
            return -1;
        usleep(2000);
    }
    return 0;
}
