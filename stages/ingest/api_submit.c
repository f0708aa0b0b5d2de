/* POST /v1/batch and POST /v1/scrape/async: validate, apply the tenant's
 * webhook settings, honour an Idempotency-Key (idem.h), seal the webhook
 * secret, write the batch in one Kafka transaction, answer 202. */
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

void api_refuse(struct httpd_resp *resp, const struct submission_err *err)
{
    json_t *details = NULL;
    if (err->field[0])
        details = err->index >= 0
                      ? json_pack("{s:s,s:i}", "field", err->field, "index", (int)err->index)
                      : json_pack("{s:s}", "field", err->field);
    httpd_error(resp, (unsigned)err->status, err->code, err->message, details);
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

int api_tenant_defaults(struct api *a, struct submission *b, struct httpd_resp *resp)
{
    struct tenant_settings ts;
    struct submission_err err;
    char errstr[256];
    if (accounts_settings(a->accounts, b->tenant, 0, &ts, errstr, sizeof(errstr))) {
        httpd_error(resp, 503, "kafka_unavailable",
                    "the tenants' settings are not read from Kafka yet; retry later", NULL);
        return -1;
    }
    struct submission_tenant t = {ts.url, ts.events, ts.secret_enc != NULL};
    memset(&err, 0, sizeof(err));
    int rc = submission_apply_tenant(b, &t, &err);
    tenant_settings_release(&ts);
    if (rc)
        api_refuse(resp, &err);
    return rc;
}

/* Admits b under the tenant limits (held in *hold until the table knows
 * the batch: limits.h) and seals its webhook secret. 0, or -1 answered. */
static int prepare(struct api *a, struct submission *b, struct limits_hold *hold, char **secret_enc,
                   struct httpd_resp *resp)
{
    /* A replayed Idempotency-Key never gets here: it writes nothing. */
    if (limits_admit(a->limits, a->table, a->usage, b->tenant, (long long)b->total,
                     b->render ? a->credits_render : 1, clk_now_ms(), hold, resp))
        return -1;
    if (b->webhook_url && !a->sb) {
        httpd_error(resp, 503, "webhooks_unavailable",
                    "this server has no FERRY_SECRET_KEY, so it cannot keep webhook secrets", NULL);
        return -1;
    }
    if (b->secret && !(*secret_enc = secretbox_seal(a->sb, b->secret, strlen(b->secret), b->id))) {
        httpd_error(resp, 500, "internal", "could not seal the webhook secret", NULL);
        return -1;
    }
    return 0;
}

/* A written batch: visible here at once (the copy from the topic and
 * aggregate's later documents follow through the status consumer),
 * counted and logged. */
static void recorded(struct api *a, const struct submission *b, int64_t t0, const char *via)
{
    char *status = submission_status_json(b);
    if (status)
        table_put_status(a->table, b->id, status, strlen(status), 1);
    free(status);
    metric_inc(a->m_batches, 1);
    metric_inc(a->m_items, (long long)b->total);
    LOG_INFO("batch_accepted", "batch=%s tenant=%s items=%zu ms=%lld via=%s%s%s", b->id, b->tenant,
             b->total, (long long)(clk_mono_ms() - t0), via, b->retry_of[0] ? " retry_of=" : "",
             b->retry_of);
}

/* The 202 of a written batch, with Location. */
static void accepted(const struct submission *b, struct httpd_resp *resp)
{
    /* It may hold the generated webhook secret. */
    char *answer = submission_accepted_json(b);
    if (!answer) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        return;
    }
    char location[64];
    snprintf(location, sizeof(location), "/v1/batch/%s", b->id);
    httpd_json(resp, 202, answer);
    httpd_resp_header(resp, "Location", location);
    wipe_free(answer);
}

int api_write_batch(struct api *a, struct submission *b, struct httpd_resp *resp)
{
    char errstr[512], *secret_enc = NULL;
    struct limits_hold hold = {0};
    int rc = -1;
    int64_t t0 = clk_mono_ms();
    if (prepare(a, b, &hold, &secret_enc, resp))
        goto out;
    if (txn_submit(a->txn, b, secret_enc, errstr, sizeof(errstr))) {
        char q[600];
        metric_inc(a->m_produce_errors, 1);
        LOG_WARN("submit_failed", "batch=%s tenant=%s items=%zu err=%s", b->id, b->tenant, b->total,
                 log_quote(q, sizeof(q), errstr));
        httpd_error(resp, 503, "kafka_unavailable",
                    "the batch could not be written to Kafka; nothing was accepted, retry later",
                    NULL);
        goto out;
    }
    recorded(a, b, t0, "http");
    rc = 0;
    accepted(b, resp);
out:
    limits_release(a->limits, &hold);
    free(secret_enc);
    return rc;
}

