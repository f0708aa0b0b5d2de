/* Schedules (DESIGN.md, "Schedules"): POST/GET /v1/schedules, GET, PATCH
 * and DELETE /v1/schedules/{id}, POST /v1/schedules/{id}/run. Definitions
 * are written to the `schedules` topic and answered from the table every
 * instance keeps (schedtab.h); the owner of a schedule's partition fires it
 * (firing.h). Another tenant's schedule answers 404, like an unknown one. */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "ids.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "run.h"

#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX     200
/* How long a lookup that missed waits for this instance to read the
 * schedule's partition to its end (a change just made elsewhere). */
#define FRESH_READ_MS 2000

static const char *sched_id(const struct httpd_req *req)
{
    const char *id = httpd_param(req, "id");
    return id && ids_valid("sch", id) ? id : NULL;
}

static void not_found(struct httpd_resp *resp, const char *id)
{
    httpd_error(resp, 404, "not_found", "no such schedule", json_pack("{s:s}", "id", id ? id : ""));
}

static int unavailable(struct api *a, struct httpd_resp *resp)
{
    if (a->schedules && atomic_load(&a->schedules_caught_up))
        return 0;
    httpd_error(resp, 503, "schedules_unavailable",
                "the schedules are not read from Kafka yet; retry later", NULL);
    return 1;
}

static int32_t partition_of(struct api *a, const char *id)
{
    return kafka_murmur2_partition(id, strlen(id),
                                   follower_partitions(a->sched_follower, FIRING_SCHEDULES));
}

/* The definition of `id` the tenant may see, read to the end of its
 * partition when it is not known here yet. */
static int lookup(struct api *a, const char *id, const char *tenant, struct sched *s)
{
    char errstr[256];
    if (schedtab_get(a->schedules, id, tenant, s, NULL, NULL) == 0)
        return 0;
    if (follower_wait_end(a->sched_follower, FIRING_SCHEDULES, partition_of(a, id), FRESH_READ_MS,
                          errstr, sizeof(errstr)))
        return -1;
    return schedtab_get(a->schedules, id, tenant, s, NULL, NULL);
}

/* The schedule the request names, as the tenant may see it, into *s: its
 * id, or NULL after answering 503 (not read yet) or 404. */
static const char *found(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                         const char *tenant, struct sched *s)
{
    const char *id = sched_id(req);
    if (unavailable(a, resp))
        return NULL;
    if (!id || lookup(a, id, tenant, s)) {
        not_found(resp, id);
        return NULL;
    }
    return id;
}

/* Writes a definition (NULL: the tombstone of `id`) and applies it here at
 * once, so this instance answers with it. 0, or -1 after answering 503. */
static int store(struct api *a, const char *id, const struct sched *s, struct httpd_resp *resp)
{
    char errstr[256];
    char *record = s ? sched_record(s) : NULL;
    size_t len = record ? strlen(record) : 0;
    if (s && !record) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        return -1;
    }
    if (api_produce_sync(a, topic_name(&a->st->topics, TOPIC_SCHEDULES), id, record, len, NULL,
                         errstr, sizeof(errstr))) {
        char q[300];
        LOG_WARN("schedule_write_failed", "schedule=%s err=%s", id,
                 log_quote(q, sizeof(q), errstr));
        httpd_error(resp, 503, "kafka_unavailable",
                    "the schedule could not be written to Kafka; nothing changed, retry later",
                    NULL);
        free(record);
        return -1;
    }
    schedtab_put_def(a->schedules, id, partition_of(a, id), record, len);
    free(record);
    return 0;
}

static json_t *runs_of(struct api *a, const char *id, const char *tenant)
{
    struct schedtab_run runs[SCHEDTAB_RUNS];
    size_t n = schedtab_runs(a->schedules, id, runs);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *doc = table_get_json(a->table, runs[i].batch_id, tenant);
        json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "batch_id", runs[i].batch_id,
                                             "scheduled_for", runs[i].scheduled_for, "status",
                                             jx_str(doc, "status", "queued")));
        json_decref(doc);
    }
    return out;
}

