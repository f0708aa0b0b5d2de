#include "follower.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"

/* Partitions followed in all (over every topic). */
#define FOLLOWER_PARTS_MAX 4096

/* Followers on one hub at the most. */
#define HUB_MEMBERS_MAX 8

struct follower_hub {
    rd_kafka_t *rk;
    int end_wait_ms;
    char group[300];
    pthread_t thread;
    int started;
    atomic_int stop;
    /* Guards members; held while a record is handed over, so a follower
     * closed is never called again. */
    pthread_mutex_t members_lock;
    struct follower *members[HUB_MEMBERS_MAX];
    size_t n_members;
};

struct follower {
    struct follower_hub *hub;
    int own_hub; /* opened by follower_open: closed with the follower */
    follower_fn fn;
    void *arg;
    size_t n_topics;
    char topic[FOLLOWER_TOPICS_MAX][256];
    int32_t n_parts[FOLLOWER_TOPICS_MAX];
    int32_t base[FOLLOWER_TOPICS_MAX]; /* index of the topic's partition 0 in pos/at_end */
    int total;
    int assigned;

    /* Guarded by lock; `moved` is signalled whenever a position advances. */
    pthread_mutex_t lock;
    pthread_cond_t moved;
    int64_t *pos;          /* per partition: every record before it was applied */
    unsigned char *at_end; /* per partition: its end was reached once */
    int behind;            /* partitions whose end was never reached */
};

static int topic_index(const struct follower *f, const char *name)
{
    for (size_t i = 0; i < f->n_topics; i++)
        if (strcmp(f->topic[i], name) == 0)
            return (int)i;
    return -1;
}

/* Under the lock: the slot of a message's partition, or -1. */
static int slot_of(const struct follower *f, const rd_kafka_message_t *m)
{
    int t = m->rkt ? topic_index(f, rd_kafka_topic_name(m->rkt)) : -1;
    if (t < 0 || m->partition < 0 || m->partition >= f->n_parts[t])
        return -1;
    return f->base[t] + m->partition;
}

static void advance(struct follower *f, int slot, int64_t to, int eof)
{
    pthread_mutex_lock(&f->lock);
    if (to > f->pos[slot])
        f->pos[slot] = to;
    if (eof && !f->at_end[slot]) {
        f->at_end[slot] = 1;
        f->behind--;
    }
    pthread_cond_broadcast(&f->moved);
    pthread_mutex_unlock(&f->lock);
}

/* Under the hub's members_lock: the follower of a message's topic, and the
 * topic's number in it. */
static struct follower *member_of(struct follower_hub *h, const rd_kafka_message_t *m, int *topic)
{
    const char *name = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
    for (size_t i = 0; name && i < h->n_members; i++)
        if ((*topic = topic_index(h->members[i], name)) >= 0)
            return h->members[i];
    return NULL;
}

static void hand_over(struct follower_hub *h, rd_kafka_message_t *m)
{
    int topic = -1;
    pthread_mutex_lock(&h->members_lock);
    struct follower *f = member_of(h, m, &topic);
    int slot = f ? slot_of(f, m) : -1;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        /* The offset of an end event is where the partition ends:
         * transaction markers before it are passed too. */
        if (slot >= 0)
            advance(f, slot, m->offset, 1);
    } else if (m->err) {
        LOG_WARN("follow_error", "topic=%s err=%s", m->rkt ? rd_kafka_topic_name(m->rkt) : "-",
                 rd_kafka_err2name(m->err));
    } else if (slot >= 0) {
        f->fn(f->arg, topic, m);
        advance(f, slot, m->offset + 1, 0);
    }
    pthread_mutex_unlock(&h->members_lock);
}

