#include "usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "scan.h"

void usage_init(struct usage *u)
{
    memset(u, 0, sizeof(*u));
    u->rows = (struct strmap)STRMAP_INIT;
}

void usage_release(struct usage *u)
{
    strmap_release(&u->rows, free);
    memset(u, 0, sizeof(*u));
}

static struct usage_row *row_of(struct usage *u, const struct usagerec *key)
{
    char k[USAGEREC_KEY_MAX];
    usagerec_key(key, k);
    struct usage_row *row = strmap_get(&u->rows, k);
    if (!row) {
        if (!(row = calloc(1, sizeof(*row))))
            abort();
        row->r = *key;
        memset(&row->r.c, 0, sizeof(row->r.c));
        strmap_put(&u->rows, k, row, NULL);
    }
    return row;
}

static void fill_key(struct usagerec *key, int32_t partition, const char *tenant, int64_t now_ms)
{
    memset(key, 0, sizeof(*key));
    usagerec_date(now_ms, key->date);
    key->partition = partition;
    snprintf(key->tenant, sizeof(key->tenant), "%s", tenant);
}

void usage_add(struct usage *u, int32_t partition, const char *tenant, int64_t now_ms,
               const struct usage_counts *add)
{
    struct usagerec key;
    fill_key(&key, partition, tenant, now_ms);
    struct usage_row *row = row_of(u, &key);
    usage_counts_add(&row->r.c, add);
    if (!row->dirty) {
        row->dirty = 1;
        u->n_dirty++;
    }
}

int usage_bill(struct usage *u, struct tally *t, int64_t now_ms)
{
    if (!t->known || !t->billable)
        return 0;
    struct tally_billed now = {
        .batches = 1,
        .items = t->total,
        .succeeded = t->succeeded,
        .failed = t->processed - t->succeeded,
        .credits = t->credits,
    };
    struct usage_counts add = {
        .batches = now.batches - t->billed.batches,
        .items = now.items - t->billed.items,
        .succeeded = now.succeeded - t->billed.succeeded,
        .failed = now.failed - t->billed.failed,
        .credits = now.credits - t->billed.credits,
    };
    if (!add.batches && !add.items && !add.succeeded && !add.failed && !add.credits)
        return 0;
    usage_add(u, t->partition, t->tenant, now_ms, &add);
    t->billed = now;
    t->dirty = 1;
    return 1;
}

void usage_bill_dirty(struct usage *u, struct state *s, int64_t now_ms)
{
    size_t pos = 0;
    struct tally *t;
    while (state_next(s, &pos, &t))
        if (t->dirty)
            usage_bill(u, t, now_ms);
}

void usage_flush(struct usage *u, struct txn *x, const char *topic)
{
    size_t pos = 0;
    const char *key;
    void *v;
    if (!u->n_dirty)
        return;
    int64_t now = clk_now_ms();
    while (strmap_next(&u->rows, &pos, &key, &v)) {
        struct usage_row *row = v;
        if (!row->dirty)
            continue;
        size_t len;
        char *json = usagerec_json(&row->r, now, &len);
        txn_produce(x, topic, row->r.partition, key, strlen(key), json, len, NULL);
        free(json);
        row->dirty = 0;
    }
    u->n_dirty = 0;
}

void usage_drop_partition(struct usage *u, int32_t partition)
{
    size_t pos = 0;
    const char *key;
    void *v;
    while (strmap_next(&u->rows, &pos, &key, &v)) {
        struct usage_row *row = v;
        if (row->r.partition != partition)
            continue;
        if (row->dirty)
            u->n_dirty--;
        free(strmap_remove(&u->rows, key));
    }
}

void usage_trim(struct usage *u, int64_t now_ms)
{
    char yesterday[USAGEREC_DATE_LEN];
    size_t pos = 0;
    const char *key;
    void *v;
    usagerec_date(now_ms - 86400000, yesterday);
    while (strmap_next(&u->rows, &pos, &key, &v)) {
        struct usage_row *row = v;
        /* Dates compare as strings: YYYY-MM-DD. */
        if (!row->dirty && strcmp(row->r.date, yesterday) < 0)
            free(strmap_remove(&u->rows, key));
    }
}

static int on_record(void *arg, const rd_kafka_message_t *m)
{
    struct usage *u = arg;
    struct usagerec r;
    if (!m->payload) /* a tombstone: nothing ever writes one, but tolerate it */
        return 0;
    if (usagerec_parse(&r, m->payload, m->len) || r.partition != m->partition) {
        u->restore_bad++;
        return 0;
    }
    struct usage_row *row = row_of(u, &r);
    row->r.c = r.c; /* cumulative: the newest record of a key is the row */
    return 0;
}

void usage_restore_begin(struct usage *u, const char *topic, const int32_t *nums, size_t n,
                         struct scan_topic *t)
{
    for (size_t i = 0; i < n; i++)
        usage_drop_partition(u, nums[i]);
    u->restore_bad = 0;
    *t = (struct scan_topic){topic, on_record, u};
}

void usage_restore_done(struct usage *u)
{
    if (u->restore_bad)
        LOG_WARN("usage_bad_records", "bad=%zu", u->restore_bad);
    usage_trim(u, clk_now_ms());
}

const struct usage_row *usage_get(const struct usage *u, int32_t partition, const char *tenant,
                                  const char *date)
{
    struct usagerec key;
    char k[USAGEREC_KEY_MAX];
    memset(&key, 0, sizeof(key));
    snprintf(key.date, sizeof(key.date), "%s", date);
    key.partition = partition;
    snprintf(key.tenant, sizeof(key.tenant), "%s", tenant);
    usagerec_key(&key, k);
    return strmap_get(&u->rows, k);
}