/* The schedule's document as GET answers it, with its runs; `shown`, a
 * generated webhook secret, once. */
static void answer(struct api *a, struct httpd_resp *resp, unsigned code, const char *id,
                   const char *tenant, const char *shown)
{
    json_t *doc = schedtab_doc(a->schedules, id, tenant, clk_now_ms());
    if (!doc) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        return;
    }
    json_object_set_new(doc, "runs", runs_of(a, id, tenant));
    if (shown)
        json_object_set_new(doc, "webhook_signature_secret", json_string(shown));
    char *text = jx_dump(doc, NULL);
    json_decref(doc);
    if (!text) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        return;
    }
    httpd_json(resp, code, text);
    OPENSSL_cleanse(text, strlen(text)); /* it may hold the secret */
    free(text);
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static void h_create(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                     const char *tenant)
{
    struct sched s;
    struct submission_err err;
    char *shown = NULL;
    size_t len;
    const char *body = httpd_body(req, &len);
    struct sched_env env = {&a->lim, a->sb, clk_now_ms()};
    if (unavailable(a, resp))
        return;
    /* A schedule whose runs' ids another one's would share (79 random
     * bits alike, ids.h) is made again. */
    for (int tries = 0;; tries++) {
        if (sched_create(&s, body, len, tenant, &env, &shown, &err)) {
            api_refuse(resp, &err);
            goto out;
        }
        if (!schedtab_bits_taken(a->schedules, s.id) || tries == 3)
            break;
        sched_release(&s);
        wipe_free(shown);
        shown = NULL;
    }
    if (store(a, s.id, &s, resp) == 0) {
        char location[64];
        LOG_INFO("schedule_created", "schedule=%s tenant=%s cron=\"%s\" timezone=%s", s.id, tenant,
                 s.cron_text, tz_name(s.tz));
        answer(a, resp, 201, s.id, tenant, shown);
        snprintf(location, sizeof(location), "/v1/schedules/%s", s.id);
        httpd_resp_header(resp, "Location", location);
    }
out:
    wipe_free(shown);
    sched_release(&s);
}

static void h_list(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                   const char *tenant)
{
    const char *l = httpd_query(req, "limit"), *cursor = httpd_query(req, "cursor");
    long limit = LIST_LIMIT_DEFAULT;
    char *end;
    int more;
    if (unavailable(a, resp))
        return;
    if (l && (!isdigit((unsigned char)*l) || (limit = strtol(l, &end, 10)) < 1 || *end ||
              limit > LIST_LIMIT_MAX)) {
        httpd_error(resp, 422, "invalid_field", "limit: must be a whole number from 1 to 200",
                    json_pack("{s:s}", "field", "limit"));
        return;
    }
    if (cursor && !ids_valid("sch", cursor)) {
        httpd_error(resp, 422, "invalid_field", "cursor: not a cursor of this API",
                    json_pack("{s:s}", "field", "cursor"));
        return;
    }
    json_t *list = schedtab_list(a->schedules, tenant, cursor, (size_t)limit, clk_now_ms(), &more);
    json_t *next = json_null();
    if (more && json_array_size(list)) {
        char url[128];
        snprintf(url, sizeof(url), "/v1/schedules?cursor=%s&limit=%ld",
                 jx_str(json_array_get(list, json_array_size(list) - 1), "id", ""), limit);
        next = json_string(url);
    }
    json_t *out = json_pack("{s:o,s:o}", "schedules", list, "next", next);
    httpd_json_doc(resp, 200, out);
    json_decref(out);
}

