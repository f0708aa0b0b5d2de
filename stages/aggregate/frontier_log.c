/*
 * The frontier's changelog: `crawl.state`, compacted, partition p holding
 * the crawls of input partition p, written in the transaction that changed
 * them (so it always agrees with the committed offsets), read back whole
 * when a partition is restored. Keys, for crawl (batch) id B:
 *
 *   B          the crawl's counters: accepted, discovered, level, pending,
 *              held and replayed offsets, sitemaps out, chunk numbers
 *   B/s/N      chunk N of the seen set: the hashes added in one
 *              transaction (seen.h), base64
 *   B/q/N      chunk N of the queue: the pages accepted in one transaction
 *              and not sent in it, [index, depth, found_on, url], by host
 *              in queue order
 *   B/h/HOST   a host's counters: robots.txt state, Crawl-delay, pages
 *              sent, results, logged pages taken off the queue
 *   B/r/HOST   a host's robots.txt as obeyed (robots_dump) and its status
 *
 * The chunks are written once and never rewritten, so a transaction costs
 * what it added, not what the crawl holds. Restoring a host's queue replays
 * its logged pages in chunk order and skips the `dequeued` first ones. A
 * crawl's end writes a tombstone for every key.
 */
#include "frontier_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "log.h"
#include "restore.h"
#include "scan.h"

#define KEY_MAX (IDS_BATCH_LEN + CRAWLURL_MAX + 8)

static void put(struct crawl *c, const char *key, const char *value, size_t len)
{
    txn_produce(c->f->out->txn, topic_name(c->f->out->t, TOPIC_CRAWL_STATE), c->t->partition, key,
                strlen(key), value, len, NULL);
}

static void core_encode(const struct crawl *c, struct buf *b)
{
    buf_addf(b,
             "{\"v\":1,\"accepted\":%lld,\"discovered\":%lld,\"level\":%d,\"pending\":[%lld,%lld],"
             "\"held_from\":%lld,\"replay\":[%lld,%lld],\"sitemaps_asked\":%zu,"
             "\"sitemaps_started\":%s,\"chunks\":[%lld,%lld],\"sitemaps\":[",
             c->accepted, c->discovered, c->level, c->pending_cur, c->pending_next,
             (long long)c->held_from, (long long)c->replay_from, (long long)c->replay_until,
             c->sitemaps_asked, c->sitemaps_started ? "true" : "false", c->seen_chunks,
             c->queue_chunks);
    for (size_t i = 0; i < c->n_sitemaps; i++) {
        buf_adds(b, i ? ",[" : "[");
        jx_add_strz(b, c->sitemaps[i].url);
        buf_addf(b, ",%d]", c->sitemaps[i].child);
    }
    buf_adds(b, "]}");
}

