#include "engine_int.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "complete.h"
#include "delivered.h"
#include "emit.h"
#include "fhdr.h"
#include "frontier.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "record.h"
#include "report.h"
#include "restore.h"
#include "scan.h"
#include "shutdown.h"
#include "state.h"
#include "txn.h"
#include "usage.h"

/* How often deadlines, expiries and due snapshots are looked at. */
#define TICK_MS 200
/* While results arrive, frontier work (a replay step) runs at most this
 * often. */
#define WORK_MS 20
/* How often freed heap goes back to the kernel. */
#define TRIM_MS 5000
/* How often expired delivery records and old usage rows are let go. */
#define EXPIRE_MS 60000
/* Room a webhook task leaves in a Kafka message for its record overhead
 * (headers, batch framing). */
#define TASK_SLACK 4096

/* ---------------------------------------------------------------- inputs */

static void on_batch_record(struct engine *e, const rd_kafka_message_t *m, struct record *r)
{
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    struct tally *t = state_get_or_add(&e->state, r->batch_id, m->partition, clk_now_ms());
    if (t->done || (r->type == RECORD_BATCH && t->known))
        return; /* a replayed record of a batch we already follow or finished */

    if (r->type == RECORD_CANCEL) {
        t->cancelled = 1;
        t->dirty = 1;
        if (t->known)
            complete_batch(&e->done, t, REPORT_CANCELLED);
        return;
    }
    if (state_set_record(&e->state, t, r->root, ts > 0 ? ts : clk_now_ms()))
        LOG_WARN("pending_out_of_range", "batch=%s total=%lld", t->id, t->total);
    if (!record_wants_body(t->record))
        complete_forget_cache(&e->done, t); /* no body will carry them */
    emit_status(&e->out, t, REPORT_RUNNING, NULL);
    complete_follow(&e->done, t)->status_mono = clk_mono_ms();
    if (t->cancelled) {
        complete_batch(&e->done, t, REPORT_CANCELLED);
        return;
    }
    if (t->processed > 0 && record_wants_event(t->record, "item.completed"))
        complete_held_items(&e->done, t);
    if (record_is_crawl(t->record))
        frontier_start(e->fr, t);
    else if (tally_complete(t))
        complete_batch(&e->done, t, REPORT_COMPLETED);
}

static void on_result(struct engine *e, const rd_kafka_message_t *m, struct record *r)
{
    int64_t ts = rd_kafka_message_timestamp(m, NULL), first_offset;
    struct tally *t = state_get(&e->state, r->batch_id);
    if (!t) {
        if (e->state.n_pending >= (size_t)e->conf.max_pending) {
            emit_dead_letter(&e->out, m,
                             "too many batches held before their batch record "
                             "(FERRY_AGGREGATE_MAX_PENDING)");
            return;
        }
        t = state_get_or_add(&e->state, r->batch_id, m->partition, clk_now_ms());
    }
    if (!t->done)
        complete_follow(&e->done, t); /* before counting: its cache is whole so far */
    switch (tally_count(t, &r->in, ts > 0 ? ts : clk_now_ms(), m->offset, e->conf.max_items,
                        &first_offset)) {
    case TALLY_OUT_OF_RANGE:
        emit_dead_letter(&e->out, m, "index: not below the batch's total");
        return;
    case TALLY_REFUSED:
        emit_dead_letter(&e->out, m, "status: too many unknown status names in one batch");
        return;
    case TALLY_DUPLICATE: metric_inc(e->m_dups, 1); return;
    case TALLY_PART: return;
    case TALLY_COUNTED: break;
    }
    metric_inc(e->m_results, 1);
    if (r->content_hash[0])
        emit_change(&e->out, r, clk_now_ms());
    complete_counted(&e->done, t, r, first_offset, m->offset);
    if (t->follow && t->follow->crawl)
        frontier_page(e->fr, t, r, m->offset); /* completes the crawl when it is done */
    else if (tally_complete(t))
        complete_batch(&e->done, t, REPORT_COMPLETED);
}