static void h_get(struct api *a, struct httpd_req *req, struct httpd_resp *resp, const char *tenant)
{
    struct sched s;
    const char *id = found(a, req, resp, tenant, &s);
    if (!id)
        return;
    sched_release(&s);
    answer(a, resp, 200, id, tenant, NULL);
}

static void h_patch(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                    const char *tenant)
{
    struct sched old, s;
    struct submission_err err;
    char *shown = NULL;
    size_t len;
    const char *body = httpd_body(req, &len);
    struct sched_env env = {&a->lim, a->sb, clk_now_ms()};
    const char *id = found(a, req, resp, tenant, &old);
    if (!id)
        return;
    if (sched_patch(&s, &old, body, len, &env, &shown, &err)) {
        api_refuse(resp, &err);
    } else if (store(a, id, &s, resp) == 0) {
        LOG_INFO("schedule_changed", "schedule=%s tenant=%s cron=\"%s\" paused=%d", id, tenant,
                 s.cron_text, s.paused);
        answer(a, resp, 200, id, tenant, shown);
    }
    wipe_free(shown);
    sched_release(&s);
    sched_release(&old);
}

static void h_delete(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                     const char *tenant)
{
    struct sched s;
    const char *id = found(a, req, resp, tenant, &s);
    if (!id)
        return;
    sched_release(&s);
    /* The owner tombstones its state and change records (firing.h). */
    if (store(a, id, NULL, resp) == 0) {
        LOG_INFO("schedule_deleted", "schedule=%s tenant=%s", id, tenant);
        httpd_reply(resp, 204, "application/json", "", 0);
    }
}

/* Run now: an ordinary submit of the template by this instance, with a
 * random batch id (never a slot's) and the request's time as its slot. */
static void h_run(struct api *a, struct httpd_req *req, struct httpd_resp *resp, const char *tenant)
{
    struct sched s;
    struct submission b;
    char batch[IDS_BATCH_LEN], errstr[512], *secret_enc = NULL, (*stale)[CHANGES_KEY_MAX] = NULL;
    size_t n_stale;
    struct run_env env = {&a->lim, a->sb, a->schedules};
    memset(&b, 0, sizeof(b));
    const char *id = found(a, req, resp, tenant, &s);
    if (!id)
        return;
    /* The hashes of the last run's results (written by aggregate as it
     * counted them) read to the end, so a run right after one compares
     * with it. */
    if (s.track_changes && follower_wait_end(a->sched_follower, FIRING_CHANGES, partition_of(a, id),
                                             FRESH_READ_MS, errstr, sizeof(errstr)))
        LOG_WARN("schedule_changes_behind", "schedule=%s err=%s", id, errstr);
    int64_t now = clk_now_ms();
    if (ids_batch_new(batch)) {
        httpd_error(resp, 500, "internal", "no randomness for a batch id", NULL);
    } else if (run_build(&b, &s, batch, now, now, &env, &secret_enc, &stale, &n_stale, errstr,
                         sizeof(errstr))) {
        httpd_error(resp, 422, "schedule_not_runnable", errstr, json_pack("{s:s}", "id", id));
    } else if (api_write_batch(a, &b, resp) == 0) {
        LOG_INFO("schedule_run_now", "schedule=%s batch=%s tenant=%s", id, b.id, tenant);
    }
    free(secret_enc);
    free(stale);
    submission_release(&b);
    sched_release(&s);
}

const struct api_route api_schedule_routes[] = {
    {"POST", "/v1/schedules", "schedule_create", h_create, 0, NULL},
    {"GET", "/v1/schedules", "schedule_list", h_list, 0, httpd_never_blocks},
    {"GET", "/v1/schedules/:id", "schedule_get", h_get, 0, NULL},
    {"PATCH", "/v1/schedules/:id", "schedule_change", h_patch, 0, NULL},
    {"DELETE", "/v1/schedules/:id", "schedule_delete", h_delete, 0, NULL},
    {"POST", "/v1/schedules/:id/run", "schedule_run", h_run, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
