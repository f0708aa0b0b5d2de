#include "engine.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "httpd.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "scan.h"
#include "record.h"
#include "report.h"
#include "shutdown.h"

const struct cfg_opt engine_opts[] = {
    {"FERRY_AGGREGATE_METRICS_LISTEN", CFG_STRING, "127.0.0.1:9102",
     "host:port of this stage's /healthz and /metrics", 0, 0, httpd_check_listen},
    {"FERRY_AGGREGATE_SESSION_TIMEOUT", CFG_DURATION, "10s",
     "session.timeout.ms: how soon the partitions of an instance that vanished move to "
     "the others (a restarted instance gets its own back at once: static membership)",
     6000, 300000, NULL},
    {"FERRY_AGGREGATE_COMMIT_INTERVAL", CFG_DURATION, "100ms",
     "how long one transaction collects work before it commits", 1, 60000, NULL},
    {"FERRY_AGGREGATE_STATUS_INTERVAL", CFG_DURATION, "1s",
     "at most one progress snapshot per batch per this interval", 1, 3600000, NULL},
    {"FERRY_AGGREGATE_TXN_TIMEOUT", CFG_DURATION, "30s",
     "transaction.timeout.ms: how long a crashed instance's open transaction can block readers",
     1000, 900000, NULL},
    {"FERRY_AGGREGATE_DONE_TTL", CFG_DURATION, "10m",
     "how long a finished batch is remembered (late duplicates are swallowed) before its "
     "state is tombstoned",
     0, 0, NULL},
    {"FERRY_AGGREGATE_PENDING_TTL", CFG_DURATION, "1h",
     "how long results whose batch record has not arrived are held", 0, 0, NULL},
    {"FERRY_AGGREGATE_MAX_PENDING", CFG_INT, "10000",
     "batches whose results are held before their batch record; past it, such results go to "
     "the dead-letter topic",
     1, 10000000, NULL},
    {"FERRY_BATCH_DEADLINE", CFG_DURATION, "24h",
     "a batch not complete this long after created_at ends failed (batch.failed)", 0, 0, NULL},
    {"FERRY_WEBHOOK_INLINE_MAX_BYTES", CFG_SIZE, "1M",
     "largest webhook body with the results inline; past it, results_url", 0, 0, NULL},
    {"FERRY_AGGREGATE_CACHE_BYTES", CFG_SIZE, "64M",
     "memory for keeping running batches' results to inline at completion; past it, results "
     "are read back from scrape.results instead",
     0, 0, NULL},
    {"FERRY_MAX_ITEMS", CFG_INT, "100000", "largest batch (item indexes are below it)", 1,
     100000000, NULL},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

/* How often deadlines, expiries and due snapshots are looked at. */
#define TICK_MS             200
#define TRIM_MS             5000
#define RESTORE_TIMEOUT_MS  120000
#define READBACK_TIMEOUT_MS 10000

struct engine {
    struct stage *st;
    const struct topics *t;
    rd_kafka_t *consumer, *producer, *reader;
    rd_kafka_topic_t *warm[2]; /* the reader's topics, metadata kept warm */
    struct state state;

    long long commit_ms, status_ms, done_ttl, pending_ttl, max_pending, deadline_ms, inline_max,
        max_items, cache_max;
    size_t cache_bytes;

    int in_txn;
    int64_t txn_mono;
    int64_t tick_mono, trim_mono;
    int fatal;
    atomic_int ready;
    size_t n_pending, n_active;
    /* Completions in the open transaction: last-result times, observed as
     * latency once the transaction commits. */
    int64_t *done_last;
    size_t n_done, cap_done;
    /* Finished batches whose results are read back before the commit. */
    struct batch **deferred;
    size_t n_deferred, cap_deferred;

    struct metric *m_results, *m_dups, *m_dlq, *m_active, *m_pending, *m_lag, *m_snapshots,
        *m_items, *m_latency, *m_completed, *m_failed, *m_cancelled, *m_aborts, *m_restore_ms;
};

/* ---------------------------------------------------------------- producing */

static void produce(struct engine *e, const char *topic, int32_t partition, const char *key,
                    const void *value, size_t len, rd_kafka_headers_t *hdrs)
{
    struct kafka_msg m = {.topic = topic,
                          .partition = partition,
                          .key = key,
                          .key_len = key ? strlen(key) : 0,
                          .value = (void *)value,
                          .len = len,
                          .msgflags = RD_KAFKA_MSG_F_COPY,
                          .headers = hdrs};
    rd_kafka_resp_err_t err = kafka_produce_wait(e->producer, &m, KAFKA_QUEUE_WAIT_MS);
    if (err) {
        /* The transaction then fails to commit and is aborted: nothing
         * of this cycle becomes visible, so nothing is lost. */
        LOG_ERROR("produce_failed", "topic=%s err=%s", topic, rd_kafka_err2name(err));
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
    }
}

static rd_kafka_headers_t *headers_batch(const char *batch_id)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "ferry-batch", -1, batch_id, -1);
    return h;
}

