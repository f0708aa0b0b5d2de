#include "schedule.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ids.h"
#include "jx.h"
#include "schema.h"

#define SCHED_MAX_DEPTH (SUBMISSION_MAX_DEPTH + 2)

__attribute__((format(printf, 4, 5))) static int refuse(struct submission_err *err, int status,
                                                        const char *field, const char *fmt, ...)
{
    va_list ap;
    memset(err, 0, sizeof(*err));
    err->status = status;
    err->index = -1;
    snprintf(err->code, sizeof(err->code), "%s",
             status == 400   ? "invalid_json"
             : status == 422 ? "invalid_field"
                             : "internal");
    snprintf(err->field, sizeof(err->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void sched_release(struct sched *s)
{
    free(s->name);
    json_decref(s->template);
    free(s->secret_enc);
    memset(s, 0, sizeof(*s));
}

/* Copies what a PATCH leaves alone (everything, to start with). */
static int sched_copy(struct sched *s, const struct sched *old)
{
    *s = *old;
    s->name = old->name ? strdup(old->name) : NULL;
    s->template = old->template ? json_deep_copy(old->template) : NULL;
    s->secret_enc = old->secret_enc ? strdup(old->secret_enc) : NULL;
    return (old->name && !s->name) || (old->template && !s->template) ||
                   (old->secret_enc && !s->secret_enc)
               ? -1
               : 0;
}

static int set_cron(struct sched *s, const json_t *v, struct submission_err *err)
{
    char why[200];
    if (!json_is_string(v) || json_string_length(v) >= CRON_EXPR_MAX)
        return refuse(err, 422, "cron", "cron: must be a five-field cron expression (a string)");
    if (cron_parse(&s->cron, json_string_value(v), why, sizeof(why)))
        return refuse(err, 422, "cron", "cron: %s", why);
    snprintf(s->cron_text, sizeof(s->cron_text), "%s", json_string_value(v));
    return 0;
}

static int set_timezone(struct sched *s, const json_t *v, struct submission_err *err)
{
    char why[200];
    if (!json_is_string(v) || json_string_length(v) >= TZ_NAME_MAX)
        return refuse(err, 422, "timezone", "timezone: must be an IANA time zone name");
    if (!(s->tz = tz_get(json_string_value(v), why, sizeof(why))))
        return refuse(err, 422, "timezone", "timezone: %s", why);
    return 0;
}

static int set_catch_up(struct sched *s, const json_t *v, struct submission_err *err)
{
    const char *c = json_string_value(v);
    if (c && strcmp(c, "one") == 0)
        s->catch_up = AGENDA_CATCH_UP_ONE;
    else if (c && strcmp(c, "none") == 0)
        s->catch_up = AGENDA_CATCH_UP_NONE;
    else
        return refuse(err, 422, "catch_up", "catch_up: must be \"one\" or \"none\"");
    return 0;
}

static int set_flag(int *out, const json_t *v, const char *field, struct submission_err *err)
{
    if (!json_is_boolean(v))
        return refuse(err, 422, field, "%s: must be true or false", field);
    *out = json_is_true(v);
    return 0;
}

static int set_name(struct sched *s, const json_t *v, struct submission_err *err)
{
    free(s->name);
    s->name = NULL;
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > SCHED_NAME_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return refuse(err, 422, "name", "name: must be a string of at most %d bytes",
                      SCHED_NAME_MAX);
    s->name = strdup(json_string_value(v));
    return s->name ? 0 : refuse(err, 500, "", "out of memory");
}

/* Checks a template by submitting it on paper: the submit's parser, with
 * its errors under "batch.". Takes the template's webhook secret out (or
 * makes one) and seals it to the schedule. */
static int set_template(struct sched *s, const json_t *v, enum sched_kind kind,
                        const struct sched *old, const struct sched_env *env, char **secret_shown,
                        struct submission_err *err)
{
    const char *field = kind == SCHED_KIND_CRAWL ? "crawl" : "batch";
    struct submission b;
    struct submission_limits lim = *env->lim;
    char *text = NULL;
    int rc = -1;
    memset(&b, 0, sizeof(b));
    if (kind == SCHED_KIND_CRAWL)
        return refuse(err, 422, "crawl",
                      "crawl: this server has no crawls yet (POST /v1/crawl); use batch");
    if (!json_is_object(v))
        return refuse(err, 422, field, "%s: must be an object (a submit body)", field);
    json_t *t = json_deep_copy(v);
    json_t *secret = t ? json_object_get(t, "webhook_secret") : NULL;
    char *given = json_is_string(secret) ? strdup(json_string_value(secret)) : NULL;
    if (!t || (json_is_string(secret) && !given)) {
        refuse(err, 500, "", "out of memory");
        goto out;
    }
    text = jx_dump(t, NULL);
    lim.schedule_template = 1;
    if (!text || submission_parse(&b, text, strlen(text), 0, s->tenant, &lim, err)) {
        if (!text) {
            refuse(err, 500, "", "out of memory");
        } else if (err->status == 422 || err->status == 400) {
            /* Named under the template, as the client wrote it. */
            char f[sizeof(err->field)], m[sizeof(err->message)];
            snprintf(f, sizeof(f), "%s%s%.80s", field, err->field[0] ? "." : "", err->field);
            snprintf(m, sizeof(m), "%s.%.400s", field, err->message);
            snprintf(err->field, sizeof(err->field), "%s", f);
            snprintf(err->message, sizeof(err->message), "%s", m);
            err->status = 422;
            snprintf(err->code, sizeof(err->code), "invalid_field");
        }
        goto out;
    }
    json_decref(s->template);
    s->template = json_deep_copy(b.root);
    json_object_del(s->template, "webhook_secret");
    json_object_set(s->template, "webhook_events", b.events ? b.events : json_null());
    if (!b.webhook_url) {
        json_object_del(s->template, "webhook_events");
        free(s->secret_enc);
        s->secret_enc = NULL;
        rc = 0;
        goto out;
    }
    if (!env->sb) {
        refuse(err, 503, "",
               "this server has no FERRY_SECRET_KEY, so it cannot keep webhook "
               "secrets");
        snprintf(err->code, sizeof(err->code), "webhooks_unavailable");
        goto out;
    }
    if (!given && old && old->secret_enc) {
        rc = 0; /* the secret it had stays */
        goto out;
    }
    free(s->secret_enc);
    s->secret_enc = secretbox_seal(env->sb, b.secret, strlen(b.secret), s->id);
    if (!s->secret_enc) {
        refuse(err, 500, "", "could not seal the webhook secret");
        goto out;
    }
    if (b.secret_generated && !(*secret_shown = strdup(b.secret))) {
        refuse(err, 500, "", "out of memory");
        goto out;
    }
    rc = 0;
out:
    submission_release(&b);
    json_decref(t);
    wipe_free(given);
    free(text);
    return rc;
}

/* Applies every member of body; `old` NULL for a creation. */
static int apply(struct sched *s, const json_t *body, const struct sched *old,
                 const struct sched_env *env, char **secret_shown, struct submission_err *err)
{
    const char *k;
    json_t *v;
    int timing = 0, was_paused = s->paused;
    const json_t *batch = json_object_get(body, "batch"), *crawl = json_object_get(body, "crawl");
    if (batch && crawl)
        return refuse(err, 422, "crawl", "crawl: a schedule runs a batch or a crawl, not both");
    json_object_foreach((json_t *)body, k, v)
    {
        int rc = 0;
        if (strcmp(k, "cron") == 0) {
            rc = set_cron(s, v, err);
            timing |= !old || strcmp(old->cron_text, s->cron_text) != 0;
        } else if (strcmp(k, "timezone") == 0) {
            rc = set_timezone(s, v, err);
            timing |= !old || old->tz != s->tz;
        } else if (strcmp(k, "catch_up") == 0) {
            rc = set_catch_up(s, v, err);
        } else if (strcmp(k, "paused") == 0) {
            rc = set_flag(&s->paused, v, "paused", err);
        } else if (strcmp(k, "track_changes") == 0) {
            rc = set_flag(&s->track_changes, v, "track_changes", err);
        } else if (strcmp(k, "name") == 0) {
            rc = set_name(s, v, err);
        } else if (strcmp(k, "batch") == 0 || strcmp(k, "crawl") == 0) {
            s->kind = strcmp(k, "crawl") == 0 ? SCHED_KIND_CRAWL : SCHED_KIND_BATCH;
            rc = set_template(s, v, s->kind, old, env, secret_shown, err);
        } else {
            char field[64];
            snprintf(field, sizeof(field), "%.60s", k);
            rc = refuse(err, 422, field,
                        "%s: unknown field (name, cron, timezone, batch, crawl, catch_up, paused, "
                        "track_changes)",
                        field);
        }
        if (rc)
            return -1;
    }
    if (!s->cron_text[0])
        return refuse(err, 422, "cron", "cron: is required");
    if (!s->template)
        return refuse(err, 422, "batch", "batch: is required (the submit body each run sends)");
    s->updated_ms = env->now_ms;
    /* Slots of an old expression, or of a pause, are neither run nor
     * caught up. */
    if (timing || (was_paused && !s->paused))
        s->since_ms = env->now_ms;
    return 0;
}

static json_t *parse_body(const char *body, size_t len, struct submission_err *err)
{
    char why[200];
    json_t *root = jx_parse(body, len, SCHED_MAX_DEPTH, why, sizeof(why));
    if (!root)
        refuse(err, 400, "", "the body is not valid JSON: %s", why);
    else if (!json_is_object(root)) {
        refuse(err, 400, "", "the body must be a JSON object");
        json_decref(root);
        root = NULL;
    }
    return root;
}

int sched_create(struct sched *s, const char *body, size_t len, const char *tenant,
                 const struct sched_env *env, char **secret_shown, struct submission_err *err)
{
    memset(s, 0, sizeof(*s));
    *secret_shown = NULL;
    json_t *root = parse_body(body, len, err);
    if (!root)
        return -1;
    snprintf(s->tenant, sizeof(s->tenant), "%s", tenant);
    s->created_ms = s->since_ms = env->now_ms;
    s->catch_up = AGENDA_CATCH_UP_ONE;
    int rc = ids_new("sch", s->id, sizeof(s->id)) ? refuse(err, 500, "", "no randomness for an id")
             : !(s->tz = tz_get("UTC", err->message, sizeof(err->message)))
                 ? refuse(err, 500, "", "no UTC zone in the tz database")
                 : apply(s, root, NULL, env, secret_shown, err);
    json_decref(root);
    if (rc) {
        wipe_free(*secret_shown);
        *secret_shown = NULL;
    }
    return rc;
}

int sched_patch(struct sched *s, const struct sched *old, const char *body, size_t len,
                const struct sched_env *env, char **secret_shown, struct submission_err *err)
{
    memset(s, 0, sizeof(*s));
    *secret_shown = NULL;
    json_t *root = parse_body(body, len, err);
    if (!root)
        return -1;
    int rc = sched_copy(s, old) ? refuse(err, 500, "", "out of memory")
                                : apply(s, root, old, env, secret_shown, err);
    json_decref(root);
    if (rc) {
        wipe_free(*secret_shown);
        *secret_shown = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------ records */

static json_t *iso(int64_t ms)
{
    char buf[CLK_ISO_LEN];
    clk_iso8601(ms, buf);
    return json_string(buf);
}

static const char *catch_up_name(enum agenda_catch_up c)
{
    return c == AGENDA_CATCH_UP_NONE ? "none" : "one";
}

char *sched_record(const struct sched *s)
{
    json_t *d = json_object();
    json_object_set_new(d, SCHEMA_VERSION_KEY, json_integer(SCHEMA_SCHEDULES));
    json_object_set_new(d, "id", json_string(s->id));
    json_object_set_new(d, "tenant", json_string(s->tenant));
    json_object_set_new(d, "name", s->name ? json_string(s->name) : json_null());
    json_object_set_new(d, "cron", json_string(s->cron_text));
    json_object_set_new(d, "timezone", json_string(tz_name(s->tz)));
    json_object_set_new(d, "kind", json_string(s->kind == SCHED_KIND_CRAWL ? "crawl" : "batch"));
    json_object_set(d, "template", s->template);
    json_object_set_new(d, "secret_enc", s->secret_enc ? json_string(s->secret_enc) : json_null());
    json_object_set_new(d, "catch_up", json_string(catch_up_name(s->catch_up)));
    json_object_set_new(d, "paused", json_boolean(s->paused));
    json_object_set_new(d, "track_changes", json_boolean(s->track_changes));
    json_object_set_new(d, "created_at", iso(s->created_ms));
    json_object_set_new(d, "updated_at", iso(s->updated_ms));
    json_object_set_new(d, "since", iso(s->since_ms));
    char *text = jx_dump(d, NULL);
    json_decref(d);
    return text;
}

static int time_of(const json_t *d, const char *key, int64_t *out)
{
    return clk_parse_iso8601(jx_str(d, key, ""), out);
}

int sched_load(struct sched *s, const char *id, const char *value, size_t len, char *errstr,
               size_t errstr_size)
{
    char why[200];
    const char *bad = NULL;
    memset(s, 0, sizeof(*s));
    json_t *d = jx_parse(value, len, SCHED_MAX_DEPTH, why, sizeof(why));
    if (!d) {
        snprintf(errstr, errstr_size, "not JSON: %s", why);
        return -1;
    }
    const char *kind = jx_str(d, "kind", "");
    const json_t *t = json_object_get(d, "template");
    if (schema_check(schema_version_or_v(d), SCHEMA_SCHEDULES, why, sizeof(why)))
        bad = why;
    else if (strcmp(jx_str(d, "id", ""), id) != 0 || !ids_valid("sch", id))
        bad = "id: not the key";
    else if (snprintf(s->id, sizeof(s->id), "%s", id) < 0 ||
             snprintf(s->tenant, sizeof(s->tenant), "%s", jx_str(d, "tenant", "")) < 1)
        bad = "tenant: missing";
    else if (cron_parse(&s->cron, jx_str(d, "cron", ""), why, sizeof(why)))
        bad = "cron: not an expression";
    else if (!(s->tz = tz_get(jx_str(d, "timezone", ""), why, sizeof(why))))
        bad = "timezone: unknown";
    else if (strcmp(kind, "batch") && strcmp(kind, "crawl"))
        bad = "kind: neither batch nor crawl";
    else if (!json_is_object(t))
        bad = "template: not an object";
    else if (time_of(d, "created_at", &s->created_ms) || time_of(d, "updated_at", &s->updated_ms) ||
             time_of(d, "since", &s->since_ms))
        bad = "created_at, updated_at, since: not times";
    if (bad) {
        snprintf(errstr, errstr_size, "%s", bad);
        json_decref(d);
        return -1;
    }
    snprintf(s->cron_text, sizeof(s->cron_text), "%s", jx_str(d, "cron", ""));
    s->kind = strcmp(kind, "crawl") == 0 ? SCHED_KIND_CRAWL : SCHED_KIND_BATCH;
    s->template = json_incref((json_t *)t);
    const char *name = jx_str(d, "name", NULL), *sealed = jx_str(d, "secret_enc", NULL);
    s->name = name ? strdup(name) : NULL;
    s->secret_enc = sealed ? strdup(sealed) : NULL;
    s->catch_up =
        strcmp(jx_str(d, "catch_up", ""), "none") == 0 ? AGENDA_CATCH_UP_NONE : AGENDA_CATCH_UP_ONE;
    s->paused = jx_bool(d, "paused", 0);
    s->track_changes = jx_bool(d, "track_changes", 0);
    json_decref(d);
    return 0;
}

json_t *sched_doc(const struct sched *s, int64_t next_ms)
{
    json_t *d = json_object();
    json_object_set_new(d, "id", json_string(s->id));
    json_object_set_new(d, "name", s->name ? json_string(s->name) : json_null());
    json_object_set_new(d, "cron", json_string(s->cron_text));
    json_object_set_new(d, "timezone", json_string(tz_name(s->tz)));
    json_object_set(d, s->kind == SCHED_KIND_CRAWL ? "crawl" : "batch", s->template);
    json_object_set_new(d, "catch_up", json_string(catch_up_name(s->catch_up)));
    json_object_set_new(d, "paused", json_boolean(s->paused));
    json_object_set_new(d, "track_changes", json_boolean(s->track_changes));
    json_object_set_new(d, "created_at", iso(s->created_ms));
    json_object_set_new(d, "updated_at", iso(s->updated_ms));
    json_object_set_new(d, "next_run_at", next_ms == AGENDA_NONE ? json_null() : iso(next_ms));
    return d;
}

void sched_rule(const struct sched *s, struct agenda_rule *r)
{
    r->cron = s->cron;
    r->tz = s->tz;
    r->catch_up = s->catch_up;
}

int64_t sched_next_run(const struct sched *s, const struct agenda_clock *k, int64_t done_ms,
                       int64_t now_ms)
{
    struct agenda_rule r;
    if (s->paused)
        return AGENDA_NONE;
    sched_rule(s, &r);
    int64_t from = done_ms > s->since_ms ? done_ms : s->since_ms;
    int64_t next = agenda_next(&r, k, from);
    if (next != AGENDA_NONE && next < now_ms - k->misfire_ms)
        /* Missed: caught up at once, or skipped to the next one due. */
        next = s->catch_up == AGENDA_CATCH_UP_ONE ? now_ms
                                                  : agenda_next(&r, k, now_ms - k->misfire_ms);
    return next;
}
