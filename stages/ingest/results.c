#include "results.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhdr.h"
#include "jx.h"
#include "kafka.h"
#include "schema.h"
#include "words.h"

#define CACHE_MAX 32
/* A page stops taking items past this many bytes (an item may be far larger). */
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

/* A split result of this page still waiting for its later parts. */
struct pending {
    long index;
    int parts, have; /* parts in the set, parts merged so far */
    json_t *doc;     /* the item in the page (borrowed from `items`) */
    size_t position; /* its place in `items` */
    int64_t first;   /* offset of its part 1 */
};

struct scan {
    struct seen *s;
    int emit; /* 0: only record first occurrences (the prefix before a cursor) */
    int limit;
    const struct results_filter *filter;
    int64_t last; /* the batch's range ends here; past it, only parts are read */
    size_t bytes;
    json_t *items;
    int full;            /* no more items join the page */
    int64_t next_cursor; /* where the next page starts */
    struct pending pend[RESULTS_LIMIT_MAX];
    size_t n_pend;
};

/* Index and part ("k/n"; 0/1 for a whole result) of a record of this
 * batch, or -1 for another batch's. */
long results_record_index(const rd_kafka_message_t *m, const char *id, json_t **doc, int *part,
                          int *parts)
{
    char hb[64], hi[24], hp[48];
    *doc = NULL;
    *part = 0;
    *parts = 1;
    const char *batch = fhdr_get(m, FHDR_BATCH, hb, sizeof(hb));
    const char *index = fhdr_get(m, FHDR_INDEX, hi, sizeof(hi));
    const char *p = fhdr_get(m, FHDR_PART, hp, sizeof(hp));
    if (batch && strcmp(batch, id) != 0)
        return -1;
    if (p && sscanf(p, "%d/%d", part, parts) != 2)
        *part = 0, *parts = 1;
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
    *part = (int)jx_int(*doc, "part", 0);
    *parts = (int)jx_int(*doc, "parts", 1);
    json_t *iv = json_object_get(*doc, "index");
    return json_is_integer(iv) ? (long)json_integer_value(iv) : -1;
}

void results_record_status(const rd_kafka_message_t *m, json_t **doc, char *out, size_t size)
{
    /* Only the status is read: it comes before the page in the record. */
    if (*doc || jx_peek_str(m->payload, m->len, "status", out, size)) {
        if (!*doc)
            *doc = json_loadb(m->payload, m->len, 0, NULL);
        snprintf(out, size, "%s", jx_str(*doc, "status", ""));
    }
}

static int filter_keeps(const struct results_filter *f, const json_t *doc)
{
    if (!f || !f->status)
        return 1;
    const char *st = jx_str(doc, "status", "");
    if (strcmp(f->status, "failed") == 0)
        return strcmp(st, "ok") != 0;
    return strcmp(f->status, st) == 0;
}

/* Appends the data strings of a later part to the item's. */
static void merge_part(json_t *item, const json_t *part)
{
    json_t *into = json_object_get(item, "data");
    const json_t *from = json_object_get(part, "data");
    const char *k;
    json_t *v;
    if (!json_is_object(from))
        return;
    if (!json_is_object(into)) {
        into = json_object();
        json_object_set_new(item, "data", into);
    }
    json_object_foreach((json_t *)from, k, v)
    {
        json_t *have = json_object_get(into, k);
        if (!json_is_string(v) || !json_is_string(have)) {
            json_object_set(into, k, v);
            continue;
        }
        size_t a = json_string_length(have), b = json_string_length(v);
        char *cat = malloc(a + b + 1);
        if (!cat)
            abort(); /* as buf.h: out of memory ends the stage */
        memcpy(cat, json_string_value(have), a);
        memcpy(cat + a, json_string_value(v), b);
        json_object_set_new(into, k, json_stringn_nocheck(cat, a + b));
        free(cat);
    }
}

/* A result as a page shows it: without what only the record has (its
 * tenant, its part, the record's schema version). */
static void finish_item(json_t *doc)
{
    json_object_del(doc, SCHEMA_VERSION_KEY);
    json_object_del(doc, "tenant");
    json_object_del(doc, "part");
    json_object_del(doc, "parts");
    json_object_del(doc, "frontier"); /* a crawl's links: the frontier's, not the user's */
}

static struct pending *pending_of(struct scan *sc, long index)
{
    for (size_t i = 0; i < sc->n_pend; i++)
        if (sc->pend[i].index == index)
            return &sc->pend[i];
    return NULL;
}

static void pending_done(struct scan *sc, struct pending *p)
{
    finish_item(p->doc);
    *p = sc->pend[--sc->n_pend];
}

