#include "offtrack.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* One partition: a ring of in-flight offsets in increasing order, each with
 * a done flag. Work begins in offset order, so the ring stays sorted and
 * the done lookup is a binary search. */
struct ot_part {
    char *topic;
    int32_t partition;
    int64_t *offs;
    unsigned char *done;
    size_t head, len, cap;
    int64_t stored; /* last offset stored (next to consume), -1 none */
    struct ot_part *next;
};

struct offtrack {
    pthread_mutex_t lock;
    rd_kafka_t *rk;
    struct ot_part *parts;
    size_t pending;
};

struct offtrack *offtrack_new(rd_kafka_t *consumer)
{
    struct offtrack *ot = calloc(1, sizeof(*ot));
    if (!ot)
        abort();
    pthread_mutex_init(&ot->lock, NULL);
    ot->rk = consumer;
    return ot;
}

static void part_free(struct ot_part *p)
{
    free(p->topic);
    free(p->offs);
    free(p->done);
    free(p);
}

void offtrack_free(struct offtrack *ot)
{
    if (!ot)
        return;
    while (ot->parts) {
        struct ot_part *p = ot->parts;
        ot->parts = p->next;
        part_free(p);
    }
    pthread_mutex_destroy(&ot->lock);
    free(ot);
}

static struct ot_part *part_find(struct offtrack *ot, const char *topic, int32_t partition,
                                 int create)
{
    for (struct ot_part *p = ot->parts; p; p = p->next)
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    if (!create)
        return NULL;
    struct ot_part *p = calloc(1, sizeof(*p));
    if (!p || !(p->topic = strdup(topic)))
        abort();
    p->partition = partition;
    p->stored = -1;
    p->next = ot->parts;
    ot->parts = p;
    return p;
}

#define AT(p, i) ((p)->head + (i)) % (p)->cap

static void part_push(struct ot_part *p, int64_t offset)
{
    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        int64_t *offs = malloc(cap * sizeof(*offs));
        unsigned char *done = malloc(cap);
        if (!offs || !done)
            abort();
        for (size_t i = 0; i < p->len; i++) {
            offs[i] = p->offs[AT(p, i)];
            done[i] = p->done[AT(p, i)];
        }
        free(p->offs);
        free(p->done);
        p->offs = offs;
        p->done = done;
        p->head = 0;
        p->cap = cap;
    }
    p->offs[AT(p, p->len)] = offset;
    p->done[AT(p, p->len)] = 0;
    p->len++;
}

void offtrack_begin(struct offtrack *ot, const rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    pthread_mutex_lock(&ot->lock);
    struct ot_part *p = part_find(ot, topic, msg->partition, 1);
    if (p->len > 0 && msg->offset <= p->offs[AT(p, p->len - 1)]) {
        /* A rewind (seek back, re-delivery after a rebalance): the
         * in-flight offsets at and above it will be begun again. */
        while (p->len > 0 && p->offs[AT(p, p->len - 1)] >= msg->offset) {
            if (!p->done[AT(p, p->len - 1)])
                ot->pending--;
            p->len--;
        }
    }
    part_push(p, msg->offset);
    ot->pending++;
    pthread_mutex_unlock(&ot->lock);
}

void offtrack_done(struct offtrack *ot, const char *topic, int32_t partition, int64_t offset)
{
    pthread_mutex_lock(&ot->lock);
    struct ot_part *p = part_find(ot, topic, partition, 0);
    if (!p || p->len == 0)
        goto out;
    size_t lo = 0, hi = p->len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->offs[AT(p, mid)] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->len || p->offs[AT(p, lo)] != offset || p->done[AT(p, lo)])
        goto out;
    p->done[AT(p, lo)] = 1;
    ot->pending--;

    int64_t next = -1;
    while (p->len > 0 && p->done[p->head]) {
        next = p->offs[p->head] + 1;
        p->head = (p->head + 1) % p->cap;
        p->len--;
    }
    if (next >= 0) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next;
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(ot->rk, l);
        /* A partition revoked meanwhile refuses the store; its next owner
         * redoes the work, which is the safe outcome. */
        if (err)
            LOG_DEBUG("offset_store", "topic=%s partition=%d offset=%lld err=%s", topic,
                      (int)partition, (long long)next, rd_kafka_err2name(err));
        else
            p->stored = next;
        rd_kafka_topic_partition_list_destroy(l);
    }
out:
    pthread_mutex_unlock(&ot->lock);
}

void offtrack_revoke(struct offtrack *ot, const rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&ot->lock);
    for (int i = 0; i < parts->cnt; i++) {
        for (struct ot_part **pp = &ot->parts; *pp; pp = &(*pp)->next) {
            struct ot_part *p = *pp;
            if (p->partition == parts->elems[i].partition &&
                strcmp(p->topic, parts->elems[i].topic) == 0) {
                for (size_t j = 0; j < p->len; j++)
                    if (!p->done[AT(p, j)])
                        ot->pending--;
                *pp = p->next;
                part_free(p);
                break;
            }
        }
    }
    pthread_mutex_unlock(&ot->lock);
}

size_t offtrack_pending(struct offtrack *ot)
{
    pthread_mutex_lock(&ot->lock);
    size_t n = ot->pending;
    pthread_mutex_unlock(&ot->lock);
    return n;
}

int64_t offtrack_low_water(struct offtrack *ot, const char *topic, int32_t partition)
{
    pthread_mutex_lock(&ot->lock);
    struct ot_part *p = part_find(ot, topic, partition, 0);
    int64_t v = !p ? -1 : p->len > 0 ? p->offs[p->head] : p->stored;
    pthread_mutex_unlock(&ot->lock);
    return v;
}
