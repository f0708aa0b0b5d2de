/*
 * reader — on-demand reads of one partition range (results pages, the
 * original task of a redelivery).
 *
 * A small pool of consumers without a group (assign, never subscribe,
 * never commit), connected once and reused, read_committed. A read assigns
 * the partition at an offset, hands each record to a callback until it asks
 * to stop, the range ends, the partition's end is reached or the deadline
 * passes, then unassigns.
 */
#ifndef INGEST_READER_H
#define INGEST_READER_H

#include <librdkafka/rdkafka.h>

#include "stage.h"

struct reader_pool;

struct reader_pool *reader_pool_new(const struct stage *st, int size, char *errstr,
                                    size_t errstr_size);

/* Called per record in offset order; returns 0 to go on, 1 to stop. */
typedef int (*reader_fn)(const rd_kafka_message_t *msg, void *arg);

/* Reads topic/partition from offset `from` up to `last` (inclusive; -1: to
 * the end). Returns 0 when it stopped on the callback, the range or the
 * end; -1 on a deadline or Kafka error (errstr). *next is the offset after
 * the last record handed to fn (from, when none). */
int reader_scan(struct reader_pool *p, const char *topic, int32_t partition, int64_t from,
                int64_t last, int timeout_ms, reader_fn fn, void *arg, int64_t *next,
                char *errstr, size_t errstr_size);

void reader_pool_free(struct reader_pool *p);

#endif
