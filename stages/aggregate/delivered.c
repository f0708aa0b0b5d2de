#include "delivered.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jx.h"
#include "log.h"
#include "secretbox.h"

void delivered_init(struct delivered *d, long long ttl_ms, long long max_items)
{
    memset(d, 0, sizeof(*d));
    d->map = (struct strmap)STRMAP_INIT;
    d->ttl_ms = ttl_ms;
    d->max_items = max_items;
}

static void batch_free(void *p)
{
    struct delivered_batch *b = p;
    if (!b)
        return;
    free(b->items);
    free(b->ids);
    free(b);
}

void delivered_release(struct delivered *d)
{
    strmap_release(&d->map, batch_free);
    memset(d, 0, sizeof(*d));
}

int delivered_parse(struct delivered_attempt *a, json_t **root, const void *buf, size_t len,
                    char *errstr, size_t errstr_size)
{
    memset(a, 0, sizeof(*a));
    /* Attempts carry a response excerpt, nothing deep. */
    json_t *v = jx_parse(buf, len, 16, errstr, errstr_size);
    *root = v;
    if (!v)
        return -1;
    a->delivery_id = jx_str(v, "delivery_id", NULL);
    a->batch_id = jx_str(v, "batch_id", NULL);
    a->tenant = jx_str(v, "tenant", "");
    a->event = jx_str(v, "event", NULL);
    const json_t *index = json_object_get(v, "index");
    a->index = json_is_integer(index) ? json_integer_value(index) : -1;
    a->delivered = strcmp(jx_str(v, "outcome", ""), "delivered") == 0;
    if (!a->delivery_id || !a->batch_id || !ids_valid("bat", a->batch_id) || !a->event) {
        snprintf(errstr, errstr_size, "not an attempt record (delivery_id, batch_id, event)");
        return -1;
    }
    if (strlen(a->tenant) >= USAGEREC_TENANT_MAX) {
        snprintf(errstr, errstr_size, "tenant: longer than %d bytes", USAGEREC_TENANT_MAX - 1);
        return -1;
    }
    return 0;
}

static struct delivered_batch *batch_of(struct delivered *d, const char *id, int32_t partition)
{
    struct delivered_batch *b = strmap_get(&d->map, id);
    if (!b) {
        if (!(b = calloc(1, sizeof(*b))))
            abort();
        snprintf(b->id, sizeof(b->id), "%s", id);
        b->partition = partition;
        strmap_put(&d->map, id, b, NULL);
    }
    return b;
}

static int items_test_set(struct delivered_batch *b, long long index)
{
    size_t byte = (size_t)(index / 8);
    uint8_t bit = (uint8_t)(1u << (index % 8));
    if (byte >= b->items_len) {
        size_t len = b->items_len ? b->items_len : 16;
        while (len <= byte)
            len *= 2;
        uint8_t *p = realloc(b->items, len);
        if (!p)
            abort();
        memset(p + b->items_len, 0, len - b->items_len);
        b->items = p;
        b->items_len = len;
    }
    if (b->items[byte] & bit)
        return 0;
    b->items[byte] |= bit;
    return 1;
}

static void ids_append(struct delivered_batch *b, uint64_t h)
{
    if (b->n_ids == b->cap_ids) {
        b->cap_ids = b->cap_ids ? b->cap_ids * 2 : 4;
        if (!(b->ids = realloc(b->ids, b->cap_ids * sizeof(*b->ids))))
            abort();
    }
    b->ids[b->n_ids++] = h;
}

/* 1 added, 0 there already, -1 when the list is full (nothing remembered).
 * A linear scan: a batch has one or a few such deliveries (its batch.*
 * event); only item deliveries of an older deliver, without `index`, make
 * it long. */
static int ids_test_add(struct delivered_batch *b, uint64_t h)
{
    for (size_t i = 0; i < b->n_ids; i++)
        if (b->ids[i] == h)
            return 0;
    if (b->n_ids == DELIVERED_MAX_IDS)
        return -1;
    ids_append(b, h);
    return 1;
}

int delivered_note(struct delivered *d, int32_t partition, const struct delivered_attempt *a,
                   int64_t now_ms)
{
    if (!a->delivered)
        return 0;
    struct delivered_batch *b = batch_of(d, a->batch_id, partition);
    int fresh;
    if (!b->first_ms) {
        b->first_ms = now_ms;
        snprintf(b->tenant, sizeof(b->tenant), "%s", a->tenant);
    }
    if (strcmp(a->event, "item.completed") == 0 && a->index >= 0 && a->index < d->max_items) {
        fresh = items_test_set(b, a->index);
    } else {
        fresh = ids_test_add(b, ids_hash(a->delivery_id, strlen(a->delivery_id)));
        if (fresh < 0) {
            LOG_WARN("delivered_ids_full", "batch=%s delivery=%s", a->batch_id, a->delivery_id);
            return 1;
        }
    }
    if (fresh)
        b->dirty = 1;
    return fresh;
}

