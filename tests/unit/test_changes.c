/* changes: content hashes tell fields apart, input keys ignore header order
 * and name case, keys split back, verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "changes.h"

static void hash2(const char *n1, const char *v1, const char *n2, const char *v2,
                  char out[CHANGES_HASH_LEN])
{
    struct changes_hasher h;
    changes_hasher_init(&h);
    changes_hasher_add(&h, n1, v1, strlen(v1));
    if (n2)
        changes_hasher_add(&h, n2, v2, strlen(v2));
    changes_hasher_final(&h, out);
}

static void test_content_hash(void **state)
{
    (void)state;
    char a[CHANGES_HASH_LEN], b[CHANGES_HASH_LEN], c[CHANGES_HASH_LEN];
    hash2("html", "<p>1</p>", NULL, NULL, a);
    hash2("html", "<p>1</p>", NULL, NULL, b);
    assert_string_equal(a, b);
    assert_true(changes_hash_valid(a, strlen(a)));
    hash2("html", "<p>2</p>", NULL, NULL, b);
    assert_string_not_equal(a, b);
    /* Boundaries between fields count, and so do their names. */
    hash2("html", "ab", "text", "c", a);
    hash2("html", "a", "text", "bc", b);
    hash2("text", "ab", "html", "c", c);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, c);
    /* SHA-256("url\0" + 3 as 8 LE bytes + "abc")[0..8], fixed forever:
     * hashes are stored across runs and versions. */
    struct changes_hasher h;
    changes_hasher_init(&h);
    changes_hasher_add(&h, "url", "abc", 3);
    changes_hasher_final(&h, a);
    assert_string_equal(a, "ac22439b800f4fd4");
    changes_input_key("abc", NULL, 0, b);
    assert_string_equal(a, b);
}

static void test_input_key(void **state)
{
    (void)state;
    char a[CHANGES_HASH_LEN], b[CHANGES_HASH_LEN], c[CHANGES_HASH_LEN], d[CHANGES_HASH_LEN];
    const char *h1[] = {"Accept-Language: es", "X-Token: 1"};
    const char *h2[] = {"x-token: 1", "accept-language: es"};
    const char *h3[] = {"Accept-Language: en", "X-Token: 1"};
    changes_input_key("https://example.com/a", h1, 2, a);
    changes_input_key("https://example.com/a", h2, 2, b);
    changes_input_key("https://example.com/a", h3, 2, c);
    changes_input_key("https://example.com/a", NULL, 0, d);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    changes_input_key("https://example.com/b", NULL, 0, c);
    assert_string_not_equal(c, d);
}

static void test_keys(void **state)
{
    (void)state;
    char key[CHANGES_KEY_MAX];
    size_t id_len;
    const char *input;
    changes_key("sch_01JD5Z8Q1M0000000000000000", "0123456789abcdef", key);
    assert_string_equal(key, "sch_01JD5Z8Q1M0000000000000000/0123456789abcdef");
    assert_int_equal(changes_key_split(key, strlen(key), &id_len, &input), 0);
    assert_int_equal(id_len, 30);
    assert_string_equal(input, "0123456789abcdef");
    assert_int_equal(changes_key_split(key, strlen(key) - 1, &id_len, &input), -1);
    assert_int_equal(
        changes_key_split("bat_01JD5Z8Q1M0000000000000000/0123456789abcdef", 47, &id_len, &input),
        -1);
    assert_int_equal(
        changes_key_split("sch_01JD5Z8Q1M0000000000000000/0123456789ABCDEF", 47, &id_len, &input),
        -1);
    assert_int_equal(changes_key_split("nothing", 7, &id_len, &input), -1);
}

static void test_verdicts_and_numbers(void **state)
{
    (void)state;
    assert_int_equal(changes_verdict(NULL, "0123456789abcdef"), CHANGE_NEW);
    assert_int_equal(changes_verdict("", "0123456789abcdef"), CHANGE_NEW);
    assert_int_equal(changes_verdict("0123456789abcdef", "0123456789abcdef"), CHANGE_SAME);
    assert_int_equal(changes_verdict("0123456789abcdee", "0123456789abcdef"), CHANGE_CHANGED);
    char hex[CHANGES_HASH_LEN];
    assert_true(changes_hash_u64("ffffffffffffffff") == UINT64_MAX);
    changes_hash_hex(changes_hash_u64("00f0a0b0c0d0e0ff"), hex);
    assert_string_equal(hex, "00f0a0b0c0d0e0ff");
    assert_false(changes_hash_valid("00f0a0b0c0d0e0f", 15));
    assert_false(changes_hash_valid("00f0a0b0c0d0e0fg", 16));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_hash),
        cmocka_unit_test(test_input_key),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_verdicts_and_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
