/*
 * txn — the aggregator's Kafka transaction: everything one poll cycle causes
 * (status snapshots, webhook tasks, dead letters, changelog records) is
 * produced in one transaction together with the consumed offsets.
 *
 * The offsets are the group consumer's positions, sent with its group
 * metadata (send_offsets_to_transaction), so a zombie of an older generation
 * is fenced. A commit that fails is aborted: nothing of the cycle becomes
 * visible, and the caller rolls its memory back to what committed (the
 * engine restores the assigned partitions from the changelog). A produce
 * that librdkafka refuses at once (too large, unknown topic) fails the
 * transaction the same way, so no output is ever silently missing from a
 * committed one.
 */
#ifndef FERRY_AGGREGATE_TXN_H
#define FERRY_AGGREGATE_TXN_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

struct metric;

struct txn {
    rd_kafka_t *producer; /* transactional (init_transactions done) */
    rd_kafka_t *consumer; /* whose positions are committed */
    int open;
    int64_t opened_mono; /* when the open transaction began */
    int64_t due_mono;    /* when it must commit by (txn_hurry), 0: its interval */
    int failed;          /* a produce was refused: the transaction must abort */
    int fatal;           /* the producer can never commit again */
    struct metric *m_aborts;
};

/* Borrows both clients. */
void txn_init(struct txn *x, rd_kafka_t *producer, rd_kafka_t *consumer);

/* Begins a transaction unless one is open. 0 ok; -1 when it cannot (then
 * a stop was requested: the producer is broken). */
int txn_begin(struct txn *x);

/* Produces into the open transaction (librdkafka copies key and value;
 * takes ownership of hdrs, which may be NULL). `partition` may be
 * RD_KAFKA_PARTITION_UA. A NULL value is a tombstone. */
void txn_produce(struct txn *x, const char *topic, int32_t partition, const char *key,
                 size_t key_len, const void *value, size_t len, rd_kafka_headers_t *hdrs);

/* The open transaction must commit within ms from now (a crawl's requests
 * wait in it: every millisecond it stays open is a millisecond each page's
 * links take to become requests). Never postpones a sooner due time. */
void txn_hurry(struct txn *x, long long ms);

/* When the open transaction is due: its `due_mono`, or opened_mono +
 * interval_ms, whichever is sooner. */
int64_t txn_due(const struct txn *x, long long interval_ms);

enum txn_result {
    TXN_COMMITTED = 0,
    TXN_ABORTED = -1, /* rolled back: the caller's memory ran ahead of Kafka */
    TXN_FATAL = -2,   /* fenced or broken: a stop was requested */
};

/* Commits the open transaction with the consumer's positions of its
 * assigned partitions; on failure aborts it. TXN_COMMITTED when nothing was
 * open. */
enum txn_result txn_commit(struct txn *x);

/* Aborts the open transaction (a revocation of lost partitions: their
 * offsets cannot be committed any more). */
enum txn_result txn_abort(struct txn *x);

#endif
