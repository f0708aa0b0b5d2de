#include "txn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fhdr.h"
#include "kafka.h"
#include "ktxn.h"
#include "log.h"

struct txn_slot {
    rd_kafka_t *rk; /* NULL until opened, or after a failure threw it away */
    char txn_id[256];
    int busy;
};

/* A submit waiting to be written: queued until a producer takes it into a
 * transaction, done when that transaction committed or failed. Lives on
 * the submitting thread's stack; the pool's lock guards every field. */
struct txn_wait {
    struct txn_wait *next;
    const struct submission *b;
    const char *secret_enc;
    int64_t deadline;
    int taken, done, rc;
    char errstr[512];
};

/* The most one transaction takes: submits, and their items together (one
 * larger submit still goes alone). */
#define GROUP_MAX_SUBMITS 256
#define GROUP_MAX_ITEMS   200000

struct txn_pool {
    const struct stage *st;
    int timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a producer was freed, or a group finished */
    struct txn_wait *head, **tail;
    int n;
    int32_t req_partitions;    /* partitions of scrape.requests, read once */
    int32_t render_partitions; /* partitions of render.requests, read once */
    long long small_items;     /* FERRY_SMALL_BATCH_ITEMS: a batch this small takes the lane */
    struct txn_slot slot[];
};

enum topic_id txn_requests_topic(const struct txn_pool *p, int render, size_t total)
{
    /* A rendered batch's go to the render stage; a small one's to the lane
     * scrape serves first (scrape.requests.small: as many partitions, every
     * batch-scoped topic has FERRY_TOPIC_PARTITIONS), so it is not queued
     * behind a large backlog. */
    return render                               ? TOPIC_RENDER_REQUESTS
           : (long long)total <= p->small_items ? TOPIC_REQUESTS_SMALL
                                                : TOPIC_REQUESTS;
}

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
    pthread_cond_init(&p->changed, NULL);
    p->tail = &p->head;
    p->small_items = cfg_int(&st->cfg, "FERRY_SMALL_BATCH_ITEMS");
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

/* The partition count of one of the pool's topics (metadata); 0 with
 * errstr when the cluster does not answer in time. */
static int32_t partitions_of(rd_kafka_t *rk, const struct txn_pool *p, enum topic_id id,
                             int timeout_ms, char *errstr, size_t errstr_size)
{
    int32_t n =
        kafka_partition_count(rk, topic_name(&p->st->topics, id), timeout_ms, errstr, errstr_size);
    return n > 0 ? n : 0;
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
    const struct topics *t = &p->st->topics;
    if ((!p->req_partitions &&
         !(p->req_partitions = kafka_partition_count(s->rk, topic_name(t, TOPIC_REQUESTS),
                                                     timeout_ms, errstr, errstr_size))) ||
        (!p->render_partitions &&
         !(p->render_partitions = kafka_partition_count(s->rk, topic_name(t, TOPIC_RENDER_REQUESTS),
                                                        timeout_ms, errstr, errstr_size)))) {
        slot_discard(s);
        return -1;
    }
    /* Submits with an Idempotency-Key write to that topic too: learn its
     * leaders now rather than in the first such submit (about a second). */
    char ignored[128];
    partitions_of(s->rk, p, TOPIC_IDEMPOTENCY, timeout_ms, ignored, sizeof(ignored));
    LOG_INFO("producer_ready", "txn_id=%s", s->txn_id);
    return 0;
}

/* Under the lock: a producer nobody uses, or NULL. */
static struct txn_slot *slot_free(struct txn_pool *p)
{
    for (int i = 0; i < p->n; i++)
        if (!p->slot[i].busy)
            return &p->slot[i];
    return NULL;
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

