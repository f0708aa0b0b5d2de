/* httpd's connections: reading a request, handing it to its handler,
 * writing the answer, keep-alive and pipelining, deadlines (httpd.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "httpd_int.h"
#include "log.h"

#define READ_CHUNK (64 * 1024)
#define LINGER_MS  2000 /* reading what a refused client still sends, so it sees our answer */

static void conn_watch(struct httpd_conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void request_release(struct httpd_conn *c)
{
    httpd_req_release(&c->req);
    httpd_resp_release(&c->resp);
    c->route = NULL;
    free(c->head_bytes);
    c->head_bytes = NULL;
    memset(&c->head, 0, sizeof(c->head));
    memset(&c->chunked, 0, sizeof(c->chunked));
    c->body_left = 0;
    buf_release(&c->body);
}

void httpd_conn_close(struct httpd_conn *c)
{
    struct httpd *h = c->w->h;
    if (c->state != C_HANDLER)
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
    httpd_body_free(c->out_body, c->out_body_free, c->out_body_arg);
    httpd_conn_uncount(h, c->addr);
    free(c);
}

/* Drops the first n bytes of `in`. */
static void in_consume(struct httpd_conn *c, size_t n)
{
    memmove(c->in.ptr, c->in.ptr + n, c->in.len - n);
    buf_truncate(&c->in, c->in.len - n);
    c->scanned = 0;
}

/* Queues the answer in c->resp and the request is done with; conn_step()
 * writes it. */
static void conn_answer(struct httpd_conn *c)
{
    struct httpd_resp *resp = &c->resp;
    unsigned st = resp->status ? resp->status : 500;
    int head_only = c->head.method && strcmp(c->head.method, "HEAD") == 0;
    c->close_after |= !c->head.keep_alive;
    buf_reset(&c->out);
    buf_addf(&c->out, "HTTP/1.1 %u %s\r\n", st, httpd_reason(st));
    if (resp->content_type[0])
        buf_addf(&c->out, "Content-Type: %s\r\n", resp->content_type);
    buf_addf(&c->out, "Content-Length: %zu\r\n%s%s\r\n", resp->body_len, buf_str(&resp->headers),
             c->close_after ? "Connection: close\r\n" : "");
    c->out_off = 0;
    httpd_body_free(c->out_body, c->out_body_free, c->out_body_arg);
    c->out_body = NULL;
    c->out_body_free = NULL;
    c->out_body_len = c->out_body_off = 0;
    if (!head_only) {
        /* The body moves to the connection, borrowed or owned as it was. */
        c->out_body = resp->body;
        c->out_body_len = resp->body_len;
        c->out_body_free = resp->body_free;
        c->out_body_arg = resp->body_arg;
        resp->body = NULL;
        resp->body_free = NULL;
    }
    request_release(c);
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
static void conn_refuse(struct httpd_conn *c, unsigned status, const char *why)
{
    char st[8];
    const char *code = "bad_request";
    snprintf(st, sizeof(st), "%u", status);
    for (size_t i = 0; i < sizeof(refusal_codes) / sizeof(refusal_codes[0]); i++)
        if (strcmp(refusal_codes[i][0], st) == 0)
            code = refusal_codes[i][1];
    request_release(c);
    c->resp.headers = (struct buf)BUF_INIT(4096);
    httpd_error(&c->resp, status, code, why,
                status == 413 ? json_pack("{s:I}", "max_bytes", (json_int_t)c->w->h->lim.max_body)
                              : NULL);
    LOG_DEBUG("http_refused", "status=%u why=\"%s\"", status, why);
    c->close_after = 1;
    conn_answer(c);
}

/* A complete request: its handler runs here, or in the pool when it may
 * block (the worker keeps serving its other connections meanwhile). */
static void conn_dispatch(struct httpd_conn *c)
{
    struct httpd *h = c->w->h;
    c->state = C_HANDLER;
    c->req =
        (struct httpd_req){.head = &c->head, .body = buf_str(&c->body), .body_len = c->body.len};
    c->resp = (struct httpd_resp){.headers = BUF_INIT(16384)};
    c->route = httpd_match(h, &c->req, &c->resp);
    if (c->route && h->n_handlers > 0 && (!c->route->blocks || c->route->blocks(&c->req))) {
        /* Out of the epoll set while the pool has it: no event may reach
         * the worker for a connection it does not own now. */
        epoll_ctl(c->w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        httpd_job_push(h, c);
        return;
    }
    if (c->route)
        c->route->fn(&c->req, &c->resp, c->route->arg);
    conn_answer(c);
}

/* Moves a complete head from `in` into the request; refuses it when its
 * framing is ambiguous or its body too large. */
static void take_head(struct httpd_conn *c, size_t len)
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
static void conn_process(struct httpd_conn *c)
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
static int conn_flush(struct httpd_conn *c)
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
            httpd_conn_close(c);
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
    httpd_body_free(c->out_body, c->out_body_free, c->out_body_arg);
    c->out_body = NULL;
    c->out_body_free = NULL;
    c->out_body_len = c->out_body_off = 0;
    return 1;
}

/* Moves the connection as far as it can go without waiting: reads what is
 * buffered, writes answers, and serves pipelined requests in order.
 * Returns -1 when the connection was closed (c is gone). */
static int conn_step(struct httpd_conn *c)
{
    for (;;) {
        conn_process(c);
        if (c->state == C_HANDLER)
            return 0;
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

static void conn_readable(struct httpd_conn *c)
{
    for (int round = 0; round < 16; round++) {
        if (c->state == C_LINGER) {
            char sink[4096];
            ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                httpd_conn_close(c);
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
            httpd_conn_close(c); /* the client left (mid-request or between requests) */
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

void httpd_conn_sweep(struct httpd_conn *c, int64_t now)
{
    if (c->state == C_HANDLER || c->deadline > now)
        return;
    if (c->state == C_HEAD && c->in.len > 0) {
        conn_refuse(c, 408, "the request head took too long");
        conn_step(c);
        return;
    }
    httpd_conn_close(c);
}

void httpd_conn_answered(struct httpd_conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &ev);
    conn_answer(c);
    conn_step(c);
}

void httpd_conn_event(struct httpd_conn *c, uint32_t events)
{
    if (c->state == C_HANDLER)
        return; /* not in the epoll set; a stale event from before */
    if (events & EPOLLERR)
        httpd_conn_close(c);
    else if (c->state == C_WRITE || (events & EPOLLOUT))
        conn_step(c);
    else
        conn_readable(c);
}

void httpd_conn_open(struct httpd_worker *w, int fd, uint32_t addr)
{
    struct httpd *h = w->h;
    struct httpd_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        httpd_conn_uncount(h, addr);
        close(fd);
        return;
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
