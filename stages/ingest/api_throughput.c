/* GET /v1/batch/{id}/throughput?buckets=N: the batch's results over time,
 * for the dashboard's chart: items counted per bucket of completion time,
 * ok and failed apart.
 *
 * Computed from the results themselves, read back: the batch's offset
 * range in scrape.results (the status document's `kafka`, as results pages
 * read it), each record's Kafka timestamp (when scrape or render wrote the
 * result, i.e. when the item was done) and its `status`, peeked without
 * parsing the record. Each item counts once, at its first result (a retry
 * or a replay writes it again), and a result in parts counts at its first
 * part. Nothing new is stored anywhere: aggregate keeps counts, not times,
 * and the results already carry the times. The cost is one read of the
 * range (headers and the head of each record), so the page asks for it
 * every few seconds while a batch runs and once when it ended, never on
 * every status poll.
 *
 * The bucket width is the first of 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15,
 * 30 min, 1, 2, 6, 12 h and 1 day (then whole days) whose buckets, each
 * starting at a multiple of the width, cover the span in at most N
 * (default 60, at most 500).
 *
 * A finished batch's answer cannot change (its range and its records are
 * fixed), yet the dashboard polls it every 5 s while the batch's page is
 * open: the serialized answers of the last CACHE_MAX finished batches, by
 * batch, bucket count and range, are kept and served without a read
 * (at most 500 buckets, about 30 KB each). A running batch's is always
 * read afresh. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "jx.h"
#include "metrics.h"

#define BUCKETS_DEFAULT 60
#define BUCKETS_MAX     500
#define CACHE_MAX       32

/* One finished batch's answer, as served. */
struct cached {
    char id[48];
    int buckets;
    int64_t first, last; /* its range in scrape.results */
    char *body;          /* NULL: a free slot */
    size_t len;
    uint64_t used;
};

