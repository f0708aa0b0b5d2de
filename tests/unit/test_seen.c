/* seen: the hash (SipHash-2-4 reference vectors, stable per crawl), the
 * set, its bound, and restoring it from changelog chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "seen.h"

/* The reference vectors of the SipHash paper (key 00..0f, message 00..n-1). */
static void test_siphash_vectors(void **state)
{
    (void)state;
    struct seen s;
    assert_int_equal(seen_init(&s, "bat_x", 10), 0);
    for (int i = 0; i < 16; i++)
        s.key[i] = (uint8_t)i;
    char msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (char)i;
    assert_true(seen_hash(&s, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(seen_hash(&s, msg, 1) == 0x74f839c593dc67fdULL);
    assert_true(seen_hash(&s, msg, 8) == 0x93f5f5799a932462ULL);
    assert_true(seen_hash(&s, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_true(seen_hash(&s, msg, 63) == 0x958a324ceb064572ULL);
    seen_release(&s);
}

/* A restored set must agree with the one written before a crash, whatever
 * version of ferry restores it: the hash of a crawl is pinned (the value
 * computed by an independent SipHash-2-4 over SHA-256("ferry.seen" NUL id)). */
static void test_hash_is_stable(void **state)
{
    (void)state;
    struct seen a, b, c;
    assert_int_equal(seen_init(&a, "bat_01JD0000000000000000000000", 10), 0);
    assert_int_equal(seen_init(&b, "bat_01JD0000000000000000000000", 10), 0);
    assert_int_equal(seen_init(&c, "bat_01JD0000000000000000000001", 10), 0);
    const char *key = "example.com/docs";
    uint64_t h = seen_hash(&a, key, strlen(key));
    assert_true(h == seen_hash(&b, key, strlen(key)));
    assert_true(h != seen_hash(&c, key, strlen(key)));
    assert_true(h == 0x5097e174a59d39d0ULL);
    seen_release(&a);
    seen_release(&b);
    seen_release(&c);
}

static void test_add_has_and_bound(void **state)
{
    (void)state;
    struct seen s;
    assert_int_equal(seen_init(&s, "bat_x", 3), 0);
    assert_int_equal(seen_has(&s, 42), 0);
    assert_int_equal(seen_add(&s, 42), 1);
    assert_int_equal(seen_add(&s, 42), 0);
    assert_int_equal(seen_has(&s, 42), 1);
    /* 0 is the empty slot's mark: stored as 1, and so the same page as 1 */
    assert_int_equal(seen_add(&s, 0), 1);
    assert_int_equal(seen_has(&s, 0), 1);
    assert_int_equal(seen_has(&s, 1), 1);
    assert_int_equal(seen_add(&s, 1), 0);
    assert_int_equal(seen_add(&s, 7), 1);
    assert_int_equal(seen_count(&s), 3);
    /* full: a new page is refused, a known one still answers "present" */
    assert_int_equal(seen_add(&s, 8), -1);
    assert_int_equal(seen_add(&s, 7), 0);
    assert_int_equal(seen_has(&s, 8), 0);
    assert_int_equal(seen_count(&s), 3);
    size_t n;
    const uint64_t *j = seen_journal(&s, &n);
    assert_int_equal(n, 3);
    assert_true(j[0] == 42 && j[1] == 1 && j[2] == 7);
    seen_journal_clear(&s);
    seen_journal(&s, &n);
    assert_int_equal(n, 0);
    seen_release(&s);
}

/* What a frontier does: add, write a chunk per transaction, clear; then a new
 * owner restores from the chunks and agrees on every page. */
static void test_chunks_restore(void **state)
{
    (void)state;
    struct seen s, back;
    const char *crawl = "bat_01JD5Y3K0000000000000000";
    assert_int_equal(seen_init(&s, crawl, 100000), 0);
    assert_int_equal(seen_init(&back, crawl, 100000), 0);
    char key[64];
    char err[128];
    for (int txn = 0; txn < 50; txn++) {
        for (int i = 0; i < 400; i++) {
            int n = snprintf(key, sizeof(key), "example.com/p/%d", txn * 300 + i);
            seen_add(&s, seen_hash(&s, key, (size_t)n)); /* overlapping: some known */
        }
        size_t n;
        const uint64_t *j = seen_journal(&s, &n);
        struct buf chunk = BUF_INIT(BUF_NO_MAX);
        assert_int_equal(seen_chunk_encode(j, n, &chunk), 0);
        assert_int_equal(chunk.len, (8 * n + 2) / 3 * 4);
        assert_int_equal(seen_chunk_restore(&back, chunk.ptr, chunk.len, err, sizeof(err)),
                         (long)n);
        buf_release(&chunk);
        seen_journal_clear(&s);
    }
    assert_int_equal(seen_count(&s), 49 * 300 + 400);
    assert_int_equal(seen_count(&back), seen_count(&s));
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof(key), "example.com/p/%d", i);
        uint64_t h = seen_hash(&back, key, (size_t)n);
        assert_int_equal(seen_has(&back, h), seen_has(&s, h));
    }
    /* restoring journals nothing (the chunks are already in the changelog) */
    size_t n;
    seen_journal(&back, &n);
    assert_int_equal(n, 0);
    /* replaying a chunk twice changes nothing */
    uint64_t again[2] = {seen_hash(&s, "example.com/p/1", 15), 12345};
    struct buf chunk = BUF_INIT(BUF_NO_MAX);
    assert_int_equal(seen_chunk_encode(again, 2, &chunk), 0);
    assert_int_equal(seen_chunk_restore(&back, chunk.ptr, chunk.len, err, sizeof(err)), 1);
    assert_int_equal(seen_chunk_restore(&back, chunk.ptr, chunk.len, err, sizeof(err)), 0);
    buf_release(&chunk);
    /* malformed chunks are refused */
    assert_int_equal(seen_chunk_restore(&back, "AAAA", 4, err, sizeof(err)), -1);
    assert_int_equal(seen_chunk_restore(&back, "!!!!!!!!!!!!", 12, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "malformed"));
    /* an empty chunk is fine */
    buf_init(&chunk, BUF_NO_MAX);
    assert_int_equal(seen_chunk_encode(NULL, 0, &chunk), 0);
    assert_int_equal(seen_chunk_restore(&back, buf_str(&chunk), chunk.len, err, sizeof(err)), 0);
    buf_release(&chunk);
    seen_release(&s);
    seen_release(&back);
}

/* A million pages: 16 MiB of table, every page found, none lost. */
static void test_million(void **state)
{
    (void)state;
    struct seen s;
    const size_t n = 1000000;
    assert_int_equal(seen_init(&s, "bat_million", n), 0);
    char key[64];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(key, sizeof(key), "example.com/section/%zu/page-%zu", i % 97, i);
        assert_int_equal(seen_add(&s, seen_hash(&s, key, (size_t)len)), 1);
        if (i % 1000 == 999)
            seen_journal_clear(&s); /* one chunk per transaction */
    }
    assert_int_equal(seen_count(&s), n);
    seen_journal_clear(&s);
    assert_true(seen_memory(&s) <= (16u << 20) + 8 * 1024);
    assert_true(seen_memory(&s) >= (16u << 20));
    for (size_t i = 0; i < n; i += 1000) {
        int len = snprintf(key, sizeof(key), "example.com/section/%zu/page-%zu", i % 97, i);
        assert_int_equal(seen_has(&s, seen_hash(&s, key, (size_t)len)), 1);
    }
    /* one page past the bound is refused */
    assert_int_equal(seen_add(&s, seen_hash(&s, "example.com/one-more", 20)), -1);
    seen_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),   cmocka_unit_test(test_hash_is_stable),
        cmocka_unit_test(test_add_has_and_bound), cmocka_unit_test(test_chunks_restore),
        cmocka_unit_test(test_million),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