static void dead_letter(struct engine *e, const rd_kafka_message_t *m, const char *why)
{
    char origin[TOPIC_NAME_MAX + 48], q[300];
    const char *topic = rd_kafka_topic_name(m->rkt);
    snprintf(origin, sizeof(origin), "%s/%d/%lld", topic, (int)m->partition, (long long)m->offset);
    LOG_WARN("poison", "origin=%s error=%s", origin, log_quote(q, sizeof(q), why));
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    rd_kafka_header_add(h, "ferry-origin", -1, origin, -1);
    rd_kafka_header_add(h, "ferry-last-error", -1, why, -1);
    struct kafka_msg dl = {.topic = topic_name(e->t, TOPIC_AGGREGATE_DLQ),
                           .partition = RD_KAFKA_PARTITION_UA,
                           .key = m->key,
                           .key_len = m->key_len,
                           .value = m->payload,
                           .len = m->len,
                           .msgflags = RD_KAFKA_MSG_F_COPY,
                           .headers = h};
    rd_kafka_resp_err_t err = kafka_produce_wait(e->producer, &dl, KAFKA_QUEUE_WAIT_MS);
    if (err) {
        LOG_ERROR("produce_failed", "topic=%s err=%s", topic_name(e->t, TOPIC_AGGREGATE_DLQ),
                  rd_kafka_err2name(err));
        rd_kafka_headers_destroy(h);
    }
    metric_inc(e->m_dlq, 1);
}

static void emit_status(struct engine *e, struct batch *b, const char *status, json_t **doc_out)
{
    size_t len;
    json_t *doc = report_status(b, status, clk_now_ms(), topic_name(e->t, TOPIC_RESULTS));
    char *text = jx_dump(doc, &len);
    produce(e, topic_name(e->t, TOPIC_STATUS), RD_KAFKA_PARTITION_UA, b->id, text, len,
            headers_batch(b->id));
    free(text);
    b->status_mono = clk_mono_ms();
    b->progress = 0;
    metric_inc(e->m_snapshots, 1);
    if (doc_out)
        *doc_out = doc;
    else
        json_decref(doc);
}

static void emit_task(struct engine *e, const struct batch *b, const json_t *record,
                      const char *event, long item, const char *body, size_t body_len)
{
    char dlv[IDS_DELIVERY_LEN];
    size_t len;
    char *task = report_task(record, event, item, body, body_len, clk_now_ms(), dlv, &len);
    rd_kafka_headers_t *h = headers_batch(b->id);
    rd_kafka_header_add(h, "ferry-event", -1, event, -1);
    rd_kafka_header_add(h, "ferry-delivery", -1, dlv, -1);
    rd_kafka_header_add(h, "ferry-attempt", -1, "1", -1);
    produce(e, topic_name(e->t, TOPIC_WEBHOOKS), RD_KAFKA_PARTITION_UA, b->id, task, len, h);
    free(task);
}

/* ---------------------------------------------------------------- read-backs */

/* item.completed for results counted before their batch record arrived:
 * they are read back from the batch's range once the record says so. */
struct held {
    struct engine *e;
    struct batch *b;
    uint8_t *taken; /* indexes already emitted (duplicates skipped) */
};

static void emit_item(struct engine *e, const struct batch *b, const struct record *r)
{
    size_t len;
    char *body = report_item_body(b->id, r->index, r->text, r->text_len, &len);
    emit_task(e, b, b->record, "item.completed", (long)r->index, body, len);
    metric_inc(e->m_items, 1);
    free(body);
}

static int on_held_item(void *arg, const rd_kafka_message_t *m)
{
    struct held *h = arg;
    struct record r;
    char why[256];
    if (record_parse_result(&r, m->payload, m->len, NULL, 0, h->b->total, why, sizeof(why)) == 0 &&
        strcmp(r.batch_id, h->b->id) == 0 && batch_seen(h->b, r.index) &&
        !((h->taken[r.index / 8] >> (r.index % 8)) & 1)) {
        h->taken[r.index / 8] |= (uint8_t)(1u << (r.index % 8));
        emit_item(h->e, h->b, &r);
    }
    record_release(&r);
    return 0;
}

static void emit_held_items(struct engine *e, struct batch *b)
{
    char errstr[256];
    struct held h = {e, b, calloc(1, (size_t)(b->total + 7) / 8 + 1)};
    if (!h.taken)
        abort();
    if (scan_read(e->reader, topic_name(e->t, TOPIC_RESULTS), &b->partition, 1, b->res_first,
                  b->res_last, b->id, on_held_item, &h, NULL, READBACK_TIMEOUT_MS, errstr,
                  sizeof(errstr))) {
        char q[300];
        LOG_WARN("readback_failed", "batch=%s error=%s", b->id, log_quote(q, sizeof(q), errstr));
    }
    free(h.taken);
}

/* Keeps a counted result's inline text while the batch's cache is whole.
 * Takes r->text when it keeps it. */
