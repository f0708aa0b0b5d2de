#include "txn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"

struct txn_slot {
    rd_kafka_t *rk; /* NULL until opened, or after a failure threw it away */
    char txn_id[256];
    int busy;
};

struct txn_pool {
    const struct stage *st;
    int timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int n;
    int32_t req_partitions; /* partitions of scrape.requests, read once */
    struct txn_slot slot[];
};

struct txn_pool *txn_pool_new(const struct stage *st, int size, const char *instance,
                              int timeout_ms, char *errstr, size_t errstr_size)
{
    struct txn_pool *p = calloc(1, sizeof(*p) + (size_t)size * sizeof(struct txn_slot));
    if (!p) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->st = st;
    p->n = size;
    p->timeout_ms = timeout_ms;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    for (int i = 0; i < size; i++)
        snprintf(p->slot[i].txn_id, sizeof(p->slot[i].txn_id), "%singest.%s.%d",
                 cfg_str(&st->cfg, "FERRY_TOPIC_PREFIX"), instance, i);
    return p;
}

static void *destroy_later(void *arg)
{
    rd_kafka_destroy(arg);
    return NULL;
}

/* Throws a producer away without waiting for the broker: queued messages
 * are purged, and the destroy (which may wait on sockets) runs on its own
 * thread so the HTTP answer stays within its deadline. */
static void slot_discard(struct txn_slot *s)
{
    pthread_t t;
    rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (pthread_create(&t, NULL, destroy_later, s->rk) == 0)
        pthread_detach(t);
    else
        rd_kafka_destroy(s->rk);
    s->rk = NULL;
}

static int operator_set(const struct cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_props; i++)
        if (strcmp(cfg->props[i][0], name) == 0)
            return 1;
    return 0;
}

static int slot_open(struct txn_pool *p, struct txn_slot *s, int timeout_ms, char *errstr,
                     size_t errstr_size)
{
    char tmo[32];
    rd_kafka_conf_t *conf =
        kafka_producer_conf(&p->st->cfg, p->st->client_id, s->txn_id, errstr, errstr_size);
    if (!conf)
        return -1;
    /* A transaction that a crashed ingest left open blocks read_committed
     * readers of its partitions until the broker aborts it; keep that short.
     * 100,000 requests must fit in the queue of one transaction. */
    snprintf(tmo, sizeof(tmo), "%d", p->timeout_ms * 3 > 60000 ? p->timeout_ms * 3 : 60000);
    if (kafka_conf_set(conf, "transaction.timeout.ms", tmo, errstr, errstr_size) ||
        kafka_conf_set(conf, "queue.buffering.max.messages", "2000000", errstr, errstr_size) ||
        kafka_conf_set(conf, "queue.buffering.max.kbytes", "2097151", errstr, errstr_size) ||
        kafka_conf_set(conf, "message.timeout.ms", tmo, errstr, errstr_size) ||
        /* A submit waits for its own commit anyway: lingering only adds
         * latency (a large batch still fills Kafka batches while the first
         * requests are in flight). -X linger.ms=... still wins. */
        (!operator_set(&p->st->cfg, "linger.ms") &&
         kafka_conf_set(conf, "linger.ms", "0", errstr, errstr_size)) ||
        kafka_conf_set(conf, "socket.connection.setup.timeout.ms", "3000", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    s->rk = kafka_producer_open(conf, timeout_ms, errstr, errstr_size);
    if (!s->rk)
        return -1;
    if (!p->req_partitions) {
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt =
            rd_kafka_topic_new(s->rk, topic_name(&p->st->topics, TOPIC_REQUESTS), NULL);
        if (rd_kafka_metadata(s->rk, 0, rkt, &md, timeout_ms) == 0) {
            if (md->topic_cnt == 1 && !md->topics[0].err)
                p->req_partitions = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        if (!p->req_partitions) {
            snprintf(errstr, errstr_size, "no metadata for %s",
                     topic_name(&p->st->topics, TOPIC_REQUESTS));
            slot_discard(s);
            return -1;
        }
    }
    LOG_INFO("producer_ready", "txn_id=%s", s->txn_id);
    return 0;
}

static struct txn_slot *slot_take(struct txn_pool *p, int64_t deadline)
{
    struct txn_slot *got = NULL;
    pthread_mutex_lock(&p->lock);
    while (!got) {
        for (int i = 0; i < p->n && !got; i++)
            if (!p->slot[i].busy)
                got = &p->slot[i];
        if (got)
            break;
        int64_t left = deadline - clk_now_ms();
        if (left <= 0)
            break;
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                              .tv_nsec = (long)(deadline % 1000) * 1000000};
        pthread_cond_timedwait(&p->freed, &p->lock, &ts);
    }
    if (got)
        got->busy = 1;
    pthread_mutex_unlock(&p->lock);
    return got;
}

static void slot_give(struct txn_pool *p, struct txn_slot *s)
{
    pthread_mutex_lock(&p->lock);
    s->busy = 0;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

static int left_ms(int64_t deadline)
{
    int64_t left = deadline - clk_now_ms();
    return left > 0 ? (int)left : 1;
}

/* produce with the queue's back-pressure: a full local queue is drained by
 * serving delivery reports, until the deadline. */
static rd_kafka_resp_err_t produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                   const char *key, const char *value, size_t len,
                                   rd_kafka_headers_t *hdrs, int64_t deadline)
{
    struct kafka_msg m = {.topic = topic,
                          .partition = partition,
                          .key = key,
                          .key_len = strlen(key),
                          .value = (void *)value,
                          .len = len,
                          .msgflags = RD_KAFKA_MSG_F_COPY,
                          .headers = hdrs};
    return kafka_produce_wait(rk, &m, (int)(deadline - clk_now_ms()));
}

/* Headers are owned by librdkafka once a produce succeeded. */
static rd_kafka_headers_t *headers(const char *batch_id, const char *type, long index)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    rd_kafka_header_add(h, "ferry-batch", -1, batch_id, -1);
    if (type)
        rd_kafka_header_add(h, "ferry-type", -1, type, -1);
    if (index >= 0) {
        char num[24];
        snprintf(num, sizeof(num), "%ld", index);
        rd_kafka_header_add(h, "ferry-index", -1, num, -1);
        rd_kafka_header_add(h, "ferry-attempt", -1, "1", -1);
    }
    return h;
}

static int write_all(struct txn_pool *p, rd_kafka_t *rk, const struct submission *b,
                     const char *secret_enc, int64_t deadline, char *errstr, size_t errstr_size)
{
    const struct topics *t = &p->st->topics;
    rd_kafka_resp_err_t err;
    rd_kafka_headers_t *h;
    char *buf = NULL;
    size_t cap = 0;
    int rc = -1;
    char *record = submission_record_json(b, secret_enc), *status = submission_status_json(b);
    if (!record || !status) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }

    h = headers(b->id, "batch", -1);
    err = produce(rk, topic_name(t, TOPIC_BATCHES), RD_KAFKA_PARTITION_UA, b->id, record,
                  strlen(record), h, deadline);
    if (err) {
        rd_kafka_headers_destroy(h);
        goto produce_err;
    }
    /* Requests spread over every partition from the batch's own, so one
     * large batch keeps every scrape instance busy. */
    int32_t base = kafka_murmur2_partition(b->id, strlen(b->id), p->req_partitions);
    for (size_t i = 0; i < b->total; i++) {
        long len = submission_request_json(b, i, &buf, &cap);
        if (len < 0) {
            snprintf(errstr, errstr_size, "out of memory");
            goto out;
        }
        h = headers(b->id, NULL, (long)i);
        err = produce(rk, topic_name(t, TOPIC_REQUESTS),
                      (int32_t)((base + (int64_t)i) % p->req_partitions), b->id, buf, (size_t)len,
                      h, deadline);
        if (err) {
            rd_kafka_headers_destroy(h);
            goto produce_err;
        }
    }
    h = headers(b->id, NULL, -1);
    err = produce(rk, topic_name(t, TOPIC_STATUS), RD_KAFKA_PARTITION_UA, b->id, status,
                  strlen(status), h, deadline);
    if (err) {
        rd_kafka_headers_destroy(h);
        goto produce_err;
    }
    rc = 0;
    goto out;
produce_err:
    snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
out:
    free(buf);
    free(record);
    free(status);
    return rc;
}

