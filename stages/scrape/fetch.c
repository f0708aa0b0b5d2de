#include "ids.h"
#include "fetch.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* Easy handles kept for reuse per worker (a reset handle is cheaper than a
 * new one, and keeps its TLS session cache). */
#define EASY_POOL_MAX 2048

/* Per-host admission: a transfer starts only while its host has fewer than
 * the cap running, so its timeout counts from when it really starts (libcurl
 * would otherwise queue it internally with the clock already running). */
#define HOST_BUCKETS 1024

struct host {
    struct host *next; /* hash chain */
    size_t bucket;
    int active;
    struct item *wait_head, *wait_tail;
    char key[]; /* "scheme://authority", lower case */
};

struct worker {
    pthread_t thread;
    struct host *hosts[HOST_BUCKETS];
    long per_host;
    struct fetch_pool *pool;
    CURLM *multi;
    int epfd;            /* every socket libcurl wants watched, plus wakefd */
    int wakefd;          /* eventfd: new items in the inbox, or stop */
    int64_t deadline_ms; /* libcurl's next timeout (monotonic), -1 none */
    pthread_mutex_t lock;
    struct item *inbox, *inbox_tail; /* guarded by lock */
    struct item *running;            /* worker-only: transfers in the multi */
    atomic_size_t active;            /* queued + running */
    CURL *easy_pool[EASY_POOL_MAX];
    size_t n_easy;
};

struct fetch_pool {
    struct fetch_conf conf;
    fetch_done_fn done;
    void *arg;
    atomic_int stop;
    int n;
    struct worker *w;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct item *it = userp;
    size_t n = size * nmemb;
    if ((long long)(it->body.len + n) > it->max_bytes) {
        /* Abort the transfer now and give the memory back: the cap exists
         * so an endless body cannot grow without bound. */
        it->too_large = 1;
        sbuf_release(&it->body);
        return 0;
    }
    if (!it->body.cap) {
        /* Size the buffer once when the length is announced. */
        curl_off_t cl = -1;
        curl_easy_getinfo(it->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (cl > 0 && cl <= it->max_bytes)
            sbuf_grow(&it->body, (size_t)cl);
    }
    sbuf_add(&it->body, data, n);
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct item *it = userp;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        it->retry_after[0] = '\0'; /* a new response (after a redirect) */
    } else if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        size_t len = n - 12;
        if (len >= sizeof(it->retry_after))
            len = sizeof(it->retry_after) - 1;
        memcpy(it->retry_after, data + 12, len);
        it->retry_after[len] = '\0';
        char *e = it->retry_after + len;
        while (e > it->retry_after && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
            *--e = '\0';
    }
    return n;
}

