#include "ids.h"
#include "state.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jx.h"

const char *const state_code_names[CODE__COUNT] = {
    "timeout",   "dns",     "connect",     "tls",       "http_error",
    "too_large", "blocked", "invalid_url", "cancelled", "not_found",
};

int state_code_parse(const char *status)
{
    if (strcmp(status, "ok") == 0)
        return -1;
    for (int i = 0; i < CODE__COUNT; i++)
        if (strcmp(status, state_code_names[i]) == 0)
            return i;
    return -2;
}

/* ------------------------------------------------------------ the table */

static uint64_t hash_id(const char *id)
{
    return ids_hash(id, strlen(id));
}

void state_init(struct state *s)
{
    s->cap = 1024;
    s->n = 0;
    s->slot = calloc(s->cap, sizeof(*s->slot));
    if (!s->slot)
        abort();
}

void batch_items_add(struct batch_items *l, long long index, char *text, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        if (!l->v)
            abort();
    }
    l->v[l->n++] = (struct batch_item){index, text, len};
    l->bytes += len;
}

void batch_items_clear(struct batch_items *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].text);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int by_index(const void *a, const void *b)
{
    long long x = ((const struct batch_item *)a)->index, y = ((const struct batch_item *)b)->index;
    return (x > y) - (x < y);
}

char *batch_items_join(struct batch_items *l, size_t *len)
{
    qsort(l->v, l->n, sizeof(*l->v), by_index);
    char *out = malloc(l->bytes + l->n + 2), *p = out;
    if (!out)
        abort();
    *p++ = '[';
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, l->v[i].text, l->v[i].len);
        p += l->v[i].len;
    }
    *p++ = ']';
    *p = '\0';
    *len = (size_t)(p - out);
    return out;
}

void batch_free(struct batch *b)
{
    if (!b)
        return;
    batch_items_clear(&b->cache);
    json_decref(b->final_doc);
    json_decref(b->record);
    free(b->record_text);
    free(b->bits);
    free(b);
}

void state_release(struct state *s)
{
    for (size_t i = 0; i < s->cap; i++)
        batch_free(s->slot[i]);
    free(s->slot);
    s->slot = NULL;
    s->cap = s->n = 0;
}

static size_t find_slot(const struct state *s, const char *id)
{
    size_t mask = s->cap - 1, i = hash_id(id) & mask;
    while (s->slot[i] && strcmp(s->slot[i]->id, id) != 0)
        i = (i + 1) & mask;
    return i;
}

static void grow(struct state *s)
{
    struct state bigger = {calloc(s->cap * 2, sizeof(*s->slot)), s->cap * 2, 0};
    if (!bigger.slot)
        abort();
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i]) {
            bigger.slot[find_slot(&bigger, s->slot[i]->id)] = s->slot[i];
            bigger.n++;
        }
    free(s->slot);
    *s = bigger;
}

struct batch *state_get(struct state *s, const char *id)
{
    return s->slot[find_slot(s, id)];
}

void state_put(struct state *s, struct batch *b)
{
    if ((s->n + 1) * 2 > s->cap)
        grow(s);
    size_t i = find_slot(s, b->id);
    if (s->slot[i])
        batch_free(s->slot[i]);
    else
        s->n++;
    s->slot[i] = b;
}

struct batch *state_get_or_add(struct state *s, const char *id, int32_t partition, int64_t now_ms)
{
    struct batch *b = state_get(s, id);
    if (b)
        return b;
    b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    snprintf(b->id, sizeof(b->id), "%s", id);
    b->partition = partition;
    b->seen_ms = now_ms;
    b->res_first = b->res_last = -1;
    b->cache_ok = 1;
    state_put(s, b);
    return b;
}

/* Linear probing without tombstones: after emptying slot i, re-place the
 * run that follows it so every lookup still finds its entry. */
static void remove_at(struct state *s, size_t i)
{
    size_t mask = s->cap - 1;
    batch_free(s->slot[i]);
    s->slot[i] = NULL;
    s->n--;
    for (size_t j = (i + 1) & mask; s->slot[j]; j = (j + 1) & mask) {
        struct batch *b = s->slot[j];
        s->slot[j] = NULL;
        s->slot[find_slot(s, b->id)] = b;
    }
}

void state_remove(struct state *s, const char *id)
{
    size_t i = find_slot(s, id);
    if (s->slot[i])
        remove_at(s, i);
}

