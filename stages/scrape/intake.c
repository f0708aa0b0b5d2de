#include "intake.h"

#include <stdio.h>

#include "cancel.h"
#include "clock.h"
#include "delayq.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "shutdown.h"

static struct metric *m_consumed;

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
        /* Their unfinished items will be fetched again by the new owner. */
        if (*ot)
            offtrack_revoke(*ot, parts);
        rd_kafka_assign(rk, NULL);
    }
}

static double gauge_lag(void *arg)
{
    struct intake *in = arg;
    return (double)atomic_load(&in->lag);
}

static double gauge_cancels(void *arg)
{
    struct intake *in = arg;
    return in->cancels ? (double)cancels_count(in->cancels) : 0;
}

/* A requests consumer (the bulk or the small lane): bounded prefetch, and
 * patience with a full stage. */
static rd_kafka_t *open_requests(struct offtrack **ot, const struct stage *st, const char *group,
                                 enum topic_id topic, char *errstr, size_t errstr_size)
{
    const struct cfg *cfg = &st->cfg;
    rd_kafka_conf_t *conf = kafka_consumer_conf(cfg, st->client_id, group, errstr, errstr_size);
    if (!conf)
        return NULL;
    /* While every in-flight slot is taken the loop does not poll (the
     * backlog waits in Kafka); the slowest item frees its slot within its
     * timeout, so the group must tolerate that long between polls. */
    char poll_interval[32];
    snprintf(poll_interval, sizeof(poll_interval), "%lld",
             2 * cfg_int(cfg, "FERRY_SCRAPE_MAX_TIMEOUT") + 60000);
    /* Bounded prefetch: a million-item backlog stays in Kafka. Fetch sizes
     * count compressed bytes and a compressed batch is inflated whole, so
     * the defaults (50 MB, 1 MB per partition) cost 100+ MB of RSS on a
     * deep backlog; 256 KB per partition is still thousands of requests. */
    if (kafka_conf_set(conf, "queued.max.messages.kbytes", "4096", errstr, errstr_size) ||
        kafka_conf_set(conf, "queued.min.messages", "5000", errstr, errstr_size) ||
        kafka_conf_set(conf, "fetch.max.bytes", "1048576", errstr, errstr_size) ||
        kafka_conf_set(conf, "max.partition.fetch.bytes", "262144", errstr, errstr_size) ||
        kafka_conf_set(conf, "max.poll.interval.ms", poll_interval, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, ot);
    const char *req_topic = topic_name(&st->topics, topic);
    return kafka_consumer_open(conf, &req_topic, 1, errstr, errstr_size);
}

int intake_open(struct intake *in, const struct stage *st, char *errstr, size_t errstr_size)
{
    const struct topics *t = &st->topics;
    in->consumer = open_requests(&in->ot, st, "ferry-scrape", TOPIC_REQUESTS, errstr, errstr_size);
    if (!in->consumer)
        return -1;
    in->ot = offtrack_new(in->consumer);
    in->small = open_requests(&in->small_ot, st, "ferry-scrape-small", TOPIC_REQUESTS_SMALL, errstr,
                              errstr_size);
    if (!in->small)
        goto fail;
    in->small_ot = offtrack_new(in->small);
    if (t->n_scrape_tiers) {
        const char *tiers[CFG_MAX_DURATIONS];
        for (size_t i = 0; i < t->n_scrape_tiers; i++)
            tiers[i] = t->scrape_tier[i];
        in->dq = delayq_open(&st->cfg, st->client_id, "ferry-scrape-retry", tiers,
                             t->n_scrape_tiers, errstr, errstr_size);
        if (!in->dq)
            goto fail;
    }
    in->cancels = cancels_start(&st->cfg, st->client_id, topic_name(t, TOPIC_BATCHES), in->xr,
                                errstr, errstr_size);
    if (!in->cancels)
        goto fail;
    if (in->xr)
        xrules_set_sync(in->xr, cancels_sync, in->cancels);
    if (!cancels_wait_caught_up(in->cancels, 15000))
        LOG_WARN("cancels_lagging", "topic=%s", topic_name(t, TOPIC_BATCHES));
    m_consumed = metric_counter("ferry_scrape_consumed_total", "Requests taken from Kafka", "");
    metric_gauge_fn("ferry_scrape_cancelled_batches", "Cancelled batches known to this instance",
                    "", gauge_cancels, in);
    metric_gauge_fn("ferry_scrape_consumer_lag", "Requests in Kafka not yet taken", "", gauge_lag,
                    in);
    return 0;
fail:
    /* Nothing was paused yet: the consumers close normally. */
    if (in->dq)
        delayq_close(in->dq);
    if (in->small)
        kafka_consumer_close(in->small, 0);
    offtrack_free(in->small_ot);
    kafka_consumer_close(in->consumer, 0);
    offtrack_free(in->ot);
    in->consumer = in->small = NULL;
    in->ot = in->small_ot = NULL;
    in->dq = NULL;
    return -1;
}

/* One consumed record: start its item (its offset begun), then refuse,
 * skip, or fetch it. */
static void take(struct intake *in, rd_kafka_message_t *msg, struct offtrack *ot)
{
    char errstr[256];
    struct item *it = item_new(&in->em->sink, msg, ot);
    if (request_parse(it, in->lim, errstr, sizeof(errstr))) {
        char q[300];
        LOG_WARN("poison_request", "topic=%s partition=%d offset=%lld why=%s",
                 rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset,
                 log_quote(q, sizeof(q), errstr));
        emit_dead_letter(in->em, it, errstr);
    } else if (cancels_has(in->cancels, it->batch_id)) {
        process_skip(in->pr, it, STATUS_CANCELLED, "batch cancelled");
    } else if (it->invalid_url[0]) {
        char why[160];
        snprintf(why, sizeof(why), "%s", it->invalid_url);
        process_skip(in->pr, it, STATUS_INVALID_URL, why);
    } else if (in->xr && xrules_resolve(in->xr, it->req, &it->rules, errstr, sizeof(errstr))) {
        process_unusable(in->pr, it, STATUS_EXTRACT_ERROR, errstr);
    } else {
        it->xr = in->xr; /* the item holds its rules until it is freed */
        fetch_pool_submit(in->pool, it);
    }
    rd_kafka_message_destroy(msg);
}

/* The consumer's next record, or NULL (errors logged, end-of-partition
 * events dropped). */
static rd_kafka_message_t *next_record(rd_kafka_t *consumer, const char *what, int timeout_ms)
{
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, timeout_ms);
    if (msg && msg->err) {
        kafka_consume_error(msg, what); /* a fatal one stops the stage */
        rd_kafka_message_destroy(msg);
        return NULL;
    }
    return msg;
}