static struct {
    pthread_mutex_t lock;
    struct cached slot[CACHE_MAX];
    uint64_t clock;
    struct metric *hits, *misses;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Under the lock: slot c holds batch id's answer for these buckets and
 * range. */
static int holds(const struct cached *c, const char *id, int buckets, int64_t first, int64_t last)
{
    return c->body && c->buckets == buckets && c->first == first && c->last == last &&
           strcmp(c->id, id) == 0;
}

/* Answers from the cache when batch id's answer for these buckets and
 * range is there: 1 answered, 0 not. */
static int cache_reply(struct httpd_resp *resp, const char *id, int buckets, int64_t first,
                       int64_t last)
{
    int hit = 0;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < CACHE_MAX && !hit; i++) {
        struct cached *c = &cache.slot[i];
        if (holds(c, id, buckets, first, last)) {
            c->used = ++cache.clock;
            httpd_reply(resp, 200, "application/json", c->body, c->len);
            hit = 1;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    metric_inc(hit ? cache.hits : cache.misses, 1);
    return hit;
}

/* Keeps a copy of a finished batch's answer, in place of the least
 * recently served one. */
static void cache_put(const char *id, int buckets, int64_t first, int64_t last, const char *body,
                      size_t len)
{
    char *copy = strlen(id) < sizeof(cache.slot[0].id) ? malloc(len) : NULL;
    if (!copy)
        return; /* not cached: read again next time */
    memcpy(copy, body, len);
    pthread_mutex_lock(&cache.lock);
    struct cached *c = &cache.slot[0];
    for (int i = 0; i < CACHE_MAX; i++) {
        struct cached *s = &cache.slot[i];
        if (holds(s, id, buckets, first, last)) {
            c = s; /* another request cached it meanwhile: replace it */
            break;
        }
        if (!s->body || (c->body && s->used < c->used))
            c = s;
    }
    free(c->body);
    *c = (struct cached){.buckets = buckets,
                         .first = first,
                         .last = last,
                         .body = copy,
                         .len = len,
                         .used = ++cache.clock};
    snprintf(c->id, sizeof(c->id), "%s", id);
    pthread_mutex_unlock(&cache.lock);
}

struct point {
    int64_t ms;
    int ok;
};

struct series_scan {
    const char *id;
    size_t total;
    unsigned char *seen; /* one byte per item: counted */
    struct point *p;
    size_t n, cap;
    int oom;
};

static int on_result(void *arg, const rd_kafka_message_t *m)
{
    struct series_scan *sc = arg;
    char st[64];
    int part, parts, stop = 0;
    json_t *doc = NULL;
    rd_kafka_timestamp_type_t type;
    long i = results_record_index(m, sc->id, &doc, &part, &parts);
    int64_t ms = rd_kafka_message_timestamp(m, &type);
    /* Each item once, at its first result (its part 1). */
    if (i < 0 || (size_t)i >= sc->total || part > 1 || sc->seen[i] || ms <= 0)
        goto out;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 256;
        struct point *p = realloc(sc->p, cap * sizeof(*p));
        if (!p) {
            sc->oom = stop = 1;
            goto out;
        }
        sc->p = p;
        sc->cap = cap;
    }
    sc->seen[i] = 1;
    results_record_status(m, &doc, st, sizeof(st));
    sc->p[sc->n++] = (struct point){ms, strcmp(st, "ok") == 0};
out:
    json_decref(doc);
    return stop;
}

/* The narrowest width whose aligned buckets from lo to hi are at most
 * `buckets`. */
static int64_t width_for(int64_t lo, int64_t hi, int buckets)
{
    static const int64_t widths[] = {1000,    2000,    5000,     10000,    15000,   30000,
                                     60000,   120000,  300000,   600000,   900000,  1800000,
                                     3600000, 7200000, 21600000, 43200000, 86400000};
    size_t n = sizeof(widths) / sizeof(widths[0]);
    for (size_t i = 0; i < n; i++)
        if (hi / widths[i] - lo / widths[i] < buckets)
            return widths[i];
    int64_t w = widths[n - 1];
    while (hi / w - lo / w >= buckets)
        w += widths[n - 1];
    return w;
}

/* The answer from the points read: {id, bucket_ms, from, to, items,
 * peak_per_s, buckets: [{at, ok, failed}]}, empty buckets included. */
static json_t *series_of(const char *id, const struct series_scan *sc, int buckets)
{
    int64_t lo = 0, hi = 0;
    for (size_t k = 0; k < sc->n; k++) {
        if (!k || sc->p[k].ms < lo)
            lo = sc->p[k].ms;
        if (!k || sc->p[k].ms > hi)
            hi = sc->p[k].ms;
    }
    int64_t w = width_for(lo, hi, buckets), from = lo / w * w;
    size_t nb = sc->n ? (size_t)((hi - from) / w + 1) : 0;
    long long *ok = calloc(nb ? nb : 1, sizeof(*ok)), *bad = calloc(nb ? nb : 1, sizeof(*bad));
    json_t *list = json_array(), *out = NULL;
    long long peak = 0;
    if (!ok || !bad || !list)
        goto out;
    for (size_t k = 0; k < sc->n; k++)
        (sc->p[k].ok ? ok : bad)[(sc->p[k].ms - from) / w]++;
    for (size_t b = 0; b < nb; b++) {
        if (ok[b] + bad[b] > peak)
            peak = ok[b] + bad[b];
        json_array_append_new(list,
                              json_pack("{s:o,s:I,s:I}", "at", jx_time(from + (int64_t)b * w), "ok",
                                        (json_int_t)ok[b], "failed", (json_int_t)bad[b]));
    }
    out = json_pack("{s:s,s:I,s:o,s:o,s:I,s:f,s:O}", "id", id, "bucket_ms", (json_int_t)w, "from",
                    nb ? jx_time(from) : json_null(), "to",
                    nb ? jx_time(from + (int64_t)nb * w) : json_null(), "items", (json_int_t)sc->n,
                    "peak_per_s", (double)peak * 1000.0 / (double)w, "buckets", list);
out:
    json_decref(list);
    free(ok);
    free(bad);
    return out;
}

static void h_throughput(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                         const char *tenant)
{
    const char *id = api_batch_id(req);
    int buckets = BUCKETS_DEFAULT;
    if (api_int_param(req, resp, "buckets", BUCKETS_MAX, &buckets))
        return;
    json_t *doc = id ? table_get_json(a->table, id, tenant) : NULL;
    if (!doc) {
        api_not_found(resp, id);
        return;
    }
    const json_t *loc = json_object_get(doc, "kafka");
    const char *topic = jx_str(loc, "results_topic", NULL);
    int64_t first = jx_int(loc, "first_offset", -1), last = jx_int(loc, "last_offset", -1), next;
    int32_t partition = (int32_t)jx_int(loc, "partition", -1);
    long long total = jx_int(doc, "total", 0);
    int final = api_is_final(jx_str(doc, "status", ""));
    char *body = NULL;
    size_t len = 0;
    if (final && cache_reply(resp, id, buckets, first, last)) {
        json_decref(doc);
        return;
    }
    struct series_scan sc = {id, total > 0 ? (size_t)total : 0, NULL, NULL, 0, 0, 0};
    char errstr[256];
    sc.seen = calloc(sc.total ? sc.total : 1, 1);
    if (!sc.seen) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        goto out;
    }
    if (topic && partition >= 0 && first >= 0 && last >= first &&
        reader_scan(a->readers, topic, partition, first, last, a->timeout_ms, on_result, &sc, &next,
                    errstr, sizeof(errstr))) {
        httpd_error(resp, 503, "kafka_unavailable", "the batch's results could not be read", NULL);
        goto out;
    }
    json_t *series = sc.oom ? NULL : series_of(id, &sc, buckets);
    body = series ? jx_dump(series, &len) : NULL;
    json_decref(series);
    if (!body) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        goto out;
    }
    if (final)
        cache_put(id, buckets, first, last, body, len);
    httpd_reply_take(resp, 200, "application/json", body, len);
out:
    free(sc.seen);
    free(sc.p);
    json_decref(doc);
}

void api_throughput_init(void)
{
    static const char help[] = "Throughput answers of finished batches, from the cache or read";
    cache.hits = metric_counter("ferry_ingest_throughput_cache_total", help, "outcome=\"hit\"");
    cache.misses = metric_counter("ferry_ingest_throughput_cache_total", help, "outcome=\"miss\"");
}

const struct api_route api_throughput_routes[] = {
    {"GET", "/v1/batch/:id/throughput", "throughput", h_throughput, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
