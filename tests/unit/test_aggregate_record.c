/* The aggregator's inputs: the result scanner (valid and poison records, the
 * members it reads, parts, credits, whether the text is in JSON.stringify's
 * form already) and batch records. Links the stage's objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"

#define ID           "bat_01M816TZ7MSG7GBE1TYYCV6RYZ"
#define HEAD         "{" HEAD_MEMBERS
#define HEAD_MEMBERS "\"batch_id\":\"" ID "\",\"tenant\":\"acme\","

static void test_result_scanner(void **st)
{
    (void)st;
    static const struct {
        const char *json;
        const char *error; /* NULL: valid */
        long long index;
        enum status status;
        const char *text;
        int canonical;
    } rows[] = {
        {HEAD "\"index\":7,\"status\":\"ok\","
              "\"data\":{\"html\":\"<p>\\u00e9 \\\"q\\\"</p>\",\"links\":[1,2.5e3,true,null]}}",
         NULL, 7, STATUS_OK,
         "{\"index\":7,\"status\":\"ok\",\"data\":{\"html\":\"<p>\\u00e9 \\\"q\\\"</p>\","
         "\"links\":[1,2.5e3,true,null]}}",
         0},
        {" { \"index\" : 0 , \"status\":\"timeout\", \"batch_id\":\"" ID "\" } ", NULL, 0,
         STATUS_TIMEOUT, "{\"index\" : 0,\"status\":\"timeout\"}", 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":\"caf\xc3\xa9\\n\\u001f/\x7f\"}", NULL, 1,
         STATUS_OK, "{\"index\":1,\"status\":\"ok\",\"x\":\"caf\xc3\xa9\\n\\u001f/\x7f\"}", 1},
        {HEAD "\"index\":2,\"status\":\"not_found\",\"http_status\":404}", NULL, 2,
         STATUS_NOT_FOUND, "{\"index\":2,\"status\":\"not_found\",\"http_status\":404}", 1},
        /* Forms JSON.stringify does not write. */
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":\"\\u000c\"}", NULL, 1, STATUS_OK,
         "{\"index\":1,\"status\":\"ok\",\"x\":\"\\u000c\"}", 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":\"\\u001F\"}", NULL, 1, STATUS_OK,
         "{\"index\":1,\"status\":\"ok\",\"x\":\"\\u001F\"}", 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":\"a\\/b\"}", NULL, 1, STATUS_OK,
         "{\"index\":1,\"status\":\"ok\",\"x\":\"a\\/b\"}", 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":\"\\u00e9\"}", NULL, 1, STATUS_OK,
         "{\"index\":1,\"status\":\"ok\",\"x\":\"\\u00e9\"}", 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":1.0}", NULL, 1, STATUS_OK,
         "{\"index\":1,\"status\":\"ok\",\"x\":1.0}", 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":-0}", NULL, 1, STATUS_OK,
         "{\"index\":1,\"status\":\"ok\",\"x\":-0}", 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":12345678901234567}", NULL, 1, STATUS_OK,
         "{\"index\":1,\"status\":\"ok\",\"x\":12345678901234567}", 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":{\"b\":1,\"2\":0}}", NULL, 1, STATUS_OK,
         "{\"index\":1,\"status\":\"ok\",\"x\":{\"b\":1,\"2\":0}}", 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":{\"b\":1,\"02\":0,\"-1\":2}}", NULL, 1,
         STATUS_OK, "{\"index\":1,\"status\":\"ok\",\"x\":{\"b\":1,\"02\":0,\"-1\":2}}", 1},
        /* The record's schema version is not the result's. */
        {"{\"schema_version\":1," HEAD_MEMBERS "\"index\":3,\"status\":\"ok\"}", NULL, 3, STATUS_OK,
         "{\"index\":3,\"status\":\"ok\"}", 1},
        /* Poison. */
        {"{not json", "not JSON", 0, 0, NULL, 0},
        {"", "empty", 0, 0, NULL, 0},
        {"[1,2]", "not JSON", 0, 0, NULL, 0},
        {HEAD "\"index\":1,\"status\":\"ok\"} trailing", "not JSON", 0, 0, NULL, 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":\"\xff\"}", "not JSON", 0, 0, NULL, 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"x\":01}", "not JSON", 0, 0, NULL, 0},
        {"{\"batch_id\":\"bat_nope\",\"index\":1,\"status\":\"ok\"}", "batch_id", 0, 0, NULL, 0},
        {HEAD "\"status\":\"ok\"}", "index", 0, 0, NULL, 0},
        {HEAD "\"index\":1.5,\"status\":\"ok\"}", "index", 0, 0, NULL, 0},
        {HEAD "\"index\":\"1\",\"status\":\"ok\"}", "index", 0, 0, NULL, 0},
        {HEAD "\"index\":100,\"status\":\"ok\"}", "index", 0, 0, NULL, 0},
        {HEAD "\"index\":1,\"status\":\"Exploded!\"}", "status", 0, 0, NULL, 0},
        {HEAD "\"index\":1,\"index\":2,\"status\":\"ok\"}", "duplicate", 0, 0, NULL, 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"credits_charged\":-1}", "credits", 0, 0, NULL, 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"part\":3,\"parts\":2}", "part", 0, 0, NULL, 0},
        {HEAD "\"index\":1,\"status\":\"ok\",\"part\":1}", "part", 0, 0, NULL, 0},
        /* A version this reader does not know is not guessed at. */
        {"{\"schema_version\":2," HEAD_MEMBERS "\"index\":3,\"status\":\"ok\"}", "schema_version 2",
         0, 0, NULL, 0},
        {"{\"schema_version\":0," HEAD_MEMBERS "\"index\":3,\"status\":\"ok\"}", "schema_version 0",
         0, 0, NULL, 0},
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
            assert_int_equal(r.in.index, rows[i].index);
            assert_int_equal(r.in.status, rows[i].status);
            assert_string_equal(r.text, rows[i].text);
            if ((int)r.canonical != rows[i].canonical)
                fail_msg("row %zu: canonical %d, want %d", i, r.canonical, rows[i].canonical);
        }
        record_release(&r);
    }
    /* The key must name the same batch. */
    struct record r;
    char why[256];
    const char *ok = HEAD "\"index\":1,\"status\":\"ok\"}";
    assert_int_equal(record_parse_result(&r, ok, strlen(ok), "bat_x", 5, 100, why, sizeof(why)),
                     -1);
    record_release(&r);
}