/* A webhook attempt: a delivery not counted before adds to its tenant's
 * webhooks_delivered (delivered.h). */
static void on_attempt(struct engine *e, const rd_kafka_message_t *m)
{
    char why[300];
    json_t *root;
    struct delivered_attempt a;
    if (delivered_parse(&a, &root, m->payload, m->len, why, sizeof(why))) {
        emit_dead_letter(&e->out, m, why);
    } else if (a.delivered) {
        int64_t now = clk_now_ms();
        if (delivered_note(&e->delivered, m->partition, &a, now))
            usage_add(&e->usage, m->partition, a.tenant, now,
                      &(struct usage_counts){.webhooks_delivered = 1});
    }
    json_decref(root);
}

static void handle(struct engine *e, const rd_kafka_message_t *m)
{
    char why[300], type[16];
    struct record r;
    int rc;
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (strcmp(topic, topic_name(e->t, TOPIC_ATTEMPTS)) == 0) {
        on_attempt(e, m);
        return;
    }
    int is_batches = strcmp(topic, topic_name(e->t, TOPIC_BATCHES)) == 0;
    if (strcmp(topic, topic_name(e->t, TOPIC_CRAWL_SITEFILES)) == 0) {
        frontier_sitefile(e->fr, m);
        return;
    }

    if (is_batches)
        rc = record_parse_batch(&r, m->payload, m->len, fhdr_get(m, FHDR_TYPE, type, sizeof(type)),
                                m->key, m->key_len, e->conf.max_items, why, sizeof(why));
    else
        rc = record_parse_result(&r, m->payload, m->len, m->key, m->key_len, e->conf.max_items, why,
                                 sizeof(why));
    if (rc)
        emit_dead_letter(&e->out, m, why);
    else if (is_batches)
        on_batch_record(e, m, &r);
    else
        on_result(e, m, &r);
    record_release(&r);
}

/* ---------------------------------------------------------------- commits */

/* Progress snapshots that are due, at most one per batch per interval. */
static void emit_due_snapshots(struct engine *e)
{
    int64_t now = clk_mono_ms();
    size_t pos = 0;
    struct tally *t;
    while (state_next(&e->state, &pos, &t)) {
        if (!t->progress || !t->known || t->done)
            continue;
        struct follow *f = complete_follow(&e->done, t);
        if (now - f->status_mono >= e->conf.status_ms) {
            emit_status(&e->out, t, REPORT_RUNNING, NULL);
            f->status_mono = now;
        }
    }
}

/* Writes what is due, then commits. 0 committed (or nothing open). */
int engine_commit(struct engine *e, int may_roll_back)
{
    if (!e->txn.open)
        return 0;
    complete_flush(&e->done);
    emit_due_snapshots(e);
    /* Usage in the same transaction as the counts it comes from; billing
     * moves each tally's `billed`, so the changelog is written after it. */
    usage_bill_dirty(&e->usage, &e->state, clk_now_ms());
    usage_flush(&e->usage, &e->txn, topic_name(e->t, TOPIC_USAGE));
    delivered_flush(&e->delivered, &e->txn, topic_name(e->t, TOPIC_AGGREGATE_STATE));
    frontier_flush(e->fr);
    changelog_flush(&e->state, &e->txn, topic_name(e->t, TOPIC_AGGREGATE_STATE));
    enum txn_result rc = txn_commit(&e->txn);
    complete_ended(&e->done, rc == TXN_COMMITTED);
    if (rc == TXN_ABORTED && may_roll_back)
        engine_roll_back(e);
    return rc == TXN_COMMITTED ? 0 : -1;
}

/* ---------------------------------------------------------------- ticks */

