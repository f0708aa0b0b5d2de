/* ingest's dead deliveries (stages/ingest/deadbook.c): only dead attempts
 * are listed, a later attempt of the same delivery takes it off, tenants
 * are apart, pages go newest first with a cursor, and each tenant keeps at
 * most DEADBOOK_KEPT (the oldest go). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deadbook.h"
#include "follow.h"
#include "jx.h"

/* A webhooks.attempts record into the book, as the follower puts it. */
static int put_text(struct deadbook *d, const char *text)
{
    char tenant[64];
    json_t *a = follow_attempt_parse(text, strlen(text), tenant, sizeof(tenant));
    int rc = a ? deadbook_put_attempt(d, a, tenant) : -1;
    json_decref(a);
    return rc;
}

/* Delivery n of `tenant`: dlv_ and n as 32 hex digits; its attempt at
 * second n of the day. */
static void put(struct deadbook *d, const char *tenant, int n, const char *outcome)
{
    char buf[600];
    snprintf(buf, sizeof(buf),
             "{\"delivery_id\":\"dlv_%032x\",\"batch_id\":\"bat_%d\",\"tenant\":\"%s\","
             "\"event\":\"batch.completed\",\"attempt\":1,\"at\":\"2026-11-30T%02d:%02d:%02dZ\","
             "\"outcome\":\"%s\",\"status_code\":410,\"task\":{\"topic\":\"w\",\"partition\":0,"
             "\"offset\":%d}}",
             n, n, tenant, n / 3600, n / 60 % 60, n % 60, outcome, n);
    assert_int_equal(put_text(d, buf), 0);
}

/* One page as JSON: {"dead": [...]} with next and total. */
static json_t *page(struct deadbook *d, const char *tenant, int limit, const char *cursor,
                    char next[DEADBOOK_CURSOR_MAX], size_t *total)
{
    struct buf b = BUF_INIT(BUF_NO_MAX);
    buf_adds(&b, "[");
    assert_int_equal(deadbook_page(d, tenant, limit, cursor, &b, next, total), 0);
    buf_adds(&b, "]");
    json_t *v = json_loadb(buf_str(&b), b.len, 0, NULL);
    buf_release(&b);
    assert_non_null(v);
    return v;
}

static void test_dead_listed_revived_and_isolated(void **state)
{
    (void)state;
    struct deadbook *d = deadbook_new();
    char next[DEADBOOK_CURSOR_MAX];
    size_t total;
    put(d, "acme", 1, "retrying");
    put(d, "acme", 2, "dead");
    put(d, "acme", 3, "dead");
    put(d, "globex", 4, "dead");
    json_t *p = page(d, "acme", 10, NULL, next, &total);
    assert_int_equal(total, 2);
    assert_int_equal(json_array_size(p), 2);
    assert_string_equal(jx_str(json_array_get(p, 0), "batch_id", ""), "bat_3"); /* newest first */
    assert_null(json_object_get(json_array_get(p, 0), "tenant"));
    assert_string_equal(next, "");
    json_decref(p);

    struct table_task task;
    char batch[64];
    char id[40];
    snprintf(id, sizeof(id), "dlv_%032x", 2);
    assert_int_equal(deadbook_task(d, "acme", id, &task, batch), 0);
    assert_string_equal(batch, "bat_2");
    assert_int_equal(task.offset, 2);
    assert_string_equal(task.delivery_id, id);
    assert_int_equal(deadbook_task(d, "globex", id, &task, batch), -1); /* not its own */

    /* The answer's excerpt is cut to DEADBOOK_EXCERPT bytes, at a character. */
    char big[1200], rec[1600];
    memset(big, 'a', DEADBOOK_EXCERPT - 1);
    strcpy(big + DEADBOOK_EXCERPT - 1, "\xc3\xa9 and more");
    snprintf(rec, sizeof(rec),
             "{\"delivery_id\":\"dlv_%032x\",\"batch_id\":\"bat_9\",\"tenant\":\"initech\","
             "\"at\":\"2026-11-30T00:00:09Z\",\"outcome\":\"dead\",\"response_body\":\"%s\"}",
             9, big);
    /* The record is the status table's too: the book cuts a copy. */
    char tenant[64];
    json_t *a = follow_attempt_parse(rec, strlen(rec), tenant, sizeof(tenant));
    assert_int_equal(deadbook_put_attempt(d, a, tenant), 0);
    assert_int_equal(strlen(jx_str(a, "response_body", "")), strlen(big));
    assert_null(json_object_get(a, "tenant"));
    json_decref(a);
    p = page(d, "initech", 10, NULL, next, &total);
    assert_int_equal(strlen(jx_str(json_array_get(p, 0), "response_body", "")),
                     DEADBOOK_EXCERPT - 1);
    json_decref(p);

    put(d, "acme", 2, "delivered"); /* redelivered: off the list */
    assert_int_equal(deadbook_task(d, "acme", id, &task, batch), -1);
    json_decref(page(d, "acme", 10, NULL, next, &total));
    assert_int_equal(total, 1);
    json_decref(page(d, "globex", 10, NULL, next, &total));
    assert_int_equal(total, 1);
    assert_int_equal(put_text(d, "{"), -1);
    assert_int_equal(deadbook_page(d, "acme", 10, "1.bat_x", NULL, next, &total), -1);
    deadbook_free(d);
}

static void test_pages_and_the_cap(void **state)
{
    (void)state;
    struct deadbook *d = deadbook_new();
    char next[DEADBOOK_CURSOR_MAX], cursor[DEADBOOK_CURSOR_MAX];
    size_t total;
    for (int n = 1; n <= DEADBOOK_KEPT + 5; n++)
        put(d, "acme", n, "dead");
    /* Walk every page of 999: newest first, each once, the oldest 5 gone. */
    int seen = 0, prev = DEADBOOK_KEPT + 6;
    const char *c = NULL;
    do {
        json_t *p = page(d, "acme", 999, c, next, &total);
        for (size_t i = 0; i < json_array_size(p); i++) {
            int n = atoi(jx_str(json_array_get(p, i), "batch_id", "bat_0") + 4);
            assert_int_equal(n, prev - 1);
            prev = n;
            seen++;
        }
        json_decref(p);
        snprintf(cursor, sizeof(cursor), "%s", next);
        c = cursor;
    } while (next[0]);
    assert_int_equal(total, DEADBOOK_KEPT);
    assert_int_equal(seen, DEADBOOK_KEPT);
    assert_int_equal(prev, 6);
    deadbook_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dead_listed_revived_and_isolated),
        cmocka_unit_test(test_pages_and_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
