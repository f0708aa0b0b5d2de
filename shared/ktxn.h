/*
 * ktxn — how a transactional producer ends a transaction, the one policy
 * for every stage (librdkafka's rules for rd_kafka_commit_transaction and
 * rd_kafka_abort_transaction):
 *
 *   retriable (the commit ran out of time while it goes on in the
 *     background): call commit again, which resumes it, until the caller's
 *     deadline;
 *   abortable (txn_requires_abort): abort, then the caller redoes the work
 *     in a new transaction with the same producer;
 *   fatal (fenced by a newer producer with the same transactional.id, or
 *     broken): the producer can never write again and must be destroyed and
 *     made anew (whose init_transactions settles what this one left open).
 *
 * A commit still retriable at the deadline is in doubt: it may yet land,
 * and until it ends librdkafka refuses both an abort and a new transaction
 * (a conflicting call in progress). That is reported as fatal too: the
 * producer is given up, nothing of the work is acknowledged, and work done
 * again is idempotent at every caller (Idempotency-Key, consumed offsets).
 * An abort that fails (any error) leaves the producer in the same unknown
 * state, so it is fatal as well.
 *
 * The calls before the end follow the same rules: librdkafka refuses to
 * begin only a producer that is fatal or whose last transaction has not
 * ended, so a failed begin has nothing to abort and the producer is made
 * anew (ktxn_begin); a call inside the transaction that failed
 * (send_offsets_to_transaction) ends it as a failed commit does: fatal
 * without an abort, aborted otherwise (ktxn_fail).
 *
 * What a caller does next is its own: ingest answers 503 and drops a
 * producer after KTXN_FATAL, aggregate rolls back to what committed, the
 * schedule firer takes its partition over afresh.
 */
#ifndef FERRY_KTXN_H
#define FERRY_KTXN_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

enum ktxn_result {
    KTXN_COMMITTED = 0, /* visible to read_committed readers */
    KTXN_ABORTED = -1,  /* none of it visible; the producer may begin again */
    KTXN_FATAL = -2,    /* the producer must be destroyed and made anew */
};

/* Begins a transaction on rk: 0, or -1 with errstr ("begin_transaction:
 * ...") when librdkafka refuses, which it does only to a producer that
 * must be destroyed and made anew (as after KTXN_FATAL): no transaction is
 * open, so there is nothing to abort. */
int ktxn_begin(rd_kafka_t *rk, char *errstr, size_t errstr_size);

/* Ends rk's open transaction after `error` (not NULL), what the call
 * `what` ("send_offsets_to_transaction") inside it returned; takes the
 * error. A fatal error: KTXN_FATAL,
 * no abort tried (a fatal producer refuses it too); any other: ktxn_abort
 * within abort_ms. errstr: "what: why", then "; abort_transaction: ..."
 * when the abort failed. */
enum ktxn_result ktxn_fail(rd_kafka_t *rk, const char *what, rd_kafka_error_t *error, int abort_ms,
                           char *errstr, size_t errstr_size);

/* Ends a consumer-producer's transaction: sends offs (NULL: none) with
 * the group's metadata cgmd into it within timeout_ms, then commits within
 * what is left of timeout_ms (-1 for both: librdkafka's remaining
 * transaction time). A refused send ends it as ktxn_fail does, a commit as
 * ktxn_commit does; abort_ms bounds the abort either way. */
enum ktxn_result ktxn_commit_offsets(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *offs,
                                     const rd_kafka_consumer_group_metadata_t *cgmd, int timeout_ms,
                                     int abort_ms, char *errstr, size_t errstr_size);

/* Commits rk's open transaction, calling commit again on a retriable
 * error until timeout_ms from now (-1: once, with librdkafka's "remaining
 * transaction time"); on an abortable error aborts it (ktxn_abort with
 * abort_ms). On failure errstr says why ("commit_transaction: ..."). */
enum ktxn_result ktxn_commit(rd_kafka_t *rk, int timeout_ms, int abort_ms, char *errstr,
                             size_t errstr_size);

/* Aborts rk's open transaction (after a failed produce or
 * send_offsets_to_transaction, or a revocation) within timeout_ms (-1:
 * the remaining transaction time). KTXN_ABORTED, or KTXN_FATAL with errstr
 * ("abort_transaction: ...") when the abort failed. */
enum ktxn_result ktxn_abort(rd_kafka_t *rk, int timeout_ms, char *errstr, size_t errstr_size);

#endif
