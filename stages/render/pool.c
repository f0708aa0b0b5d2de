#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdp.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#define SUPERVISE_MS     100
#define MEASURE_EVERY_MS 250
/* A browser that does not answer its first command within this is broken. */
#define START_TIMEOUT_MS 30000
/* After a failed start, wait this long before the next try. */
#define START_BACKOFF_MS 1000
/* Opening a blank page ahead of its item takes milliseconds; a browser that
 * needs longer is hung (and the next item finds out). */
#define PREPARE_TIMEOUT_MS 10000
#define PREPARED_METRIC    "ferry_render_prepared_pages_total"

enum bstate { B_DOWN, B_UP, B_RETIRING, B_FAILED };

struct browser {
    int id;
    enum bstate state;
    struct chrome proc;
    struct cdp *cdp;
    int busy;              /* slots rendering (or opening a page) on it now */
    unsigned long gen;     /* starts so far: a prepared page belongs to one */
    long items;            /* rendered since it started */
    int64_t next_start_ms; /* backoff after a failed start */
    atomic_long memory_kills;
    atomic_int group; /* the browser's pid while it runs, 0 otherwise: for
                         the memory gauge, read from another thread */
};

struct slot {
    struct pool *p;
    int id;
    pthread_t thread;
    struct page_tab spare;   /* opened ahead for the next item (ctx "": none) */
    unsigned long spare_gen; /* ... in this start of the browser */
    /* A page is opened once per item and once per browser start: one that
     * failed is not tried again at once. */
    int may_prepare;
    unsigned long tried_gen;
};

struct pool {
    struct pool_conf conf;
    pool_done_fn done;
    void *arg;
    struct browser *b;
    struct slot *slots;
    int n_slots;
    pthread_t supervisor;
    pthread_mutex_t lock; /* everything below, and browser state/busy/items */
    pthread_cond_t cond;  /* queue, browser state, stop */
    struct ritem *head, *tail;
    long queued, running;
    int stopping;
    struct metric *m_restarts, *m_lost, *m_latency, *m_spare_used, *m_spare_failed;
};

/* ------------------------------------------------------------ supervisor */

