#include "emit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delayq.h"
#include "kafka.h"
#include "log.h"

int emit_init(struct emit *em, rd_kafka_t *producer, const struct topics *t, size_t max_message)
{
    memset(em, 0, sizeof(*em));
    em->producer = producer;
    em->results = rd_kafka_topic_new(producer, topic_name(t, TOPIC_RESULTS), NULL);
    em->dlq = rd_kafka_topic_new(producer, topic_name(t, TOPIC_SCRAPE_DLQ), NULL);
    em->n_tiers = t->n_scrape_tiers;
    for (size_t i = 0; i < em->n_tiers; i++) {
        em->tiers[i] = rd_kafka_topic_new(producer, t->scrape_tier[i], NULL);
        em->tier_ms[i] = t->scrape_tier_ms[i];
    }
    em->max_message = max_message;
    pthread_mutex_init(&em->lock, NULL);
    pthread_cond_init(&em->freed, NULL);
    return em->results && em->dlq ? 0 : -1;
}

void emit_release(struct emit *em)
{
    if (em->results)
        rd_kafka_topic_destroy(em->results);
    if (em->dlq)
        rd_kafka_topic_destroy(em->dlq);
    for (size_t i = 0; i < em->n_tiers; i++)
        if (em->tiers[i])
            rd_kafka_topic_destroy(em->tiers[i]);
    pthread_cond_destroy(&em->freed);
    pthread_mutex_destroy(&em->lock);
}

/* One message of it's has been acknowledged (or failed for good). */
static void settle(struct emit *em, struct item *it, int ok)
{
    if (!ok)
        atomic_store(&it->failed, 1);
    if (atomic_fetch_sub(&it->pending, 1) != 1)
        return;
    if (!atomic_load(&it->failed))
        offtrack_done(it->ot, it->src_topic, it->partition, it->offset);
    else
        LOG_ERROR("result_lost", "topic=%s partition=%d offset=%lld action=refetch_after_restart",
                  it->src_topic, (int)it->partition, (long long)it->offset);
    item_free(it);
    atomic_fetch_sub(&em->outstanding, 1);
    pthread_cond_signal(&em->freed);
}

void emit_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    kafka_dr_default(rk, msg, opaque);
    settle(opaque, msg->_private, msg->err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

static rd_kafka_headers_t *item_headers(const struct item *it)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    char idx[24];
    snprintf(idx, sizeof(idx), "%lld", it->index);
    if (it->batch_id)
        rd_kafka_header_add(h, "ferry-batch", -1, it->batch_id, -1);
    if (it->req)
        rd_kafka_header_add(h, "ferry-index", -1, idx, -1);
    return h;
}

/* Produces one message for it (pending already counts it). Takes payload
 * and hdrs. A message Kafka refuses outright settles as a failure. */
static void produce(struct emit *em, struct item *it, rd_kafka_topic_t *rkt, char *payload,
                    size_t len, rd_kafka_headers_t *hdrs)
{
    struct kafka_msg m = {.rkt = rkt,
                          .partition = RD_KAFKA_PARTITION_UA,
                          .key = it->batch_id,
                          .key_len = it->batch_id ? strlen(it->batch_id) : 0,
                          .value = payload,
                          .len = len,
                          .msgflags = RD_KAFKA_MSG_F_FREE,
                          .headers = hdrs,
                          .opaque = it};
    rd_kafka_resp_err_t err = kafka_produce_wait(em->producer, &m, KAFKA_QUEUE_WAIT_MS);
    if (!err)
        return;
    LOG_ERROR("produce_failed", "topic=%s bytes=%zu err=%s", rd_kafka_topic_name(rkt), len,
              rd_kafka_err2name(err));
    free(payload);
    rd_kafka_headers_destroy(hdrs);
    settle(em, it, 0);
}

void emit_result(struct emit *em, struct item *it, const struct result_meta *m,
                 const struct extract *ex)
{
    struct result_part *parts;
    size_t n = result_build(m, ex, it->formats, em->max_message, &parts);
    buf_release(&it->x.body); /* the body is in the parts now */
    atomic_store(&it->pending, (int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_headers_t *h = item_headers(it);
        if (n > 1) {
            char p[48];
            snprintf(p, sizeof(p), "%zu/%zu", i + 1, n);
            rd_kafka_header_add(h, "ferry-part", -1, p, -1);
        }
        produce(em, it, em->results, parts[i].buf, parts[i].len, h);
    }
    free(parts);
}

void emit_retry(struct emit *em, struct item *it, size_t tier, int64_t due_ms,
                const char *last_error)
{
    rd_kafka_headers_t *h = item_headers(it);
    delayq_add_headers(h, it->attempt + 1, due_ms, it->first_attempt_ms, last_error, it->origin);
    char *payload = it->value;
    size_t len = it->value_len;
    it->value = NULL;
    buf_release(&it->x.body);
    atomic_store(&it->pending, 1);
    produce(em, it, em->tiers[tier], payload, len, h);
}

void emit_dead_letter(struct emit *em, struct item *it, const char *why)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "ferry-origin", -1, it->origin, -1);
    rd_kafka_header_add(h, "ferry-last-error", -1, why, -1);
    char *payload = it->value;
    size_t len = it->value_len;
    it->value = NULL;
    atomic_store(&it->pending, 1);
    produce(em, it, em->dlq, payload, len, h);
}

void emit_wait_freed(struct emit *em, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    ts.tv_sec += timeout_ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&em->lock);
    pthread_cond_timedwait(&em->freed, &em->lock, &ts);
    pthread_mutex_unlock(&em->lock);
}
