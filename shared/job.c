#include "job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "delayq.h"
#include "fhdr.h"
#include "kafka.h"
#include "log.h"

void job_sink_init(struct job_sink *s, rd_kafka_t *producer)
{
    memset(s, 0, sizeof(*s));
    s->producer = producer;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->freed, NULL);
}

void job_sink_release(struct job_sink *s)
{
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->lock);
}

/* A header value as a string, when it fits. */
static int header_str(const void *v, size_t n, char *out, size_t size)
{
    if (!v || n >= size)
        return 0;
    memcpy(out, v, n);
    out[n] = '\0';
    return 1;
}

/* The retry headers (shared/delayq.h), in one pass over the record's
 * headers: every record of a stage's input comes through here. */
static void read_retry_headers(struct job *j, const rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *hdrs;
    const char *name;
    const void *v;
    size_t n;
    char buf[32];
    if (rd_kafka_message_headers(msg, &hdrs))
        return;
    /* The last of a name counts (rd_kafka_header_get_last): one that is
     * null or too long stands for none. */
    int64_t now = j->first_attempt_ms;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &v, &n) == 0; i++) {
        if (strncmp(name, "ferry-", 6) != 0)
            continue;
        name += 6;
        if (strcmp(name, "attempt") == 0) {
            long a = header_str(v, n, buf, sizeof(buf)) ? strtol(buf, NULL, 10) : 1;
            j->attempt = a >= 1 && a < 1000 ? (int)a : 1;
        } else if (strcmp(name, "first-attempt-ms") == 0) {
            j->first_attempt_ms = header_str(v, n, buf, sizeof(buf)) ? strtoll(buf, NULL, 10) : now;
        } else if (strcmp(name, "origin") == 0 && !header_str(v, n, j->origin, sizeof(j->origin))) {
            j->origin[0] = '\0';
        }
    }
}

/* The origin to name in a retry or a dead letter. */
static const char *origin_of(struct job *j)
{
    if (!j->origin[0])
        snprintf(j->origin, sizeof(j->origin), "%s/%d/%lld", j->topic, (int)j->partition,
                 (long long)j->offset);
    return j->origin;
}

void job_start(struct job_sink *s, struct job *j, const rd_kafka_message_t *msg,
               struct offtrack *ot)
{
    offtrack_begin(ot, msg);
    atomic_fetch_add(&s->outstanding, 1);
    j->ot = ot;
    j->topic = strdup(rd_kafka_topic_name(msg->rkt));
    j->partition = msg->partition;
    j->offset = msg->offset;
    j->value = malloc(msg->len + 1);
    if (!j->topic || !j->value)
        abort();
    if (msg->len)
        memcpy(j->value, msg->payload, msg->len);
    j->value[msg->len] = '\0';
    j->value_len = msg->len;
    j->origin[0] = '\0';
    j->attempt = 1;
    j->first_attempt_ms = clk_now_ms();
    read_retry_headers(j, msg);
    atomic_store(&j->pending, 0);
    atomic_store(&j->failed, 0);
}

void job_finish(struct job *j)
{
    free(j->topic);
    free(j->value);
    j->topic = j->value = NULL;
}

void job_expect(struct job *j, int n)
{
    atomic_store(&j->pending, n);
}

/* One message of the job was acknowledged (or failed for good). */
static void settle(struct job_sink *s, struct job *j, int ok)
{
    if (!ok)
        atomic_store(&j->failed, 1);
    if (atomic_fetch_sub(&j->pending, 1) != 1)
        return;
    if (!atomic_load(&j->failed))
        offtrack_done(j->ot, j->topic, j->partition, j->offset);
    else
        LOG_ERROR("result_lost", "topic=%s partition=%d offset=%lld action=redo_after_restart",
                  j->topic, (int)j->partition, (long long)j->offset);
    j->release(j);
    atomic_fetch_sub(&s->outstanding, 1);
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

void job_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    kafka_dr_default(rk, msg, opaque);
    settle(opaque, msg->_private, msg->err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

void job_produce(struct job_sink *s, struct job *j, rd_kafka_topic_t *rkt, const char *key,
                 char *payload, size_t len, rd_kafka_headers_t *hdrs)
{
    struct kafka_msg m = {.rkt = rkt,
                          .partition = RD_KAFKA_PARTITION_UA,
                          .key = key,
                          .key_len = key ? strlen(key) : 0,
                          .value = payload,
                          .len = len,
                          .msgflags = RD_KAFKA_MSG_F_FREE,
                          .headers = hdrs,
                          .opaque = j};
    rd_kafka_resp_err_t err = kafka_produce_wait(s->producer, &m, KAFKA_QUEUE_WAIT_MS);
    if (!err)
        return;
    LOG_ERROR("produce_failed", "topic=%s bytes=%zu err=%s", rd_kafka_topic_name(rkt), len,
              rd_kafka_err2name(err));
    free(payload);
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    settle(s, j, 0);
}

void job_retry(struct job_sink *s, struct job *j, rd_kafka_topic_t *tier, const char *key,
               int64_t due_ms, const char *last_error, rd_kafka_headers_t *hdrs)
{
    if (!hdrs)
        hdrs = rd_kafka_headers_new(6);
    delayq_add_headers(hdrs, j->attempt + 1, due_ms, j->first_attempt_ms, last_error, origin_of(j));
    char *payload = j->value;
    size_t len = j->value_len;
    j->value = NULL;
    job_expect(j, 1);
    job_produce(s, j, tier, key, payload, len, hdrs);
}

void job_dead_letter(struct job_sink *s, struct job *j, rd_kafka_topic_t *dlq, const char *why)
{
    rd_kafka_headers_t *h = fhdr_dead(origin_of(j), why);
    char *payload = j->value;
    size_t len = j->value_len;
    j->value = NULL;
    job_expect(j, 1);
    job_produce(s, j, dlq, NULL, payload, len, h);
}

void job_wait_freed(struct job_sink *s, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    ts.tv_sec += timeout_ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&s->lock);
    pthread_cond_timedwait(&s->freed, &s->lock, &ts);
    pthread_mutex_unlock(&s->lock);
}
