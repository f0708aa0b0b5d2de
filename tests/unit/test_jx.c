/* jx: depth cap before parsing, getters, compact dumps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"

static void test_depth(void **state)
{
    static const struct {
        const char *json;
        int depth;
    } cases[] = {
        {"1", 0},
        {"[]", 1},
        {"{\"a\":[1,{\"b\":2}]}", 3},
        {"[\"[[[[\",\"\\\"[[\"]", 1}, /* brackets inside strings don't count */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(jx_depth(cases[i].json, strlen(cases[i].json), 100), cases[i].depth);
}

static void test_parse_caps_depth(void **state)
{
    char err[256];
    char deep[2 * 60 + 1];
    (void)state;
    memset(deep, '[', 60);
    memset(deep + 60, ']', 60);
    deep[120] = '\0';
    json_t *v = jx_parse(deep, strlen(deep), 64, err, sizeof(err));
    assert_non_null(v);
    json_decref(v);
    assert_null(jx_parse(deep, strlen(deep), 32, err, sizeof(err)));
    assert_non_null(strstr(err, "deeper than 32"));
    assert_null(jx_parse("{\"a\":", 5, 32, err, sizeof(err)));
    assert_non_null(strstr(err, "line 1"));
    assert_null(jx_parse("{\"a\":1,\"a\":2}", 13, 32, err, sizeof(err))); /* duplicate keys */
}

static void test_getters(void **state)
{
    char err[256];
    const char *text = "{\"s\":\"x\",\"i\":7,\"b\":true,\"n\":null}";
    (void)state;
    json_t *o = jx_parse(text, strlen(text), 8, err, sizeof(err));
    assert_string_equal(jx_str(o, "s", "d"), "x");
    assert_string_equal(jx_str(o, "i", "d"), "d");
    assert_int_equal(jx_int(o, "i", -1), 7);
    assert_int_equal(jx_int(o, "s", -1), -1);
    assert_true(jx_bool(o, "b", 0));
    assert_int_equal(jx_bool(o, "missing", 5), 5);
    size_t len;
    char *dump = jx_dump(o, &len);
    assert_string_equal(dump, "{\"s\":\"x\",\"i\":7,\"b\":true,\"n\":null}");
    assert_int_equal(len, strlen(dump));
    free(dump);
    json_decref(o);
}

static void test_peek(void **state)
{
    (void)state;
    char out[32];
    static const char rec[] =
        "{\"batch_id\":\"bat_1\",\"index\":3,\"input\":\"https://a/"
        "\\\"status\\\":\\\"ok\",\"n\":[1,"
        "{\"status\":\"inner\"},\"]}\"],\"status\" : \"timeout\",\"data\":{\"html\":\"...\"}}";
    assert_int_equal(jx_peek_str(rec, strlen(rec), "status", out, sizeof(out)), 0);
    assert_string_equal(out, "timeout"); /* not the one inside a string or a nested object */
    assert_int_equal(jx_peek_str(rec, strlen(rec), "batch_id", out, sizeof(out)), 0);
    assert_string_equal(out, "bat_1");
    assert_int_equal(jx_peek_str(rec, strlen(rec), "index", out, sizeof(out)), -1); /* a number */
    assert_int_equal(jx_peek_str(rec, strlen(rec), "missing", out, sizeof(out)), -1);
    assert_int_equal(jx_peek_str(rec, strlen(rec), "status", out, 4), -1); /* too long */
    static const char esc[] = "{\"status\":\"o\\u006b\"}";
    assert_int_equal(jx_peek_str(esc, strlen(esc), "status", out, sizeof(out)), -1);
    /* Cut short, or not an object: nothing, and no read past the end. */
    for (size_t n = 0; n < sizeof(rec) - 1; n++)
        if (jx_peek_str(rec, n, "status", out, sizeof(out)) == 0)
            assert_string_equal(out, "timeout");
    assert_int_equal(jx_peek_str("[\"status\"]", 10, "status", out, sizeof(out)), -1);
}