static void setup(struct worker *w, struct item *it)
{
    const struct fetch_conf *fc = &w->pool->conf;
    CURL *e = w->n_easy ? w->easy_pool[--w->n_easy] : curl_easy_init();
    it->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, it->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, it);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, it);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, it);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, it->curl_err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, it->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     fc->connect_timeout_ms < it->timeout_ms ? fc->connect_timeout_ms
                                                             : it->timeout_ms);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)it->max_bytes);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, it->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)fc->max_redirects);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding libcurl decodes */
    curl_easy_setopt(e, CURLOPT_USERAGENT, fc->user_agent);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->headers);
    /* Proxies from the environment would make the guard judge the proxy's
     * address instead of the target's. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    it->guard.allow_private = fc->allow_private;
    it->guard.allow = fc->allow;
    ssrf_curl_guard(e, &it->guard);
    it->started_us = clk_mono_us();
    it->prev = NULL;
    it->next = w->running;
    if (w->running)
        w->running->prev = it;
    w->running = it;
    curl_multi_add_handle(w->multi, e);
}

static void recycle(struct worker *w, CURL *e)
{
    curl_multi_remove_handle(w->multi, e);
    if (w->n_easy < EASY_POOL_MAX) {
        /* No curl_easy_reset: setup() sets every option an item varies,
         * and the rest are the same for all items. */
        w->easy_pool[w->n_easy++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

/* The host part of a URL that already parsed: scheme and authority
 * (userinfo dropped), lower case. */
static size_t host_key(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    const char *auth = p ? p + 3 : url;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', (size_t)(end - auth));
    if (at)
        auth = at + 1;
    size_t n = 0;
    for (const char *c = url; c < (p ? p + 3 : url) && n + 1 < size; c++)
        out[n++] = (char)tolower((unsigned char)*c);
    for (const char *c = auth; c < end && n + 1 < size; c++)
        out[n++] = (char)tolower((unsigned char)*c);
    out[n] = '\0';
    return n;
}

static struct host *host_get(struct worker *w, const char *key, size_t len)
{
    size_t bucket = ids_hash(key, len) % HOST_BUCKETS;
    struct host **slot = &w->hosts[bucket];
    for (struct host *x = *slot; x; x = x->next)
        if (strcmp(x->key, key) == 0)
            return x;
    struct host *x = calloc(1, sizeof(*x) + len + 1);
    if (!x)
        abort();
    memcpy(x->key, key, len + 1);
    x->bucket = bucket;
    x->next = *slot;
    *slot = x;
    return x;
}

static void host_forget(struct worker *w, struct host *h)
{
    for (struct host **q = &w->hosts[h->bucket]; *q; q = &(*q)->next)
        if (*q == h) {
            *q = h->next;
            free(h);
            return;
        }
}

static void admit(struct worker *w, struct item *it)
{
    char key[512];
    size_t len = host_key(it->url, key, sizeof(key));
    struct host *h = host_get(w, key, len);
    it->host = h;
    if (h->active < w->per_host) {
        h->active++;
        setup(w, it);
        return;
    }
    it->next = NULL;
    if (h->wait_tail)
        h->wait_tail->next = it;
    else
        h->wait_head = it;
    h->wait_tail = it;
}

/* A transfer of h ended: start its next waiting item, or drop h. */
static void release_host(struct worker *w, struct host *h)
{
    h->active--;
    if (h->wait_head) {
        struct item *it = h->wait_head;
        h->wait_head = it->next;
        if (!h->wait_head)
            h->wait_tail = NULL;
        it->next = NULL;
        h->active++;
        setup(w, it);
    } else if (h->active == 0) {
        host_forget(w, h);
    }
}

static void take_inbox(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    struct item *it = w->inbox;
    w->inbox = w->inbox_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (it) {
        struct item *next = it->next;
        it->next = NULL;
        admit(w, it);
        it = next;
    }
}

static void finish_done(struct worker *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        struct item *it = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&it);
        if (it->prev)
            it->prev->next = it->next;
        else
            w->running = it->next;
        if (it->next)
            it->next->prev = it->prev;
        it->next = it->prev = NULL;
        struct host *h = it->host;
        w->pool->done(it, rc, w->pool->arg); /* it may be gone after this */
        recycle(w, e);
        atomic_fetch_sub(&w->active, 1);
        release_host(w, h);
    }
}

