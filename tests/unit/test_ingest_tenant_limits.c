/* ingest's limits (stages/ingest/tenant_limits.c) on the loads the status table
 * sums (table.c) and the day's credits the usage table adds up over the
 * aggregator's partitions (usage.c): FERRY_TENANT_LIMITS read or refused,
 * a submit admitted or answered 429 with Retry-After, holds between a
 * check and the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "httpd_int.h"
#include "jx.h"
#include "tenant_limits.h"
#include "table.h"
#include "usage.h"

/* 2026-11-22 12:00:00 UTC. */
#define NOON_MS 1795348800000LL

static void test_spec(void **state)
{
    (void)state;
    char err[256];
    long long items, credits;
    struct limits *l =
        limits_new(" acme:max_active_items=100:credits_per_day=50 , globex:credits_per_day=0,", err,
                   sizeof(err));
    assert_non_null(l);
    assert_int_equal(limits_count(l), 2);
    limits_of(l, "acme", &items, &credits);
    assert_int_equal(items, 100);
    assert_int_equal(credits, 50);
    limits_of(l, "globex", &items, &credits);
    assert_int_equal(items, LIMITS_NONE);
    assert_int_equal(credits, 0);
    limits_of(l, "initech", &items, &credits);
    assert_int_equal(items, LIMITS_NONE);
    assert_int_equal(credits, LIMITS_NONE);
    limits_free(l);

    l = limits_new(NULL, err, sizeof(err));
    assert_non_null(l);
    assert_int_equal(limits_count(l), 0);
    limits_free(l);

    const char *bad[] = {"acme:max_items=3",
                         "acme:credits_per_day=-1",
                         "acme:credits_per_day=1x",
                         "acme:credits_per_day",
                         "ac me:credits_per_day=1",
                         ":credits_per_day=1",
                         "acme:max_active_items=1,acme:credits_per_day=2",
                         "acme:credits_per_day=99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_null(limits_new(bad[i], err, sizeof(err)));
        assert_non_null(strstr(err, "FERRY_TENANT_LIMITS"));
    }
}

static void put_status(struct table *t, const char *id, const char *state, int total, int processed)
{
    char doc[512];
    snprintf(doc, sizeof(doc),
             "{\"id\":\"%s\",\"tenant\":\"acme\",\"status\":\"%s\",\"total\":%d,\"processed\":%d,"
             "\"started_at\":\"2026-11-22T12:00:00.000Z\",\"updated_at\":\"2026-11-22T12:00:10."
             "000Z\"}",
             id, state, total, processed);
    assert_int_equal(table_put_status(t, id, doc, strlen(doc), 0), 0);
}

static void put_usage(struct usage *u, int partition, long long credits)
{
    char rec[300];
    snprintf(rec, sizeof(rec),
             "{\"tenant\":\"acme\",\"date\":\"2026-11-22\",\"partition\":%d,\"batches\":1,"
             "\"items\":%lld,\"succeeded\":%lld,\"failed\":0,\"credits\":%lld,"
             "\"webhooks_delivered\":0,\"updated_at\":\"2026-11-22T12:00:00.000Z\"}",
             partition, credits, credits, credits);
    assert_int_equal(usage_put(u, rec, strlen(rec)), 0);
}

static void test_loads_and_usage(void **state)
{
    (void)state;
    struct table *t = table_new();
    struct usage *u = usage_new();
    struct table_load load;
    struct usage_counts c;

    put_status(t, "bat_a", "running", 100, 40);
    put_status(t, "bat_b", "queued", 10, 0);
    table_load(t, "acme", &load);
    assert_int_equal(load.active_items, 70);
    assert_int_equal(load.credits_reserved, 70);
    assert_true(load.items_per_s > 3.9 && load.items_per_s < 4.1); /* 40 in 10 s */
    put_status(t, "bat_a", "running", 100, 90);                    /* replaces, not adds */
    table_load(t, "acme", &load);
    assert_int_equal(load.active_items, 20);
    put_status(t, "bat_a", "completed", 100, 100);
    put_status(t, "bat_b", "cancelled", 10, 3);
    table_load(t, "acme", &load);
    assert_int_equal(load.active_items, 0);
    table_load(t, "globex", &load);
    assert_int_equal(load.active_items, 0);

    /* Cumulative rows: a partition's newer record replaces its older one,
     * partitions add up. */
    put_usage(u, 0, 5);
    put_usage(u, 1, 7);
    put_usage(u, 0, 9);
    usage_day(u, "acme", NOON_MS / 86400000, &c);
    assert_int_equal(c.credits, 16);
    assert_int_equal(c.batches, 2);
    usage_day(u, "acme", NOON_MS / 86400000 - 1, &c);
    assert_int_equal(c.credits, 0);
    assert_int_equal(usage_rows(u), 2);
    json_t *r = usage_report(u, "acme", NOON_MS / 86400000 - 2, NOON_MS / 86400000);
    assert_int_equal(json_array_size(json_object_get(r, "days")), 3);
    assert_string_equal(jx_str(json_array_get(json_object_get(r, "days"), 2), "date", ""),
                        "2026-11-22");
    assert_int_equal(jx_int(json_object_get(r, "total"), "credits", 0), 16);
    json_decref(r);
    usage_free(u);
    table_free(t);
}

