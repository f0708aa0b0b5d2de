#include "httpc.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "strmap.h"

/* Easy handles kept for reuse (a used handle is cheaper than a new one, and
 * keeps its caches); not reset: each setup sets what it varies. */
#define EASY_POOL_MAX 2048
#define EVENTS_MAX    256

struct httpc_host {
    int running, waiting;
    int pins; /* the engine holds it across a stage callback: not freed */
    int64_t last_done_ms;
    struct httpc_xfer *head, *tail; /* waiting, in submit order */
    char key[HTTPC_HOSTKEY_MAX];
    _Alignas(16) unsigned char data[]; /* conf.host_data_size bytes */
};

struct httpc {
    struct httpc_conf conf;
    struct httpc_ops ops;
    void *arg;
    CURLM *multi;
    int epfd;         /* curl's sockets, the wake eventfd, watched fds */
    int wakefd;       /* eventfd: the inbox has transfers, or stop */
    int64_t timer_at; /* monotonic ms of curl's next timeout, -1 none */
    int watched[HTTPC_WATCH_MAX];
    int n_watched;

    struct strmap hosts; /* admission key -> struct httpc_host */
    struct httpc_xfer *running_list;
    int running, waiting;
    atomic_size_t load;

    pthread_mutex_t lock;
    struct httpc_xfer *inbox, *inbox_tail; /* guarded by lock */

    CURL *easy_pool[EASY_POOL_MAX];
    size_t n_easy;
};

/* ---- hosts ----------------------------------------------------------------- */

static struct httpc_host *host_lookup(struct httpc *e, const char *key, int create)
{
    struct httpc_host *h = strmap_get(&e->hosts, key);
    if (h || !create)
        return h;
    h = calloc(1, sizeof(*h) + e->conf.host_data_size);
    if (!h)
        abort();
    snprintf(h->key, sizeof(h->key), "%s", key);
    h->last_done_ms = clk_mono_ms();
    strmap_put(&e->hosts, h->key, h, NULL);
    return h;
}

/* A host with nothing running or waiting is forgotten, so the table holds
 * only the hosts in use. */
static void host_forget_idle(struct httpc *e, struct httpc_host *h)
{
    if (h->running || h->waiting || h->pins)
        return;
    strmap_remove(&e->hosts, h->key);
    free(h);
}

/* ---- curl's callbacks -------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct httpc_xfer *x = userp;
    size_t n = size * nmemb;
    x->body_total += n;
    if (x->body_total > x->read_max) {
        /* An endless body must not keep the transfer (and its slot) busy:
         * abort now; what was kept stays for the stage to look at. */
        x->too_large = 1;
        return 0;
    }
    size_t room = x->body.max - x->body.len;
    if (n > room)
        n = room;
    if (!n)
        return size * nmemb;
    if (!x->body.alloc) {
        /* One allocation when the length is announced. */
        curl_off_t cl = -1;
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (cl > 0)
            buf_reserve(&x->body, (size_t)cl < x->body.max ? (size_t)cl : x->body.max);
    }
    buf_add(&x->body, data, n); /* fits: n <= room */
    return size * nmemb;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct httpc_xfer *x = userp;
    size_t n = size * nmemb;
    static const char name[] = "Retry-After:";
    const size_t nlen = sizeof(name) - 1;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        x->retry_after[0] = '\0'; /* a new response (after a redirect, or 1xx) */
    } else if (n > nlen && strncasecmp(data, name, nlen) == 0) {
        const char *v = data + nlen, *end = data + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t len = (size_t)(end - v);
        if (len >= sizeof(x->retry_after))
            len = 0; /* longer than any valid value */
        memcpy(x->retry_after, v, len);
        x->retry_after[len] = '\0';
    }
    return n;
}

/* Adds or changes fd's interest, whichever epoll needs: a descriptor number
 * can be closed and reused between two calls of curl's socket callback. */
static void watch_socket(struct httpc *e, curl_socket_t fd, uint32_t events, int known)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    int op = known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(e->epfd, op, fd, &ev) == 0)
        return;
    if (errno == ENOENT || errno == EEXIST)
        epoll_ctl(e->epfd, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
}

