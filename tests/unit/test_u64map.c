/* u64map against a plain array: puts, replaces, adds of the absent only,
 * removals that shift probe runs back (churn with clustered keys), key 0,
 * iteration, release; a map reserved for N holds N without growing and
 * grows past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "u64map.h"

#define N 20000

static void test_against_array(void **state)
{
    (void)state;
    struct u64map m = U64MAP_INIT;
    uint64_t *want = calloc(N, sizeof(*want)); /* 0: absent */
    assert_non_null(want);
    assert_null(u64map_get(&m, 5));
    u64map_remove(&m, 5); /* absent: fine */
    /* Keys i * 2^32 land near each other (the home slot takes high bits
     * of the product), so removals shift runs often. */
    unsigned seed = 1;
    for (int round = 0; round < 200000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t i = (seed >> 8) % N;
        uint64_t key = (uint64_t)(i + 1) << 32;
        unsigned op = (seed >> 4) % 4;
        if (op == 0) {
            want[i] = 0;
            u64map_remove(&m, key);
        } else if (op == 1) {
            /* Adds only what is absent, and says so; a member keeps its
             * value. */
            assert_int_equal(u64map_add(&m, key, round + 1), want[i] == 0);
            if (!want[i])
                want[i] = round + 1;
        } else {
            want[i] = round + 1;
            u64map_put(&m, key, want[i]);
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t *v = u64map_get(&m, (uint64_t)(i + 1) << 32);
        if (want[i]) {
            assert_non_null(v);
            assert_int_equal(*v, want[i]);
            n++;
        } else {
            assert_null(v);
        }
    }
    assert_int_equal(m.n, n);
    size_t seen = 0;
    for (size_t i = 0; i < m.cap; i++)
        if (m.k[i]) {
            size_t idx = (size_t)(m.k[i] >> 32) - 1;
            assert_int_equal(m.v[i], want[idx]);
            seen++;
        }
    assert_int_equal(seen, n);
    u64map_release(&m);
    assert_int_equal(m.n, 0);
    assert_null(u64map_get(&m, 1ULL << 32));
    free(want);
}

static void test_key_zero(void **state)
{
    (void)state;
    struct u64map m = U64MAP_INIT;
    u64map_put(&m, 0, 7);
    assert_non_null(u64map_get(&m, 0));
    assert_int_equal(*u64map_get(&m, 0), 7);
    assert_int_equal(m.n, 1);
    assert_int_equal(u64map_add(&m, 0, 8), 0); /* 0 is stored as 1 */
    assert_int_equal(*u64map_get(&m, 1), 7);
    u64map_remove(&m, 0);
    assert_null(u64map_get(&m, 0));
    assert_int_equal(m.n, 0);
    assert_int_equal(u64map_add(&m, 0, 9), 1);
    assert_int_equal(*u64map_get(&m, 0), 9);
    u64map_remove(&m, 0);
    u64map_release(&m);
}

static void test_reserve(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 12, 13, 400, 1000, 5000};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        struct u64map m = U64MAP_INIT;
        u64map_reserve(&m, n);
        size_t cap = m.cap;
        assert_true(cap >= 16);
        assert_true(cap * 3 / 4 < n * 2 || cap == 16); /* not oversized */
        const uint64_t *k = m.k;
        for (size_t i = 0; i < n; i++)
            assert_int_equal(u64map_add(&m, (i + 1) * 0x100000001ULL, i), 1);
        /* n members in the slots reserved: no rehash on the way. */
        assert_int_equal(m.n, n);
        assert_int_equal(m.cap, cap);
        assert_ptr_equal(m.k, k);
        u64map_reserve(&m, n / 2); /* holds them already: left as it is */
        assert_ptr_equal(m.k, k);
        /* Past n it grows as a default map does, members kept. */
        for (size_t i = n; i < 3 * cap; i++)
            u64map_put(&m, (i + 1) * 0x100000001ULL, i);
        assert_true(m.cap > cap);
        assert_int_equal(m.n, 3 * cap);
        for (size_t i = 0; i < 3 * cap; i++) {
            uint64_t *v = u64map_get(&m, (i + 1) * 0x100000001ULL);
            assert_non_null(v);
            assert_int_equal(*v, i);
        }
        u64map_release(&m);
    }
    /* Reserving on a map with members rehashes them into the larger table. */
    struct u64map m = U64MAP_INIT;
    for (uint64_t i = 1; i <= 10; i++)
        u64map_put(&m, i, i * 7);
    u64map_reserve(&m, 3000);
    assert_true(m.cap * 3 / 4 >= 3000);
    assert_int_equal(m.n, 10);
    for (uint64_t i = 1; i <= 10; i++)
        assert_int_equal(*u64map_get(&m, i), i * 7);
    u64map_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_array),
        cmocka_unit_test(test_key_zero),
        cmocka_unit_test(test_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
