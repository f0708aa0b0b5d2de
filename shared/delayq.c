#include "delayq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fhdr.h"
#include "kafka.h"
#include "log.h"

struct dq_part {
    char *topic;
    int32_t partition;
    int paused;
    int64_t resume_at; /* epoch ms */
};

struct delayq {
    rd_kafka_t *rk;
    struct offtrack *ot;
    struct dq_part *parts;
    size_t n_parts;
    size_t n_paused;
};

static struct dq_part *part_find(struct delayq *dq, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < dq->n_parts; i++)
        if (dq->parts[i].partition == partition && strcmp(dq->parts[i].topic, topic) == 0)
            return &dq->parts[i];
    return NULL;
}

static void parts_clear(struct delayq *dq)
{
    for (size_t i = 0; i < dq->n_parts; i++)
        free(dq->parts[i].topic);
    free(dq->parts);
    dq->parts = NULL;
    dq->n_parts = dq->n_paused = 0;
}

/* Resumes every partition we paused (and only those). */
static void resume_all_paused(struct delayq *dq)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)dq->n_paused + 1);
    for (size_t i = 0; i < dq->n_parts; i++)
        if (dq->parts[i].paused)
            rd_kafka_topic_partition_list_add(l, dq->parts[i].topic, dq->parts[i].partition);
    if (l->cnt > 0)
        rd_kafka_resume_partitions(dq->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct delayq *dq = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        parts_clear(dq);
        dq->parts = calloc((size_t)parts->cnt + 1, sizeof(*dq->parts));
        if (!dq->parts)
            abort();
        for (int i = 0; i < parts->cnt; i++) {
            dq->parts[i].topic = strdup(parts->elems[i].topic);
            dq->parts[i].partition = parts->elems[i].partition;
        }
        dq->n_parts = (size_t)parts->cnt;
        rd_kafka_assign(rk, parts);
        LOG_INFO("delayq_assigned", "partitions=%d", parts->cnt);
    } else {
        /* Leave no partition paused behind us: a later assignment of the
         * same partition must start fetching. */
        resume_all_paused(dq);
        offtrack_revoke(dq->ot, parts);
        parts_clear(dq);
        rd_kafka_assign(rk, NULL);
    }
}

