/* kafka_lag.c: consumer lag, read once (kafka_consumer_lag) or watched into
 * ferry_kafka_consumer_lag per partition (kafka_lag_watch); kafka.h documents both. */
#include "kafka.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "cloudevents.h"
#include "log.h"
#include "metrics.h"
#include "shutdown.h"

long long kafka_consumer_lag(rd_kafka_t *consumer)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(consumer, &a) || !a)
        return -1;
    rd_kafka_position(consumer, a);
    long long lag = 0;
    for (int i = 0; i < a->cnt; i++) {
        int64_t lo, hi;
        if (a->elems[i].offset >= 0 &&
            rd_kafka_get_watermark_offsets(consumer, a->elems[i].topic, a->elems[i].partition, &lo,
                                           &hi) == 0 &&
            hi > a->elems[i].offset)
            lag += hi - a->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(a);
    return lag;
}

/* ---------------------------------------------------------------- lag in /metrics */

struct lag_series {
    char topic[256];
    int32_t partition;
    struct metric *m;
};

struct lag_watch {
    rd_kafka_t *rk;
    char group[256];
    struct lag_series *s; /* every partition ever assigned, in order seen */
    size_t n, cap;
    struct lag_watch *next;
};

/* The longest a /metrics request waits for the committed offsets of
 * partitions not read from yet. */
#define LAG_COMMITTED_TIMEOUT_MS 2000

static pthread_mutex_t watches_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lag_watch *watches;

static struct lag_series *lag_series_of(struct lag_watch *w, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->s[i].partition == partition && strcmp(w->s[i].topic, topic) == 0)
            return &w->s[i];
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        struct lag_series *s = realloc(w->s, cap * sizeof(*s));
        if (!s)
            abort();
        w->s = s;
        w->cap = cap;
    }
    struct lag_series *ls = &w->s[w->n++];
    char labels[600];
    snprintf(ls->topic, sizeof(ls->topic), "%s", topic);
    ls->partition = partition;
    snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\",partition=\"%d\"", w->group, topic,
             (int)partition);
    ls->m = metric_gauge("ferry_kafka_consumer_lag",
                         "Messages in a partition not yet consumed by this instance (high "
                         "watermark, or last stable offset under read_committed, minus the "
                         "consumer position)",
                         labels);
    return ls;
}

static void lag_collect(void *arg)
{
    struct lag_watch *w = arg;
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(w->rk, &a) || !a)
        return;
    rd_kafka_position(w->rk, a);
    /* A partition the instance has read nothing from since it got it has
     * no position yet; it will start at the group's committed offset, as
     * kafka-consumer-groups counts lag, or at the earliest offset when the
     * group has none (auto.offset.reset=earliest, or an assign from the
     * beginning). Asking the coordinator costs a round trip, so only for
     * those partitions. */
    rd_kafka_topic_partition_list_t *unknown = rd_kafka_topic_partition_list_new(a->cnt);
    for (int i = 0; i < a->cnt; i++)
        if (a->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(unknown, a->elems[i].topic, a->elems[i].partition);
    if (unknown->cnt && rd_kafka_committed(w->rk, unknown, LAG_COMMITTED_TIMEOUT_MS))
        unknown->cnt = 0;
    for (size_t i = 0; i < w->n; i++)
        metric_hide(w->s[i].m);
    for (int i = 0; i < a->cnt; i++) {
        int64_t lo, hi, pos = a->elems[i].offset;
        if (rd_kafka_get_watermark_offsets(w->rk, a->elems[i].topic, a->elems[i].partition, &lo,
                                           &hi) ||
            hi < 0)
            continue;
        if (pos < 0) {
            rd_kafka_topic_partition_t *c = rd_kafka_topic_partition_list_find(
                unknown, a->elems[i].topic, a->elems[i].partition);
            if (!c || c->err)
                continue;
            pos = c->offset >= 0 ? c->offset : lo;
            if (pos < 0)
                continue;
        }
        struct lag_series *ls = lag_series_of(w, a->elems[i].topic, a->elems[i].partition);
        metric_set(ls->m, hi > pos ? hi - pos : 0);
    }
    rd_kafka_topic_partition_list_destroy(unknown);
    rd_kafka_topic_partition_list_destroy(a);
}

void kafka_lag_watch(rd_kafka_t *consumer, const char *group)
{
    struct lag_watch *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    w->rk = consumer;
    if (group) {
        snprintf(w->group, sizeof(w->group), "%s", group);
    } else {
        size_t size = sizeof(w->group);
        if (rd_kafka_conf_get(rd_kafka_conf(consumer), "group.id", w->group, &size) !=
            RD_KAFKA_CONF_OK)
            w->group[0] = '\0';
    }
    if (metrics_collector_add(lag_collect, w)) {
        LOG_WARN("lag_unwatched", "group=%s reason=too_many_collectors", w->group);
        free(w);
        return;
    }
    pthread_mutex_lock(&watches_lock);
    w->next = watches;
    watches = w;
    pthread_mutex_unlock(&watches_lock);
}

void kafka_lag_unwatch(rd_kafka_t *consumer)
{
    pthread_mutex_lock(&watches_lock);
    struct lag_watch **pp = &watches, *w = NULL;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->rk == consumer) {
            w = *pp;
            *pp = w->next;
            break;
        }
    pthread_mutex_unlock(&watches_lock);
    if (!w)
        return;
    metrics_collector_remove(lag_collect, w);
    /* Its series stay registered (metrics are never freed) but leave the
     * output: this consumer no longer reads those partitions. */
    for (size_t i = 0; i < w->n; i++)
        metric_hide(w->s[i].m);
    free(w->s);
    free(w);
}