static void cache_result(struct engine *e, struct batch *b, struct record *r)
{
    size_t len = r->text_len;
    if (!b->cache_ok)
        return;
    if (b->cache.bytes + b->cache.n + len > (size_t)e->inline_max)
        b->inline_over = 1; /* every result so far is here: they cannot fit */
    if (b->inline_over || e->cache_bytes + len > (size_t)e->cache_max) {
        e->cache_bytes -= b->cache.bytes;
        batch_items_clear(&b->cache);
        b->cache_ok = 0;
        return;
    }
    batch_items_add(&b->cache, r->index, r->text, len);
    r->text = NULL;
    e->cache_bytes += len;
}

/* ---------------------------------------------------------------- completion */

static void send_batch_task(struct engine *e, struct batch *b, const json_t *doc, const char *event,
                            struct batch_items *items)
{
    size_t len, rlen = 0;
    char *results = items ? batch_items_join(items, &rlen) : NULL;
    char *body = report_body(doc, event, results, rlen, &len);
    emit_task(e, b, b->record, event, -1, body, len);
    free(body);
    free(results);
}

static void finish(struct engine *e, struct batch *b, const char *status)
{
    json_t *doc;
    const char *event = report_event(status);
    emit_status(e, b, status, &doc);
    LOG_INFO("batch_done", "batch=%s status=%s total=%lld processed=%lld succeeded=%lld", b->id,
             status, b->total, b->processed, b->succeeded);
    metric_inc(strcmp(status, REPORT_COMPLETED) == 0   ? e->m_completed
               : strcmp(status, REPORT_CANCELLED) == 0 ? e->m_cancelled
                                                       : e->m_failed,
               1);
    if (e->n_done == e->cap_done) {
        e->cap_done = e->cap_done ? e->cap_done * 2 : 64;
        e->done_last = realloc(e->done_last, e->cap_done * sizeof(*e->done_last));
        if (!e->done_last)
            abort();
    }
    e->done_last[e->n_done++] = b->last_ms;
    e->n_active--;
    e->cache_bytes -= b->cache.bytes;

    if (record_wants_event(b->record, event)) {
        size_t base = report_body_base(doc, event), budget = 0;
        if ((long long)base < e->inline_max)
            budget = (size_t)(e->inline_max - (long long)base);
        int fits = budget && !b->inline_over;
        if (fits && b->cache_ok && b->cache.bytes + b->cache.n <= budget) {
            send_batch_task(e, b, doc, event, &b->cache);
        } else if (fits && !b->cache_ok && b->res_first >= 0) {
            /* Read back with the other finished batches of this
             * transaction: one scan per partition, not one per batch. */
            batch_items_clear(&b->cache);
            b->deferred = 1;
            b->done = 1;
            b->final_doc = doc;
            b->final_event = event;
            b->budget = budget;
            if (e->n_deferred == e->cap_deferred) {
                e->cap_deferred = e->cap_deferred ? e->cap_deferred * 2 : 64;
                e->deferred = realloc(e->deferred, e->cap_deferred * sizeof(*e->deferred));
                if (!e->deferred)
                    abort();
            }
            e->deferred[e->n_deferred++] = b;
            return;
        } else {
            /* No results at all (an empty array), or more than fit. */
            send_batch_task(e, b, doc, event,
                            fits && b->cache.bytes + b->cache.n <= budget ? &b->cache : NULL);
        }
    }
    json_decref(doc);
    batch_finish(b, clk_now_ms());
}

/* A result read back for a deferred batch: kept (deduplicated through the
 * batch's seen bits, cleared as taken) while its inline budget lasts. */
static int on_deferred(void *arg, const rd_kafka_message_t *m)
{
    struct engine *e = arg;
    struct record r;
    char id[IDS_BATCH_LEN], why[256];
    if (!m->key || m->key_len >= sizeof(id))
        return 0;
    memcpy(id, m->key, m->key_len);
    id[m->key_len] = '\0';
    struct batch *b = state_get(&e->state, id);
    if (!b || !b->deferred || b->inline_over)
        return 0;
    if (record_parse_result(&r, m->payload, m->len, NULL, 0, b->total, why, sizeof(why)) == 0 &&
        strcmp(r.batch_id, b->id) == 0 && batch_seen(b, r.index)) {
        b->bits[r.index / 8] &= (uint8_t) ~(1u << (r.index % 8));
        if (b->cache.bytes + b->cache.n + r.text_len > b->budget) {
            b->inline_over = 1;
            batch_items_clear(&b->cache);
        } else {
            batch_items_add(&b->cache, r.index, r.text, r.text_len);
            r.text = NULL;
        }
    }
    record_release(&r);
    return 0;
}

/* Reads back the results of this transaction's deferred batches and emits
 * their webhook tasks. A batch whose results cannot be read in time gets
 * results_url instead (logged). */
