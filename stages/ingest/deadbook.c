#include "deadbook.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ids.h"
#include "jx.h"
#include "msindex.h"
#include "strmap.h"

#define DLV_MAX 64

struct dead {
    char delivery_id[DLV_MAX];
    char batch_id[64];
    int64_t ms; /* when the dead attempt started */
    char *text; /* the attempt record without its tenant (compact JSON) */
    size_t text_len;
    int has_task;
    struct table_task task;
};

/* A tenant's dead deliveries: sorted by (ms, delivery id), and by id. */
struct dlist {
    struct msindex x;    /* values: struct dead (owned) */
    struct strmap by_id; /* delivery id -> the same struct dead */
};

struct deadbook {
    pthread_rwlock_t lock;
    struct strmap tenants; /* tenant -> struct dlist (owned) */
};

struct deadbook *deadbook_new(void)
{
    struct deadbook *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    pthread_rwlock_init(&d->lock, NULL);
    d->tenants = (struct strmap)STRMAP_INIT;
    return d;
}

static void dead_free(struct dead *x)
{
    if (x)
        free(x->text);
    free(x);
}

static void dlist_free(void *p)
{
    struct dlist *l = p;
    for (size_t i = 0; i < l->x.n; i++)
        dead_free(l->x.v[i].value);
    msindex_release(&l->x);
    strmap_release(&l->by_id, NULL);
    free(l);
}

void deadbook_free(struct deadbook *d)
{
    if (!d)
        return;
    strmap_release(&d->tenants, dlist_free);
    pthread_rwlock_destroy(&d->lock);
    free(d);
}

/* Under the write lock: takes x off l (and frees it). */
static void dlist_del(struct dlist *l, struct dead *x)
{
    msindex_del(&l->x, x->ms, x->delivery_id);
    strmap_remove(&l->by_id, x->delivery_id);
    dead_free(x);
}

/* Under the write lock: puts x in l (owned from here, freed on failure). */
static void dlist_add(struct dlist *l, struct dead *x)
{
    if (l->x.n == DEADBOOK_KEPT)
        dlist_del(l, l->x.v[0].value); /* the oldest goes */
    if (msindex_add(&l->x, x->ms, x->delivery_id, x)) {
        dead_free(x);
        return;
    }
    strmap_put(&l->by_id, x->delivery_id, x, NULL);
}

/* A new entry from a dead attempt record (tenant already taken out). */
static struct dead *dead_of(const json_t *a, const char *delivery_id)
{
    struct dead *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    snprintf(x->delivery_id, sizeof(x->delivery_id), "%s", delivery_id);
    snprintf(x->batch_id, sizeof(x->batch_id), "%s", jx_str(a, "batch_id", ""));
    if (clk_parse_iso8601(jx_str(a, "at", ""), &x->ms))
        x->ms = 0;
    json_t *task = json_object_get(a, "task");
    const char *topic = jx_str(task, "topic", NULL);
    if (topic && json_is_integer(json_object_get(task, "partition")) &&
        json_is_integer(json_object_get(task, "offset"))) {
        x->has_task = 1;
        snprintf(x->task.topic, sizeof(x->task.topic), "%s", topic);
        x->task.partition = (int32_t)jx_int(task, "partition", 0);
        x->task.offset = jx_int(task, "offset", 0);
        snprintf(x->task.delivery_id, sizeof(x->task.delivery_id), "%s", delivery_id);
        snprintf(x->task.event, sizeof(x->task.event), "%s", jx_str(a, "event", ""));
    }
    /* The answer's excerpt, shortened: the list keeps up to DEADBOOK_KEPT
     * per tenant, the batch's own deliveries keep the whole 4 KB. */
    const char *rb = jx_str(a, "response_body", NULL);
    size_t rn = rb ? strlen(rb) : 0;
    /* The record is the status table's too: the cut is made on a copy. */
    json_t *own = NULL;
    if (rn > DEADBOOK_EXCERPT) {
        rn = DEADBOOK_EXCERPT;
        while (rn > 0 && ((unsigned char)rb[rn] & 0xC0) == 0x80)
            rn--; /* not inside a UTF-8 sequence */
        own = json_copy((json_t *)a);
        json_object_set_new(own, "response_body", json_stringn(rb, rn));
    }
    x->text = jx_dump(own ? own : a, &x->text_len);
    json_decref(own);
    if (!x->text) {
        free(x);
        return NULL;
    }
    return x;
}

int deadbook_put_attempt(struct deadbook *d, const json_t *a, const char *who)
{
    const char *id = jx_str(a, "delivery_id", NULL);
    if (!who[0] || !id || strlen(id) >= DLV_MAX)
        return -1;
    int dead = strcmp(jx_str(a, "outcome", ""), "dead") == 0;
    struct dead *x = dead ? dead_of(a, id) : NULL; /* built outside the lock */
    pthread_rwlock_wrlock(&d->lock);
    struct dlist *l = strmap_get(&d->tenants, who);
    if (!l && x && (l = calloc(1, sizeof(*l)))) {
        l->by_id = (struct strmap)STRMAP_INIT;
        strmap_put(&d->tenants, who, l, NULL);
    }
    struct dead *old = l ? strmap_get(&l->by_id, id) : NULL;
    if (old)
        dlist_del(l, old); /* any newer attempt ends its being dead */
    if (x && l)
        dlist_add(l, x);
    else
        dead_free(x);
    pthread_rwlock_unlock(&d->lock);
    return 0;
}

/* A cursor is "<ms>.<delivery id>": where a page ended. */
static int parse_cursor(const char *c, int64_t *ms, char id[DLV_MAX])
{
    if (msindex_cursor_parse(c, "dlv_0123456789abcdef", ms, id, DLV_MAX))
        return -1;
    return ids_delivery_valid(id) ? 0 : -1;
}

int deadbook_page(struct deadbook *d, const char *tenant, int limit, const char *cursor,
                  struct buf *out, char next_cursor[DEADBOOK_CURSOR_MAX], size_t *total)
{
    int64_t ms = 0;
    char id[DLV_MAX];
    next_cursor[0] = '\0';
    *total = 0;
    if (cursor && parse_cursor(cursor, &ms, id))
        return -1;
    pthread_rwlock_rdlock(&d->lock);
    const struct dlist *l = strmap_get(&d->tenants, tenant);
    size_t end = !l ? 0 : cursor ? msindex_lower(&l->x, ms, id) : l->x.n;
    size_t first = end > (size_t)limit ? end - (size_t)limit : 0;
    for (size_t j = end; j-- > first;) {
        if (j + 1 < end)
            buf_addc(out, ',');
        const struct dead *x = l->x.v[j].value;
        buf_add(out, x->text, x->text_len);
    }
    if (first > 0)
        snprintf(next_cursor, DEADBOOK_CURSOR_MAX, "%lld.%s", (long long)l->x.v[first].ms,
                 l->x.v[first].id);
    *total = l ? l->x.n : 0;
    pthread_rwlock_unlock(&d->lock);
    return 0;
}

int deadbook_task(struct deadbook *d, const char *tenant, const char *delivery_id,
                  struct table_task *out, char batch_id[64])
{
    int rc = -1;
    pthread_rwlock_rdlock(&d->lock);
    const struct dlist *l = strmap_get(&d->tenants, tenant);
    const struct dead *x = l ? strmap_get(&l->by_id, delivery_id) : NULL;
    if (x) {
        rc = x->has_task ? 0 : -2;
        *out = x->task;
        memcpy(batch_id, x->batch_id, sizeof(x->batch_id));
    }
    pthread_rwlock_unlock(&d->lock);
    return rc;
}