static void tick(struct engine *e)
{
    int64_t now = clk_now_ms(), mono = clk_mono_ms();
    size_t pos = 0;
    struct tally *t;
    while (state_next(&e->state, &pos, &t)) {
        int gone = 0;
        if (t->done && now - t->done_ms > e->conf.done_ttl_ms) {
            gone = 1;
        } else if (!t->known && !t->done && now - t->seen_ms > e->conf.pending_ttl_ms) {
            LOG_WARN("pending_expired", "batch=%s held=%lld", t->id, t->processed);
            gone = 1;
        } else if (t->known && !t->done && t->created_ms > 0 &&
                   now - t->created_ms > e->conf.deadline_ms) {
            if (txn_begin(&e->txn))
                return;
            complete_batch(&e->done, t, REPORT_FAILED);
        } else if (t->progress && t->known && !t->done &&
                   (!t->follow || mono - t->follow->status_mono >= e->conf.status_ms)) {
            if (txn_begin(&e->txn)) /* the commit writes the snapshot */
                return;
        }
        if (gone) {
            if (txn_begin(&e->txn))
                return;
            /* Finished since the last commit (a short FERRY_AGGREGATE_DONE_TTL):
             * its last counts are billed before it goes. */
            usage_bill(&e->usage, t, now);
            changelog_forget(&e->txn, topic_name(e->t, TOPIC_AGGREGATE_STATE), t);
            state_remove(&e->state, t->id);
        }
    }
    if (mono - e->expire_mono >= EXPIRE_MS) {
        if (txn_begin(&e->txn))
            return;
        e->expire_mono = mono;
        delivered_expire(&e->delivered, &e->txn, topic_name(e->t, TOPIC_AGGREGATE_STATE), now);
        usage_trim(&e->usage, now);
    }
    frontier_tick(e->fr);
    metric_set(e->m_active, (long long)e->state.n_active);
    metric_set(e->m_pending, (long long)e->state.n_pending);
    /* Finished batches free their state, but glibc keeps the freed heap;
     * hand it back so memory follows the active batches, not the peak. */
    if (mono - e->trim_mono >= TRIM_MS) {
        e->trim_mono = mono;
        malloc_trim(0);
    }
    long long lag = kafka_consumer_lag(e->consumer);
    if (lag >= 0)
        metric_set(e->m_lag, lag);
}

/* ---------------------------------------------------------------- the loop */

