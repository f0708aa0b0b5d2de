/*
 * task — what a webhook task record says, how it is signed, and what an
 * attempt's result means for it.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "deliver.h"
#include "fhdr.h"
#include "jx.h"
#include "schema.h"
#include "kafka.h"
#include "log.h"
#include "url.h"

/* A task is a flat object with one string holding the body; anything deeper
 * is not ours. */
#define TASK_MAX_DEPTH   8
#define TASK_MAX_ATTEMPT 1000

static void *xmemdup(const void *p, size_t len)
{
    char *c = malloc(len + 1);
    if (!c)
        abort();
    if (len)
        memcpy(c, p, len);
    c[len] = '\0';
    return c;
}

static long long header_ll(const rd_kafka_message_t *msg, const char *name, long long def)
{
    char buf[32], *end;
    if (!kafka_header(msg, name, buf, sizeof(buf)))
        return def;
    long long v = strtoll(buf, &end, 10);
    return end != buf && *end == '\0' ? v : def;
}

int task_parse(struct job *job, const rd_kafka_message_t *msg, const struct task_policy *pol,
               char *errstr, size_t errstr_size)
{
    job->value = xmemdup(msg->payload ? msg->payload : "", msg->len);
    job->value_len = msg->len;
    if (msg->key) {
        job->key = xmemdup(msg->key, msg->key_len);
        job->key_len = msg->key_len;
    }
    snprintf(job->src_topic, sizeof(job->src_topic), "%s", rd_kafka_topic_name(msg->rkt));
    job->src_partition = msg->partition;
    job->src_offset = msg->offset;
    job->index = -1;

    long long attempt = header_ll(msg, fhdr_name(FHDR_ATTEMPT), 1);
    job->attempt = attempt < 1 ? 1 : attempt > TASK_MAX_ATTEMPT ? TASK_MAX_ATTEMPT : (int)attempt;
    job->first_attempt_ms = header_ll(msg, fhdr_name(FHDR_FIRST_ATTEMPT_MS), 0);
    if (!fhdr_get(msg, FHDR_ORIGIN, job->origin, sizeof(job->origin)))
        snprintf(job->origin, sizeof(job->origin), "%s/%d/%lld", job->src_topic,
                 (int)job->src_partition, (long long)job->src_offset);

    char why[160];
    job->task = jx_parse(job->value, job->value_len, TASK_MAX_DEPTH, why, sizeof(why));
    if (!job->task || !json_is_object(job->task)) {
        snprintf(errstr, errstr_size, "task is not a JSON object: %s", job->task ? "" : why);
        return -1;
    }
    if (schema_check(jx_int(job->task, SCHEMA_VERSION_KEY, 1), SCHEMA_WEBHOOKS, errstr,
                     errstr_size))
        return -1;
    job->delivery_id = jx_str(job->task, "delivery_id", NULL);
    job->event = jx_str(job->task, "event", NULL);
    job->batch_id = jx_str(job->task, "batch_id", NULL);
    job->tenant = jx_str(job->task, "tenant", "");
    job->url = jx_str(job->task, "url", NULL);
    /* item.completed: which item, copied into the attempt record (usage
     * counts a delivery id once by it). */
    json_t *index = json_object_get(job->task, "index");
    job->index = json_is_integer(index) ? (long long)json_integer_value(index) : -1;
    job->tenant_secret = jx_bool(job->task, "tenant_secret", 0);
    json_t *body = json_object_get(job->task, "body");
    const char *missing = !job->delivery_id       ? "delivery_id"
                          : !job->event           ? "event"
                          : !job->batch_id        ? "batch_id"
                          : !job->url             ? "url"
                          : !json_is_string(body) ? "body"
                                                  : NULL;
    if (missing) {
        snprintf(errstr, errstr_size, "task has no %s", missing);
        return -1;
    }
    job->body = json_string_value(body);
    job->body_len = json_string_length(body);
    char hostkey[HTTPC_HOSTKEY_MAX];
    const char *refused;
    if (url_origin(job->url, pol->allow_http ? 0 : URL_HTTPS_ONLY, hostkey, sizeof(hostkey),
                   &refused)) {
        int https = !pol->allow_http && strcmp(refused, "must be an https URL") == 0;
        snprintf(errstr, errstr_size, "webhook url %s%s", refused,
                 https ? " (FERRY_WEBHOOK_ALLOW_HTTP=1 allows http)" : "");
        return -1;
    }
    /* The answer is kept for the attempt record, and read on (so the
     * connection stays reusable) only so far. */
    httpc_xfer_init(&job->x, job, hostkey, DELIVER_RESP_KEEP, DELIVER_RESP_MAX);
    return 0;
}

/* Opens one sealed secret (bound to `aad`) and appends both signatures of
 * it (space separated after the first). */
static int sign_with(struct job *job, const struct task_policy *pol, const char *sealed,
                     const char *aad, char *errstr, size_t errstr_size)
{
    char fs[WHSIG_HEX_LEN], ss[WHSIG_V1_LEN];
    size_t len = 0;
    char *secret = secretbox_open(pol->sb, sealed, aad, &len);
    if (!secret) {
        snprintf(errstr, errstr_size, "webhook secret does not open (wrong FERRY_SECRET_KEY?)");
        return -1;
    }
    whsig_ferry(secret, job->body, job->body_len, fs);
    int rc = whsig_standard(secret, job->delivery_id, job->ts, job->body, job->body_len, ss);
    OPENSSL_cleanse(secret, len);
    free(secret);
    if (rc) {
        snprintf(errstr, errstr_size, "webhook secret is a malformed whsec_ key");
        return -1;
    }
    size_t fl = strlen(job->ferry_sig), sl = strlen(job->std_sig);
    snprintf(job->ferry_sig + fl, sizeof(job->ferry_sig) - fl, "%s%s", fl ? " " : "", fs);
    snprintf(job->std_sig + sl, sizeof(job->std_sig) - sl, "%s%s", sl ? " " : "", ss);
    OPENSSL_cleanse(fs, sizeof(fs));
    OPENSSL_cleanse(ss, sizeof(ss));
    return 0;
}