void crawl_log_flush(struct crawl *c)
{
    char key[KEY_MAX];
    const char *id = c->t->id;
    struct buf b = BUF_INIT(BUF_NO_MAX);
    size_t n;
    const uint64_t *added = seen_journal(&c->seen, &n);
    if (n) {
        seen_chunk_encode(added, n, &b);
        snprintf(key, sizeof(key), "%s/s/%lld", id, c->seen_chunks++);
        put(c, key, b.ptr, b.len);
        seen_journal_clear(&c->seen);
        buf_reset(&b);
        c->dirty = 1;
    }
    /* Pages accepted and still queued: the ones a restore must find. */
    size_t pos = 0, logged = 0;
    const char *name;
    void *v;
    while (strmap_next(&c->hosts, &pos, &name, &v)) {
        struct crawl_host *h = v;
        for (struct crawl_entry *e = h->unlogged; e; e = e->next) {
            if (e->logged)
                continue;
            buf_adds(&b, logged++ ? ",[" : "[[");
            buf_addf(&b, "%lld,%d,%lld,", e->index, e->depth, e->found_on);
            jx_add_strz(&b, e->url);
            buf_addc(&b, ']');
            e->logged = 1;
        }
        h->unlogged = NULL;
    }
    if (logged) {
        buf_addc(&b, ']');
        snprintf(key, sizeof(key), "%s/q/%lld", id, c->queue_chunks++);
        put(c, key, b.ptr, b.len);
        buf_reset(&b);
        c->dirty = 1;
    }
    pos = 0;
    while (strmap_next(&c->hosts, &pos, &name, &v)) {
        struct crawl_host *h = v;
        if (h->rules_dirty && h->rules) {
            buf_addf(&b, "{\"status\":%ld,\"rules\":", robots_status(h->rules));
            struct buf dump = BUF_INIT(BUF_NO_MAX);
            robots_dump(h->rules, ROBOTS_PRODUCT, &dump);
            jx_add_str(&b, buf_str(&dump), dump.len);
            buf_release(&dump);
            buf_addc(&b, '}');
            snprintf(key, sizeof(key), "%s/r/%s", id, h->name);
            put(c, key, b.ptr, b.len);
            buf_reset(&b);
        }
        if (h->dirty) {
            buf_addf(&b,
                     "{\"robots\":%d,\"delay_ms\":%lld,\"emitted\":%lld,\"resulted\":%lld,"
                     "\"dequeued\":%lld,\"not_before_ms\":%lld}",
                     (int)h->robots, h->delay_ms, h->emitted, h->resulted, h->dequeued,
                     (long long)h->not_before_ms);
            snprintf(key, sizeof(key), "%s/h/%s", id, h->name);
            put(c, key, b.ptr, b.len);
            buf_reset(&b);
        }
        h->rules_dirty = h->dirty = 0;
    }
    if (c->dirty) {
        core_encode(c, &b);
        put(c, id, b.ptr, b.len);
        c->dirty = 0;
    }
    buf_release(&b);
}

void crawl_log_forget(struct crawl *c)
{
    char key[KEY_MAX];
    const char *id = c->t->id;
    put(c, id, NULL, 0);
    for (long long i = 0; i < c->seen_chunks; i++) {
        snprintf(key, sizeof(key), "%s/s/%lld", id, i);
        put(c, key, NULL, 0);
    }
    for (long long i = 0; i < c->queue_chunks; i++) {
        snprintf(key, sizeof(key), "%s/q/%lld", id, i);
        put(c, key, NULL, 0);
    }
    size_t pos = 0;
    const char *name;
    void *v;
    while (strmap_next(&c->hosts, &pos, &name, &v)) {
        struct crawl_host *h = v;
        snprintf(key, sizeof(key), "%s/h/%s", id, h->name);
        put(c, key, NULL, 0);
        if (h->rules) {
            snprintf(key, sizeof(key), "%s/r/%s", id, h->name);
            put(c, key, NULL, 0);
        }
    }
}

/* ------------------------------------------------------------ restore */

struct restoring {
    struct frontier *f;
    size_t records, bad;
};

