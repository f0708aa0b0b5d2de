/*
 * request — a consumed scrape.requests (or retry tier) record → an item.
 */
#ifndef FERRY_SCRAPE_REQUEST_H
#define FERRY_SCRAPE_REQUEST_H

#include <librdkafka/rdkafka.h>

#include "item.h"

struct request_limits {
    long default_timeout_ms, max_timeout_ms;
    long long default_max_bytes, max_max_bytes;
};

/* A new item for msg (value copied; msg may be destroyed after). NULL with
 * errstr for a poison record: not JSON, or no batch_id/index/url. An item
 * whose URL is unusable is returned with invalid_url set (a result, not a
 * poison record: the batch needs its item accounted). */
struct item *request_parse(const rd_kafka_message_t *msg, struct offtrack *ot,
                           const struct request_limits *lim, char *errstr, size_t errstr_size);

#endif