/* A result record that parses (record_parse_result 0) into r. */
static void parse_ok(struct record *r, const char *json)
{
    char why[256];
    assert_int_equal(record_parse_result(r, json, strlen(json), NULL, 0, 100, why, sizeof(why)), 0);
}

static void test_credits_and_statuses(void **st)
{
    (void)st;
    static const struct {
        const char *json;
        long long credits;
        enum status status;
        const char *other;
    } rows[] = {
        {HEAD "\"index\":1,\"status\":\"ok\"}", 1, STATUS_OK, ""},
        {HEAD "\"index\":1,\"status\":\"ok\",\"credits_charged\":5}", 5, STATUS_OK, ""},
        {HEAD "\"index\":1,\"status\":\"dns\"}", 0, STATUS_DNS, ""},
        {HEAD "\"index\":1,\"status\":\"geo_fenced\",\"credits_charged\":0}", 0, STATUS_UNKNOWN,
         "geo_fenced"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct record r;
        parse_ok(&r, rows[i].json);
        assert_int_equal(r.in.credits, rows[i].credits);
        assert_int_equal(r.in.status, rows[i].status);
        assert_string_equal(r.in.other, rows[i].other);
        record_release(&r);
    }
}

/* A tracked result's verdict, key and hash are read when well-formed; a
 * failed item has a key and no verdict; anything malformed is untracked. */
static void test_change_members(void **st)
{
    (void)st;
#define KEY "\"change_key\":\"sch_01M816TZ7MSG7GBE1TYYCV6RYA/0123456789abcdef\""
    static const struct {
        const char *json;
        int has_change;
        enum change change;
        const char *key, *hash;
    } rows[] = {
        {HEAD "\"index\":1,\"status\":\"ok\",\"change\":\"changed\"," KEY
              ",\"content_hash\":\"00000000000000ff\"}",
         1, CHANGE_CHANGED, "sch_01M816TZ7MSG7GBE1TYYCV6RYA/0123456789abcdef", "00000000000000ff"},
        {HEAD "\"index\":1,\"status\":\"dns\",\"change\":null," KEY ",\"content_hash\":null}", 0,
         CHANGE_NEW, "sch_01M816TZ7MSG7GBE1TYYCV6RYA/0123456789abcdef", ""},
        {HEAD "\"index\":1,\"status\":\"ok\",\"change\":\"moved\"," KEY
              ",\"content_hash\":\"00000000000000ff\"}",
         0, CHANGE_NEW, "", ""},
        {HEAD "\"index\":1,\"status\":\"ok\",\"change\":\"new\"," KEY ",\"content_hash\":\"ff\"}",
         0, CHANGE_NEW, "", ""},
        {HEAD "\"index\":1,\"status\":\"ok\",\"change\":\"new\",\"change_key\":\"bat_x/1\","
              "\"content_hash\":\"00000000000000ff\"}",
         0, CHANGE_NEW, "", ""},
        {HEAD "\"index\":1,\"status\":\"ok\"}", 0, CHANGE_NEW, "", ""},
    };
#undef KEY
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct record r;
        parse_ok(&r, rows[i].json);
        assert_int_equal(r.in.has_change, rows[i].has_change);
        if (rows[i].has_change)
            assert_int_equal(r.in.change, rows[i].change);
        assert_string_equal(r.change_key, rows[i].key);
        assert_string_equal(r.content_hash, rows[i].hash);
        /* They stay in the result as the readers see it. */
        if (strstr(rows[i].json, "change"))
            assert_non_null(strstr(r.text, "\"change\":"));
        record_release(&r);
    }
}