size_t state_drop_partition(struct state *s, int32_t partition)
{
    size_t dropped = 0;
    /* Removal shifts entries backwards, so rescan a slot after removing. */
    for (size_t i = 0; i < s->cap;) {
        if (s->slot[i] && s->slot[i]->partition == partition) {
            remove_at(s, i);
            dropped++;
        } else {
            i++;
        }
    }
    return dropped;
}

/* ------------------------------------------------------------ one batch */

static int bits_reserve(struct batch *b, long long nbits)
{
    size_t need = (size_t)((nbits + 7) / 8);
    if (need <= b->bits_len)
        return 0;
    /* Pending batches grow as indexes arrive: double to keep it amortized. */
    size_t len = b->bits_len ? b->bits_len : 16;
    while (len < need)
        len *= 2;
    if (b->known && len > (size_t)((b->total + 7) / 8))
        len = need;
    uint8_t *p = realloc(b->bits, len);
    if (!p)
        abort();
    memset(p + b->bits_len, 0, len - b->bits_len);
    b->bits = p;
    b->bits_len = len;
    return 0;
}

int batch_seen(const struct batch *b, long long index)
{
    return index >= 0 && (size_t)(index / 8) < b->bits_len &&
           (b->bits[index / 8] >> (index % 8)) & 1;
}

int batch_set_record(struct batch *b, json_t *record, int64_t started_ms)
{
    int64_t created = 0;
    json_incref(record);
    json_decref(b->record);
    b->record = record;
    free(b->record_text);
    b->record_text = NULL;
    b->known = 1;
    b->total = jx_int(record, "total", 0);
    if (clk_parse_iso8601(jx_str(record, "created_at", ""), &created) == 0)
        b->created_ms = created;
    if (!b->started_ms)
        b->started_ms = started_ms;
    b->dirty = b->progress = 1;
    /* Any pending index past the total means the results named another
     * batch shape than the record; they stay counted, which is reported. */
    if ((size_t)((b->total + 7) / 8) > b->bits_len)
        bits_reserve(b, b->total);
    for (long long i = b->total; i < (long long)b->bits_len * 8; i++)
        if (batch_seen(b, i))
            return -1;
    return 0;
}

int batch_count(struct batch *b, long long index, int code, int64_t ts_ms, int64_t offset,
                long long max_index)
{
    if (b->done)
        return 0;
    if (index < 0 || (b->known ? index >= b->total : index >= max_index))
        return -1;
    if (batch_seen(b, index))
        return 0;
    bits_reserve(b, index + 1);
    b->bits[index / 8] |= (uint8_t)(1u << (index % 8));
    b->processed++;
    if (code < 0)
        b->succeeded++;
    else
        b->errors[code]++;
    if (!b->first_ms || ts_ms < b->first_ms)
        b->first_ms = ts_ms;
    if (ts_ms > b->last_ms)
        b->last_ms = ts_ms;
    if (b->res_first < 0 || offset < b->res_first)
        b->res_first = offset;
    if (offset > b->res_last)
        b->res_last = offset;
    b->dirty = b->progress = 1;
    return 1;
}

int batch_complete(const struct batch *b)
{
    return b->known && !b->done && b->processed >= b->total;
}

void batch_finish(struct batch *b, int64_t now_ms)
{
    b->done = 1;
    b->done_ms = now_ms;
    json_decref(b->record);
    b->record = NULL;
    free(b->record_text);
    b->record_text = NULL;
    free(b->bits);
    b->bits = NULL;
    b->bits_len = 0;
    batch_items_clear(&b->cache);
    json_decref(b->final_doc);
    b->final_doc = NULL;
    b->deferred = 0;
    b->cache_ok = 0;
    b->dirty = 1;
    b->progress = 0;
}

/* ------------------------------------------------------------ changelog */