static void run_deferred(struct engine *e)
{
    char errstr[256];
    for (size_t i = 0; i < e->n_deferred; i++) {
        struct batch *first = e->deferred[i];
        if (!first->deferred)
            continue; /* its partition was scanned already */
        int32_t p = first->partition;
        int64_t from = first->res_first, until = first->res_last;
        for (size_t j = i + 1; j < e->n_deferred; j++) {
            struct batch *b = e->deferred[j];
            if (b->partition == p && b->res_first < from)
                from = b->res_first;
            if (b->partition == p && b->res_last > until)
                until = b->res_last;
        }
        int rc = scan_read(e->reader, topic_name(e->t, TOPIC_RESULTS), &p, 1, from, until, NULL,
                           on_deferred, e, NULL, READBACK_TIMEOUT_MS, errstr, sizeof(errstr));
        if (rc) {
            char q[300];
            LOG_WARN("readback_failed", "partition=%d error=%s", (int)p,
                     log_quote(q, sizeof(q), errstr));
        }
        for (size_t j = i; j < e->n_deferred; j++) {
            struct batch *b = e->deferred[j];
            if (b->partition != p || !b->deferred)
                continue;
            send_batch_task(e, b, b->final_doc, b->final_event,
                            rc || b->inline_over ? NULL : &b->cache);
            batch_finish(b, clk_now_ms());
        }
    }
    e->n_deferred = 0;
}

/* ---------------------------------------------------------------- inputs */

static void on_batch_record(struct engine *e, const rd_kafka_message_t *m, struct record *r)
{
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    struct batch *b = state_get(&e->state, r->batch_id);
    int was_pending = b && !b->known && !b->done;
    if (!b)
        b = state_get_or_add(&e->state, r->batch_id, m->partition, clk_now_ms());
    if (b->done || (r->type == RECORD_BATCH && b->known))
        return; /* a replayed record of a batch we already follow or finished */

    if (r->type == RECORD_CANCEL) {
        b->cancelled = 1;
        b->dirty = 1;
        if (b->known) {
            finish(e, b, REPORT_CANCELLED);
        } else if (!was_pending) {
            e->n_pending++;
        }
        return;
    }
    if (was_pending)
        e->n_pending--;
    e->n_active++;
    if (batch_set_record(b, r->root, ts > 0 ? ts : clk_now_ms()))
        LOG_WARN("pending_out_of_range", "batch=%s total=%lld", b->id, b->total);
    if (!record_wants_event(b->record, "batch.completed") &&
        !record_wants_event(b->record, "batch.failed") &&
        !record_wants_event(b->record, "batch.cancelled")) {
        e->cache_bytes -= b->cache.bytes;
        batch_items_clear(&b->cache);
        b->cache_ok = 0;
    }
    emit_status(e, b, REPORT_RUNNING, NULL);
    if (b->cancelled) {
        finish(e, b, REPORT_CANCELLED);
        return;
    }
    if (b->processed > 0 && record_wants_event(b->record, "item.completed"))
        emit_held_items(e, b);
    if (batch_complete(b))
        finish(e, b, REPORT_COMPLETED);
}

static void on_result(struct engine *e, const rd_kafka_message_t *m, struct record *r)
{
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    struct batch *b = state_get(&e->state, r->batch_id);
    if (!b) {
        if (e->n_pending >= (size_t)e->max_pending) {
            dead_letter(e, m,
                        "too many batches held before their batch record "
                        "(FERRY_AGGREGATE_MAX_PENDING)");
            return;
        }
        b = state_get_or_add(&e->state, r->batch_id, m->partition, clk_now_ms());
        e->n_pending++;
    }
    int counted =
        batch_count(b, r->index, r->code, ts > 0 ? ts : clk_now_ms(), m->offset, e->max_items);
    if (counted < 0) {
        dead_letter(e, m, "index: not below the batch's total");
        return;
    }
    if (counted == 0) {
        metric_inc(e->m_dups, 1);
        return;
    }
    metric_inc(e->m_results, 1);
    if (b->known && record_wants_event(b->record, "item.completed"))
        emit_item(e, b, r);
    cache_result(e, b, r);
    if (!b->known)
        return;
    if (batch_complete(b))
        finish(e, b, REPORT_COMPLETED);
}

static void handle(struct engine *e, const rd_kafka_message_t *m)
{
    char why[300], type[16];
    struct record r;
    int rc;
    const char *topic = rd_kafka_topic_name(m->rkt);
    int is_batches = strcmp(topic, topic_name(e->t, TOPIC_BATCHES)) == 0;

    if (is_batches)
        rc = record_parse_batch(&r, m->payload, m->len,
                                kafka_header(m, "ferry-type", type, sizeof(type)), m->key,
                                m->key_len, e->max_items, why, sizeof(why));
    else
        rc = record_parse_result(&r, m->payload, m->len, m->key, m->key_len, e->max_items, why,
                                 sizeof(why));
    if (rc)
        dead_letter(e, m, why);
    else if (is_batches)
        on_batch_record(e, m, &r);
    else
        on_result(e, m, &r);
    record_release(&r);
}

/* ---------------------------------------------------------------- transactions */

