/* Change tracking in results (result_build with a request's `track`): the
 * verdict against `previous`, the same members in every part of a split
 * result, null for a failed item, and nothing for an untracked one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "changes.h"
#include "extract.h"
#include "result.h"

#define KEY "sch_01JD5Z8Q1M0000000000000000/0123456789abcdef"

static const unsigned formats = FORMAT_BIT(FORMAT_HTML) | FORMAT_BIT(FORMAT_LINKS);

/* Builds the result of `body` tracked against `previous` (NULL: none) and
 * returns its parsed parts (an array of n objects). */
static json_t *build(const char *body, const char *previous, enum status status, size_t max)
{
    struct extract ex;
    extract_run(&ex, body, strlen(body), "text/html; charset=utf-8", "http://e.com/", formats);
    json_t *track = json_pack("{s:s,s:s?}", "key", KEY, "previous", previous);
    struct result_meta m = {.batch_id = "bat_1",
                            .tenant = "t",
                            .input = "http://e.com/",
                            .index = 3,
                            .status = status,
                            .http_status = 200,
                            .attempts = 1,
                            .fetched_at_ms = 1794000000000LL,
                            .track = track};
    struct result_part *parts;
    size_t n = result_build(&m, status == STATUS_OK ? &ex : NULL, formats, max, &parts);
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++) {
        json_error_t err;
        json_t *v = json_loadb(parts[i].buf, parts[i].len, 0, &err);
        if (!v)
            fail_msg("part %zu not JSON: %s", i + 1, err.text);
        json_array_append_new(all, v);
        free(parts[i].buf);
    }
    free(parts);
    json_decref(track);
    extract_release(&ex);
    return all;
}

static const char *member(const json_t *parts, size_t i, const char *name)
{
    return json_string_value(json_object_get(json_array_get(parts, i), name));
}

static void test_verdicts(void **state)
{
    (void)state;
    const char *page = "<p>price 10</p><a href=/x>x</a>";
    json_t *first = build(page, NULL, STATUS_OK, 1 << 20);
    assert_int_equal(json_array_size(first), 1);
    assert_string_equal(member(first, 0, "change"), "new");
    assert_string_equal(member(first, 0, "change_key"), KEY);
    const char *hash = member(first, 0, "content_hash");
    assert_non_null(hash);
    assert_true(changes_hash_valid(hash, strlen(hash)));

    json_t *again = build(page, hash, STATUS_OK, 1 << 20);
    assert_string_equal(member(again, 0, "change"), "same");
    assert_string_equal(member(again, 0, "content_hash"), hash);

    json_t *edited = build("<p>price 12</p><a href=/x>x</a>", hash, STATUS_OK, 1 << 20);
    assert_string_equal(member(edited, 0, "change"), "changed");
    assert_string_not_equal(member(edited, 0, "content_hash"), hash);

    /* A link is data too (formats asked for links). */
    json_t *relinked = build("<p>price 10</p><a href=/y>x</a>", hash, STATUS_OK, 1 << 20);
    assert_string_equal(member(relinked, 0, "change"), "changed");

    /* Nothing fetched: nothing compared, the previous hash stands. */
    json_t *failed = build(page, hash, STATUS_TIMEOUT, 1 << 20);
    json_t *f0 = json_array_get(failed, 0);
    assert_true(json_is_null(json_object_get(f0, "change")));
    assert_true(json_is_null(json_object_get(f0, "content_hash")));
    assert_string_equal(member(failed, 0, "change_key"), KEY);

    json_decref(first);
    json_decref(again);
    json_decref(edited);
    json_decref(relinked);
    json_decref(failed);
}

static void test_split_parts_carry_the_verdict(void **state)
{
    (void)state;
    size_t cap = 200000, len = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    for (int i = 0; len + 64 < cap; i++)
        len += (size_t)snprintf(body + len, cap - len, "<p>line %d caf\xc3\xa9</p>\n", i);
    json_t *whole = build(body, NULL, STATUS_OK, 1 << 22);
    json_t *split = build(body, member(whole, 0, "content_hash"), STATUS_OK, 30000);
    assert_int_equal(json_array_size(whole), 1);
    assert_true(json_array_size(split) > 3);
    for (size_t i = 0; i < json_array_size(split); i++) {
        assert_string_equal(member(split, i, "change"), "same");
        assert_string_equal(member(split, i, "change_key"), KEY);
        assert_string_equal(member(split, i, "content_hash"), member(whole, 0, "content_hash"));
    }
    json_decref(whole);
    json_decref(split);
    free(body);
}

static void test_untracked(void **state)
{
    (void)state;
    struct extract ex;
    extract_run(&ex, "<p>x</p>", 8, "text/html", "http://e.com/", formats);
    struct result_meta m = {.batch_id = "bat_1",
                            .tenant = "t",
                            .input = "http://e.com/",
                            .status = STATUS_OK,
                            .attempts = 1,
                            .fetched_at_ms = 1794000000000LL};
    struct result_part *parts;
    assert_int_equal(result_build(&m, &ex, formats, 1 << 20, &parts), 1);
    assert_null(strstr(parts[0].buf, "change"));
    free(parts[0].buf);
    free(parts);
    /* A malformed track (no key) tracks nothing. */
    json_t *bad = json_pack("{s:s}", "key", "sch_x/0");
    m.track = bad;
    assert_int_equal(result_build(&m, &ex, formats, 1 << 20, &parts), 1);
    assert_null(strstr(parts[0].buf, "change"));
    free(parts[0].buf);
    free(parts);
    json_decref(bad);
    extract_release(&ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_split_parts_carry_the_verdict),
        cmocka_unit_test(test_untracked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