/* The first 202 of key `hit` again: the body is parsed anew (it is the same
 * body, so the same items are accepted and skipped), with the original id,
 * time and secret. */
static void replay(struct api *a, struct httpd_resp *resp, const char *body, size_t len, int kind,
                   const char *tenant, const struct idem_entry *hit)
{
    struct submission b;
    struct submission_err err;
    char location[64];
    if (submission_parse(&b, body, len, kind, tenant, &a->lim, &err)) {
        /* The settings changed since (a webhook host that no longer
         * resolves): what it answered is still its id. */
        submission_release(&b);
        memset(&b, 0, sizeof(b));
    }
    snprintf(b.id, sizeof(b.id), "%s", hit->batch_id);
    clk_iso8601(hit->created_ms, b.created_at);
    b.total = (size_t)hit->total;
    wipe_free(b.secret);
    b.secret = hit->secret_generated && a->sb ? idem_secret(a->sb, b.id) : NULL;
    b.secret_generated = b.secret != NULL;
    char *answer = submission_accepted_json(&b);
    if (answer) {
        snprintf(location, sizeof(location), "/v1/batch/%s", b.id);
        httpd_json(resp, 202, answer);
        httpd_resp_header(resp, "Location", location);
        httpd_resp_header(resp, "Idempotent-Replayed", "true");
        LOG_INFO("batch_replayed", "batch=%s tenant=%s", b.id, tenant);
    } else {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
    }
    wipe_free(answer);
    submission_release(&b);
}

/* Makes b the batch of Idempotency-Key `key`: its id, its generated secret
 * (both derived, see idem.h) and the key's record. 0, or -1 answered. */
static int make_idempotent(struct api *a, struct submission *b, const char *key,
                           const unsigned char hash[IDEM_HASH], struct idem_entry *made,
                           struct httpd_resp *resp)
{
    char tk[IDEM_TOPIC_KEY_MAX];
    if (idem_batch_id(b->tenant, key, hash, b->created_ms, b->id)) {
        httpd_error(resp, 500, "internal", "no batch id for the key", NULL);
        return -1;
    }
    if (b->secret_generated) {
        wipe_free(b->secret);
        b->secret = a->sb ? idem_secret(a->sb, b->id) : NULL;
        if (!b->secret) {
            httpd_error(resp, 503, "webhooks_unavailable",
                        "this server has no FERRY_SECRET_KEY, so it cannot keep webhook secrets",
                        NULL);
            return -1;
        }
    }
    memset(made, 0, sizeof(*made));
    snprintf(made->batch_id, sizeof(made->batch_id), "%s", b->id);
    memcpy(made->hash, hash, IDEM_HASH);
    made->created_ms = b->created_ms;
    made->total = (long long)b->total;
    made->invalid = b->invalid ? (long long)json_array_size(b->invalid) : 0;
    made->secret_generated = b->secret_generated;
    idem_topic_key(b->tenant, key, tk);
    b->idem_key = strdup(tk);
    b->idem_record = idem_record_json(b->tenant, key, made, NULL);
    if (!b->idem_key || !b->idem_record) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        return -1;
    }
    return 0;
}

/* Checks Idempotency-Key `key` of a submit. 0: the key is new and held
 * (idem_end once written or failed); 1: answered (a replay, 422, 503).
 * Waits up to wait_ms for another request holding the key. */
