/*
 * scan — reading partition ranges outside any consumer group.
 *
 * Besides their group's input, stages read bounded ranges on demand: the
 * aggregator restores a partition's state from its changelog and reads a
 * batch's results back for the webhook body; ingest pages results and reads
 * the original task of a redelivery. A scan consumer is assigned partitions
 * by hand at given offsets, never subscribes, never commits, and reads
 * committed data only, so it never disturbs a group's assignment.
 *
 * A scan consumer serves one scan at a time (callers with concurrent scans
 * keep a pool of them).
 */
#ifndef FERRY_SCAN_H
#define FERRY_SCAN_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

/* A consumer for scan_read: no group joined, read_committed, end-of-
 * partition events on, short fetch waits. `name` tells scans of different
 * stages apart in the broker's logs (it becomes the unused group.id). NULL
 * with errstr. Close it with kafka_consumer_close(c, 0). */
rd_kafka_t *scan_open(const struct cfg *cfg, const char *client_id, const char *name, char *errstr,
                      size_t errstr_size);

/* The same, fetching at most about `fetch_bytes` (at least 1 MiB) at a time
 * and queueing no more than that ahead (scan_open's is 16 MiB, for
 * restores). A record
 * batch larger than that still comes, alone: a reader of large records
 * (files) holds one batch, not a queue of them. */
rd_kafka_t *scan_open_sized(const struct cfg *cfg, const char *client_id, const char *name,
                            size_t fetch_bytes, char *errstr, size_t errstr_size);

/* The first offset of topic/partition whose record timestamp is at or
 * after ts_ms (Kafka's time index, ListOffsets), into *offset;
 * RD_KAFKA_OFFSET_END when no record is that recent. 0, or -1 with
 * errstr. */
int scan_offset_at(rd_kafka_t *c, const char *topic, int32_t partition, int64_t ts_ms,
                   int timeout_ms, int64_t *offset, char *errstr, size_t errstr_size);

/* Learns topic's partition leaders now, so the first scan's first fetch
 * does not wait for librdkafka's leader-query timer. Returns the topic
 * handle that keeps that metadata; destroy it before the consumer. */
rd_kafka_topic_t *scan_warm(rd_kafka_t *c, const char *topic, char *errstr, size_t errstr_size);

/* The number of partitions of topic: > 0, or -1 with errstr. */
int scan_partitions(rd_kafka_t *c, const char *topic, int timeout_ms, char *errstr,
                    size_t errstr_size);

/* Called per record in offset order (per partition). Returns SCAN_NEXT to
 * read on, SCAN_STOP to stop, or SCAN_KEEP to stop and keep msg: fn then
 * owns it and destroys it (rd_kafka_message_destroy, from any thread) when
 * done, before the consumer is closed. */
typedef int (*scan_fn)(void *arg, const rd_kafka_message_t *msg);
#define SCAN_NEXT 0
#define SCAN_STOP 1
#define SCAN_KEEP 2

/* Reads partitions parts[0..n) of topic from offset `from` (or
 * RD_KAFKA_OFFSET_BEGINNING) up to offset `until` inclusive, or to each
 * partition's end when `until` < 0. With `key`, records with another key are
 * passed over. `next`, if non-NULL (for n == 1), receives the offset after
 * the last record read. Broker transport errors are waited out until the
 * deadline. Returns 0 when every partition was read (or fn stopped),
 * -1 on a deadline, a stop signal or a Kafka error (errstr). */
int scan_read(rd_kafka_t *c, const char *topic, const int32_t *parts, size_t n, int64_t from,
              int64_t until, const char *key, scan_fn fn, void *arg, int64_t *next, int timeout_ms,
              char *errstr, size_t errstr_size);

/* One topic of scan_read_topics, and where its records go. */
struct scan_topic {
    const char *topic;
    scan_fn fn;
    void *arg;
};

/* Reads partitions parts[0..n) of every topic of topics[0..n_topics) from
 * the beginning to the end in one assignment, so their fetches go together:
 * a restore of several changelogs of the same partitions pays one round of
 * fetches, not one per topic. Records reach their topic's fn in offset
 * order per partition (in no order across topics); SCAN_STOP stops the
 * whole scan. 0, or -1 with errstr as scan_read. */
int scan_read_topics(rd_kafka_t *c, const struct scan_topic *topics, size_t n_topics,
                     const int32_t *parts, size_t n, int timeout_ms, char *errstr,
                     size_t errstr_size);

#endif
