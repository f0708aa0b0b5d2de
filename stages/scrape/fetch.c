#include "fetch.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct worker {
    pthread_t thread;
    struct httpc *engine;
    struct fetch_pool *pool;
};

struct fetch_pool {
    struct fetch_conf conf;
    fetch_done_fn done;
    void *arg;
    atomic_int stop;
    int n; /* workers started */
    struct worker *w;
};

/* httpc setup: the item's own options, now that its host has a slot. */
static int on_setup(struct httpc_xfer *x, CURL *e, void *arg)
{
    const struct fetch_conf *fc = &((struct fetch_pool *)arg)->conf;
    const struct item *it = x->owner;
    curl_easy_setopt(e, CURLOPT_URL, it->url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, it->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     fc->connect_timeout_ms < it->timeout_ms ? fc->connect_timeout_ms
                                                             : it->timeout_ms);
    /* A Content-Length over the cap fails before the body is read. */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)it->max_bytes);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, it->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->headers);
    if (x->easy_fresh) { /* the same for every item: a recycled handle keeps them */
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)fc->max_redirects);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding libcurl decodes */
        curl_easy_setopt(e, CURLOPT_USERAGENT, fc->user_agent);
    }
    return 0;
}

static void on_done(struct httpc_xfer *x, CURLcode rc, void *arg)
{
    struct fetch_pool *p = arg;
    p->done(x->owner, rc, p->arg);
}

static void on_drop(struct httpc_xfer *x, void *arg)
{
    (void)arg;
    item_free(x->owner);
}

void fetch_host_key(const char *url, char *out, size_t size)
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
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    /* 1 s bounds nothing that matters: a stop wakes the engine at once. */
    while (!atomic_load(&w->pool->stop))
        httpc_run(w->engine, 1000);
    return NULL;
}

struct fetch_pool *fetch_pool_start(const struct fetch_conf *fc, fetch_done_fn done, void *arg,
                                    char *errstr, size_t errstr_size)
{
    static const struct httpc_ops ops = {on_setup, on_done, on_drop};
    struct fetch_pool *p = calloc(1, sizeof(*p));
    int workers = fc->workers > 0 ? fc->workers : 1;
    if (!p || !(p->w = calloc((size_t)workers, sizeof(*p->w))))
        abort();
    p->conf = *fc;
    p->done = done;
    p->arg = arg;
    /* The per-host cap is split over the workers (each engine enforces its
     * own share), so the whole stage opens at most host_connections. */
    struct httpc_conf hc = {
        .max_per_host = fc->host_connections / workers > 0 ? fc->host_connections / workers : 1,
        .cap_real_hosts = 1,
        .allow_private = fc->allow_private,
        .allow = fc->allow,
    };
    for (; p->n < workers; p->n++) {
        struct worker *w = &p->w[p->n];
        w->pool = p;
        w->engine = httpc_new(&hc, &ops, p, errstr, errstr_size);
        if (!w->engine)
            goto fail;
        int rc = pthread_create(&w->thread, NULL, worker_run, w);
        if (rc) {
            snprintf(errstr, errstr_size, "fetch worker: %s", strerror(rc));
            httpc_free(w->engine);
            goto fail;
        }
    }
    return p;
fail:
    fetch_pool_stop(p);
    return NULL;
}

void fetch_pool_submit(struct fetch_pool *p, struct item *it)
{
    char key[HTTPC_HOSTKEY_MAX];
    fetch_host_key(it->url, key, sizeof(key));
    httpc_xfer_init(&it->x, it, key, (size_t)it->max_bytes, (size_t)it->max_bytes);
    struct worker *best = &p->w[0];
    for (int i = 1; i < p->n; i++)
        if (httpc_load(p->w[i].engine) < httpc_load(best->engine))
            best = &p->w[i];
    httpc_post(best->engine, &it->x);
}

size_t fetch_pool_active(struct fetch_pool *p)
{
    size_t n = 0;
    for (int i = 0; i < p->n; i++)
        n += httpc_load(p->w[i].engine);
    return n;
}

void fetch_pool_stop(struct fetch_pool *p)
{
    atomic_store(&p->stop, 1);
    for (int i = 0; i < p->n; i++)
        httpc_wake(p->w[i].engine);
    for (int i = 0; i < p->n; i++) {
        pthread_join(p->w[i].thread, NULL);
        httpc_free(p->w[i].engine); /* drops what is unfinished */
    }
    free(p->w);
    free(p);
}
