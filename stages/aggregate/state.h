/*
 * state — the table of every batch the aggregator follows (tally.h), keyed by
 * batch id.
 *
 * Each tally remembers its partition (the same number in every
 * co-partitioned topic), so a rebalance drops or restores whole partitions.
 * The table keeps the counts of active (known, unfinished) and pending
 * (results before their record) batches as tallies change through it:
 * records, completions and removals go through state_* so the counts stay
 * right.
 */
#ifndef FERRY_AGGREGATE_STATE_H
#define FERRY_AGGREGATE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "strmap.h"
#include "tally.h"

struct state {
    struct strmap map; /* batch id -> struct tally (owned) */
    size_t n_active, n_pending;
    void (*follow_free)(struct follow *);
};

/* `follow_free` frees what the engine attached to a tally (may be NULL
 * when it never attaches anything). */
void state_init(struct state *s, void (*follow_free)(struct follow *));
/* Frees every tally and the table. */
void state_release(struct state *s);

struct tally *state_get(struct state *s, const char *id);
/* Returns the tally, creating an empty pending one (seen at now_ms) when
 * absent. */
struct tally *state_get_or_add(struct state *s, const char *id, int32_t partition, int64_t now_ms);
/* Inserts t (takes ownership); replaces and frees an existing tally of the
 * same id. */
void state_put(struct state *s, struct tally *t);
/* Removes and frees the tally. */
void state_remove(struct state *s, const char *id);
/* Removes and frees every tally of `partition`. Returns how many. */
size_t state_drop_partition(struct state *s, int32_t partition);

/* tally_set_record and tally_finish, with the counts kept. */
int state_set_record(struct state *s, struct tally *t, json_t *record, int64_t started_ms);
void state_finish(struct state *s, struct tally *t, int64_t now_ms);

/* Tallies in the table. */
size_t state_size(const struct state *s);

/* Iteration in no particular order: start with *pos = 0; each call gives
 * the next tally and returns 1, or 0 at the end. The tally just given may
 * be removed (state_remove) before the next call. */
int state_next(const struct state *s, size_t *pos, struct tally **t);

#endif
