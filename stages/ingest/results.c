#include "results.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "kafka.h"

#define CACHE_MAX      32
#define PAGE_BYTES_MAX (8 << 20)

struct seen {
    char id[48];
    int64_t first_offset;
    size_t total;
    uint32_t *first;    /* offset - first_offset + 1 of the item's first record; 0 unknown */
    int64_t scanned_to; /* [first_offset, scanned_to) is recorded in `first` */
    uint64_t used;
    int in_use;
};

struct results {
    struct reader_pool *rp;
    int timeout_ms;
    pthread_mutex_t lock;
    struct seen *cache[CACHE_MAX];
    uint64_t clock;
};

struct results *results_new(struct reader_pool *rp, int timeout_ms)
{
    struct results *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->rp = rp;
    r->timeout_ms = timeout_ms;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void seen_free(struct seen *s)
{
    if (s) {
        free(s->first);
        free(s);
    }
}

void results_free(struct results *r)
{
    if (!r)
        return;
    for (int i = 0; i < CACHE_MAX; i++)
        seen_free(r->cache[i]);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Checks out the batch's entry (a fresh one when absent, in use, or made
 * for another range). */
static struct seen *seen_take(struct results *r, const char *id, int64_t first_offset, size_t total)
{
    struct seen *got = NULL;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < CACHE_MAX && !got; i++) {
        struct seen *s = r->cache[i];
        if (s && !s->in_use && strcmp(s->id, id) == 0 && s->first_offset == first_offset &&
            s->total == total)
            got = s;
    }
    if (got) {
        got->in_use = 1;
        got->used = ++r->clock;
    }
    pthread_mutex_unlock(&r->lock);
    if (got)
        return got;
    got = calloc(1, sizeof(*got));
    if (!got || !(got->first = calloc(total ? total : 1, sizeof(uint32_t)))) {
        seen_free(got);
        return NULL;
    }
    snprintf(got->id, sizeof(got->id), "%s", id);
    got->first_offset = first_offset;
    got->scanned_to = first_offset;
    got->total = total;
    got->in_use = 1;
    return got;
}

static void seen_give(struct results *r, struct seen *s)
{
    pthread_mutex_lock(&r->lock);
    s->in_use = 0;
    s->used = ++r->clock;
    int slot = -1, cached = 0;
    for (int i = 0; i < CACHE_MAX; i++)
        if (r->cache[i] == s)
            cached = 1;
    if (!cached) {
        for (int i = 0; i < CACHE_MAX; i++) {
            if (!r->cache[i]) {
                slot = i;
                break;
            }
            if (!r->cache[i]->in_use && (slot < 0 || r->cache[i]->used < r->cache[slot]->used))
                slot = i;
        }
        if (slot < 0) {
            seen_free(s);
        } else {
            seen_free(r->cache[slot]);
            r->cache[slot] = s;
        }
    }
    pthread_mutex_unlock(&r->lock);
}

struct scan {
    struct seen *s;
    int emit; /* 0: only record first occurrences (the prefix before a cursor) */
    int limit;
    size_t bytes;
    json_t *items;
};

/* The item index of a record of this batch, or -1 for another batch's. */
static long record_index(const rd_kafka_message_t *m, const char *id, json_t **doc)
{
    char hb[64], hi[24];
    *doc = NULL;
    const char *batch = kafka_header(m, "ferry-batch", hb, sizeof(hb));
    const char *index = kafka_header(m, "ferry-index", hi, sizeof(hi));
    if (batch && strcmp(batch, id) != 0)
        return -1;
    if (batch && index) {
        char *end;
        long i = strtol(index, &end, 10);
        if (*end == '\0' && end != index)
            return i;
    }
    /* No routing headers: the value decides. */
    *doc = json_loadb(m->payload, m->len, 0, NULL);
    if (strcmp(jx_str(*doc, "batch_id", ""), id) != 0)
        return -1;
    json_t *iv = json_object_get(*doc, "index");
    return json_is_integer(iv) ? (long)json_integer_value(iv) : -1;
}

static int on_record(void *arg, const rd_kafka_message_t *m)
{
    struct scan *sc = arg;
    json_t *doc;
    long i = record_index(m, sc->s->id, &doc);
    if (i < 0 || (size_t)i >= sc->s->total) {
        json_decref(doc);
        return 0;
    }
    uint32_t rel = (uint32_t)(m->offset - sc->s->first_offset + 1);
    if (sc->s->first[i] == 0)
        sc->s->first[i] = rel;
    if (!sc->emit || sc->s->first[i] != rel) {
        json_decref(doc);
        return 0;
    }
    if (!doc)
        doc = json_loadb(m->payload, m->len, 0, NULL);
    if (json_is_object(doc)) {
        json_object_del(doc, "tenant");
        json_array_append_new(sc->items, doc);
        sc->bytes += m->len;
    } else {
        json_decref(doc);
    }
    return (int)json_array_size(sc->items) >= sc->limit || sc->bytes >= PAGE_BYTES_MAX;
}

int results_page(struct results *r, const char *id, const json_t *status, int64_t cursor, int limit,
                 json_t **items, int64_t *next, char *errstr, size_t errstr_size)
{
    const json_t *loc = json_object_get(status, "results");
    const char *state = jx_str(status, "status", "");
    int final = strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
                strcmp(state, "cancelled") == 0;
    const char *topic = jx_str(loc, "topic", NULL);
    long long total = jx_int(status, "total", 0);
    int64_t first = jx_int(loc, "first_offset", -1), last = jx_int(loc, "last_offset", -1);
    int32_t partition = (int32_t)jx_int(loc, "partition", -1);
    int64_t after;

    *items = json_array();
    *next = -1;
    if (!topic || partition < 0 || first < 0 || last < first || total <= 0) {
        /* Nothing known yet: an empty page, no next link; the status
         * document says when results exist. */
        return cursor >= 0 ? -2 : 0;
    }
    if (cursor < 0)
        cursor = first;
    if (cursor < first || cursor > last + 1)
        return -2;

    struct seen *s = seen_take(r, id, first, (size_t)total);
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    struct scan sc = {.s = s, .emit = 0, .limit = limit, .items = *items};
    int rc = 0;
    if (s->scanned_to < cursor) {
        rc = reader_scan(r->rp, topic, partition, s->scanned_to, cursor - 1, r->timeout_ms,
                         on_record, &sc, &after, errstr, errstr_size);
        if (rc == 0)
            s->scanned_to = cursor;
    }
    if (rc == 0) {
        sc.emit = 1;
        rc = reader_scan(r->rp, topic, partition, cursor, last, r->timeout_ms, on_record, &sc,
                         &after, errstr, errstr_size);
    }
    if (rc == 0) {
        if (s->scanned_to >= cursor && after > s->scanned_to)
            s->scanned_to = after;
        if (after <= last)
            *next = after;
        else
            *next = final ? -1 : after;
    }
    seen_give(r, s);
    return rc;
}
