/*
 * deliver — the stage's modules and the one record they pass around.
 *
 * A `struct job` is one delivery attempt of one webhook task: it is made by
 * task_parse() from a consumed record (the task topic or a retry tier), sent
 * by the sender (the httpc engine), judged by task_verdict(), and
 * written out by the recorder (attempt record, then the next tier or the dead
 * letters). Its source offset is stored once every write it caused is acked.
 *
 *     task.c      parse a task record, sign it, decide what a result means
 *     sender.c    the POST of an attempt on httpc, and which hosts are saturated
 *     recorder.c  Kafka writes: webhooks.attempts, retry tiers, webhooks.dlq
 *     loop.c      the event loop tying consumers, sender and recorder together
 */
#ifndef FERRY_DELIVER_H
#define FERRY_DELIVER_H

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "httpc.h"
#include "offtrack.h"
#include "follower.h"
#include "secretbox.h"
#include "stage.h"
#include "tenant.h"
#include "whsig.h"
#include "topics.h"

#define DELIVER_RESP_KEEP 4096      /* response bytes kept for the attempt record */
#define DELIVER_RESP_MAX  (1 << 20) /* response bytes read before giving up */
#define DELIVER_ERR_LEN   256

enum verdict {
    VERDICT_DELIVERED, /* 2xx */
    VERDICT_RETRY,     /* into retry tier `tier` */
    VERDICT_DEAD,      /* tiers exhausted, 410 Gone, or a task that can never be sent */
};

struct job {
    /* The transfer (the engine's; its body is the receiver's answer, capped)
     * and the admission key of the URL's host, "scheme://host:port". */
    struct httpc_xfer x;

    /* Where the record came from, for its offset. */
    struct offtrack *ot;
    char src_topic[TOPIC_NAME_MAX];
    int32_t src_partition;
    int64_t src_offset;

    /* The record as consumed (a tier write carries these exact bytes). */
    char *value, *key;
    size_t value_len, key_len;

    /* The task. `task` owns every string below except the copies. */
    json_t *task;
    const char *delivery_id, *event, *batch_id, *tenant, *url;
    const char *body;
    size_t body_len;
    long long index;                  /* item.completed: the item's index; -1 otherwise */
    int tenant_secret;                /* signed with the tenant's secret, looked up per attempt */
    int secret_pending;               /* that secret is not known here yet: retry, not dead */
    int attempt;                      /* this attempt, 1-based */
    int64_t first_attempt_ms;         /* epoch ms of attempt 1 (0 until it starts) */
    char origin[TOPIC_NAME_MAX + 48]; /* topic/partition/offset of the original task */

    /* Signatures, made when the attempt starts (the timestamp is part of one). */
    char ferry_sig[2 * WHSIG_HEX_LEN + 1];
    char std_sig[2 * WHSIG_V1_LEN + 1];
    long long ts;

    /* The attempt. */
    struct curl_slist *headers;
    int64_t start_ms; /* epoch */
    long status;      /* HTTP status, 0 when none */
    long latency_ms;
    char error[DELIVER_ERR_LEN]; /* empty when delivered */
    int final;                   /* the error can never go away (no retry) */

    /* The verdict and the writes it caused. */
    enum verdict verdict;
    int tier;           /* VERDICT_RETRY: index into the tiers */
    int64_t due_ms;     /* VERDICT_RETRY: epoch ms of the next attempt */
    int writes_pending; /* un-acked Kafka writes */
    int write_failed;
};

/* ---- task.c --------------------------------------------------------- */

struct task_policy {
    const struct secretbox *sb;
    struct tenant_table *tenants; /* the tenants' secrets, kept current by `follower` */
    struct follower *follower;
    int allow_http;
    size_t n_tiers;
    const long long *tier_ms;
};

/* Fills a zeroed job from a consumed record: parses the value, reads the
 * headers (ferry-attempt, ferry-first-attempt-ms, ferry-origin) and the
 * source position, and readies job->x for its host. Returns 0, or -1 with
 * errstr when the task is unusable
 * (bad JSON, missing fields, a URL that may not be used): such a task goes
 * straight to the dead letters. Fields parsed before the error stay set. */
int task_parse(struct job *job, const rd_kafka_message_t *msg, const struct task_policy *pol,
               char *errstr, size_t errstr_size);

