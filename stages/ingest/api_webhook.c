/*
 * The caller's webhook settings (DESIGN.md, "Tenant webhook settings and
 * secret rotation"; seed 001's account secret):
 *
 *   GET    /v1/webhook                  {url, events, secret_set, secret_created_at,
 *                                        previous_valid_until}
 *   PUT    /v1/webhook                  {url, events}: the default webhook of batches
 *                                        without webhook_url (url null removes it)
 *   POST   /v1/webhook/secret           {"overlap": "24h"}: creates or rotates the
 *                                        secret; answers it, once
 *   DELETE /v1/webhook/secret/previous  ends the overlap now
 *
 * The settings are one record per tenant on the `tenants` topic, the
 * secrets sealed under FERRY_SECRET_KEY and bound to the tenant; every
 * change is serialized through Kafka (accounts.h), and deliver reads the
 * secret for every attempt, so a rotation reaches batches in flight and in
 * the retry tiers. During the overlap both secrets sign (two values in each
 * signature header); after it, only the new one. A second rotation during
 * an overlap ends the first one's: two secrets at most sign at once.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "clock.h"
#include "jx.h"
#include "whsig.h"

#define OVERLAP_DEFAULT_MS (24LL * 3600 * 1000)
#define OVERLAP_MAX_MS     (7LL * 24 * 3600 * 1000)

/* The previous secret's end, when it still signs. */
static int64_t previous_until(const struct tenant_settings *s, int64_t now)
{
    return s->previous_enc && s->previous_until_ms > now ? s->previous_until_ms : 0;
}

/* GET /v1/webhook's document. */
static json_t *settings_doc(const struct tenant_settings *s)
{
    return json_pack("{s:o,s:o,s:b,s:o,s:o}", "url", s->url ? json_string(s->url) : json_null(),
                     "events", s->events ? json_incref(s->events) : json_null(), "secret_set",
                     s->secret_enc != NULL, "secret_created_at",
                     jx_time(s->secret_enc ? s->secret_created_ms : 0), "previous_valid_until",
                     jx_time(previous_until(s, clk_now_ms())));
}

static void unavailable(struct httpd_resp *resp, const char *errstr)
{
    (void)errstr;
    httpd_error(resp, 503, "kafka_unavailable",
                "the webhook settings could not be read or written in Kafka; retry later", NULL);
}

static int need_key(struct api *a, struct httpd_resp *resp)
{
    if (a->sb)
        return 0;
    httpd_error(resp, 503, "webhooks_unavailable",
                "this server has no FERRY_SECRET_KEY, so it cannot keep webhook secrets", NULL);
    return -1;
}

static void bad_field(struct httpd_resp *resp, const char *field, const char *why)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "%s: %s", field, why);
    httpd_error(resp, 422, "invalid_field", msg, json_pack("{s:s}", "field", field));
}

/* The body as an object, or NULL answered (400/422). An empty body is {}
 * when `empty_ok`. Only the members in `allowed` (NULL-ended) may appear. */