/* Parts of one attempt share their attempt hash whatever their data; parts
 * of another fetch (another fetched_at) do not. part/parts leave the text. */
static void test_parts(void **st)
{
    (void)st;
    const char *fmt = HEAD "\"index\":4,\"status\":\"ok\",\"fetched_at\":\"%s\",\"part\":%d,"
                           "\"parts\":3,\"data\":{\"html\":\"%s\"}}";
    char buf[512];
    struct record a, b, c;
    char why[256];
    snprintf(buf, sizeof(buf), fmt, "2026-11-22T10:00:00.000Z", 1, "<p>one");
    assert_int_equal(record_parse_result(&a, buf, strlen(buf), NULL, 0, 100, why, sizeof(why)), 0);
    snprintf(buf, sizeof(buf), fmt, "2026-11-22T10:00:00.000Z", 3, " three</p>");
    assert_int_equal(record_parse_result(&b, buf, strlen(buf), NULL, 0, 100, why, sizeof(why)), 0);
    snprintf(buf, sizeof(buf), fmt, "2026-11-22T10:00:09.000Z", 1, "<p>one");
    assert_int_equal(record_parse_result(&c, buf, strlen(buf), NULL, 0, 100, why, sizeof(why)), 0);
    assert_int_equal(a.in.part, 1);
    assert_int_equal(b.in.part, 3);
    assert_int_equal(a.in.parts, 3);
    assert_true(a.in.attempt == b.in.attempt);
    assert_true(a.in.attempt != c.in.attempt);
    assert_null(strstr(a.text, "part"));
    assert_string_equal(b.text, "{\"index\":4,\"status\":\"ok\",\"fetched_at\":\"2026-11-22T10:00:"
                                "00.000Z\",\"data\":{\"html\":\" three</p>\"}}");
    record_release(&a);
    record_release(&b);
    record_release(&c);
}

