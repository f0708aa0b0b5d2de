/*
 * process — what happens to an item: skipped (cancelled batch), refused
 * (invalid URL), fetched, and once fetched classified into a result or a
 * retry; plus the stage's fetch metrics.
 */
#ifndef FERRY_SCRAPE_PROCESS_H
#define FERRY_SCRAPE_PROCESS_H

#include <curl/curl.h>

#include "emit.h"
#include "item.h"
#include "words.h"

struct process {
    struct emit *em;
    long long retry_after_max_ms; /* a server's Retry-After is honoured up to this */
};

/* Registers the metrics. */
void process_init(struct process *pr, struct emit *em, long long retry_after_max_ms);

/* fetch_done_fn: a finished transfer (worker thread). */
void process_fetched(struct item *it, CURLcode rc, void *arg);

/* An item that is not fetched: STATUS_CANCELLED or STATUS_INVALID_URL. */
void process_skip(struct process *pr, struct item *it, enum status status, const char *error);

/* An item that cannot be fetched now (STATUS_EXTRACT_ERROR: its rules are
 * not usable here): to a retry tier while one is left and the status is
 * retried, else its result. */
void process_unusable(struct process *pr, struct item *it, enum status status, const char *error);

#endif
