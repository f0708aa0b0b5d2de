/*
 * request — what a scrape.requests (or retry tier) record asks for.
 */
#ifndef FERRY_SCRAPE_REQUEST_H
#define FERRY_SCRAPE_REQUEST_H

#include <librdkafka/rdkafka.h>

#include "item.h"

struct request_limits {
    long default_timeout_ms, max_timeout_ms;
    long long default_max_bytes, max_max_bytes;
};

/* Reads the request in it's record (it->job.value) into it. -1 with errstr
 * for a poison record: not JSON, or no batch_id/index/url. An item whose
 * URL is unusable is accepted with invalid_url set (a result, not a poison
 * record: the batch needs its item accounted). */
int request_parse(struct item *it, const struct request_limits *lim, char *errstr,
                  size_t errstr_size);

#endif