int engine_run(struct engine *e)
{
    int fenced = 0; /* the consumer is dead: its offsets can never commit */
    e->tick_mono = clk_mono_ms();
    while (!shutdown_requested()) {
        int64_t now = clk_mono_ms();
        /* Wait at most until this transaction or a restore is due, and
         * never long, so a stop signal and ticks are noticed promptly. */
        int64_t wait = 100;
        if (e->txn.open && txn_due(&e->txn, e->conf.commit_ms) - now < wait)
            wait = txn_due(&e->txn, e->conf.commit_ms) - now;
        if (e->restore && e->restore_at - now < wait)
            wait = e->restore_at - now;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(e->consumer, wait < 0 ? 0 : (int)wait);
        if (m) {
            if (m->err)
                fenced |= kafka_consume_error(m, "aggregate"); /* fatal: exit, be restarted */
            else if (!e->restore && txn_begin(&e->txn) == 0)
                handle(e, m);
            /* During a roll-back the record is read again after the seek. */
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(e->producer, 0);
        if (e->rebalance)
            engine_apply_rebalance(e);
        now = clk_mono_ms();
        if (e->restore) {
            if (now >= e->restore_at)
                engine_restore_step(e);
            continue;
        }
        if (now - e->tick_mono >= TICK_MS) {
            e->tick_mono = now;
            tick(e);
        } else if (!m || now - e->work_mono >= WORK_MS) {
            /* Replays, between polls: when the input is idle, else every
             * WORK_MS, so results keep being counted while a level of a
             * large crawl is read back (a poll returns one result, a
             * replay step hundreds). */
            e->work_mono = now;
            frontier_work(e->fr);
        }
        if (e->txn.open && now >= txn_due(&e->txn, e->conf.commit_ms))
            engine_commit(e, 1);
    }
    if (e->txn.open && !e->txn.fatal && !e->restore && !fenced)
        engine_commit(e, 0);
    return e->txn.fatal || fenced ? -1 : 0;
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
    e->m_active = metric_gauge("ferry_aggregate_active_batches", "Batches being followed", "");
    e->m_pending = metric_gauge("ferry_aggregate_pending_batches",
                                "Batches with results held before their batch record", "");
    e->m_lag = metric_gauge("ferry_aggregate_lag",
                            "Messages behind the end of the assigned input partitions", "");
    e->m_restore_ms = metric_gauge("ferry_aggregate_restore_ms",
                                   "Duration of the last changelog restore (ms)", "");
}

/* The transactional.id, which is also the static group member id. */
static void txn_id_of(struct stage *st, const struct engine_conf *conf, char *out, size_t size)
{
    snprintf(out, size, "%saggregate.%s", cfg_str(&st->cfg, "FERRY_TOPIC_PREFIX"), conf->instance);
}

rd_kafka_t *engine_producer(struct stage *st, const struct engine_conf *conf, char *errstr,
                            size_t errstr_size)
{
    char timeout[32], txn_id[TOPIC_NAME_MAX + 128];
    rd_kafka_t *p = NULL;
    txn_id_of(st, conf, txn_id, sizeof(txn_id));
    snprintf(timeout, sizeof(timeout), "%lld", conf->txn_timeout_ms);
    rd_kafka_conf_t *pconf =
        kafka_producer_conf(&st->cfg, st->client_id, txn_id, errstr, errstr_size);
    if (!pconf || kafka_conf_set(pconf, "transaction.timeout.ms", timeout, errstr, errstr_size))
        goto out;
    /* init_transactions needs the cluster: wait for it, like
     * stage_ensure_topics does. */
    while (!p && !shutdown_requested()) {
        p = kafka_producer_open(rd_kafka_conf_dup(pconf), 30000, errstr, errstr_size);
        if (!p) {
            LOG_WARN("producer_waiting", "reason=%s", errstr);
            sleep(1);
        }
    }
out:
    if (pconf)
        rd_kafka_conf_destroy(pconf);
    return p;
}

/* The group consumer of both inputs (a static member under the instance
 * name: kafka.h). */
static rd_kafka_t *open_consumer(struct engine *e, char *errstr, size_t errstr_size)
{
    char session[32];
    snprintf(session, sizeof(session), "%lld", e->conf.session_timeout_ms);
    rd_kafka_conf_t *conf =
        kafka_consumer_conf(&e->st->cfg, e->st->client_id, "ferry-aggregate", errstr, errstr_size);
    if (!conf ||
        /* Range: partition p of both co-partitioned inputs to one instance. */
        kafka_conf_set(conf, "partition.assignment.strategy", "range", errstr, errstr_size) ||
        /* Offsets go only through the transaction. */
        kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        /* Prefetch: 16 MB keeps the loop fed at full speed; librdkafka's
         * 64 MB default would be a third of the memory budget. */
        kafka_conf_set(conf, "queued.max.messages.kbytes", "16384", errstr, errstr_size) ||
        kafka_conf_set(conf, "session.timeout.ms", session, errstr, errstr_size)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, engine_on_rebalance);
    rd_kafka_conf_set_opaque(conf, e);
    /* Attempts for webhooks_delivered (delivered.h): keyed by batch id
     * too, so partition p of every input comes to one instance. */
    const char *inputs[] = {topic_name(e->t, TOPIC_BATCHES), topic_name(e->t, TOPIC_RESULTS),
                            topic_name(e->t, TOPIC_ATTEMPTS),
                            topic_name(e->t, TOPIC_CRAWL_SITEFILES)};
    return kafka_consumer_open(conf, inputs, 4, errstr, errstr_size);
}

struct engine *engine_open(struct stage *st, const struct engine_conf *conf, rd_kafka_t *producer,
                           char *errstr, size_t errstr_size)
{
    struct engine *e = calloc(1, sizeof(*e));
    char txn_id[TOPIC_NAME_MAX + 128];
    if (!e)
        abort();
    e->st = st;
    e->t = &st->topics;
    e->conf = *conf;
    e->producer = producer;
    state_init(&e->state, follow_free);
    usage_init(&e->usage);
    delivered_init(&e->delivered, conf->delivered_ttl_ms, conf->max_items);
    e->expire_mono = clk_mono_ms();
    metrics_init(e);
    txn_id_of(st, conf, txn_id, sizeof(txn_id));
    e->reader = scan_open(&st->cfg, st->client_id, "ferry-aggregate-reader", errstr, errstr_size);
    if (!e->reader)
        goto err;
    /* Every topic the reader scans, so no restore waits on librdkafka's
     * leader query (about a second for a topic it never read). */
    const enum topic_id scanned[ENGINE_READER_TOPICS] = {TOPIC_AGGREGATE_STATE, TOPIC_RESULTS,
                                                         TOPIC_USAGE, TOPIC_CRAWL_STATE};
    for (size_t i = 0; i < ENGINE_READER_TOPICS; i++)
        if (!(e->warm[i] = scan_warm(e->reader, topic_name(e->t, scanned[i]), errstr, errstr_size)))
            goto err;
    e->consumer = open_consumer(e, errstr, errstr_size);
    if (!e->consumer)
        goto err;
    txn_init(&e->txn, e->producer, e->consumer);
    emit_init(&e->out, &e->txn, e->t, (size_t)(conf->max_message - TASK_SLACK));
    e->out.change_partitions = kafka_partition_count(
        e->producer, topic_name(e->t, TOPIC_SCHEDULE_CHANGES), 30000, errstr, errstr_size);
    if (e->out.change_partitions <= 0)
        goto err;
    complete_init(&e->done, &e->out, &e->state, e->reader, topic_name(e->t, TOPIC_RESULTS),
                  (size_t)conf->inline_max, (size_t)conf->cache_max);
    struct frontier_conf fc = {.host_concurrency = conf->crawl_host_concurrency,
                               .max_items = conf->max_items,
                               .commit_ms = conf->crawl_commit_ms,
                               .replay_step = conf->crawl_replay_step};
    e->fr = frontier_new(&fc, &e->out, &e->done, &e->state, e->consumer, e->reader, producer,
                         errstr, errstr_size);
    if (!e->fr)
        goto err;
    LOG_INFO("started", "inputs=%s,%s,%s,%s transactional_id=%s", topic_name(e->t, TOPIC_BATCHES),
             topic_name(e->t, TOPIC_RESULTS), topic_name(e->t, TOPIC_ATTEMPTS),
             topic_name(e->t, TOPIC_CRAWL_SITEFILES), txn_id);
    return e;
err:
    engine_close(e);
    return NULL;
}

void engine_close(struct engine *e)
{
    e->closing = 1;
    if (e->consumer)
        kafka_consumer_close(e->consumer, 0); /* revocation commits nothing new */
    for (size_t i = 0; i < ENGINE_READER_TOPICS; i++)
        if (e->warm[i])
            rd_kafka_topic_destroy(e->warm[i]);
    if (e->reader)
        kafka_consumer_close(e->reader, 0);
    if (e->producer)
        kafka_producer_close(e->producer, 5000);
    if (e->rebalance)
        rd_kafka_topic_partition_list_destroy(e->rebalance);
    if (e->restore)
        rd_kafka_topic_partition_list_destroy(e->restore);
    complete_release(&e->done);
    state_release(&e->state);
    usage_release(&e->usage);
    delivered_release(&e->delivered);
    frontier_free(e->fr);
    free(e);
}
