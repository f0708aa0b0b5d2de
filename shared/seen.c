#include "seen.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "secretbox.h"

/* ------------------------------------------------------------------- table */

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#define SEEN_MIN_SLOTS 1024

void seen_key(const char *crawl_id, uint8_t key[SEEN_KEY_LEN])
{
    static const char label[] = "ferry.seen"; /* with its NUL: label and id stay apart */
    unsigned char msg[sizeof(label) + 128], md[SHA256_DIGEST_LENGTH];
    size_t idlen = strnlen(crawl_id, sizeof(msg) - sizeof(label));
    memcpy(msg, label, sizeof(label));
    memcpy(msg + sizeof(label), crawl_id, idlen);
    SHA256(msg, sizeof(label) + idlen, md);
    memcpy(key, md, SEEN_KEY_LEN);
}

uint64_t seen_hash_with(const uint8_t key[SEEN_KEY_LEN], const char *page_key, size_t len)
{
    return ids_siphash(key, page_key, len);
}

int seen_init(struct seen *s, const char *crawl_id, size_t max)
{
    memset(s, 0, sizeof(*s));
    s->max = max;
    s->slots = calloc(SEEN_MIN_SLOTS, sizeof(*s->slots));
    if (!s->slots)
        return -1;
    s->mask = SEEN_MIN_SLOTS - 1;
    seen_key(crawl_id, s->key);
    return 0;
}

void seen_release(struct seen *s)
{
    free(s->slots);
    free(s->journal);
    memset(s, 0, sizeof(*s));
}

uint64_t seen_hash(const struct seen *s, const char *key, size_t len)
{
    return seen_hash_with(s->key, key, len);
}

/* The slot holding h, or the empty slot where it would go. */
static size_t probe(const uint64_t *slots, size_t mask, uint64_t h)
{
    size_t i = (size_t)h & mask;
    while (slots[i] && slots[i] != h)
        i = (i + 1) & mask;
    return i;
}

static int grow(struct seen *s)
{
    size_t n_slots = 2 * (s->mask + 1);
    uint64_t *slots = calloc(n_slots, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i <= s->mask; i++)
        if (s->slots[i])
            slots[probe(slots, n_slots - 1, s->slots[i])] = s->slots[i];
    free(s->slots);
    s->slots = slots;
    s->mask = n_slots - 1;
    return 0;
}

/* Inserts without journaling: 1 new, 0 present, -1 full or no memory. */
static int insert(struct seen *s, uint64_t h)
{
    if (!h)
        h = 1;
    size_t i = probe(s->slots, s->mask, h);
    if (s->slots[i])
        return 0;
    if (s->n >= s->max)
        return -1;
    if (4 * (s->n + 1) > 3 * (s->mask + 1)) {
        if (grow(s))
            return -1;
        i = probe(s->slots, s->mask, h);
    }
    s->slots[i] = h;
    s->n++;
    return 1;
}

int seen_add(struct seen *s, uint64_t h)
{
    if (s->n_journal == s->journal_alloc) {
        size_t na = s->journal_alloc ? 2 * s->journal_alloc : 64;
        uint64_t *j = realloc(s->journal, na * sizeof(*j));
        if (!j)
            return -1;
        s->journal = j;
        s->journal_alloc = na;
    }
    int rc = insert(s, h);
    if (rc == 1)
        s->journal[s->n_journal++] = h ? h : 1;
    return rc;
}

int seen_has(const struct seen *s, uint64_t h)
{
    if (!h)
        h = 1;
    return s->slots[probe(s->slots, s->mask, h)] != 0;
}

size_t seen_count(const struct seen *s)
{
    return s->n;
}

size_t seen_memory(const struct seen *s)
{
    return (s->mask + 1) * sizeof(*s->slots) + s->journal_alloc * sizeof(*s->journal);
}

const uint64_t *seen_journal(const struct seen *s, size_t *n)
{
    *n = s->n_journal;
    return s->journal;
}

void seen_journal_clear(struct seen *s)
{
    s->n_journal = 0;
    /* A burst (a sitemap of 50,000 pages) leaves no large journal behind. */
    if (s->journal_alloc > 4096) {
        free(s->journal);
        s->journal = NULL;
        s->journal_alloc = 0;
    }
}

/* ------------------------------------------------------------------ chunks */

int seen_chunk_encode(const uint64_t *h, size_t n, struct buf *out)
{
    uint8_t *raw = malloc(n ? 8 * n : 1);
    if (!raw)
        return -1;
    for (size_t i = 0; i < n; i++)
        store_le64(raw + 8 * i, h[i]);
    char *text = secretbox_b64(raw, 8 * n);
    free(raw);
    if (!text)
        return -1;
    int rc = buf_adds(out, text);
    free(text);
    return rc;
}

long seen_chunk_restore(struct seen *s, const char *chunk, size_t len, char *errstr,
                        size_t errstr_size)
{
    char *text = strndup(chunk, len);
    size_t cap = len / 4 * 3 + 3;
    uint8_t *raw = malloc(cap);
    long added = -1;
    if (!text || !raw) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    long n = secretbox_unb64(text, raw, cap);
    if (n < 0 || n % 8 != 0) {
        snprintf(errstr, errstr_size, "malformed seen-set chunk");
        goto out;
    }
    added = 0;
    for (long i = 0; i < n; i += 8) {
        int rc = insert(s, load_le64(raw + i));
        if (rc < 0) {
            snprintf(errstr, errstr_size, "seen set full (%zu pages)", s->max);
            added = -1;
            goto out;
        }
        added += rc;
    }
out:
    free(text);
    free(raw);
    return added;
}