/* curl: watch fd for `what`, or stop watching it. socketp is NULL the first
 * time curl tells about a socket; the engine then assigns it a mark. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct httpc *e = userp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0; /* curl forgets the socket and its mark itself */
    }
    uint32_t events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    watch_socket(e, fd, events, socketp != NULL);
    if (!socketp)
        curl_multi_assign(e->multi, fd, e);
    return 0;
}

/* curl: call me back in timeout_ms (-1: no timeout pending). */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct httpc *e = userp;
    (void)multi;
    e->timer_at = timeout_ms < 0 ? -1 : clk_mono_ms() + timeout_ms;
    return 0;
}

/* ---- transfers ----------------------------------------------------------- */

static void list_unlink(struct httpc_xfer **head, struct httpc_xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        *head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->next = x->prev = NULL;
}

static void give_back(struct httpc *e, struct httpc_xfer *x, CURLcode rc)
{
    atomic_fetch_sub(&e->load, 1);
    e->ops.done(x, rc, e->arg);
}

/* Starts x (its host slot is already counted; the caller pins h, since a
 * done() here may submit again). When the stage's setup refuses, the slot
 * is given back and done() runs at once. */
static void start(struct httpc *e, struct httpc_host *h, struct httpc_xfer *x)
{
    int fresh = e->n_easy == 0;
    CURL *c = fresh ? curl_easy_init() : e->easy_pool[--e->n_easy];
    if (!c)
        abort();
    x->easy = c;
    x->easy_fresh = fresh;
    x->host = h;
    x->started_us = clk_mono_us();
    x->body_total = 0;
    x->too_large = 0;
    x->retry_after[0] = '\0';
    x->errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
    if (fresh) { /* a recycled handle keeps these */
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROXY, "");
    }
    x->guard.allow_private = e->conf.allow_private;
    x->guard.allow = e->conf.allow;
    ssrf_curl_guard(c, &x->guard);
    CURLMcode mc = CURLM_OK;
    if (e->ops.setup(x, c, e->arg) == 0 && (mc = curl_multi_add_handle(e->multi, c)) == CURLM_OK) {
        x->prev = NULL;
        x->next = e->running_list;
        if (e->running_list)
            e->running_list->prev = x;
        e->running_list = x;
        e->running++;
        return;
    }
    if (mc != CURLM_OK)
        LOG_ERROR("curl_add", "err=%s", curl_multi_strerror(mc));
    e->easy_pool[e->n_easy++] = c; /* it came from the pool or is new: there is room */
    x->easy = NULL;
    x->host = NULL;
    h->running--;
    give_back(e, x, CURLE_FAILED_INIT);
}

static void host_unpin(struct httpc *e, struct httpc_host *h)
{
    h->pins--;
    host_forget_idle(e, h);
}

static void admit(struct httpc *e, struct httpc_xfer *x)
{
    struct httpc_host *h = host_lookup(e, x->hostkey, 1);
    if (h->running < e->conf.max_per_host && !h->head) {
        h->running++;
        h->pins++;
        start(e, h, x);
        host_unpin(e, h);
        return;
    }
    x->next = NULL;
    x->prev = h->tail;
    if (h->tail)
        h->tail->next = x;
    else
        h->head = x;
    h->tail = x;
    h->waiting++;
    e->waiting++;
}

/* A slot of h is free: its next waiting transfers start (h pinned). */
static void admit_waiting(struct httpc *e, struct httpc_host *h)
{
    while (h->head && h->running < e->conf.max_per_host) {
        struct httpc_xfer *x = h->head;
        h->head = x->next;
        if (h->head)
            h->head->prev = NULL;
        else
            h->tail = NULL;
        x->next = x->prev = NULL;
        h->waiting--;
        e->waiting--;
        h->running++;
        start(e, h, x);
    }
}

static void recycle(struct httpc *e, CURL *c)
{
    curl_multi_remove_handle(e->multi, c);
    if (e->n_easy < EASY_POOL_MAX) {
        e->easy_pool[e->n_easy++] = c;
    } else {
        curl_easy_cleanup(c);
    }
}

