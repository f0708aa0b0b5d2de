/*
 * sender — webhook POSTs over the libcurl multi interface.
 *
 * Many transfers run at once from one thread; the multi handle keeps
 * connections alive per host. Each host (scheme://host:port) may have at most
 * max_per_host transfers running: further jobs for it queue behind them, so a
 * receiver that hangs to the timeout holds its own slots only and the jobs of
 * other hosts start at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ids.h"
#include "clock.h"
#include "deliver.h"
#include "log.h"
#include "ssrf.h"

#define HOST_BUCKETS 1024

struct host {
    struct host *next; /* bucket chain */
    char key[DELIVER_HOST_LEN];
    int active;
    int n_waiting;
    struct job *head, *tail;
    /* Completions per second, measured over windows of at least 1 s that
     * began with jobs queued: then the rate is the host's capacity, not
     * merely the demand it saw. */
    int64_t born_ms, window_ms, last_done_ms;
    int window_done, window_full, have_rate;
    double rate;
};

struct easy {
    struct easy *next, *prev; /* the idle pool, or the running list */
    CURL *curl;
    struct job *job; /* while running */
    char errbuf[CURL_ERROR_SIZE];
    struct ssrf_guard guard;
};

struct sender {
    struct sender_opts o;
    sender_done_fn done;
    void *arg;
    CURLM *multi;
    struct host *buckets[HOST_BUCKETS];
    struct easy *pool;    /* idle handles */
    struct easy *running; /* handles in the multi */
    int in_flight;
    int waiting;
    /* The socket interface: curl tells which sockets to watch (epoll) and
     * when its next timeout falls, so each wake-up touches only the
     * transfers that have something to do, however many hang. */
    int ep;
    int extra_fd;     /* the caller's wake-up descriptor, in ep */
    int64_t timer_at; /* monotonic ms of curl's next timeout, -1 none */
};

static unsigned hash(const char *s)
{
    return (unsigned)(ids_hash(s, strlen(s)) % HOST_BUCKETS);
}

static struct host *host_get(struct sender *s, const char *key, int create)
{
    unsigned b = hash(key);
    for (struct host *h = s->buckets[b]; h; h = h->next)
        if (strcmp(h->key, key) == 0)
            return h;
    if (!create)
        return NULL;
    struct host *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    snprintf(h->key, sizeof(h->key), "%s", key);
    h->born_ms = h->window_ms = h->last_done_ms = clk_mono_ms();
    h->next = s->buckets[b];
    s->buckets[b] = h;
    return h;
}

/* Rolls the host's rate window when it is due. */
static void host_rate(struct host *h, int64_t now)
{
    int64_t elapsed = now - h->window_ms;
    if (elapsed < 1000)
        return;
    if (h->window_full) {
        /* Smoothed over a few windows: one stalled second (a busy
         * machine) must not make a fast host look slow. */
        double r = h->window_done * 1000.0 / (double)elapsed;
        h->rate = h->have_rate ? 0.5 * h->rate + 0.5 * r : r;
        h->have_rate = 1;
    }
    h->window_ms = now;
    h->window_done = 0;
    h->window_full = h->n_waiting > 0;
}

/* A host with nothing running or queued is forgotten, so the table holds
 * only the hosts currently in use. */
static void host_release(struct sender *s, struct host *h)
{
    if (h->active || h->n_waiting)
        return;
    struct host **pp = &s->buckets[hash(h->key)];
    while (*pp != h)
        pp = &(*pp)->next;
    *pp = h->next;
    free(h);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct job *job = arg;
    size_t len = size * n;
    if (job->resp_len < sizeof(job->resp) - 1) {
        size_t take = sizeof(job->resp) - 1 - job->resp_len;
        if (take > len)
            take = len;
        memcpy(job->resp + job->resp_len, data, take);
        job->resp_len += take;
        job->resp[job->resp_len] = '\0';
    }
    job->resp_total += len;
    /* Read the rest (so the connection stays reusable) but only so far. */
    return job->resp_total > DELIVER_RESP_MAX ? 0 : len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct job *job = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && len < 256 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        char v[256];
        memcpy(v, data + sizeof(name) - 1, len - (sizeof(name) - 1));
        v[len - (sizeof(name) - 1)] = '\0';
        job->retry_after_ms = task_retry_after(v, clk_now_ms());
    }
    return len;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
    char line[1024];
    snprintf(line, sizeof(line), "%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(l, line);
    if (!n)
        abort();
    return n;
}

