/*
 * txn — the submit transaction: a small pool of transactional producers.
 *
 * A submit is written in a Kafka transaction holding the batch record, one
 * request per item, the `queued` status document and, for a submit with an
 * Idempotency-Key, the key's record (idem.h); read_committed
 * consumers see all of it or none of it. A transactional producer runs one
 * transaction at a time, and its cost is mostly the round trips of
 * committing, not the records; so submits that arrive while every producer
 * of the pool (FERRY_INGEST_PRODUCERS) is busy queue up, and the next free
 * producer writes all of them in one transaction (group commit, as
 * databases do for their log). They commit together or fail together: a
 * failed group answers 503 to each of its submits, and none of them is
 * visible. A queue of 1,000 concurrent submits is thus a few transactions,
 * not a thousand in a row.
 *
 * Every submit has a deadline. When Kafka does not answer in time the
 * transaction is aborted; if even the abort cannot reach the broker, the
 * producer is thrown away and its slot is re-opened later with the same
 * transactional.id, which makes the coordinator abort whatever the old one
 * left open — so a failed submit never becomes visible.
 */
#ifndef INGEST_TXN_H
#define INGEST_TXN_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "submission.h"
#include "stage.h"

struct txn_pool;

/* Creates the pool; producers are opened lazily (the first submit or
 * txn_pool_heal()). `instance` names this ingest in the transactional ids. */
struct txn_pool *txn_pool_new(const struct stage *st, int size, const char *instance,
                              int timeout_ms, char *errstr, size_t errstr_size);

/* The topic a batch's requests go to: render.requests for a rendered
 * batch, the small-batch lane for one of at most FERRY_SMALL_BATCH_ITEMS
 * items, scrape.requests otherwise (a retry reads them back from it). */
enum topic_id txn_requests_topic(const struct txn_pool *p, int render, size_t total);

/* Writes the batch in one transaction within the pool's timeout.
 * 0: committed. -1: nothing visible; errstr says why (the API answers 503). */
int txn_submit(struct txn_pool *p, const struct submission *b, const char *secret_enc, char *errstr,
               size_t errstr_size);

/* Writes the batch's records (its record, one request per item, its
 * `queued` status) with `rk`, a transactional producer of the caller's
 * whose transaction is open: a schedule's runs are written in the firing
 * transactions of their owner (firing.h), beside its state; a produced submit in the intake's
 * transaction that consumes it (intake.h). 0, or -1 with errstr (the caller aborts). */
int txn_write(struct txn_pool *p, rd_kafka_t *rk, const struct submission *b,
              const char *secret_enc, int64_t deadline, char *errstr, size_t errstr_size);

/* Re-opens producers that a failure threw away (called from the main loop
 * while Kafka is reachable). */
void txn_pool_heal(struct txn_pool *p);

void txn_pool_free(struct txn_pool *p);

#endif
