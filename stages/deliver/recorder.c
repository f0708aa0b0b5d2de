/*
 * recorder — what the stage writes to Kafka after an attempt.
 *
 * Every attempt becomes one record in webhooks.attempts; a failed attempt
 * also rewrites the task (the same value bytes) into the next retry tier, or
 * into webhooks.dlq when none is left. A job counts its writes; when the last
 * one is acked the recorder hands the job back, and only then is the
 * source offset stored — a crash before that sends the webhook again, it
 * never loses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "deliver.h"
#include "delayq.h"
#include "fhdr.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "schema.h"

struct recorder {
    rd_kafka_t *rk;
    const struct topics *t;
    recorder_done_fn done;
    void *arg;
};

struct recorder *recorder_new(rd_kafka_t *producer, const struct topics *t, recorder_done_fn done,
                              void *arg)
{
    struct recorder *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->rk = producer;
    r->t = t;
    r->done = done;
    r->arg = arg;
    return r;
}

void recorder_free(struct recorder *r)
{
    free(r);
}

/* The delivery report runs inside rd_kafka_poll() on the loop's thread. The
 * recorder is the producer's opaque. */
void recorder_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct recorder *r = opaque;
    struct job *job = msg->_private;
    kafka_dr_default(rk, msg, NULL);
    if (!job)
        return;
    if (msg->err)
        job->write_failed = 1;
    if (--job->writes_pending == 0)
        r->done(job, r->arg);
}

/* Copies at most len bytes of s as valid UTF-8 (anything else becomes '?'),
 * so a receiver's binary answer cannot make the record invalid JSON. */
static json_t *utf8_string(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        abort();
    size_t i = 0, o = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = n > 0 && i + n <= len && c != 0;
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && n == 2 && c < 0xc2)
            ok = 0;
        if (ok && n == 3) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
        }
        if (ok && n == 4) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
        }
        if (ok) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            out[o++] = '?';
            i++;
        }
    }
    json_t *j = json_stringn(out, o);
    free(out);
    return j;
}

/* "topic/partition/offset" → the attempt record's `task` object. */
static json_t *origin_json(const char *origin)
{
    const char *p2 = strrchr(origin, '/');
    const char *p1 = NULL;
    for (const char *p = origin; p2 && p < p2; p++)
        if (*p == '/')
            p1 = p;
    if (!p1 || !p2)
        return json_null();
    return json_pack("{s:s%,s:I,s:I}", "topic", origin, (size_t)(p1 - origin), "partition",
                     (json_int_t)strtoll(p1 + 1, NULL, 10), "offset",
                     (json_int_t)strtoll(p2 + 1, NULL, 10));
}

static const char *outcome_name(enum verdict v)
{
    return v == VERDICT_DELIVERED ? "delivered" : v == VERDICT_RETRY ? "retrying" : "dead";
}

char *recorder_attempt_json(const struct job *job, size_t *len)
{
    char at[CLK_ISO_LEN], next[CLK_ISO_LEN];
    clk_iso8601(job->start_ms, at);
    json_t *o = json_object();
    json_object_set_new(o, SCHEMA_VERSION_KEY, json_integer(SCHEMA_ATTEMPTS));
    json_object_set_new(o, "delivery_id", json_string(job->delivery_id));
    json_object_set_new(o, "batch_id", json_string(job->batch_id));
    json_object_set_new(o, "tenant", json_string(job->tenant ? job->tenant : ""));
    json_object_set_new(o, "event", json_string(job->event));
    if (job->index >= 0)
        json_object_set_new(o, "index", json_integer(job->index));
    json_object_set_new(o, "attempt", json_integer(job->attempt));
    json_object_set_new(o, "at", json_string(at));
    json_object_set_new(o, "url", json_string(job->url));
    json_object_set_new(o, "status_code", job->status ? json_integer(job->status) : json_null());
    json_object_set_new(o, "latency_ms", json_integer(job->latency_ms));
    json_object_set_new(o, "error", job->error[0] ? json_string(job->error) : json_null());
    json_object_set_new(o, "outcome", json_string(outcome_name(job->verdict)));
    if (job->verdict == VERDICT_RETRY) {
        clk_iso8601(job->due_ms, next);
        json_object_set_new(o, "next_attempt_at", json_string(next));
    } else {
        json_object_set_new(o, "next_attempt_at", json_null());
    }
    json_object_set_new(o, "response_body", utf8_string(buf_str(&job->x.body), job->x.body.len));
    json_object_set_new(o, "task", origin_json(job->origin));
    char *s = jx_dump(o, len);
    json_decref(o);
    return s;
}