static struct curl_slist *job_headers(const struct sender *s, const struct job *job)
{
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", job->ts);
    struct curl_slist *l = NULL;
    l = add_header(l, "Content-Type", "application/json");
    l = add_header(l, "User-Agent", s->o.user_agent);
    l = add_header(l, "X-Ferry-Event", job->event);
    l = add_header(l, "X-Ferry-Delivery", job->delivery_id);
    l = add_header(l, "X-Ferry-Batch-Id", job->batch_id);
    l = add_header(l, "X-Ferry-Timestamp", ts);
    l = add_header(l, "X-Ferry-Signature", job->ferry_sig);
    l = add_header(l, "webhook-id", job->delivery_id);
    l = add_header(l, "webhook-timestamp", ts);
    l = add_header(l, "webhook-signature", job->std_sig);
    /* No "Expect: 100-continue" round trip before the body. */
    l = curl_slist_append(l, "Expect:");
    if (!l)
        abort();
    return l;
}

static struct easy *easy_get(struct sender *s)
{
    struct easy *e = s->pool;
    if (e) {
        s->pool = e->next;
        curl_easy_reset(e->curl);
    } else {
        e = calloc(1, sizeof(*e));
        if (!e || !(e->curl = curl_easy_init()))
            abort();
    }
    e->next = NULL;
    e->errbuf[0] = '\0';
    return e;
}

/* Starts the attempt: signs it (its timestamp is now) and adds the transfer.
 * -1 when it cannot start (the secret does not open): the job is then
 * finished, its error final. */
static int job_start(struct sender *s, struct host *h, struct job *job)
{
    int64_t now = clk_now_ms();
    job->start_ms = now;
    job->start_us = clk_mono_us();
    if (!job->first_attempt_ms)
        job->first_attempt_ms = now;
    if (task_sign(job, s->o.pol, now, job->error, sizeof(job->error))) {
        job->final = 1;
        job->host = NULL;
        return -1;
    }
    struct easy *e = easy_get(s);
    CURL *c = e->curl;
    job->headers = job_headers(s, job);
    job->easy = c;
    job->host = h;
    e->job = job;
    e->prev = NULL;
    e->next = s->running;
    if (s->running)
        s->running->prev = e;
    s->running = e;
    curl_easy_setopt(c, CURLOPT_PRIVATE, e);
    curl_easy_setopt(c, CURLOPT_URL, job->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, s->o.allow_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, job->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->body_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, job->headers);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, job);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, job);
    /* Checked on the very address connected to, after DNS. */
    e->guard.allow_private = s->o.allow_private;
    ssrf_curl_guard(c, &e->guard);
    h->active++;
    s->in_flight++;
    CURLMcode mc = curl_multi_add_handle(s->multi, c);
    if (mc != CURLM_OK)
        LOG_ERROR("curl_add", "err=%s", curl_multi_strerror(mc));
    return 0;
}

/* curl: watch (or stop watching) a socket. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    (void)easy;
    struct sender *s = arg;
    struct epoll_event ev = {.data.fd = fd};
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
        curl_multi_assign(s->multi, fd, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    /* sockp is NULL the first time curl tells about this socket. */
    if (!sockp) {
        epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
        curl_multi_assign(s->multi, fd, s);
    } else {
        epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
    }
    return 0;
}