static int finish_done(struct httpc *e)
{
    CURLMsg *m;
    int left, n = 0;
    while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *c = m->easy_handle;
        CURLcode rc = m->data.result;
        struct httpc_xfer *x = NULL;
        curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&x);
        struct httpc_host *h = x->host;
        list_unlink(&e->running_list, x);
        e->running--;
        h->running--;
        h->last_done_ms = clk_mono_ms();
        /* h outlives done() (pinned), x may not. */
        h->pins++;
        give_back(e, x, rc);
        recycle(e, c);
        admit_waiting(e, h);
        host_unpin(e, h);
        n++;
    }
    return n;
}

static void take_inbox(struct httpc *e)
{
    pthread_mutex_lock(&e->lock);
    struct httpc_xfer *x = e->inbox;
    e->inbox = e->inbox_tail = NULL;
    pthread_mutex_unlock(&e->lock);
    while (x) {
        struct httpc_xfer *next = x->next;
        x->next = NULL;
        admit(e, x);
        x = next;
    }
}

static void fire_timer(struct httpc *e)
{
    int running;
    e->timer_at = -1;
    curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

/* ---- the API --------------------------------------------------------------- */

struct httpc *httpc_new(const struct httpc_conf *conf, const struct httpc_ops *ops, void *arg,
                        char *errstr, size_t errstr_size)
{
    struct httpc *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->conf = *conf;
    if (e->conf.max_per_host < 1)
        e->conf.max_per_host = 1;
    e->ops = *ops;
    e->arg = arg;
    e->timer_at = -1;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = e->wakefd};
    if (e->epfd < 0 || e->wakefd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &ev)) {
        snprintf(errstr, errstr_size, "httpc: %s", strerror(errno));
        if (e->epfd >= 0)
            close(e->epfd);
        if (e->wakefd >= 0)
            close(e->wakefd);
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->lock, NULL);
    e->multi = curl_multi_init();
    if (!e->multi)
        abort();
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    if (e->conf.cap_real_hosts)
        curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)e->conf.max_per_host);
    /* Idle connections kept for reuse: every slot of the hosts in use. */
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, 4096L);
    return e;
}

