/*
 * api — ferry's HTTP API v1 (DESIGN.md, "HTTP API"), as groups of routes.
 *
 * Each group lives in its own module with a route table (api_submit.c,
 * api_batch.c, api_deliveries.c, api_files.c, api_ops.c, api_crawl.c); api_init() mounts every
 * group listed in api.c. Adding a group is one new file and one line there.
 *
 * Every route but the public ones (ops) authenticates the Bearer key first
 * (401), then works on the caller's tenant only: another tenant's batch
 * answers 404, exactly like an unknown one. Errors are {"error": {"code",
 * "message", "details"}}. Each request is counted by route and status code
 * and timed (ferry_ingest_requests_total, ferry_ingest_request_seconds).
 */
#ifndef INGEST_API_H
#define INGEST_API_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

#include "accounts.h"
#include "deadbook.h"
#include "files.h"
#include "follower.h"
#include "httpd.h"
#include "keys.h"
#include "firing.h"
#include "tenant_limits.h"
#include "reader.h"
#include "results.h"
#include "schedtab.h"
#include "secretbox.h"
#include "stage.h"
#include "submission.h"
#include "table.h"
#include "txn.h"
#include "ui.h"
#include "usage.h"

struct api_mount;

struct api {
    /* Set by main before api_init; they outlive the server. */
    const struct stage *st;
    const struct keys *keys;
    struct table *table;
    struct deadbook *dead;    /* the tenants' dead deliveries (GET /v1/deliveries/dead) */
    struct usage *usage;      /* tenants' usage per day (GET /v1/usage) */
    struct limits *limits;    /* FERRY_TENANT_LIMITS */
    long long credits_render; /* FERRY_CREDITS_RENDER: a rendered item's price */
    struct txn_pool *txn;
    struct reader_pool *readers;
    struct results *results;
    struct files *files;
    rd_kafka_t *producer;            /* plain idempotent producer: cancel and redeliver */
    const struct secretbox *sb;      /* NULL: FERRY_SECRET_KEY unset, webhooks refused */
    struct accounts *accounts;       /* tenants' webhook settings, Idempotency-Keys */
    struct schedtab *schedules;      /* every schedule (schedtab.h) */
    struct follower *sched_follower; /* feeds it (firing.h's topic numbers) */
    struct follower_hub *follow_hub; /* the one consumer of every ingest follower */
    const struct ui *ui;             /* the dashboard's files (FERRY_INGEST_UI_DIR) */
    struct submission_limits lim;
    long long max_body;
    int timeout_ms;
    /* Readiness, kept current by the main loop. */
    atomic_int kafka_up;
    atomic_int status_caught_up;
    atomic_int schedules_caught_up;
    /* Filled by api_init. */
    struct metric *m_batches, *m_items, *m_produce_errors;
    struct api_mount *mounts;
    size_t n_mounts;
};

/* A route's handler. `tenant` is the caller's (NULL on public routes). */
typedef void (*api_fn)(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                       const char *tenant);

struct api_route {
    const char *method, *path; /* path as httpd_route takes it: "/v1/batch/:id" */
    const char *name;          /* the `route` label of the metrics */
    api_fn fn;
    int public;             /* served without an API key */
    httpd_blocks_fn blocks; /* which requests may wait on Kafka (httpd.h); NULL: all */
};

/* The route groups; each table ends with a row whose method is NULL. */
extern const struct api_route api_submit_routes[];     /* submit, scrape_async */
extern const struct api_route api_batch_routes[];      /* status, results, cancel */
extern const struct api_route api_delivery_routes[];   /* deliveries, redeliver */
extern const struct api_route api_dead_routes[];       /* dead deliveries across batches */
extern const struct api_route api_payload_routes[];    /* what an attempt POSTed */
extern const struct api_route api_throughput_routes[]; /* a batch's results over time */
/* Registers the throughput cache's counters; api_init calls it. */
void api_throughput_init(void);
extern const struct api_route api_files_routes[];    /* files (screenshots) */
extern const struct api_route api_ops_routes[];      /* healthz, metrics */
extern const struct api_route api_usage_routes[];    /* GET /v1/usage */
extern const struct api_route api_webhook_routes[];  /* the tenant's webhook and secret */
extern const struct api_route api_list_routes[];     /* GET /v1/batches */
extern const struct api_route api_retry_routes[];    /* POST /v1/batch/{id}/retry */
extern const struct api_route api_schedule_routes[]; /* /v1/schedules */
extern const struct api_route api_crawl_routes[];    /* crawl */
extern const struct api_route api_ui_routes[];       /* the dashboard: GET /, /ui/{name} */

/* Registers the metrics and mounts every group on h (before httpd_start).
 * 0, or -1 with errstr. */
int api_init(struct api *a, struct httpd *h, char *errstr, size_t errstr_size);

/* Frees what api_init allocated (after the server stopped). */
void api_release(struct api *a);

/* ---- for the route modules ---- */

