#include "origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhdr.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "results.h"

/* Records are looked for from this long before created_at: the producer's
 * clock wrote both, but the offsets-for-times index is per segment entry. */
#define ORIGIN_BEFORE_MS 60000

static int64_t stamp(const rd_kafka_message_t *m)
{
    return rd_kafka_message_timestamp(m, NULL);
}

static int key_is(const rd_kafka_message_t *m, const char *id)
{
    size_t n = strlen(id);
    return m->key && m->key_len == n && memcmp(m->key, id, n) == 0;
}

/* ------------------------------------------------------------ results */

struct pick_scan {
    const char *id;
    size_t total;
    const struct origin_pick *pick;
    unsigned char *seen, *want;
    size_t n_want;
};

static int picked(const struct origin_pick *p, const char *status)
{
    if (p->failed && strcmp(status, "ok") != 0)
        return 1;
    for (size_t i = 0; i < p->n_codes; i++)
        if (strcmp(p->codes[i], status) == 0)
            return 1;
    return 0;
}

static int on_result(void *arg, const rd_kafka_message_t *m)
{
    struct pick_scan *sc = arg;
    char status[64];
    int k, n;
    json_t *doc = NULL;
    long i = results_record_index(m, sc->id, &doc, &k, &n);
    /* The item's first result decides; later parts carry no status. */
    if (i < 0 || (size_t)i >= sc->total || k > 1 || sc->seen[i])
        goto out;
    sc->seen[i] = 1;
    results_record_status(m, &doc, status, sizeof(status));
    if (picked(sc->pick, status)) {
        sc->want[i] = 1;
        sc->n_want++;
    }
out:
    json_decref(doc);
    return 0;
}

int origin_pick_results(const struct origin *o, const char *id, const json_t *status, size_t total,
                        const struct origin_pick *pick, unsigned char *want, size_t *n_want,
                        char *errstr, size_t errstr_size)
{
    const json_t *loc = json_object_get(status, "kafka");
    const char *topic = jx_str(loc, "results_topic", NULL);
    int64_t first = jx_int(loc, "first_offset", -1), last = jx_int(loc, "last_offset", -1), next;
    int32_t partition = (int32_t)jx_int(loc, "partition", -1);
    struct pick_scan sc = {id, total, pick, calloc(total ? total : 1, 1), want, 0};
    int rc = 0;
    if (!sc.seen) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (topic && partition >= 0 && first >= 0 && last >= first)
        rc = reader_scan(o->rp, topic, partition, first, last, o->timeout_ms, on_result, &sc, &next,
                         errstr, errstr_size);
    /* An item that never got a result (a batch that failed its deadline or
     * was cancelled before it) did not succeed either. */
    for (size_t i = 0; rc == 0 && pick->failed && i < total; i++)
        if (!sc.seen[i] && !want[i]) {
            want[i] = 1;
            sc.n_want++;
        }
    *n_want = sc.n_want;
    free(sc.seen);
    return rc;
}

/* ------------------------------------------------------------ the record */

struct record_scan {
    const char *id;
    int64_t until_ms;
    json_t *record;
    int past; /* a record later than the window: stop */
};

static int on_record(void *arg, const rd_kafka_message_t *m)
{
    struct record_scan *sc = arg;
    char type[16];
    if (stamp(m) > sc->until_ms) {
        sc->past = 1;
        return 1;
    }
    if (!key_is(m, sc->id))
        return 0;
    if (fhdr_get(m, FHDR_TYPE, type, sizeof(type)) && strcmp(type, "batch") != 0)
        return 0;
    json_t *doc = json_loadb(m->payload, m->len, 0, NULL);
    if (strcmp(jx_str(doc, "type", ""), "batch") != 0 || strcmp(jx_str(doc, "id", ""), sc->id)) {
        json_decref(doc);
        return 0;
    }
    sc->record = doc;
    return 1;
}

/* Where to start looking in topic/partition for records of created_ms. */
static int start_at(const struct origin *o, const char *topic, int32_t p, int64_t created_ms,
                    int64_t *from, char *errstr, size_t errstr_size)
{
    return reader_offset_at(o->rp, topic, p, created_ms - ORIGIN_BEFORE_MS, o->timeout_ms, from,
                            errstr, errstr_size);
}

