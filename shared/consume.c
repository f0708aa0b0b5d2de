#include "consume.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "shutdown.h"

/* opaque: where the consumer's offtrack is (set once it exists). */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct offtrack **ot = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        LOG_INFO("assigned", "partitions=%d topic=%s", parts->cnt,
                 parts->cnt ? parts->elems[0].topic : "");
    } else {
        /* Their unfinished records will be taken again by the new owner. */
        if (*ot)
            offtrack_revoke(*ot, parts);
        rd_kafka_assign(rk, NULL);
    }
}

static double gauge_lag(void *arg)
{
    struct consume *cs = arg;
    return (double)atomic_load(&cs->lag);
}

static double gauge_cancels(void *arg)
{
    struct consume *cs = arg;
    return cs->conf.cancels ? (double)cancels_count(cs->conf.cancels) : 0;
}

/* A requests consumer (the bulk or the small lane): bounded prefetch, and
 * patience with a full stage. */
static rd_kafka_t *open_requests(struct consume *cs, struct offtrack **ot, const struct stage *st,
                                 const char *topic, const char *lane, char *errstr,
                                 size_t errstr_size)
{
    char group[64], poll_interval[32];
    snprintf(group, sizeof(group), "ferry-%s%s", cs->conf.stage, lane);
    rd_kafka_conf_t *conf =
        kafka_consumer_conf(&st->cfg, st->client_id, group, errstr, errstr_size);
    if (!conf)
        return NULL;
    /* While every in-flight slot is taken the loop does not poll (the
     * backlog waits in Kafka); the slowest item frees its slot within its
     * timeout, so the group must tolerate that long between polls. */
    snprintf(poll_interval, sizeof(poll_interval), "%lld", 2 * cs->conf.max_item_ms + 60000);
    /* Bounded prefetch: a million-item backlog stays in Kafka. Fetch sizes
     * count compressed bytes and a compressed batch is inflated whole, so
     * the defaults (50 MB, 1 MB per partition) cost 100+ MB of RSS on a
     * deep backlog; 256 KB per partition is still thousands of requests. */
    if (!cs->conf.default_fetch &&
        (kafka_conf_set(conf, "queued.max.messages.kbytes", "4096", errstr, errstr_size) ||
         kafka_conf_set(conf, "queued.min.messages", "5000", errstr, errstr_size) ||
         kafka_conf_set(conf, "fetch.max.bytes", "1048576", errstr, errstr_size) ||
         kafka_conf_set(conf, "max.partition.fetch.bytes", "262144", errstr, errstr_size) ||
         kafka_conf_set(conf, "max.poll.interval.ms", poll_interval, errstr, errstr_size))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, ot);
    return kafka_consumer_open(conf, &topic, 1, errstr, errstr_size);
}

int consume_open(struct consume *cs, const struct consume_conf *conf, const struct stage *st,
                 char *errstr, size_t errstr_size)
{
    char name[128];
    *cs = (struct consume){.conf = *conf};
    cs->consumer = open_requests(cs, &cs->ot, st, conf->topic, "", errstr, errstr_size);
    if (!cs->consumer)
        return -1;
    cs->ot = offtrack_new(cs->consumer);
    if (conf->small_topic) {
        cs->small =
            open_requests(cs, &cs->small_ot, st, conf->small_topic, "-small", errstr, errstr_size);
        if (!cs->small)
            goto fail;
        cs->small_ot = offtrack_new(cs->small);
    }
    if (conf->n_tiers) {
        const char *tiers[CFG_MAX_DURATIONS];
        size_t n = topics_tier_topics(
            conf->tiers, conf->n_tiers < CFG_MAX_DURATIONS ? conf->n_tiers : CFG_MAX_DURATIONS,
            tiers);
        snprintf(name, sizeof(name), "ferry-%s-retry", conf->stage);
        cs->dq = delayq_open(&st->cfg, st->client_id, name, tiers, n, errstr, errstr_size);
        if (!cs->dq)
            goto fail;
    }
    /* The registry keeps the names: they live in cs. */
    snprintf(cs->names[0], sizeof(cs->names[0]), "ferry_%s_consumed_total", conf->stage);
    snprintf(cs->names[1], sizeof(cs->names[1]), "ferry_%s_consumer_lag", conf->stage);
    snprintf(cs->names[2], sizeof(cs->names[2]), "ferry_%s_cancelled_batches", conf->stage);
    cs->consumed = metric_counter(cs->names[0], "Requests taken from Kafka", "");
    metric_gauge_fn(cs->names[1], "Requests in Kafka not yet taken", "", gauge_lag, cs);
    if (conf->cancels)
        metric_gauge_fn(cs->names[2], "Cancelled batches known to this instance", "", gauge_cancels,
                        cs);
    return 0;
fail:
    /* Nothing was paused yet: the consumers close normally. */
    consume_close(cs);
    return -1;
}