/* Whatever the quick reader returns is exactly jansson's value (compared
 * through jansson's own dump, key order included); what it gives up on,
 * jx_parse still reads or rejects as jansson does. */
static void test_read_plain_matches_jansson(void **state)
{
    static const char *const same[] = {
        "{}",
        "[]",
        " { \"a\" : [ 1 , -2 , 0 , -0 , true , false , null ] , \"b\" : { } }\n",
        "{\"batch_id\":\"bat_1\",\"index\":123456789012345678,\"url\":"
        "\"http:\\/\\/h\\/p?q=\\\"x\\\"\\\\\\b\\f\\n\\r\\t\",\"headers\":{},"
        "\"formats\":[\"html\"],\"options\":{\"timeout_ms\":30000}}",
        "[[[\"\"]],{\"\":\"\"}]",
    };
    static const char *const given_up[] = {
        "{\"a\":\"\\u00e9\"}",         /* \u escapes */
        "{\"a\":\"\xc3\xa9\"}",        /* UTF-8 */
        "{\"a\":1.5}",                 /* fractions */
        "{\"a\":1e3}",                 /* exponents */
        "{\"a\":1234567890123456789}", /* 19 digits */
        "{\"a\":012}",                 /* leading zero: jansson's error */
        "{\"a\":1,\"a\":2}",           /* duplicate key: jansson's error */
        "{\"a\":1} x",                 /* trailing bytes */
        "{\"a\":tru}",
        "{\"a\":\"x\ty\"}", /* a raw control character */
        "\"top-level string\"",
        "[1,]",
        "",
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof(same) / sizeof(*same); i++) {
        json_error_t jerr;
        json_t *want = json_loads(same[i], JSON_REJECT_DUPLICATES, &jerr);
        json_t *got = jx_read_plain(same[i], strlen(same[i]), 8);
        assert_non_null(want);
        assert_non_null(got);
        char *a = json_dumps(want, JSON_ENCODE_ANY), *b = json_dumps(got, JSON_ENCODE_ANY);
        assert_string_equal(a, b);
        free(a), free(b);
        json_decref(want), json_decref(got);
    }
    for (size_t i = 0; i < sizeof(given_up) / sizeof(*given_up); i++) {
        json_error_t jerr;
        assert_null(jx_read_plain(given_up[i], strlen(given_up[i]), 8));
        json_t *want = json_loads(given_up[i], JSON_REJECT_DUPLICATES, &jerr);
        json_t *got = jx_parse(given_up[i], strlen(given_up[i]), 8, err, sizeof(err));
        assert_true(!want == !got);
        if (want) {
            char *a = json_dumps(want, 0), *b = json_dumps(got, 0);
            assert_string_equal(a, b);
            free(a), free(b);
        }
        json_decref(want), json_decref(got);
    }
    /* Nesting past the cap: given up, and jx_parse's own error. */
    assert_null(jx_read_plain("[[[1]]]", 7, 2));
    assert_null(jx_parse("[[[1]]]", 7, 2, err, sizeof(err)));
    assert_non_null(strstr(err, "deeper than 2"));
    json_t *deep = jx_read_plain("[[[1]]]", 7, 3);
    assert_non_null(deep);
    json_decref(deep);
}

/* The scanner accepts exactly the strings jansson accepts, whatever sits
 * where its eight-bytes-at-a-time path looks: random strings over quotes,
 * escapes, control bytes, DEL and UTF-8 (good and broken). */
