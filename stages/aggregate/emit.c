#include "emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "clock.h"
#include "fhdr.h"
#include "jx.h"
#include "schema.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "report.h"

void emit_init(struct emit *o, struct txn *x, const struct topics *t, size_t task_max)
{
    o->txn = x;
    o->t = t;
    o->task_max = task_max;
    o->m_snapshots = metric_counter("ferry_aggregate_status_snapshots_total",
                                    "Status documents written to batch.status", "");
    o->m_items = metric_counter("ferry_aggregate_item_tasks_total",
                                "item.completed webhook tasks emitted", "");
    o->m_changes = metric_counter("ferry_aggregate_changes_total",
                                  "Content hashes of tracked inputs remembered", "");
    o->m_dlq = metric_counter("ferry_aggregate_dlq_total",
                              "Poison records sent to the aggregate dead-letter topic", "");
}

void emit_status(struct emit *o, struct tally *t, const char *status, json_t **doc_out)
{
    size_t len;
    json_t *doc = report_status(t, status, clk_now_ms(), topic_name(o->t, TOPIC_RESULTS));
    char *text = jx_dump(doc, &len);
    txn_produce(o->txn, topic_name(o->t, TOPIC_STATUS), RD_KAFKA_PARTITION_UA, t->id, strlen(t->id),
                text, len, fhdr_batch(t->id, -1));
    free(text);
    t->progress = 0;
    metric_inc(o->m_snapshots, 1);
    if (doc_out)
        *doc_out = doc;
    else
        json_decref(doc);
}

int emit_task(struct emit *o, const char *batch_id, const json_t *record, const char *event,
              long item, const char *body, size_t body_len)
{
    char dlv[IDS_DELIVERY_LEN];
    size_t len;
    char *task = report_task(record, event, item, body, body_len, clk_now_ms(), dlv, &len);
    if (len > o->task_max) {
        free(task);
        return -1;
    }
    rd_kafka_headers_t *h = fhdr_batch(batch_id, -1);
    fhdr_add(h, FHDR_EVENT, event);
    fhdr_add(h, FHDR_DELIVERY, dlv);
    fhdr_add(h, FHDR_ATTEMPT, "1");
    txn_produce(o->txn, topic_name(o->t, TOPIC_WEBHOOKS), RD_KAFKA_PARTITION_UA, batch_id,
                strlen(batch_id), task, len, h);
    free(task);
    return 0;
}

void emit_item(struct emit *o, const struct tally *t, long long index, const char *result,
               size_t len)
{
    size_t body_len;
    char *body = report_item_body(t->id, index, result, len, 0, &body_len);
    if (emit_task(o, t->id, t->record, "item.completed", (long)index, body, body_len)) {
        free(body);
        body = report_item_body(t->id, index, result, len, 1, &body_len);
        if (emit_task(o, t->id, t->record, "item.completed", (long)index, body, body_len))
            LOG_ERROR("item_task_too_large", "batch=%s item=%lld", t->id, index);
    }
    metric_inc(o->m_items, 1);
    free(body);
}

void emit_change(struct emit *o, const struct record *r, int64_t now_ms)
{
    size_t id_len;
    const char *input;
    char at[CLK_ISO_LEN], value[256];
    if (changes_key_split(r->change_key, strlen(r->change_key), &id_len, &input))
        return;
    clk_iso8601(now_ms, at);
    int n = snprintf(value, sizeof(value),
                     "{\"" SCHEMA_VERSION_KEY "\":%d,\"hash\":\"%s\",\"batch_id\":\"%s\","
                     "\"index\":%lld,\"at\":\"%s\"}",
                     SCHEMA_SCHED_CHANGE, r->content_hash, r->batch_id, r->in.index, at);
    int32_t p = kafka_murmur2_partition(r->change_key, id_len, o->change_partitions);
    txn_produce(o->txn, topic_name(o->t, TOPIC_SCHEDULE_CHANGES), p, r->change_key,
                strlen(r->change_key), value, (size_t)n, NULL);
    metric_inc(o->m_changes, 1);
}

void emit_dead_letter(struct emit *o, const rd_kafka_message_t *m, const char *why)
{
    char origin[TOPIC_NAME_MAX + 48], q[300];
    const char *from = rd_kafka_topic_name(m->rkt);
    snprintf(origin, sizeof(origin), "%s/%d/%lld", from, (int)m->partition, (long long)m->offset);
    LOG_WARN("poison", "origin=%s error=%s", origin, log_quote(q, sizeof(q), why));
    txn_produce(o->txn, topic_name(o->t, TOPIC_AGGREGATE_DLQ), RD_KAFKA_PARTITION_UA, m->key,
                m->key ? m->key_len : 0, m->payload, m->len, fhdr_dead(origin, why));
    metric_inc(o->m_dlq, 1);
}
