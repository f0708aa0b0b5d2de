/*
 * sender — webhook POSTs on the httpc engine, and deliver's view of hosts.
 *
 * The engine runs many POSTs at once from the loop's thread, keeps
 * connections alive, and lets each host (scheme://host:port) have at most
 * max_per_host POSTs running: further jobs for it queue behind them, so a
 * receiver that hangs to the timeout holds its own slots only and the jobs
 * of other hosts start at once. What is deliver's own: the request (signed
 * when it starts), what a result means in words, and judging from the
 * engine's reports whether a host is too slow to queue more for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "deliver.h"

/* Deliver's statistics of a host, kept in the engine's host entry: answers
 * per second, measured over windows of at least 1 s that began with jobs
 * queued, so the rate is the host's capacity, not merely the demand it saw. */
struct host_rate {
    int64_t window_ms; /* monotonic start of the current window; 0 before the first */
    int window_done, window_full, have_rate;
    double rate;
};

struct sender {
    struct sender_opts o;
    sender_done_fn done;
    void *arg;
    struct httpc *engine;
};

/* Rolls the host's rate window when it is due. */
static void host_rate_roll(struct httpc_host *h, int64_t now)
{
    struct host_rate *r = httpc_host_data(h);
    if (!r->window_ms) {
        r->window_ms = now;
        return;
    }
    int64_t elapsed = now - r->window_ms;
    if (elapsed < 1000)
        return;
    if (r->window_full) {
        /* Smoothed over a few windows: one stalled second (a busy
         * machine) must not make a fast host look slow. */
        double rate = r->window_done * 1000.0 / (double)elapsed;
        r->rate = r->have_rate ? 0.5 * r->rate + 0.5 * rate : rate;
        r->have_rate = 1;
    }
    r->window_ms = now;
    r->window_done = 0;
    r->window_full = httpc_host_waiting(h) > 0;
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

/* httpc setup: the attempt starts now, so it is signed now (the timestamp
 * is part of the signature). -1 when the secret does not open: the
 * attempt's error is then final. */
static int on_setup(struct httpc_xfer *x, CURL *c, void *arg)
{
    struct sender *s = arg;
    struct job *job = x->owner;
    int64_t now = clk_now_ms();
    job->start_ms = now;
    if (!job->first_attempt_ms)
        job->first_attempt_ms = now;
    if (task_sign(job, s->o.pol, now, job->error, sizeof(job->error))) {
        job->final = 1;
        return -1;
    }
    curl_slist_free_all(job->headers);
    job->headers = job_headers(s, job);
    curl_easy_setopt(c, CURLOPT_URL, job->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, s->o.allow_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, job->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->body_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, job->headers);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->o.connect_timeout_ms);
    return 0;
}

static void describe_result(struct job *job, CURLcode rc, long timeout_ms)
{
    const struct httpc_xfer *x = &job->x;
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
    if (x->too_large) {
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
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    size_t n = strlen(job->error);
    if (n && job->error[n - 1] == '\n')
        job->error[n - 1] = '\0';
}

/* httpc done: the attempt ended (or never started: setup set the error). */
static void on_done(struct httpc_xfer *x, CURLcode rc, void *arg)
{
    struct sender *s = arg;
    struct job *job = x->owner;
    if (x->easy) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &job->status);
        job->latency_ms = (long)((clk_mono_us() - x->started_us) / 1000);
        describe_result(job, rc, s->o.timeout_ms);
        if (x->guard.blocked) {
            snprintf(job->error, sizeof(job->error), "blocked: %s", x->guard.why);
            job->final = 1;
        }
        struct host_rate *r = httpc_host_data(x->host);
        r->window_done++;
        host_rate_roll(x->host, httpc_host_last_done_ms(x->host));
    }
    curl_slist_free_all(job->headers);
    job->headers = NULL;
    s->done(job, s->arg);
}

/* httpc drop: the stage stops with the job unsent. */
static void on_drop(struct httpc_xfer *x, void *arg)
{
    (void)arg;
    job_free(x->owner);
}

struct sender *sender_new(const struct sender_opts *opts, sender_done_fn done, void *arg,
                          char *errstr, size_t errstr_size)
{
    struct sender *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->o = *opts;
    s->done = done;
    s->arg = arg;
    struct httpc_conf conf = {
        .max_per_host = opts->max_per_host,
        .allow_private = opts->allow_private,
        .host_data_size = sizeof(struct host_rate),
    };
    static const struct httpc_ops ops = {on_setup, on_done, on_drop};
    s->engine = httpc_new(&conf, &ops, s, errstr, errstr_size);
    if (!s->engine) {
        free(s);
        return NULL;
    }
    return s;
}

void sender_submit(struct sender *s, struct job *job)
{
    httpc_submit(s->engine, &job->x);
}

int sender_watch(struct sender *s, int fd)
{
    return httpc_watch(s->engine, fd);
}

void sender_run(struct sender *s, int timeout_ms)
{
    httpc_run(s->engine, timeout_ms);
}

int sender_in_flight(const struct sender *s)
{
    return httpc_running(s->engine);
}

int sender_waiting(const struct sender *s)
{
    return httpc_waiting(s->engine);
}

int sender_host_saturated(struct sender *s, const char *hostkey, long max_wait_ms, int min_waiting)
{
    struct httpc_host *h = httpc_host_find(s->engine, hostkey);
    if (!h)
        return 0;
    int waiting = httpc_host_waiting(h);
    if (waiting < s->o.max_per_host || waiting < min_waiting)
        return 0;
    int64_t now = clk_mono_ms();
    host_rate_roll(h, now);
    /* Hanging: every slot taken and not one answer for two seconds. */
    if (httpc_host_running(h) >= s->o.max_per_host && now - httpc_host_last_done_ms(h) >= 2000)
        return 1;
    /* Slow: its queue would take longer than max_wait_ms at its capacity. */
    const struct host_rate *r = httpc_host_data(h);
    return r->have_rate && (double)waiting * 1000.0 > r->rate * (double)max_wait_ms;
}

void sender_free(struct sender *s)
{
    if (!s)
        return;
    httpc_free(s->engine);
    free(s);
}
