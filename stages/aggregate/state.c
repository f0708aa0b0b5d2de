#include "state.h"

#include <stdlib.h>
#include <string.h>

void state_init(struct state *s, void (*follow_free)(struct follow *))
{
    memset(s, 0, sizeof(*s));
    s->cap = 1024;
    s->slot = calloc(s->cap, sizeof(*s->slot));
    if (!s->slot)
        abort();
    s->follow_free = follow_free;
}

/* The counts a tally adds to: active, pending, or none once done. */
static size_t *count_of(struct state *s, const struct tally *t)
{
    if (t->done)
        return NULL;
    return t->known ? &s->n_active : &s->n_pending;
}

static void take(struct state *s, struct tally *t)
{
    size_t *c = count_of(s, t);
    if (c)
        (*c)++;
}

static void release(struct state *s, struct tally *t)
{
    size_t *c = count_of(s, t);
    if (c)
        (*c)--;
    if (t->follow && s->follow_free)
        s->follow_free(t->follow);
    tally_free(t);
}

void state_release(struct state *s)
{
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i])
            release(s, s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof(*s));
}

static size_t find_slot(const struct state *s, const char *id)
{
    size_t mask = s->cap - 1, i = ids_hash(id, strlen(id)) & mask;
    while (s->slot[i] && strcmp(s->slot[i]->id, id) != 0)
        i = (i + 1) & mask;
    return i;
}

static void grow(struct state *s)
{
    struct tally **bigger = calloc(s->cap * 2, sizeof(*bigger)), **old = s->slot;
    size_t old_cap = s->cap;
    if (!bigger)
        abort();
    s->slot = bigger;
    s->cap *= 2;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            s->slot[find_slot(s, old[i]->id)] = old[i];
    free(old);
}

struct tally *state_get(struct state *s, const char *id)
{
    return s->slot[find_slot(s, id)];
}

void state_put(struct state *s, struct tally *t)
{
    if ((s->n + 1) * 2 > s->cap)
        grow(s);
    size_t i = find_slot(s, t->id);
    if (s->slot[i])
        release(s, s->slot[i]);
    else
        s->n++;
    s->slot[i] = t;
    take(s, t);
}

struct tally *state_get_or_add(struct state *s, const char *id, int32_t partition, int64_t now_ms)
{
    struct tally *t = state_get(s, id);
    if (!t) {
        t = tally_new(id, partition, now_ms);
        state_put(s, t);
    }
    return t;
}

/* Linear probing without tombstones: after emptying slot i, re-place the
 * run that follows it so every lookup still finds its entry. */
static void remove_at(struct state *s, size_t i)
{
    size_t mask = s->cap - 1;
    release(s, s->slot[i]);
    s->slot[i] = NULL;
    s->n--;
    for (size_t j = (i + 1) & mask; s->slot[j]; j = (j + 1) & mask) {
        struct tally *t = s->slot[j];
        s->slot[j] = NULL;
        s->slot[find_slot(s, t->id)] = t;
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

int state_set_record(struct state *s, struct tally *t, json_t *record, int64_t started_ms)
{
    size_t *was = count_of(s, t);
    int rc = tally_set_record(t, record, started_ms);
    size_t *now = count_of(s, t);
    if (was != now) {
        if (was)
            (*was)--;
        if (now)
            (*now)++;
    }
    return rc;
}

void state_finish(struct state *s, struct tally *t, int64_t now_ms)
{
    size_t *c = count_of(s, t);
    if (c)
        (*c)--;
    tally_finish(t, now_ms);
}
