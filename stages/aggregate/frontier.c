#include "frontier_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "clock.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "report.h"
#include "scan.h"
#include "shutdown.h"

/* How long one replay step may read. */
#define REPLAY_TIMEOUT_MS 10000

/* ------------------------------------------------------------ lifecycle */

struct frontier *frontier_new(const struct frontier_conf *conf, struct emit *out,
                              struct completion *done, struct state *s, rd_kafka_t *consumer,
                              rd_kafka_t *reader, rd_kafka_t *producer, char *errstr,
                              size_t errstr_size)
{
    /* A crawl spreads its requests as ingest spreads a batch's. */
    int32_t request_partitions = kafka_partition_count(producer, topic_name(out->t, TOPIC_REQUESTS),
                                                       10000, errstr, errstr_size);
    int32_t render_partitions =
        request_partitions > 0
            ? kafka_partition_count(producer, topic_name(out->t, TOPIC_RENDER_REQUESTS), 10000,
                                    errstr, errstr_size)
            : -1;
    if (render_partitions <= 0)
        return NULL;
    struct frontier *f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    done->on_finish = frontier_end;
    done->on_finish_arg = f;
    f->conf = *conf;
    f->out = out;
    f->done = done;
    f->state = s;
    f->consumer = consumer;
    f->reader = reader;
    f->req_parts = request_partitions;
    f->render_parts = render_partitions;
    crawlurl_init(&f->u);
    f->m_links = metric_counter("ferry_aggregate_crawl_links_total",
                                "Links of crawled pages looked at by the frontier", "");
    f->m_accepted = metric_counter("ferry_aggregate_crawl_pages_total",
                                   "Pages accepted into crawls (each becomes an item)", "");
    f->m_requests = metric_counter("ferry_aggregate_crawl_requests_total",
                                   "Requests the frontier wrote (pages and site files)", "");
    f->m_blocked =
        metric_counter("ferry_aggregate_crawl_robots_blocked_total",
                       "Pages robots.txt disallowed (results written by the frontier)", "");
    f->m_sitefiles = metric_counter("ferry_aggregate_crawl_sitefiles_total",
                                    "robots.txt and sitemap answers read", "");
    f->m_replayed = metric_counter("ferry_aggregate_crawl_replayed_total",
                                   "Results read back for links held until their level", "");
    return f;
}

void frontier_crawl_free(struct crawl *c)
{
    if (!c)
        return;
    struct frontier *f = c->f;
    if (c->prev)
        c->prev->next = c->next;
    else if (f->crawls == c)
        f->crawls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->replay_from >= 0)
        f->n_replaying--;
    crawlscope_release(&c->scope);
    seen_release(&c->seen);
    seen_release(&c->refused);
    strmap_release(&c->hosts, crawl_host_free);
    for (size_t i = 0; i < c->n_sitemaps; i++)
        free(c->sitemaps[i].url);
    free(c->sitemaps);
    free(c->start_url);
    free(c->start_host);
    free(c->tenant);
    free(c->tail);
    for (size_t i = 0; i < c->n_rq; i++)
        free(c->rq[i].text);
    free(c->rq);
    if (c->t && c->t->follow && c->t->follow->crawl == c)
        c->t->follow->crawl = NULL;
    free(c);
}

void frontier_free(struct frontier *f)
{
    if (!f)
        return;
    while (f->crawls)
        frontier_crawl_free(f->crawls);
    crawlurl_release(&f->u);
    free(f);
}

/* The request members every page of the crawl carries after those
 * scrapereq_begin() writes: the record's template ({"formats", "options",
 * ...}) without its opening brace. */
static char *request_tail(const json_t *tmpl)
{
    char *obj = jx_dump(json_is_object(tmpl) ? tmpl : json_object(), NULL);
    struct buf b = BUF_INIT(BUF_NO_MAX);
    if (!obj)
        return NULL;
    if (strcmp(obj, "{}") != 0) {
        buf_addc(&b, ',');
        buf_add(&b, obj + 1, strlen(obj) - 1); /* its members and the closing brace */
    } else {
        buf_addc(&b, '}');
    }
    free(obj);
    return buf_detach(&b, NULL);
}