/* An HTTP submit of `kind` (enum submission_kind): api_submit_begin (the
 * Idempotency-Key, validation, tenant limits, the sealed webhook secret),
 * the batch in one Kafka transaction, the 202 (or the error). */
void api_submit_kind(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                     const char *tenant, int kind);

/* The :id of the path when it is a well-formed batch id, else NULL. */
const char *api_batch_id(const struct httpd_req *req);

/* 1 for the states a batch ends in: completed, failed, cancelled. */
int api_is_final(const char *status);

/* 404 not_found for batch `id` (NULL: no valid id in the path). */
void api_not_found(struct httpd_resp *resp, const char *id);

/* What every new batch goes through after its body was parsed
 * (api_submit.c): api_tenant_defaults() applies the tenant's webhook
 * settings (submission_apply_tenant); api_write_batch() seals the webhook
 * secret, writes the batch in one transaction (with its Idempotency-Key
 * record when b->idem_record is set), makes it visible here at once and
 * answers 202 with Location. Both answer the error themselves (422, 503)
 * and return -1; 0 otherwise. */
int api_tenant_defaults(struct api *a, struct submission *b, struct httpd_resp *resp);
int api_write_batch(struct api *a, struct submission *b, struct httpd_resp *resp);

/* Sends webhook `task` of batch `batch_id` again: its record read back from
 * Kafka (the same bytes, the same delivery id) as a fresh first attempt.
 * Answers 202, 409 (the record is past retention) or 503. */
void api_redeliver_task(struct api *a, const char *batch_id, const struct table_task *task,
                        struct httpd_resp *resp);

/* 422 invalid_field naming `field`, for a bad query parameter. */
void api_bad_param(struct httpd_resp *resp, const char *field, const char *why);

/* The query parameter `name` into *out (left alone when absent): 0, or -1
 * after answering 422 when it is not a whole number from 1 to max. */
int api_int_param(struct httpd_req *req, struct httpd_resp *resp, const char *name, int max,
                  int *out);

/* api_int_param for `limit`. */
int api_limit(struct httpd_req *req, struct httpd_resp *resp, int max, int *limit);

/* 422 from a submission error. */
void api_refuse(struct httpd_resp *resp, const struct submission_err *err);

/* Produces one record with the plain producer and waits for Kafka's
 * acknowledgement (message.timeout.ms bounds the wait). Takes ownership of
 * hdrs. 0, or -1 with errstr. */
int api_produce_sync(struct api *a, const char *topic, const char *key, const void *value,
                     size_t len, rd_kafka_headers_t *hdrs, char *errstr, size_t errstr_size);

/* ---- one submit, however it came ---- */

/* A submit: the body of POST /v1/batch (api_submit.c), or a record of the
 * submit topic (intake.h), validated and answered by the same code.
 *
 *     struct api_submit s = {.body = ..., .len = ..., .tenant = ...};
 *     if (api_submit_begin(a, &s, resp) == 0) {      // else resp is answered
 *         write s.b (txn_submit, or txn_write in the caller's transaction);
 *         api_submit_accepted(a, &s, resp);         // the 202 (or answer 503)
 *     }
 *     ... commit ...
 *     api_submit_end(a, &s, committed);             // always
 */
struct api_submit {
    /* The request, set by the caller (borrowed; body NUL-terminated). */
    const char *body;
    size_t len;
    int kind;             /* enum submission_kind: batch, single (scrape/async), crawl */
    const char *tenant;   /* authenticated */
    const char *idem_key; /* the Idempotency-Key, or NULL */
    int idem_wait_ms;     /* how long to wait for another submit holding the key */
    const char *via;      /* "http" or "kafka", for the logs */
    /* Filled by api_submit_begin. */
    struct submission b;     /* the batch to write */
    char *secret_enc;        /* its sealed webhook secret, or NULL */
    struct limits_hold hold; /* what limits_admit holds for it */
    struct idem_entry made;  /* the key's record, once b is made idempotent */
    int held;                /* the key is held (idem_end in api_submit_end) */
    int to_write;            /* begin answered 0: b is to be written */
    int64_t t0;
};

/* Validates s and prepares its batch. 0: s->b is to be written; 1: resp
 * holds the answer (a refusal), nothing is to be written. */
int api_submit_begin(struct api *a, struct api_submit *s, struct httpd_resp *resp);

/* The 202 answer of s's batch, once written (in the caller's transaction
 * perhaps not yet committed). */
void api_submit_accepted(struct api *a, struct api_submit *s, struct httpd_resp *resp);

/* After the transaction that wrote s committed (`committed`) or failed,
 * or after a refusal: records a written batch in the status table and the
 * metrics once committed; lets go of its limits hold; frees what s holds. */
void api_submit_end(struct api *a, struct api_submit *s, int committed);

/* The delivery report of the plain producer's configuration: logs and
 * counts (kafka_dr_default) and wakes the request waiting for that record. */
void api_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

#endif
