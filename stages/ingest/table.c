#include "table.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ids.h"
#include "jx.h"
#include "msindex.h"
#include "strmap.h"

#define ID_MAX 48

struct entry {
    char id[ID_MAX];
    char tenant[64];
    /* The rendered GET answer: the status document without its tenant,
     * webhook state folded in. Kept as text only (a parsed tree costs
     * several times more), re-parsed on the rare change. NULL until a
     * status record came. */
    char *body;
    size_t body_len;
    char **att; /* ring of the newest attempts (compact JSON); allocated on the first */
    size_t att_head, att_n;
    long long att_total;
    /* Webhook state, from the batch.* attempts. */
    long long wh_attempts;
    const char *wh_status; /* "pending", "retrying", "delivered", "failed" */
    json_t *delivered_at, *last_error;
    struct table_task *task; /* NULL until a batch.* attempt pointed at one */
    struct table_load load;  /* what it adds to its tenant's load */
    /* For listings, from the document (valid while body is set). */
    int64_t created_ms;
    char status[16], kind[16];
    int listed; /* in its tenant's list */
};

/* A tenant's batches with a document, sorted by (created_ms, id). */
struct tlist {
    struct msindex x;
};

struct table {
    table_run_fn on_run;
    void *on_run_arg;
    pthread_rwlock_t lock;
    struct strmap by_id; /* batch id -> struct entry (owned) */
    struct strmap loads; /* tenant -> struct table_load (owned): its entries' sum */
    struct strmap lists; /* tenant -> struct tlist (owned) */
    size_t n_docs;
};

struct table *table_new(void)
{
    struct table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    pthread_rwlock_init(&t->lock, NULL);
    t->by_id = (struct strmap)STRMAP_INIT;
    t->loads = (struct strmap)STRMAP_INIT;
    t->lists = (struct strmap)STRMAP_INIT;
    return t;
}

static void entry_free(struct entry *e)
{
    free(e->body);
    for (size_t i = 0; i < e->att_n; i++)
        free(e->att[i]);
    free(e->att);
    free(e->task);
    json_decref(e->delivered_at);
    json_decref(e->last_error);
    free(e);
}

static void entry_free_fn(void *e)
{
    entry_free(e);
}

static void tlist_free(void *p)
{
    struct tlist *l = p;
    msindex_release(&l->x);
    free(l);
}