int txn_submit(struct txn_pool *p, const struct submission *b, const char *secret_enc, char *errstr,
               size_t errstr_size)
{
    int64_t deadline = clk_now_ms() + p->timeout_ms;
    rd_kafka_error_t *error;
    struct txn_slot *s = slot_take(p, deadline);
    int rc = -1;
    if (!s) {
        snprintf(errstr, errstr_size, "every producer stayed busy until the deadline");
        return -1;
    }
    if (!s->rk && slot_open(p, s, left_ms(deadline), errstr, errstr_size))
        goto out;

    if ((error = rd_kafka_begin_transaction(s->rk))) {
        snprintf(errstr, errstr_size, "begin_transaction: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        slot_discard(s);
        goto out;
    }
    if (write_all(p, s->rk, b, secret_enc, deadline, errstr, errstr_size) == 0) {
        error = rd_kafka_commit_transaction(s->rk, left_ms(deadline));
        if (!error) {
            rc = 0;
            goto out;
        }
        snprintf(errstr, errstr_size, "commit_transaction: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    /* Nothing of this batch may become visible: abort, and when the broker
     * cannot even hear the abort, drop the producer (see txn.h). */
    error = rd_kafka_abort_transaction(s->rk, left_ms(deadline + 2000));
    if (error) {
        LOG_WARN("abort_failed", "txn_id=%s err=%s", s->txn_id, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        slot_discard(s);
    }
out:
    slot_give(p, s);
    return rc;
}

void txn_pool_heal(struct txn_pool *p)
{
    for (int i = 0; i < p->n; i++) {
        struct txn_slot *s = &p->slot[i];
        char errstr[256];
        pthread_mutex_lock(&p->lock);
        int mine = !s->busy && !s->rk;
        if (mine)
            s->busy = 1;
        pthread_mutex_unlock(&p->lock);
        if (!mine)
            continue;
        if (slot_open(p, s, 5000, errstr, sizeof(errstr)))
            LOG_DEBUG("producer_reopen_failed", "txn_id=%s err=%s", s->txn_id, errstr);
        slot_give(p, s);
    }
}

void txn_pool_free(struct txn_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        if (p->slot[i].rk)
            kafka_producer_close(p->slot[i].rk, 5000);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p);
}