/* Builds the routing headers every webhook topic carries. */
static rd_kafka_headers_t *base_headers(const struct job *job, int attempt)
{
    rd_kafka_headers_t *h = fhdr_batch(job->batch_id, -1);
    if (job->event)
        fhdr_add(h, FHDR_EVENT, job->event);
    if (job->delivery_id)
        fhdr_add(h, FHDR_DELIVERY, job->delivery_id);
    if (attempt > 0)
        fhdr_add_ll(h, FHDR_ATTEMPT, attempt);
    return h;
}

/* One write counted on the job. A full local queue is waited out (the
 * producer drains it); any other refusal marks the job failed, so its
 * offset is not stored and a restart redoes it. */
static void produce(struct recorder *r, struct job *job, const char *topic_name, const void *value,
                    size_t len, rd_kafka_headers_t *hdrs)
{
    const void *key = job->batch_id ? (const void *)job->batch_id : job->key;
    size_t key_len = job->batch_id ? strlen(job->batch_id) : job->key_len;
    struct kafka_msg m = {.topic = topic_name,
                          .partition = RD_KAFKA_PARTITION_UA,
                          .key = key,
                          .key_len = key_len,
                          .value = (void *)value,
                          .len = len,
                          .msgflags = RD_KAFKA_MSG_F_COPY,
                          .headers = hdrs,
                          .opaque = job};
    rd_kafka_resp_err_t err = kafka_produce_wait(r->rk, &m, KAFKA_QUEUE_WAIT_MS);
    if (err) {
        LOG_ERROR("produce_failed", "topic=%s delivery=%s err=%s", topic_name,
                  job->delivery_id ? job->delivery_id : "-", rd_kafka_err2name(err));
        rd_kafka_headers_destroy(hdrs);
        job->write_failed = 1;
        return;
    }
    job->writes_pending++;
}

/* Hands the job back once nothing more is pending. The extra count held
 * while producing keeps a fast delivery report from finishing it early. */
static void settle(struct recorder *r, struct job *job)
{
    if (--job->writes_pending == 0)
        r->done(job, r->arg);
}

void recorder_write(struct recorder *r, struct job *job)
{
    int64_t now = clk_now_ms();
    job->writes_pending++;
    if (job->delivery_id && job->start_ms) {
        size_t len = 0;
        char *rec = recorder_attempt_json(job, &len);
        produce(r, job, topic_name(r->t, TOPIC_ATTEMPTS), rec, len,
                base_headers(job, job->attempt));
        free(rec);
    }
    if (job->verdict == VERDICT_RETRY) {
        rd_kafka_headers_t *h = base_headers(job, 0);
        delayq_add_headers(h, job->attempt + 1, job->due_ms, job->first_attempt_ms, job->error,
                           job->origin);
        produce(r, job, r->t->webhook_tier[job->tier], job->value, job->value_len, h);
    } else if (job->verdict == VERDICT_DEAD) {
        rd_kafka_headers_t *h = base_headers(job, 0);
        delayq_add_headers(h, job->attempt, now, job->first_attempt_ms, job->error, job->origin);
        produce(r, job, topic_name(r->t, TOPIC_WEBHOOKS_DLQ), job->value, job->value_len, h);
    }
    settle(r, job);
}

void recorder_defer(struct recorder *r, struct job *job, int64_t due_ms)
{
    job->writes_pending++;
    rd_kafka_headers_t *h = base_headers(job, 0);
    delayq_add_headers(h, job->attempt, due_ms, job->first_attempt_ms,
                       "deferred: receiver host saturated", job->origin);
    produce(r, job, r->t->webhook_tier[0], job->value, job->value_len, h);
    settle(r, job);
}
