/*
 * reader — a pool of scan consumers (shared/scan.h) for ingest's on-demand
 * reads (results pages, the original task of a redelivery), so concurrent
 * HTTP requests each get a consumer of their own, connected once and reused:
 * one opened at start-up, the others the first time reads overlap.
 */
#ifndef INGEST_READER_H
#define INGEST_READER_H

#include <librdkafka/rdkafka.h>

#include "scan.h"
#include "stage.h"

struct reader_pool;

/* `size` readers; fetch_bytes 0 reads in scan_open's large chunks,
 * otherwise scan_open_sized's (for readers of large records). */
struct reader_pool *reader_pool_new(const struct stage *st, int size, size_t fetch_bytes,
                                    char *errstr, size_t errstr_size);

/* Reads topic/partition from offset `from` up to `last` (inclusive; -1: to
 * the end). Returns 0 when it stopped on the callback, the range or the
 * end; -1 on a deadline or Kafka error (errstr). *next is the offset after
 * the last record handed to fn (from, when none). */
int reader_scan(struct reader_pool *p, const char *topic, int32_t partition, int64_t from,
                int64_t last, int timeout_ms, scan_fn fn, void *arg, int64_t *next, char *errstr,
                size_t errstr_size);

/* scan_offset_at and scan_partitions on one of the pool's readers. */
int reader_offset_at(struct reader_pool *p, const char *topic, int32_t partition, int64_t ts_ms,
                     int timeout_ms, int64_t *offset, char *errstr, size_t errstr_size);
int reader_partitions(struct reader_pool *p, const char *topic, int timeout_ms, char *errstr,
                      size_t errstr_size);

void reader_pool_free(struct reader_pool *p);

#endif
