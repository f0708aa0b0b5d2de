#include "tenant_limits.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "strmap.h"
#include "usagerec.h"

#define DAY_MS          86400000LL
#define RETRY_NO_PACE_S 10
#define RETRY_MAX_S     3600
#define LIMITS_SPEC_MAX 65536

struct limit {
    long long max_active_items, credits_per_day;
};

struct held {
    long long items, credits;
};

struct limits {
    struct strmap by_tenant; /* tenant -> struct limit (owned); read-only after limits_new */
    pthread_mutex_t lock;    /* admits one submit at a time, and guards `held` */
    struct strmap held;      /* tenant -> struct held (owned): admitted, not yet in the table */
};

/* One "tenant:key=N:key=N" entry (NUL-terminated, modified in place). */
static int parse_entry(struct limits *l, char *entry, char *errstr, size_t errstr_size)
{
    char *save = NULL, *tenant = strtok_r(entry, ":", &save);
    if (!tenant || !keys_valid_tenant(tenant, strlen(tenant))) {
        snprintf(errstr, errstr_size, "FERRY_TENANT_LIMITS: bad tenant name in \"%s\"",
                 tenant ? tenant : "");
        return -1;
    }
    if (strmap_has(&l->by_tenant, tenant)) {
        snprintf(errstr, errstr_size, "FERRY_TENANT_LIMITS: tenant %s listed twice", tenant);
        return -1;
    }
    struct limit *lim = malloc(sizeof(*lim));
    if (!lim) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    lim->max_active_items = lim->credits_per_day = LIMITS_NONE;
    strmap_put(&l->by_tenant, tenant, lim, NULL);
    for (char *kv; (kv = strtok_r(NULL, ":", &save));) {
        char *eq = strchr(kv, '='), *end = NULL;
        long long v = -1;
        if (eq) {
            *eq = '\0';
            errno = 0;
            v = strtoll(eq + 1, &end, 10);
        }
        if (!eq || errno || end == eq + 1 || *end || v < 0) {
            snprintf(errstr, errstr_size, "FERRY_TENANT_LIMITS: %s: \"%s\" is not key=N (N >= 0)",
                     tenant, kv);
            return -1;
        }
        if (strcmp(kv, "max_active_items") == 0)
            lim->max_active_items = v;
        else if (strcmp(kv, "credits_per_day") == 0)
            lim->credits_per_day = v;
        else {
            snprintf(errstr, errstr_size,
                     "FERRY_TENANT_LIMITS: %s: unknown limit \"%s\" (max_active_items, "
                     "credits_per_day)",
                     tenant, kv);
            return -1;
        }
    }
    return 0;
}

struct limits *limits_new(const char *spec, char *errstr, size_t errstr_size)
{
    struct limits *l = calloc(1, sizeof(*l));
    char *copy = NULL;
    if (!l || !(copy = strdup(spec ? spec : ""))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto err;
    }
    l->by_tenant = (struct strmap)STRMAP_INIT;
    l->held = (struct strmap)STRMAP_INIT;
    pthread_mutex_init(&l->lock, NULL);
    if (strlen(copy) > LIMITS_SPEC_MAX) {
        snprintf(errstr, errstr_size, "FERRY_TENANT_LIMITS: longer than %d bytes", LIMITS_SPEC_MAX);
        goto err;
    }
    char *save = NULL;
    for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*e))
            e++;
        for (size_t n = strlen(e); n && isspace((unsigned char)e[n - 1]); n--)
            e[n - 1] = '\0';
        if (*e && parse_entry(l, e, errstr, errstr_size))
            goto err;
    }
    free(copy);
    return l;
err:
    free(copy);
    limits_free(l);
    return NULL;
}

