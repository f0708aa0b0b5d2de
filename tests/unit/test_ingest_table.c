/* ingest's status table (stages/ingest/table.c): tenant stripped and
 * isolated, queued never overrides a newer document, webhook attempts
 * folded in, bounded attempt log, tombstones, and the per-tenant listing
 * (newest first, pages, filters, 10,000 batches). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"
#include "follow.h"
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
    char tenant[64];
    json_t *a = follow_attempt_parse(buf, strlen(buf), tenant, sizeof(tenant));
    assert_non_null(a);
    assert_string_equal(tenant, "acme");
    assert_int_equal(table_put_attempt(t, a), 0);
    json_decref(a);
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

/* A status document of batch number n of `tenant`, created at n seconds. */
static void put_doc(struct table *t, const char *tenant, int n, const char *state, const char *kind,
                    char id[32])
{
    char doc[512];
    snprintf(id, 32, "bat_01M8%022d", n);
    snprintf(doc, sizeof(doc),
             "{\"id\":\"%s\",\"tenant\":\"%s\",\"kind\":\"%s\",\"status\":\"%s\","
             "\"created_at\":\"2026-11-22T%02d:%02d:%02d.000Z\",\"webhook\":null}",
             id, tenant, kind, state, n / 3600, n / 60 % 60, n % 60);
    assert_int_equal(table_put_status(t, id, doc, strlen(doc), 0), 0);
}

/* Every id of a walk through the pages, newest first. */
static json_t *walk(struct table *t, const char *tenant, struct table_page_query q, int *pages)
{
    char next[TABLE_CURSOR_MAX], cursor[TABLE_CURSOR_MAX];
    json_t *ids = json_array();
    *pages = 0;
    for (;;) {
        struct buf out = BUF_INIT(BUF_NO_MAX);
        buf_addc(&out, '[');
        assert_int_equal(table_page(t, tenant, &q, &out, next), 0);
        buf_addc(&out, ']');
        json_t *page = json_loads(buf_str(&out), 0, NULL);
        assert_non_null(page);
        assert_true((int)json_array_size(page) <= q.limit);
        for (size_t i = 0; i < json_array_size(page); i++)
            json_array_append(ids, json_object_get(json_array_get(page, i), "id"));
        json_decref(page);
        buf_release(&out);
        (*pages)++;
        if (!next[0])
            return ids;
        snprintf(cursor, sizeof(cursor), "%s", next);
        q.cursor = cursor;
    }
}

static void test_listing(void **state)
{
    (void)state;
    struct table *t = table_new();
    char id[32], kept[8][32];
    int pages;
    /* Out of order on purpose: the list sorts by created_at. */
    static const int order[] = {3, 0, 7, 1, 6, 2, 5, 4};
    for (int i = 0; i < 8; i++) {
        put_doc(t, "acme", order[i], order[i] % 2 ? "completed" : "running",
                order[i] == 5 ? "crawl" : "batch", id);
        snprintf(kept[order[i]], 32, "%s", id);
    }
    put_doc(t, "globex", 100, "running", "batch", id);

    json_t *all = walk(t, "acme", (struct table_page_query){NULL, NULL, 3, NULL}, &pages);
    assert_int_equal(json_array_size(all), 8);
    assert_int_equal(pages, 3);
    for (int i = 0; i < 8; i++)
        assert_string_equal(json_string_value(json_array_get(all, (size_t)i)), kept[7 - i]);
    json_decref(all);

    json_t *done = walk(t, "acme", (struct table_page_query){"completed", NULL, 2, NULL}, &pages);
    assert_int_equal(json_array_size(done), 4); /* 7, 5, 3, 1 */
    assert_string_equal(json_string_value(json_array_get(done, 0)), kept[7]);
    assert_int_equal(pages, 2);
    json_decref(done);
    json_t *crawls = walk(t, "acme", (struct table_page_query){NULL, "crawl", 10, NULL}, &pages);
    assert_int_equal(json_array_size(crawls), 1);
    json_decref(crawls);
    json_t *none = walk(t, "nobody", (struct table_page_query){NULL, NULL, 10, NULL}, &pages);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);

    /* Gone (a tombstone), or a state moving on: the list follows. */
    table_put_status(t, kept[7], NULL, 0, 0);
    put_doc(t, "acme", 6, "completed", "batch", id);
    json_t *after = walk(t, "acme", (struct table_page_query){"completed", NULL, 10, NULL}, &pages);
    assert_int_equal(json_array_size(after), 4); /* 6, 5, 3, 1 */
    assert_string_equal(json_string_value(json_array_get(after, 0)), kept[6]);
    json_decref(after);

    struct buf out = BUF_INIT(BUF_NO_MAX);
    char next[TABLE_CURSOR_MAX];
    static const char *const bad[] = {"x", "12", "12.", ".bat_1", "12.bat 1", "12.bat\"1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(
            table_page(t, "acme", &(struct table_page_query){NULL, NULL, 5, bad[i]}, &out, next),
            -1);
    buf_release(&out);
    table_free(t);
}

/* 10,000 batches of one tenant among others': every page is a walk down an
 * array from a binary search, and the walk sees each batch exactly once. */
static void test_listing_many(void **state)
{
    (void)state;
    struct table *t = table_new();
    char id[32];
    int pages;
    for (int i = 0; i < 10000; i++) {
        put_doc(t, "acme", i, i % 10 == 0 ? "failed" : "completed", "batch", id);
        if (i % 100 == 0)
            put_doc(t, "globex", 20000 + i, "completed", "batch", id);
    }
    json_t *all = walk(t, "acme", (struct table_page_query){NULL, NULL, 100, NULL}, &pages);
    assert_int_equal(json_array_size(all), 10000);
    assert_int_equal(pages, 100);
    for (size_t i = 1; i < json_array_size(all); i++)
        assert_true(strcmp(json_string_value(json_array_get(all, i - 1)),
                           json_string_value(json_array_get(all, i))) > 0);
    json_decref(all);
    json_t *failed = walk(t, "acme", (struct table_page_query){"failed", NULL, 100, NULL}, &pages);
    assert_int_equal(json_array_size(failed), 1000);
    json_decref(failed);
    table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_tenants),
        cmocka_unit_test(test_attempts_fold),
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_listing_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
