/*
 * reader — reading a partition range outside the consumer group.
 *
 * The aggregator reads two things besides its input: its changelog (to
 * restore a partition's state on assignment, up to the end) and a finished
 * batch's results (to put them inline in the webhook body). Both are plain
 * assign-and-read on a consumer of its own that is in no group, reading
 * committed data only, so it never disturbs the group's assignment.
 *
 * Called from the engine's thread only; one scan at a time.
 */
#ifndef FERRY_AGGREGATE_READER_H
#define FERRY_AGGREGATE_READER_H

#include <librdkafka/rdkafka.h>

#include "cfg.h"

/* A consumer for reader_scan (no group, read_committed, EOF events on).
 * NULL with errstr. */
rd_kafka_t *reader_open(const struct cfg *cfg, const char *client_id, char *errstr,
                        size_t errstr_size);

/* Learns topic's partition leaders now, so a later scan's first fetch does
 * not wait for librdkafka's 500 ms leader-query timer. Returns the topic
 * handle that keeps that metadata; the caller destroys it before the
 * reader. NULL with errstr. */
rd_kafka_topic_t *reader_warm(rd_kafka_t *reader, const char *topic, char *errstr,
                              size_t errstr_size);

/* Called per message; return non-zero to stop the scan early. */
typedef int (*reader_fn)(void *arg, const rd_kafka_message_t *msg);

/* Reads `topic` partitions parts[0..n) from `from` (an offset, or
 * RD_KAFKA_OFFSET_BEGINNING) until each reaches its end (`until` < 0) or
 * offset `until` (inclusive). `key` non-NULL skips messages with another
 * key before calling fn. 0 done (or stopped by fn), -1 on error or timeout
 * (errstr). */
int reader_scan(rd_kafka_t *reader, const char *topic, const int32_t *parts, size_t n, int64_t from,
                int64_t until, const char *key, reader_fn fn, void *arg, int timeout_ms,
                char *errstr, size_t errstr_size);

#endif