static json_t *body_object(struct httpd_req *req, struct httpd_resp *resp, int empty_ok,
                           const char *const *allowed)
{
    size_t len;
    char why[200];
    const char *body = httpd_body(req, &len), *k;
    json_t *doc = len == 0 && empty_ok ? json_object() : jx_parse(body, len, 8, why, sizeof(why)),
           *v;
    if (!doc || !json_is_object(doc)) {
        httpd_error(resp, 400, "invalid_json",
                    doc ? "the body must be a JSON object" : "the body is not valid JSON", NULL);
        json_decref(doc);
        return NULL;
    }
    json_object_foreach(doc, k, v)
    {
        int ok = 0;
        for (const char *const *n = allowed; *n && !ok; n++)
            ok = strcmp(k, *n) == 0;
        if (!ok) {
            char field[64];
            snprintf(field, sizeof(field), "%.60s", k);
            bad_field(resp, field, "unknown field");
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

/* Answers `s` after a change (or the error of the change). */
static void answer(struct httpd_resp *resp, int rc, const struct tenant_settings *s,
                   const char *errstr)
{
    if (rc == -1) {
        unavailable(resp, errstr);
        return;
    }
    if (rc) {
        httpd_error(resp, 500, "internal", "out of memory", NULL);
        return;
    }
    json_t *doc = settings_doc(s);
    httpd_json_doc(resp, 200, doc);
    json_decref(doc);
}

static void h_get(struct api *a, struct httpd_req *req, struct httpd_resp *resp, const char *tenant)
{
    struct tenant_settings s;
    char errstr[256];
    (void)req;
    /* Fresh: a change made through another instance a moment ago shows. */
    int rc = accounts_settings(a->accounts, tenant, 1, &s, errstr, sizeof(errstr));
    answer(resp, rc, &s, errstr);
    tenant_settings_release(&s);
}

/* ---- PUT /v1/webhook */

struct put {
    const char *url; /* NULL: no default webhook */
    const json_t *events;
};

static int put_change(struct tenant_settings *s, void *arg, char *errstr, size_t errstr_size)
{
    const struct put *p = arg;
    (void)errstr;
    (void)errstr_size;
    free(s->url);
    json_decref(s->events);
    s->url = p->url ? strdup(p->url) : NULL;
    s->events = p->url ? json_deep_copy(p->events) : NULL;
    return 0;
}

static void h_put(struct api *a, struct httpd_req *req, struct httpd_resp *resp, const char *tenant)
{
    static const char *const allowed[] = {"url", "events", NULL};
    struct submission_err err = {.index = -1};
    struct tenant_settings s;
    char errstr[256];
    json_t *events = NULL, *doc;
    if (need_key(a, resp) || !(doc = body_object(req, resp, 0, allowed)))
        return;
    json_t *url = json_object_get(doc, "url");
    struct put p = {NULL, NULL};
    if (!url) {
        bad_field(resp, "url", "is required (null removes the default webhook)");
        goto out;
    }
    /* Events are checked even when they go unused (url null). */
    if (!(events = submission_webhook_events(json_object_get(doc, "events"), "events", 0, &err)) ||
        (!json_is_null(url) && submission_webhook_url(url, &a->lim, "url", &err))) {
        api_refuse(resp, &err);
        goto out;
    }
    if (!json_is_null(url))
        p = (struct put){json_string_value(url), events};
    int rc = accounts_change(a->accounts, tenant, put_change, &p, &s, errstr, sizeof(errstr));
    answer(resp, rc, &s, errstr);
    tenant_settings_release(&s);
out:
    json_decref(events);
    json_decref(doc);
}

/* ---- POST /v1/webhook/secret */

struct rotate {
    const char *sealed; /* the new secret, sealed for the tenant */
    int64_t overlap_ms;
    int64_t now_ms; /* set by the change */
};

static int rotate_change(struct tenant_settings *s, void *arg, char *errstr, size_t errstr_size)
{
    struct rotate *r = arg;
    (void)errstr;
    (void)errstr_size;
    char *fresh = strdup(r->sealed);
    if (!fresh)
        return -1;
    r->now_ms = clk_now_ms();
    free(s->previous_enc);
    s->previous_enc = NULL;
    s->previous_until_ms = 0;
    /* The secret in use now keeps signing for the overlap, so receivers
     * can switch at their pace. */
    if (s->secret_enc && r->overlap_ms > 0) {
        s->previous_enc = s->secret_enc;
        s->previous_until_ms = r->now_ms + r->overlap_ms;
    } else {
        free(s->secret_enc);
    }
    s->secret_enc = fresh;
    s->secret_created_ms = r->now_ms;
    return 0;
}

/* "24h", "30s", "7d", "0s": a duration with its unit, at most 7 days. */
static int overlap_of(const json_t *v, int64_t *ms)
{
    long long n;
    const char *t = json_string_value(v);
    size_t len = t ? strlen(t) : 0;
    if (!v || json_is_null(v)) {
        *ms = OVERLAP_DEFAULT_MS;
        return 0;
    }
    if (!t || len < 2 || t[len - 1] < 'a' || t[len - 1] > 'z' || cfg_parse_duration(t, &n) ||
        n < 0 || n > OVERLAP_MAX_MS)
        return -1;
    *ms = n;
    return 0;
}

static void h_secret(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                     const char *tenant)
{
    static const char *const allowed[] = {"overlap", NULL};
    struct tenant_settings s;
    struct rotate r = {0};
    char errstr[256], aad[TENANT_AAD_MAX], *secret = NULL, *sealed = NULL;
    json_t *doc;
    if (need_key(a, resp) || !(doc = body_object(req, resp, 1, allowed)))
        return;
    if (overlap_of(json_object_get(doc, "overlap"), &r.overlap_ms)) {
        bad_field(resp, "overlap", "a duration such as \"24h\", \"30m\" or \"0s\", at most \"7d\"");
        goto out;
    }
    tenant_secret_aad(tenant, aad);
    if (!(secret = whsig_secret_new()) ||
        !(sealed = secretbox_seal(a->sb, secret, strlen(secret), aad))) {
        httpd_error(resp, 500, "internal", "could not make a secret", NULL);
        goto out;
    }
    r.sealed = sealed;
    int rc = accounts_change(a->accounts, tenant, rotate_change, &r, &s, errstr, sizeof(errstr));
    if (rc) {
        answer(resp, rc, &s, errstr);
    } else {
        /* Shown once: only its sealed form is kept. */
        json_t *out = json_pack("{s:s,s:o,s:o}", "secret", secret, "secret_created_at",
                                jx_time(s.secret_created_ms), "previous_valid_until",
                                jx_time(previous_until(&s, r.now_ms)));
        httpd_json_doc(resp, 200, out);
        json_decref(out);
    }
    tenant_settings_release(&s);
out:
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
    free(sealed);
    json_decref(doc);
}

/* ---- DELETE /v1/webhook/secret/previous */

static int end_overlap(struct tenant_settings *s, void *arg, char *errstr, size_t errstr_size)
{
    (void)arg;
    (void)errstr;
    (void)errstr_size;
    free(s->previous_enc);
    s->previous_enc = NULL;
    s->previous_until_ms = 0;
    return 0;
}

static void h_end_overlap(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                          const char *tenant)
{
    struct tenant_settings s;
    char errstr[256];
    (void)req;
    int rc = accounts_change(a->accounts, tenant, end_overlap, NULL, &s, errstr, sizeof(errstr));
    answer(resp, rc, &s, errstr);
    tenant_settings_release(&s);
}

const struct api_route api_webhook_routes[] = {
    {"GET", "/v1/webhook", "webhook", h_get, 0, NULL},
    {"PUT", "/v1/webhook", "webhook_put", h_put, 0, NULL},
    {"POST", "/v1/webhook/secret", "webhook_secret", h_secret, 0, NULL},
    {"DELETE", "/v1/webhook/secret/previous", "webhook_secret_previous", h_end_overlap, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
