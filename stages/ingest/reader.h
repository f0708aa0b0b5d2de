/*
 * reader — a pool of scan consumers (shared/scan.h) for ingest's on-demand
 * reads (results pages, the original task of a redelivery), so concurrent
 * HTTP requests each get a consumer of their own, connected once and reused.
 */
#ifndef INGEST_READER_H
#define INGEST_READER_H

#include <librdkafka/rdkafka.h>

#include "scan.h"
#include "stage.h"

struct reader_pool;

struct reader_pool *reader_pool_new(const struct stage *st, int size, char *errstr,
                                    size_t errstr_size);

/* Reads topic/partition from offset `from` up to `last` (inclusive; -1: to
 * the end). Returns 0 when it stopped on the callback, the range or the
 * end; -1 on a deadline or Kafka error (errstr). *next is the offset after
 * the last record handed to fn (from, when none). */
int reader_scan(struct reader_pool *p, const char *topic, int32_t partition, int64_t from,
                int64_t last, int timeout_ms, scan_fn fn, void *arg, int64_t *next, char *errstr,
                size_t errstr_size);

void reader_pool_free(struct reader_pool *p);

#endif
