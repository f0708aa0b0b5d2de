/*
 * strmap — a hash table from NUL-terminated string keys to pointers: the one
 * table behind every in-memory index of ids and host names.
 *
 *     struct strmap m = STRMAP_INIT;
 *     strmap_put(&m, "bat_1", batch);           // the key is copied
 *     struct batch *b = strmap_get(&m, "bat_1");
 *     for (size_t pos = 0; strmap_next(&m, &pos, &key, &value);) ...
 *     strmap_release(&m, batch_free_fn);
 *
 * Why open addressing (linear probing over one slot array) and not chains:
 * the tables hold up to a few hundred thousand small entries and are read
 * far more than written; one array with the hash kept in each slot means a
 * lookup touches one or two cache lines and never chases a pointer for a
 * miss, and growth is one allocation instead of one per entry. Removal
 * leaves a tombstone, so nothing moves: an iteration may remove the entry it
 * is on. Tombstones are dropped when the table is rebuilt, which happens
 * when live entries plus tombstones pass 3/4 of the slots (the table grows
 * only when the live entries alone would pass half of it).
 *
 * Keys come from the network (host names of submitted URLs, batch ids), so
 * the hash is SipHash-2-4 (ids_siphash) under a key drawn at random once per
 * process: a submitter cannot pick keys that all land in one probe run.
 *
 * Ownership: the table owns its copies of the keys; values are the caller's
 * (strmap_release can free them through a callback). A strmap is not
 * thread-safe; concurrent readers (get, has, next) with no writer are fine.
 */
#ifndef FERRY_STRMAP_H
#define FERRY_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
    uint64_t hash;
    char *key; /* NULL: never used; strmap_tombstone: removed; else owned */
    void *value;
};

struct strmap {
    struct strmap_slot *slot;
    size_t cap;  /* a power of two, or 0 before the first put */
    size_t n;    /* live entries */
    size_t used; /* live entries + tombstones */
};

/* The key of a removed entry's slot. */
extern char strmap_tombstone[1];

#define STRMAP_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* The value of key, or NULL when absent (strmap_has tells a NULL value
 * from an absent key). */
void *strmap_get(const struct strmap *m, const char *key);
int strmap_has(const struct strmap *m, const char *key);

/* Sets key to value (a copy of key is kept). Returns the value it replaced,
 * or NULL when the key is new; *added (if non-NULL) says which. */
void *strmap_put(struct strmap *m, const char *key, void *value, int *added);

/* Removes key; returns its value, or NULL when absent. */
void *strmap_remove(struct strmap *m, const char *key);

/* Live entries. */
size_t strmap_size(const struct strmap *m);

/* Iteration in no particular order: start with *pos = 0; each call returns
 * 1 with the next entry (key borrowed from the table) or 0 at the end.
 * strmap_remove() of the entry just returned is allowed; strmap_put() during
 * an iteration is not (it may rebuild the table). */
int strmap_next(const struct strmap *m, size_t *pos, const char **key, void **value);

/* Frees the table and its keys, calling free_value (if non-NULL) on every
 * value; the map is empty and usable again. */
void strmap_release(struct strmap *m, void (*free_value)(void *));

#endif