static int begin(struct engine *e)
{
    if (e->in_txn)
        return 0;
    rd_kafka_error_t *err = rd_kafka_begin_transaction(e->producer);
    if (err) {
        LOG_ERROR("txn_begin", "err=%s", rd_kafka_error_string(err));
        if (rd_kafka_error_is_fatal(err))
            e->fatal = 1;
        rd_kafka_error_destroy(err);
        shutdown_request();
        return -1;
    }
    e->in_txn = 1;
    e->txn_mono = clk_mono_ms();
    return 0;
}

/* Writes the changelog of every changed batch and the progress snapshots
 * that are due. */
static void flush_state(struct engine *e)
{
    int64_t now = clk_mono_ms();
    for (size_t i = 0; i < state_slots(&e->state); i++) {
        struct batch *b = state_at(&e->state, i);
        if (!b)
            continue;
        if (b->progress && b->known && !b->done && now - b->status_mono >= e->status_ms)
            emit_status(e, b, REPORT_RUNNING, NULL);
        if (b->dirty) {
            size_t len;
            char *text = state_encode(b, &len);
            produce(e, topic_name(e->t, TOPIC_AGGREGATE_STATE), b->partition, b->id, text, len,
                    NULL);
            free(text);
            b->dirty = 0;
        }
    }
}

static void recount(struct engine *e)
{
    e->n_pending = e->n_active = e->cache_bytes = 0;
    for (size_t i = 0; i < state_slots(&e->state); i++) {
        struct batch *b = state_at(&e->state, i);
        if (b)
            e->cache_bytes += b->cache.bytes;
        if (b && !b->done)
            (*(b->known ? &e->n_active : &e->n_pending))++;
    }
}

static void reset_assigned(struct engine *e);

/* 0 committed; -1 aborted (the caller's state was rolled back) or fatal. */
static int commit(struct engine *e, int rolling_back_ok)
{
    rd_kafka_error_t *err = NULL;
    rd_kafka_topic_partition_list_t *asg = NULL, *offs = NULL;
    if (!e->in_txn)
        return 0;
    run_deferred(e);
    flush_state(e);

    if (rd_kafka_assignment(e->consumer, &asg) == 0) {
        rd_kafka_position(e->consumer, asg);
        offs = rd_kafka_topic_partition_list_new(asg->cnt);
        for (int i = 0; i < asg->cnt; i++)
            if (asg->elems[i].offset >= 0)
                rd_kafka_topic_partition_list_add(offs, asg->elems[i].topic,
                                                  asg->elems[i].partition)
                    ->offset = asg->elems[i].offset;
    }
    if (offs && offs->cnt > 0) {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(e->consumer);
        err = rd_kafka_send_offsets_to_transaction(e->producer, offs, cgmd, -1);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
    }
    if (!err)
        err = rd_kafka_commit_transaction(e->producer, -1);
    if (asg)
        rd_kafka_topic_partition_list_destroy(asg);
    if (offs)
        rd_kafka_topic_partition_list_destroy(offs);

    if (!err) {
        int64_t now = clk_now_ms();
        for (size_t i = 0; i < e->n_done; i++)
            metric_observe(e->m_latency, (double)(now - e->done_last[i]) / 1000.0);
        e->n_done = 0;
        e->in_txn = 0;
        return 0;
    }
    LOG_WARN("txn_commit", "err=%s abortable=%d fatal=%d", rd_kafka_error_string(err),
             rd_kafka_error_txn_requires_abort(err), rd_kafka_error_is_fatal(err));
    int fatal = rd_kafka_error_is_fatal(err);
    rd_kafka_error_destroy(err);
    e->in_txn = 0;
    e->n_done = 0;
    if (fatal) {
        /* Fenced by a newer instance with our transactional.id, or a broken
         * producer: nothing of ours will ever commit again. */
        e->fatal = 1;
        shutdown_request();
        return -1;
    }
    err = rd_kafka_abort_transaction(e->producer, -1);
    if (err) {
        LOG_ERROR("txn_abort", "err=%s", rd_kafka_error_string(err));
        if (rd_kafka_error_is_fatal(err)) {
            e->fatal = 1;
            shutdown_request();
        }
        rd_kafka_error_destroy(err);
    }
    metric_inc(e->m_aborts, 1);
    /* The memory state ran ahead of what committed: roll it back. */
    if (rolling_back_ok)
        reset_assigned(e);
    return -1;
}

/* ---------------------------------------------------------------- restore */

struct restore {
    struct engine *e;
    size_t records, bad;
};

static int on_changelog(void *arg, const rd_kafka_message_t *m)
{
    struct restore *r = arg;
    char id[IDS_BATCH_LEN], why[256];
    r->records++;
    if (!m->key || m->key_len >= sizeof(id)) {
        r->bad++;
        return 0;
    }
    memcpy(id, m->key, m->key_len);
    id[m->key_len] = '\0';
    if (!m->payload) {
        state_remove(&r->e->state, id);
        return 0;
    }
    json_t *v = jx_parse(m->payload, m->len, 8, why, sizeof(why));
    struct batch *b = v ? state_decode(id, m->partition, v, why, sizeof(why)) : NULL;
    json_decref(v);
    if (!b) {
        char q[300];
        r->bad++;
        LOG_WARN("changelog_bad", "batch=%s error=%s", id, log_quote(q, sizeof(q), why));
        return 0;
    }
    state_put(&r->e->state, b);
    return 0;
}