static void core_decode(struct crawl *c, const json_t *v)
{
    const json_t *a, *row;
    size_t i;
    c->accepted = jx_int(v, "accepted", 1);
    c->discovered = jx_int(v, "discovered", c->accepted);
    c->level = (int)jx_int(v, "level", 0);
    a = json_object_get(v, "pending");
    c->pending_cur = json_integer_value(json_array_get(a, 0));
    c->pending_next = json_integer_value(json_array_get(a, 1));
    c->held_from = jx_int(v, "held_from", -1);
    a = json_object_get(v, "replay");
    c->replay_from =
        json_is_integer(json_array_get(a, 0)) ? json_integer_value(json_array_get(a, 0)) : -1;
    c->replay_until =
        json_is_integer(json_array_get(a, 1)) ? json_integer_value(json_array_get(a, 1)) : -1;
    c->sitemaps_asked = (size_t)jx_int(v, "sitemaps_asked", 0);
    c->sitemaps_started = jx_bool(v, "sitemaps_started", 0);
    a = json_object_get(v, "chunks");
    c->seen_chunks = json_integer_value(json_array_get(a, 0));
    c->queue_chunks = json_integer_value(json_array_get(a, 1));
    for (size_t k = 0; k < c->n_sitemaps; k++)
        free(c->sitemaps[k].url);
    c->n_sitemaps = 0;
    a = json_object_get(v, "sitemaps");
    json_array_foreach(a, i, row)
    {
        const char *url = json_string_value(json_array_get(row, 0));
        if (!url)
            continue;
        c->sitemaps = realloc(c->sitemaps, (c->n_sitemaps + 1) * sizeof(*c->sitemaps));
        if (!c->sitemaps)
            abort();
        c->sitemaps[c->n_sitemaps].url = strdup(url);
        c->sitemaps[c->n_sitemaps++].child = (int)json_integer_value(json_array_get(row, 1));
    }
    c->restored_core = 1;
}

/* Keeps a queue chunk until the scan is over (chunks are replayed in
 * order, and compaction may have moved them). */
static void keep_chunk(struct crawl *c, long long n, const void *value, size_t len)
{
    c->rq = realloc(c->rq, (c->n_rq + 1) * sizeof(*c->rq));
    if (!c->rq)
        abort();
    struct crawl_chunk *k = &c->rq[c->n_rq++];
    k->n = n;
    k->len = len;
    if (!(k->text = malloc(len + 1)))
        abort();
    memcpy(k->text, value, len);
    k->text[len] = '\0';
}

static int apply(struct restoring *rs, struct crawl *c, const char *kind, const char *rest,
                 const rd_kafka_message_t *m)
{
    char why[200];
    json_t *v = NULL;
    int rc = -1;
    if (!kind) {
        v = jx_parse(m->payload, m->len, 8, why, sizeof(why));
        if (!v)
            goto out;
        core_decode(c, v);
    } else if (strcmp(kind, "s") == 0) {
        if (seen_chunk_restore(&c->seen, m->payload, m->len, why, sizeof(why)) < 0)
            goto out;
    } else if (strcmp(kind, "q") == 0) {
        keep_chunk(c, strtoll(rest, NULL, 10), m->payload, m->len);
    } else if (strcmp(kind, "h") == 0 || strcmp(kind, "r") == 0) {
        struct crawl_host *h = crawl_host_of(c, rest);
        if (!(v = jx_parse(m->payload, m->len, 4, why, sizeof(why))))
            goto out;
        if (kind[0] == 'h') {
            h->robots = (enum crawl_robots)jx_int(v, "robots", 0);
            h->delay_ms = jx_int(v, "delay_ms", 0);
            h->emitted = jx_int(v, "emitted", 0);
            h->resulted = jx_int(v, "resulted", 0);
            h->dequeued = jx_int(v, "dequeued", 0);
            h->not_before_ms = jx_int(v, "not_before_ms", 0);
        } else {
            const char *rules = jx_str(v, "rules", "");
            robots_free(h->rules);
            h->rules = robots_fetched((long)jx_int(v, "status", 200), rules, strlen(rules),
                                      ROBOTS_PRODUCT);
        }
        h->dirty = h->rules_dirty = 0;
    }
    rc = 0;
out:
    json_decref(v);
    if (rc) {
        char q[300];
        rs->bad++;
        LOG_WARN("crawl_changelog_bad", "batch=%s error=%s", c->t->id,
                 log_quote(q, sizeof(q), why));
    }
    return 0;
}

