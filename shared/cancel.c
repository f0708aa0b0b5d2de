#include "cancel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "strmap.h"

/* ------------------------------------------------------------ follower */

struct cancels {
    rd_kafka_t *rk;
    pthread_t thread;
    pthread_rwlock_t lock;
    struct strmap set; /* cancelled batch ids (values unused); guarded by lock */
    atomic_int stop;
    atomic_int caught_up;
    int n_parts;
    pthread_mutex_t end_lock;  /* guards end */
    pthread_mutex_t sync_lock; /* one cancels_sync() at a time */
    int64_t *end;              /* high watermark per partition to catch up to */
    int64_t *pos;              /* next offset per partition (follower thread) */
    struct xrules *xr;
    char topic[256];
};

static void check_caught_up(struct cancels *c)
{
    pthread_mutex_lock(&c->end_lock);
    int64_t end[c->n_parts];
    memcpy(end, c->end, sizeof(end));
    pthread_mutex_unlock(&c->end_lock);
    for (int i = 0; i < c->n_parts; i++)
        if (c->pos[i] < end[i]) {
            /* A transaction marker or an aborted record can sit at the end:
             * the position (not the last record seen) is what counts. */
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(l, c->topic, i);
            rd_kafka_position(c->rk, l);
            int64_t p = l->elems[0].offset;
            rd_kafka_topic_partition_list_destroy(l);
            if (p < end[i])
                return;
            c->pos[i] = p;
        }
    atomic_store(&c->caught_up, 1);
}

static void *follow(void *arg)
{
    struct cancels *c = arg;
    int64_t next_check = 0;
    while (!atomic_load(&c->stop)) {
        /* 200 ms: notices a stop quickly; cancels are rare. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 200);
        if (m && !m->err) {
            char type[16], id[128];
            if (m->partition >= 0 && m->partition < c->n_parts)
                c->pos[m->partition] = m->offset + 1;
            if (!kafka_header(m, "ferry-type", type, sizeof(type)))
                type[0] = '\0';
            if (c->xr && strcmp(type, "batch") == 0 && m->payload)
                xrules_note_batch(c->xr, m->payload, m->len);
            if (strcmp(type, "cancel") == 0) {
                /* The id is in the key (batch-scoped topics are keyed by
                 * batch id) and the header; fall back to the value. */
                const char *bid = kafka_header(m, "ferry-batch", id, sizeof(id));
                if (!bid && m->key_len > 0 && m->key_len < sizeof(id)) {
                    memcpy(id, m->key, m->key_len);
                    id[m->key_len] = '\0';
                    bid = id;
                }
                if (bid) {
                    pthread_rwlock_wrlock(&c->lock);
                    strmap_put(&c->set, bid, NULL, NULL);
                    pthread_rwlock_unlock(&c->lock);
                    LOG_INFO("batch_cancelled", "batch=%s", bid);
                }
            }
        } else if (m && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            LOG_WARN("cancels_consume_error", "err=%s", rd_kafka_err2name(m->err));
        }
        if (m)
            rd_kafka_message_destroy(m);
        if (!atomic_load(&c->caught_up) && clk_mono_ms() >= next_check) {
            check_caught_up(c);
            next_check = clk_mono_ms() + 100;
        }
    }
    return NULL;
}

struct cancels *cancels_start(const struct cfg *cfg, const char *client_id, const char *topic,
                              struct xrules *xr, char *errstr, size_t errstr_size)
{
    struct cancels *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    snprintf(c->topic, sizeof(c->topic), "%s", topic);
    c->xr = xr;
    pthread_rwlock_init(&c->lock, NULL);
    pthread_mutex_init(&c->end_lock, NULL);
    pthread_mutex_init(&c->sync_lock, NULL);
    c->set = (struct strmap)STRMAP_INIT;
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, client_id, errstr, errstr_size);
    if (!conf || kafka_conf_set(conf, "group.id", "ferry-scrape-cancels", errstr, errstr_size) ||
        kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
        kafka_conf_set(conf, "isolation.level", "read_committed", errstr, errstr_size))
        goto err;
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    conf = NULL;
    if (!c->rk)
        goto err;
    rd_kafka_poll_set_consumer(c->rk);

    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (err || md->topic_cnt != 1 || md->topics[0].partition_cnt <= 0) {
        snprintf(errstr, errstr_size, "metadata of %s: %s", topic,
                 err ? rd_kafka_err2str(err) : "no partitions");
        if (md)
            rd_kafka_metadata_destroy(md);
        goto err;
    }
    c->n_parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    c->end = calloc((size_t)c->n_parts, sizeof(int64_t));
    c->pos = calloc((size_t)c->n_parts, sizeof(int64_t));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(c->n_parts);
    for (int i = 0; i < c->n_parts; i++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(c->rk, topic, i, &lo, &hi, 10000) == 0)
            c->end[i] = hi;
        c->pos[i] = lo;
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    err = rd_kafka_assign(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        snprintf(errstr, errstr_size, "assign %s: %s", topic, rd_kafka_err2str(err));
        goto err;
    }
    int terr = pthread_create(&c->thread, NULL, follow, c);
    if (terr) {
        snprintf(errstr, errstr_size, "thread: %s", strerror(terr));
        goto err;
    }
    return c;
err:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c->rk)
        rd_kafka_destroy(c->rk);
    strmap_release(&c->set, NULL);
    free(c->end);
    free(c->pos);
    free(c);
    return NULL;
}

int cancels_has(struct cancels *c, const char *batch_id)
{
    pthread_rwlock_rdlock(&c->lock);
    int has = strmap_size(&c->set) && strmap_has(&c->set, batch_id);
    pthread_rwlock_unlock(&c->lock);
    return has;
}

size_t cancels_count(struct cancels *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = strmap_size(&c->set);
    pthread_rwlock_unlock(&c->lock);
    return n;
}

int cancels_wait_caught_up(struct cancels *c, int timeout_ms)
{
    int64_t deadline = clk_mono_ms() + timeout_ms;
    while (!atomic_load(&c->caught_up) && clk_mono_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&c->caught_up);
}

int cancels_sync(void *arg, int timeout_ms)
{
    struct cancels *c = arg;
    int64_t hi[c->n_parts];
    pthread_mutex_lock(&c->sync_lock);
    for (int i = 0; i < c->n_parts; i++) {
        int64_t lo = 0;
        if (rd_kafka_query_watermark_offsets(c->rk, c->topic, i, &lo, &hi[i], timeout_ms))
            hi[i] = 0; /* unknown: what was read so far counts */
    }
    pthread_mutex_lock(&c->end_lock);
    int behind = 0;
    for (int i = 0; i < c->n_parts; i++)
        if (hi[i] > c->end[i])
            c->end[i] = hi[i], behind = 1;
    if (behind)
        atomic_store(&c->caught_up, 0);
    pthread_mutex_unlock(&c->end_lock);
    int ok = cancels_wait_caught_up(c, timeout_ms);
    pthread_mutex_unlock(&c->sync_lock);
    return ok;
}

void cancels_stop(struct cancels *c)
{
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    pthread_rwlock_wrlock(&c->lock);
    strmap_release(&c->set, NULL);
    pthread_rwlock_unlock(&c->lock);
    pthread_rwlock_destroy(&c->lock);
    pthread_mutex_destroy(&c->end_lock);
    pthread_mutex_destroy(&c->sync_lock);
    free(c->end);
    free(c->pos);
    free(c);
}
