/*
 * follower — an in-memory view of small topics, kept current on a thread of
 * its own.
 *
 * Some topics are state every instance needs whole: the tenants' webhook
 * settings (read by ingest and deliver), the idempotency keys of recent
 * submits (read by every ingest). A follower assigns every partition of its
 * topics from the beginning (no consumer group is joined, nothing is
 * committed: each instance reads everything), and hands each committed
 * record to a callback on its own thread, so the stage's loop never waits
 * on it and the stage's code needs no new call in its loop.
 *
 * It also answers "has this instance read that far yet?": a writer that
 * produced a record waits with follower_wait() until its own record was
 * applied (read-your-writes), and follower_wait_end() waits until
 * everything on a partition at this moment was applied (a read that must
 * not miss a write another instance just made).
 *
 *     struct follower *f = follower_open(&st->cfg, st->client_id, "ferry-deliver-tenants",
 *                                        topics, 1, 0, on_record, table, errstr, sizeof errstr);
 *     follower_wait_caught_up(f, 30000);      // before the first lookup
 *     ...
 *     follower_close(f);
 *
 * The callback runs on the follower's thread: what it updates must be
 * locked against the stage's readers.
 */
#ifndef FERRY_FOLLOWER_H
#define FERRY_FOLLOWER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

#define FOLLOWER_TOPICS_MAX 4

struct follower;

/* One committed record of topic number `topic` (its index in the list given
 * to follower_open). A NULL payload is a tombstone. */
typedef void (*follower_fn)(void *arg, int topic, const rd_kafka_message_t *msg);

/* Several followers can share one consumer, its thread and its fetches (a
 * hub), where they need the same end_wait_ms or less often an answer:
 *
 *     struct follower_hub *h = follower_hub_open(&st->cfg, st->client_id,
 *                                                "ferry-ingest-follow", 50, errstr, sizeof errstr);
 *     struct follower *a = follower_open_on(h, topics_a, 2, on_a, x, errstr, sizeof errstr);
 *     struct follower *b = follower_open_on(h, topics_b, 3, on_b, y, errstr, sizeof errstr);
 *     ...
 *     follower_close(a); follower_close(b);   // then
 *     follower_hub_close(h);
 *
 * Each follower keeps its own topics, numbers, positions and callback; a
 * topic is followed by one follower of a hub at the most. */
struct follower_hub;

/* The consumer and its thread, nothing assigned yet (follower_open's
 * `name` and `end_wait_ms`). NULL with errstr. */
struct follower_hub *follower_hub_open(const struct cfg *cfg, const char *client_id,
                                       const char *name, int end_wait_ms, char *errstr,
                                       size_t errstr_size);

/* As follower_open, on the hub's consumer: adds the partitions of
 * topics[0..n) from the beginning. NULL with errstr. */
struct follower *follower_open_on(struct follower_hub *h, const char *const *topics, size_t n,
                                  follower_fn fn, void *arg, char *errstr, size_t errstr_size);

/* Stops the thread and closes the consumer, after its followers were
 * closed. NULL is fine. */
void follower_hub_close(struct follower_hub *h);

/* Creates the consumer (read_committed; `name` becomes its unused group.id,
 * under FERRY_TOPIC_PREFIX), assigns every partition of topics[0..n) from
 * the beginning (they must exist: call after topics are ensured) and starts
 * the thread. `end_wait_ms` > 0 bounds how late it learns that a partition's
 * end moved without a record to hand over (a transaction's commit marker),
 * which follower_wait_end() waits for, at the price of a fetch request that
 * often while idle; 0 leaves librdkafka's 500 ms, for readers that never
 * wait. NULL with errstr. */
struct follower *follower_open(const struct cfg *cfg, const char *client_id, const char *name,
                               const char *const *topics, size_t n, int end_wait_ms, follower_fn fn,
                               void *arg, char *errstr, size_t errstr_size);

/* 1 once every partition was read to the end it had when following began. */
int follower_caught_up(struct follower *f);

/* Waits up to timeout_ms for follower_caught_up(). 0, or -1 at the deadline. */
int follower_wait_caught_up(struct follower *f, int timeout_ms);

/* Waits up to timeout_ms until every record of topic number `topic`,
 * partition `partition` before `offset` was handed to the callback (offset =
 * a record's offset + 1: that record was applied). 0, or -1 at the deadline
 * or for an unknown partition. */
int follower_wait(struct follower *f, int topic, int32_t partition, int64_t offset, int timeout_ms);

/* Asks the broker where the partition ends now and waits, within
 * timeout_ms in all, until the follower has read that far. 0, or -1 with
 * errstr. */
int follower_wait_end(struct follower *f, int topic, int32_t partition, int timeout_ms,
                      char *errstr, size_t errstr_size);

/* The partitions of topic number `topic`. */
int32_t follower_partitions(const struct follower *f, int topic);

/* Stops handing records to f: a follower of follower_open closes its
 * consumer too, one of follower_open_on gives its partitions back to the
 * hub. NULL is fine. */
void follower_close(struct follower *f);

#endif
