/* ingest's status table (stages/ingest/table.c): tenant stripped and
 * isolated, queued never overrides a newer document, webhook attempts
 * folded in, bounded attempt log, tombstones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"
#include "table.h"

#define ID "bat_01M816TZ7MSG7GBE1TYYCV6RYZ"

static const char *status(const char *state)
{
    static char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"id\":\"" ID "\",\"tenant\":\"acme\",\"status\":\"%s\",\"total\":2,"
             "\"webhook\":{\"url\":\"https://h\",\"events\":[\"batch.completed\"]}}",
             state);
    return buf;
}

static json_t *get(struct table *t, const char *tenant)
{
    return table_get_json(t, ID, tenant);
}

static void put_attempt(struct table *t, int n, const char *outcome, const char *error)
{
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"delivery_id\":\"dlv_1\",\"batch_id\":\"" ID "\",\"tenant\":\"acme\","
             "\"event\":\"batch.completed\",\"attempt\":%d,\"at\":\"t%d\",\"outcome\":\"%s\","
             "\"error\":%s,\"task\":{\"topic\":\"w\",\"partition\":1,\"offset\":%d}}",
             n, n, outcome, error, 40 + n);
    assert_int_equal(table_put_attempt(t, buf, strlen(buf)), 0);
}

static void test_status_and_tenants(void **state)
{
    struct table *t = table_new();
    (void)state;
    assert_null(get(t, "acme"));
    const char *q = status("queued");
    assert_int_equal(table_put_status(t, ID, q, strlen(q), 1), 0);
    json_t *d = get(t, "acme");
    assert_string_equal(jx_str(d, "status", ""), "queued");
    assert_null(json_object_get(d, "tenant"));
    assert_string_equal(jx_str(json_object_get(d, "webhook"), "status", ""), "pending");
    json_decref(d);
    assert_null(get(t, "globex"));

    const char *r = status("running");
    table_put_status(t, ID, r, strlen(r), 0);
    table_put_status(t, ID, q, strlen(q), 1); /* our own queued, late: ignored */
    d = get(t, "acme");
    assert_string_equal(jx_str(d, "status", ""), "running");
    json_decref(d);
    assert_int_equal(table_count(t), 1);
    assert_int_equal(table_put_status(t, ID, "nope", 4, 0), -1);

    table_put_status(t, ID, NULL, 0, 0); /* tombstone */
    assert_null(get(t, "acme"));
    assert_int_equal(table_count(t), 0);
    table_free(t);
}

static void test_attempts_fold(void **state)
{
    struct table *t = table_new();
    struct table_task task;
    long long total;
    (void)state;
    /* Attempts may be read before the status (two topics): kept, not served. */
    put_attempt(t, 1, "retrying", "\"http 500\"");
    assert_int_equal(table_task(t, ID, "acme", &task), -1);
    const char *c = status("completed");
    table_put_status(t, ID, c, strlen(c), 0);
    json_t *d = get(t, "acme");
    json_t *wh = json_object_get(d, "webhook");
    assert_string_equal(jx_str(wh, "status", ""), "retrying");
    assert_string_equal(jx_str(wh, "last_error", ""), "http 500");
    json_decref(d);

    put_attempt(t, 2, "delivered", "null");
    d = get(t, "acme");
    wh = json_object_get(d, "webhook");
    assert_string_equal(jx_str(wh, "status", ""), "delivered");
    assert_string_equal(jx_str(wh, "delivered_at", ""), "t2");
    assert_int_equal(jx_int(wh, "attempts", 0), 2);
    json_decref(d);
    assert_int_equal(table_task(t, ID, "acme", &task), 0);
    assert_int_equal(task.offset, 42);
    assert_string_equal(task.delivery_id, "dlv_1");
    assert_int_equal(table_task(t, ID, "globex", &task), -1);

    for (int i = 3; i < 3 + 2 * TABLE_ATTEMPTS_KEPT; i++)
        put_attempt(t, i, "dead", "\"gone\"");
    json_t *list = table_attempts(t, ID, "acme", &total);
    assert_int_equal(total, 2 + 2 * TABLE_ATTEMPTS_KEPT);
    assert_int_equal(json_array_size(list), TABLE_ATTEMPTS_KEPT);
    /* Oldest kept first, newest last, without the tenant. */
    assert_int_equal(jx_int(json_array_get(list, TABLE_ATTEMPTS_KEPT - 1), "attempt", 0),
                     2 + 2 * TABLE_ATTEMPTS_KEPT);
    assert_null(json_object_get(json_array_get(list, 0), "tenant"));
    json_decref(list);
    d = get(t, "acme");
    assert_string_equal(jx_str(json_object_get(d, "webhook"), "status", ""), "failed");
    json_decref(d);
    assert_null(table_attempts(t, ID, "globex", &total));
    table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_tenants),
        cmocka_unit_test(test_attempts_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
