#include "schedtab.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "jx.h"
#include "schema.h"
#include "log.h"
#include "strmap.h"
#include "u64map.h"

/* ------------------------------------------------------------ entries */

struct ent {
    char id[SCHED_ID_LEN];
    int32_t partition;
    int has_def;
    struct sched def;
    int64_t done_ms;
    int has_state;
    struct schedtab_run runs[SCHEDTAB_RUNS]; /* newest first */
    size_t n_runs;
    struct u64map hashes; /* input key -> content hash */
};

struct schedtab {
    pthread_rwlock_t lock;
    struct strmap by_id;   /* id -> struct ent (owned) */
    struct strmap by_bits; /* ids_schedule_run(id, 0) -> struct ent (borrowed), with a def */
    struct agenda_clock k;
    int ready;
    size_t n_defs;
    schedtab_change_fn on_change;
    void *on_change_arg;
};

static void ent_free(void *p)
{
    struct ent *e = p;
    if (e->has_def)
        sched_release(&e->def);
    u64map_release(&e->hashes);
    free(e);
}

struct schedtab *schedtab_new(const struct agenda_clock *k)
{
    struct schedtab *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    pthread_rwlock_init(&t->lock, NULL);
    t->k = *k;
    return t;
}

void schedtab_free(struct schedtab *t)
{
    if (!t)
        return;
    strmap_release(&t->by_bits, NULL);
    strmap_release(&t->by_id, ent_free);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

void schedtab_on_change(struct schedtab *t, schedtab_change_fn fn, void *arg)
{
    t->on_change = fn;
    t->on_change_arg = arg;
}

/* Under the write lock: the entry of `id`, made when absent (NULL for an
 * id that is not a schedule's). */
static struct ent *ent_get_or_add(struct schedtab *t, const char *id, int32_t partition)
{
    struct ent *e = strmap_get(&t->by_id, id);
    if (e || !ids_valid("sch", id))
        return e;
    if (!(e = calloc(1, sizeof(*e))))
        abort();
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->partition = partition;
    strmap_put(&t->by_id, id, e, NULL);
    return e;
}

static void bits_of(const char *id, char out[IDS_BATCH_LEN])
{
    if (ids_schedule_run(id, 0, out))
        out[0] = '\0';
}

/* Under the write lock: drops e when nothing but its runs (or nothing at
 * all) is left and the definitions were read whole. */
static void ent_maybe_drop(struct schedtab *t, struct ent *e)
{
    if (t->ready && !e->has_def && !e->has_state && e->hashes.n == 0)
        ent_free(strmap_remove(&t->by_id, e->id));
}

void schedtab_put_def(struct schedtab *t, const char *id, int32_t partition, const void *value,
                      size_t len)
{
    struct sched s;
    char why[200], bits[IDS_BATCH_LEN];
    int have = value && len;
    if (have && sched_load(&s, id, value, len, why, sizeof(why))) {
        LOG_WARN("schedule_bad_record", "schedule=%.40s err=%s", id, why);
        sched_release(&s);
        return;
    }
    pthread_rwlock_wrlock(&t->lock);
    struct ent *e = have ? ent_get_or_add(t, id, partition) : strmap_get(&t->by_id, id);
    if (!e) {
        pthread_rwlock_unlock(&t->lock);
        if (have)
            sched_release(&s);
        return;
    }
    bits_of(id, bits);
    if (e->has_def) {
        sched_release(&e->def);
        t->n_defs--;
        strmap_remove(&t->by_bits, bits);
    }
    e->has_def = have;
    e->partition = partition;
    if (have) {
        e->def = s;
        t->n_defs++;
        if (bits[0])
            strmap_put(&t->by_bits, bits, e, NULL);
    } else {
        /* Deleted: its runs go; state and hashes stay for the owner's
         * tombstones (schedtab_orphans). */
        e->n_runs = 0;
        ent_maybe_drop(t, e);
    }
    pthread_rwlock_unlock(&t->lock);
    if (t->on_change)
        t->on_change(t->on_change_arg, id, partition);
}

void schedtab_put_state(struct schedtab *t, const char *id, int32_t partition, const void *value,
                        size_t len)
{
    char why[128];
    json_t *d = value && len ? jx_parse(value, len, 4, why, sizeof(why)) : NULL;
    if (d && schema_check(schema_version_or_v(d), SCHEMA_SCHED_STATE, why, sizeof(why))) {
        json_decref(d);
        d = NULL;
    }
    if (value && len && !d) {
        LOG_WARN("schedule_bad_state", "schedule=%.40s err=%s", id, why);
        return;
    }
    pthread_rwlock_wrlock(&t->lock);
    struct ent *e = d ? ent_get_or_add(t, id, partition) : strmap_get(&t->by_id, id);
    if (e && d) {
        int64_t done = jx_int(d, "done_through", 0);
        if (done > e->done_ms)
            e->done_ms = done;
        e->has_state = 1;
    } else if (e) {
        e->has_state = 0;
        e->done_ms = 0;
        ent_maybe_drop(t, e);
    }
    pthread_rwlock_unlock(&t->lock);
    json_decref(d);
}

void schedtab_put_change(struct schedtab *t, const char *key, size_t key_len, int32_t partition,
                         const void *value, size_t len)
{
    size_t id_len;
    const char *input;
    char id[SCHED_ID_LEN];
    if (changes_key_split(key, key_len, &id_len, &input) || id_len >= sizeof(id))
        return;
    memcpy(id, key, id_len);
    id[id_len] = '\0';
    uint64_t in = changes_hash_u64(input);
    const char *hash = NULL;
    json_t *d = value && len ? jx_parse(value, len, 4, NULL, 0) : NULL;
    if (d && (schema_check(jx_int(d, SCHEMA_VERSION_KEY, 1), SCHEMA_SCHED_CHANGE, NULL, 0) ||
              !((hash = jx_str(d, "hash", NULL)) && changes_hash_valid(hash, strlen(hash))))) {
        json_decref(d);
        return;
    }
    pthread_rwlock_wrlock(&t->lock);
    struct ent *e = hash ? ent_get_or_add(t, id, partition) : strmap_get(&t->by_id, id);
    if (e && hash) {
        u64map_put(&e->hashes, in, changes_hash_u64(hash));
    } else if (e) {
        u64map_remove(&e->hashes, in);
        ent_maybe_drop(t, e);
    }
    pthread_rwlock_unlock(&t->lock);
    json_decref(d);
}

void schedtab_put_run(struct schedtab *t, const char *schedule_id, const char *batch_id,
                      const char *scheduled_for)
{
    pthread_rwlock_wrlock(&t->lock);
    /* Once the definitions are known, runs of deleted schedules are not
     * kept. */
    struct ent *e =
        t->ready ? strmap_get(&t->by_id, schedule_id) : ent_get_or_add(t, schedule_id, -1);
    if (!e || (t->ready && !e->has_def))
        goto out;
    for (size_t i = 0; i < e->n_runs; i++)
        if (strcmp(e->runs[i].batch_id, batch_id) == 0)
            goto out;
    /* Newest first by slot (ISO times of one format sort as text). */
    size_t at = 0;
    while (at < e->n_runs && strcmp(e->runs[at].scheduled_for, scheduled_for) >= 0)
        at++;
    if (at == SCHEDTAB_RUNS)
        goto out;
    size_t n = e->n_runs < SCHEDTAB_RUNS ? e->n_runs : SCHEDTAB_RUNS - 1;
    memmove(&e->runs[at + 1], &e->runs[at], (n - at) * sizeof(e->runs[0]));
    snprintf(e->runs[at].batch_id, sizeof(e->runs[at].batch_id), "%s", batch_id);
    snprintf(e->runs[at].scheduled_for, sizeof(e->runs[at].scheduled_for), "%s", scheduled_for);
    e->n_runs = n + 1;
out:
    pthread_rwlock_unlock(&t->lock);
}

void schedtab_ready(struct schedtab *t)
{
    size_t pos = 0;
    const char *key;
    void *v;
    pthread_rwlock_wrlock(&t->lock);
    t->ready = 1;
    while (strmap_next(&t->by_id, &pos, &key, &v)) {
        struct ent *e = v;
        if (!e->has_def)
            e->n_runs = 0;
        ent_maybe_drop(t, e);
    }
    pthread_rwlock_unlock(&t->lock);
}

/* ------------------------------------------------------------ reading */

/* Under a lock: the entry with a definition the tenant may see. */
static struct ent *visible(struct schedtab *t, const char *id, const char *tenant)
{
    struct ent *e = strmap_get(&t->by_id, id);
    if (!e || !e->has_def || (tenant && strcmp(e->def.tenant, tenant) != 0))
        return NULL;
    return e;
}

static int copy_def(struct sched *s, const struct sched *from)
{
    *s = *from;
    s->name = from->name ? strdup(from->name) : NULL;
    s->template = json_deep_copy(from->template);
    s->secret_enc = from->secret_enc ? strdup(from->secret_enc) : NULL;
    return (from->name && !s->name) || !s->template || (from->secret_enc && !s->secret_enc) ? -1
                                                                                            : 0;
}

int schedtab_get(struct schedtab *t, const char *id, const char *tenant, struct sched *s,
                 int64_t *done_ms, int32_t *partition)
{
    memset(s, 0, sizeof(*s));
    pthread_rwlock_rdlock(&t->lock);
    struct ent *e = visible(t, id, tenant);
    int rc = -1;
    if (e && copy_def(s, &e->def) == 0) {
        if (done_ms)
            *done_ms = e->done_ms;
        if (partition)
            *partition = e->partition;
        rc = 0;
    }
    pthread_rwlock_unlock(&t->lock);
    if (rc)
        sched_release(s);
    return rc;
}

static json_t *doc_of(struct schedtab *t, const struct ent *e, int64_t now_ms)
{
    json_t *d = sched_doc(&e->def, sched_next_run(&e->def, &t->k, e->done_ms, now_ms));
    json_object_set_new(d, "last_run_at",
                        e->n_runs ? json_string(e->runs[0].scheduled_for) : json_null());
    return d;
}

json_t *schedtab_doc(struct schedtab *t, const char *id, const char *tenant, int64_t now_ms)
{
    pthread_rwlock_rdlock(&t->lock);
    struct ent *e = visible(t, id, tenant);
    json_t *d = e ? doc_of(t, e, now_ms) : NULL;
    pthread_rwlock_unlock(&t->lock);
    return d;
}

size_t schedtab_runs(struct schedtab *t, const char *id, struct schedtab_run *out)
{
    pthread_rwlock_rdlock(&t->lock);
    struct ent *e = strmap_get(&t->by_id, id);
    size_t n = e ? e->n_runs : 0;
    if (n)
        memcpy(out, e->runs, n * sizeof(*out));
    pthread_rwlock_unlock(&t->lock);
    return n;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(const struct ent *const *)a)->id, (*(const struct ent *const *)b)->id);
}

