/* The aggregator's pure logic: the batch table, counting (duplicates,
 * ranges, pending batches), the changelog round trip, the result scanner
 * (valid and poison records) and the bodies it builds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"
#include "record.h"
#include "report.h"
#include "state.h"

#define ID "bat_01M816TZ7MSG7GBE1TYYCV6RYZ"

static void make_id(char *out, unsigned i)
{
    snprintf(out, IDS_BATCH_LEN, "bat_01M816TZ7MSG7GBE1TY%07u", i % 10000000u);
}

static void test_table_insert_remove_drop(void **st)
{
    (void)st;
    struct state s;
    char id[IDS_BATCH_LEN];
    state_init(&s);
    for (int i = 0; i < 5000; i++) {
        make_id(id, (unsigned)i);
        state_get_or_add(&s, id, i % 4, 1);
    }
    assert_int_equal(s.n, 5000);
    for (int i = 0; i < 5000; i += 2) {
        make_id(id, (unsigned)i);
        state_remove(&s, id);
    }
    assert_int_equal(s.n, 2500);
    for (int i = 0; i < 5000; i++) {
        make_id(id, (unsigned)i);
        struct batch *b = state_get(&s, id);
        if (i % 2)
            assert_non_null(b);
        else
            assert_null(b);
    }
    /* Odd ids sit in partitions 1 and 3. */
    assert_int_equal(state_drop_partition(&s, 1), 1250);
    assert_int_equal(s.n, 1250);
    for (int i = 1; i < 5000; i += 2) {
        make_id(id, (unsigned)i);
        assert_true((state_get(&s, id) != NULL) == (i % 4 == 3));
    }
    state_release(&s);
}

static json_t *record_of(long long total)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:n}", "type", "batch", "id", ID, "tenant",
                     "acme", "created_at", "2026-11-22T10:00:00.000Z", "total", (json_int_t)total,
                     "metadata", json_object(), "webhook");
}

