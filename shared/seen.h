/*
 * seen — the pages a crawl has accepted, in bounded memory, restorable.
 *
 * A crawl must fetch each page once, so its frontier remembers every page
 * key (crawlurl.h) it accepted. A million-page crawl must not hold a million
 * URL strings: the set keeps only a 64-bit hash of each key, in an
 * open-addressing table of 8-byte slots (linear probing, a power of two,
 * grown by doubling to stay at most 3/4 full, so between 3/8 and 3/4 full:
 * 10.7 to 21.3 bytes per page). Memory: 8 MiB up to 786,432 pages, 16 MiB
 * for 1,000,000 (2^21 slots), plus the journal of hashes not yet written to
 * the changelog; while doubling, old and new table for a moment. seen_init()'s
 * `max` bounds it: past max pages the set refuses.
 *
 * Collisions: two different pages whose hashes agree are taken for one, and
 * the second is never fetched. With n pages, the chance of that happening
 * anywhere in a crawl is about n^2 / 2^65: 2.7e-8 for 1,000,000 pages (one
 * crawl in 37 million loses one page), 2.7e-10 for 100,000; the chance that
 * a given new page is wrongly dropped is n / 2^64, at most 5.4e-14. The
 * hash is SipHash-2-4 keyed by the crawl id (key = the first 16 bytes of
 * SHA-256("ferry.seen" NUL crawl id)): stable across restarts and versions,
 * so a restored set agrees with the one before the crash, and independent
 * between crawls, so a collision in one crawl says nothing of another.
 *
 * Changelog: every hash added is also appended to a journal. When the
 * frontier commits a transaction (the results it counted, the requests it
 * emitted), it writes the journal as one chunk (seen_chunk_encode: base64 of
 * the hashes, 8 bytes each, little-endian) to a compacted topic, keyed by
 * crawl id and chunk number so compaction keeps every chunk, in the same
 * transaction, and clears the journal (seen_journal_clear). After a crash
 * the new owner replays the crawl's chunks (seen_chunk_restore) and has
 * exactly the set that the committed requests were deduplicated against. A
 * finished crawl's chunks are deleted with tombstones.
 *
 * Not thread-safe; one frontier owns a crawl's set.
 */
#ifndef FERRY_SEEN_H
#define FERRY_SEEN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SEEN_KEY_LEN 16

struct seen {
    uint64_t *slots; /* 0 = empty; a hash of 0 is stored as 1 */
    size_t mask;     /* slots - 1 */
    size_t n, max;
    uint8_t key[SEEN_KEY_LEN];
    uint64_t *journal; /* hashes added since seen_journal_clear */
    size_t n_journal, journal_alloc;
};

/* The hash key of crawl `crawl_id`'s set (what seen_init derives), and the
 * hash of a page key under it: for a stage that hashes page keys without
 * holding a set (scrape hashes the links it hands the frontier, so the
 * frontier looks them up without parsing them). */
void seen_key(const char *crawl_id, uint8_t key[SEEN_KEY_LEN]);
uint64_t seen_hash_with(const uint8_t key[SEEN_KEY_LEN], const char *page_key, size_t len);

/* An empty set for crawl `crawl_id` that holds at most max pages. 0 ok,
 * -1 on no memory. */
int seen_init(struct seen *s, const char *crawl_id, size_t max);
void seen_release(struct seen *s);

/* The set's hash of a page key. */
uint64_t seen_hash(const struct seen *s, const char *key, size_t len);

/* Adds a hash: 1 when it is new (and journaled), 0 when already present,
 * -1 when the set is full (max pages) or memory ran out. */
int seen_add(struct seen *s, uint64_t h);

/* 1 when present. */
int seen_has(const struct seen *s, uint64_t h);

/* Pages held. */
size_t seen_count(const struct seen *s);

/* Bytes of memory the set holds (table and journal). */
size_t seen_memory(const struct seen *s);

/* The hashes added since the last clear, in order of addition. */
const uint64_t *seen_journal(const struct seen *s, size_t *n);
void seen_journal_clear(struct seen *s);

/* Appends n hashes as one changelog chunk (base64 text). 0 ok, -1 past
 * out's cap. */
int seen_chunk_encode(const uint64_t *h, size_t n, struct buf *out);

/* Adds the hashes of one chunk (not journaled: they are in the changelog
 * already). Returns how many were new, -1 when the chunk is malformed or the
 * set is full (errstr says which). */
long seen_chunk_restore(struct seen *s, const char *chunk, size_t len, char *errstr,
                        size_t errstr_size);

#endif
