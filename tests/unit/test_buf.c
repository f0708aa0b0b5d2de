/* buf: the cap is enforced inside the buffer, on every way of appending. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_append_and_detach(void **state)
{
    struct buf b = BUF_INIT(BUF_NO_MAX);
    (void)state;
    assert_string_equal(buf_str(&b), "");
    assert_int_equal(buf_adds(&b, "ab"), 0);
    assert_int_equal(buf_addc(&b, 'c'), 0);
    assert_int_equal(buf_addf(&b, "-%d-", 42), 0);
    assert_string_equal(buf_str(&b), "abc-42-");
    assert_int_equal(b.len, 7);
    buf_truncate(&b, 3);
    assert_string_equal(buf_str(&b), "abc");
    size_t len = 0;
    char *p = buf_detach(&b, &len);
    assert_string_equal(p, "abc");
    assert_int_equal(len, 3);
    free(p);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_str(&b), "");
    buf_release(&b);
}

static void test_long_format(void **state)
{
    struct buf b = BUF_INIT(BUF_NO_MAX);
    char big[1000];
    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(buf_addf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.ptr[0], '<');
    assert_int_equal(b.ptr[1000], '>');
    buf_release(&b);
}

static void test_cap(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b, 5);
    assert_int_equal(buf_adds(&b, "12345"), 0); /* exactly the cap */
    assert_int_equal(buf_addc(&b, '6'), -1);    /* one past: released */
    assert_int_equal(b.len, 0);
    assert_null(b.ptr);
    assert_int_equal(buf_adds(&b, "abc"), 0); /* usable again, same cap */
    assert_int_equal(buf_addf(&b, "%s", "defg"), -1);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_reserve(&b, 6), -1);
    assert_int_equal(buf_reserve(&b, 5), 0);
    assert_true(b.alloc <= 6); /* never much past what the cap can use */
    buf_reset(&b);
    assert_string_equal(buf_str(&b), "");
    buf_release(&b);
}

static void test_many_small_appends(void **state)
{
    struct buf b = BUF_INIT(1 << 20);
    (void)state;
    for (int i = 0; i < 100000; i++)
        assert_int_equal(buf_addc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 100000);
    assert_int_equal(b.ptr[99999], 'a' + 99999 % 26);
    assert_int_equal(b.ptr[100000], '\0');
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_detach),
        cmocka_unit_test(test_long_format),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_many_small_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