static int on_record(void *arg, const rd_kafka_message_t *m)
{
    struct restoring *rs = arg;
    char key[KEY_MAX];
    rs->records++;
    if (!m->key || m->key_len >= sizeof(key) || !m->payload)
        return 0; /* tombstones: a crawl that ended, whose tally is done */
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    char *kind = strchr(key, '/'), *rest = NULL;
    if (kind) {
        *kind++ = '\0';
        rest = strchr(kind, '/');
        if (!rest)
            return 0;
        *rest++ = '\0';
    }
    struct tally *t = state_get(rs->f->state, key);
    if (!t || !t->known || t->done || !t->record)
        return 0;
    struct crawl *c = t->follow ? t->follow->crawl : NULL;
    if (!c) {
        char why[300], q[400];
        if (!(c = crawl_new(rs->f, t, why, sizeof(why)))) {
            LOG_ERROR("crawl_restore_refused", "batch=%s error=%s", t->id,
                      log_quote(q, sizeof(q), why));
            return 0;
        }
        c->restoring = 1;
    }
    return apply(rs, c, kind, rest, m);
}

static int by_chunk(const void *a, const void *b)
{
    const struct crawl_chunk *x = a, *y = b;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* The queues of a restored crawl, from its chunks: each host's logged
 * pages in order, less the `dequeued` first (sent since). */
static void rebuild_queues(struct crawl *c)
{
    size_t pos = 0, i;
    const char *name;
    void *v;
    const json_t *row;
    while (strmap_next(&c->hosts, &pos, &name, &v))
        ((struct crawl_host *)v)->skip = ((struct crawl_host *)v)->dequeued;
    if (c->n_rq > 1) /* qsort(NULL, 0) is undefined */
        qsort(c->rq, c->n_rq, sizeof(*c->rq), by_chunk);
    for (size_t k = 0; k < c->n_rq; k++) {
        json_t *arr = json_loadb(c->rq[k].text, c->rq[k].len, 0, NULL);
        json_array_foreach(arr, i, row)
        {
            const char *url = json_string_value(json_array_get(row, 3));
            if (!url)
                continue;
            struct crawl_host *h = crawl_host_of(c, url);
            if (h->skip > 0) {
                h->skip--;
                continue;
            }
            struct crawl_entry *e = malloc(sizeof(*e) + strlen(url) + 1);
            if (!e)
                abort();
            e->next = NULL;
            e->index = json_integer_value(json_array_get(row, 0));
            e->depth = (int)json_integer_value(json_array_get(row, 1));
            e->found_on = json_integer_value(json_array_get(row, 2));
            e->logged = 1;
            strcpy(e->url, url);
            crawl_host_push(h, e);
        }
        json_decref(arr);
        free(c->rq[k].text);
    }
    free(c->rq);
    c->rq = NULL;
    c->n_rq = 0;
}

int frontier_restore(struct frontier *f, const int32_t *nums, size_t n, char *errstr,
                     size_t errstr_size)
{
    struct restoring rs = {.f = f};
    int rc = scan_read(f->reader, topic_name(f->out->t, TOPIC_CRAWL_STATE), nums, n,
                       RD_KAFKA_OFFSET_BEGINNING, -1, NULL, on_record, &rs, NULL,
                       RESTORE_TIMEOUT_MS, errstr, errstr_size);
    size_t crawls = 0;
    for (struct crawl *c = f->crawls, *next; c; c = next) {
        next = c->next;
        if (!c->restoring)
            continue;
        c->restoring = 0;
        if (rc || !c->restored_core) {
            /* Read in part, or chunks without their crawl's counters (a
             * crawl that never committed its start): not a frontier. */
            if (!rc)
                LOG_ERROR("crawl_restore_incomplete", "batch=%s", c->t->id);
            frontier_crawl_free(c);
            continue;
        }
        rebuild_queues(c);
        c->t->total = c->accepted;
        c->t->discovered = c->discovered;
        if (c->replay_from >= 0)
            f->n_replaying++;
        crawls++;
    }
    if (rc == 0)
        LOG_INFO("crawls_restored", "crawls=%zu records=%zu bad=%zu", crawls, rs.records, rs.bad);
    return rc;
}
