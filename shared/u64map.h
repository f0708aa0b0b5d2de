/*
 * u64map — a compact hash map from 64-bit keys to 64-bit values: 16 bytes a
 * member plus the free slots, for tables with millions of small entries
 * (the content hashes of every tracked input of every schedule).
 *
 * Open addressing with linear probing and backward-shift removal, so no
 * tombstones pile up. Key 0 marks a free slot: a key of 0 is stored as 1
 * (two keys in 2^64 share a member).
 *
 *     struct u64map m = U64MAP_INIT;
 *     u64map_reserve(&m, expected);         // optional: sized once, see below
 *     u64map_put(&m, key, value);
 *     if (u64map_add(&m, key, 1)) ...       // key was not there before
 *     uint64_t *v = u64map_get(&m, key);    // NULL when absent
 *     for (size_t i = 0; i < m.cap; i++)    // every member: k[i] != 0
 *         if (m.k[i]) use(m.k[i], m.v[i]);
 *     u64map_release(&m);
 *
 * Allocation failure aborts. Not thread-safe: the owner locks.
 */
#ifndef FERRY_U64MAP_H
#define FERRY_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
    uint64_t *k, *v;
    size_t n, cap; /* members; slots (a power of two, or 0) */
};

#define U64MAP_INIT                                                                                \
    {                                                                                              \
        NULL, NULL, 0, 0                                                                           \
    }

/* The value of k, or NULL. Valid until the next put or remove. */
uint64_t *u64map_get(const struct u64map *m, uint64_t k);

/* Sets k to v (adds it when absent). */
void u64map_put(struct u64map *m, uint64_t k, uint64_t v);

/* Adds k with v when absent: 1. When k is a member already: 0, its value
 * left as it was. One probe run, where a get and then a put take two
 * (a set of hashes: "is it new?" and "remember it" in one call). */
int u64map_add(struct u64map *m, uint64_t k, uint64_t v);

/* Sizes m to hold n members without growing (a map that holds them
 * already is left as it is); past n it grows as usual. For a caller that
 * knows about how many members are coming: a map grown from the default 16
 * slots rehashes every member at each doubling on the way. */
void u64map_reserve(struct u64map *m, size_t n);

/* Removes k; absent is fine. */
void u64map_remove(struct u64map *m, uint64_t k);

/* Frees the storage; the map is empty and usable again. */
void u64map_release(struct u64map *m);

#endif