/* Distinct partition numbers of a list. Returns the count written to out. */
static size_t partition_numbers(const rd_kafka_topic_partition_list_t *l, int32_t *out)
{
    size_t n = 0;
    for (int i = 0; i < l->cnt; i++) {
        size_t j = 0;
        while (j < n && out[j] != l->elems[i].partition)
            j++;
        if (j == n)
            out[n++] = l->elems[i].partition;
    }
    return n;
}

/* Settles the committed offsets of `parts` (filled into the list), then
 * reads their state back from the changelog. 0 ok, -1 error. */
static int load(struct engine *e, rd_kafka_topic_partition_list_t *parts)
{
    char errstr[512];
    int64_t t0 = clk_mono_ms();
    int32_t *nums = malloc(sizeof(*nums) * (size_t)(parts->cnt + 1));
    if (!nums)
        abort();
    size_t n = partition_numbers(parts, nums);
    int rc = -1;

    /* First the offsets: with read_committed, librdkafka asks for stable
     * offsets, which waits until a previous owner's transaction has ended,
     * so the changelog read next is at least as new as the offsets. */
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_committed(e->consumer, parts, 10000);
        if (!err)
            break;
        LOG_WARN("committed_offsets", "err=%s", rd_kafka_err2name(err));
        if (shutdown_requested())
            goto out;
    }
    int64_t t_offsets = clk_mono_ms() - t0;
    for (size_t i = 0; i < n; i++)
        state_drop_partition(&e->state, nums[i]);
    struct restore r = {.e = e};
    if (scan_read(e->reader, topic_name(e->t, TOPIC_AGGREGATE_STATE), nums, n,
                  RD_KAFKA_OFFSET_BEGINNING, -1, NULL, on_changelog, &r, NULL, RESTORE_TIMEOUT_MS,
                  errstr, sizeof(errstr))) {
        LOG_ERROR("restore_failed", "error=%s", errstr);
        goto out;
    }
    recount(e);
    metric_set(e->m_restore_ms, clk_mono_ms() - t0);
    LOG_INFO("restored",
             "partitions=%zu records=%zu bad=%zu active=%zu pending=%zu offsets_ms=%lld ms=%lld", n,
             r.records, r.bad, e->n_active, e->n_pending, (long long)t_offsets,
             (long long)(clk_mono_ms() - t0));
    rc = 0;
out:
    free(nums);
    return rc;
}

/* After an aborted transaction: forget the assigned partitions' state and
 * resume them from what committed. */
static void reset_assigned(struct engine *e)
{
    rd_kafka_topic_partition_list_t *asg = NULL;
    if (rd_kafka_assignment(e->consumer, &asg) || asg->cnt == 0)
        goto out;
    while (load(e, asg) && !shutdown_requested())
        usleep(500 * 1000);
    for (int i = 0; i < asg->cnt; i++)
        if (asg->elems[i].offset < 0)
            asg->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *err = rd_kafka_seek_partitions(e->consumer, asg, -1);
    if (err) {
        LOG_ERROR("seek_failed", "err=%s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        shutdown_request();
    }
    LOG_INFO("rolled_back", "partitions=%d", asg->cnt);
out:
    if (asg)
        rd_kafka_topic_partition_list_destroy(asg);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct engine *e = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        while (load(e, parts) && !shutdown_requested())
            usleep(500 * 1000);
        rd_kafka_assign(rk, parts);
        atomic_store(&e->ready, 1);
        return;
    }
    /* Revoked (or lost): what we did so far commits while the partitions
     * are still ours; then their state goes. */
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        commit(e, 0);
    int32_t *nums = malloc(sizeof(*nums) * (size_t)(parts->cnt + 1));
    if (!nums)
        abort();
    size_t n = partition_numbers(parts, nums);
    for (size_t i = 0; i < n; i++)
        state_drop_partition(&e->state, nums[i]);
    free(nums);
    recount(e);
    rd_kafka_assign(rk, NULL);
    LOG_INFO("revoked", "partitions=%d", parts->cnt);
}

/* ---------------------------------------------------------------- ticks */

