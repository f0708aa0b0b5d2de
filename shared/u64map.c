#include "u64map.h"

#include <stdlib.h>
#include <string.h>

static size_t home(const struct u64map *m, uint64_t k)
{
    return (size_t)(k * 0x9E3779B97F4A7C15ULL >> 32) & (m->cap - 1);
}

uint64_t *u64map_get(const struct u64map *m, uint64_t k)
{
    k = k ? k : 1;
    if (!m->cap)
        return NULL;
    for (size_t i = home(m, k);; i = (i + 1) & (m->cap - 1)) {
        if (m->k[i] == k)
            return &m->v[i];
        if (!m->k[i])
            return NULL;
    }
}

/* Rehashes m into cap slots (a power of two that holds its members). */
static void resize(struct u64map *m, size_t cap)
{
    struct u64map g = {calloc(cap, sizeof(uint64_t)), calloc(cap, sizeof(uint64_t)), 0, cap};
    if (!g.k || !g.v)
        abort();
    for (size_t i = 0; i < m->cap; i++)
        if (m->k[i])
            u64map_put(&g, m->k[i], m->v[i]);
    free(m->k);
    free(m->v);
    *m = g;
}

/* Slots that hold n members at most 3/4 full: a power of two, 16 at least. */
static size_t cap_for(size_t n)
{
    size_t cap = 16;
    while (cap / 4 * 3 < n && cap < (SIZE_MAX >> 2)) /* past it, calloc fails: abort */
        cap *= 2;
    return cap;
}

void u64map_reserve(struct u64map *m, size_t n)
{
    size_t cap = cap_for(n);
    if (cap > m->cap)
        resize(m, cap);
}

/* The slot of k, or the free slot where it goes (grown first when one more
 * member would pass 3/4 full, which keeps probe runs short): one probe run
 * serves both the lookup and the insertion. */
static size_t slot(struct u64map *m, uint64_t k)
{
    if ((m->n + 1) * 4 > m->cap * 3)
        resize(m, m->cap ? m->cap * 2 : 16);
    size_t i = home(m, k);
    while (m->k[i] && m->k[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

void u64map_put(struct u64map *m, uint64_t k, uint64_t v)
{
    k = k ? k : 1;
    size_t i = slot(m, k);
    if (!m->k[i]) {
        m->k[i] = k;
        m->n++;
    }
    m->v[i] = v;
}

int u64map_add(struct u64map *m, uint64_t k, uint64_t v)
{
    k = k ? k : 1;
    size_t i = slot(m, k);
    if (m->k[i])
        return 0;
    m->k[i] = k;
    m->v[i] = v;
    m->n++;
    return 1;
}

void u64map_remove(struct u64map *m, uint64_t k)
{
    k = k ? k : 1;
    uint64_t *at = u64map_get(m, k);
    if (!at)
        return;
    size_t i = (size_t)(at - m->v);
    /* Backward shift: later members of the probe run move up into the
     * hole when their home slot allows it. */
    for (size_t j = (i + 1) & (m->cap - 1); m->k[j]; j = (j + 1) & (m->cap - 1)) {
        size_t h = home(m, m->k[j]);
        if (((j - h) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
            m->k[i] = m->k[j];
            m->v[i] = m->v[j];
            i = j;
        }
    }
    m->k[i] = 0;
    m->n--;
}

void u64map_release(struct u64map *m)
{
    free(m->k);
    free(m->v);
    memset(m, 0, sizeof(*m));
}
