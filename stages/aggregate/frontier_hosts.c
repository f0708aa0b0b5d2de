/* The frontier's hosts: robots.txt, the queue of accepted pages, and what
 * goes out (frontier.h, "Politeness"). */
#include "frontier_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fhdr.h"
#include "ids.h"
#include "jx.h"
#include "kafka.h"
#include "metrics.h"
#include "schema.h"
#include "scrapereq.h"

void crawl_host_free(void *arg)
{
    struct crawl_host *h = arg;
    for (struct crawl_entry *e = h->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    robots_free(h->rules);
    free(h->name);
    free(h);
}

/* The "scheme://host[:port]" prefix of a normalized URL (which always has
 * a path after it); its length, 0 when there is none. */
static size_t site_len(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return 0;
    const char *slash = strchr(p + 3, '/');
    return slash ? (size_t)(slash - url) : strlen(url);
}

struct crawl_host *crawl_host_of(struct crawl *c, const char *url)
{
    char name[CRAWLURL_MAX + 1];
    size_t n = site_len(url);
    if (n == 0 || n > CRAWLURL_MAX)
        n = strlen(url) < CRAWLURL_MAX ? strlen(url) : CRAWLURL_MAX;
    memcpy(name, url, n);
    name[n] = '\0';
    struct crawl_host *h = strmap_get(&c->hosts, name);
    if (h)
        return h;
    h = calloc(1, sizeof(*h));
    if (!h || !(h->name = strdup(name)))
        abort();
    /* A crawl that does not obey robots.txt has nothing to wait for. */
    h->robots = c->robots ? ROBOTS_UNKNOWN : ROBOTS_KNOWN;
    hostwin_init(&h->win, c->f->conf.host_concurrency);
    h->dirty = 1;
    strmap_put(&c->hosts, name, h, NULL);
    return h;
}

/* The request of a page: what ingest writes for an item, plus where the
 * crawl found it, and whether the frontier wants its links. */
static void send_request(struct crawl *c, const struct crawl_entry *e)
{
    struct frontier *f = c->f;
    const char *id = c->t->id;
    struct buf b = BUF_INIT(BUF_NO_MAX);
    struct scrapereq r = {.batch_id = id,
                          .tenant = c->tenant,
                          .index = e->index,
                          .url = e->url,
                          .crawl_page = 1,
                          .depth = e->depth,
                          .found_on = e->found_on,
                          .frontier = e->depth < c->max_depth && c->sitemap != SITEMAP_ONLY};
    scrapereq_begin(&b, &r);
    buf_adds(&b, c->tail);
    /* Spread as ingest spreads a batch: from the batch's own partition. */
    int32_t parts = c->render ? f->render_parts : f->req_parts;
    int32_t base = kafka_murmur2_partition(id, strlen(id), parts);
    txn_produce(f->out->txn,
                topic_name(f->out->t, c->render ? TOPIC_RENDER_REQUESTS : TOPIC_REQUESTS),
                (int32_t)((base + e->index) % parts), id, strlen(id), b.ptr, b.len,
                fhdr_request(id, e->index, NULL));
    buf_release(&b);
    metric_inc(f->m_requests, 1);
    txn_hurry(f->out->txn, f->conf.commit_ms);
}

/* A page robots.txt refuses: its result, written here (scrape never sees
 * it) to the crawl's partition of scrape.results, counted when read back. */
static void send_blocked(struct crawl *c, const struct crawl_host *h, const struct crawl_entry *e)
{
    struct frontier *f = c->f;
    const char *id = c->t->id, *why = h->rules ? robots_reason(h->rules) : NULL;
    char at[CLK_ISO_LEN];
    struct buf b = BUF_INIT(BUF_NO_MAX);
    clk_iso8601(clk_now_ms(), at);
    buf_addf(&b, "{\"" SCHEMA_VERSION_KEY "\":%d,\"batch_id\":\"%s\",\"tenant\":", SCHEMA_RESULTS,
             id);
    jx_add_strz(&b, c->tenant);
    buf_addf(&b, ",\"index\":%lld,\"input\":", e->index);
    jx_add_strz(&b, e->url);
    buf_addf(&b,
             ",\"status\":\"robots_blocked\",\"http_status\":null,\"final_url\":null,"
             "\"content_type\":null,\"duration_ms\":0,\"attempts\":0,\"fetched_at\":\"%s\","
             "\"error\":",
             at);
    jx_add_strz(&b, why ? why : "disallowed by robots.txt");
    buf_addf(&b, ",\"credits_charged\":0,\"depth\":%d,\"found_on\":", e->depth);
    if (e->found_on >= 0)
        buf_addf(&b, "%lld", e->found_on);
    else
        buf_adds(&b, "null");
    buf_adds(&b, ",\"data\":null}");
    txn_produce(f->out->txn, topic_name(f->out->t, TOPIC_RESULTS), c->t->partition, id, strlen(id),
                b.ptr, b.len, fhdr_request(id, e->index, NULL));
    buf_release(&b);
    metric_inc(f->m_blocked, 1);
    txn_hurry(f->out->txn, f->conf.commit_ms);
}

void crawl_ask(struct crawl *c, const char *fetch, const char *url)
{
    struct frontier *f = c->f;
    const char *id = c->t->id;
    const json_t *opts = json_object_get(c->t->record, "options");
    struct buf b = BUF_INIT(BUF_NO_MAX);
    struct scrapereq r = {.batch_id = id, .tenant = c->tenant, .fetch = fetch, .url = url};
    scrapereq_begin(&b, &r);
    buf_adds(&b, ",\"options\":");
    if (json_is_object(opts))
        jx_add(&b, opts);
    else
        buf_adds(&b, "{}");
    buf_addc(&b, '}');
    int32_t base = kafka_murmur2_partition(id, strlen(id), f->req_parts);
    int32_t spread = kafka_murmur2_partition(url, strlen(url), f->req_parts);
    txn_produce(f->out->txn, topic_name(f->out->t, TOPIC_REQUESTS),
                (int32_t)((base + spread) % f->req_parts), id, strlen(id), b.ptr, b.len,
                fhdr_request(id, -1, fetch));
    buf_release(&b);
    metric_inc(f->m_requests, 1);
    txn_hurry(f->out->txn, f->conf.commit_ms);
}

void crawl_ask_robots(struct crawl *c, const struct crawl_host *h)
{
    char url[CRAWLURL_MAX + 16];
    snprintf(url, sizeof(url), "%s/robots.txt", h->name);
    crawl_ask(c, "robots", url);
}

/* The path and query of a normalized URL, for robots.txt. */
static const char *path_of(const char *url)
{
    size_t n = site_len(url);
    return url[n] ? url + n : "/";
}

void crawl_host_pump(struct crawl *c, struct crawl_host *h)
{
    int64_t now = clk_now_ms();
    while (h->head) {
        struct crawl_entry *e = h->head;
        int allowed = 1;
        if (c->robots) {
            if (h->robots != ROBOTS_KNOWN) {
                if (h->robots == ROBOTS_UNKNOWN) {
                    crawl_ask_robots(c, h);
                    h->robots = ROBOTS_ASKED;
                    h->dirty = 1;
                }
                return;
            }
            allowed = !h->rules || robots_allowed(h->rules, path_of(e->url));
        }
        if (allowed) {
            long long out = h->emitted - h->resulted;
            if (h->delay_ms > 0 && (out > 0 || now < h->not_before_ms))
                return;
            if (h->delay_ms <= 0 && out >= hostwin_size(&h->win)) {
                hostwin_held(&h->win);
                return;
            }
        }
        h->head = e->next;
        if (h->unlogged == e)
            h->unlogged = e->next;
        if (!h->head)
            h->tail = NULL;
        h->queued--;
        if (e->logged)
            h->dequeued++;
        h->emitted++;
        h->dirty = 1;
        if (allowed)
            send_request(c, e);
        else
            send_blocked(c, h, e);
        free(e);
    }
}

void crawl_host_push(struct crawl_host *h, struct crawl_entry *e)
{
    if (!e->logged && !h->unlogged)
        h->unlogged = e;
    if (h->tail)
        h->tail->next = e;
    else
        h->head = e;
    h->tail = e;
    h->queued++;
}

void crawl_enqueue(struct crawl *c, struct crawl_entry *e)
{
    struct crawl_host *h = crawl_host_of(c, e->url);
    crawl_host_push(h, e);
    crawl_host_pump(c, h);
}

void crawl_host_result(struct crawl *c, struct crawl_host *h, long long fetch_ms)
{
    h->resulted++;
    hostwin_result(&h->win, c->f->conf.host_concurrency, fetch_ms, clk_mono_ms());
    if (h->delay_ms > 0)
        h->not_before_ms = clk_now_ms() + h->delay_ms;
    h->dirty = 1;
    crawl_host_pump(c, h);
}
