#include "reader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "kafka.h"

struct reader_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int n;
    rd_kafka_t **rk; /* NULL until first needed */
    int *busy;
    const struct stage *st;
    size_t fetch_bytes;
};

static rd_kafka_t *open_one(struct reader_pool *p, char *errstr, size_t errstr_size)
{
    return p->fetch_bytes ? scan_open_sized(&p->st->cfg, p->st->client_id, "ferry-ingest-reader",
                                            p->fetch_bytes, errstr, errstr_size)
                          : scan_open(&p->st->cfg, p->st->client_id, "ferry-ingest-reader", errstr,
                                      errstr_size);
}

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
    p->n = size;
    p->st = st;
    p->fetch_bytes = fetch_bytes;
    /* One now, so a bad setting stops the start; the others when reads
     * overlap (an idle client costs its threads' wake-ups). */
    if (!(p->rk[0] = open_one(p, errstr, errstr_size)))
        goto err;
    return p;
err:
    reader_pool_free(p);
    return NULL;
}

static void give(struct reader_pool *p, int i);

/* A free reader (an open one first), opened when it was never used. Its
 * index, or -1 with errstr. */
static int take(struct reader_pool *p, char *errstr, size_t errstr_size)
{
    int got = -1;
    pthread_mutex_lock(&p->lock);
    while (got < 0) {
        for (int i = 0; i < p->n && got < 0; i++)
            if (!p->busy[i] && p->rk[i])
                got = i;
        for (int i = 0; i < p->n && got < 0; i++)
            if (!p->busy[i])
                got = i;
        if (got < 0)
            pthread_cond_wait(&p->freed, &p->lock);
    }
    p->busy[got] = 1;
    int opened = p->rk[got] != NULL;
    pthread_mutex_unlock(&p->lock);
    if (!opened) {
        rd_kafka_t *rk = open_one(p, errstr, errstr_size);
        if (!rk) {
            give(p, got);
            return -1;
        }
        pthread_mutex_lock(&p->lock);
        p->rk[got] = rk;
        pthread_mutex_unlock(&p->lock);
    }
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
    int i = take(p, errstr, errstr_size);
    if (i < 0)
        return -1;
    int rc = scan_read(p->rk[i], topic, &partition, 1, from, last, NULL, fn, arg, next, timeout_ms,
                       errstr, errstr_size);
    give(p, i);
    return rc;
}

int reader_offset_at(struct reader_pool *p, const char *topic, int32_t partition, int64_t ts_ms,
                     int timeout_ms, int64_t *offset, char *errstr, size_t errstr_size)
{
    int i = take(p, errstr, errstr_size);
    if (i < 0)
        return -1;
    int rc =
        scan_offset_at(p->rk[i], topic, partition, ts_ms, timeout_ms, offset, errstr, errstr_size);
    give(p, i);
    return rc;
}

int reader_partitions(struct reader_pool *p, const char *topic, int timeout_ms, char *errstr,
                      size_t errstr_size)
{
    int i = take(p, errstr, errstr_size);
    if (i < 0)
        return -1;
    int n = scan_partitions(p->rk[i], topic, timeout_ms, errstr, errstr_size);
    give(p, i);
    return n;
}

void reader_pool_free(struct reader_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n && p->rk; i++)
        if (p->rk[i])
            kafka_consumer_close(p->rk[i], 0);
    free(p->rk);
    free(p->busy);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p);
}