static void start_browser(struct pool *p, struct browser *b)
{
    char errstr[256];
    if (chrome_start(&b->proc, &p->conf.chrome, b->id, errstr, sizeof(errstr))) {
        LOG_ERROR("browser_start_failed", "browser=%d why=%s", b->id, errstr);
        b->next_start_ms = clk_mono_ms() + START_BACKOFF_MS;
        return;
    }
    struct cdp *c = cdp_open(b->proc.to_fd, b->proc.from_fd, p->conf.max_message);
    json_t *v = NULL;
    /* Every new page is held before it navigates until its item has
     * enabled what it watches (page.c, cdp_claim); only pages: a worker
     * held for a debugger nobody attaches would stall its page. */
    struct cdp_cmd cmds[] = {
        {"Browser.getVersion", NULL, &v},
        {"Target.setAutoAttach",
         json_pack("{s:b,s:b,s:b,s:[{s:s}]}", "autoAttach", 1, "waitForDebuggerOnStart", 1,
                   "flatten", 1, "filter", "type", "page"),
         NULL},
    };
    if (cdp_calls(c, NULL, cmds, 2, clk_mono_ms() + START_TIMEOUT_MS, errstr, sizeof(errstr)) !=
        CDP_OK) {
        json_decref(v);
        LOG_ERROR("browser_start_failed", "browser=%d exe=%s why=%s", b->id, p->conf.chrome.exe,
                  errstr);
        chrome_kill(&b->proc);
        cdp_close(c);
        b->next_start_ms = clk_mono_ms() + START_BACKOFF_MS;
        return;
    }
    LOG_INFO("browser_started", "browser=%d pid=%ld product=%s", b->id, (long)b->proc.pid,
             json_string_value(json_object_get(v, "product")));
    json_decref(v);
    pthread_mutex_lock(&p->lock);
    b->cdp = c;
    atomic_store(&b->group, (int)b->proc.pid);
    b->items = 0;
    b->gen++;
    b->state = B_UP;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* A failed or retiring browser with no slot on it: kill it, free it, and
 * let the next round start a new one. */
static void retire_browser(struct pool *p, struct browser *b, const char *why)
{
    LOG_INFO("browser_replaced", "browser=%d pid=%ld items=%ld why=%s", b->id, (long)b->proc.pid,
             b->items, why);
    atomic_store(&b->group, 0);
    chrome_kill(&b->proc);
    cdp_close(b->cdp);
    b->cdp = NULL;
    metric_inc(p->m_restarts, 1);
    pthread_mutex_lock(&p->lock);
    b->state = B_DOWN;
    pthread_mutex_unlock(&p->lock);
}

static void reap(struct pool *p)
{
    pid_t pid;
    while ((pid = chrome_reap()) > 0) {
        for (int i = 0; i < p->conf.browsers; i++) {
            struct browser *b = &p->b[i];
            if (b->proc.pid != pid)
                continue;
            b->proc.exited = 1;
            LOG_WARN("browser_died", "browser=%d pid=%ld", b->id, (long)pid);
            pthread_mutex_lock(&p->lock);
            if (b->state == B_UP || b->state == B_RETIRING)
                b->state = B_FAILED;
            pthread_mutex_unlock(&p->lock);
            if (b->cdp)
                cdp_fail(b->cdp, "the browser process exited");
        }
    }
}

/* The browsers' groups now (0: not running); their count. */
static int groups(struct pool *p, pid_t *out)
{
    int n = p->conf.browsers < POOL_MAX_BROWSERS ? p->conf.browsers : POOL_MAX_BROWSERS;
    for (int i = 0; i < n; i++)
        out[i] = (pid_t)atomic_load(&p->b[i].group);
    return n;
}

/* The memory cap: RSS only (the kernel's counters), so it can run often. */
static void measure(struct pool *p)
{
    pid_t g[POOL_MAX_BROWSERS] = {0};
    struct chrome_mem m[POOL_MAX_BROWSERS];
    int n = groups(p, g);
    chrome_memory(g, n, p->conf.page_memory, 0, m);
    for (int i = 0; i < n; i++)
        if (m[i].killed)
            atomic_fetch_add(&p->b[i].memory_kills, m[i].killed);
}

static void *supervisor_main(void *arg)
{
    struct pool *p = arg;
    int64_t next_measure = 0;
    for (;;) {
        reap(p);
        pthread_mutex_lock(&p->lock);
        int stopping = p->stopping;
        pthread_mutex_unlock(&p->lock);
        if (stopping)
            break;
        for (int i = 0; i < p->conf.browsers; i++) {
            struct browser *b = &p->b[i];
            pthread_mutex_lock(&p->lock);
            enum bstate st = b->state;
            int busy = b->busy;
            pthread_mutex_unlock(&p->lock);
            if (st == B_DOWN && clk_mono_ms() >= b->next_start_ms)
                start_browser(p, b);
            else if (st == B_FAILED) {
                /* Wake the slots still waiting on it, then wait for them. */
                cdp_fail(b->cdp, "the browser failed");
                if (!busy)
                    retire_browser(p, b, "failed");
            } else if (st == B_RETIRING && !busy) {
                retire_browser(p, b, "recycled");
            }
        }
        if (clk_mono_ms() >= next_measure) {
            measure(p);
            next_measure = clk_mono_ms() + MEASURE_EVERY_MS;
        }
        usleep(SUPERVISE_MS * 1000);
    }
    return NULL;
}

/* ------------------------------------------------------------ slots */

static void fill_req(struct pool *p, struct slot *s, struct browser *b, const struct ritem *it,
                     struct page_req *r)
{
    memset(r, 0, sizeof(*r));
    r->url = it->url;
    r->timeout_ms = it->timeout_ms;
    r->deadline_ms = clk_mono_ms() + it->timeout_ms;
    r->wait_selector = it->wait_selector;
    r->wait_ms = it->wait_ms;
    r->headers = it->headers;
    r->want_html = it->formats != 0 || it->rules.spec; /* rules read the document */
    r->max_html = (size_t)it->max_bytes;
    r->block_ads = it->block_ads;
    r->shot = it->shot;
    r->full_page = it->full_page;
    r->width = it->width;
    r->height = it->height;
    r->quality = it->quality;
    r->max_height = p->conf.max_height;
    r->proxy = p->conf.proxy;
    r->slot = s->id;
    r->memory_kills = &b->memory_kills;
    r->memory_cap = p->conf.page_memory;
}

/* Opens the slot's next page (called and returns with p->lock held). The
 * slot counts as busy meanwhile, so its browser is not retired under it. */
static void prepare(struct slot *s, struct browser *b)
{
    struct pool *p = s->p;
    struct cdp *c = b->cdp;
    unsigned long gen = b->gen;
    s->may_prepare = 0;
    s->tried_gen = gen;
    b->busy++;
    pthread_mutex_unlock(&p->lock);
    char err[320];
    struct page_tab t;
    int rc = page_prepare(c, p->conf.proxy, s->id, p->conf.width, p->conf.height,
                          clk_mono_ms() + PREPARE_TIMEOUT_MS, &t, err, sizeof(err));
    if (rc) {
        metric_inc(p->m_spare_failed, 1);
        LOG_WARN("page_prepare_failed", "browser=%d slot=%d why=%s", b->id, s->id, err);
    }
    pthread_mutex_lock(&p->lock);
    b->busy--;
    if (rc == 0) {
        s->spare = t;
        s->spare_gen = gen;
    } else if (rc > 0 && b->state == B_UP && b->gen == gen) {
        b->state = B_FAILED;
    }
    pthread_cond_broadcast(&p->cond);
}

static void *slot_main(void *arg)
{
    struct slot *s = arg;
    struct pool *p = s->p;
    struct browser *b = &p->b[s->id / p->conf.tabs];
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && (!p->head || b->state != B_UP)) {
            if (p->conf.prepare && b->state == B_UP && (s->may_prepare || s->tried_gen != b->gen) &&
                (!s->spare.ctx[0] || s->spare_gen != b->gen)) {
                prepare(s, b);
                continue;
            }
            pthread_cond_wait(&p->cond, &p->lock);
        }
        if (p->stopping)
            break;
        if (s->spare.ctx[0] && s->spare_gen != b->gen)
            memset(&s->spare, 0, sizeof(s->spare)); /* died with its browser */
        struct ritem *it = p->head;
        p->head = it->next;
        if (!p->head)
            p->tail = NULL;
        it->next = NULL;
        p->queued--;
        p->running++;
        b->busy++;
        struct cdp *c = b->cdp;
        pthread_mutex_unlock(&p->lock);

        struct page_req r;
        struct page_res res;
        fill_req(p, s, b, it, &r);
        r.spare = s->spare.ctx[0] ? &s->spare : NULL;
        int64_t t0 = clk_mono_us();
        page_render(c, &r, &res);
        long long ms = (clk_mono_us() - t0) / 1000;

        if (res.spare_used)
            metric_inc(p->m_spare_used, 1);
        pthread_mutex_lock(&p->lock);
        b->busy--;
        b->items++;
        p->running--;
        s->may_prepare = 1;
        if (res.browser_failed && b->state == B_UP)
            b->state = B_FAILED;
        if (b->state == B_UP && p->conf.recycle_after && b->items >= p->conf.recycle_after)
            b->state = B_RETIRING;
        if (p->stopping) {
            /* Not rendered to the end: no result; redone after a restart. */
            pthread_mutex_unlock(&p->lock);
            page_res_release(&res);
            ritem_free(it);
            pthread_mutex_lock(&p->lock);
            continue;
        }
        if (res.interrupted && ++it->browser_losses < p->conf.max_losses) {
            /* Rendered again first, on whichever browser is up. */
            it->next = p->head;
            p->head = it;
            if (!p->tail)
                p->tail = it;
            p->queued++;
            pthread_cond_broadcast(&p->cond);
            pthread_mutex_unlock(&p->lock);
            metric_inc(p->m_lost, 1);
            LOG_WARN("item_requeued", "batch=%s item=%lld losses=%d why=%s", it->batch_id,
                     it->index, it->browser_losses, res.error);
            page_res_release(&res);
            pthread_mutex_lock(&p->lock);
            continue;
        }
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (res.interrupted) {
            char why[200];
            snprintf(why, sizeof(why), "the browser died or hung %d times rendering this page",
                     it->browser_losses);
            res.status = "render_error";
            res.transient = 0;
            snprintf(res.error, sizeof(res.error), "%s", why);
        }
        metric_observe(p->m_latency, (double)ms / 1000.0);
        p->done(it, &res, ms, p->arg);
        page_res_release(&res);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ------------------------------------------------------------ the pool */

struct pool *pool_start(const struct pool_conf *pc, pool_done_fn done, void *arg)
{
    struct pool *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->conf = *pc;
    p->done = done;
    p->arg = arg;
    p->n_slots = pc->browsers * pc->tabs;
    p->b = calloc((size_t)pc->browsers, sizeof(*p->b));
    p->slots = calloc((size_t)p->n_slots, sizeof(*p->slots));
    if (!p->b || !p->slots)
        abort();
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->m_restarts = metric_counter("ferry_render_browser_restarts_total",
                                   "Browsers replaced (died, hung, or recycled)", "");
    p->m_lost = metric_counter("ferry_render_items_requeued_total",
                               "Items rendered again because their browser died or hung", "");
    const char *prepared = "Pages opened ahead of their item, by outcome";
    p->m_spare_used = metric_counter(PREPARED_METRIC, prepared, "outcome=\"used\"");
    p->m_spare_failed = metric_counter(PREPARED_METRIC, prepared, "outcome=\"failed\"");
    p->m_latency = metric_histogram("ferry_render_seconds", "Time to render an item", "",
                                    metric_latency_bounds, metric_latency_n);
    for (int i = 0; i < pc->browsers; i++) {
        p->b[i].id = i;
        p->b[i].proc.to_fd = p->b[i].proc.from_fd = -1;
    }
    if (pthread_create(&p->supervisor, NULL, supervisor_main, p))
        abort();
    for (int i = 0; i < p->n_slots; i++) {
        p->slots[i] = (struct slot){p, i, 0};
        if (pthread_create(&p->slots[i].thread, NULL, slot_main, &p->slots[i]))
            abort();
    }
    return p;
}

void pool_submit(struct pool *p, struct ritem *it)
{
    it->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    p->queued++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void pool_stop(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->supervisor, NULL);
    /* Browsers first: whatever a slot waits for ends now. */
    for (int i = 0; i < p->conf.browsers; i++)
        if (p->b[i].cdp)
            cdp_fail(p->b[i].cdp, "stopping");
    for (int i = 0; i < p->conf.browsers; i++)
        chrome_kill(&p->b[i].proc);
    for (int i = 0; i < p->n_slots; i++)
        pthread_join(p->slots[i].thread, NULL);
    for (int i = 0; i < p->conf.browsers; i++)
        cdp_close(p->b[i].cdp);
    while (chrome_reap() > 0)
        ;
    for (struct ritem *it = p->head, *next; it; it = next) {
        next = it->next;
        ritem_free(it);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->slots);
    free(p->b);
    free(p);
}

long pool_active(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    long n = p->queued + p->running;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int pool_browsers_up(struct pool *p)
{
    int n = 0;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->conf.browsers; i++)
        n += p->b[i].state == B_UP || p->b[i].state == B_RETIRING;
    pthread_mutex_unlock(&p->lock);
    return n;
}

long long pool_browsers_pss(struct pool *p)
{
    pid_t g[POOL_MAX_BROWSERS] = {0};
    struct chrome_mem m[POOL_MAX_BROWSERS];
    int n = groups(p, g);
    long long sum = 0;
    chrome_memory(g, n, 0, 1, m);
    for (int i = 0; i < n; i++)
        sum += m[i].pss;
    return sum;
}