/* curl: call me back in timeout_ms (-1: never). */
static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
    (void)multi;
    struct sender *s = arg;
    s->timer_at = timeout_ms < 0 ? -1 : clk_mono_ms() + timeout_ms;
    return 0;
}

struct sender *sender_new(const struct sender_opts *opts, sender_done_fn done, void *arg)
{
    struct sender *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->o = *opts;
    s->done = done;
    s->arg = arg;
    s->multi = curl_multi_init();
    if (!s->multi)
        abort();
    /* Idle connections kept for reuse: enough for every host's slots of the
     * hosts in use at once. */
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, 4096L);
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->ep < 0)
        abort();
    s->extra_fd = -1;
    s->timer_at = -1;
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    return s;
}

void sender_submit(struct sender *s, struct job *job)
{
    struct host *h = host_get(s, job->hostkey, 1);
    job->retry_after_ms = -1;
    if (h->active < s->o.max_per_host && !h->head) {
        if (job_start(s, h, job)) {
            host_release(s, h);
            s->done(job, s->arg);
        }
        return;
    }
    job->next = NULL;
    job->host = h;
    if (h->tail)
        h->tail->next = job;
    else
        h->head = job;
    h->tail = job;
    h->n_waiting++;
    s->waiting++;
}

static void describe_result(struct job *job, CURLcode rc, const char *errbuf, long timeout_ms)
{
    if (rc == CURLE_OK) {
        if (job->status >= 200 && job->status < 300)
            job->error[0] = '\0';
        else if (job->status >= 300 && job->status < 400)
            snprintf(job->error, sizeof(job->error), "http %ld: redirect not followed",
                     job->status);
        else
            snprintf(job->error, sizeof(job->error), "http %ld", job->status);
        return;
    }
    if (rc == CURLE_WRITE_ERROR && job->resp_total > DELIVER_RESP_MAX) {
        if (job->status >= 200 && job->status < 300) {
            job->error[0] = '\0'; /* accepted; only its answer was too long */
            return;
        }
        snprintf(job->error, sizeof(job->error), "http %ld: response over %d bytes", job->status,
                 DELIVER_RESP_MAX);
        return;
    }
    const char *kind = rc == CURLE_OPERATION_TIMEDOUT         ? "timeout"
                       : rc == CURLE_COULDNT_CONNECT          ? "connect"
                       : rc == CURLE_COULDNT_RESOLVE_HOST     ? "dns"
                       : rc == CURLE_SSL_CONNECT_ERROR        ? "tls"
                       : rc == CURLE_PEER_FAILED_VERIFICATION ? "tls"
                       : rc == CURLE_GOT_NOTHING              ? "closed"
                       : rc == CURLE_RECV_ERROR               ? "closed"
                       : rc == CURLE_SEND_ERROR               ? "closed"
                                                              : "error";
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(job->error, sizeof(job->error), "timeout after %ld ms", timeout_ms);
    else
        snprintf(job->error, sizeof(job->error), "%s: %.200s", kind,
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
    size_t n = strlen(job->error);
    if (n && job->error[n - 1] == '\n')
        job->error[n - 1] = '\0';
}

static void finish(struct sender *s, CURL *c, CURLcode rc)
{
    struct easy *e = NULL;
    curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&e);
    struct job *job = e->job;
    struct host *h = job->host;

    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &job->status);
    job->latency_ms = (long)((clk_mono_us() - job->start_us) / 1000);
    describe_result(job, rc, e->errbuf, s->o.timeout_ms);
    if (e->guard.blocked) {
        snprintf(job->error, sizeof(job->error), "blocked: %s", e->guard.why);
        job->final = 1;
    }
    curl_multi_remove_handle(s->multi, c);
    curl_slist_free_all(job->headers);
    job->headers = NULL;
    job->easy = NULL;
    job->host = NULL;
    e->job = NULL;
    if (e->prev)
        e->prev->next = e->next;
    else
        s->running = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->next = s->pool;
    s->pool = e;
    h->active--;
    h->window_done++;
    h->last_done_ms = clk_mono_ms();
    host_rate(h, h->last_done_ms);
    s->in_flight--;

    /* The slot is free: the host's next job goes now. */
    while (h->head && h->active < s->o.max_per_host) {
        struct job *next = h->head;
        h->head = next->next;
        if (!h->head)
            h->tail = NULL;
        next->next = NULL;
        h->n_waiting--;
        s->waiting--;
        if (job_start(s, h, next))
            s->done(next, s->arg);
    }
    host_release(s, h);
    s->done(job, s->arg);
}