/* A record of an item whose set is being assembled. */
static void on_part(struct scan *sc, struct pending *p, json_t *doc, int part, int parts)
{
    if (part <= 1) {
        /* The item written again: this set replaces the unfinished one. */
        json_object_clear(p->doc);
        json_object_update(p->doc, doc);
        p->parts = part ? parts : 1;
        p->have = 1;
    } else if (part == p->have + 1 && parts == p->parts) {
        merge_part(p->doc, doc);
        p->have++;
    }
    if (p->have >= p->parts)
        pending_done(sc, p);
}

static int on_record(void *arg, const rd_kafka_message_t *m)
{
    struct scan *sc = arg;
    json_t *doc;
    int part, parts;
    long i = results_record_index(m, sc->s->id, &doc, &part, &parts);
    int in_range = m->offset <= sc->last;
    if (i < 0 || (size_t)i >= sc->s->total)
        goto skip;
    uint32_t rel = in_range ? (uint32_t)(m->offset - sc->s->first_offset + 1) : 0;
    if (in_range && part <= 1 && sc->s->first[i] == 0)
        sc->s->first[i] = rel;
    if (!sc->emit)
        goto skip;
    struct pending *p = pending_of(sc, i);
    if (p || (in_range && !sc->full && sc->s->first[i] == rel && part <= 1)) {
        if (!doc)
            doc = json_loadb(m->payload, m->len, 0, NULL);
        if (!json_is_object(doc))
            goto skip;
    }
    if (p) {
        on_part(sc, p, doc, part, parts);
    } else if (in_range && !sc->full && sc->s->first[i] == rel && part <= 1) {
        /* The item's first occurrence: it joins this page. */
        sc->next_cursor = m->offset + 1;
        if (filter_keeps(sc->filter, doc)) {
            size_t position = json_array_size(sc->items);
            json_array_append(sc->items, doc);
            sc->bytes += m->len;
            if (part == 1 && parts > 1)
                sc->pend[sc->n_pend++] = (struct pending){i, parts, 1, doc, position, m->offset};
            else
                finish_item(doc);
            if ((int)json_array_size(sc->items) >= sc->limit || sc->bytes >= PAGE_BYTES_MAX)
                sc->full = 1;
        }
    }
skip:
    json_decref(doc);
    if (in_range && !sc->full)
        sc->next_cursor = m->offset + 1;
    /* Past the range, or with the page full, read on only for parts. */
    return (sc->full || !in_range) && sc->n_pend == 0;
}

int results_filter_valid(const char *status)
{
    return strcmp(status, "failed") == 0 || status_parse(status, strlen(status)) != STATUS_UNKNOWN;
}

int results_page(struct results *r, const char *id, const json_t *status, int64_t cursor, int limit,
                 const struct results_filter *filter, json_t **items, int64_t *next, char *errstr,
                 size_t errstr_size)
{
    const json_t *loc = json_object_get(status, "kafka");
    const char *state = jx_str(status, "status", "");
    int final = strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
                strcmp(state, "cancelled") == 0;
    const char *topic = jx_str(loc, "results_topic", NULL);
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
    struct scan *sc = calloc(1, sizeof(*sc));
    if (!s || !sc) {
        if (s)
            seen_give(r, s);
        free(sc);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    *sc = (struct scan){.s = s, .limit = limit, .filter = filter, .last = last, .items = *items};
    int rc = 0;
    if (s->scanned_to < cursor) {
        rc = reader_scan(r->rp, topic, partition, s->scanned_to, cursor - 1, r->timeout_ms,
                         on_record, sc, &after, errstr, errstr_size);
        if (rc == 0)
            s->scanned_to = cursor;
    }
    if (rc == 0) {
        sc->emit = 1;
        sc->next_cursor = cursor;
        rc = reader_scan(r->rp, topic, partition, cursor, -1, r->timeout_ms, on_record, sc, &after,
                         errstr, errstr_size);
    }
    if (rc == 0) {
        if (after > last + 1)
            after = last + 1;
        if (s->scanned_to >= cursor && after > s->scanned_to)
            s->scanned_to = after;
        if (sc->n_pend) {
            /* A split result whose later parts are not in Kafka yet: the
             * page ends before it, and the next page starts at it. */
            size_t cut = json_array_size(*items);
            int64_t at = last + 1;
            for (size_t i = 0; i < sc->n_pend; i++)
                if (sc->pend[i].position < cut) {
                    cut = sc->pend[i].position;
                    at = sc->pend[i].first;
                }
            while (json_array_size(*items) > cut)
                json_array_remove(*items, json_array_size(*items) - 1);
            *next = at;
        } else if (sc->next_cursor <= last) {
            *next = sc->next_cursor;
        } else {
            *next = final ? -1 : sc->next_cursor;
        }
    }
    seen_give(r, s);
    free(sc);
    return rc;
}
