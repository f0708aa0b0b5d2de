/*
 * job — one consumed record's work, from the moment a stage takes it until
 * everything it produced is acknowledged by Kafka, and only then marked done.
 *
 * A stage embeds a struct job in its own item, starts it from the consumed
 * message (job_start copies the record's coordinates and value, and reads
 * the retry headers of MESSAGES.md), and produces the item's output with
 * job_produce(). The delivery reports count the job's messages down
 * (job_dr is the producer's dr_msg_cb, opaque = the sink); when the last one
 * is in, the source offset is marked done through offtrack — unless a
 * delivery failed, in which case it never is, and the record is redone
 * after a restart — and the owner's release callback frees the item.
 *
 *     it->job.release = item_release;        // frees the item around the job
 *     job_start(&it->job, msg, ot);
 *     ...
 *     job_expect(&it->job, n);               // before the first produce
 *     job_produce(&sink, &it->job, rkt, key, payload, len, hdrs);  // n times
 *
 * The sink counts the jobs in flight, so the consume loop can stop taking
 * records at a limit and wait (job_wait_freed) for one to finish.
 *
 * Ownership: after job_expect(n), the job belongs to its n messages; the
 * last delivery report (or a refused produce) releases it. Do not touch it
 * after the last job_produce.
 */
#ifndef FERRY_JOB_H
#define FERRY_JOB_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "offtrack.h"

#define JOB_ORIGIN_MAX 300

struct job {
    struct offtrack *ot;
    char *topic; /* the source record's */
    int32_t partition;
    int64_t offset;
    char *value; /* the record's bytes (NUL-terminated copy), re-sent to a retry tier */
    size_t value_len;
    int attempt;              /* 1-based (header ferry-attempt) */
    int64_t first_attempt_ms; /* epoch ms of attempt 1 (header ferry-first-attempt-ms) */
    /* topic/partition/offset of the original record: its ferry-origin
     * header, or "" for this record's own (written out when needed). */
    char origin[JOB_ORIGIN_MAX];
    atomic_int pending;
    atomic_int failed;
    /* Frees the object that embeds the job (which must call job_finish). */
    void (*release)(struct job *j);
};

struct job_sink {
    rd_kafka_t *producer;
    atomic_long outstanding; /* jobs started and not yet released */
    pthread_mutex_t lock;
    pthread_cond_t freed;
};

void job_sink_init(struct job_sink *s, rd_kafka_t *producer);
void job_sink_release(struct job_sink *s);

/* Copies msg's coordinates and value into j and counts it in the sink's
 * outstanding jobs; begins the offset on ot (offtrack_begin). */
void job_start(struct job_sink *s, struct job *j, const rd_kafka_message_t *msg,
               struct offtrack *ot);

/* Frees what job_start allocated (for the release callback). */
void job_finish(struct job *j);

/* The job will produce n messages. */
void job_expect(struct job *j, int n);

/* Produces one message of the job. Takes payload (malloc'd) and hdrs (may
 * be NULL). A message Kafka refuses outright settles as a failure. */
void job_produce(struct job_sink *s, struct job *j, rd_kafka_topic_t *rkt, const char *key,
                 char *payload, size_t len, rd_kafka_headers_t *hdrs);

/* The job's own value, again, to a retry tier: hdrs (may be NULL) gets the
 * tier headers (attempt + 1, due time, first attempt, last error, origin).
 * Expects and produces one message. */
void job_retry(struct job_sink *s, struct job *j, rd_kafka_topic_t *tier, const char *key,
               int64_t due_ms, const char *last_error, rd_kafka_headers_t *hdrs);

/* The job's value to a dead-letter topic with ferry-origin and
 * ferry-last-error. Expects and produces one message. */
void job_dead_letter(struct job_sink *s, struct job *j, rd_kafka_topic_t *dlq, const char *why);

/* The producer's dr_msg_cb (opaque = the sink). */
void job_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Waits up to timeout_ms for a job to be released. */
void job_wait_freed(struct job_sink *s, int timeout_ms);

#endif
