/* words: every word parses back to itself, slices and near misses do not,
 * the lists only grow at the end, and the schemas list the same words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "words.h"

static void test_status_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < STATUS__COUNT; i++) {
        const char *n = status_name((enum status)i);
        assert_int_equal(status_parse(n, strlen(n)), i);
        assert_true(status_message((enum status)i)[0] != '\0');
        assert_true(status_counts((enum status)i) ==
                    (i == STATUS_OK ? STATUS_SUCCEEDED : STATUS_FAILED));
    }
    assert_int_equal(status_parse("not_found", 9), STATUS_NOT_FOUND);
    assert_int_equal(status_retried(STATUS_TIMEOUT), STATUS_ALWAYS);
    assert_int_equal(status_retried(STATUS_DNS), STATUS_NEVER);
}

static void test_status_near_misses(void **state)
{
    (void)state;
    /* A slice of a larger text parses by its length alone. */
    const char *json = "\"status\":\"connect\",\"x\":1";
    assert_int_equal(status_parse(json + 10, 7), STATUS_CONNECT);
    assert_int_equal(status_parse("connec", 6), STATUS_UNKNOWN);
    assert_int_equal(status_parse("connects", 8), STATUS_UNKNOWN);
    assert_int_equal(status_parse("CONNECT", 7), STATUS_UNKNOWN);
    assert_int_equal(status_parse("ok\0x", 4), STATUS_UNKNOWN);
    assert_int_equal(status_parse("", 0), STATUS_UNKNOWN);
    assert_int_equal(status_parse("geo_fenced", 10), STATUS_UNKNOWN);
}

/* Positions are stored (aggregate's changelog keeps error counts in this
 * order): the first words keep their places forever. */
static void test_lists_only_grow_at_the_end(void **state)
{
    (void)state;
    static const char *const then[] = {"ok",          "timeout",    "dns",       "connect",
                                       "tls",         "http_error", "too_large", "blocked",
                                       "invalid_url", "cancelled",  "not_found"};
    assert_true(STATUS__COUNT >= (int)(sizeof(then) / sizeof(then[0])));
    for (size_t i = 0; i < sizeof(then) / sizeof(then[0]); i++)
        assert_string_equal(status_name((enum status)i), then[i]);
    static const char *const formats[] = {"html", "text", "markdown", "links", "metadata"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        assert_string_equal(format_name((enum format)i), formats[i]);
        assert_int_equal(format_parse(formats[i], strlen(formats[i])), (int)i);
    }
    assert_int_equal(format_parse("htm", 3), FORMAT_UNKNOWN);
    assert_int_equal(format_parse("screenshots", 11), FORMAT_UNKNOWN);
    assert_string_equal(format_list(), "html, text, markdown, links, metadata, screenshot");
}

/* The enum of a JSON Schema property equals a word list, in order. */
static void check_schema_enum(const char *path, const char *pointer[], size_t depth,
                              const char *(*name)(int), int count)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        fail_msg("%s: %s", path, err.text);
    json_t *v = root;
    for (size_t i = 0; i < depth; i++)
        v = json_object_get(v, pointer[i]);
    if (!json_is_array(v))
        fail_msg("%s: no enum at the expected place", path);
    assert_int_equal((int)json_array_size(v), count);
    for (int i = 0; i < count; i++)
        assert_string_equal(json_string_value(json_array_get(v, (size_t)i)), name(i));
    json_decref(root);
}

static const char *status_at(int i)
{
    return status_name((enum status)i);
}

static const char *format_at(int i)
{
    return format_name((enum format)i);
}

static void test_schemas_list_the_same_words(void **state)
{
    (void)state;
    const char *st[] = {"properties", "status", "enum"};
    check_schema_enum("schemas/scrape.results.schema.json", st, 3, status_at, STATUS__COUNT);
    const char *fm[] = {"properties", "formats", "items", "enum"};
    check_schema_enum("schemas/scrape.requests.schema.json", fm, 4, format_at, FORMAT__COUNT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_round_trip),
        cmocka_unit_test(test_status_near_misses),
        cmocka_unit_test(test_lists_only_grow_at_the_end),
        cmocka_unit_test(test_schemas_list_the_same_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
