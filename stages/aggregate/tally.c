#include "tally.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jx.h"
#include "schema.h"

/* A batch may hold this many results in parts at once; past it the oldest
 * attempt is forgotten (its item then counts from a later attempt). Bounds
 * the memory and the changelog record a stream of stray parts can cost. */
#define MAX_SPLITS 1024

/* ------------------------------------------------------------ bitmaps */

static int bit_get(const uint8_t *bits, size_t len, long long i)
{
    return i >= 0 && (size_t)(i / 8) < len && (bits[i / 8] >> (i % 8)) & 1;
}

static void bit_set(uint8_t *bits, long long i)
{
    bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

static void bits_reserve(struct tally *t, long long nbits)
{
    size_t need = (size_t)((nbits + 7) / 8);
    if (need <= t->bits_len)
        return;
    /* Pending batches grow as indexes arrive: double to keep it amortized. */
    size_t len = t->bits_len ? t->bits_len : 16;
    while (len < need)
        len *= 2;
    if (t->known && len > (size_t)((t->total + 7) / 8))
        len = need;
    uint8_t *p = realloc(t->bits, len);
    if (!p)
        abort();
    memset(p + t->bits_len, 0, len - t->bits_len);
    t->bits = p;
    t->bits_len = len;
}

/* ------------------------------------------------------------ one batch */

struct tally *tally_new(const char *id, int32_t partition, int64_t now_ms)
{
    struct tally *t = calloc(1, sizeof(*t));
    if (!t)
        abort();
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->partition = partition;
    t->seen_ms = now_ms;
    t->res_first = t->res_last = -1;
    t->billable = 1;
    return t;
}

static void splits_clear(struct tally *t)
{
    for (size_t i = 0; i < t->n_splits; i++)
        free(t->splits[i].seen);
    free(t->splits);
    t->splits = NULL;
    t->n_splits = t->cap_splits = 0;
}

void tally_free(struct tally *t)
{
    if (!t)
        return;
    json_decref(t->record);
    free(t->record_text);
    free(t->bits);
    free(t->others);
    splits_clear(t);
    free(t);
}

int tally_seen(const struct tally *t, long long index)
{
    return bit_get(t->bits, t->bits_len, index);
}

int tally_set_record(struct tally *t, json_t *record, int64_t started_ms)
{
    int64_t created = 0;
    json_incref(record);
    json_decref(t->record);
    t->record = record;
    free(t->record_text);
    t->record_text = NULL;
    t->known = 1;
    snprintf(t->tenant, sizeof(t->tenant), "%s", jx_str(record, "tenant", ""));
    t->total = jx_int(record, "total", 0);
    if (clk_parse_iso8601(jx_str(record, "created_at", ""), &created) == 0)
        t->created_ms = created;
    if (!t->started_ms)
        t->started_ms = started_ms;
    t->dirty = t->progress = 1;
    /* Any pending index past the total means the results named another
     * batch shape than the record; they stay counted, which is reported. */
    if ((size_t)((t->total + 7) / 8) > t->bits_len)
        bits_reserve(t, t->total);
    for (long long i = t->total; i < (long long)t->bits_len * 8; i++)
        if (tally_seen(t, i))
            return -1;
    return 0;
}

static void split_remove(struct tally *t, size_t i)
{
    free(t->splits[i].seen);
    t->splits[i] = t->splits[--t->n_splits];
}

/* The split entry of this part's attempt, made when absent. */
static struct tally_split *split_of(struct tally *t, const struct tally_in *in, int64_t offset)
{
    for (size_t i = 0; i < t->n_splits; i++) {
        struct tally_split *s = &t->splits[i];
        if (s->index == in->index && s->attempt == in->attempt && s->parts == in->parts)
            return s;
    }
    if (t->n_splits == MAX_SPLITS) {
        size_t oldest = 0;
        for (size_t i = 1; i < t->n_splits; i++)
            if (t->splits[i].first_offset < t->splits[oldest].first_offset)
                oldest = i;
        split_remove(t, oldest);
    }
    if (t->n_splits == t->cap_splits) {
        t->cap_splits = t->cap_splits ? t->cap_splits * 2 : 4;
        t->splits = realloc(t->splits, t->cap_splits * sizeof(*t->splits));
        if (!t->splits)
            abort();
    }
    struct tally_split *s = &t->splits[t->n_splits++];
    *s = (struct tally_split){in->index, in->attempt, in->parts,
                              0,         offset,      calloc(1, (size_t)(in->parts + 7) / 8)};
    if (!s->seen)
        abort();
    return s;
}

/* The counter of an unknown status name, added when new (NULL when the
 * batch has TALLY_MAX_OTHERS already). */
static long long *other_count(struct tally *t, const char *name)
{
    for (size_t i = 0; i < t->n_others; i++)
        if (strcmp(t->others[i].name, name) == 0)
            return &t->others[i].n;
    if (t->n_others == TALLY_MAX_OTHERS)
        return NULL;
    if (!t->others && !(t->others = calloc(TALLY_MAX_OTHERS, sizeof(*t->others))))
        abort();
    struct tally_other *o = &t->others[t->n_others++];
    snprintf(o->name, sizeof(o->name), "%s", name);
    o->n = 0;
    return &o->n;
}

static void track_offsets(struct tally *t, int64_t offset)
{
    if (t->res_first < 0 || offset < t->res_first)
        t->res_first = offset;
    if (offset > t->res_last)
        t->res_last = offset;
}

enum tally_outcome tally_count(struct tally *t, const struct tally_in *in, int64_t ts_ms,
                               int64_t offset, long long max_index, int64_t *first_offset)
{
    if (t->done)
        return TALLY_DUPLICATE;
    if (in->index < 0 || (t->known ? in->index >= t->total : in->index >= max_index))
        return TALLY_OUT_OF_RANGE;
    if (tally_seen(t, in->index))
        return TALLY_DUPLICATE;
    long long *failed = NULL;
    if (in->status == STATUS_UNKNOWN && !(failed = other_count(t, in->other)))
        return TALLY_REFUSED;
    *first_offset = offset;
    if (in->parts > 0) {
        struct tally_split *s = split_of(t, in, offset);
        if (bit_get(s->seen, (size_t)(s->parts + 7) / 8, in->part - 1))
            return TALLY_DUPLICATE;
        bit_set(s->seen, in->part - 1);
        if (offset < s->first_offset)
            s->first_offset = offset;
        /* Every part's offset is in the range, so a read-back finds them. */
        track_offsets(t, offset);
        t->dirty = 1;
        if (++s->got < s->parts)
            return TALLY_PART;
        *first_offset = s->first_offset;
    }
    /* Counted: other attempts' parts of this item are duplicates now. */
    for (size_t i = t->n_splits; i-- > 0;)
        if (t->splits[i].index == in->index)
            split_remove(t, i);
    bits_reserve(t, in->index + 1);
    bit_set(t->bits, in->index);
    t->processed++;
    t->credits += in->credits;
    if (in->has_change)
        t->changes[in->change]++;
    if (in->status == STATUS_UNKNOWN)
        (*failed)++;
    else if (status_counts(in->status) == STATUS_SUCCEEDED)
        t->succeeded++;
    else
        t->errors[in->status]++;
    if (!t->first_ms || ts_ms < t->first_ms)
        t->first_ms = ts_ms;
    if (ts_ms > t->last_ms)
        t->last_ms = ts_ms;
    track_offsets(t, offset);
    t->dirty = t->progress = 1;
    return TALLY_COUNTED;
}

int tally_complete(const struct tally *t)
{
    return t->known && !t->done && t->processed >= t->total;
}

void tally_finish(struct tally *t, int64_t now_ms)
{
    t->done = 1;
    t->done_ms = now_ms;
    json_decref(t->record);
    t->record = NULL;
    free(t->record_text);
    t->record_text = NULL;
    free(t->bits);
    t->bits = NULL;
    t->bits_len = 0;
    splits_clear(t);
    t->dirty = 1;
    t->progress = 0;
}

/* ------------------------------------------------------------ changelog */

/* Base64 of n bytes at out (room for 4 * ((n + 2) / 3) + 1). */
static size_t put_b64(char *out, const uint8_t *p, size_t n)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

/* Decodes base64 into out (cap bytes; the rest stays zero). -1 when bad. */
static int get_b64(const char *b64, uint8_t *out, size_t cap)
{
    size_t len = strlen(b64);
    if (len % 4)
        return -1;
    if (!len)
        return 0;
    /* EVP_DecodeBlock counts the padding as zero bytes: harmless here,
     * they are zero bits. */
    unsigned char *tmp = malloc(len / 4 * 3 + 3);
    if (!tmp)
        abort();
    int got = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)len);
    if (got >= 0)
        memcpy(out, tmp, (size_t)got < cap ? (size_t)got : cap);
    free(tmp);
    return got < 0 ? -1 : 0;
}

