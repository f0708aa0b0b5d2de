/* strmap against a plain array of flags: puts, replaces, removes (also
 * while iterating), churn that fills the table with tombstones, release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strmap.h"

#define N 50000

static void key_of(char *out, size_t size, int i)
{
    snprintf(out, size, "bat_%d", i);
}

static void test_put_get_replace_remove(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    char k[32];
    int added;
    assert_null(strmap_get(&m, "absent"));
    assert_false(strmap_has(&m, "absent"));
    assert_null(strmap_remove(&m, "absent"));
    for (intptr_t i = 0; i < N; i++) {
        key_of(k, sizeof(k), (int)i);
        assert_null(strmap_put(&m, k, (void *)(i + 1), &added));
        assert_true(added);
    }
    assert_int_equal(strmap_size(&m), N);
    key_of(k, sizeof(k), 77);
    assert_ptr_equal(strmap_put(&m, k, (void *)1000, &added), (void *)78); /* replaced */
    assert_false(added);
    assert_int_equal(strmap_size(&m), N);
    for (intptr_t i = 0; i < N; i++) {
        key_of(k, sizeof(k), (int)i);
        assert_ptr_equal(strmap_get(&m, k), (void *)(i == 77 ? 1000 : i + 1));
    }
    key_of(k, sizeof(k), N);
    assert_null(strmap_get(&m, k));
    /* A NULL value is a value: has tells it from absence. */
    strmap_put(&m, "", NULL, &added);
    assert_true(added && strmap_has(&m, "") && !strmap_get(&m, ""));
    for (int i = 0; i < N; i += 2) {
        key_of(k, sizeof(k), i);
        assert_non_null(strmap_remove(&m, k));
        assert_false(strmap_has(&m, k));
    }
    assert_int_equal(strmap_size(&m), N / 2 + 1);
    for (int i = 1; i < N; i += 2) {
        key_of(k, sizeof(k), i);
        assert_true(strmap_has(&m, k));
    }
    strmap_release(&m, NULL);
    assert_int_equal(strmap_size(&m), 0);
    assert_false(strmap_has(&m, k));
}

static void test_remove_while_iterating(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    char k[32];
    static char seen[N];
    for (intptr_t i = 0; i < N; i++) {
        key_of(k, sizeof(k), (int)i);
        strmap_put(&m, k, (void *)i, NULL);
    }
    size_t pos = 0, visits = 0;
    const char *key;
    void *v;
    memset(seen, 0, sizeof(seen));
    while (strmap_next(&m, &pos, &key, &v)) {
        intptr_t i = (intptr_t)v;
        key_of(k, sizeof(k), (int)i);
        assert_string_equal(key, k);
        assert_int_equal(seen[i], 0); /* each entry once */
        seen[i] = 1;
        visits++;
        if (i % 3 == 0)
            assert_ptr_equal(strmap_remove(&m, key), v);
    }
    assert_int_equal(visits, N);
    assert_int_equal(strmap_size(&m), N - (N + 2) / 3);
    strmap_release(&m, NULL);
}

/* Inserting and removing for ever leaves tombstones everywhere: lookups
 * must still end, and the table must not grow without bound. */
static void test_churn(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    char k[32];
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < 100; i++) {
            key_of(k, sizeof(k), round * 100 + i);
            strmap_put(&m, k, k, NULL);
            if (round > 0) {
                key_of(k, sizeof(k), (round - 1) * 100 + i);
                assert_non_null(strmap_remove(&m, k));
            }
        }
    assert_int_equal(strmap_size(&m), 100);
    assert_true(m.cap <= 1024);
    key_of(k, sizeof(k), 199 * 100 + 5);
    assert_true(strmap_has(&m, k));
    key_of(k, sizeof(k), 198 * 100 + 5);
    assert_false(strmap_has(&m, k));
    strmap_release(&m, NULL);
}

static int freed;
static void count_free(void *p)
{
    freed++;
    free(p);
}

static void test_release_frees_values(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    char k[32];
    for (int i = 0; i < 1000; i++) {
        key_of(k, sizeof(k), i);
        strmap_put(&m, k, malloc(8), NULL);
    }
    free(strmap_remove(&m, "bat_5"));
    freed = 0;
    strmap_release(&m, count_free);
    assert_int_equal(freed, 999);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_remove),
        cmocka_unit_test(test_remove_while_iterating),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_release_frees_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