void table_free(struct table *t)
{
    if (!t)
        return;
    strmap_release(&t->lists, tlist_free);
    strmap_release(&t->by_id, entry_free_fn);
    strmap_release(&t->loads, free);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

/* Under the write lock. */
static struct entry *get_or_add(struct table *t, const char *id)
{
    if (strlen(id) >= ID_MAX)
        return NULL;
    struct entry *e = strmap_get(&t->by_id, id);
    if (e)
        return e;
    if (!(e = calloc(1, sizeof(*e))))
        return NULL;
    strcpy(e->id, id);
    e->wh_status = "pending";
    strmap_put(&t->by_id, id, e, NULL);
    return e;
}

/* ---- the tenants' loads (under the write lock) */

/* What an unfinished batch's document adds to its tenant's load: its items
 * without a result, what they could cost, and the pace it goes at (items
 * counted since it started, per second). A finished one adds nothing. */
static struct table_load load_of(const json_t *doc)
{
    struct table_load l = {0};
    const char *state = jx_str(doc, "status", "");
    if (strcmp(state, "queued") != 0 && strcmp(state, "running") != 0)
        return l;
    long long total = jx_int(doc, "total", 0), processed = jx_int(doc, "processed", 0);
    long long cost = jx_int(doc, "credits_per_item", 1);
    int64_t started, updated;
    l.active_items = total > processed ? total - processed : 0;
    l.credits_reserved = l.active_items * (cost > 0 ? cost : 0);
    if (processed > 0 && clk_parse_iso8601(jx_str(doc, "started_at", ""), &started) == 0 &&
        clk_parse_iso8601(jx_str(doc, "updated_at", ""), &updated) == 0 && updated > started) {
        l.items_per_s = (double)processed * 1000.0 / (double)(updated - started);
        l.credits_per_s = l.items_per_s * (double)(cost > 0 ? cost : 0);
    }
    return l;
}

/* Adds sign * l to tenant's load; a load back at zero is let go. */
static void load_add(struct table *t, const char *tenant, const struct table_load *l, int sign)
{
    if (!l->active_items && !l->credits_reserved && !l->items_per_s)
        return;
    struct table_load *sum = strmap_get(&t->loads, tenant);
    if (!sum) {
        if (sign < 0 || !(sum = calloc(1, sizeof(*sum))))
            return;
        strmap_put(&t->loads, tenant, sum, NULL);
    }
    sum->active_items += sign * l->active_items;
    sum->credits_reserved += sign * l->credits_reserved;
    sum->items_per_s += sign * l->items_per_s;
    sum->credits_per_s += sign * l->credits_per_s;
    if (sum->active_items <= 0 && sum->credits_reserved <= 0)
        free(strmap_remove(&t->loads, tenant));
}

void table_load(struct table *t, const char *tenant, struct table_load *out)
{
    pthread_rwlock_rdlock(&t->lock);
    const struct table_load *sum = strmap_get(&t->loads, tenant);
    if (sum)
        *out = *sum;
    else
        memset(out, 0, sizeof(*out));
    pthread_rwlock_unlock(&t->lock);
}

/* ---- the per-tenant lists (under the write lock) */

static void list_add(struct table *t, struct entry *e)
{
    struct tlist *l = strmap_get(&t->lists, e->tenant);
    if (!l) {
        if (!(l = calloc(1, sizeof(*l))))
            return;
        strmap_put(&t->lists, e->tenant, l, NULL);
    }
    if (msindex_add(&l->x, e->created_ms, e->id, e))
        return; /* out of memory: the batch is not listed, still served */
    e->listed = 1;
}

static void list_del(struct table *t, struct entry *e)
{
    struct tlist *l = e->listed ? strmap_get(&t->lists, e->tenant) : NULL;
    e->listed = 0;
    if (l)
        msindex_del(&l->x, e->created_ms, e->id);
}

/* Status documents from before schema_version (schema.h) give the
 * results' location as `results: {topic, ...}`; the API answers it as
 * `kafka: {results_topic, ...}`, and `results` only with ?include=results. */
static void location_as_kafka(json_t *doc)
{
    json_t *old = json_object_get(doc, "results");
    if (old && !json_object_get(doc, "kafka")) {
        json_t *k = json_null();
        if (json_is_object(old))
            k = json_pack("{s:O?,s:O?,s:O?,s:O?}", "results_topic", json_object_get(old, "topic"),
                          "partition", json_object_get(old, "partition"), "first_offset",
                          json_object_get(old, "first_offset"), "last_offset",
                          json_object_get(old, "last_offset"));
        json_object_set_new(doc, "kafka", k ? k : json_null());
    }
    json_object_del(doc, "results");
}

/* Folds the webhook state into doc (status without tenant; stolen) and
 * renders it as the entry's answer. */
static void render(struct entry *e, json_t *doc)
{
    location_as_kafka(doc);
    json_t *wh = json_object_get(doc, "webhook");
    if (json_is_object(wh)) {
        json_object_set_new(wh, "status", json_string(e->wh_status));
        json_object_set_new(wh, "attempts", json_integer(e->wh_attempts));
        json_object_set(wh, "delivered_at", e->delivered_at ? e->delivered_at : json_null());
        json_object_set(wh, "last_error", e->last_error ? e->last_error : json_null());
    }
    size_t len = 0;
    char *body = jx_dump(doc, &len);
    json_decref(doc);
    if (!body)
        return; /* out of memory: keep the previous answer */
    free(e->body);
    e->body = body;
    e->body_len = len;
}

void table_on_run(struct table *t, table_run_fn fn, void *arg)
{
    t->on_run = fn;
    t->on_run_arg = arg;
}

int table_put_status(struct table *t, const char *id, const char *value, size_t len,
                     int only_if_absent)
{
    json_t *doc = NULL;
    if (value && len) {
        doc = json_loadb(value, len, 0, NULL);
        if (!json_is_object(doc)) {
            json_decref(doc);
            return -1;
        }
        const char *sch = jx_str(doc, "schedule_id", NULL),
                   *slot = jx_str(doc, "scheduled_for", NULL);
        if (t->on_run && sch && slot)
            t->on_run(t->on_run_arg, sch, id, slot);
    }
    pthread_rwlock_wrlock(&t->lock);
    if (!doc) {
        struct entry *e = strmap_remove(&t->by_id, id);
        if (e) {
            if (e->body)
                t->n_docs--;
            load_add(t, e->tenant, &e->load, -1);
            list_del(t, e);
            entry_free(e);
        }
        goto out;
    }
    struct entry *e = get_or_add(t, id);
    const char *state = jx_str(doc, "status", "");
    if (!e || (only_if_absent && e->body) ||
        (e->body && strcmp(state, "queued") == 0 && strcmp(e->status, "queued") != 0))
        goto out;
    int64_t created = 0;
    if (clk_parse_iso8601(jx_str(doc, "created_at", ""), &created))
        created = ids_time_ms("bat", id);
    const char *tenant = jx_str(doc, "tenant", "");
    load_add(t, e->tenant, &e->load, -1);
    e->load = load_of(doc);
    if (e->listed && (created != e->created_ms || strcmp(tenant, e->tenant) != 0))
        list_del(t, e);
    snprintf(e->tenant, sizeof(e->tenant), "%s", tenant);
    load_add(t, e->tenant, &e->load, 1);
    snprintf(e->status, sizeof(e->status), "%s", state);
    snprintf(e->kind, sizeof(e->kind), "%s", jx_str(doc, "kind", "batch"));
    e->created_ms = created;
    if (!e->listed)
        list_add(t, e);
    json_object_del(doc, "tenant");
    if (!e->body)
        t->n_docs++;
    render(e, doc);
    doc = NULL;
out:
    pthread_rwlock_unlock(&t->lock);
    json_decref(doc);
    return 0;
}

int table_put_attempt(struct table *t, json_t *a)
{
    const char *id = jx_str(a, "batch_id", NULL);
    if (!id)
        return -1;
    pthread_rwlock_wrlock(&t->lock);
    struct entry *e = get_or_add(t, id);
    if (!e)
        goto out;
    char *text = jx_dump(a, NULL);
    if (!e->att)
        e->att = calloc(TABLE_ATTEMPTS_KEPT, sizeof(*e->att));
    if (!text || !e->att) {
        free(text);
        goto out;
    }
    if (e->att_n == TABLE_ATTEMPTS_KEPT) {
        free(e->att[e->att_head]);
        e->att[e->att_head] = text;
        e->att_head = (e->att_head + 1) % TABLE_ATTEMPTS_KEPT;
    } else {
        e->att[e->att_n++] = text;
    }
    e->att_total++;

    const char *event = jx_str(a, "event", "");
    /* The end-of-batch webhooks: batch.*, and schedule.run of a run. */
    if (strncmp(event, "batch.", 6) == 0 || strcmp(event, "schedule.run") == 0) {
        const char *outcome = jx_str(a, "outcome", "");
        json_t *err = json_object_get(a, "error");
        e->wh_attempts++;
        if (strcmp(outcome, "delivered") == 0) {
            e->wh_status = "delivered";
            json_decref(e->delivered_at);
            e->delivered_at = json_incref(json_object_get(a, "at"));
            /* A delivery (a redelivery after failures, say) ends the
             * error: the state shows the last attempt's outcome. */
            json_decref(e->last_error);
            e->last_error = NULL;
        } else {
            e->wh_status = strcmp(outcome, "dead") == 0 ? "failed" : "retrying";
            if (json_is_string(err)) {
                json_decref(e->last_error);
                e->last_error = json_incref(err);
            }
        }
        json_t *task = json_object_get(a, "task");
        const char *topic = jx_str(task, "topic", NULL);
        if (topic && json_is_integer(json_object_get(task, "partition")) &&
            json_is_integer(json_object_get(task, "offset")) &&
            (e->task || (e->task = malloc(sizeof(*e->task))))) {
            snprintf(e->task->topic, sizeof(e->task->topic), "%s", topic);
            e->task->partition = (int32_t)jx_int(task, "partition", 0);
            e->task->offset = jx_int(task, "offset", 0);
            snprintf(e->task->delivery_id, sizeof(e->task->delivery_id), "%s",
                     jx_str(a, "delivery_id", ""));
            snprintf(e->task->event, sizeof(e->task->event), "%s", event);
        }
        json_t *doc = e->body ? json_loadb(e->body, e->body_len, 0, NULL) : NULL;
        if (doc)
            render(e, doc);
    }
out:
    pthread_rwlock_unlock(&t->lock);
    return 0;
}

/* Under a lock: the entry when `tenant` may see it. */
static struct entry *visible(struct table *t, const char *id, const char *tenant)
{
    struct entry *e = strmap_get(&t->by_id, id);
    return e && e->body && strcmp(e->tenant, tenant) == 0 ? e : NULL;
}

int table_get(struct table *t, const char *id, const char *tenant, char **body, size_t *len)
{
    int rc = -1;
    pthread_rwlock_rdlock(&t->lock);
    struct entry *e = visible(t, id, tenant);
    if (e && (*body = malloc(e->body_len + 1))) {
        memcpy(*body, e->body, e->body_len + 1);
        *len = e->body_len;
        rc = 0;
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

json_t *table_get_json(struct table *t, const char *id, const char *tenant)
{
    char *body;
    size_t len;
    if (table_get(t, id, tenant, &body, &len))
        return NULL;
    json_t *doc = json_loadb(body, len, 0, NULL);
    free(body);
    return doc;
}

json_t *table_attempts(struct table *t, const char *id, const char *tenant, long long *total)
{
    json_t *out = NULL;
    pthread_rwlock_rdlock(&t->lock);
    struct entry *e = visible(t, id, tenant);
    if (e) {
        out = json_array();
        for (size_t i = 0; i < e->att_n; i++)
            json_array_append_new(
                out, json_loads(e->att[(e->att_head + i) % TABLE_ATTEMPTS_KEPT], 0, NULL));
        *total = e->att_total;
    }
    pthread_rwlock_unlock(&t->lock);
    return out;
}

int table_task(struct table *t, const char *id, const char *tenant, struct table_task *out)
{
    int rc = -1;
    pthread_rwlock_rdlock(&t->lock);
    struct entry *e = visible(t, id, tenant);
    if (e) {
        rc = e->task ? 0 : -2;
        if (e->task)
            *out = *e->task;
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

size_t table_count(struct table *t)
{
    pthread_rwlock_rdlock(&t->lock);
    size_t n = t->n_docs;
    pthread_rwlock_unlock(&t->lock);
    return n;
}

static int wanted(const struct entry *e, const struct table_page_query *q)
{
    return (!q->status || strcmp(e->status, q->status) == 0) &&
           (!q->kind || strcmp(e->kind, q->kind) == 0);
}

int table_page(struct table *t, const char *tenant, const struct table_page_query *q,
               struct buf *out, char next_cursor[TABLE_CURSOR_MAX])
{
    int64_t ms = 0;
    char id[ID_MAX];
    next_cursor[0] = '\0';
    /* A cursor is "<created ms>.<id>": where a page ended. */
    if (q->cursor && msindex_cursor_parse(q->cursor,
                                          "abcdefghijklmnopqrstuvwxyz"
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
                                          &ms, id, sizeof(id)))
        return -1;
    pthread_rwlock_rdlock(&t->lock);
    const struct tlist *l = strmap_get(&t->lists, tenant);
    size_t end = !l ? 0 : q->cursor ? msindex_lower(&l->x, ms, id) : l->x.n;
    const struct entry *last = NULL;
    int n = 0;
    /* Newest first: down from the cursor, skipping what the filter drops. */
    for (size_t j = end; j-- > 0;) {
        const struct entry *e = l->x.v[j].value;
        if (!e->body || !wanted(e, q))
            continue;
        if (n == q->limit) {
            snprintf(next_cursor, TABLE_CURSOR_MAX, "%lld.%s", (long long)last->created_ms,
                     last->id);
            break;
        }
        if (n++)
            buf_addc(out, ',');
        buf_add(out, e->body, e->body_len);
        last = e;
    }
    pthread_rwlock_unlock(&t->lock);
    return 0;
}