json_t *schedtab_list(struct schedtab *t, const char *tenant, const char *after, size_t limit,
                      int64_t now_ms, int *more)
{
    size_t pos = 0, n = 0, cap = 64;
    const char *key;
    void *v;
    struct ent **mine = malloc(cap * sizeof(*mine));
    json_t *out = json_array();
    if (!mine)
        abort();
    pthread_rwlock_rdlock(&t->lock);
    while (strmap_next(&t->by_id, &pos, &key, &v)) {
        struct ent *e = v;
        if (!e->has_def || strcmp(e->def.tenant, tenant) != 0 ||
            (after && strcmp(e->id, after) <= 0))
            continue;
        if (n == cap && !(mine = realloc(mine, (cap *= 2) * sizeof(*mine))))
            abort();
        mine[n++] = e;
    }
    qsort(mine, n, sizeof(*mine), by_id);
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append_new(out, doc_of(t, mine[i], now_ms));
    pthread_rwlock_unlock(&t->lock);
    *more = n > limit;
    free(mine);
    return out;
}

int schedtab_bits_taken(struct schedtab *t, const char *id)
{
    char bits[IDS_BATCH_LEN];
    bits_of(id, bits);
    pthread_rwlock_rdlock(&t->lock);
    int taken = bits[0] && strmap_has(&t->by_bits, bits);
    pthread_rwlock_unlock(&t->lock);
    return taken;
}

