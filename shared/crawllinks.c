#include "crawllinks.h"

#include <libxml/HTMLparser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hparse.h"
#include "u64map.h"

/* Writes u (just normalized) as an entry. */
static void put_entry(struct buf *out, uint64_t h, const struct crawlurl *u, int sep)
{
    buf_addf(out, "%s\"%016llx ", sep ? "," : "", (unsigned long long)h);
    buf_add(out, u->url.ptr, u->url.len);
    buf_addc(out, '"');
}

int crawllinks_entry(const char *url, const uint8_t key[SEEN_KEY_LEN], int sep, struct crawlurl *u,
                     struct buf *out)
{
    char why[160];
    if (crawlurl_parse(url, u, why, sizeof(why)))
        return -1;
    put_entry(out, seen_hash_with(key, u->key.ptr, u->key.len), u, sep);
    return 0;
}

/* Bytes of page a link comes with, about, on a page dense with links
 * (a list item or a headline with its markup; 150-300 on a typical page). */
#define LINK_BYTES 96

/* Sizes the seen set for the links a page of len bytes may hold, so it is
 * not rehashed at every doubling from 16 slots (two thirds of what the set
 * cost a page of 400 links). The length is the estimate, as it costs
 * nothing: counting the page's <a> tags (a memchr a tag) cost more than
 * the rehashes it saved. A page with more links grows the set as before;
 * one with fewer leaves some of it unused; one of a dozen links at most
 * keeps the default. */
static void seen_reserve(struct u64map *seen, size_t len, size_t max_links)
{
    size_t most = len / LINK_BYTES < max_links ? len / LINK_BYTES : max_links;
    if (most > 12)
        u64map_reserve(seen, most);
}

struct walk {
    const struct crawlurl_base *base;
    const uint8_t *key;
    struct crawlurl u;
    struct u64map seen; /* hashes of the links written (a page repeats its navigation) */
    struct buf *out;
    size_t start, n, max_links, max_bytes;
    uint64_t self; /* the page's own hash: a link to itself is not one */
};

static void visit(struct walk *w, xmlNodePtr n)
{
    for (xmlNodePtr c = n; c && w->n < w->max_links; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (c->name && (strcasecmp((const char *)c->name, "a") == 0 ||
                        strcasecmp((const char *)c->name, "area") == 0)) {
            xmlChar *href = xmlGetProp(c, (const xmlChar *)"href");
            char why[160];
            if (href &&
                crawlurl_resolve(w->base, (const char *)href, &w->u, why, sizeof(why)) == 0) {
                uint64_t h = seen_hash_with(w->key, w->u.key.ptr, w->u.key.len);
                size_t before = w->out->len;
                if (h != w->self && u64map_add(&w->seen, h, 1)) {
                    put_entry(w->out, h, &w->u, w->n > 0);
                    if (w->out->len - w->start + 1 > w->max_bytes) /* with the "]" */
                        buf_truncate(w->out, before);
                    else
                        w->n++;
                }
            }
            xmlFree(href);
        }
        visit(w, c->children);
    }
}

/* <base href> of the document's head, resolved against the page's URL;
 * NULL when there is none (or it does not parse). */
static char *base_href(xmlDocPtr doc, const struct crawlurl_base *page, struct crawlurl *u)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (xmlNodePtr h = root ? root->children : NULL; h; h = h->next) {
        if (h->type != XML_ELEMENT_NODE || strcasecmp((const char *)h->name, "head") != 0)
            continue;
        for (xmlNodePtr c = h->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || strcasecmp((const char *)c->name, "base") != 0)
                continue;
            xmlChar *href = xmlGetProp(c, (const xmlChar *)"href");
            char why[160], *out = NULL;
            if (href && crawlurl_resolve(page, (const char *)href, u, why, sizeof(why)) == 0)
                out = strdup(u->url.ptr);
            xmlFree(href);
            if (out)
                return out;
        }
    }
    return NULL;
}

size_t crawllinks_html(const char *html, size_t len, const char *page_url,
                       const uint8_t key[SEEN_KEY_LEN], size_t max_links, size_t max_bytes,
                       struct buf *out)
{
    struct crawlurl_base page, base;
    struct walk w = {.key = key,
                     .out = out,
                     .seen = U64MAP_INIT,
                     .max_links = max_links,
                     .max_bytes = max_bytes};
    char why[160], *href = NULL;
    int have_base = 0;
    if (w.max_links > CRAWLLINKS_MAX)
        w.max_links = CRAWLLINKS_MAX;
    w.start = out->len;
    buf_addc(out, '[');
    if (crawlurl_base_init(&page, page_url, why, sizeof(why)))
        goto close;
    crawlurl_init(&w.u);
    htmlDocPtr doc = hparse_read(html, len, page_url);
    if (doc && (href = base_href(doc, &page, &w.u)) &&
        crawlurl_base_init(&base, href, why, sizeof(why)) == 0)
        have_base = 1;
    w.base = have_base ? &base : &page;
    seen_reserve(&w.seen, len, w.max_links);
    if (crawlurl_parse(page_url, &w.u, why, sizeof(why)) == 0)
        w.self = seen_hash_with(key, w.u.key.ptr, w.u.key.len);
    if (doc)
        visit(&w, xmlDocGetRootElement(doc));
    u64map_release(&w.seen);
    free(href);
    if (have_base)
        crawlurl_base_release(&base);
    if (doc)
        xmlFreeDoc(doc);
    crawlurl_release(&w.u);
    crawlurl_base_release(&page);
close:
    buf_addc(out, ']');
    return w.n;
}
