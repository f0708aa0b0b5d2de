/* POST /v1/batch and POST /v1/scrape/async: validate, seal the webhook
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

static void refuse(struct httpd_resp *resp, const struct submission_err *err)
{
    json_t *details = NULL;
    if (err->field[0])
        details = err->index >= 0
                      ? json_pack("{s:s,s:i}", "field", err->field, "index", (int)err->index)
                      : json_pack("{s:s}", "field", err->field);
    httpd_error(resp, (unsigned)err->status, err->code, err->message, details);
}

static void submit(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                   const char *tenant, int single)
{
    struct submission b;
    struct submission_err err;
    struct limits_hold hold = {0};
    char errstr[512];
    char *secret_enc = NULL, *answer = NULL, *status = NULL;
    size_t len;
    const char *body = httpd_body(req, &len);

    /* The body's size was capped by the server (413 before it was read). */
    if (submission_parse(&b, body, len, single, tenant, &a->lim, &err)) {
        refuse(resp, &err);
        goto out;
    }
    /* Before anything is sealed or written (limits.h); held until the
     * table knows the batch. */
    if (limits_admit(a->limits, a->table, a->usage, tenant, (long long)b.total,
                     b.render ? a->credits_render : 1, clk_now_ms(), &hold, resp))
        goto out;
    if (b.webhook_url) {
        if (!a->sb) {
            httpd_error(resp, 503, "webhooks_unavailable",
                        "this server has no FERRY_SECRET_KEY, so it cannot keep webhook secrets",
                        NULL);
            goto out;
        }
        secret_enc = secretbox_seal(a->sb, b.secret, strlen(b.secret), b.id);
        if (!secret_enc) {
            httpd_error(resp, 500, "internal", "could not seal the webhook secret", NULL);
            goto out;
        }
    }
    int64_t t0 = clk_mono_ms();
    if (txn_submit(a->txn, &b, secret_enc, errstr, sizeof(errstr))) {
        char q[600];
        metric_inc(a->m_produce_errors, 1);
        LOG_WARN("submit_failed", "batch=%s tenant=%s items=%zu err=%s", b.id, tenant, b.total,
                 log_quote(q, sizeof(q), errstr));
        httpd_error(resp, 503, "kafka_unavailable",
                    "the batch could not be written to Kafka; nothing was accepted, retry later",
                    NULL);
        goto out;
    }
    /* This instance answers `queued` at once; the copy from the topic (and
     * aggregate's later documents) follow through the status consumer. */
    status = submission_status_json(&b);
    if (status)
        table_put_status(a->table, b.id, status, strlen(status), 1);
    metric_inc(a->m_batches, 1);
    metric_inc(a->m_items, (long long)b.total);
    LOG_INFO("batch_accepted", "batch=%s tenant=%s items=%zu ms=%lld", b.id, tenant, b.total,
             (long long)(clk_mono_ms() - t0));
    answer = submission_accepted_json(&b);
    if (!answer) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        goto out;
    }
    char location[64];
    snprintf(location, sizeof(location), "/v1/batch/%s", b.id);
    httpd_json(resp, 202, answer);
    httpd_resp_header(resp, "Location", location);
out:
    limits_release(a->limits, &hold);
    if (answer) {
        /* It may hold the generated webhook secret. */
        OPENSSL_cleanse(answer, strlen(answer));
        free(answer);
    }
    free(status);
    free(secret_enc);
    size_t total = b.total;
    submission_release(&b);
    /* A large batch's parse tree and message copies are gone now; hand the
     * pages back instead of keeping the peak resident. */
    if (total > 10000)
        malloc_trim(0);
}

static void h_batch(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                    const char *tenant)
{
    submit(a, req, resp, tenant, 0);
}

static void h_single(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                     const char *tenant)
{
    submit(a, req, resp, tenant, 1);
}

const struct api_route api_submit_routes[] = {
    {"POST", "/v1/batch", "submit", h_batch, 0, NULL},
    {"POST", "/v1/scrape/async", "scrape_async", h_single, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