void limits_free(struct limits *l)
{
    if (!l)
        return;
    strmap_release(&l->by_tenant, free);
    strmap_release(&l->held, free);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void limits_of(const struct limits *l, const char *tenant, long long *max_active_items,
               long long *credits_per_day)
{
    const struct limit *lim = strmap_get(&l->by_tenant, tenant);
    *max_active_items = lim ? lim->max_active_items : LIMITS_NONE;
    *credits_per_day = lim ? lim->credits_per_day : LIMITS_NONE;
}

size_t limits_count(const struct limits *l)
{
    return strmap_size(&l->by_tenant);
}

/* Seconds for `surplus` to drain at `per_s`, within 1 .. RETRY_MAX_S. */
static long long drain_s(long long surplus, double per_s)
{
    if (per_s <= 0)
        return RETRY_NO_PACE_S;
    double s = (double)surplus / per_s + 1;
    return s < 1 ? 1 : s > RETRY_MAX_S ? RETRY_MAX_S : (long long)s;
}

static void refuse(struct httpd_resp *resp, const char *which, long long limit, long long in_use,
                   long long requested, long long retry_s)
{
    char msg[300], ra[24];
    int never = requested > limit;
    if (never)
        snprintf(msg, sizeof(msg),
                 "this batch alone needs %lld of %s, and the limit is %lld: split it", requested,
                 which, limit);
    else
        snprintf(msg, sizeof(msg),
                 "%s: %lld in use and %lld requested would pass the limit of %lld; retry after "
                 "%lld s",
                 which, in_use, requested, limit, retry_s);
    httpd_error(resp, 429, "quota_exceeded", msg,
                json_pack("{s:s,s:I,s:I,s:I,s:b}", "limit", which, "limit_value", (json_int_t)limit,
                          "in_use", (json_int_t)in_use, "requested", (json_int_t)requested,
                          "fits_never", never));
    snprintf(ra, sizeof(ra), "%lld", retry_s);
    httpd_resp_header(resp, "Retry-After", ra);
}

int limits_admit(struct limits *l, struct table *table, struct usage *usage, const char *tenant,
                 long long items, long long price, int64_t now_ms, struct limits_hold *hold,
                 struct httpd_resp *resp)
{
    long long max_items, max_credits;
    memset(hold, 0, sizeof(*hold));
    limits_of(l, tenant, &max_items, &max_credits);
    if (max_items == LIMITS_NONE && max_credits == LIMITS_NONE)
        return 0;
    long long credits = items * (price > 0 ? price : 0);
    struct table_load load;
    struct usage_counts today = {0};
    table_load(table, tenant, &load);
    if (max_credits != LIMITS_NONE)
        usage_day(usage, tenant, now_ms / DAY_MS, &today);

    int rc = 0;
    pthread_mutex_lock(&l->lock);
    struct held *h = strmap_get(&l->held, tenant);
    long long active = load.active_items + (h ? h->items : 0);
    long long reserved = load.credits_reserved + (h ? h->credits : 0);
    if (max_items != LIMITS_NONE && active + items > max_items) {
        refuse(resp, "max_active_items", max_items, active, items,
               drain_s(active + items - max_items, load.items_per_s));
        rc = -1;
    } else if (max_credits != LIMITS_NONE && today.credits + reserved + credits > max_credits) {
        long long to_midnight = (DAY_MS - now_ms % DAY_MS + 999) / 1000;
        long long retry =
            today.credits + credits > max_credits
                ? to_midnight
                : drain_s(today.credits + reserved + credits - max_credits, load.credits_per_s);
        refuse(resp, "credits_per_day", max_credits, today.credits + reserved, credits,
               retry < to_midnight ? retry : to_midnight);
        rc = -1;
    } else if (h || (h = calloc(1, sizeof(*h)))) {
        if (!strmap_has(&l->held, tenant))
            strmap_put(&l->held, tenant, h, NULL);
        h->items += items;
        h->credits += credits;
        snprintf(hold->tenant, sizeof(hold->tenant), "%s", tenant);
        hold->items = items;
        hold->credits = credits;
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

void limits_release(struct limits *l, struct limits_hold *hold)
{
    if (!l || (!hold->items && !hold->credits))
        return;
    pthread_mutex_lock(&l->lock);
    struct held *h = strmap_get(&l->held, hold->tenant);
    if (h) {
        h->items -= hold->items;
        h->credits -= hold->credits;
        if (h->items <= 0 && h->credits <= 0)
            free(strmap_remove(&l->held, hold->tenant));
    }
    pthread_mutex_unlock(&l->lock);
    memset(hold, 0, sizeof(*hold));
}