char *state_encode(struct batch *b, size_t *len)
{
    size_t used = b->bits_len, rec_len = 0;
    /* Only up to the highest set byte: a large batch early in its run, or
     * a pending one, stays small. */
    while (used > 0 && b->bits[used - 1] == 0)
        used--;
    if (b->record && !b->record_text)
        b->record_text = jx_dump(b->record, NULL);
    if (b->record_text)
        rec_len = strlen(b->record_text);
    size_t cap = 1024 + 4 * ((used + 2) / 3) + rec_len; /* 1024: the fields */
    char *out = malloc(cap);
    if (!out)
        abort();
    int n =
        snprintf(out, cap, "{\"v\":1,\"known\":%s,\"done\":%s,\"cancelled\":%s,\"seen_ms\":%lld",
                 b->known ? "true" : "false", b->done ? "true" : "false",
                 b->cancelled ? "true" : "false", (long long)b->seen_ms);
    if (b->done) {
        n += snprintf(out + n, cap - (size_t)n, ",\"done_ms\":%lld}", (long long)b->done_ms);
        *len = (size_t)n;
        return out;
    }
    n += snprintf(out + n, cap - (size_t)n,
                  ",\"started_ms\":%lld,\"processed\":%lld,\"succeeded\":%lld,\"errors\":[",
                  (long long)b->started_ms, b->processed, b->succeeded);
    for (int i = 0; i < CODE__COUNT; i++)
        n += snprintf(out + n, cap - (size_t)n, "%s%lld", i ? "," : "", b->errors[i]);
    n += snprintf(out + n, cap - (size_t)n,
                  "],\"first_ms\":%lld,\"last_ms\":%lld,\"res_first\":%lld,\"res_last\":%lld",
                  (long long)b->first_ms, (long long)b->last_ms, (long long)b->res_first,
                  (long long)b->res_last);
    if (b->record_text) {
        n += snprintf(out + n, cap - (size_t)n, ",\"record\":");
        memcpy(out + n, b->record_text, rec_len);
        n += (int)rec_len;
    }
    n += snprintf(out + n, cap - (size_t)n, ",\"bits\":\"");
    n += EVP_EncodeBlock((unsigned char *)out + n, b->bits, (int)used);
    out[n++] = '"';
    out[n++] = '}';
    out[n] = '\0';
    *len = (size_t)n;
    return out;
}

struct batch *state_decode(const char *id, int32_t partition, const json_t *v, char *errstr,
                           size_t errstr_size)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    snprintf(b->id, sizeof(b->id), "%s", id);
    b->partition = partition;
    if (!json_is_object(v) || jx_int(v, "v", 0) != 1) {
        snprintf(errstr, errstr_size, "not a version 1 state");
        goto err;
    }
    b->known = jx_bool(v, "known", 0);
    b->done = jx_bool(v, "done", 0);
    b->cancelled = jx_bool(v, "cancelled", 0);
    b->seen_ms = jx_int(v, "seen_ms", 0);
    b->res_first = b->res_last = -1;
    if (b->done) {
        b->done_ms = jx_int(v, "done_ms", 0);
        return b;
    }
    b->started_ms = jx_int(v, "started_ms", 0);
    b->processed = jx_int(v, "processed", 0);
    b->succeeded = jx_int(v, "succeeded", 0);
    const json_t *errs = json_object_get(v, "errors");
    for (int i = 0; i < CODE__COUNT && i < (int)json_array_size(errs); i++)
        b->errors[i] = json_integer_value(json_array_get(errs, (size_t)i));
    b->first_ms = jx_int(v, "first_ms", 0);
    b->last_ms = jx_int(v, "last_ms", 0);
    b->res_first = jx_int(v, "res_first", -1);
    b->res_last = jx_int(v, "res_last", -1);
    json_t *record = json_object_get(v, "record");
    if (b->known) {
        if (!json_is_object(record)) {
            snprintf(errstr, errstr_size, "known batch without its record");
            goto err;
        }
        int64_t started = b->started_ms;
        batch_set_record(b, record, started);
    }
    const char *b64 = jx_str(v, "bits", "");
    size_t len = strlen(b64);
    if (len % 4) {
        snprintf(errstr, errstr_size, "bits: bad base64 length");
        goto err;
    }
    size_t raw = len / 4 * 3;
    if (raw) {
        bits_reserve(b, (long long)raw * 8);
        /* EVP_DecodeBlock counts the padding as zero bytes: harmless here,
         * they are zero bits. */
        unsigned char *tmp = malloc(raw + 3);
        if (!tmp)
            abort();
        int got = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)len);
        if (got < 0) {
            free(tmp);
            snprintf(errstr, errstr_size, "bits: bad base64");
            goto err;
        }
        memcpy(b->bits, tmp, (size_t)got < b->bits_len ? (size_t)got : b->bits_len);
        free(tmp);
    }
    b->dirty = 0;
    b->progress = 0;
    b->cache_ok = b->processed == 0;
    return b;
err:
    batch_free(b);
    return NULL;
}
