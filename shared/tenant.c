#include "tenant.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jx.h"
#include "schema.h"
#include "log.h"
#include "strmap.h"

#define RECORD_MAX_DEPTH 6

void tenant_secret_aad(const char *tenant, char out[TENANT_AAD_MAX])
{
    snprintf(out, TENANT_AAD_MAX, "tenant:%s", tenant);
}

static int bad(char *errstr, size_t errstr_size, const char *why)
{
    snprintf(errstr, errstr_size, "tenant record: %s", why);
    return -1;
}

/* An optional time member: 0 when absent or null, -1 when malformed. */
static int time_member(const json_t *obj, const char *key, int64_t *ms)
{
    const json_t *v = json_object_get(obj, key);
    *ms = 0;
    if (!v || json_is_null(v))
        return 0;
    return json_is_string(v) && clk_parse_iso8601(json_string_value(v), ms) == 0 ? 0 : -1;
}

static char *dup_sealed(const json_t *obj)
{
    const char *enc = jx_str(obj, "enc", NULL);
    return enc && strlen(enc) < TENANT_SEALED_MAX ? strdup(enc) : NULL;
}

int tenant_settings_parse(struct tenant_settings *s, const char *value, size_t len, char *errstr,
                          size_t errstr_size)
{
    char why[160];
    memset(s, 0, sizeof(*s));
    json_t *doc = jx_parse(value, len, RECORD_MAX_DEPTH, why, sizeof(why));
    int rc = -1;
    if (!json_is_object(doc)) {
        bad(errstr, errstr_size, doc ? "not an object" : why);
        goto out;
    }
    const json_t *wh = json_object_get(doc, "webhook"), *sec = json_object_get(doc, "secret"),
                 *prev = json_object_get(doc, "previous_secret");
    if (schema_check(jx_int(doc, SCHEMA_VERSION_KEY, 1), SCHEMA_TENANTS, errstr, errstr_size))
        goto out;
    if (time_member(doc, "updated_at", &s->updated_ms)) {
        bad(errstr, errstr_size, "updated_at is not a time");
        goto out;
    }
    if (json_is_object(wh)) {
        const char *url = jx_str(wh, "url", NULL);
        const json_t *ev = json_object_get(wh, "events");
        if (!url || !json_is_array(ev)) {
            bad(errstr, errstr_size, "webhook needs url and events");
            goto out;
        }
        s->url = strdup(url);
        s->events = json_deep_copy(ev);
    } else if (wh && !json_is_null(wh)) {
        bad(errstr, errstr_size, "webhook is neither an object nor null");
        goto out;
    }
    if (json_is_object(sec)) {
        if (!(s->secret_enc = dup_sealed(sec)) ||
            time_member(sec, "created_at", &s->secret_created_ms)) {
            bad(errstr, errstr_size, "secret needs enc and created_at");
            goto out;
        }
    } else if (sec && !json_is_null(sec)) {
        bad(errstr, errstr_size, "secret is neither an object nor null");
        goto out;
    }
    if (json_is_object(prev)) {
        if (!(s->previous_enc = dup_sealed(prev)) ||
            time_member(prev, "valid_until", &s->previous_until_ms)) {
            bad(errstr, errstr_size, "previous_secret needs enc and valid_until");
            goto out;
        }
    } else if (prev && !json_is_null(prev)) {
        bad(errstr, errstr_size, "previous_secret is neither an object nor null");
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

char *tenant_settings_json(const char *tenant, const struct tenant_settings *s, size_t *len)
{
    json_t *doc = json_object();
    json_object_set_new(doc, SCHEMA_VERSION_KEY, json_integer(SCHEMA_TENANTS));
    json_object_set_new(doc, "tenant", json_string(tenant));
    json_object_set_new(doc, "updated_at", jx_time(s->updated_ms));
    json_object_set_new(doc, "webhook",
                        s->url ? json_pack("{s:s,s:O}", "url", s->url, "events", s->events)
                               : json_null());
    json_object_set_new(doc, "secret",
                        s->secret_enc ? json_pack("{s:s,s:o}", "enc", s->secret_enc, "created_at",
                                                  jx_time(s->secret_created_ms))
                                      : json_null());
    json_object_set_new(doc, "previous_secret",
                        s->previous_enc ? json_pack("{s:s,s:o}", "enc", s->previous_enc,
                                                    "valid_until", jx_time(s->previous_until_ms))
                                        : json_null());
    char *out = jx_dump(doc, len);
    json_decref(doc);
    return out;
}

static int dup_or_null(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -1 : 0;
}

int tenant_settings_copy(struct tenant_settings *dst, const struct tenant_settings *src)
{
    *dst = *src;
    dst->events = src->events ? json_deep_copy(src->events) : NULL;
    int rc = dup_or_null(&dst->url, src->url) | dup_or_null(&dst->secret_enc, src->secret_enc) |
             dup_or_null(&dst->previous_enc, src->previous_enc);
    if (rc || (src->events && !dst->events)) {
        tenant_settings_release(dst);
        return -1;
    }
    return 0;
}

void tenant_settings_release(struct tenant_settings *s)
{
    free(s->url);
    json_decref(s->events);
    free(s->secret_enc);
    free(s->previous_enc);
    memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------ the table */

struct tenant_table {
    pthread_rwlock_t lock;
    struct strmap by_name; /* tenant -> struct tenant_settings (owned) */
};

struct tenant_table *tenant_table_new(void)
{
    struct tenant_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    pthread_rwlock_init(&t->lock, NULL);
    t->by_name = (struct strmap)STRMAP_INIT;
    return t;
}

static void settings_free(void *p)
{
    tenant_settings_release(p);
    free(p);
}

void tenant_table_free(struct tenant_table *t)
{
    if (!t)
        return;
    strmap_release(&t->by_name, settings_free);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

int tenant_table_apply(struct tenant_table *t, const char *tenant, const char *value, size_t len)
{
    struct tenant_settings *s = NULL, *old;
    char errstr[200];
    if (value && len) {
        if (!(s = calloc(1, sizeof(*s))))
            return -1;
        if (tenant_settings_parse(s, value, len, errstr, sizeof(errstr))) {
            settings_free(s);
            return -1;
        }
    }
    pthread_rwlock_wrlock(&t->lock);
    old = s ? strmap_put(&t->by_name, tenant, s, NULL) : strmap_remove(&t->by_name, tenant);
    pthread_rwlock_unlock(&t->lock);
    if (old)
        settings_free(old);
    return 0;
}

void tenant_table_follow(void *table, int topic, const rd_kafka_message_t *msg)
{
    char tenant[TENANT_NAME_MAX];
    (void)topic;
    if (!msg->key || msg->key_len == 0 || msg->key_len >= sizeof(tenant)) {
        LOG_WARN("bad_tenant_record", "partition=%d offset=%lld why=\"key\"", msg->partition,
                 (long long)msg->offset);
        return;
    }
    memcpy(tenant, msg->key, msg->key_len);
    tenant[msg->key_len] = '\0';
    if (tenant_table_apply(table, tenant, msg->payload, msg->len))
        LOG_WARN("bad_tenant_record", "partition=%d offset=%lld why=\"value\"", msg->partition,
                 (long long)msg->offset);
}

int tenant_table_get(struct tenant_table *t, const char *tenant, struct tenant_settings *out)
{
    int rc = -1;
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&t->lock);
    const struct tenant_settings *s = strmap_get(&t->by_name, tenant);
    if (s)
        rc = tenant_settings_copy(out, s);
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int tenant_table_secrets(struct tenant_table *t, const char *tenant, int64_t now_ms,
                         char cur[TENANT_SEALED_MAX], char prev[TENANT_SEALED_MAX])
{
    int n = 0;
    pthread_rwlock_rdlock(&t->lock);
    const struct tenant_settings *s = strmap_get(&t->by_name, tenant);
    if (s && s->secret_enc) {
        /* Both strings are shorter than TENANT_SEALED_MAX (dup_sealed). */
        strcpy(cur, s->secret_enc);
        n = 1;
        if (s->previous_enc && s->previous_until_ms > now_ms) {
            strcpy(prev, s->previous_enc);
            n = 2;
        }
    }
    pthread_rwlock_unlock(&t->lock);
    return n;
}

size_t tenant_table_count(struct tenant_table *t)
{
    pthread_rwlock_rdlock(&t->lock);
    size_t n = strmap_size(&t->by_name);
    pthread_rwlock_unlock(&t->lock);
    return n;
}