/* The ids of the entries of `partition` that `want` selects. */
static char (*ids_where(struct schedtab *t, int32_t partition, int (*want)(const struct ent *),
                        size_t *n))[SCHED_ID_LEN]
{
    size_t pos = 0, cap = 0;
    const char *key;
    void *v;
    char(*ids)[SCHED_ID_LEN] = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&t->lock);
    while (strmap_next(&t->by_id, &pos, &key, &v)) {
        struct ent *e = v;
        if (e->partition != partition || !want(e))
            continue;
        if (*n == cap && !(ids = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof(*ids))))
            abort();
        memcpy(ids[(*n)++], e->id, SCHED_ID_LEN);
    }
    pthread_rwlock_unlock(&t->lock);
    return ids;
}

static int with_def(const struct ent *e)
{
    return e->has_def;
}

static int orphan(const struct ent *e)
{
    return !e->has_def && (e->has_state || e->hashes.n > 0);
}

char (*schedtab_partition_ids(struct schedtab *t, int32_t partition, size_t *n))[SCHED_ID_LEN]
{
    return ids_where(t, partition, with_def, n);
}

char (*schedtab_orphans(struct schedtab *t, int32_t partition, size_t *n))[SCHED_ID_LEN]
{
    return ids_where(t, partition, orphan, n);
}

