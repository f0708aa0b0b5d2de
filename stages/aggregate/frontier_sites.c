/* What scrape read of a crawl's site files (crawl.sitefiles): robots.txt
 * per host, the start host's sitemaps (frontier.h). */
#include "frontier_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "log.h"
#include "metrics.h"
#include "schema.h"

/* The depth of JSON a site-file record may have. */
#define SITEFILE_MAX_DEPTH 8

static struct crawl_sitemap_fetch *sitemap_pending(struct crawl *c, const char *url)
{
    for (size_t i = 0; i < c->n_sitemaps; i++)
        if (strcmp(c->sitemaps[i].url, url) == 0)
            return &c->sitemaps[i];
    return NULL;
}

/* Asks for one sitemap unless it was asked for already or the crawl has
 * asked for enough. Sitemaps already read are not remembered by URL; the
 * cap bounds what a loop of indexes can cost, and their pages are in the
 * seen set anyway. */
static void ask_sitemap(struct crawl *c, const char *raw, int child)
{
    char why[160];
    struct crawlurl *u = &c->f->u;
    if (c->sitemaps_asked >= CRAWL_MAX_SITEMAPS || crawlurl_parse(raw, u, why, sizeof(why)) ||
        sitemap_pending(c, u->url.ptr))
        return;
    c->sitemaps = realloc(c->sitemaps, (c->n_sitemaps + 1) * sizeof(*c->sitemaps));
    if (!c->sitemaps)
        abort();
    struct crawl_sitemap_fetch *s = &c->sitemaps[c->n_sitemaps++];
    if (!(s->url = strdup(u->url.ptr)))
        abort();
    s->child = child;
    c->sitemaps_asked++;
    c->dirty = 1;
    crawl_ask(c, "sitemap", s->url);
}

void crawl_sitemaps_start(struct crawl *c, const struct robots *rules)
{
    char url[CRAWLURL_MAX + 16];
    if (c->sitemaps_started)
        return;
    c->sitemaps_started = 1;
    c->dirty = 1;
    if (c->sitemap == SITEMAP_SKIP || c->max_depth < 1)
        return;
    /* The conventional place, unless the rules we obey refuse it; then
     * every Sitemap: line (an explicit invitation, wherever it points). */
    if (!c->robots || !rules || robots_allowed(rules, "/sitemap.xml")) {
        snprintf(url, sizeof(url), "%s/sitemap.xml", c->start_host);
        ask_sitemap(c, url, 0);
    }
    for (size_t i = 0; rules && i < robots_sitemap_count(rules); i++)
        ask_sitemap(c, robots_sitemap(rules, i), 0);
}

static void on_robots(struct crawl *c, const json_t *v)
{
    const char *input = jx_str(v, "input", "");
    size_t n = strlen(input), suffix = strlen("/robots.txt");
    char name[CRAWLURL_MAX + 1];
    if (n <= suffix || n - suffix > CRAWLURL_MAX || strcmp(input + n - suffix, "/robots.txt"))
        return;
    memcpy(name, input, n - suffix);
    name[n - suffix] = '\0';
    const char *text = jx_str(v, "robots", "");
    long status = (long)jx_int(v, "http_status", 0);
    struct robots *rules = robots_fetched(status, text, strlen(text), ROBOTS_PRODUCT);
    if (!rules)
        abort();
    struct crawl_host *h = strmap_get(&c->hosts, name);
    int start = strcmp(name, c->start_host) == 0;
    if (start && !c->sitemaps_started)
        crawl_sitemaps_start(c, rules);
    if (!c->robots || !h || h->robots == ROBOTS_KNOWN) {
        robots_free(rules); /* not obeyed, or an answer already had */
        return;
    }
    h->rules = rules;
    h->robots = ROBOTS_KNOWN;
    long long delay = robots_crawl_delay_ms(rules);
    h->delay_ms = delay > 0 ? delay : 0;
    h->rules_dirty = h->dirty = 1;
    LOG_INFO("crawl_robots", "batch=%s host=%s status=%ld delay_ms=%lld", c->t->id, name, status,
             h->delay_ms);
    crawl_host_pump(c, h);
}

/* Each location of a sitemap chunk: pages at depth 1, or (an index's)
 * more sitemaps. */
static void on_sitemap(struct crawl *c, const json_t *v)
{
    const char *input = jx_str(v, "input", "");
    struct crawl_sitemap_fetch *s = sitemap_pending(c, input);
    if (!s)
        return; /* read already (a duplicate), or never asked for */
    int child = s->child, index = strcmp(jx_str(v, "kind", ""), "index") == 0;
    const json_t *locs = json_object_get(v, "locs"), *loc;
    size_t i;
    json_array_foreach(locs, i, loc)
    {
        const char *l = json_string_value(loc);
        size_t n = json_string_length(loc);
        if (!l)
            continue;
        if (!index)
            crawl_link(c, -1, 1, l, n);
        else if (!child && n > 17)
            ask_sitemap(c, l + 17, 1);
    }
    long long chunk = jx_int(v, "chunk", 1), chunks = jx_int(v, "chunks", 1);
    if (chunk >= chunks || strcmp(jx_str(v, "status", ""), "ok") != 0) {
        s = sitemap_pending(c, input); /* ask_sitemap may have moved it */
        free(s->url);
        *s = c->sitemaps[--c->n_sitemaps];
        c->dirty = 1;
    }
}

void frontier_sitefile(struct frontier *f, const rd_kafka_message_t *m)
{
    char why[200];
    json_t *v = jx_parse(m->payload, m->len, SITEFILE_MAX_DEPTH, why, sizeof(why));
    if (!v || schema_check(jx_int(v, SCHEMA_VERSION_KEY, 1), SCHEMA_SITEFILES, why, sizeof(why))) {
        emit_dead_letter(f->out, m, why);
        json_decref(v);
        return;
    }
    struct tally *t = state_get(f->state, jx_str(v, "batch_id", ""));
    struct crawl *c = t && t->follow ? t->follow->crawl : NULL;
    metric_inc(f->m_sitefiles, 1);
    if (c) {
        const char *fetch = jx_str(v, "fetch", "");
        if (strcmp(fetch, "robots") == 0)
            on_robots(c, v);
        else if (strcmp(fetch, "sitemap") == 0)
            on_sitemap(c, v);
        crawl_settle(c);
    }
    json_decref(v);
}
