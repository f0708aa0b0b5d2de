#include "sitefile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crawllinks.h"
#include "fhdr.h"
#include "jx.h"
#include "robots.h"
#include "schema.h"
#include "sitemap.h"

/* Room a record keeps for its members around the text or the locations. */
#define SITEFILE_SLACK 1024

/* The members every answer starts with. */
static void add_head(struct buf *b, const struct item *it, long http_status)
{
    buf_addf(b, "{\"" SCHEMA_VERSION_KEY "\":%d,\"batch_id\":", SCHEMA_SITEFILES);
    jx_add_strz(b, it->batch_id);
    buf_addf(b, ",\"fetch\":\"%s\",\"input\":", item_fetch_word(it->fetch));
    jx_add_strz(b, it->url);
    if (http_status > 0)
        buf_addf(b, ",\"http_status\":%ld", http_status);
    else
        buf_adds(b, ",\"http_status\":null");
}

static void produce(struct emit *em, struct item *it, struct buf *b)
{
    size_t len;
    char *payload = buf_detach(b, &len);
    rd_kafka_headers_t *h = fhdr_batch(it->batch_id, -1);
    fhdr_add(h, FHDR_FETCH, item_fetch_word(it->fetch));
    job_produce(&em->sink, &it->job, em->sitefiles, it->batch_id, payload, len, h);
}

static void emit_robots(struct emit *em, struct item *it, long http_status, const char *body,
                        size_t len)
{
    struct buf b = BUF_INIT(BUF_NO_MAX);
    if (len > ROBOTS_MAX_BYTES)
        len = ROBOTS_MAX_BYTES; /* all RFC 9309 asks a crawler to read */
    for (;;) {
        add_head(&b, it, http_status);
        buf_adds(&b, ",\"robots\":");
        jx_add_str(&b, body ? body : "", body ? len : 0);
        buf_addc(&b, '}');
        if (b.len + SITEFILE_SLACK <= em->max_message || len == 0)
            break;
        /* Escaped, it does not fit a message: less of it (its rules are
         * read from the top). */
        len /= 2;
        buf_truncate(&b, 0);
    }
    buf_release(&it->x.body); /* the text is in the record now */
    job_expect(&it->job, 1);
    produce(em, it, &b);
}

/* The locations read so far, as chunks that each fit a message. */
struct locs {
    const uint8_t *key;
    struct crawlurl u;
    size_t room;      /* bytes of entries a chunk holds */
    struct buf *done; /* finished chunks */
    size_t n_done;
    struct buf cur;
    size_t in_cur;
    enum sitemap_kind kind;
};

static int on_loc(void *arg, enum sitemap_kind kind, const char *loc, size_t len)
{
    struct locs *l = arg;
    size_t before = l->cur.len;
    (void)len;
    l->kind = kind;
    if (crawllinks_entry(loc, l->key, l->in_cur > 0, &l->u, &l->cur))
        return 0; /* not a crawlable URL: skipped */
    if (l->cur.len > l->room && l->in_cur > 0) {
        /* The entry starts the next chunk. */
        struct buf next = BUF_INIT(BUF_NO_MAX);
        buf_add(&next, l->cur.ptr + before + 1, l->cur.len - before - 1); /* without its comma */
        buf_truncate(&l->cur, before);
        l->done = realloc(l->done, (l->n_done + 1) * sizeof(*l->done));
        if (!l->done)
            abort();
        l->done[l->n_done++] = l->cur;
        l->cur = next;
        l->in_cur = 0;
    }
    l->in_cur++;
    return 0;
}

static void emit_sitemap(struct emit *em, struct item *it, long http_status, const char *body,
                         size_t len)
{
    char why[200];
    const char *status = "ok";
    uint8_t key[SEEN_KEY_LEN];
    struct locs l = {.key = key, .cur = BUF_INIT(BUF_NO_MAX)};
    seen_key(it->batch_id, key);
    crawlurl_init(&l.u);
    l.room =
        em->max_message > 2 * SITEFILE_SLACK ? em->max_message - SITEFILE_SLACK : SITEFILE_SLACK;
    if (http_status == 404 || http_status == 410)
        status = "not_found";
    else if (!body || http_status < 200 || http_status > 299)
        status = "http_error";
    else if (sitemap_parse(body, len, NULL, on_loc, &l, NULL, why, sizeof(why)) && l.n_done == 0 &&
             l.in_cur == 0)
        status = "invalid"; /* locations read before an error stand */
    crawlurl_release(&l.u);
    buf_release(&it->x.body); /* read: what it lists is in the chunks */

    size_t chunks = l.n_done + 1;
    job_expect(&it->job, (int)chunks);
    for (size_t i = 0; i < chunks; i++) {
        struct buf *entries = i < l.n_done ? &l.done[i] : &l.cur;
        struct buf b = BUF_INIT(BUF_NO_MAX);
        buf_reserve(&b, entries->len + SITEFILE_SLACK);
        add_head(&b, it, http_status);
        buf_addf(&b, ",\"status\":\"%s\",\"kind\":\"%s\",\"locs\":[", status,
                 l.kind == SITEMAP_INDEX ? "index" : "urlset");
        buf_add(&b, entries->ptr ? entries->ptr : "", entries->len);
        buf_addf(&b, "],\"chunk\":%zu,\"chunks\":%zu}", i + 1, chunks);
        buf_release(entries);
        /* After the last one, it may be gone already. */
        produce(em, it, &b);
    }
    free(l.done);
}

void sitefile_emit(struct emit *em, struct item *it, long http_status, const char *body, size_t len)
{
    if (it->fetch == FETCH_ROBOTS)
        emit_robots(em, it, http_status, body, len);
    else
        emit_sitemap(em, it, http_status, body, len);
}