struct crawl *crawl_new(struct frontier *f, struct tally *t, char *errstr, size_t errstr_size)
{
    const json_t *o = json_object_get(t->record, "crawl"), *v;
    struct crawl *c = calloc(1, sizeof(*c));
    struct crawlurl start;
    size_t i;
    if (!c)
        abort();
    c->f = f;
    c->t = t;
    c->held_from = c->replay_from = c->replay_until = -1;
    crawlurl_init(&start);
    if (!json_is_object(o) || crawlurl_parse(jx_str(o, "url", ""), &start, errstr, errstr_size))
        goto err;
    c->limit = jx_int(o, "limit", 1);
    c->max_depth = (int)jx_int(o, "max_depth", 0);
    c->robots = jx_bool(o, "robots", 1);
    const char *sm = jx_str(o, "sitemap", "include");
    c->sitemap = strcmp(sm, "skip") == 0   ? SITEMAP_SKIP
                 : strcmp(sm, "only") == 0 ? SITEMAP_ONLY
                                           : SITEMAP_INCLUDE;
    const json_t *req = json_object_get(o, "request");
    c->render = jx_bool(req, "render", 0);
    c->start_url = strdup(start.url.ptr);
    c->start_host = strndup(start.url.ptr, start.path);
    c->tenant = strdup(jx_str(t->record, "tenant", ""));
    c->tail = request_tail(req);
    if (c->limit < 1 || c->max_depth < 0 || !c->start_url || !c->start_host || !c->tenant ||
        !c->tail) {
        snprintf(errstr, errstr_size, "crawl: bad limit or max_depth");
        goto err;
    }
    if (crawlscope_init(&c->scope, &start, jx_bool(o, "allow_subdomains", 0),
                        jx_bool(o, "allow_external", 0)))
        abort();
    json_array_foreach(json_object_get(o, "include_paths"), i, v)
    {
        if (crawlscope_include(&c->scope, json_string_value(v) ? json_string_value(v) : "", errstr,
                               errstr_size))
            goto err;
    }
    json_array_foreach(json_object_get(o, "exclude_paths"), i, v)
    {
        if (crawlscope_exclude(&c->scope, json_string_value(v) ? json_string_value(v) : "", errstr,
                               errstr_size))
            goto err;
    }
    /* Past the limit, new pages are still counted in `discovered`, up to
     * what a batch may hold. */
    long long cap = c->limit > f->conf.max_items ? c->limit : f->conf.max_items;
    if (seen_init(&c->seen, t->id, (size_t)cap) || seen_init(&c->refused, t->id, CRAWL_REFUSED_MAX))
        abort();
    crawlurl_release(&start);
    c->next = f->crawls;
    if (f->crawls)
        f->crawls->prev = c;
    f->crawls = c;
    complete_follow(f->done, t)->crawl = c;
    return c;
err:
    crawlurl_release(&start);
    c->f = f;
    frontier_crawl_free(c);
    return NULL;
}

/* ------------------------------------------------------------ accepting */

static void accept_page(struct crawl *c, const struct crawlurl *u, int depth, long long found_on)
{
    struct crawl_entry *e = malloc(sizeof(*e) + u->url.len + 1);
    if (!e)
        abort();
    e->next = NULL;
    e->index = c->accepted++;
    e->found_on = found_on;
    e->depth = depth;
    e->logged = 0;
    memcpy(e->url, u->url.ptr, u->url.len + 1);
    if (depth == c->level)
        c->pending_cur++;
    else
        c->pending_next++; /* level + 1: the only other depth links can reach */
    c->t->total = c->accepted;
    c->t->dirty = c->t->progress = 1;
    c->dirty = 1;
    metric_inc(c->f->m_accepted, 1);
    crawl_enqueue(c, e);
}

