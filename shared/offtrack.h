/*
 * offtrack — store offsets in order when work finishes out of order.
 *
 * A stage with many messages in flight (fetches, webhook deliveries)
 * finishes them in any order, but Kafka keeps one committed offset per
 * partition: everything below it counts as done. Storing the offset of
 * whatever finished last would skip unfinished work after a crash. offtrack
 * remembers, per partition, the offsets in flight, and stores offset+1 of
 * the longest prefix that is done, so a crash re-does work and never skips
 * it.
 *
 *     offtrack_begin(ot, msg);                    // in consume order
 *     ... work, possibly on another thread ...
 *     offtrack_done(ot, topic, partition, offset); // once the work is durable
 *
 * All functions are thread-safe (one mutex); offtrack_done may run inside a
 * delivery-report callback.
 */
#ifndef FERRY_OFFTRACK_H
#define FERRY_OFFTRACK_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

struct offtrack;

/* `consumer` receives the rd_kafka_offsets_store() calls (its
 * enable.auto.offset.store must be false; auto commit then commits them). */
struct offtrack *offtrack_new(rd_kafka_t *consumer);
void offtrack_free(struct offtrack *ot);

/* Records that msg's work started. Messages of one partition must begin in
 * offset order (the order the consumer returns them). */
void offtrack_begin(struct offtrack *ot, const rd_kafka_message_t *msg);

/* Records that the work of (topic, partition, offset) is durable, and
 * stores the new low-water offset if it advanced. Unknown offsets (a
 * partition revoked meanwhile) are ignored. */
void offtrack_done(struct offtrack *ot, const char *topic, int32_t partition, int64_t offset);

/* Forgets the given partitions (call from the revoke half of a rebalance:
 * their unfinished work will be redone by the next owner). */
void offtrack_revoke(struct offtrack *ot, const rd_kafka_topic_partition_list_t *parts);

/* Offsets begun and not yet done, over all partitions. */
size_t offtrack_pending(struct offtrack *ot);

/* The offset that would be stored now for a partition: the lowest not-done
 * offset, or the last stored one when nothing is pending; -1 if unknown.
 * For tests and metrics. */
int64_t offtrack_low_water(struct offtrack *ot, const char *topic, int32_t partition);

#endif
