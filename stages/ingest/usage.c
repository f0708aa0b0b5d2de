#include "usage.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct usage {
    pthread_rwlock_t lock;
    struct strmap rows; /* usagerec key -> struct usagerec: the newest record */
    struct strmap days; /* "<tenant>\n<date>" -> struct usage_counts: summed over partitions */
};

struct usage *usage_new(void)
{
    struct usage *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    pthread_rwlock_init(&u->lock, NULL);
    u->rows = (struct strmap)STRMAP_INIT;
    u->days = (struct strmap)STRMAP_INIT;
    return u;
}

void usage_free(struct usage *u)
{
    if (!u)
        return;
    strmap_release(&u->rows, free);
    strmap_release(&u->days, free);
    pthread_rwlock_destroy(&u->lock);
    free(u);
}

/* A tenant name is letters, digits, '-', '_' and '.' (keys.c): never a newline. */
static void day_key(const char *tenant, const char *date, char out[USAGEREC_KEY_MAX])
{
    snprintf(out, USAGEREC_KEY_MAX, "%s\n%s", tenant, date);
}

int usage_put(struct usage *u, const char *value, size_t len)
{
    struct usagerec r;
    char key[USAGEREC_KEY_MAX], dk[USAGEREC_KEY_MAX];
    if (!value || usagerec_parse(&r, value, len))
        return -1;
    usagerec_key(&r, key);
    day_key(r.tenant, r.date, dk);
    pthread_rwlock_wrlock(&u->lock);
    struct usagerec *row = strmap_get(&u->rows, key);
    struct usage_counts *day = strmap_get(&u->days, dk);
    if (!row && (row = calloc(1, sizeof(*row))))
        strmap_put(&u->rows, key, row, NULL);
    if (!day && (day = calloc(1, sizeof(*day))))
        strmap_put(&u->days, dk, day, NULL);
    if (row && day) {
        /* The day's sum moves by what this record adds to the one it
         * replaces (the first of a key replaces zeros). */
#define X(name) day->name += r.c.name - row->c.name;
        USAGE_FIELDS(X)
#undef X
        *row = r;
    }
    pthread_rwlock_unlock(&u->lock);
    return 0;
}

/* Under a lock. */
static void day_of(struct usage *u, const char *tenant, int64_t days, struct usage_counts *out)
{
    char date[USAGEREC_DATE_LEN], dk[USAGEREC_KEY_MAX];
    usagerec_format_days(days, date);
    day_key(tenant, date, dk);
    const struct usage_counts *c = strmap_get(&u->days, dk);
    if (c)
        *out = *c;
    else
        memset(out, 0, sizeof(*out));
}

void usage_day(struct usage *u, const char *tenant, int64_t days, struct usage_counts *out)
{
    pthread_rwlock_rdlock(&u->lock);
    day_of(u, tenant, days, out);
    pthread_rwlock_unlock(&u->lock);
}

static json_t *counts_json(const struct usage_counts *c, const char *date)
{
    json_t *o = json_object();
    if (date)
        json_object_set_new(o, "date", json_string(date));
#define X(name) json_object_set_new(o, #name, json_integer(c->name));
    USAGE_FIELDS(X)
#undef X
    return o;
}

json_t *usage_report(struct usage *u, const char *tenant, int64_t from, int64_t to)
{
    char date[USAGEREC_DATE_LEN];
    struct usage_counts total = {0}, c;
    json_t *days = json_array(), *out = json_object();
    pthread_rwlock_rdlock(&u->lock);
    for (int64_t d = from; d <= to; d++) {
        day_of(u, tenant, d, &c);
        usagerec_format_days(d, date);
        json_array_append_new(days, counts_json(&c, date));
        usage_counts_add(&total, &c);
    }
    pthread_rwlock_unlock(&u->lock);
    usagerec_format_days(from, date);
    json_object_set_new(out, "from", json_string(date));
    usagerec_format_days(to, date);
    json_object_set_new(out, "to", json_string(date));
    json_object_set_new(out, "days", days);
    json_object_set_new(out, "total", counts_json(&total, NULL));
    return out;
}

size_t usage_rows(struct usage *u)
{
    pthread_rwlock_rdlock(&u->lock);
    size_t n = strmap_size(&u->rows);
    pthread_rwlock_unlock(&u->lock);
    return n;
}