static void drain(struct sender *s)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        finish(s, m->easy_handle, m->data.result);
    }
}

int sender_run(struct sender *s, int extra_fd, int timeout_ms)
{
    int running = 0;
    if (extra_fd != s->extra_fd) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = extra_fd};
        if (s->extra_fd >= 0)
            epoll_ctl(s->ep, EPOLL_CTL_DEL, s->extra_fd, NULL);
        if (extra_fd >= 0)
            epoll_ctl(s->ep, EPOLL_CTL_ADD, extra_fd, &ev);
        s->extra_fd = extra_fd;
    }
    /* Transfers added since the last round have a timer due now. */
    int64_t now = clk_mono_ms();
    if (s->timer_at >= 0 && s->timer_at <= now) {
        s->timer_at = -1;
        curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        drain(s);
        now = clk_mono_ms();
    }
    int wait = timeout_ms;
    if (s->timer_at >= 0 && s->timer_at - now < wait)
        wait = (int)(s->timer_at > now ? s->timer_at - now : 0);

    struct epoll_event evs[256];
    int n = epoll_wait(s->ep, evs, 256, wait);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.fd == s->extra_fd)
            continue; /* the caller's; it drains it */
        int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                    (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(s->multi, evs[i].data.fd, flags, &running);
    }
    if (s->timer_at >= 0 && s->timer_at <= clk_mono_ms()) {
        s->timer_at = -1;
        curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    drain(s);
    return 0;
}

int sender_in_flight(const struct sender *s)
{
    return s->in_flight;
}

int sender_waiting(const struct sender *s)
{
    return s->waiting;
}

int sender_host_saturated(struct sender *s, const char *hostkey, long max_wait_ms, int min_waiting)
{
    struct host *h = host_get(s, hostkey, 0);
    if (!h || h->n_waiting < s->o.max_per_host || h->n_waiting < min_waiting)
        return 0;
    int64_t now = clk_mono_ms();
    host_rate(h, now);
    /* Hanging: every slot taken and not one answer for two seconds. */
    if (h->active >= s->o.max_per_host && now - h->last_done_ms >= 2000)
        return 1;
    /* Slow: its queue would take longer than max_wait_ms at its capacity. */
    return h->have_rate && (double)h->n_waiting * 1000.0 > h->rate * (double)max_wait_ms;
}

void sender_free(struct sender *s)
{
    if (!s)
        return;
    /* Jobs still running or queued are abandoned: their offsets were not
     * stored, so the next run sends them again (at least once). */
    for (unsigned b = 0; b < HOST_BUCKETS; b++) {
        struct host *h = s->buckets[b];
        while (h) {
            struct host *next = h->next;
            while (h->head) {
                struct job *j = h->head;
                h->head = j->next;
                job_free(j);
            }
            free(h);
            h = next;
        }
    }
    while (s->running) {
        struct easy *e = s->running;
        s->running = e->next;
        curl_multi_remove_handle(s->multi, e->curl);
        curl_easy_cleanup(e->curl);
        job_free(e->job);
        free(e);
    }
    while (s->pool) {
        struct easy *e = s->pool;
        s->pool = e->next;
        curl_easy_cleanup(e->curl);
        free(e);
    }
    curl_multi_cleanup(s->multi);
    close(s->ep);
    free(s);
}
