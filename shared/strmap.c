#include "strmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"

char strmap_tombstone[1];

/* One random SipHash key per process. */
static uint8_t sip_key[16];
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_seed(void)
{
    /* Without kernel randomness (only before its pool is initialized) the
     * fixed key still hashes well, just predictably. */
    if (ids_random(sip_key, sizeof(sip_key)))
        memcpy(sip_key, "ferry.strmap.key", 16);
}

static uint64_t hash_of(const char *key)
{
    pthread_once(&sip_once, sip_seed);
    return ids_siphash(sip_key, key, strlen(key));
}

/* ------------------------------------------------------------ the table */

/* The slot holding key, or NULL. */
static struct strmap_slot *find(const struct strmap *m, const char *key, uint64_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct strmap_slot *s = &m->slot[i];
        if (!s->key)
            return NULL;
        if (s->key != strmap_tombstone && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

/* Rebuilds into cap slots (live entries only: tombstones go). */
static void rebuild(struct strmap *m, size_t cap)
{
    struct strmap_slot *slot = calloc(cap, sizeof(*slot));
    if (!slot)
        abort();
    for (size_t i = 0; i < m->cap; i++) {
        struct strmap_slot *s = &m->slot[i];
        if (!s->key || s->key == strmap_tombstone)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slot[j].key)
            j = (j + 1) & (cap - 1);
        slot[j] = *s;
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    m->used = m->n;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_slot *s = find(m, key, hash_of(key));
    return s ? s->value : NULL;
}

int strmap_has(const struct strmap *m, const char *key)
{
    return find(m, key, hash_of(key)) != NULL;
}

void *strmap_put(struct strmap *m, const char *key, void *value, int *added)
{
    uint64_t h = hash_of(key);
    struct strmap_slot *s = find(m, key, h);
    if (added)
        *added = !s;
    if (s) {
        void *old = s->value;
        s->value = value;
        return old;
    }
    if (!m->cap || (m->used + 1) * 4 > m->cap * 3) {
        size_t cap = m->cap ? m->cap : 16;
        while ((m->n + 1) * 2 > cap)
            cap *= 2;
        rebuild(m, cap);
    }
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slot[i].key && m->slot[i].key != strmap_tombstone)
        i = (i + 1) & mask;
    s = &m->slot[i];
    if (!s->key)
        m->used++; /* a tombstone reused was counted already */
    s->key = strdup(key);
    if (!s->key)
        abort();
    s->hash = h;
    s->value = value;
    m->n++;
    return NULL;
}

void *strmap_remove(struct strmap *m, const char *key)
{
    struct strmap_slot *s = find(m, key, hash_of(key));
    if (!s)
        return NULL;
    void *value = s->value;
    free(s->key);
    s->key = strmap_tombstone;
    s->value = NULL;
    m->n--;
    return value;
}

size_t strmap_size(const struct strmap *m)
{
    return m->n;
}

int strmap_next(const struct strmap *m, size_t *pos, const char **key, void **value)
{
    for (; *pos < m->cap; (*pos)++) {
        const struct strmap_slot *s = &m->slot[*pos];
        if (s->key && s->key != strmap_tombstone) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            (*pos)++;
            return 1;
        }
    }
    return 0;
}

void strmap_release(struct strmap *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        struct strmap_slot *s = &m->slot[i];
        if (!s->key || s->key == strmap_tombstone)
            continue;
        if (free_value)
            free_value(s->value);
        free(s->key);
    }
    free(m->slot);
    *m = (struct strmap)STRMAP_INIT;
}