void intake_run(struct intake *in)
{
    int64_t next_lag = 0;
    while (!shutdown_requested()) {
        if (atomic_load(&in->em->sink.outstanding) >= in->inflight) {
            /* Full: wait for an item to finish rather than take more (the
             * backlog stays in Kafka, not in memory). */
            job_wait_freed(&in->em->sink, 100);
            continue;
        }
        int took = 0;
        if (in->dq) {
            rd_kafka_message_t *m = delayq_poll(in->dq, 0);
            if (m && !m->err) {
                take(in, m, delayq_offtrack(in->dq));
                took++;
            } else if (m) {
                rd_kafka_message_destroy(m);
            }
        }
        /* The small lane first, unless the bulk is due its slot. Waits
         * only when nothing was taken: 0 when busy (the retry tiers and
         * the lanes are not starved), 25 ms on each when idle (prompt for
         * either, and for a stop signal). */
        int bulk_due = in->bulk_every > 0 && in->small_run >= in->bulk_every - 1;
        struct offtrack *ot = NULL;
        rd_kafka_message_t *msg = NULL;
        if (!bulk_due && (msg = next_record(in->small, "small requests", 0)))
            ot = in->small_ot;
        if (!msg && (msg = next_record(in->consumer, "requests", took || bulk_due ? 0 : 25)))
            ot = in->ot;
        if (!msg && (msg = next_record(in->small, "small requests", took ? 0 : 25)))
            ot = in->small_ot;
        /* A bulk record, or none to give the bulk its due: count afresh. */
        in->small_run = ot == in->small_ot ? in->small_run + 1 : 0;
        if (msg) {
            metric_inc(m_consumed, 1);
            take(in, msg, ot);
        }
        if (clk_mono_ms() >= next_lag) {
            long long lag = kafka_consumer_lag(in->consumer), small = kafka_consumer_lag(in->small);
            if (lag >= 0 && small >= 0)
                atomic_store(&in->lag, lag + small);
            next_lag = clk_mono_ms() + 1000;
        }
    }
}

void intake_close(struct intake *in)
{
    if (in->small)
        kafka_consumer_close(in->small, 0);
    offtrack_free(in->small_ot); /* after the close: its revoke callback uses it */
    kafka_consumer_close(in->consumer, 0);
    offtrack_free(in->ot);
    if (in->dq)
        delayq_close(in->dq);
    struct cancels *c = in->cancels;
    in->cancels = NULL; /* the gauge goes quiet, not dangling */
    cancels_stop(c);
}
