/*
 * usagerec — one record of the `usage` topic: a tenant's usage on one UTC
 * day as counted from one aggregator input partition (MESSAGES.md, "usage").
 *
 * aggregate writes these (cumulative: each record replaces the previous one
 * of its key, and the topic is compacted); ingest reads them all and adds up
 * the partitions of a (tenant, day) for GET /v1/usage and the credit limit.
 * Both go through this module, so the key, the JSON and the date are written
 * and read in one place.
 *
 *     key:   "<date>/<partition>/<tenant>"        (unique; readers use the value)
 *     value: {"tenant", "date", "partition", "batches", "items", "succeeded",
 *             "failed", "credits", "webhooks_delivered", "updated_at"}
 */
#ifndef FERRY_USAGEREC_H
#define FERRY_USAGEREC_H

#include <stddef.h>
#include <stdint.h>

/* "2026-11-22" and its NUL. */
#define USAGEREC_DATE_LEN 11
/* Longest tenant name (NUL included), as ingest accepts them. */
#define USAGEREC_TENANT_MAX 64
/* Room for a key: date, partition, tenant, separators. */
#define USAGEREC_KEY_MAX (USAGEREC_DATE_LEN + 12 + USAGEREC_TENANT_MAX)

/* The counters, in the order of the contract; USAGE_FIELDS(X) lists them. */
#define USAGE_FIELDS(X)                                                                            \
    X(batches)                                                                                     \
    X(items)                                                                                       \
    X(succeeded)                                                                                   \
    X(failed)                                                                                      \
    X(credits)                                                                                     \
    X(webhooks_delivered)

struct usage_counts {
#define X(name) long long name;
    USAGE_FIELDS(X)
#undef X
};

/* a += b, field by field. */
void usage_counts_add(struct usage_counts *a, const struct usage_counts *b);

struct usagerec {
    char date[USAGEREC_DATE_LEN];
    int32_t partition;
    char tenant[USAGEREC_TENANT_MAX];
    struct usage_counts c;
};

/* The UTC date of epoch ms. */
void usagerec_date(int64_t epoch_ms, char out[USAGEREC_DATE_LEN]);

/* Parses "YYYY-MM-DD" (a real calendar date) into days since 1970-01-01.
 * 0, or -1 when it is not one. */
int usagerec_parse_date(const char *text, int64_t *days);

/* The date of days since 1970-01-01. */
void usagerec_format_days(int64_t days, char out[USAGEREC_DATE_LEN]);

/* The record's key into out (USAGEREC_KEY_MAX bytes). */
void usagerec_key(const struct usagerec *r, char out[USAGEREC_KEY_MAX]);

/* The record's value: JSON text, malloc'd (length in *len); `now_ms` is
 * its updated_at. */
char *usagerec_json(const struct usagerec *r, int64_t now_ms, size_t *len);

/* Reads a value back. 0, or -1 when it is not a usage record. */
int usagerec_parse(struct usagerec *r, const char *json, size_t len);

#endif
