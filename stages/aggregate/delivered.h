/*
 * delivered — which webhook deliveries have been counted in usage, so each
 * delivery id counts once (webhooks_delivered, usage.h).
 *
 * deliver records every attempt in `webhooks.attempts` (keyed by batch id,
 * so co-partitioned with the aggregator's inputs), at least once: a crash
 * between its POST and its offset commit records the same `delivered`
 * attempt again, and POST /v1/batch/{id}/redeliver sends the same delivery
 * id once more. Neither is a new delivery. So the aggregator reads the
 * attempts with its other inputs and keeps, per batch, the delivery ids
 * already counted:
 *  - item.completed deliveries as a bitmap by item index (the attempt's
 *    `index`): a 100,000-item batch costs 12.5 KB, not a set of ids;
 *  - every other event (batch.completed, batch.failed, ...) and an item
 *    delivery without `index` as a small list of delivery-id hashes.
 *
 * The record of a batch lives in the changelog (`aggregate.state`, key
 * "dlv/<batch id>", partition of the batch) and is written in the same
 * transaction as the usage counter it moved, so a count and the memory of
 * it commit together. It is forgotten (tombstoned) `ttl` after the first
 * delivery it counted: the default is the topics' retention plus a day, by
 * when the original task is gone from Kafka and can be neither retried nor
 * redelivered. A delivery after that counts again.
 */
#ifndef FERRY_AGGREGATE_DELIVERED_H
#define FERRY_AGGREGATE_DELIVERED_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "strmap.h"
#include "txn.h"
#include "usagerec.h"

/* Changelog keys of delivery records begin with this (batch ids never do). */
#define DELIVERED_KEY_PREFIX "dlv/"
/* Most delivery-id hashes one batch keeps (other events, items without an
 * index); past it a delivery is counted without looking (logged). */
#define DELIVERED_MAX_IDS 65536

/* What counting needs of one attempt record (webhooks.attempts). */
struct delivered_attempt {
    const char *delivery_id, *batch_id, *tenant, *event; /* borrowed from the parsed record */
    long long index; /* item.completed: the item; -1 when absent */
    int delivered;   /* outcome == "delivered" */
};

/* One batch's counted deliveries. */
struct delivered_batch {
    char id[IDS_BATCH_LEN];
    char tenant[USAGEREC_TENANT_MAX];
    int32_t partition;
    int64_t first_ms; /* when its first delivery was counted: the ttl runs from it */
    uint8_t *items;   /* item indexes delivered; items_len bytes */
    size_t items_len;
    uint64_t *ids; /* hashes of other delivery ids, n_ids of them */
    size_t n_ids, cap_ids;
    unsigned dirty : 1;
};

struct delivered {
    struct strmap map; /* batch id -> struct delivered_batch (owned) */
    long long ttl_ms;
    long long max_items; /* FERRY_MAX_ITEMS: an index past it is not kept */
};

void delivered_init(struct delivered *d, long long ttl_ms, long long max_items);
void delivered_release(struct delivered *d);

/* Parses an attempt record into a (fields borrowed from *root, a new
 * reference the caller releases). 0, or -1 with errstr. */
int delivered_parse(struct delivered_attempt *a, json_t **root, const void *buf, size_t len,
                    char *errstr, size_t errstr_size);

/* Notes a delivered attempt of partition `partition` at now_ms. 1 when its
 * delivery id is new (count it), 0 when it was counted before. */
int delivered_note(struct delivered *d, int32_t partition, const struct delivered_attempt *a,
                   int64_t now_ms);

/* Writes every changed batch's record to the changelog topic in x. */
void delivered_flush(struct delivered *d, struct txn *x, const char *topic);

/* Forgets (and tombstones, in x) the batches whose ttl passed at now_ms.
 * Returns how many. */
size_t delivered_expire(struct delivered *d, struct txn *x, const char *topic, int64_t now_ms);

/* Forgets partition p's batches (revoked, or about to be read back). */
void delivered_drop_partition(struct delivered *d, int32_t partition);

/* A batch's changelog value: JSON text, malloc'd (length in *len). */
char *delivered_encode(const struct delivered_batch *b, size_t *len);

/* A changelog record whose key begins with DELIVERED_KEY_PREFIX, read back
 * (value NULL: a tombstone). 0, or -1 when the value is not one. */
int delivered_restore(struct delivered *d, int32_t partition, const char *key, size_t key_len,
                      const void *value, size_t len);

/* The batch's record, or NULL (tests). */
const struct delivered_batch *delivered_get(const struct delivered *d, const char *batch_id);

/* Batches kept. */
size_t delivered_count(const struct delivered *d);

#endif