/* {"v":1,"tenant","first_ms","items":"<base64>","ids":["<hex>",...]} */
char *delivered_encode(const struct delivered_batch *b, size_t *len)
{
    struct buf out = BUF_INIT(BUF_NO_MAX);
    size_t used = b->items_len;
    while (used > 0 && b->items[used - 1] == 0)
        used--;
    char *items = secretbox_b64(b->items ? b->items : (const uint8_t *)"", used);
    if (!items)
        abort();
    buf_adds(&out, "{\"v\":1,\"tenant\":");
    jx_add_strz(&out, b->tenant);
    buf_addf(&out, ",\"first_ms\":%lld,\"items\":\"%s\",\"ids\":[", (long long)b->first_ms, items);
    for (size_t i = 0; i < b->n_ids; i++)
        buf_addf(&out, "%s\"%016" PRIx64 "\"", i ? "," : "", b->ids[i]);
    buf_adds(&out, "]}");
    free(items);
    return buf_detach(&out, len);
}

static void key_of(const char *id, char *out, size_t size)
{
    snprintf(out, size, "%s%s", DELIVERED_KEY_PREFIX, id);
}

void delivered_flush(struct delivered *d, struct txn *x, const char *topic)
{
    size_t pos = 0;
    const char *id;
    void *v;
    char key[sizeof(DELIVERED_KEY_PREFIX) + IDS_BATCH_LEN];
    while (strmap_next(&d->map, &pos, &id, &v)) {
        struct delivered_batch *b = v;
        if (!b->dirty)
            continue;
        size_t len;
        char *text = delivered_encode(b, &len);
        key_of(b->id, key, sizeof(key));
        txn_produce(x, topic, b->partition, key, strlen(key), text, len, NULL);
        free(text);
        b->dirty = 0;
    }
}

size_t delivered_expire(struct delivered *d, struct txn *x, const char *topic, int64_t now_ms)
{
    size_t pos = 0, n = 0;
    const char *id;
    void *v;
    char key[sizeof(DELIVERED_KEY_PREFIX) + IDS_BATCH_LEN];
    while (strmap_next(&d->map, &pos, &id, &v)) {
        struct delivered_batch *b = v;
        if (now_ms - b->first_ms <= d->ttl_ms)
            continue;
        key_of(b->id, key, sizeof(key));
        txn_produce(x, topic, b->partition, key, strlen(key), NULL, 0, NULL);
        batch_free(strmap_remove(&d->map, id));
        n++;
    }
    return n;
}

void delivered_drop_partition(struct delivered *d, int32_t partition)
{
    size_t pos = 0;
    const char *id;
    void *v;
    while (strmap_next(&d->map, &pos, &id, &v))
        if (((struct delivered_batch *)v)->partition == partition)
            batch_free(strmap_remove(&d->map, id));
}

int delivered_restore(struct delivered *d, int32_t partition, const char *key, size_t key_len,
                      const void *value, size_t len)
{
    char id[IDS_BATCH_LEN], why[128];
    size_t plen = strlen(DELIVERED_KEY_PREFIX);
    if (key_len <= plen || key_len - plen >= sizeof(id))
        return -1;
    memcpy(id, key + plen, key_len - plen);
    id[key_len - plen] = '\0';
    if (!value) {
        batch_free(strmap_remove(&d->map, id));
        return 0;
    }
    json_t *v = jx_parse(value, len, 4, why, sizeof(why));
    const char *tenant = jx_str(v, "tenant", NULL), *items = jx_str(v, "items", "");
    const json_t *ids = json_object_get(v, "ids");
    int rc = -1;
    if (jx_int(v, "v", 0) != 1 || !tenant || strlen(tenant) >= USAGEREC_TENANT_MAX ||
        !json_is_array(ids) || json_array_size(ids) > DELIVERED_MAX_IDS)
        goto out;
    struct delivered_batch *b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    snprintf(b->id, sizeof(b->id), "%s", id);
    snprintf(b->tenant, sizeof(b->tenant), "%s", tenant);
    b->partition = partition;
    b->first_ms = jx_int(v, "first_ms", 0);
    size_t cap = strlen(items) / 4 * 3 + 3;
    b->items = calloc(1, cap);
    long got = b->items ? secretbox_unb64(items, b->items, cap) : -1;
    b->items_len = got > 0 ? (size_t)got : 0;
    size_t i;
    const json_t *h;
    json_array_foreach(ids, i, h)
    {
        const char *hex = json_string_value(h);
        if (got < 0 || !hex || strlen(hex) != 16) {
            got = -1;
            break;
        }
        ids_append(b, strtoull(hex, NULL, 16)); /* written without repeats */
    }
    if (got < 0) {
        batch_free(b);
        goto out;
    }
    batch_free(strmap_put(&d->map, id, b, NULL));
    rc = 0;
out:
    json_decref(v);
    return rc;
}

const struct delivered_batch *delivered_get(const struct delivered *d, const char *batch_id)
{
    return strmap_get(&d->map, batch_id);
}

size_t delivered_count(const struct delivered *d)
{
    return strmap_size(&d->map);
}