char *tally_encode(struct tally *t, size_t *len)
{
    size_t used = t->bits_len, rec_len = 0, splits_len = 0;
    /* Only up to the highest set byte: a large batch early in its run, or
     * a pending one, stays small. */
    while (used > 0 && t->bits[used - 1] == 0)
        used--;
    if (t->record && !t->record_text)
        t->record_text = jx_dump(t->record, NULL);
    if (t->record_text)
        rec_len = strlen(t->record_text);
    for (size_t i = 0; i < t->n_splits; i++)
        splits_len += 96 + 4 * ((size_t)(t->splits[i].parts + 7) / 8 + 2) / 3;
    /* 1024: the fixed fields; 48 per error count */
    size_t cap = 1024 + 48 * (STATUS__COUNT + TALLY_MAX_OTHERS) + 4 * ((used + 2) / 3) + rec_len +
                 splits_len;
    char *out = malloc(cap);
    if (!out)
        abort();
    int n = snprintf(out, cap,
                     "{\"" SCHEMA_VERSION_KEY "\":%d,\"known\":%s,\"done\":%s,\"cancelled\":%s,"
                     "\"seen_ms\":%lld",
                     SCHEMA_STATE, t->known ? "true" : "false", t->done ? "true" : "false",
                     t->cancelled ? "true" : "false", (long long)t->seen_ms);
    if (t->done) {
        n += snprintf(out + n, cap - (size_t)n, ",\"done_ms\":%lld}", (long long)t->done_ms);
        *len = (size_t)n;
        return out;
    }
    n += snprintf(out + n, cap - (size_t)n,
                  ",\"started_ms\":%lld,\"processed\":%lld,\"succeeded\":%lld,\"credits\":%lld,"
                  "\"billed\":[%lld,%lld,%lld,%lld,%lld],\"errors\":{",
                  (long long)t->started_ms, t->processed, t->succeeded, t->credits,
                  t->billed.batches, t->billed.items, t->billed.succeeded, t->billed.failed,
                  t->billed.credits);
    const char *sep = "";
    for (int i = 0; i < STATUS__COUNT; i++)
        if (t->errors[i]) {
            n += snprintf(out + n, cap - (size_t)n, "%s\"%s\":%lld", sep, status_name(i),
                          t->errors[i]);
            sep = ",";
        }
    for (size_t i = 0; i < t->n_others; i++) {
        n += snprintf(out + n, cap - (size_t)n, "%s\"%s\":%lld", sep, t->others[i].name,
                      t->others[i].n);
        sep = ",";
    }
    n += snprintf(out + n, cap - (size_t)n, "}");
    if (t->changes[CHANGE_NEW] || t->changes[CHANGE_SAME] || t->changes[CHANGE_CHANGED])
        n += snprintf(out + n, cap - (size_t)n, ",\"changes\":[%lld,%lld,%lld]",
                      t->changes[CHANGE_NEW], t->changes[CHANGE_SAME], t->changes[CHANGE_CHANGED]);
    n += snprintf(out + n, cap - (size_t)n,
                  ",\"first_ms\":%lld,\"last_ms\":%lld,\"res_first\":%lld,\"res_last\":%lld",
                  (long long)t->first_ms, (long long)t->last_ms, (long long)t->res_first,
                  (long long)t->res_last);
    if (t->record_text) {
        n += snprintf(out + n, cap - (size_t)n, ",\"record\":");
        memcpy(out + n, t->record_text, rec_len);
        n += (int)rec_len;
    }
    if (t->n_splits) {
        /* [index, attempt (hex), parts, first_offset, parts seen (base64)] */
        n += snprintf(out + n, cap - (size_t)n, ",\"splits\":[");
        for (size_t i = 0; i < t->n_splits; i++) {
            const struct tally_split *s = &t->splits[i];
            n += snprintf(out + n, cap - (size_t)n, "%s[%lld,\"%016llx\",%d,%lld,\"", i ? "," : "",
                          s->index, (unsigned long long)s->attempt, s->parts,
                          (long long)s->first_offset);
            n += (int)put_b64(out + n, s->seen, (size_t)(s->parts + 7) / 8);
            n += snprintf(out + n, cap - (size_t)n, "\"]");
        }
        out[n++] = ']';
    }
    n += snprintf(out + n, cap - (size_t)n, ",\"bits\":\"");
    n += (int)put_b64(out + n, t->bits, used);
    out[n++] = '"';
    out[n++] = '}';
    out[n] = '\0';
    *len = (size_t)n;
    return out;
}

