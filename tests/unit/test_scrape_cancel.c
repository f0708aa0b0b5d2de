/* scrape's cancelled-batch set: membership through growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "../../stages/scrape/cancel.c"

static void test_idset(void **state)
{
    (void)state;
    struct idset *s = idset_new();
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "bat_%d", i * 7);
        assert_int_equal(idset_add(s, id), 1);
        assert_int_equal(idset_add(s, id), 0); /* already there */
    }
    assert_int_equal(idset_size(s), 5000);
    for (int i = 0; i < 35000; i++) {
        snprintf(id, sizeof(id), "bat_%d", i);
        if (idset_has(s, id) != (i % 7 == 0))
            fail_msg("%s: has=%d", id, idset_has(s, id));
    }
    assert_int_equal(idset_has(s, ""), 0);
    idset_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_idset)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