static void test_count_duplicates_and_ranges(void **st)
{
    (void)st;
    struct state s;
    state_init(&s);
    struct batch *b = state_get_or_add(&s, ID, 0, 1);
    /* Pending: counts up to max_index, duplicates never twice. */
    static const struct {
        long long index;
        int code, want;
    } rows[] = {
        {0, -1, 1},  {0, -1, 0},    {5, CODE_TIMEOUT, 1}, {5, -1, 0},
        {99, -1, 1}, {100, -1, -1}, {-1, -1, -1},         {99, CODE_DNS, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(
            batch_count(b, rows[i].index, rows[i].code, 10 + (int64_t)i, 100 + (int64_t)i, 100),
            rows[i].want);
    assert_int_equal(b->processed, 3);
    assert_int_equal(b->succeeded, 2);
    assert_int_equal(b->errors[CODE_TIMEOUT], 1);
    assert_int_equal(b->res_first, 100);
    assert_int_equal(b->res_last, 104);
    assert_false(batch_complete(b));

    json_t *rec = record_of(100);
    assert_int_equal(batch_set_record(b, rec, 5), 0);
    json_decref(rec);
    assert_int_equal(batch_count(b, 100, -1, 20, 200, 1000), -1); /* past total now */
    for (long long i = 0; i < 100; i++)
        batch_count(b, i, -1, 30, 300 + i, 1000);
    assert_true(batch_complete(b));
    assert_int_equal(b->processed, 100);

    /* A record whose total is below an index already counted is reported. */
    struct batch *c = state_get_or_add(&s, "bat_01M816TZ7MSG7GBE1TYYCV6RY0", 0, 1);
    batch_count(c, 50, -1, 1, 1, 100);
    rec = record_of(10);
    assert_int_equal(batch_set_record(c, rec, 5), -1);
    json_decref(rec);

    batch_finish(b, 77);
    assert_true(b->done);
    assert_null(b->bits);
    assert_int_equal(batch_count(b, 1, -1, 1, 1, 100), 0);
    state_release(&s);
}

static void test_changelog_round_trip(void **st)
{
    (void)st;
    struct state s;
    char why[256];
    size_t len;
    state_init(&s);
    struct batch *b = state_get_or_add(&s, ID, 3, 11);
    json_t *rec = record_of(1000);
    batch_set_record(b, rec, 12);
    json_decref(rec);
    for (long long i = 0; i < 1000; i += 3)
        batch_count(b, i, i % 2 ? CODE_TLS : -1, 40 + i, 500 + i, 1000);
    char *text = state_encode(b, &len);
    json_t *v = jx_parse(text, len, 8, why, sizeof(why));
    assert_non_null(v);
    struct batch *c = state_decode(ID, 3, v, why, sizeof(why));
    json_decref(v);
    free(text);
    assert_non_null(c);
    assert_true(c->known);
    assert_int_equal(c->total, 1000);
    assert_int_equal(c->processed, b->processed);
    assert_int_equal(c->succeeded, b->succeeded);
    assert_int_equal(c->errors[CODE_TLS], b->errors[CODE_TLS]);
    assert_int_equal(c->res_first, 500);
    assert_int_equal(c->res_last, b->res_last);
    assert_int_equal(c->started_ms, 12);
    assert_false(c->cache_ok); /* results counted before: the cache would be partial */
    for (long long i = 0; i < 1000; i++)
        assert_int_equal(batch_seen(c, i), i % 3 == 0);
    batch_free(c);

    batch_finish(b, 99);
    text = state_encode(b, &len);
    v = jx_parse(text, len, 8, why, sizeof(why));
    c = state_decode(ID, 3, v, why, sizeof(why));
    assert_true(c->done);
    assert_int_equal(c->done_ms, 99);
    batch_free(c);
    json_decref(v);
    free(text);

    v = json_pack("{s:i}", "v", 2);
    assert_null(state_decode(ID, 3, v, why, sizeof(why)));
    json_decref(v);
    state_release(&s);
}

static void test_result_scanner(void **st)
{
    (void)st;
    static const struct {
        const char *json;
        const char *error; /* NULL: valid */
        long long index;
        int code;
        const char *text;
    } rows[] = {
        {"{\"batch_id\":\"" ID "\",\"tenant\":\"acme\",\"index\":7,\"status\":\"ok\","
         "\"data\":{\"html\":\"<p>\\u00e9 \\\"q\\\"</p>\",\"links\":[1,2.5e3,true,null]}}",
         NULL, 7, -1,
         "{\"index\":7,\"status\":\"ok\",\"data\":{\"html\":\"<p>\\u00e9 \\\"q\\\"</p>\","
         "\"links\":[1,2.5e3,true,null]}}"},
        {" { \"index\" : 0 , \"status\":\"timeout\", \"batch_id\":\"" ID "\" } ", NULL, 0,
         CODE_TIMEOUT, "{\"index\" : 0,\"status\":\"timeout\"}"},
        {"{\"batch_id\":\"" ID "\",\"index\":1,\"status\":\"ok\",\"x\":\"caf\xc3\xa9\"}", NULL, 1,
         -1, "{\"index\":1,\"status\":\"ok\",\"x\":\"caf\xc3\xa9\"}"},
        {"{not json", "not JSON", 0, 0, NULL},
        {"", "empty", 0, 0, NULL},
        {"[1,2]", "not JSON", 0, 0, NULL},
        {"{\"batch_id\":\"" ID "\",\"index\":1,\"status\":\"ok\"} trailing", "not JSON", 0, 0,
         NULL},
        {"{\"batch_id\":\"" ID "\",\"index\":1,\"status\":\"ok\",\"x\":\"\xff\"}", "not JSON", 0, 0,
         NULL},
        {"{\"batch_id\":\"" ID "\",\"index\":1,\"status\":\"ok\",\"x\":01}", "not JSON", 0, 0,
         NULL},
        {"{\"batch_id\":\"bat_nope\",\"index\":1,\"status\":\"ok\"}", "batch_id", 0, 0, NULL},
        {"{\"batch_id\":\"" ID "\",\"status\":\"ok\"}", "index", 0, 0, NULL},
        {"{\"batch_id\":\"" ID "\",\"index\":1.5,\"status\":\"ok\"}", "index", 0, 0, NULL},
        {"{\"batch_id\":\"" ID "\",\"index\":\"1\",\"status\":\"ok\"}", "index", 0, 0, NULL},
        {"{\"batch_id\":\"" ID "\",\"index\":100,\"status\":\"ok\"}", "index", 0, 0, NULL},
        {"{\"batch_id\":\"" ID "\",\"index\":1,\"status\":\"exploded\"}", "status", 0, 0, NULL},
        {"{\"batch_id\":\"" ID "\",\"index\":1,\"index\":2,\"status\":\"ok\"}", "duplicate", 0, 0,
         NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct record r;
        char why[256] = "";
        int rc = record_parse_result(&r, rows[i].json, strlen(rows[i].json), ID, strlen(ID), 100,
                                     why, sizeof(why));
        if (rows[i].error) {
            if (rc == 0 || !strstr(why, rows[i].error))
                fail_msg("row %zu: want error '%s', got rc=%d '%s'", i, rows[i].error, rc, why);
        } else {
            if (rc != 0)
                fail_msg("row %zu: %s", i, why);
            assert_int_equal(r.index, rows[i].index);
            assert_int_equal(r.code, rows[i].code);
            assert_string_equal(r.text, rows[i].text);
        }
        record_release(&r);
    }
    /* The key must name the same batch. */
    struct record r;
    char why[256];
    const char *ok = "{\"batch_id\":\"" ID "\",\"index\":1,\"status\":\"ok\"}";
    assert_int_equal(record_parse_result(&r, ok, strlen(ok), "bat_x", 5, 100, why, sizeof(why)),
                     -1);
    record_release(&r);
}

static void test_bodies(void **st)
{
    (void)st;
    struct state s;
    char why[256], dlv[IDS_DELIVERY_LEN];
    size_t len, tlen;
    state_init(&s);
    struct batch *b = state_get_or_add(&s, ID, 1, 1);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:i, s:{s:s}, s:{s:s, s:[s], s:s, s:n, s:n}}",
                            "type", "batch", "id", ID, "tenant", "acme", "created_at",
                            "2026-11-22T10:00:00.000Z", "total", 2, "metadata", "k", "v", "webhook",
                            "url", "https://r/h", "events", "batch.completed", "secret_enc", "v1.x",
                            "previous_secret_enc", "previous_secret_until");
    batch_set_record(b, rec, 5);
    batch_count(b, 0, -1, 6, 10, 2);
    batch_count(b, 1, CODE_DNS, 7, 12, 2);
    json_t *doc = report_status(b, REPORT_COMPLETED, 8, "p.scrape.results");
    assert_string_equal(jx_str(doc, "tenant", ""), "acme");
    assert_int_equal(jx_int(json_object_get(doc, "errors"), "dns", 0), 1);
    assert_int_equal(jx_int(json_object_get(doc, "results"), "last_offset", 0), 12);

    const char *results = "[{\"index\":0,\"s\":\"a\\n\"},{\"index\":1}]";
    char *body = report_body(doc, "batch.completed", results, strlen(results), &len);
    json_t *parsed = jx_parse(body, len, 16, why, sizeof(why));
    assert_non_null(parsed);
    assert_string_equal(jx_str(parsed, "event", ""), "batch.completed");
    assert_null(json_object_get(parsed, "tenant"));
    assert_int_equal(json_array_size(json_object_get(parsed, "results")), 2);
    assert_true(len >= report_body_base(doc, "batch.completed"));
    json_decref(parsed);

    /* The task carries the body as a string: the same bytes come back. */
    char *task = report_task(rec, "batch.completed", -1, body, len, 9, dlv, &tlen);
    parsed = jx_parse(task, tlen, 8, why, sizeof(why));
    assert_non_null(parsed);
    assert_string_equal(jx_str(parsed, "body", ""), body);
    assert_string_equal(jx_str(parsed, "url", ""), "https://r/h");
    assert_string_equal(jx_str(parsed, "secret_enc", ""), "v1.x");
    assert_string_equal(jx_str(parsed, "delivery_id", ""), dlv);
    assert_true(json_is_null(json_object_get(parsed, "previous_secret_enc")));
    json_decref(parsed);
    free(task);
    free(body);

    body = report_body(doc, "batch.completed", NULL, 0, &len);
    parsed = jx_parse(body, len, 16, why, sizeof(why));
    assert_true(jx_bool(parsed, "results_truncated", 0));
    assert_string_equal(jx_str(parsed, "results_url", ""), "/v1/batch/" ID "/results");
    json_decref(parsed);
    free(body);

    const char *item = "{\"index\":1,\"status\":\"dns\"}";
    body = report_item_body(ID, 1, item, strlen(item), &len);
    parsed = jx_parse(body, len, 16, why, sizeof(why));
    assert_int_equal(jx_int(parsed, "index", -1), 1);
    assert_string_equal(jx_str(json_object_get(parsed, "result"), "status", ""), "dns");
    json_decref(parsed);
    free(body);

    /* Subscriptions: batch.completed covers the batch's other endings. */
    assert_true(record_wants_event(rec, "batch.failed"));
    assert_false(record_wants_event(rec, "item.completed"));
    json_decref(doc);
    json_decref(rec);
    state_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_insert_remove_drop),
        cmocka_unit_test(test_count_duplicates_and_ranges),
        cmocka_unit_test(test_changelog_round_trip),
        cmocka_unit_test(test_result_scanner),
        cmocka_unit_test(test_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