void schedtab_set_done(struct schedtab *t, const char *id, int64_t done_ms)
{
    pthread_rwlock_wrlock(&t->lock);
    struct ent *e = ent_get_or_add(t, id, -1);
    if (e && done_ms > e->done_ms) {
        e->done_ms = done_ms;
        e->has_state = 1;
    }
    pthread_rwlock_unlock(&t->lock);
}

/* Under a lock: the keys of e's inputs that `keep` (sorted) lacks. */
static char (*keys_except(const struct ent *e, const uint64_t *keep, size_t n_keep,
                          size_t *n))[CHANGES_KEY_MAX]
{
    char(*out)[CHANGES_KEY_MAX] = NULL;
    size_t cap = 0;
    *n = 0;
    for (size_t i = 0; i < e->hashes.cap; i++) {
        uint64_t k = e->hashes.k[i];
        size_t lo = 0, hi = n_keep;
        if (!k)
            continue;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (keep[mid] < k)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < n_keep && keep[lo] == k)
            continue;
        if (*n == cap && !(out = realloc(out, (cap = cap ? cap * 2 : 16) * sizeof(*out))))
            abort();
        char hex[CHANGES_HASH_LEN];
        changes_hash_hex(k, hex);
        changes_key(e->id, hex, out[(*n)++]);
    }
    return out;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The input key of item i of b, as the changes topic names it. */
static uint64_t item_key(const struct submission *b, size_t i, char hex[CHANGES_HASH_LEN])
{
    const json_t *headers;
    const char *url = submission_item(b, i, &headers);
    const char *lines_small[16], **lines = lines_small;
    char *buf = NULL;
    size_t n = headers ? json_object_size(headers) : 0, used = 0, cap = 0;
    if (n > 16 && !(lines = malloc(n * sizeof(*lines))))
        abort();
    if (n) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)headers, k, v) cap += strlen(k) + json_string_length(v) + 3;
        if (!(buf = malloc(cap)))
            abort();
        size_t j = 0;
        json_object_foreach((json_t *)headers, k, v)
        {
            lines[j++] = buf + used;
            used += (size_t)snprintf(buf + used, cap - used, "%s: %s", k, json_string_value(v)) + 1;
        }
    }
    changes_input_key(url, lines, n, hex);
    free(buf);
    if (lines != lines_small)
        free(lines);
    return changes_hash_u64(hex);
}

int schedtab_track(struct schedtab *t, const char *id, struct submission *b,
                   char (**stale)[CHANGES_KEY_MAX], size_t *n_stale)
{
    *stale = NULL;
    *n_stale = 0;
    uint64_t *keys = malloc((b->total + 1) * sizeof(*keys));
    b->track = calloc(b->total + 1, sizeof(*b->track));
    if (!keys || !b->track) {
        free(keys);
        return -1;
    }
    for (size_t i = 0; i < b->total; i++) {
        char hex[CHANGES_HASH_LEN];
        keys[i] = item_key(b, i, hex);
        changes_key(id, hex, b->track[i].key);
    }
    pthread_rwlock_rdlock(&t->lock);
    struct ent *e = strmap_get(&t->by_id, id);
    for (size_t i = 0; e && i < b->total; i++) {
        const uint64_t *prev = u64map_get(&e->hashes, keys[i]);
        if (prev)
            changes_hash_hex(*prev, b->track[i].previous);
    }
    if (e && e->hashes.n) {
        qsort(keys, b->total, sizeof(*keys), u64_cmp);
        *stale = keys_except(e, keys, b->total, n_stale);
    }
    pthread_rwlock_unlock(&t->lock);
    free(keys);
    return 0;
}

char (*schedtab_change_keys(struct schedtab *t, const char *id, size_t *n))[CHANGES_KEY_MAX]
{
    char(*out)[CHANGES_KEY_MAX] = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&t->lock);
    struct ent *e = strmap_get(&t->by_id, id);
    if (e)
        out = keys_except(e, NULL, 0, n);
    pthread_rwlock_unlock(&t->lock);
    return out;
}

size_t schedtab_count(struct schedtab *t)
{
    pthread_rwlock_rdlock(&t->lock);
    size_t n = t->n_defs;
    pthread_rwlock_unlock(&t->lock);
    return n;
}
