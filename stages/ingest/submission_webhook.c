/* submission_webhook.c: a submit's webhook: its URL (public unless development settings allow a
 * private one), its events, its secret (given, generated once, or the tenant's), and the tenant's
 * default webhook for a batch that names none. */
#include "submission.h"
#include "submission_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssrf.h"
#include "url.h"
#include "whsig.h"
#include "words.h"

#define SECRET_MIN 16
#define SECRET_MAX 1024

int submission_webhook_url(json_t *url, const struct submission_limits *lim, const char *field,
                           struct submission_err *err)
{
    if (submission_check_url(err, url, lim->allow_http_webhook ? 0 : URL_HTTPS_ONLY, field, -1))
        return -1;
    char host[256], why[300];
    if (!lim->allow_private_webhook && url_host(json_string_value(url), host, sizeof(host)) == 0 &&
        ssrf_host_refused(host, lim->resolve_timeout_ms, why, sizeof(why))) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "must reach a public address (%s); FERRY_ALLOW_PRIVATE_NETWORKS=1 allows it in "
                 "development",
                 why);
        return submission_bad_field(err, field, -1, msg);
    }
    return 0;
}

json_t *submission_webhook_events(const json_t *events, const char *field, int schedule_template,
                                  struct submission_err *err)
{
    json_t *out = json_array(), *v;
    size_t i;
    if (!events || json_is_null(events)) {
        /* A schedule's runs end with schedule.run (schedule.h). */
        for (int e = 0; e < EVENT__COUNT; e++)
            if (schedule_template ? e == EVENT_SCHEDULE_RUN : event_is_default((enum event)e))
                json_array_append_new(out, json_string(event_name((enum event)e)));
        return out;
    }
    if (!json_is_array(events) || json_array_size(events) == 0) {
        submission_bad_field(err, field, -1, "must be a non-empty array");
        goto fail;
    }
    json_array_foreach(events, i, v)
    {
        char name[64], msg[200];
        snprintf(name, sizeof(name), "%.40s[%zu]", field, i);
        enum event e = json_is_string(v) ? event_parse(json_string_value(v), json_string_length(v))
                                         : EVENT_UNKNOWN;
        if (e == EVENT_UNKNOWN) {
            snprintf(msg, sizeof(msg), "unknown event (%s)", event_list());
            submission_bad_field(err, name, -1, msg);
            goto fail;
        }
        if (e == EVENT_SCHEDULE_RUN && !schedule_template) {
            submission_bad_field(err, name, -1,
                                 "only a schedule's runs send schedule.run (POST /v1/schedules)");
            goto fail;
        }
        json_array_append(out, v);
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* A generated per-batch secret, shown once in the 202 answer. */
static int generate_secret(struct submission *b, struct submission_err *err)
{
    if (!(b->secret = whsig_secret_new()))
        return submission_fail(err, 500, "internal", -1, "no randomness for a webhook secret");
    b->secret_generated = 1;
    return 0;
}

int submission_check_webhook(struct submission *b, const struct submission_limits *lim,
                             struct submission_err *err)
{
    json_t *url = json_object_get(b->root, "webhook_url");
    json_t *secret = json_object_get(b->root, "webhook_secret");
    json_t *events = json_object_get(b->root, "webhook_events");

    if (!url || json_is_null(url)) {
        if ((secret && !json_is_null(secret)) || (events && !json_is_null(events)))
            return submission_bad_field(
                err, secret && !json_is_null(secret) ? "webhook_secret" : "webhook_events", -1,
                "needs webhook_url");
        return 0;
    }
    if (submission_webhook_url(url, lim, "webhook_url", err))
        return -1;
    b->webhook_url = json_string_value(url);
    if (!(b->events =
              submission_webhook_events(events, "webhook_events", lim->schedule_template, err)))
        return -1;

    if (secret && !json_is_null(secret)) {
        if (!json_is_string(secret))
            return submission_bad_field(err, "webhook_secret", -1, "must be a string");
        size_t len = json_string_length(secret);
        if (len < SECRET_MIN)
            return submission_bad_field(err, "webhook_secret", -1, "must be at least 16 bytes");
        if (len > SECRET_MAX || strlen(json_string_value(secret)) != len)
            return submission_bad_field(err, "webhook_secret", -1,
                                        "must be at most 1024 bytes, without NUL bytes");
        b->secret = strdup(json_string_value(secret));
        return b->secret ? 0 : submission_fail(err, 500, "internal", -1, "out of memory");
    }
    return generate_secret(b, err);
}

int submission_apply_tenant(struct submission *b, const struct submission_tenant *t,
                            struct submission_err *err)
{
    if (!b->webhook_url && t->webhook_url) {
        json_t *url = json_string(t->webhook_url);
        if (!url || !(b->events = json_deep_copy(t->events))) {
            json_decref(url);
            return submission_fail(err, 500, "internal", -1, "out of memory");
        }
        json_object_set_new(b->root, "webhook_url", url);
        b->webhook_url = json_string_value(url);
    }
    if (!b->webhook_url || (b->secret && !b->secret_generated))
        return 0; /* no webhook, or a secret of its own */
    if (t->has_secret) {
        if (b->secret) {
            OPENSSL_cleanse(b->secret, strlen(b->secret));
            free(b->secret);
            b->secret = NULL;
        }
        b->secret_generated = 0;
        b->tenant_secret = 1;
        return 0;
    }
    return b->secret ? 0 : generate_secret(b, err);
}
