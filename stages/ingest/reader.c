#include "reader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "kafka.h"

struct reader_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int n;
    rd_kafka_t **rk;
    int *busy;
};

struct reader_pool *reader_pool_new(const struct stage *st, int size, size_t fetch_bytes,
                                    char *errstr, size_t errstr_size)
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
        p->rk[i] = fetch_bytes ? scan_open_sized(&st->cfg, st->client_id, "ferry-ingest-reader",
                                                 fetch_bytes, errstr, errstr_size)
                               : scan_open(&st->cfg, st->client_id, "ferry-ingest-reader", errstr,
                                           errstr_size);
        if (!p->rk[i])
            goto err;
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
                int64_t last, int timeout_ms, scan_fn fn, void *arg, int64_t *next, char *errstr,
                size_t errstr_size)
{
    int i = take(p);
    int rc = scan_read(p->rk[i], topic, &partition, 1, from, last, NULL, fn, arg, next, timeout_ms,
                       errstr, errstr_size);
    give(p, i);
    return rc;
}

int reader_offset_at(struct reader_pool *p, const char *topic, int32_t partition, int64_t ts_ms,
                     int timeout_ms, int64_t *offset, char *errstr, size_t errstr_size)
{
    int i = take(p);
    int rc =
        scan_offset_at(p->rk[i], topic, partition, ts_ms, timeout_ms, offset, errstr, errstr_size);
    give(p, i);
    return rc;
}

int reader_partitions(struct reader_pool *p, const char *topic, int timeout_ms, char *errstr,
                      size_t errstr_size)
{
    int i = take(p);
    int n = scan_partitions(p->rk[i], topic, timeout_ms, errstr, errstr_size);
    give(p, i);
    return n;
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
