/*
 * tally — one batch's count: which items have a result, how many of each
 * outcome, and the changelog form that survives a restart.
 *
 * Each item counts once whatever the duplicates: a bitmap of the item indexes
 * seen. A result written in parts (scrape.results.schema.json: `part` of
 * `parts`, when it is larger than a Kafka message) counts when its last
 * missing part arrives. Until then the parts seen are kept per attempt (an
 * attempt: one fetch of the item, told apart by a hash of the result's head,
 * every member but `data` and `part`), so parts of two attempts never make
 * one result, and a part seen twice never counts.
 *
 * A tally exists from the first record that names its batch: a result that
 * arrives before the batch record makes a "pending" tally (known = 0) that
 * counts as usual and waits for the total. Once the batch is finished only a
 * small done tally is kept (no record, no bitmap) so late duplicates are
 * swallowed.
 *
 * Nothing here talks to Kafka or knows the table of batches (state.h).
 */
#ifndef FERRY_AGGREGATE_TALLY_H
#define FERRY_AGGREGATE_TALLY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "words.h"

/* Longest status name that is not in words.h's list but is still counted
 * under its own name (written by a newer scrape), NUL included. */
#define TALLY_NAME_MAX 32
/* How many such names one batch may count; a record with one more is
 * refused (dead-lettered), so a stream of stray names cannot grow a tally. */
#define TALLY_MAX_OTHERS 16
/* Longest tenant name kept (NUL included), as ingest accepts them. */
#define TALLY_TENANT_MAX 64

/* One result record as the count needs it (record.c fills it). */
struct tally_in {
    long long index;
    enum status status;         /* STATUS_UNKNOWN: `other` names it */
    char other[TALLY_NAME_MAX]; /* a status words.h does not know */
    long long credits;          /* the result's credits_charged */
    int part, parts;            /* 0, 0 for a result written whole */
    uint64_t attempt;           /* parts: the hash of the head that tells attempts apart */
    int has_change;             /* a tracked run's result with a verdict: */
    enum change change;         /* the verdict */
};

/* Failed items under a status name words.h does not know. */
struct tally_other {
    char name[TALLY_NAME_MAX];
    long long n;
};

/* A result of which some parts have been seen (one attempt of one item). */
struct tally_split {
    long long index;
    uint64_t attempt;
    int parts, got;
    int64_t first_offset; /* of its first part seen: a read-back starts there */
    uint8_t *seen;        /* parts seen, bit p-1 for part p */
};

/* What usage.h has been told of a batch so far: the next bill is the
 * difference between the counts and these. Kept in the changelog with the
 * counts, so both always agree with what committed. */
struct tally_billed {
    long long batches, items, succeeded, failed, credits;
};

/* What the engine keeps beside a batch's count (its snapshot pace, the
 * results it will inline): defined by the engine, owned by the tally, freed
 * through the function the table was made with (state_init). */
struct follow;

struct tally {
    char id[IDS_BATCH_LEN];
    int32_t partition;
    unsigned known : 1;     /* the batch record has been seen */
    unsigned done : 1;      /* the final status and webhook went out */
    unsigned cancelled : 1; /* a cancel record was seen */
    unsigned dirty : 1;     /* changed since the changelog last got it */
    unsigned progress : 1;  /* counts changed since the last status snapshot */
    unsigned billable : 1;  /* the counts are real (not a done tally read back, whose are not) */
    json_t *record;         /* the batch record (owned), while known and not done */
    char *record_text;      /* its serialization, for the changelog (owned) */
    char tenant[TALLY_TENANT_MAX]; /* the record's, once known */
    long long total;      /* a crawl's grows: the pages its frontier accepted (frontier.h) */
    long long discovered; /* a crawl's: pages found in scope (its frontier's count) */
    long long processed, succeeded, credits;
    long long errors[STATUS__COUNT];  /* failed items by status (STATUS_OK unused) */
    long long changes[CHANGE__COUNT]; /* verdicts of a tracked run (changes.h) */
    struct tally_other *others;       /* n_others of them, allocated when the first comes */
    size_t n_others;
    int64_t created_ms;          /* record's created_at */
    int64_t seen_ms;             /* first record naming it (pending expiry) */
    int64_t started_ms;          /* batch record consumed: "running" from then */
    int64_t first_ms, last_ms;   /* first/last counted result (record timestamps) */
    int64_t done_ms;             /* wall time of completion */
    int64_t res_first, res_last; /* offsets in scrape.results, -1 unknown */
    struct follow *follow;       /* the engine's, or NULL */
    struct tally_billed billed;  /* what usage has counted of this batch */

    /* Private to tally.c: read them through tally_seen(). */
    uint8_t *bits; /* seen indexes; bits_len bytes */
    size_t bits_len;
    struct tally_split *splits;
    size_t n_splits, cap_splits;
};

/* A pending tally of batch `id` (calloc'd; tally_free). */
struct tally *tally_new(const char *id, int32_t partition, int64_t now_ms);
/* Frees everything but `follow`, which the caller has taken care of. */
void tally_free(struct tally *t);

/* Takes the batch record (a new reference is taken): total, created_at.
 * Sizes the bitmap for total items. 0 ok, -1 when an index already counted
 * is >= total (the pending results disagree with the record: reported, the
 * record still applies). */
int tally_set_record(struct tally *t, json_t *record, int64_t started_ms);

enum tally_outcome {
    TALLY_OUT_OF_RANGE = -1, /* index >= total when known, >= max_index otherwise */
    TALLY_DUPLICATE = 0,     /* item (or part) already seen, or the batch is done */
    TALLY_COUNTED = 1,       /* the item's result is complete and counted */
    TALLY_PART = 2,          /* a part kept; the item waits for the others */
    TALLY_REFUSED = -2,      /* an unknown status name past TALLY_MAX_OTHERS */
};

/* Counts one result record at `offset` in scrape.results (its timestamp
 * ts_ms). For TALLY_COUNTED, *first_offset is the offset of the result's
 * first part (of this record when written whole). */
enum tally_outcome tally_count(struct tally *t, const struct tally_in *in, int64_t ts_ms,
                               int64_t offset, long long max_index, int64_t *first_offset);

/* 1 when a known, unfinished batch has every item counted. */
int tally_complete(const struct tally *t);

/* 1 when index has been counted. */
int tally_seen(const struct tally *t, long long index);

/* Turns t into a small done tally: frees record, bitmap and parts. */
void tally_finish(struct tally *t, int64_t now_ms);

/* The changelog value of t: JSON text (malloc'd), length in *len. Written
 * by hand, not through jansson: every changed batch is encoded on every
 * commit. Fills t->record_text on first use. */
char *tally_encode(struct tally *t, size_t *len);
/* Rebuilds a tally from a changelog value (version 1 to 3); NULL with errstr
 * when invalid. A done tally comes back without its counts (not billable). */
struct tally *tally_decode(const char *id, int32_t partition, const json_t *v, char *errstr,
                           size_t errstr_size);

#endif