/* Version 1 wrote the error counts as an array in this order. */
static const enum status v1_codes[] = {
    STATUS_TIMEOUT,   STATUS_DNS,     STATUS_CONNECT,     STATUS_TLS,       STATUS_HTTP_ERROR,
    STATUS_TOO_LARGE, STATUS_BLOCKED, STATUS_INVALID_URL, STATUS_CANCELLED,
};

static void decode_errors(struct tally *t, const json_t *errs)
{
    if (json_is_array(errs)) {
        for (size_t i = 0; i < sizeof(v1_codes) / sizeof(v1_codes[0]); i++)
            t->errors[v1_codes[i]] = json_integer_value(json_array_get(errs, i));
        return;
    }
    const char *k;
    const json_t *n;
    json_object_foreach((json_t *)errs, k, n)
    {
        if (strlen(k) >= TALLY_NAME_MAX)
            continue;
        enum status st = status_parse(k, strlen(k));
        long long *c = st == STATUS_UNKNOWN                    ? other_count(t, k)
                       : status_counts(st) == STATUS_SUCCEEDED ? NULL
                                                               : &t->errors[st];
        if (c)
            *c = json_integer_value(n);
    }
}

static int decode_splits(struct tally *t, const json_t *arr)
{
    size_t i;
    const json_t *row;
    json_array_foreach(arr, i, row)
    {
        const char *attempt = json_string_value(json_array_get(row, 1));
        const char *seen = json_string_value(json_array_get(row, 4));
        struct tally_in in = {.index = json_integer_value(json_array_get(row, 0)),
                              .parts = (int)json_integer_value(json_array_get(row, 2))};
        if (!attempt || !seen || in.index < 0 || in.parts < 2 || in.parts > 1000000)
            return -1;
        in.attempt = strtoull(attempt, NULL, 16);
        struct tally_split *s = split_of(t, &in, json_integer_value(json_array_get(row, 3)));
        if (get_b64(seen, s->seen, (size_t)(s->parts + 7) / 8))
            return -1;
        for (int p = 0; p < s->parts; p++)
            s->got += bit_get(s->seen, (size_t)(s->parts + 7) / 8, p);
    }
    return 0;
}