/* Starts following the tenants topic into a new table and sets
 * pol->tenants, once the table has caught up with the topic (so the first
 * tasks find secrets that already exist). Call after the topics exist.
 * 0, or -1 with errstr. */
int task_tenants_open(struct task_policy *pol, const struct stage *st, char *errstr,
                      size_t errstr_size);

/* Stops following and frees the table (after the sender is gone). */
void task_tenants_close(struct task_policy *pol);

/* Signs the body for an attempt at `now_ms`: X-Ferry-Signature and
 * webhook-signature, with the previous secret's signatures appended while it
 * is still valid. A task with `tenant_secret` is signed with its tenant's
 * secrets as the tenants table has them now (so a rotation reaches tasks in
 * flight and in the retry tiers); a task's own secrets otherwise. Secrets
 * are opened here and wiped before returning. 0 ok, -1 with errstr (the
 * secret does not open; or the tenant has no secret here yet, which sets
 * secret_pending: task_verdict then retries instead of giving up). */
int task_sign(struct job *job, const struct task_policy *pol, int64_t now_ms, char *errstr,
              size_t errstr_size);

/* Decides what the finished attempt means and sets job->verdict, tier and
 * due_ms (`now_ms` = when the attempt ended). A 429 or 503's Retry-After
 * (job->x.retry_after) may lengthen the tier's delay up to twice. */
void task_verdict(struct job *job, const struct task_policy *pol, int64_t now_ms);

/* Frees what the job owns (not the job's curl handle: the engine's). */
void job_free(struct job *job);

/* ---- sender.c ------------------------------------------------------- */

struct sender;

struct sender_opts {
    long timeout_ms;
    long connect_timeout_ms;
    int max_per_host;
    int allow_http;
    int allow_private;
    const char *user_agent;
    const struct task_policy *pol; /* each attempt is signed when it starts */
};

/* Called for each finished attempt, with job->status/error/latency filled
 * (also for an attempt that could not start: its error is set and final). */
typedef void (*sender_done_fn)(struct job *job, void *arg);

struct sender *sender_new(const struct sender_opts *opts, sender_done_fn done, void *arg,
                          char *errstr, size_t errstr_size);
/* Jobs still queued or sending are freed unsent (their offsets were not
 * stored: a restart sends them again). */
void sender_free(struct sender *s);

/* Takes the job: starts it now when its host has a free slot, else queues it
 * behind its host's earlier jobs (other hosts are not held up). */
void sender_submit(struct sender *s, struct job *job);

/* Adds fd to what sender_run waits on (the caller drains it). 0 or -1. */
int sender_watch(struct sender *s, int fd);

/* Drives the POSTs: waits at most timeout_ms for network activity or a
 * watched fd, then completes what finished (calling `done`). */
void sender_run(struct sender *s, int timeout_ms);

int sender_in_flight(const struct sender *s);
/* Jobs queued behind their host's cap, over all hosts. */
int sender_waiting(const struct sender *s);
/* 1 when the host already has at least min_waiting jobs queued and is
 * hanging (every slot taken, no answer for 2 s) or so slow that a new job
 * would wait longer than max_wait_ms behind the queued ones, judged by the
 * answer rate it achieved while it had jobs queued. */
int sender_host_saturated(struct sender *s, const char *hostkey, long max_wait_ms, int min_waiting);

/* ---- recorder.c ----------------------------------------------------- */

struct recorder;

/* Called when every write of the job is acked (or failed); the recorder
 * then no longer references it. */
typedef void (*recorder_done_fn)(struct job *job, void *arg);

struct recorder *recorder_new(rd_kafka_t *producer, const struct topics *t, recorder_done_fn done,
                              void *arg);
void recorder_free(struct recorder *r);

/* The delivery-report callback to install on the producer's conf. */
void recorder_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Writes the attempt record and, per the verdict, the task to its next tier
 * or to the dead letters. */
void recorder_write(struct recorder *r, struct job *job);

/* A task deferred without an attempt (its host is saturated): rewritten into
 * the first tier with the same attempt number. */
void recorder_defer(struct recorder *r, struct job *job, int64_t due_ms);

/* An attempt record's JSON (exposed for the unit tests). Caller frees. */
char *recorder_attempt_json(const struct job *job, size_t *len);

#endif