static void *run(void *arg)
{
    struct follower_hub *h = arg;
    while (!atomic_load(&h->stop)) {
        /* A short poll: the stop flag is seen within it. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(h->rk, 100);
        for (int n = 0; m; n++) {
            hand_over(h, m);
            rd_kafka_message_destroy(m);
            m = n < 10000 && !atomic_load(&h->stop) ? rd_kafka_consumer_poll(h->rk, 0) : NULL;
        }
    }
    return NULL;
}

struct follower_hub *follower_hub_open(const struct cfg *cfg, const char *client_id,
                                       const char *name, int end_wait_ms, char *errstr,
                                       size_t errstr_size)
{
    char wait[24];
    struct follower_hub *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    h->end_wait_ms = end_wait_ms;
    pthread_mutex_init(&h->members_lock, NULL);
    rd_kafka_conf_t *conf = kafka_reader_conf(cfg, client_id, name, errstr, errstr_size);
    if (!conf)
        goto err;
    /* A transaction's commit marker moves the end of a partition without a
     * record to hand over: only the next fetch answer says so. */
    snprintf(wait, sizeof(wait), "%d", end_wait_ms);
    if (end_wait_ms > 0 && kafka_conf_set(conf, "fetch.wait.max.ms", wait, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    if (!(h->rk = kafka_reader_open(conf, errstr, errstr_size)))
        goto err;
    size_t glen = sizeof(h->group);
    if (rd_kafka_conf_get(rd_kafka_conf(h->rk), "group.id", h->group, &glen) != RD_KAFKA_CONF_OK)
        h->group[0] = '\0';
    kafka_lag_watch(h->rk, NULL);
    if (pthread_create(&h->thread, NULL, run, h)) {
        snprintf(errstr, errstr_size, "cannot start the follower thread");
        goto err;
    }
    h->started = 1;
    return h;
err:
    follower_hub_close(h);
    return NULL;
}

void follower_hub_close(struct follower_hub *h)
{
    if (!h)
        return;
    if (h->started) {
        atomic_store(&h->stop, 1);
        pthread_join(h->thread, NULL);
    }
    if (h->rk)
        kafka_consumer_close(h->rk, 0);
    pthread_mutex_destroy(&h->members_lock);
    free(h);
}

/* Adds (or, with unassign, takes back) every partition of f's topics. */
static rd_kafka_error_t *assign_all(struct follower *f, int unassign)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(f->total);
    for (size_t i = 0; i < f->n_topics; i++)
        for (int32_t p = 0; p < f->n_parts[i]; p++)
            rd_kafka_topic_partition_list_add(parts, f->topic[i], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *err = unassign ? rd_kafka_incremental_unassign(f->hub->rk, parts)
                                     : rd_kafka_incremental_assign(f->hub->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    return err;
}

struct follower *follower_open_on(struct follower_hub *h, const char *const *topics, size_t n,
                                  follower_fn fn, void *arg, char *errstr, size_t errstr_size)
{
    struct follower *f = calloc(1, sizeof(*f));
    if (!f || n == 0 || n > FOLLOWER_TOPICS_MAX) {
        snprintf(errstr, errstr_size, f ? "follower: 1 to %d topics" : "out of memory",
                 FOLLOWER_TOPICS_MAX);
        free(f);
        return NULL;
    }
    f->hub = h;
    f->fn = fn;
    f->arg = arg;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->moved, NULL);
    for (size_t i = 0; i < n; i++) {
        snprintf(f->topic[i], sizeof(f->topic[i]), "%s", topics[i]);
        f->n_parts[i] = kafka_partition_count(h->rk, topics[i], 10000, errstr, errstr_size);
        if (f->n_parts[i] <= 0 || f->total + f->n_parts[i] > FOLLOWER_PARTS_MAX)
            goto err;
        f->base[i] = f->total;
        f->total += f->n_parts[i];
        f->n_topics++;
    }
    f->pos = calloc((size_t)f->total, sizeof(*f->pos));
    f->at_end = calloc((size_t)f->total, 1);
    if (!f->pos || !f->at_end) {
        snprintf(errstr, errstr_size, "out of memory");
        goto err;
    }
    f->behind = f->total;
    pthread_mutex_lock(&h->members_lock);
    int room = h->n_members < HUB_MEMBERS_MAX, taken = 0;
    for (size_t i = 0; i < h->n_members; i++)
        for (size_t t = 0; t < n; t++)
            taken |= topic_index(h->members[i], topics[t]) >= 0;
    if (room && !taken)
        h->members[h->n_members++] = f;
    pthread_mutex_unlock(&h->members_lock);
    if (!room || taken) {
        snprintf(errstr, errstr_size, "follower: %s",
                 taken ? "a topic followed twice on one hub" : "too many followers on one hub");
        goto err;
    }
    rd_kafka_error_t *err = assign_all(f, 0);
    if (err) {
        snprintf(errstr, errstr_size, "assign: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        goto err;
    }
    f->assigned = 1;
    LOG_INFO("following", "group=%s topics=%zu partitions=%d", h->group, n, f->total);
    return f;
err:
    follower_close(f);
    return NULL;
}

struct follower *follower_open(const struct cfg *cfg, const char *client_id, const char *name,
                               const char *const *topics, size_t n, int end_wait_ms, follower_fn fn,
                               void *arg, char *errstr, size_t errstr_size)
{
    struct follower_hub *h =
        follower_hub_open(cfg, client_id, name, end_wait_ms, errstr, errstr_size);
    struct follower *f = h ? follower_open_on(h, topics, n, fn, arg, errstr, errstr_size) : NULL;
    if (!f) {
        follower_hub_close(h);
        return NULL;
    }
    f->own_hub = 1;
    return f;
}

int follower_caught_up(struct follower *f)
{
    pthread_mutex_lock(&f->lock);
    int up = f->behind == 0;
    pthread_mutex_unlock(&f->lock);
    return up;
}

int follower_wait_caught_up(struct follower *f, int timeout_ms)
{
    struct timespec ts;
    int rc = 0;
    clk_deadline(timeout_ms, &ts);
    pthread_mutex_lock(&f->lock);
    while (f->behind > 0 && rc == 0)
        rc = pthread_cond_timedwait(&f->moved, &f->lock, &ts);
    int up = f->behind == 0;
    pthread_mutex_unlock(&f->lock);
    return up ? 0 : -1;
}

int follower_wait(struct follower *f, int topic, int32_t partition, int64_t offset, int timeout_ms)
{
    if (topic < 0 || (size_t)topic >= f->n_topics || partition < 0 ||
        partition >= f->n_parts[topic])
        return -1;
    int slot = f->base[topic] + partition, rc = 0;
    struct timespec ts;
    clk_deadline(timeout_ms, &ts);
    pthread_mutex_lock(&f->lock);
    while (f->pos[slot] < offset && rc == 0)
        rc = pthread_cond_timedwait(&f->moved, &f->lock, &ts);
    int there = f->pos[slot] >= offset;
    pthread_mutex_unlock(&f->lock);
    return there ? 0 : -1;
}

int follower_wait_end(struct follower *f, int topic, int32_t partition, int timeout_ms,
                      char *errstr, size_t errstr_size)
{
    int64_t lo, hi, t0 = clk_mono_ms();
    if (topic < 0 || (size_t)topic >= f->n_topics) {
        snprintf(errstr, errstr_size, "no such topic");
        return -1;
    }
    /* A read_committed consumer learns the last stable offset: records of a
     * transaction still open are not waited for. */
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(f->hub->rk, f->topic[topic],
                                                               partition, &lo, &hi, timeout_ms);
    if (err) {
        snprintf(errstr, errstr_size, "watermarks of %s/%d: %s", f->topic[topic], (int)partition,
                 rd_kafka_err2str(err));
        return -1;
    }
    int left = timeout_ms - (int)(clk_mono_ms() - t0);
    if (follower_wait(f, topic, partition, hi, left > 0 ? left : 1)) {
        snprintf(errstr, errstr_size, "%s/%d not read to offset %lld within %d ms", f->topic[topic],
                 (int)partition, (long long)hi, timeout_ms);
        return -1;
    }
    return 0;
}

int32_t follower_partitions(const struct follower *f, int topic)
{
    return topic >= 0 && (size_t)topic < f->n_topics ? f->n_parts[topic] : 0;
}

void follower_close(struct follower *f)
{
    if (!f)
        return;
    struct follower_hub *h = f->hub;
    /* Off the hub first: no record is handed to it after this. */
    pthread_mutex_lock(&h->members_lock);
    for (size_t i = 0; i < h->n_members; i++)
        if (h->members[i] == f) {
            h->members[i] = h->members[--h->n_members];
            break;
        }
    pthread_mutex_unlock(&h->members_lock);
    if (f->own_hub) {
        follower_hub_close(h);
    } else if (f->assigned) {
        rd_kafka_error_t *err = assign_all(f, 1);
        if (err) {
            LOG_WARN("follow_unassign", "err=%s", rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
        }
    }
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->moved);
    free(f->pos);
    free(f->at_end);
    free(f);
}
