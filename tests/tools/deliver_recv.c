/*
 * deliver_recv — a webhook receiver for the deliver benchmarks.
 *
 *     deliver_recv <port> <ok|hang> <stats file>
 *
 * One thread, epoll, HTTP/1.1 keep-alive. `ok` answers every POST with 200 at
 * once; `hang` reads the request and never answers (the sender's timeout
 * ends it). Every 100 ms, and on SIGTERM, it rewrites <stats file> with one
 * JSON line: requests, first/last receive time (epoch ms), and — for bodies
 * that carry "due_ms": N — the lateness (receive time − due) percentiles.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_CAP     (256 * 1024)
#define MAX_SAMPLES 1000000

struct conn {
    int fd;
    size_t len;
    char buf[BUF_CAP];
};

static volatile sig_atomic_t stop;
static long long n_requests, first_ms, last_ms;
static long long *late;
static size_t n_late;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void write_stats(const char *path)
{
    char tmp[4096];
    long long p50 = -1, p99 = -1, max = -1;
    if (n_late) {
        long long *s = malloc(n_late * sizeof(*s));
        if (!s)
            abort();
        memcpy(s, late, n_late * sizeof(*s));
        qsort(s, n_late, sizeof(*s), cmp_ll);
        p50 = s[n_late / 2];
        p99 = s[(n_late * 99) / 100];
        max = s[n_late - 1];
        free(s);
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return;
    fprintf(fp,
            "{\"requests\": %lld, \"first_ms\": %lld, \"last_ms\": %lld, \"late_n\": %zu, "
            "\"late_p50_ms\": %lld, \"late_p99_ms\": %lld, \"late_max_ms\": %lld}\n",
            n_requests, first_ms, last_ms, n_late, p50, p99, max);
    fclose(fp);
    rename(tmp, path);
}

/* Handles every complete request in c->buf; returns -1 to close. */
static int serve(struct conn *c, int hang)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end)
            return c->len >= BUF_CAP ? -1 : 0;
        size_t head = (size_t)(end - c->buf) + 4;
        size_t body_len = 0;
        for (char *p = c->buf; p < end; p++) {
            if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
                body_len = strtoul(p + 15, NULL, 10);
                break;
            }
        }
        if (head + body_len > BUF_CAP)
            return -1;
        if (c->len < head + body_len)
            return 0;
        long long t = now_ms();
        if (!first_ms)
            first_ms = t;
        last_ms = t;
        n_requests++;
        char *due = memmem(c->buf + head, body_len, "\"due_ms\":", 9);
        long long due_ms = due ? strtoll(due + 9, NULL, 10) : 0;
        if (due_ms > 0 && n_late < MAX_SAMPLES)
            late[n_late++] = t - due_ms;
        memmove(c->buf, c->buf + head + body_len, c->len - head - body_len);
        c->len -= head + body_len;
        if (hang)
            return 0; /* never answer; keep the connection open */
        if (write(c->fd, ok, sizeof(ok) - 1) != (ssize_t)sizeof(ok) - 1)
            return -1;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: deliver_recv <port> <ok|hang> <stats file>\n");
        return 2;
    }
    int hang = strcmp(argv[2], "hang") == 0;
    late = malloc(MAX_SAMPLES * sizeof(*late));
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 4096)) {
        perror("deliver_recv: bind/listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    long long next_stats = 0;
    while (!stop) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 50);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct conn *nc = malloc(sizeof(*nc));
                    if (!nc)
                        abort();
                    nc->fd = fd;
                    nc->len = 0;
                    struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
                }
                continue;
            }
            ssize_t r = read(c->fd, c->buf + c->len, BUF_CAP - c->len);
            if (r > 0) {
                c->len += (size_t)r;
                if (serve(c, hang) == 0)
                    continue;
            } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            free(c);
        }
        long long t = now_ms();
        if (t >= next_stats) {
            write_stats(argv[3]);
            next_stats = t + 100;
        }
    }
    write_stats(argv[3]);
    return 0;
}