json_t *origin_record(const struct origin *o, const char *id, int64_t created_ms, int *gone,
                      char *errstr, size_t errstr_size)
{
    const char *topic = topic_name(o->topics, TOPIC_BATCHES);
    struct record_scan sc = {id, created_ms + ORIGIN_WINDOW_MS, NULL, 0};
    int64_t from, next;
    *gone = 0;
    int32_t n = kafka_partition_count(o->meta, topic, o->timeout_ms, errstr, errstr_size);
    if (n <= 0)
        return NULL;
    int32_t p = kafka_murmur2_partition(id, strlen(id), n);
    if (start_at(o, topic, p, created_ms, &from, errstr, errstr_size) ||
        reader_scan(o->rp, topic, p, from, -1, o->timeout_ms, on_record, &sc, &next, errstr,
                    errstr_size))
        return NULL;
    if (!sc.record) {
        *gone = 1;
        snprintf(errstr, errstr_size, "the batch's record is no longer in Kafka");
    }
    return sc.record;
}

/* ------------------------------------------------------------ requests */

struct request_scan {
    const char *id;
    int64_t until_ms;
    size_t total;
    const unsigned char *want;
    json_t **item; /* per index: the item found */
    size_t left;   /* wanted items of this partition not found yet */
};

static int on_request(void *arg, const rd_kafka_message_t *m)
{
    struct request_scan *sc = arg;
    char hi[24], *end;
    if (stamp(m) > sc->until_ms)
        return 1;
    if (!key_is(m, sc->id) || !fhdr_get(m, FHDR_INDEX, hi, sizeof(hi)))
        return 0;
    long long i = strtoll(hi, &end, 10);
    if (*end || end == hi || i < 0 || (size_t)i >= sc->total || !sc->want[i] || sc->item[i])
        return 0;
    json_t *req = json_loadb(m->payload, m->len, 0, NULL);
    const char *url = jx_str(req, "url", NULL);
    json_t *input = json_object_get(req, "input");
    if (json_is_object(json_object_get(req, "endpoint")) && json_is_object(input)) {
        /* An endpoint batch's item is the profile's parameters: the retry
         * expands them again, so its results carry the endpoint's data. */
        sc->item[i] = json_incref(input);
        sc->left--;
    } else if (url) {
        json_t *h = json_object_get(req, "headers");
        sc->item[i] = json_pack("{s:s}", "url", url);
        if (json_is_object(h) && json_object_size(h) > 0)
            json_object_set(sc->item[i], "headers", h);
        sc->left--;
    }
    json_decref(req);
    return sc->left == 0;
}

json_t *origin_items(const struct origin *o, const char *id, int64_t created_ms,
                     enum topic_id requests, size_t total, const unsigned char *want, size_t n_want,
                     int *gone, char *errstr, size_t errstr_size)
{
    const char *topic = topic_name(o->topics, requests);
    json_t *out = NULL, **item = calloc(total ? total : 1, sizeof(*item));
    size_t found = 0;
    *gone = 0;
    int32_t n = kafka_partition_count(o->meta, topic, o->timeout_ms, errstr, errstr_size);
    if (!item || n <= 0)
        goto out;
    int32_t base = kafka_murmur2_partition(id, strlen(id), n);
    for (int32_t p = 0; p < n; p++) {
        struct request_scan sc = {id, created_ms + ORIGIN_WINDOW_MS, total, want, item, 0};
        int64_t from, next;
        /* Item i went to partition (base + i) % n. */
        for (size_t i = (size_t)((p - base + n) % n); i < total; i += (size_t)n)
            sc.left += want[i];
        if (sc.left == 0)
            continue;
        if (start_at(o, topic, p, created_ms, &from, errstr, errstr_size) ||
            reader_scan(o->rp, topic, p, from, -1, o->timeout_ms, on_request, &sc, &next, errstr,
                        errstr_size))
            goto out;
    }
    out = json_array();
    for (size_t i = 0; i < total; i++)
        if (item[i]) {
            json_array_append_new(out, item[i]);
            item[i] = NULL;
            found++;
        }
    if (found < n_want) {
        *gone = 1;
        snprintf(errstr, errstr_size, "%zu of the %zu requests are no longer in Kafka",
                 n_want - found, n_want);
        json_decref(out);
        out = NULL;
    }
out:
    for (size_t i = 0; item && i < total; i++)
        json_decref(item[i]);
    free(item);
    return out;
}
