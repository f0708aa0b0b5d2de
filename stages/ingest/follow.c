#include "follow.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"

#define MAX_PARTS 4096

/* The topics followed, in the order of their partitions' indexes. */
enum { FOLLOW_STATUS, FOLLOW_ATTEMPTS, FOLLOW_USAGE, FOLLOW__COUNT };
static const enum topic_id followed[FOLLOW__COUNT] = {TOPIC_STATUS, TOPIC_ATTEMPTS, TOPIC_USAGE};

struct follow {
    const struct stage *st;
    struct table *table;
    struct usage *usage;
    rd_kafka_t *rk;
    int n_parts;
    int behind;                       /* partitions not yet read to their end once */
    unsigned char *at_end;            /* per (topic, partition) index */
    int32_t first[FOLLOW__COUNT + 1]; /* index of each topic's partition 0; then the end */
    atomic_int caught_up;
};

static int32_t partitions_of(rd_kafka_t *rk, const char *name, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, name, NULL);
    int32_t n = -1;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (!err) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (n <= 0)
        snprintf(errstr, errstr_size, "no partitions for %s: %s", name,
                 err ? rd_kafka_err2str(err) : "unknown topic");
    return n;
}

struct follow *follow_open(const struct stage *st, struct table *table, struct usage *usage,
                           char *errstr, size_t errstr_size)
{
    char group[300];
    struct follow *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->st = st;
    f->table = table;
    f->usage = usage;
    /* A bare name: kafka_consumer_conf adds the topic prefix (once). */
    rd_kafka_conf_t *conf =
        kafka_consumer_conf(&st->cfg, st->client_id, "ferry-ingest-follow", errstr, errstr_size);
    if (!conf || kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) ||
        kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        goto err;
    }
    f->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!f->rk) {
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    rd_kafka_poll_set_consumer(f->rk);
    for (int i = 0; i < FOLLOW__COUNT; i++) {
        int32_t n = partitions_of(f->rk, topic_name(&st->topics, followed[i]), errstr, errstr_size);
        if (n <= 0 || f->first[i] + n > MAX_PARTS)
            goto err;
        f->first[i + 1] = f->first[i] + n;
    }
    f->n_parts = f->behind = f->first[FOLLOW__COUNT];
    f->at_end = calloc((size_t)f->n_parts, 1);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(f->n_parts);
    for (int i = 0; i < FOLLOW__COUNT; i++)
        for (int32_t p = 0; p < f->first[i + 1] - f->first[i]; p++)
            rd_kafka_topic_partition_list_add(parts, topic_name(&st->topics, followed[i]), p)
                ->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(f->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err || !f->at_end) {
        snprintf(errstr, errstr_size, "assign: %s", rd_kafka_err2str(err));
        goto err;
    }
    kafka_lag_watch(f->rk, NULL); /* how far the status table trails the topics */
    size_t glen = sizeof(group);
    if (rd_kafka_conf_get(rd_kafka_conf(f->rk), "group.id", group, &glen) != RD_KAFKA_CONF_OK)
        group[0] = '\0';
    LOG_INFO("following",
             "group=%s status_partitions=%d attempts_partitions=%d usage_partitions=%d", group,
             f->first[1], f->first[2] - f->first[1], f->first[3] - f->first[2]);
    return f;
err:
    follow_close(f);
    return NULL;
}

/* Which of the followed topics m is from. */
static int which(const struct follow *f, const rd_kafka_message_t *m)
{
    const char *name = rd_kafka_topic_name(m->rkt);
    for (int i = 0; i < FOLLOW__COUNT - 1; i++)
        if (strcmp(name, topic_name(&f->st->topics, followed[i])) == 0)
            return i;
    return FOLLOW__COUNT - 1;
}

static void reached_end(struct follow *f, const rd_kafka_message_t *m)
{
    int t = which(f, m);
    int i = f->first[t] + m->partition;
    if (m->partition < 0 || i >= f->first[t + 1] || f->at_end[i])
        return;
    f->at_end[i] = 1;
    if (--f->behind == 0) {
        atomic_store(&f->caught_up, 1);
        LOG_INFO("status_caught_up", "batches=%zu", table_count(f->table));
    }
}

void follow_poll(struct follow *f, int timeout_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(f->rk, timeout_ms);
    /* Drain what is already here without waiting again. */
    for (int n = 0; m; n++) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            reached_end(f, m);
        } else if (m->err) {
            LOG_WARN("follow_error", "err=%s", rd_kafka_err2name(m->err));
        } else if (which(f, m) == FOLLOW_STATUS) {
            char id[64];
            size_t klen = m->key_len < sizeof(id) - 1 ? m->key_len : sizeof(id) - 1;
            memcpy(id, m->key ? m->key : "", m->key ? klen : 0);
            id[m->key ? klen : 0] = '\0';
            if (!id[0] || table_put_status(f->table, id, m->payload, m->len, 0))
                LOG_WARN("bad_status_record", "partition=%d offset=%lld", m->partition,
                         (long long)m->offset);
        } else if (which(f, m) == FOLLOW_USAGE) {
            if (m->payload && usage_put(f->usage, m->payload, m->len))
                LOG_WARN("bad_usage_record", "partition=%d offset=%lld", m->partition,
                         (long long)m->offset);
        } else if (m->payload && table_put_attempt(f->table, m->payload, m->len)) {
            LOG_WARN("bad_attempt_record", "partition=%d offset=%lld", m->partition,
                     (long long)m->offset);
        }
        rd_kafka_message_destroy(m);
        m = n < 10000 ? rd_kafka_consumer_poll(f->rk, 0) : NULL;
    }
}

int follow_caught_up(const struct follow *f)
{
    return f && atomic_load(&f->caught_up);
}

void follow_close(struct follow *f)
{
    if (!f)
        return;
    if (f->rk)
        kafka_consumer_close(f->rk, 0);
    free(f->at_end);
    free(f);
}