static const char *header(const struct httpd_resp *resp, const char *name)
{
    static char v[64];
    const char *h = resp->headers.ptr ? strstr(resp->headers.ptr, name) : NULL;
    if (!h)
        return NULL;
    sscanf(h + strlen(name), ": %63[^\r]", v);
    return v;
}

static void test_admit(void **state)
{
    (void)state;
    char err[256];
    struct table *t = table_new();
    struct usage *u = usage_new();
    struct limits *l =
        limits_new("acme:max_active_items=100:credits_per_day=1000", err, sizeof(err));
    struct limits_hold h1, h2, h3;
    struct httpd_resp resp = {.headers = BUF_INIT(4096)};

    /* 70 active (running at 4 items/s): 30 more fit, 31 do not. */
    put_status(t, "bat_a", "running", 110, 40);
    resp = (struct httpd_resp){.headers = BUF_INIT(4096)};
    assert_int_equal(limits_admit(l, t, u, "acme", 30, 1, NOON_MS, &h1, &resp), 0);
    assert_int_equal(resp.status, 0);
    /* Held until released: now nothing fits. */
    assert_int_equal(limits_admit(l, t, u, "acme", 1, 1, NOON_MS, &h2, &resp), -1);
    assert_int_equal(resp.status, 429);
    assert_non_null(strstr(resp.body, "\"quota_exceeded\""));
    assert_non_null(strstr(resp.body, "\"max_active_items\""));
    /* 1 item over at 4 items/s: a second or two. */
    assert_in_range(atoi(header(&resp, "Retry-After")), 1, 2);
    free(resp.body);
    buf_release(&resp.headers);
    limits_release(l, &h1);
    resp = (struct httpd_resp){.headers = BUF_INIT(4096)};
    assert_int_equal(limits_admit(l, t, u, "acme", 30, 1, NOON_MS, &h1, &resp), 0);
    limits_release(l, &h1);
    /* Other tenants have no limit. */
    assert_int_equal(limits_admit(l, t, u, "globex", 1000000, 5, NOON_MS, &h3, &resp), 0);
    limits_release(l, &h3);

    /* Credits: 900 used today (two partitions) + 70 reserved. A rendered
     * batch of 21 items at 5 credits is past what is left of the day:
     * refused until midnight. */
    put_usage(u, 0, 400);
    put_usage(u, 1, 500);
    resp = (struct httpd_resp){.headers = BUF_INIT(4096)};
    assert_int_equal(limits_admit(l, t, u, "acme", 6, 1, NOON_MS, &h1, &resp), 0);
    limits_release(l, &h1);
    assert_int_equal(limits_admit(l, t, u, "acme", 21, 5, NOON_MS, &h2, &resp), -1);
    assert_int_equal(resp.status, 429);
    assert_non_null(strstr(resp.body, "\"credits_per_day\""));
    assert_int_equal(atoi(header(&resp, "Retry-After")), 12 * 3600);
    free(resp.body);
    buf_release(&resp.headers);
    /* 7 at 5 fits the day but not with the 70 reserved: the reservation
     * drains at the running batch's pace (4 credits/s), 5 over: 2 s. */
    resp = (struct httpd_resp){.headers = BUF_INIT(4096)};
    assert_int_equal(limits_admit(l, t, u, "acme", 7, 5, NOON_MS, &h2, &resp), -1);
    assert_int_equal(atoi(header(&resp, "Retry-After")), 2);
    free(resp.body);
    buf_release(&resp.headers);
    /* A batch larger than the limit itself never fits. */
    resp = (struct httpd_resp){.headers = BUF_INIT(4096)};
    assert_int_equal(limits_admit(l, t, u, "acme", 101, 1, NOON_MS, &h2, &resp), -1);
    assert_non_null(strstr(resp.body, "\"fits_never\":true"));
    free(resp.body);
    buf_release(&resp.headers);

    limits_free(l);
    usage_free(u);
    table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_loads_and_usage),
        cmocka_unit_test(test_admit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