static void test_batch_records(void **st)
{
    (void)st;
    static const struct {
        const char *json, *type_header, *error;
    } rows[] = {
        {"{\"type\":\"batch\",\"id\":\"" ID "\",\"tenant\":\"acme\",\"total\":3,"
         "\"created_at\":\"2026-11-22T10:00:00Z\",\"webhook\":null}",
         NULL, NULL},
        {"{\"id\":\"" ID "\",\"tenant\":\"acme\",\"cancelled_at\":\"x\"}", "cancel", NULL},
        {"{\"type\":\"batch\",\"id\":\"" ID "\",\"tenant\":\"acme\",\"total\":0,"
         "\"created_at\":\"2026-11-22T10:00:00Z\"}",
         NULL, "total"},
        {"{\"type\":\"batch\",\"id\":\"" ID "\",\"tenant\":\"acme\",\"total\":3,"
         "\"created_at\":\"yesterday\"}",
         NULL, "created_at"},
        {"{\"type\":\"batch\",\"id\":\"" ID "\",\"tenant\":\"acme\",\"total\":3,"
         "\"created_at\":\"2026-11-22T10:00:00Z\",\"webhook\":{\"events\":[]}}",
         NULL, "webhook"},
        {"{\"type\":\"what\",\"id\":\"" ID "\",\"tenant\":\"acme\"}", NULL, "type"},
        {"{\"type\":\"cancel\",\"id\":\"" ID "\"}", NULL, "tenant"},
        {"{\"schema_version\":1,\"id\":\"" ID "\",\"tenant\":\"acme\",\"cancelled_at\":\"x\"}",
         "cancel", NULL},
        {"{\"schema_version\":2,\"id\":\"" ID "\",\"tenant\":\"acme\",\"cancelled_at\":\"x\"}",
         "cancel", "schema_version 2"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct record r;
        char why[256] = "";
        int rc = record_parse_batch(&r, rows[i].json, strlen(rows[i].json), rows[i].type_header, ID,
                                    strlen(ID), 100, why, sizeof(why));
        if (rows[i].error ? rc == 0 || !strstr(why, rows[i].error) : rc != 0)
            fail_msg("row %zu: rc=%d '%s'", i, rc, why);
        record_release(&r);
    }
    json_t *rec =
        json_pack("{s:{s:s, s:[s]}}", "webhook", "url", "https://r", "events", "item.completed");
    assert_true(record_wants_event(rec, "item.completed"));
    assert_false(record_wants_event(rec, "batch.completed"));
    json_decref(rec);
    /* Subscriptions: batch.completed covers the batch's other endings. */
    rec = json_pack("{s:{s:s}}", "webhook", "url", "https://r");
    assert_true(record_wants_event(rec, "batch.failed"));
    assert_false(record_wants_event(rec, "item.completed"));
    json_decref(rec);
}

/* A crawl page's fetch duration sizes its host's window (hostwin.h). */
static void test_duration(void **st)
{
    (void)st;
    static const struct {
        const char *json;
        long long want;
    } rows[] = {
        {HEAD "\"index\":3,\"status\":\"ok\",\"duration_ms\":412}", 412},
        {HEAD "\"index\":3,\"status\":\"ok\",\"duration_ms\":0}", 0},
        {HEAD "\"index\":3,\"status\":\"ok\"}", -1},
        {HEAD "\"index\":3,\"status\":\"ok\",\"duration_ms\":-5}", -1},
        {HEAD "\"index\":3,\"status\":\"ok\",\"duration_ms\":null}", -1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct record r;
        char why[200];
        assert_int_equal(record_parse_result(&r, rows[i].json, strlen(rows[i].json), ID, strlen(ID),
                                             100, why, sizeof(why)),
                         0);
        assert_int_equal(r.duration_ms, rows[i].want);
        record_release(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_scanner), cmocka_unit_test(test_credits_and_statuses),
        cmocka_unit_test(test_duration),       cmocka_unit_test(test_change_members),
        cmocka_unit_test(test_parts),          cmocka_unit_test(test_batch_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