static int idem_gate(struct api *a, const char *tenant, const char *key, int kind, const char *body,
                     size_t len, unsigned char hash[IDEM_HASH], int wait_ms,
                     struct httpd_resp *resp)
{
    struct idem_entry hit;
    if (!idem_key_valid(key)) {
        httpd_error(resp, 422, "invalid_field",
                    "Idempotency-Key: must be 1 to 255 printable ASCII characters",
                    json_pack("{s:s}", "field", "Idempotency-Key"));
        return 1;
    }
    idem_hash(kind == SUBMISSION_SINGLE  ? "scrape_async"
              : kind == SUBMISSION_CRAWL ? "crawl"
                                         : "submit",
              body, len, hash);
    enum idem_verdict v = accounts_wait_ready(a->accounts, a->timeout_ms)
                              ? IDEM_BUSY
                              : idem_begin(a->accounts->idem, tenant, key, hash, wait_ms, &hit);
    if (v == IDEM_REPLAY) {
        replay(a, resp, body, len, kind, tenant, &hit);
        return 1;
    }
    if (v == IDEM_REUSED) {
        httpd_error(resp, 422, "idempotency_key_reused",
                    "this Idempotency-Key was used with another request in the last 24 hours",
                    json_pack("{s:s,s:s}", "field", "Idempotency-Key", "batch_id", hit.batch_id));
        return 1;
    }
    if (v == IDEM_BUSY) {
        httpd_resp_header(resp, "Retry-After", "1");
        httpd_error(resp, 503, "kafka_unavailable",
                    "the Idempotency-Key could not be checked in time; retry later", NULL);
        return 1;
    }
    return 0;
}

int api_submit_begin(struct api *a, struct api_submit *s, struct httpd_resp *resp)
{
    struct submission_err err;
    unsigned char hash[IDEM_HASH];
    s->t0 = clk_mono_ms();
    if (s->idem_key) {
        if (idem_gate(a, s->tenant, s->idem_key, s->kind, s->body, s->len, hash, s->idem_wait_ms,
                      resp))
            return 1;
        s->held = 1;
    }
    /* The body's size was capped by the server (413 before it was read). */
    if (submission_parse(&s->b, s->body, s->len, s->kind, s->tenant, &a->lim, &err)) {
        api_refuse(resp, &err);
        return 1;
    }
    if (api_tenant_defaults(a, &s->b, resp) ||
        (s->idem_key && make_idempotent(a, &s->b, s->idem_key, hash, &s->made, resp)) ||
        prepare(a, &s->b, &s->hold, &s->secret_enc, resp))
        return 1;
    s->to_write = 1;
    return 0;
}

void api_submit_accepted(struct api *a, struct api_submit *s, struct httpd_resp *resp)
{
    (void)a;
    accepted(&s->b, resp);
}

void api_submit_end(struct api *a, struct api_submit *s, int committed)
{
    int written = committed && s->to_write;
    if (written)
        recorded(a, &s->b, s->t0, s->via ? s->via : "http");
    limits_release(a->limits, &s->hold);
    if (s->held)
        idem_end(a->accounts->idem, s->tenant, s->idem_key, written ? &s->made : NULL);
    s->held = 0;
    free(s->secret_enc);
    s->secret_enc = NULL;
    size_t total = s->b.total;
    submission_release(&s->b);
    /* A large batch's parse tree and message copies are gone now; hand the
     * pages back instead of keeping the peak resident. */
    if (total > 10000)
        malloc_trim(0);
}

void api_submit_kind(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                     const char *tenant, int kind)
{
    char errstr[512];
    struct api_submit s = {.kind = kind,
                           .tenant = tenant,
                           .idem_key = httpd_header(req, "Idempotency-Key"),
                           .idem_wait_ms = a->timeout_ms,
                           .via = "http"};
    int committed = 0;
    s.body = httpd_body(req, &s.len);
    if (api_submit_begin(a, &s, resp))
        goto out;
    if (txn_submit(a->txn, &s.b, s.secret_enc, errstr, sizeof(errstr))) {
        char q[600];
        metric_inc(a->m_produce_errors, 1);
        LOG_WARN("submit_failed", "batch=%s tenant=%s items=%zu err=%s", s.b.id, tenant, s.b.total,
                 log_quote(q, sizeof(q), errstr));
        httpd_error(resp, 503, "kafka_unavailable",
                    "the batch could not be written to Kafka; nothing was accepted, retry later",
                    NULL);
        goto out;
    }
    committed = 1;
    api_submit_accepted(a, &s, resp);
out:
    api_submit_end(a, &s, committed);
}

static void h_batch(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                    const char *tenant)
{
    api_submit_kind(a, req, resp, tenant, SUBMISSION_BATCH);
}

static void h_single(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                     const char *tenant)
{
    api_submit_kind(a, req, resp, tenant, SUBMISSION_SINGLE);
}

const struct api_route api_submit_routes[] = {
    {"POST", "/v1/batch", "submit", h_batch, 0, NULL},
    {"POST", "/v1/scrape/async", "scrape_async", h_single, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