void crawl_link(struct crawl *c, long long found_on, int depth, const char *s, size_t n)
{
    char url[CRAWLURL_MAX + 1], why[160];
    if (n < 18 || n - 17 > CRAWLURL_MAX || s[16] != ' ' || !changes_hash_valid(s, 16))
        return;
    uint64_t h = changes_hash_u64(s);
    /* The usual case on a real site: a link to a page already taken. */
    if (seen_has(&c->seen, h) || seen_has(&c->refused, h))
        return;
    memcpy(url, s + 17, n - 17);
    url[n - 17] = '\0';
    struct crawlurl *u = &c->f->u;
    if (crawlurl_parse(url, u, why, sizeof(why)))
        return;
    /* The set's own hash of the key: scrape's is a hint to skip the parse. */
    uint64_t mine = seen_hash(&c->seen, u->key.ptr, u->key.len);
    if (mine != h && seen_has(&c->seen, mine))
        return;
    if (crawlscope_check(&c->scope, u) != CRAWLSCOPE_IN) {
        if (seen_add(&c->refused, mine) < 0) {
            seen_release(&c->refused);
            if (seen_init(&c->refused, c->t->id, CRAWL_REFUSED_MAX))
                abort();
        }
        return;
    }
    if (depth > c->max_depth || seen_add(&c->seen, mine) != 1)
        return;
    c->discovered++;
    c->t->discovered = c->discovered;
    c->t->progress = 1;
    c->dirty = 1;
    if (c->accepted < c->limit)
        accept_page(c, u, depth, found_on);
}

void crawl_links(struct crawl *c, long long found_on, int depth, const char *arr, size_t len)
{
    struct jx_scan s;
    int plain;
    jx_scan_init(&s, arr, len, NULL, 4);
    if (!jx_scan_eat(&s, '[') || jx_scan_eat(&s, ']'))
        return;
    for (;;) {
        jx_scan_ws(&s);
        const char *v = s.p;
        if (s.p >= s.end || *s.p != '"' || jx_scan_skip_str(&s, &plain))
            return; /* not an array of strings: what came before stands */
        metric_inc(c->f->m_links, 1);
        if (plain) {
            crawl_link(c, found_on, depth + 1, v + 1, (size_t)(s.p - v) - 2);
        } else {
            json_t *str = json_loadb(v, (size_t)(s.p - v), JSON_DECODE_ANY, NULL);
            if (json_is_string(str))
                crawl_link(c, found_on, depth + 1, json_string_value(str), json_string_length(str));
            json_decref(str);
        }
        if (jx_scan_eat(&s, ','))
            continue;
        return;
    }
}

/* ------------------------------------------------------------ levels, completion */

int crawl_busy(const struct crawl *c)
{
    return c->replay_from >= 0 || c->held_from >= 0 || c->n_sitemaps > 0 || !c->sitemaps_started;
}

int frontier_busy(const struct tally *t)
{
    return t->follow && t->follow->crawl && crawl_busy(t->follow->crawl);
}

/* The last offset of scrape.results the group consumer has handed us in
 * the crawl's partition: a replay reads up to it (later results are
 * counted, and processed, as they come). -1: to the end. */
static int64_t consumed_until(struct crawl *c)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic_name(c->f->out->t, TOPIC_RESULTS), c->t->partition);
    int64_t until = -1;
    if (rd_kafka_position(c->f->consumer, l) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        l->elems[0].offset > 0)
        until = l->elems[0].offset - 1;
    rd_kafka_topic_partition_list_destroy(l);
    return until;
}

int crawl_settle(struct crawl *c)
{
    struct tally *t = c->t;
    while (c->replay_from < 0 && c->pending_cur == 0 && c->level < c->max_depth &&
           (c->level > 0 || (c->sitemaps_started && c->n_sitemaps == 0)) &&
           (c->pending_next > 0 || c->held_from >= 0)) {
        /* Every page above the next level has its result: the links held
         * of the next level's pages may go. */
        c->level++;
        c->pending_cur = c->pending_next;
        c->pending_next = 0;
        c->dirty = 1;
        if (c->held_from >= 0) {
            c->replay_from = c->held_from;
            c->replay_until = consumed_until(c);
            c->held_from = -1;
            c->f->n_replaying++;
            LOG_DEBUG("crawl_level", "batch=%s level=%d replay_from=%lld until=%lld", t->id,
                      c->level, (long long)c->replay_from, (long long)c->replay_until);
        }
    }
    if (!tally_complete(t) || crawl_busy(c))
        return 0;
    LOG_INFO("crawl_done", "batch=%s pages=%lld discovered=%lld level=%d", t->id, c->accepted,
             c->discovered, c->level);
    complete_batch(c->f->done, t, REPORT_COMPLETED);
    return 1;
}