static void tick(struct engine *e)
{
    int64_t now = clk_now_ms(), mono = clk_mono_ms();
    for (size_t i = 0; i < state_slots(&e->state);) {
        struct batch *b = state_at(&e->state, i);
        int gone = 0;
        if (!b || b->deferred) { /* deferred: its commit is on the way */
            i++;
            continue;
        }
        if (b->done && now - b->done_ms > e->done_ttl) {
            gone = 1;
        } else if (!b->known && !b->done && now - b->seen_ms > e->pending_ttl) {
            LOG_WARN("pending_expired", "batch=%s held=%lld", b->id, b->processed);
            gone = 1;
        } else if (b->known && !b->done && b->created_ms > 0 &&
                   now - b->created_ms > e->deadline_ms) {
            if (begin(e))
                return;
            finish(e, b, REPORT_FAILED);
        } else if (b->progress && b->known && !b->done && mono - b->status_mono >= e->status_ms) {
            if (begin(e)) /* the commit emits it */
                return;
        }
        if (gone) {
            if (begin(e))
                return;
            produce(e, topic_name(e->t, TOPIC_AGGREGATE_STATE), b->partition, b->id, NULL, 0, NULL);
            state_remove(&e->state, b->id); /* shifts the next entry into slot i */
            continue;
        }
        i++;
    }
    recount(e);
    metric_set(e->m_active, (long long)e->n_active);
    /* Finished batches free their state, but glibc keeps the freed heap;
     * hand it back so memory follows the active batches, not the peak. */
    if (mono - e->trim_mono >= TRIM_MS) {
        e->trim_mono = mono;
        malloc_trim(0);
    }
    metric_set(e->m_pending, (long long)e->n_pending);

    long long lag = kafka_consumer_lag(e->consumer);
    metric_set(e->m_lag, lag > 0 ? lag : 0);
}

/* ---------------------------------------------------------------- lifecycle */

int engine_ready(void *arg, char *why, size_t why_size)
{
    struct engine *e = arg;
    if (atomic_load(&e->ready))
        return 1;
    snprintf(why, why_size, "waiting for a partition assignment");
    return 0;
}

static void metrics_init(struct engine *e)
{
    e->m_results = metric_counter("ferry_aggregate_results_total",
                                  "Results counted (first time an item was seen)", "");
    e->m_dups = metric_counter("ferry_aggregate_duplicates_total",
                               "Results of items already counted, skipped", "");
    e->m_dlq = metric_counter("ferry_aggregate_dlq_total",
                              "Poison records sent to the aggregate dead-letter topic", "");
    e->m_completed = metric_counter("ferry_aggregate_completions_total", "Batches finished",
                                    "status=\"completed\"");
    e->m_failed = metric_counter("ferry_aggregate_completions_total", "Batches finished",
                                 "status=\"failed\"");
    e->m_cancelled = metric_counter("ferry_aggregate_completions_total", "Batches finished",
                                    "status=\"cancelled\"");
    e->m_items = metric_counter("ferry_aggregate_item_tasks_total",
                                "item.completed webhook tasks emitted", "");
    e->m_snapshots = metric_counter("ferry_aggregate_status_snapshots_total",
                                    "Status documents written to batch.status", "");
    e->m_aborts = metric_counter("ferry_aggregate_txn_aborts_total",
                                 "Transactions aborted (state rolled back)", "");
    e->m_active = metric_gauge("ferry_aggregate_active_batches", "Batches being followed", "");
    e->m_pending = metric_gauge("ferry_aggregate_pending_batches",
                                "Batches with results held before their batch record", "");
    e->m_lag = metric_gauge("ferry_aggregate_lag",
                            "Messages behind the end of the assigned input partitions", "");
    e->m_restore_ms = metric_gauge("ferry_aggregate_restore_ms",
                                   "Duration of the last changelog restore (ms)", "");
    e->m_latency = metric_histogram(
        "ferry_aggregate_completion_seconds",
        "Last result's timestamp to the commit of the batch's final status and webhook task", "",
        metric_latency_bounds, metric_latency_n);
}

struct engine *engine_open(struct stage *st, char *errstr, size_t errstr_size)
{
    struct engine *e = calloc(1, sizeof(*e));
    char txn_id[TOPIC_NAME_MAX + 128], timeout[32], session[32];
    if (!e)
        abort();
    e->st = st;
    e->t = &st->topics;
    e->commit_ms = cfg_int(&st->cfg, "FERRY_AGGREGATE_COMMIT_INTERVAL");
    e->status_ms = cfg_int(&st->cfg, "FERRY_AGGREGATE_STATUS_INTERVAL");
    e->done_ttl = cfg_int(&st->cfg, "FERRY_AGGREGATE_DONE_TTL");
    e->pending_ttl = cfg_int(&st->cfg, "FERRY_AGGREGATE_PENDING_TTL");
    e->max_pending = cfg_int(&st->cfg, "FERRY_AGGREGATE_MAX_PENDING");
    e->deadline_ms = cfg_int(&st->cfg, "FERRY_BATCH_DEADLINE");
    e->inline_max = cfg_int(&st->cfg, "FERRY_WEBHOOK_INLINE_MAX_BYTES");
    e->max_items = cfg_int(&st->cfg, "FERRY_MAX_ITEMS");
    e->cache_max = cfg_int(&st->cfg, "FERRY_AGGREGATE_CACHE_BYTES");
    state_init(&e->state);
    metrics_init(e);

    /* FERRY_AGGREGATE_INSTANCE (stage.h): a restarted instance fences its
     * crashed self at once. */
    snprintf(txn_id, sizeof(txn_id), "%saggregate.%s", cfg_str(&st->cfg, "FERRY_TOPIC_PREFIX"),
             st->instance);
    snprintf(timeout, sizeof(timeout), "%lld", cfg_int(&st->cfg, "FERRY_AGGREGATE_TXN_TIMEOUT"));
    snprintf(session, sizeof(session), "%lld",
             cfg_int(&st->cfg, "FERRY_AGGREGATE_SESSION_TIMEOUT"));