struct tally *tally_decode(const char *id, int32_t partition, const json_t *v, char *errstr,
                           size_t errstr_size)
{
    struct tally *t = tally_new(id, partition, 0);
    /* Versions 1 to 3 named the member "v"; 4 is 3 under the name every
     * message uses (schema.h). */
    int named = json_object_get(v, SCHEMA_VERSION_KEY) != NULL;
    long long version = named ? jx_int(v, SCHEMA_VERSION_KEY, 0) : jx_int(v, "v", 0);
    if (!json_is_object(v) || version < (named ? 4 : 1) || version > (named ? SCHEMA_STATE : 3)) {
        snprintf(errstr, errstr_size, "not a version 1 to %d state", SCHEMA_STATE);
        goto err;
    }
    t->known = jx_bool(v, "known", 0);
    t->done = jx_bool(v, "done", 0);
    t->cancelled = jx_bool(v, "cancelled", 0);
    t->seen_ms = jx_int(v, "seen_ms", 0);
    if (t->done) {
        t->done_ms = jx_int(v, "done_ms", 0);
        t->billable = 0;
        return t;
    }
    t->started_ms = jx_int(v, "started_ms", 0);
    t->processed = jx_int(v, "processed", 0);
    t->succeeded = jx_int(v, "succeeded", 0);
    /* Version 1 predates credits: every success cost one. */
    t->credits = jx_int(v, "credits", t->succeeded);
    decode_errors(t, json_object_get(v, "errors"));
    /* Before version 3 nothing was billed. */
    const json_t *billed = json_object_get(v, "billed");
    long long *b[] = {&t->billed.batches, &t->billed.items, &t->billed.succeeded, &t->billed.failed,
                      &t->billed.credits};
    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++)
        *b[i] = json_integer_value(json_array_get(billed, i));
    /* [new, same, changed]: absent before change tracking, and while a
     * tracked run has counted none. */
    const json_t *ch = json_object_get(v, "changes");
    for (int i = 0; i < CHANGE__COUNT && json_is_array(ch); i++)
        t->changes[i] = json_integer_value(json_array_get(ch, (size_t)i));
    t->first_ms = jx_int(v, "first_ms", 0);
    t->last_ms = jx_int(v, "last_ms", 0);
    t->res_first = jx_int(v, "res_first", -1);
    t->res_last = jx_int(v, "res_last", -1);
    json_t *record = json_object_get(v, "record");
    if (t->known) {
        if (!json_is_object(record)) {
            snprintf(errstr, errstr_size, "known batch without its record");
            goto err;
        }
        tally_set_record(t, record, t->started_ms);
    }
    const char *b64 = jx_str(v, "bits", "");
    size_t raw = strlen(b64) / 4 * 3;
    if (raw)
        bits_reserve(t, (long long)raw * 8);
    if (get_b64(b64, t->bits, t->bits_len)) {
        snprintf(errstr, errstr_size, "bits: bad base64");
        goto err;
    }
    if (decode_splits(t, json_object_get(v, "splits"))) {
        snprintf(errstr, errstr_size, "splits: not [index, attempt, parts, offset, seen] rows");
        goto err;
    }
    t->dirty = 0;
    t->progress = 0;
    return t;
err:
    tally_free(t);
    return NULL;
}