void httpc_free(struct httpc *e)
{
    if (!e)
        return;
    while (e->running_list) {
        struct httpc_xfer *x = e->running_list;
        list_unlink(&e->running_list, x);
        curl_multi_remove_handle(e->multi, x->easy);
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
        x->host = NULL;
        e->ops.drop(x, e->arg);
    }
    const char *key;
    void *value;
    for (size_t pos = 0; strmap_next(&e->hosts, &pos, &key, &value);) {
        struct httpc_host *h = value;
        for (struct httpc_xfer *x = h->head, *next; x; x = next) {
            next = x->next;
            x->next = x->prev = NULL;
            e->ops.drop(x, e->arg);
        }
    }
    strmap_release(&e->hosts, free);
    for (struct httpc_xfer *x = e->inbox, *next; x; x = next) {
        next = x->next;
        x->next = NULL;
        e->ops.drop(x, e->arg);
    }
    while (e->n_easy)
        curl_easy_cleanup(e->easy_pool[--e->n_easy]);
    curl_multi_cleanup(e->multi);
    close(e->epfd);
    close(e->wakefd);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void httpc_xfer_init(struct httpc_xfer *x, void *owner, const char *hostkey, size_t body_max,
                     size_t read_max)
{
    x->owner = owner;
    snprintf(x->hostkey, sizeof(x->hostkey), "%s", hostkey);
    buf_release(&x->body);
    buf_init(&x->body, body_max);
    x->read_max = read_max > body_max ? read_max : body_max;
}

void httpc_submit(struct httpc *e, struct httpc_xfer *x)
{
    atomic_fetch_add(&e->load, 1);
    admit(e, x);
}

void httpc_wake(struct httpc *e)
{
    uint64_t one = 1;
    if (write(e->wakefd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already non-zero, the engine will wake. */
    }
}

void httpc_post(struct httpc *e, struct httpc_xfer *x)
{
    atomic_fetch_add(&e->load, 1);
    x->next = NULL;
    pthread_mutex_lock(&e->lock);
    int was_empty = e->inbox == NULL;
    if (e->inbox_tail)
        e->inbox_tail->next = x;
    else
        e->inbox = x;
    e->inbox_tail = x;
    pthread_mutex_unlock(&e->lock);
    /* A non-empty inbox has its wake-up pending already. */
    if (was_empty)
        httpc_wake(e);
}

int httpc_watch(struct httpc *e, int fd)
{
    if (e->n_watched == HTTPC_WATCH_MAX) {
        errno = ENOSPC;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev))
        return -1;
    e->watched[e->n_watched++] = fd;
    return 0;
}

static int is_watched(const struct httpc *e, int fd)
{
    for (int i = 0; i < e->n_watched; i++)
        if (e->watched[i] == fd)
            return 1;
    return 0;
}

int httpc_run(struct httpc *e, int timeout_ms)
{
    struct epoll_event evs[EVENTS_MAX];
    int running;
    take_inbox(e);
    /* Transfers just added have a timeout due now: start them before
     * sleeping. */
    int64_t now = clk_mono_ms();
    int done = 0;
    if (e->timer_at >= 0 && e->timer_at <= now) {
        fire_timer(e);
        done = finish_done(e); /* refused at once: no reason to wait for them */
        now = clk_mono_ms();
    }
    int wait = timeout_ms < 0 ? 0 : timeout_ms;
    if (e->timer_at >= 0 && e->timer_at - now < wait)
        wait = e->timer_at > now ? (int)(e->timer_at - now) : 0;
    int n = epoll_wait(e->epfd, evs, EVENTS_MAX, wait);
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == e->wakefd) {
            uint64_t v;
            if (read(e->wakefd, &v, sizeof(v)) < 0) {
                /* EAGAIN: another reader took it; nothing is lost. */
            }
            continue;
        }
        if (is_watched(e, fd))
            continue; /* the caller's to drain */
        uint32_t r = evs[i].events;
        int flags = (r & EPOLLIN ? CURL_CSELECT_IN : 0) | (r & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (r & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(e->multi, fd, flags, &running);
    }
    if (e->timer_at >= 0 && e->timer_at <= clk_mono_ms())
        fire_timer(e);
    take_inbox(e);
    return done + finish_done(e);
}

size_t httpc_load(const struct httpc *e)
{
    return atomic_load(&((struct httpc *)e)->load);
}

int httpc_running(const struct httpc *e)
{
    return e->running;
}

int httpc_waiting(const struct httpc *e)
{
    return e->waiting;
}

struct httpc_host *httpc_host_find(struct httpc *e, const char *hostkey)
{
    return host_lookup(e, hostkey, 0);
}

int httpc_host_running(const struct httpc_host *h)
{
    return h->running;
}

int httpc_host_waiting(const struct httpc_host *h)
{
    return h->waiting;
}

int64_t httpc_host_last_done_ms(const struct httpc_host *h)
{
    return h->last_done_ms;
}

void *httpc_host_data(struct httpc_host *h)
{
    return h->data;
}

/* ---- Retry-After ------------------------------------------------------------ */

int64_t httpc_retry_after_ms(const char *value, int64_t now_ms, int64_t max_ms)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!*value)
        return -1;
    int64_t ms;
    if (isdigit((unsigned char)*value)) {
        /* delta-seconds = 1*DIGIT; anything after the digits but blanks is
         * not this form. A huge number is simply more than the cap. */
        const char *p = value;
        int64_t s = 0;
        for (; isdigit((unsigned char)*p); p++)
            if (s <= INT64_MAX / 10000)
                s = s * 10 + (*p - '0');
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p)
            return -1;
        ms = s <= INT64_MAX / 10000 ? s * 1000 : INT64_MAX;
    } else {
        /* An HTTP-date starts with the day name (IMF-fixdate, RFC 850 and
         * asctime forms alike); curl_getdate parses all three. */
        if (!isalpha((unsigned char)*value))
            return -1;
        time_t t = curl_getdate(value, NULL);
        if (t == (time_t)-1)
            return -1;
        ms = (int64_t)t * 1000 - now_ms;
        if (ms < 0)
            ms = 0;
    }
    return ms > max_ms ? max_ms : ms;
}