    rd_kafka_conf_t *pconf =
        kafka_producer_conf(&st->cfg, st->client_id, txn_id, errstr, errstr_size);
    if (!pconf || kafka_conf_set(pconf, "transaction.timeout.ms", timeout, errstr, errstr_size))
        goto err_pconf;
    /* The producer exists before topics do (it provisions them); its
     * init_transactions waits for the broker like stage_ensure_topics. */
    for (;;) {
        rd_kafka_conf_t *copy = rd_kafka_conf_dup(pconf);
        e->producer = kafka_producer_open(copy, 30000, errstr, errstr_size);
        if (e->producer || shutdown_requested())
            break;
        LOG_WARN("producer_waiting", "reason=%s", errstr);
        sleep(1);
    }
    rd_kafka_conf_destroy(pconf);
    if (!e->producer)
        goto err;
    if (stage_ensure_topics(st, e->producer)) {
        snprintf(errstr, errstr_size, "topics not provisioned");
        goto err;
    }
    e->reader = scan_open(&st->cfg, st->client_id, "aggregate-reader", errstr, errstr_size);
    if (!e->reader ||
        !(e->warm[0] =
              scan_warm(e->reader, topic_name(e->t, TOPIC_AGGREGATE_STATE), errstr, errstr_size)) ||
        !(e->warm[1] = scan_warm(e->reader, topic_name(e->t, TOPIC_RESULTS), errstr, errstr_size)))
        goto err;

    rd_kafka_conf_t *cconf =
        kafka_consumer_conf(&st->cfg, st->client_id, "ferry-aggregate", errstr, errstr_size);
    if (!cconf ||
        /* Range: partition p of both co-partitioned inputs to one instance. */
        kafka_conf_set(cconf, "partition.assignment.strategy", "range", errstr, errstr_size) ||
        /* Offsets go only through the transaction. */
        kafka_conf_set(cconf, "enable.auto.commit", "false", errstr, errstr_size) ||
        /* Prefetch: 16 MB keeps the loop fed at full speed; librdkafka's
         * 64 MB default would be a third of the memory budget. */
        kafka_conf_set(cconf, "queued.max.messages.kbytes", "16384", errstr, errstr_size) ||
        kafka_conf_set(cconf, "session.timeout.ms", session, errstr, errstr_size)) {
        if (cconf)
            rd_kafka_conf_destroy(cconf);
        goto err;
    }
    rd_kafka_conf_set_rebalance_cb(cconf, on_rebalance);
    rd_kafka_conf_set_opaque(cconf, e);
    const char *inputs[] = {topic_name(e->t, TOPIC_BATCHES), topic_name(e->t, TOPIC_RESULTS)};
    e->consumer = kafka_consumer_open(cconf, inputs, 2, errstr, errstr_size);
    if (!e->consumer)
        goto err;
    LOG_INFO("started", "inputs=%s,%s transactional_id=%s", inputs[0], inputs[1], txn_id);
    return e;
err_pconf:
    if (pconf)
        rd_kafka_conf_destroy(pconf);
err:
    engine_close(e);
    return NULL;
}

int engine_run(struct engine *e)
{
    e->tick_mono = clk_mono_ms();
    while (!shutdown_requested()) {
        int64_t now = clk_mono_ms();
        /* Wait at most until this transaction is due, and never long, so a
         * stop signal and ticks are noticed promptly. */
        int timeout = 100;
        if (e->in_txn) {
            int64_t left = e->txn_mono + e->commit_ms - now;
            timeout = left < 0 ? 0 : left < timeout ? (int)left : timeout;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(e->consumer, timeout);
        if (m) {
            if (!m->err) {
                if (begin(e) == 0)
                    handle(e, m);
            } else {
                LOG_WARN("consume_error", "err=%s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(e->producer, 0);
        now = clk_mono_ms();
        if (now - e->tick_mono >= TICK_MS) {
            e->tick_mono = now;
            tick(e);
        }
        if (e->in_txn && now - e->txn_mono >= e->commit_ms)
            commit(e, 1);
    }
    if (e->in_txn && !e->fatal)
        commit(e, 0);
    return e->fatal ? -1 : 0;
}

void engine_close(struct engine *e)
{
    if (e->consumer)
        kafka_consumer_close(e->consumer, 0); /* revocation commits nothing new */
    for (size_t i = 0; i < 2; i++)
        if (e->warm[i])
            rd_kafka_topic_destroy(e->warm[i]);
    if (e->reader) {
        rd_kafka_consumer_close(e->reader);
        rd_kafka_destroy(e->reader);
    }
    if (e->producer)
        kafka_producer_close(e->producer, 5000);
    state_release(&e->state);
    free(e->done_last);
    free(e->deferred);
    free(e);
}
