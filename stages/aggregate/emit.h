/*
 * emit — what the aggregator writes, through the open transaction (txn.h):
 * status snapshots to `batch.status`, webhook tasks to `webhooks`, poison
 * records to `aggregate.dlq`, tracked inputs' hashes to `schedule.changes`. Documents and bodies
 * come from report.h.
 */
#ifndef FERRY_AGGREGATE_EMIT_H
#define FERRY_AGGREGATE_EMIT_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "record.h"
#include "tally.h"
#include "topics.h"
#include "txn.h"

struct emit {
    struct txn *txn;
    const struct topics *t;
    size_t task_max;           /* the largest webhook task a Kafka message holds */
    int32_t change_partitions; /* of schedule.changes (emit_change) */
    struct metric *m_snapshots, *m_items, *m_dlq, *m_changes;
};

/* Borrows txn and topics. `task_max`: FERRY_MAX_MESSAGE_BYTES less room
 * for the record's own overhead. */
void emit_init(struct emit *o, struct txn *x, const struct topics *t, size_t task_max);

/* Writes t's status document (`status`: running or a final one) and clears
 * t->progress. With doc_out, hands the document over (new reference). */
void emit_status(struct emit *o, struct tally *t, const char *status, json_t **doc_out);

/* Writes a webhook task for `event` around `body` (item < 0 for batch.*).
 * -1 when the task would not fit in a Kafka message (nothing written). */
int emit_task(struct emit *o, const char *batch_id, const json_t *record, const char *event,
              long item, const char *body, size_t body_len);

/* item.completed for one counted result (its whole text, in JSON.stringify
 * form). A result too large for a task goes without its data, with
 * result_truncated and results_url. */
void emit_item(struct emit *o, const struct tally *t, long long index, const char *result,
               size_t len);

/* Remembers a tracked input's content hash (changes.h): its record in
 * schedule.changes, on the partition of its schedule id, from the result
 * just counted (r has change_key and content_hash). */
void emit_change(struct emit *o, const struct record *r, int64_t now_ms);

/* Sends a poison record's bytes to aggregate.dlq with where it came from
 * and why. */
void emit_dead_letter(struct emit *o, const rd_kafka_message_t *m, const char *why);

#endif
