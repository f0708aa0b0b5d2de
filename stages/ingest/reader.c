#include "reader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"

struct reader_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int n;
    rd_kafka_t **rk;
    int *busy;
};

struct reader_pool *reader_pool_new(const struct stage *st, int size, char *errstr,
                                    size_t errstr_size)
{
    struct reader_pool *p = calloc(1, sizeof(*p));
    if (!p || !(p->rk = calloc((size_t)size, sizeof(*p->rk))) ||
        !(p->busy = calloc((size_t)size, sizeof(*p->busy)))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto err;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    for (int i = 0; i < size; i++) {
        char group[300];
        /* group.id is required by the consumer API, but no group is ever
         * joined: partitions are assigned by hand and nothing is committed. */
        snprintf(group, sizeof(group), "%singest-reader", cfg_str(&st->cfg, "FERRY_TOPIC_PREFIX"));
        rd_kafka_conf_t *conf = kafka_consumer_conf(&st->cfg, st->client_id, group, errstr,
                                                    errstr_size);
        if (!conf || kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) ||
            kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
            kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, errstr_size)) {
            if (conf)
                rd_kafka_conf_destroy(conf);
            goto err;
        }
        p->rk[i] = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
        if (!p->rk[i]) {
            rd_kafka_conf_destroy(conf);
            goto err;
        }
        rd_kafka_poll_set_consumer(p->rk[i]);
        p->n++;
    }
    return p;
err:
    reader_pool_free(p);
    return NULL;
}

static int take(struct reader_pool *p)
{
    int got = -1;
    pthread_mutex_lock(&p->lock);
    while (got < 0) {
        for (int i = 0; i < p->n && got < 0; i++)
            if (!p->busy[i])
                got = i;
        if (got < 0)
            pthread_cond_wait(&p->freed, &p->lock);
    }
    p->busy[got] = 1;
    pthread_mutex_unlock(&p->lock);
    return got;
}

static void give(struct reader_pool *p, int i)
{
    pthread_mutex_lock(&p->lock);
    p->busy[i] = 0;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

int reader_scan(struct reader_pool *p, const char *topic, int32_t partition, int64_t from,
                int64_t last, int timeout_ms, reader_fn fn, void *arg, int64_t *next,
                char *errstr, size_t errstr_size)
{
    int i = take(p), rc = -1;
    rd_kafka_t *rk = p->rk[i];
    int64_t deadline = clk_mono_ms() + timeout_ms;
    *next = from;

    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = from;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err) {
        snprintf(errstr, errstr_size, "assign: %s", rd_kafka_err2str(err));
        goto out;
    }
    if (last >= 0 && from > last) {
        rc = 0;
        goto unassign;
    }
    while (clk_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        /* Records of an earlier read's assignment are filtered by
         * librdkafka's op versions; this guards the partition anyway. */
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            rc = 0;
            break;
        }
        if (m->err) {
            rd_kafka_resp_err_t merr = m->err;
            snprintf(errstr, errstr_size, "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            /* Transport errors are retried by librdkafka within the deadline. */
            if (merr == RD_KAFKA_RESP_ERR__TRANSPORT || merr == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                continue;
            goto unassign;
        }
        if (m->partition != partition || m->offset < *next) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (last >= 0 && m->offset > last) {
            rd_kafka_message_destroy(m);
            rc = 0;
            break;
        }
        int stop = fn(m, arg);
        *next = m->offset + 1;
        rd_kafka_message_destroy(m);
        if (stop || (last >= 0 && *next > last)) {
            rc = 0;
            break;
        }
    }
    if (rc)
        snprintf(errstr, errstr_size, "no answer from Kafka within %d ms", timeout_ms);
unassign:
    rd_kafka_assign(rk, NULL);
out:
    give(p, i);
    return rc;
}

void reader_pool_free(struct reader_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        kafka_consumer_close(p->rk[i], 0);
    free(p->rk);
    free(p->busy);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p);
}
