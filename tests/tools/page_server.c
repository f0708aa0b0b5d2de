/*
 * page_server — a page server that answers after a fixed delay, as the slow
 * real web does, for the chaos suite and the end-to-end benchmarks.
 *
 *     page_server <port> <delay ms> <pages> [port file]
 *
 * Listens on 127.0.0.1:<port> (0: any free port; the port is written to
 * <port file> once listening). GET /p<k>.html (any query string) for
 * k < <pages> answers 200 with page k, about 1 KB of HTML whose heading
 * reads "page <k> of ferry"; anything else answers 404. Every answer leaves
 * <delay ms> after its request was read. HTTP/1.1 keep-alive, one thread,
 * epoll: the delay is the same for every request, so answers fall due in
 * arrival order and one FIFO with the epoll timeout is the whole timer.
 * SIGTERM ends it and prints the requests served to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQ_CAP  8192
#define MAX_FDS  65536
#define FIFO_CAP (1 << 20) /* answers pending at once, stale ones included */

/* One connection. A request is read whole into buf, then the connection
 * waits in the FIFO until due; its answer is written (out/out_len/out_off)
 * and it reads the next request. */
struct conn {
    int fd;
    unsigned gen;  /* tells this connection from an earlier one on its fd */
    int waiting;   /* in the FIFO: not reading */
    int page;      /* -1: 404 */
    int head_only; /* HEAD */
    int close_after;
    size_t len;
    char buf[REQ_CAP];
    char *out;
    size_t out_len, out_off;
};

struct due {
    int fd;
    unsigned gen;
    long long at_ms;
};

static volatile sig_atomic_t stop;
static struct conn *conns[MAX_FDS];
static struct due *fifo; /* ring of FIFO_CAP, in due order */
static size_t fifo_head, fifo_n;
static unsigned next_gen;
static char **pages;
static size_t *page_len;
static int n_pages;
static long long served;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_pages(void)
{
    char filler[1024];
    size_t off = 0;
    for (int w = 0; w < 120 && off < sizeof(filler) - 16; w++)
        off += (size_t)snprintf(filler + off, sizeof(filler) - off, "word%d ", w);
    pages = calloc((size_t)n_pages, sizeof(*pages));
    page_len = calloc((size_t)n_pages, sizeof(*page_len));
    for (int k = 0; k < n_pages; k++) {
        char body[2048];
        int n = snprintf(body, sizeof(body),
                         "<!DOCTYPE html><html><head><title>page %d</title></head><body>"
                         "<h1>page %d of ferry</h1><p>%s</p><a href=\"/p%d.html\">next</a>"
                         "</body></html>\n",
                         k, k, filler, (k + 1) % n_pages);
        pages[k] = malloc(256 + (size_t)n);
        page_len[k] =
            (size_t)snprintf(pages[k], 256 + (size_t)n,
                             "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                             "Content-Length: %d\r\n\r\n%s",
                             n, body);
    }
}

static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 10\r\n\r\nnot found\n";

static void conn_close(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c);
}

/* Parses the request line of a complete request in c->buf: which page. */
static void parse_request(struct conn *c)
{
    const char *p = c->buf;
    int k;
    char *end;
    c->head_only = strncmp(p, "HEAD ", 5) == 0;
    c->page = -1;
    p = strchr(p, ' ');
    if (p && strncmp(p, " /p", 3) == 0) {
        k = (int)strtol(p + 3, &end, 10);
        if (end != p + 3 && strncmp(end, ".html", 5) == 0 && (end[5] == ' ' || end[5] == '?') &&
            k >= 0 && k < n_pages)
            c->page = k;
    }
    /* "Connection: close" asks us to close after the answer. */
    c->close_after = strstr(c->buf, "\r\nConnection: close") != NULL ||
                     strstr(c->buf, "\r\nconnection: close") != NULL;
}