/* The consumer's next record, or NULL (none, no consumer; errors logged,
 * end-of-partition events dropped). */
static rd_kafka_message_t *next_record(rd_kafka_t *consumer, const char *what, int timeout_ms)
{
    rd_kafka_message_t *msg = consumer ? rd_kafka_consumer_poll(consumer, timeout_ms) : NULL;
    if (msg && msg->err) {
        kafka_consume_error(msg, what); /* a fatal one stops the stage */
        rd_kafka_message_destroy(msg);
        return NULL;
    }
    return msg;
}

/* The sources a turn found empty: consume_take_ready polls them no more
 * (consume_run starts every turn afresh). */
struct dry {
    int tiers, lanes;
};

/* One turn: a due retry, then a request (the small lane first unless the
 * bulk is due its slot), room records at most. A request's poll waits up
 * to wait_ms only when no retry was taken. Returns the records taken. */
static int take_turn(struct consume *cs, long room, int wait_ms, struct dry *dry)
{
    int took = 0;
    /* delayq logs a tier's errors itself and hands out records only. */
    rd_kafka_message_t *m = cs->dq && !dry->tiers ? delayq_poll(cs->dq, 0) : NULL;
    if (m) {
        cs->conf.take(cs->conf.arg, m, delayq_offtrack(cs->dq));
        took++;
    } else {
        dry->tiers = 1;
    }
    if (took < room && !dry->lanes) {
        /* The small lane first, unless the bulk is due its slot. Waits
         * only when nothing was taken: 0 when busy (the retry tiers and
         * the lanes are not starved). */
        int bulk_due = cs->conf.bulk_every > 0 && cs->small_run >= cs->conf.bulk_every - 1;
        struct offtrack *ot = NULL;
        rd_kafka_message_t *msg = NULL;
        if (!bulk_due && (msg = next_record(cs->small, "small requests", 0)))
            ot = cs->small_ot;
        if (!msg && (msg = next_record(cs->consumer, "requests", took || bulk_due ? 0 : wait_ms)))
            ot = cs->ot;
        if (!msg && (msg = next_record(cs->small, "small requests", took ? 0 : wait_ms)))
            ot = cs->small_ot;
        /* A bulk record, or none to give the bulk its due: count afresh. */
        cs->small_run = cs->small && ot == cs->small_ot ? cs->small_run + 1 : 0;
        if (msg) {
            metric_inc(cs->consumed, 1);
            cs->conf.take(cs->conf.arg, msg, ot);
            took++;
        } else {
            dry->lanes = 1;
        }
    }
    if (clk_mono_ms() >= cs->next_lag) {
        long long lag = kafka_consumer_lag(cs->consumer),
                  small = cs->small ? kafka_consumer_lag(cs->small) : 0;
        if (lag >= 0 && small >= 0)
            atomic_store(&cs->lag, lag + small);
        cs->next_lag = clk_mono_ms() + 1000;
    }
    return took;
}

void consume_run(struct consume *cs)
{
    /* Idle, each poll waits this long: prompt for a record, a due retry
     * and a stop signal. */
    int idle_ms = cs->small ? 25 : 50;
    while (!shutdown_requested()) {
        long room = cs->conf.inflight - atomic_load(&cs->conf.sink->outstanding);
        if (room <= 0) {
            /* Full: wait for a job to finish rather than take more (the
             * backlog stays in Kafka, not in memory). */
            job_wait_freed(cs->conf.sink, 100);
            continue;
        }
        struct dry dry = {0};
        take_turn(cs, room, idle_ms, &dry);
    }
}

long consume_take_ready(struct consume *cs, long room)
{
    long took = 0;
    struct dry dry = {0};
    while (took < room && !(dry.tiers && dry.lanes))
        took += take_turn(cs, room - took, 0, &dry);
    return took;
}

void consume_close(struct consume *cs)
{
    if (cs->small)
        kafka_consumer_close(cs->small, 0);
    offtrack_free(cs->small_ot); /* after the close: its revoke callback uses it */
    if (cs->consumer)
        kafka_consumer_close(cs->consumer, 0);
    offtrack_free(cs->ot);
    if (cs->dq)
        delayq_close(cs->dq);
    cs->consumer = cs->small = NULL;
    cs->ot = cs->small_ot = NULL;
    cs->dq = NULL;
    cs->conf.cancels = NULL; /* the gauge goes quiet, not dangling */
}
