/*
 * idem — Idempotency-Key on submits (DESIGN.md, "Submit (additions)").
 *
 * A key (1 to 255 printable ASCII bytes) is remembered per tenant for 24 h
 * from the submit that first used it, across restarts and across every
 * ingest instance. Its record
 *
 *     {"tenant", "key", "batch_id", "request_sha256", "created_at", "total",
 *      "invalid", "secret_generated"}
 *
 * goes to the `idempotency` topic (key "<tenant>/<key>") in the same Kafka
 * transaction as the batch it created, so a key is remembered exactly when
 * its batch exists; every ingest reads that topic whole into this table
 * (a follower) and adds its own keys at once when their transaction
 * commits. The same key with the same request (SHA-256 of the route and
 * the body's bytes) answers the original 202 again, with
 * `Idempotent-Replayed: true`; with another request, 422
 * idempotency_key_reused.
 *
 * Two requests with one key at the same moment:
 *   - on one instance, the second waits until the first has its answer
 *     (the in-flight set), then is answered from the table;
 *   - on two instances (or on one whose follower has not yet read the
 *     other's record: a window of milliseconds), both write. Nothing in
 *     Kafka can make one of them lose, so both must write the same thing:
 *     the batch id derives from tenant, key, request hash and the UTC day
 *     (idem_batch_id), and a generated webhook secret from the batch id
 *     (idem_secret). The batch's records are then in Kafka twice, and that
 *     is harmless: aggregate follows a batch once (a second record of a
 *     batch it follows is a replay to it), counts each item once and sends
 *     one webhook, and every status and listing shows one batch. Scrape may
 *     fetch the items twice. Both answers carry the same id (and secret).
 *     Two different requests racing with one key make two batches (their
 *     ids differ), and the later record on the topic decides what the key
 *     answers from then on; a race across midnight UTC gives two ids too.
 */
#ifndef INGEST_IDEM_H
#define INGEST_IDEM_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "ids.h"
#include "secretbox.h"

#define IDEM_TTL_MS  (24LL * 3600 * 1000)
#define IDEM_KEY_MAX 255
#define IDEM_HASH    32

/* What a key created. */
struct idem_entry {
    char batch_id[IDS_BATCH_LEN];
    unsigned char hash[IDEM_HASH]; /* of the request that created it */
    int64_t created_ms;
    long long total;
    long long invalid;    /* entries ignore_invalid_urls skipped */
    int secret_generated; /* the 202 showed a generated webhook secret */
};

enum idem_verdict {
    IDEM_NEW,    /* unknown: this request now holds the key until idem_end() */
    IDEM_REPLAY, /* the same request made `hit`: answer it again */
    IDEM_REUSED, /* another request made `hit`: 422 */
    IDEM_BUSY,   /* the key stayed in flight on this instance until the deadline */
};

struct idem;

struct idem *idem_new(void);
void idem_free(struct idem *d);

/* 1 when `key` is a well-formed Idempotency-Key value. */
int idem_key_valid(const char *key);

/* The hash that tells requests apart: SHA-256 of route, NUL, body. */
void idem_hash(const char *route, const char *body, size_t len, unsigned char out[IDEM_HASH]);

/* Looks the key up. IDEM_NEW: the caller must call idem_end() once its
 * submit wrote or failed; another request with the key on this instance
 * waits (up to timeout_ms) until then. */
enum idem_verdict idem_begin(struct idem *d, const char *tenant, const char *key,
                             const unsigned char hash[IDEM_HASH], int timeout_ms,
                             struct idem_entry *hit);

/* Releases the key; `made` (NULL when nothing was written) is remembered. */
void idem_end(struct idem *d, const char *tenant, const char *key, const struct idem_entry *made);

/* A follower_fn (follower.h) for the idempotency topic; `d` is the table. */
void idem_follow(void *d, int topic, const rd_kafka_message_t *msg);

/* The batch id an idempotent submit writes (see above). 0, or -1. */
int idem_batch_id(const char *tenant, const char *key, const unsigned char hash[IDEM_HASH],
                  int64_t now_ms, char out[IDS_BATCH_LEN]);

/* The generated webhook secret of idempotent batch `batch_id`: "whsec_" and
 * the base64 of an HMAC of the id under FERRY_SECRET_KEY, so every ingest
 * instance makes the same one. malloc'd (wipe it), or NULL. */
char *idem_secret(const struct secretbox *sb, const char *batch_id);

/* The topic key, "<tenant>/<key>" (tenants have no '/'), into out. */
#define IDEM_TOPIC_KEY_MAX (64 + 1 + IDEM_KEY_MAX + 1)
void idem_topic_key(const char *tenant, const char *key, char out[IDEM_TOPIC_KEY_MAX]);

/* The record's value; malloc'd, length in *len. */
char *idem_record_json(const char *tenant, const char *key, const struct idem_entry *e,
                       size_t *len);

/* Keys remembered now. */
size_t idem_count(struct idem *d);

#endif