/* Writes what is left of the answer; 0 done, 1 would block, -1 error. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 1 : -1;
        c->out_off += (size_t)w;
    }
    return 0;
}

/* The answer of c is due: write it, then read the next request. */
static void answer(int ep, struct conn *c)
{
    struct epoll_event ev = {.data.fd = c->fd};
    if (c->page >= 0) {
        c->out = pages[c->page];
        c->out_len = page_len[c->page];
    } else {
        c->out = (char *)not_found;
        c->out_len = sizeof(not_found) - 1;
    }
    if (c->head_only) /* headers only: up to the blank line */
        c->out_len = (size_t)(strstr(c->out, "\r\n\r\n") + 4 - c->out);
    c->out_off = 0;
    c->waiting = 0;
    served++;
    int rc = conn_flush(c);
    if (rc < 0 || (rc == 0 && c->close_after)) {
        conn_close(ep, c);
        return;
    }
    ev.events = rc == 1 ? EPOLLOUT : EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void on_readable(int ep, struct conn *c, long long delay_ms)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, REQ_CAP - 1 - c->len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            conn_close(ep, c);
            return;
        }
        if (r < 0)
            return;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (!end) {
            if (c->len == REQ_CAP - 1) /* no request is this large */
                conn_close(ep, c);
            continue;
        }
        if (fifo_n == FIFO_CAP) { /* overloaded: shed this connection */
            conn_close(ep, c);
            return;
        }
        parse_request(c);
        /* Requests carry no body here; whatever follows the head is dropped
         * (no client of this server pipelines). */
        c->len = 0;
        c->waiting = 1;
        struct epoll_event ev = {.events = 0, .data.fd = c->fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        fifo[(fifo_head + fifo_n) % FIFO_CAP] = (struct due){c->fd, c->gen, now_ms() + delay_ms};
        fifo_n++;
        return;
    }
}

static void on_accept(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (fd >= MAX_FDS) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = calloc(1, sizeof(*c));
        c->fd = fd;
        c->gen = ++next_gen;
        conns[fd] = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: page_server <port> <delay ms> <pages> [port file]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long long delay_ms = atoll(argv[2]);
    n_pages = atoi(argv[3]);
    if (n_pages < 1 || delay_ms < 0) {
        fprintf(stderr, "page_server: pages must be >= 1 and delay >= 0\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    make_pages();
    fifo = calloc(FIFO_CAP, sizeof(*fifo));
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096)) {
        perror("page_server: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    if (argc > 4) {
        FILE *f = fopen(argv[4], "w");
        if (!f) {
            perror(argv[4]);
            return 1;
        }
        fprintf(f, "%d\n", ntohs(sa.sin_port));
        fclose(f);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

    struct epoll_event evs[256];
    while (!stop) {
        int timeout = -1;
        if (fifo_n) {
            long long wait = fifo[fifo_head].at_ms - now_ms();
            timeout = wait < 0 ? 0 : (int)wait;
        }
        int n = epoll_wait(ep, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                on_accept(ep, lfd);
                continue;
            }
            struct conn *c = conns[fd];
            if (!c)
                continue;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                conn_close(ep, c); /* its FIFO entry, if any, goes stale */
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                int rc = conn_flush(c);
                if (rc < 0 || (rc == 0 && c->close_after)) {
                    conn_close(ep, c);
                } else if (rc == 0) {
                    struct epoll_event in = {.events = EPOLLIN, .data.fd = fd};
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &in);
                }
            } else if (evs[i].events & EPOLLIN && !c->waiting) {
                on_readable(ep, c, delay_ms);
            }
        }
        /* Answer everything that fell due. A connection closed while it
         * waited left its entry behind; a new connection may have taken the
         * fd number since, hence the generation check. */
        long long now = now_ms();
        while (fifo_n && fifo[fifo_head].at_ms <= now) {
            struct due d = fifo[fifo_head];
            struct conn *c = conns[d.fd];
            fifo_head = (fifo_head + 1) % FIFO_CAP;
            fifo_n--;
            if (c && c->gen == d.gen && c->waiting)
                answer(ep, c);
        }
    }
    fprintf(stderr, "page_server: %lld requests served\n", served);
    return 0;
}
