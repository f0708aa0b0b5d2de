/*
 * msindex — an array of pointers kept sorted by (time in ms, id): the
 * newest-first listings paged by a "<ms>.<id>" cursor (ingest's batches per
 * tenant, its dead deliveries per tenant).
 *
 *     struct msindex x = MSINDEX_INIT;
 *     msindex_add(&x, e->created_ms, e->id, e);     // e->id must outlive it
 *     size_t end = msindex_lower(&x, ms, id);        // entries before a cursor
 *     for (size_t j = end; j-- > 0;) ... x.v[j].value ...
 *     msindex_del(&x, e->created_ms, e->id);
 *
 * Why a sorted array and not a tree: items mostly arrive in time order, so
 * an add is an append; a page is one binary search and a walk down
 * adjacent memory; a removal moves the tail (rare: a batch forgotten, a
 * dead delivery sent again).
 *
 * Ownership: the index owns its array; ids and values are the caller's (the
 * id is read, not copied, and must stay unchanged while the item is in).
 * Not thread-safe: the caller locks.
 */
#ifndef FERRY_MSINDEX_H
#define FERRY_MSINDEX_H

#include <stddef.h>
#include <stdint.h>

struct msindex_item {
    int64_t ms;
    const char *id;
    void *value;
};

struct msindex {
    struct msindex_item *v;
    size_t n, cap;
};

#define MSINDEX_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* The first position whose item is not before (ms, id). */
size_t msindex_lower(const struct msindex *x, int64_t ms, const char *id);

/* Puts value in at (ms, id). 0, or -1 out of memory (nothing added). */
int msindex_add(struct msindex *x, int64_t ms, const char *id, void *value);

/* Takes the item at exactly (ms, id) out; returns its value, or NULL. */
void *msindex_del(struct msindex *x, int64_t ms, const char *id);

/* Frees the array; the index is empty and usable again. */
void msindex_release(struct msindex *x);

/* "<ms>.<id>" into *ms and id (id_size bytes): 0, or -1 when c is not one
 * (no digits, no dot, an empty id or one too long, or a character of the
 * id not in `allowed`). */
int msindex_cursor_parse(const char *c, const char *allowed, int64_t *ms, char *id, size_t id_size);

#endif
