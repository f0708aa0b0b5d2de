#include "strmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

char strmap_tombstone[1];

/* ------------------------------------------------------------ SipHash-1-3 */

static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_seed(void)
{
    uint64_t k[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    /* getrandom() fails only before the kernel's pool is initialized; the
     * fixed key then still hashes well, just predictably. */
    if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k))
        k[0] ^= (uint64_t)(uintptr_t)&k;
    sip_k0 = k[0], sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                                  \
        v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                                     \
        v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                                     \
        v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                                  \
    } while (0)

/* SipHash-1-3 (one compression round, three finalization rounds: the
 * variant hash tables use, as Rust's and Redis's do). */
static uint64_t sip_hash(const char *key, size_t len)
{
    const unsigned char *in = (const unsigned char *)key;
    uint64_t v0 = 0x736f6d6570736575ULL ^ sip_k0, v1 = 0x646f72616e646f6dULL ^ sip_k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ sip_k0, v3 = 0x7465646279746573ULL ^ sip_k1;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m = 0;
        for (int k = 0; k < 8; k++)
            m |= (uint64_t)in[i + (size_t)k] << (8 * k);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (int k = 0; i + (size_t)k < len; k++)
        b |= (uint64_t)in[i + (size_t)k] << (8 * k);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t hash_of(const char *key)
{
    pthread_once(&sip_once, sip_seed);
    return sip_hash(key, strlen(key));
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