/* The tenant's secrets as the table has them at this attempt: the rotated
 * one too while its overlap lasts. */
static int sign_tenant(struct job *job, const struct task_policy *pol, int64_t now_ms, char *errstr,
                       size_t errstr_size)
{
    char cur[TENANT_SEALED_MAX], prev[TENANT_SEALED_MAX], aad[TENANT_AAD_MAX];
    int n = pol->tenants ? tenant_table_secrets(pol->tenants, job->tenant, now_ms, cur, prev) : 0;
    if (n == 0) {
        /* ingest saw the secret when it accepted the batch; this instance
         * has not read it yet. A later attempt will have it. */
        job->secret_pending = 1;
        snprintf(errstr, errstr_size, "tenant %.64s has no webhook secret here yet", job->tenant);
        return -1;
    }
    tenant_secret_aad(job->tenant, aad);
    return sign_with(job, pol, cur, aad, errstr, errstr_size) ||
                   (n == 2 && sign_with(job, pol, prev, aad, errstr, errstr_size))
               ? -1
               : 0;
}

int task_tenants_open(struct task_policy *pol, const struct stage *st, char *errstr,
                      size_t errstr_size)
{
    const char *topics[] = {topic_name(&st->topics, TOPIC_TENANTS)};
    pol->tenants = tenant_table_new();
    pol->follower = pol->tenants
                        ? follower_open(&st->cfg, st->client_id, "ferry-deliver-tenants", topics, 1,
                                        0, tenant_table_follow, pol->tenants, errstr, errstr_size)
                        : NULL;
    if (!pol->follower) {
        tenant_table_free(pol->tenants);
        pol->tenants = NULL;
        return -1;
    }
    /* The topic holds one small record per tenant. */
    if (follower_wait_caught_up(pol->follower, 30000))
        LOG_WARN("tenants_behind", "why=\"the tenants topic was not read whole in 30 s; "
                                   "tasks of tenants not read yet are retried\"");
    return 0;
}

void task_tenants_close(struct task_policy *pol)
{
    follower_close(pol->follower);
    tenant_table_free(pol->tenants);
    pol->follower = NULL;
    pol->tenants = NULL;
}

int task_sign(struct job *job, const struct task_policy *pol, int64_t now_ms, char *errstr,
              size_t errstr_size)
{
    job->ferry_sig[0] = job->std_sig[0] = '\0';
    job->ts = now_ms / 1000;
    job->secret_pending = 0;
    if (job->tenant_secret)
        return sign_tenant(job, pol, now_ms, errstr, errstr_size);
    const char *sealed = jx_str(job->task, "secret_enc", NULL);
    if (!sealed) {
        snprintf(errstr, errstr_size, "task has no secret_enc");
        return -1;
    }
    if (sign_with(job, pol, sealed, job->batch_id, errstr, errstr_size))
        return -1;

    /* Rotation: until the previous secret expires, receivers still holding
     * it must be able to verify, so both signatures go out. */
    const char *prev = jx_str(job->task, "previous_secret_enc", NULL);
    const char *until = jx_str(job->task, "previous_secret_until", NULL);
    int64_t until_ms;
    if (prev && until && clk_parse_iso8601(until, &until_ms) == 0 && until_ms > now_ms &&
        sign_with(job, pol, prev, job->batch_id, errstr, errstr_size))
        return -1;
    return 0;
}

void task_verdict(struct job *job, const struct task_policy *pol, int64_t now_ms)
{
    job->tier = -1;
    job->due_ms = 0;
    if (!job->error[0] && job->status >= 200 && job->status < 300) {
        job->verdict = VERDICT_DELIVERED;
        return;
    }
    /* 410 Gone: the receiver says the endpoint is gone for good. A task
     * whose tenant secret this instance has not read yet is not final. */
    if ((job->final && !job->secret_pending) || job->status == 410) {
        job->verdict = VERDICT_DEAD;
        return;
    }
    /* Attempt k failed: it waits in tier k-1 (0-based), so attempt k+1 is
     * the record's ferry-attempt there. */
    size_t tier = (size_t)job->attempt - 1;
    if (tier >= pol->n_tiers) {
        job->verdict = VERDICT_DEAD;
        return;
    }
    int64_t delay = pol->tier_ms[tier];
    if (job->status == 429 || job->status == 503) {
        /* The receiver asks for a longer pause: granted up to twice the
         * tier's, so one answer cannot park a task for days. */
        int64_t ra = httpc_retry_after_ms(job->x.retry_after, now_ms, 2 * delay);
        if (ra > delay)
            delay = ra;
    }
    job->verdict = VERDICT_RETRY;
    job->tier = (int)tier;
    job->due_ms = now_ms + delay;
}

void job_free(struct job *job)
{
    if (!job)
        return;
    json_decref(job->task);
    curl_slist_free_all(job->headers);
    buf_release(&job->x.body);
    OPENSSL_cleanse(job->ferry_sig, sizeof(job->ferry_sig));
    OPENSSL_cleanse(job->std_sig, sizeof(job->std_sig));
    free(job->value);
    free(job->key);
    free(job);
}