/* ------------------------------------------------------------ the engine's calls */

void frontier_start(struct frontier *f, struct tally *t)
{
    char why[300], q[400];
    struct crawl *c = crawl_new(f, t, why, sizeof(why));
    if (!c) {
        LOG_ERROR("crawl_refused", "batch=%s error=%s", t->id, log_quote(q, sizeof(q), why));
        complete_batch(f->done, t, REPORT_FAILED);
        return;
    }
    /* The start page: item 0, depth 0, in total already (ingest's record). */
    struct crawlurl *u = &f->u;
    if (crawlurl_parse(c->start_url, u, why, sizeof(why)))
        abort(); /* crawl_new parsed it */
    seen_add(&c->seen, seen_hash(&c->seen, u->key.ptr, u->key.len));
    c->discovered = t->discovered = 1;
    accept_page(c, u, 0, -1);
    c->t->total = c->accepted; /* 1 */
    if (c->sitemap == SITEMAP_SKIP || c->max_depth < 1) {
        c->sitemaps_started = 1;
    } else if (!c->robots) {
        /* Not obeyed, but read for its Sitemap: lines. */
        crawl_ask_robots(c, crawl_host_of(c, c->start_url));
    }
    LOG_INFO("crawl_started", "batch=%s url=%s limit=%lld max_depth=%d", t->id, c->start_url,
             c->limit, c->max_depth);
    crawl_settle(c);
}

/* A URL member of a result (input, final_url) as a string into url: 0, or
 * -1 when absent, too long, or JSON-escaped (in the record only when it
 * holds what a normalized URL never does). */
static int record_url(const char *p, size_t n, char url[CRAWLURL_MAX + 1])
{
    if (!p || n > CRAWLURL_MAX || memchr(p, '\\', n))
        return -1;
    memcpy(url, p, n);
    url[n] = '\0';
    return 0;
}

/* The host of a result's input. */
static struct crawl_host *host_of_result(struct crawl *c, const struct record *r)
{
    char url[CRAWLURL_MAX + 1];
    if (record_url(r->input, r->input_len, url) || !strstr(url, "://"))
        return NULL;
    return crawl_host_of(c, url);
}

/* A page that redirected is also the page it landed on: the landing URL's
 * key joins the seen set (journaled with the result that brought it), so a
 * link straight to it, found later, is not fetched again. */
static void seen_landing(struct crawl *c, const struct record *r)
{
    char url[CRAWLURL_MAX + 1], why[160];
    size_t n = r->final_url_len;
    if (record_url(r->final_url, n, url) ||
        (r->input && n == r->input_len && memcmp(url, r->input, n) == 0))
        return;
    struct crawlurl *u = &c->f->u;
    if (crawlurl_parse(url, u, why, sizeof(why)) || crawlscope_check(&c->scope, u) != CRAWLSCOPE_IN)
        return;
    if (seen_add(&c->seen, seen_hash(&c->seen, u->key.ptr, u->key.len)) == 1)
        c->dirty = 1;
}