/* libcurl tells which sockets to watch for what (the event-driven
 * interface: work is proportional to the sockets that are ready, not to
 * the number of transfers in flight). */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct worker *w = userp;
    (void)e;
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct worker *w = userp;
    (void)multi;
    w->deadline_ms = timeout_ms < 0 ? -1 : clk_mono_ms() + timeout_ms;
    return 0;
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];
    int running;
    while (!atomic_load(&w->pool->stop)) {
        take_inbox(w);
        int64_t now = clk_mono_ms();
        /* 1 s bounds the wait when libcurl has no timer (nothing running). */
        int wait = 1000;
        if (w->deadline_ms >= 0)
            wait = w->deadline_ms <= now
                       ? 0
                       : (int)(w->deadline_ms - now < 1000 ? w->deadline_ms - now : 1000);
        int n = epoll_wait(w->epfd, evs, 256, wait);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == w->wakefd) {
                uint64_t v;
                if (read(w->wakefd, &v, sizeof(v)) < 0)
                    continue;
                continue;
            }
            int flags = 0;
            if (evs[i].events & EPOLLIN)
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(w->multi, evs[i].data.fd, flags, &running);
        }
        if (w->deadline_ms >= 0 && clk_mono_ms() >= w->deadline_ms) {
            w->deadline_ms = -1;
            curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        finish_done(w);
    }
    /* Abandon what is still running: no result, offset not stored. */
    for (struct item *it = w->running, *next; it; it = next) {
        next = it->next;
        curl_multi_remove_handle(w->multi, it->easy);
        curl_easy_cleanup(it->easy);
        item_free(it);
    }
    for (struct item *it = w->inbox, *next; it; it = next) {
        next = it->next;
        item_free(it);
    }
    for (size_t b = 0; b < HOST_BUCKETS; b++)
        for (struct host *h = w->hosts[b], *hn; h; h = hn) {
            hn = h->next;
            for (struct item *it = h->wait_head, *next; it; it = next) {
                next = it->next;
                item_free(it);
            }
            free(h);
        }
    while (w->n_easy)
        curl_easy_cleanup(w->easy_pool[--w->n_easy]);
    return NULL;
}

struct fetch_pool *fetch_pool_start(const struct fetch_conf *fc, fetch_done_fn done, void *arg)
{
    struct fetch_pool *p = calloc(1, sizeof(*p));
    p->conf = *fc;
    p->done = done;
    p->arg = arg;
    p->n = fc->workers > 0 ? fc->workers : 1;
    p->w = calloc((size_t)p->n, sizeof(*p->w));
    /* The per-host cap is split over the workers (each multi enforces its
     * own share), so the whole stage opens at most host_connections. */
    long per_host = fc->host_connections / p->n;
    if (per_host < 1)
        per_host = 1;
    for (int i = 0; i < p->n; i++) {
        struct worker *w = &p->w[i];
        w->pool = p;
        w->per_host = per_host;
        pthread_mutex_init(&w->lock, NULL);
        w->multi = curl_multi_init();
        w->deadline_ms = -1;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = w->wakefd};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev);
        curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
        curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
        curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
        curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, 4096L);
        pthread_create(&w->thread, NULL, worker_run, w);
    }
    return p;
}

static void wake(struct worker *w)
{
    uint64_t one = 1;
    if (write(w->wakefd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already non-zero, the worker will wake. */
    }
}

void fetch_pool_submit(struct fetch_pool *p, struct item *it)
{
    struct worker *best = &p->w[0];
    for (int i = 1; i < p->n; i++)
        if (atomic_load(&p->w[i].active) < atomic_load(&best->active))
            best = &p->w[i];
    atomic_fetch_add(&best->active, 1);
    pthread_mutex_lock(&best->lock);
    int was_empty = best->inbox == NULL;
    if (best->inbox_tail)
        best->inbox_tail->next = it;
    else
        best->inbox = it;
    best->inbox_tail = it;
    pthread_mutex_unlock(&best->lock);
    /* A non-empty inbox has a wake-up pending already. */
    if (was_empty)
        wake(best);
}

size_t fetch_pool_active(struct fetch_pool *p)
{
    size_t n = 0;
    for (int i = 0; i < p->n; i++)
        n += atomic_load(&p->w[i].active);
    return n;
}

void fetch_pool_stop(struct fetch_pool *p)
{
    atomic_store(&p->stop, 1);
    for (int i = 0; i < p->n; i++)
        wake(&p->w[i]);
    for (int i = 0; i < p->n; i++) {
        pthread_join(p->w[i].thread, NULL);
        curl_multi_cleanup(p->w[i].multi);
        close(p->w[i].epfd);
        close(p->w[i].wakefd);
        pthread_mutex_destroy(&p->w[i].lock);
    }
    free(p->w);
    free(p);
}