    h = fhdr_batch(b->id, -1);
    fhdr_add(h, FHDR_TYPE, "batch");
    err = produce(rk, topic_name(t, TOPIC_BATCHES), RD_KAFKA_PARTITION_UA, b->id, record,
                  strlen(record), h, deadline);
    if (err) {
        rd_kafka_headers_destroy(h);
        goto produce_err;
    }
    /* Requests spread over every partition from the batch's own, so one
     * large batch keeps every scrape (or render) instance busy. */
    enum topic_id req_topic = txn_requests_topic(p, b->render != NULL, b->total);
    int32_t parts = b->render ? p->render_partitions : p->req_partitions;
    int32_t base = kafka_murmur2_partition(b->id, strlen(b->id), parts);
    /* A crawl's pages are requested by the aggregator's frontier, once
     * robots.txt allows them: nothing here. */
    for (size_t i = 0; !b->crawl && i < b->total; i++) {
        long len = submission_request_json(b, i, &buf, &cap);
        if (len < 0) {
            snprintf(errstr, errstr_size, "out of memory");
            goto out;
        }
        h = fhdr_request(b->id, (long long)i, NULL);
        err = produce(rk, topic_name(t, req_topic), (int32_t)((base + (int64_t)i) % parts), b->id,
                      buf, (size_t)len, h, deadline);
        if (err) {
            rd_kafka_headers_destroy(h);
            goto produce_err;
        }
    }
    h = fhdr_batch(b->id, -1);
    err = produce(rk, topic_name(t, TOPIC_STATUS), RD_KAFKA_PARTITION_UA, b->id, status,
                  strlen(status), h, deadline);
    if (err) {
        rd_kafka_headers_destroy(h);
        goto produce_err;
    }
    /* The Idempotency-Key is remembered exactly when its batch exists. */
    if (b->idem_record &&
        (err = produce(rk, topic_name(t, TOPIC_IDEMPOTENCY), RD_KAFKA_PARTITION_UA, b->idem_key,
                       b->idem_record, strlen(b->idem_record), NULL, deadline)))
        goto produce_err;
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

/* Writes a group of submits (a list linked by `next`) in one transaction
 * with producer s, until the first member's deadline. Fills rc and errstr
 * of every member. */
static void write_group(struct txn_pool *p, struct txn_slot *s, struct txn_wait *group)
{
    char errstr[512] = "";
    int64_t deadline = group->deadline;
    int rc = -1;
    if (!s->rk && slot_open(p, s, left_ms(deadline), errstr, sizeof(errstr)))
        goto out;
    if (ktxn_begin(s->rk, errstr, sizeof(errstr))) {
        slot_discard(s);
        goto out;
    }
    rc = 0;
    int64_t t0 = clk_mono_ms();
    size_t n = 0;
    for (struct txn_wait *w = group; w && rc == 0; w = w->next, n++)
        rc = write_all(p, s->rk, w->b, w->secret_enc, deadline, errstr, sizeof(errstr));
    int64_t t1 = clk_mono_ms();
    /* Nothing of these batches may become visible: a failed write aborts,
     * and a producer that cannot commit or abort any more is dropped (see
     * txn.h). The abort may take 2 s past the deadline. */
    enum ktxn_result r;
    if (rc == 0) {
        r = ktxn_commit(s->rk, left_ms(deadline), left_ms(deadline + 2000), errstr, sizeof(errstr));
        LOG_DEBUG("txn_group", "txn_id=%s submits=%zu write_ms=%lld commit_ms=%lld", s->txn_id, n,
                  (long long)(t1 - t0), (long long)(clk_mono_ms() - t1));
        if (r == KTXN_COMMITTED)
            goto out;
        rc = -1;
    } else {
        char why[256];
        r = ktxn_abort(s->rk, left_ms(deadline + 2000), why, sizeof(why));
        if (r == KTXN_FATAL)
            LOG_WARN("abort_failed", "txn_id=%s err=%s", s->txn_id, why);
    }
    if (r == KTXN_FATAL)
        slot_discard(s);
out:
    for (struct txn_wait *w = group; w; w = w->next) {
        w->rc = rc;
        snprintf(w->errstr, sizeof(w->errstr), "%s", errstr);
    }
}

/* Under the lock: takes the oldest queued submits, up to the group caps, off
 * the queue. */
static struct txn_wait *take_group(struct txn_pool *p)
{
    struct txn_wait *group = p->head, **end = &p->head;
    size_t submits = 0, items = 0;
    while (*end && submits < GROUP_MAX_SUBMITS &&
           (submits == 0 || items + (*end)->b->total <= GROUP_MAX_ITEMS)) {
        (*end)->taken = 1;
        items += (*end)->b->total;
        submits++;
        end = &(*end)->next;
    }
    p->head = *end;
    *end = NULL;
    if (!p->head)
        p->tail = &p->head;
    return group;
}

/* Under the lock: takes w off the queue (it was never taken). */
static void unqueue(struct txn_pool *p, struct txn_wait *w)
{
    struct txn_wait **pw = &p->head, *prev = NULL;
    while (*pw != w) {
        prev = *pw;
        pw = &(*pw)->next;
    }
    *pw = w->next;
    if (p->tail == &w->next)
        p->tail = prev ? &prev->next : &p->head;
}

int txn_submit(struct txn_pool *p, const struct submission *b, const char *secret_enc, char *errstr,
               size_t errstr_size)
{
    struct txn_wait w = {
        .b = b, .secret_enc = secret_enc, .deadline = clk_now_ms() + p->timeout_ms};
    pthread_mutex_lock(&p->lock);
    *p->tail = &w;
    p->tail = &w.next;
    while (!w.done) {
        struct txn_slot *s = w.taken ? NULL : slot_free(p);
        if (s) {
            /* Lead: write the queue's head (this submit among them, or
             * older ones first) with the free producer. */
            s->busy = 1;
            struct txn_wait *group = take_group(p);
            pthread_mutex_unlock(&p->lock);
            write_group(p, s, group);
            pthread_mutex_lock(&p->lock);
            for (struct txn_wait *g = group, *next; g; g = next) {
                next = g->next;
                g->done = 1;
            }
            s->busy = 0;
            pthread_cond_broadcast(&p->changed);
            continue;
        }
        if (!w.taken && clk_now_ms() >= w.deadline) {
            unqueue(p, &w);
            w.rc = -1;
            snprintf(w.errstr, sizeof(w.errstr), "every producer stayed busy until the deadline");
            break;
        }
        /* Taken: the leader's transaction has a deadline of its own. */
        struct timespec ts = {.tv_sec = (time_t)(w.deadline / 1000),
                              .tv_nsec = (long)(w.deadline % 1000) * 1000000};
        if (w.taken)
            pthread_cond_wait(&p->changed, &p->lock);
        else
            pthread_cond_timedwait(&p->changed, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    if (w.rc)
        snprintf(errstr, errstr_size, "%s", w.errstr);
    return w.rc;
}

int txn_write(struct txn_pool *p, rd_kafka_t *rk, const struct submission *b,
              const char *secret_enc, int64_t deadline, char *errstr, size_t errstr_size)
{
    int left = left_ms(deadline);
    pthread_mutex_lock(&p->lock);
    if (!p->req_partitions)
        p->req_partitions = partitions_of(rk, p, TOPIC_REQUESTS, left, errstr, errstr_size);
    if (!p->render_partitions)
        p->render_partitions =
            partitions_of(rk, p, TOPIC_RENDER_REQUESTS, left, errstr, errstr_size);
    int known = p->req_partitions && p->render_partitions;
    pthread_mutex_unlock(&p->lock);
    return known ? write_all(p, rk, b, secret_enc, deadline, errstr, errstr_size) : -1;
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
        pthread_mutex_lock(&p->lock);
        s->busy = 0;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
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
    pthread_cond_destroy(&p->changed);
    free(p);
}
