/* Inline results: a result written in parts comes back whole, in every
 * format, as the same text it would have been written whole; lists join
 * by index. Links the stage's objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "results.h"

#define ID   "bat_01M816TZ7MSG7GBE1TYYCV6RYZ"
#define HEAD "{\"batch_id\":\"" ID "\",\"tenant\":\"acme\",\"index\":3,\"status\":\"ok\","

/* The head every part repeats (a fetch), with part/parts unless p is 0
 * (the result written whole). */
static char *part_text(const char *fetched_at, int p, int n, const char *data)
{
    char *out = malloc(strlen(data) + 256), parts[48] = "";
    if (p)
        snprintf(parts, sizeof(parts), "\"part\":%d,\"parts\":%d,", p, n);
    sprintf(out,
            HEAD "\"final_url\":\"https://e/x\",\"fetched_at\":\"%s\",\"credits_charged\":1,"
                 "%s\"data\":%s}",
            fetched_at, parts, data);
    return out;
}

static struct record parse(const char *text)
{
    struct record r;
    char why[256];
    if (record_parse_result(&r, text, strlen(text), NULL, 0, 100, why, sizeof(why)))
        fail_msg("%s: %s", why, text);
    return r;
}

/* Feeds texts in order; returns the whole result once one is. */
static char *feed(struct assembly *a, const char *const *texts, size_t n, int *canonical)
{
    char *whole = NULL;
    size_t len;
    for (size_t i = 0; i < n; i++) {
        struct record r = parse(texts[i]);
        char *w = assembly_add(a, &r, &len, canonical);
        record_release(&r);
        if (w) {
            assert_null(whole);
            assert_int_equal(strlen(w), len);
            whole = w;
        }
    }
    return whole;
}

static void test_every_format_comes_back_whole(void **st)
{
    (void)st;
    /* As scrape cuts them: string fields sliced at character and escape
     * boundaries over the parts in order, links and metadata in part 1. */
    static const char *const data[] = {
        "{\"html\":\"<p>caf\xc3\xa9 \\\"q\\\"\",\"links\":[\"https://e/a\",\"https://e/b\"],"
        "\"metadata\":{\"title\":\"T\\n\",\"json_ld\":[{\"@type\":\"Thing\"}]}}",
        "{\"html\":\" more\\u001f</p>\",\"text\":\"caf\xc3\xa9 \\\"q\\\"\"}",
        "{\"text\":\" more\",\"markdown\":\"# caf\xc3\xa9\\n\\nmore\"}",
    };
    const char *whole_data =
        "{\"html\":\"<p>caf\xc3\xa9 \\\"q\\\" more\\u001f</p>\","
        "\"text\":\"caf\xc3\xa9 \\\"q\\\" more\",\"markdown\":\"# caf\xc3\xa9\\n\\nmore\","
        "\"links\":[\"https://e/a\",\"https://e/b\"],"
        "\"metadata\":{\"title\":\"T\\n\",\"json_ld\":[{\"@type\":\"Thing\"}]}}";
    char *parts[3];
    for (int p = 0; p < 3; p++)
        parts[p] = part_text("2026-11-22T10:00:00.000Z", p + 1, 3, data[p]);
    /* The expected text: what record.h keeps of the result written whole. */
    char *expect_raw = part_text("2026-11-22T10:00:00.000Z", 0, 0, whole_data);
    struct record e = parse(expect_raw);
    struct assembly a = {0};
    int canonical = 0;
    const char *order[] = {parts[2], parts[0], parts[1]}; /* any order */
    char *whole = feed(&a, order, 3, &canonical);
    assert_non_null(whole);
    assert_string_equal(whole, e.text);
    assert_true(canonical);
    free(whole);
    record_release(&e);
    free(expect_raw);

    /* Binary bodies: base64 only, in slices. */
    char *b1 = part_text("2026-11-22T10:00:00.000Z", 1, 2, "{\"base64\":\"QUJD\"}");
    char *b2 = part_text("2026-11-22T10:00:00.000Z", 2, 2, "{\"base64\":\"REVG\"}");
    const char *bin[] = {b1, b2};
    whole = feed(&a, bin, 2, &canonical);
    assert_non_null(strstr(whole, ",\"data\":{\"base64\":\"QUJDREVG\"}}"));
    free(whole);
    free(b1);
    free(b2);
    assert_int_equal(a.n, 0);
    assembly_release(&a);
    for (int p = 0; p < 3; p++)
        free(parts[p]);
}

static void test_attempts_and_duplicates(void **st)
{
    (void)st;
    char *a1 = part_text("2026-11-22T10:00:00.000Z", 1, 2, "{\"text\":\"A1\"}");
    char *a2 = part_text("2026-11-22T10:00:00.000Z", 2, 2, "{\"text\":\"A2\"}");
    char *b1 = part_text("2026-11-22T10:00:05.000Z", 1, 2, "{\"text\":\"B1\"}");
    char *b2 = part_text("2026-11-22T10:00:05.000Z", 2, 2, "{\"text\":\"B2\"}");
    struct assembly a = {0};
    int canonical;
    /* Interleaved attempts, a part twice: never mixed, the first attempt
     * with all its parts wins, and the item is done after that. */
    const char *seq[] = {b1, a1, b1, a2};
    char *whole = feed(&a, seq, 4, &canonical);
    assert_non_null(strstr(whole, "\"data\":{\"text\":\"A1A2\"}"));
    free(whole);
    assert_int_equal(a.n, 0);
    const char *rest[] = {b2};
    assert_null(feed(&a, rest, 1, &canonical)); /* a new, incomplete assembly of B */
    assembly_release(&a);

    /* A result written whole passes as it is, even in another form. */
    const char *plain = HEAD "\"x\":1.50,\"data\":null}";
    struct record r = parse(plain);
    size_t len;
    whole = assembly_add(&a, &r, &len, &canonical);
    assert_string_equal(whole, "{\"index\":3,\"status\":\"ok\",\"x\":1.50,\"data\":null}");
    assert_false(canonical);
    free(whole);
    record_release(&r);
    assembly_release(&a);
    free(a1);
    free(a2);
    free(b1);
    free(b2);
}

static void test_join_by_index(void **st)
{
    (void)st;
    struct results l = {0};
    results_add(&l, 9, strdup("{\"index\":9}"), 11);
    results_add(&l, 2, strdup("{\"index\":2}"), 11);
    results_add(&l, 5, strdup("{\"index\":5}"), 11);
    size_t len;
    char *text = results_join(&l, &len);
    assert_string_equal(text, "[{\"index\":2},{\"index\":5},{\"index\":9}]");
    assert_int_equal(len, results_joined_len(&l));
    free(text);
    results_clear(&l);
    text = results_join(&l, &len);
    assert_string_equal(text, "[]");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_format_comes_back_whole),
        cmocka_unit_test(test_attempts_and_duplicates),
        cmocka_unit_test(test_join_by_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