struct delayq *delayq_open(const struct cfg *cfg, const char *client_id, const char *group_id,
                           const char *const *topics, size_t n, char *errstr, size_t errstr_size)
{
    struct delayq *dq = calloc(1, sizeof(*dq));
    if (!dq)
        abort();
    rd_kafka_conf_t *conf = kafka_consumer_conf(cfg, client_id, group_id, errstr, errstr_size);
    if (!conf)
        goto err;
    /* A resumed partition joins the next fetch request; with librdkafka's
     * default 500 ms broker-side wait, a due record could wait that long
     * behind an idle long-poll. 100 ms keeps it prompt for ten fetches a
     * second of an idle consumer. */
    if (kafka_conf_set(conf, "fetch.wait.max.ms", "100", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, dq);
    dq->rk = kafka_consumer_open(conf, topics, n, errstr, errstr_size);
    if (!dq->rk)
        goto err;
    dq->ot = offtrack_new(dq->rk);
    return dq;
err:
    free(dq);
    return NULL;
}

int64_t delayq_due_ms(const rd_kafka_message_t *msg)
{
    char buf[32];
    if (!fhdr_get(msg, FHDR_DUE_MS, buf, sizeof(buf)))
        return 0;
    return strtoll(buf, NULL, 10);
}

/* Holds a partition at msg: pause it, then seek back so the record is
 * fetched again after the resume. */
static void park(struct delayq *dq, struct dq_part *p, const rd_kafka_message_t *msg, int64_t due)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    rd_kafka_pause_partitions(dq->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    /* The legacy per-partition seek with timeout 0 is asynchronous and does
     * not have rd_kafka_seek_partitions' microsecond-timeout bug. Messages
     * of this partition already prefetched are dropped in delayq_poll while
     * it is marked paused. */
    rd_kafka_resp_err_t err = rd_kafka_seek(msg->rkt, p->partition, msg->offset, 0);
    if (err)
        LOG_WARN("delayq_seek", "topic=%s partition=%d offset=%lld err=%s", p->topic,
                 (int)p->partition, (long long)msg->offset, rd_kafka_err2name(err));
    p->paused = 1;
    p->resume_at = due;
    dq->n_paused++;
    LOG_DEBUG("delayq_park", "topic=%s partition=%d offset=%lld due_in_ms=%lld", p->topic,
              (int)p->partition, (long long)msg->offset, (long long)(due - clk_now_ms()));
}

/* Resumes the partitions that are due; returns ms until the next one (or
 * `cap` when none is parked). */
static int64_t resume_due(struct delayq *dq, int64_t now, int64_t cap)
{
    int64_t next = cap;
    rd_kafka_topic_partition_list_t *l = NULL;
    for (size_t i = 0; i < dq->n_parts; i++) {
        struct dq_part *p = &dq->parts[i];
        if (!p->paused)
            continue;
        if (p->resume_at <= now) {
            if (!l)
                l = rd_kafka_topic_partition_list_new(4);
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
            p->paused = 0;
            dq->n_paused--;
        } else if (p->resume_at - now < next) {
            next = p->resume_at - now;
        }
    }
    if (l) {
        rd_kafka_resume_partitions(dq->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    return next;
}

rd_kafka_message_t *delayq_poll(struct delayq *dq, int timeout_ms)
{
    int64_t deadline = clk_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - clk_mono_ms();
        if (left < 0)
            left = 0;
        int64_t wait = resume_due(dq, clk_now_ms(), left);
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(dq->rk, (int)wait);
        if (!msg) {
            /* Only an empty poll ends the call: a record that was parked or
             * dropped leaves others (other partitions) possibly ready now. */
            if (clk_mono_ms() >= deadline)
                return NULL;
            continue;
        }
        if (msg->err) {
            kafka_consume_error(msg, "delayq");
            rd_kafka_message_destroy(msg);
            if (clk_mono_ms() >= deadline)
                return NULL;
            continue;
        }
        struct dq_part *p = part_find(dq, rd_kafka_topic_name(msg->rkt), msg->partition);
        int64_t due = delayq_due_ms(msg);
        if (p && p->paused) {
            rd_kafka_message_destroy(msg); /* prefetched before the seek */
        } else if (!p || due <= clk_now_ms()) {
            return msg;
        } else {
            park(dq, p, msg, due);
            rd_kafka_message_destroy(msg);
        }
    }
}

struct offtrack *delayq_offtrack(struct delayq *dq)
{
    return dq->ot;
}

rd_kafka_t *delayq_consumer(struct delayq *dq)
{
    return dq->rk;
}

int64_t delayq_next_due_in(struct delayq *dq)
{
    int64_t now = clk_now_ms(), next = -1;
    for (size_t i = 0; i < dq->n_parts; i++) {
        const struct dq_part *p = &dq->parts[i];
        if (!p->paused)
            continue;
        int64_t in = p->resume_at > now ? p->resume_at - now : 0;
        if (next < 0 || in < next)
            next = in;
    }
    return next;
}

size_t delayq_parked(struct delayq *dq)
{
    return dq->n_paused;
}

void delayq_close(struct delayq *dq)
{
    kafka_consumer_close(dq->rk, 1);
    offtrack_free(dq->ot);
    parts_clear(dq);
    free(dq);
}

int delayq_add_headers(rd_kafka_headers_t *hdrs, int attempt, int64_t due_ms,
                       int64_t first_attempt_ms, const char *last_error, const char *origin)
{
    if (fhdr_add_ll(hdrs, FHDR_ATTEMPT, attempt) || fhdr_add_ll(hdrs, FHDR_DUE_MS, due_ms) ||
        fhdr_add_ll(hdrs, FHDR_FIRST_ATTEMPT_MS, first_attempt_ms))
        return -1;
    if (last_error) {
        size_t len = strlen(last_error);
        if (rd_kafka_header_add(hdrs, fhdr_name(FHDR_LAST_ERROR), -1, last_error,
                                (ssize_t)(len > 200 ? 200 : len)))
            return -1;
    }
    if (origin && fhdr_add(hdrs, FHDR_ORIGIN, origin))
        return -1;
    return 0;
}
