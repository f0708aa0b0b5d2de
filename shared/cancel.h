/*
 * cancel — the set of cancelled batches, followed from the batches topic.
 *
 * Every scrape and render instance needs every cancel, so this consumer is not in a
 * group: it assigns itself all partitions of the batches topic from the
 * beginning and keeps the ids of `ferry-type: cancel` records. A batch
 * record's value goes to xrules_note_batch() (which keeps the batch's
 * extract spec, if it has one, and parses nothing else). Lookups are a hash
 * probe under a read lock.
 */
#ifndef FERRY_CANCEL_H
#define FERRY_CANCEL_H

#include "cfg.h"
#include "xrules.h"

struct cancels;

/* Starts the follower thread; batch records go to xr (NULL: nowhere).
 * NULL with errstr on failure. */
struct cancels *cancels_start(const struct cfg *cfg, const char *client_id, const char *topic,
                              struct xrules *xr, char *errstr, size_t errstr_size);

/* 1 when the batch was cancelled (as far as read so far). */
int cancels_has(struct cancels *c, const char *batch_id);

/* Waits up to timeout_ms until the follower has read every record that
 * existed when it started. 1 caught up, 0 not (yet). */
int cancels_wait_caught_up(struct cancels *c, int timeout_ms);

/* Waits up to timeout_ms until the follower has read every record
 * committed before the call (xrules_set_sync's callback: a request met a
 * spec whose batch record is not read yet). 1 caught up, 0 not. */
int cancels_sync(void *c, int timeout_ms);

size_t cancels_count(struct cancels *c);

void cancels_stop(struct cancels *c);

#endif