static void test_scanner_agrees_with_jansson(void **st)
{
    (void)st;
    static const char *const atoms[] = {"a",
                                        "\"",
                                        "\\",
                                        "\\n",
                                        "\\u00e9",
                                        "\x01",
                                        "\x1f",
                                        "\x7f",
                                        "\xc3\xa9",
                                        "\xe2\x98\x83",
                                        "\xf0\x9f\x98\x80",
                                        "\xc3",
                                        "\xff",
                                        " ",
                                        "\\x",
                                        "0123456789",
                                        "\x85",
                                        "\xc2\x85",
                                        "abcdefghijklmnop"};
    unsigned seed = 7;
    for (int round = 0; round < 20000; round++) {
        char text[256] = "[\"";
        size_t n = 2;
        int atoms_n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 24;
        for (int i = 0; i < atoms_n; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *a = atoms[(seed >> 16) % (sizeof(atoms) / sizeof(atoms[0]))];
            memcpy(text + n, a, strlen(a));
            n += strlen(a);
        }
        memcpy(text + n, "\"]", 2);
        n += 2;
        json_error_t err;
        json_t *v = json_loadb(text, n, 0, &err);
        struct jx_scan s;
        jx_scan_init(&s, text, n, NULL, 8);
        int ok = jx_scan_skip(&s) == 0 && s.p == s.end;
        if (ok != (v != NULL))
            fail_msg("round %d: jx_scan %d, jansson %d: %.*s", round, ok, v != NULL, (int)n, text);
        json_decref(v);
    }
}

/* The validating readers: spans, nesting cap, and whether the text is in
 * JSON.stringify's form; the typed readers share the nesting cap. */
static void test_scanner_canonical_and_depth(void **st)
{
    (void)st;
    static const struct {
        const char *text;
        int ok, canonical;
    } cases[] = {
        {"{\"a\":[1,\"x\",null,true,{\"b\":false}]}", 1, 1},
        {"{\"a\": 1}", 1, 0},             /* whitespace */
        {"{\"a\":1.5}", 1, 0},            /* a fraction */
        {"{\"a\":\"\\/\"}", 1, 0},        /* an escaped slash */
        {"{\"a\":\"\\u00E9\"}", 1, 0},    /* \\u for a printable, upper case */
        {"{\"a\":\"\\u001f\\n\"}", 1, 1}, /* the escapes JSON.stringify writes */
        {"{\"17\":1}", 1, 0},             /* an array index as a name */
        {"{\"a\":[[[[1]]]]}", 0, 0},      /* deeper than 4 */
        {"{\"a\":01}", 0, 0},
        {"{\"a\":\"\xc3\"}", 0, 0}, /* broken UTF-8 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jx_scan s;
        jx_scan_init(&s, cases[i].text, strlen(cases[i].text), NULL, 4);
        int ok = jx_scan_skip(&s) == 0 && s.p == s.end;
        if (ok != cases[i].ok || (ok && (int)s.canonical != cases[i].canonical))
            fail_msg("%s: ok %d canonical %d", cases[i].text, ok, (int)s.canonical);
    }
    /* Typed: a member's span read by the validating reader, then on. */
    const char *text = "{\"k\":[\"v\"],\"n\":7}", *key, *str;
    char arena[32];
    size_t len;
    long long n;
    struct jx_scan s;
    jx_scan_init(&s, text, strlen(text), arena, 2);
    assert_int_equal(jx_scan_enter(&s, '{'), 0);
    assert_int_equal(jx_scan_member(&s, &key), 1);
    assert_string_equal(key, "k");
    assert_int_equal(jx_scan_enter(&s, '['), 0);
    assert_int_equal(jx_scan_enter(&s, '['), -1); /* a third level */
    assert_int_equal(jx_scan_element(&s), 1);
    assert_int_equal(jx_scan_str(&s, &str, &len), 0);
    assert_string_equal(str, "v");
    assert_int_equal(jx_scan_element(&s), 0);
    assert_int_equal(jx_scan_member(&s, &key), 1);
    assert_int_equal(jx_scan_int(&s, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(jx_scan_member(&s, &key), 0);
    assert_int_equal(jx_scan_end(&s), 0);
    assert_int_equal(s.depth, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_parse_caps_depth),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_read_plain_matches_jansson),
        cmocka_unit_test(test_scanner_agrees_with_jansson),
        cmocka_unit_test(test_scanner_canonical_and_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