void frontier_page(struct frontier *f, struct tally *t, const struct record *r, int64_t offset)
{
    struct crawl *c = t->follow ? t->follow->crawl : NULL;
    (void)f;
    if (!c)
        return;
    struct crawl_host *h = host_of_result(c, r);
    if (h)
        crawl_host_result(c, h, r->duration_ms);
    seen_landing(c, r);
    if (r->depth == c->level && c->pending_cur > 0)
        c->pending_cur--;
    else if (r->depth == c->level + 1 && c->pending_next > 0)
        c->pending_next--;
    else
        LOG_WARN("crawl_depth_unexpected", "batch=%s index=%lld depth=%lld level=%d", t->id,
                 r->in.index, r->depth, c->level);
    c->dirty = 1;
    if (r->frontier && r->depth >= 0 && r->depth < c->max_depth && c->sitemap != SITEMAP_ONLY) {
        if (r->depth <= c->level)
            crawl_links(c, r->in.index, (int)r->depth, r->frontier, r->frontier_len);
        else if (c->held_from < 0 || offset < c->held_from)
            c->held_from = offset; /* read back when its level comes */
    }
    crawl_settle(c);
}

/* ------------------------------------------------------------ replays */

struct replay {
    struct crawl *c;
    long long n;
};

static int on_replay(void *arg, const rd_kafka_message_t *m)
{
    struct replay *rp = arg;
    struct crawl *c = rp->c;
    struct record r;
    char why[256];
    if (record_parse_result(&r, m->payload, m->len, NULL, 0, c->f->conf.max_items, why,
                            sizeof(why)) == 0 &&
        strcmp(r.batch_id, c->t->id) == 0 && r.frontier && r.depth == c->level &&
        tally_seen(c->t, r.in.index)) {
        crawl_links(c, r.in.index, (int)r.depth, r.frontier, r.frontier_len);
        metric_inc(c->f->m_replayed, 1);
    }
    record_release(&r);
    return ++rp->n >= c->f->conf.replay_step;
}

/* One bounded step of c's replay. Returns 1 when c completed. */
static int replay_step(struct crawl *c)
{
    struct replay rp = {c, 0};
    char errstr[256], q[300];
    int32_t p = c->t->partition;
    int64_t next = -1;
    if (scan_read(c->f->reader, topic_name(c->f->out->t, TOPIC_RESULTS), &p, 1, c->replay_from,
                  c->replay_until, c->t->id, on_replay, &rp, &next, REPLAY_TIMEOUT_MS, errstr,
                  sizeof(errstr))) {
        LOG_WARN("crawl_replay_failed", "batch=%s from=%lld error=%s", c->t->id,
                 (long long)c->replay_from, log_quote(q, sizeof(q), errstr));
        return 0;
    }
    c->dirty = 1;
    if (rp.n >= c->f->conf.replay_step && next >= 0 &&
        (c->replay_until < 0 || next <= c->replay_until)) {
        c->replay_from = next;
        return 0;
    }
    c->replay_from = c->replay_until = -1;
    c->f->n_replaying--;
    return crawl_settle(c);
}

void frontier_work(struct frontier *f)
{
    if (!f->n_replaying || shutdown_requested())
        return;
    if (txn_begin(f->out->txn))
        return;
    for (struct crawl *c = f->crawls, *next; c; c = next) {
        next = c->next;
        if (c->replay_from >= 0)
            replay_step(c);
    }
}

void frontier_tick(struct frontier *f)
{
    int64_t now = clk_now_ms();
    for (struct crawl *c = f->crawls, *next; c; c = next) {
        next = c->next;
        size_t pos = 0;
        const char *name;
        void *v;
        while (strmap_next(&c->hosts, &pos, &name, &v)) {
            struct crawl_host *h = v;
            /* Hosts whose Crawl-delay has passed (the rest send as results
             * come back). */
            if (h->queued && h->delay_ms > 0 && now >= h->not_before_ms &&
                txn_begin(f->out->txn) == 0)
                crawl_host_pump(c, h);
        }
        if (tally_complete(c->t) && !crawl_busy(c) && txn_begin(f->out->txn) == 0)
            crawl_settle(c);
    }
    frontier_work(f);
}

void frontier_flush(struct frontier *f)
{
    for (struct crawl *c = f->crawls; c; c = c->next)
        crawl_log_flush(c);
}

void frontier_end(void *arg, struct tally *t)
{
    struct crawl *c = t->follow ? t->follow->crawl : NULL;
    (void)arg;
    if (!c)
        return;
    crawl_log_forget(c);
    frontier_crawl_free(c);
}
