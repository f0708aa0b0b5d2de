#include "state.h"

#include <stdlib.h>
#include <string.h>

void state_init(struct state *s, void (*follow_free)(struct follow *))
{
    memset(s, 0, sizeof(*s));
    s->map = (struct strmap)STRMAP_INIT;
    s->follow_free = follow_free;
}

/* The count a tally adds to: active, pending, or none once done. */
static size_t *count_of(struct state *s, const struct tally *t)
{
    if (t->done)
        return NULL;
    return t->known ? &s->n_active : &s->n_pending;
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
    size_t pos = 0;
    struct tally *t;
    while (state_next(s, &pos, &t))
        release(s, t);
    strmap_release(&s->map, NULL);
    memset(s, 0, sizeof(*s));
}

size_t state_size(const struct state *s)
{
    return strmap_size(&s->map);
}

int state_next(const struct state *s, size_t *pos, struct tally **t)
{
    const char *key;
    void *v;
    if (!strmap_next(&s->map, pos, &key, &v))
        return 0;
    *t = v;
    return 1;
}

struct tally *state_get(struct state *s, const char *id)
{
    return strmap_get(&s->map, id);
}

void state_put(struct state *s, struct tally *t)
{
    struct tally *old = strmap_put(&s->map, t->id, t, NULL);
    if (old)
        release(s, old);
    size_t *c = count_of(s, t);
    if (c)
        (*c)++;
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

void state_remove(struct state *s, const char *id)
{
    struct tally *t = strmap_remove(&s->map, id);
    if (t)
        release(s, t);
}

size_t state_drop_partition(struct state *s, int32_t partition)
{
    size_t pos = 0, dropped = 0;
    struct tally *t;
    while (state_next(s, &pos, &t))
        if (t->partition == partition) {
            state_remove(s, t->id);
            dropped++;
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
