/* usagerec: the usage topic's dates, keys and values, written and read
 * back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"
#include "usagerec.h"

static void test_dates(void **st)
{
    (void)st;
    char out[USAGEREC_DATE_LEN];
    int64_t days;
    usagerec_date(0, out);
    assert_string_equal(out, "1970-01-01");
    usagerec_date(1795341600000LL, out); /* 2026-11-22T10:00:00Z */
    assert_string_equal(out, "2026-11-22");
    usagerec_date(1795391999999LL, out); /* the day's last millisecond */
    assert_string_equal(out, "2026-11-22");
    usagerec_date(1795392000000LL, out);
    assert_string_equal(out, "2026-11-23");

    assert_int_equal(usagerec_parse_date("2026-11-22", &days), 0);
    usagerec_format_days(days, out);
    assert_string_equal(out, "2026-11-22");
    assert_int_equal(days * 86400000LL, 1795341600000LL - 10 * 3600000LL);
    assert_int_equal(usagerec_parse_date("2024-02-29", &days), 0);
    usagerec_format_days(days + 1, out);
    assert_string_equal(out, "2024-03-01");
    const char *bad[] = {"2026-02-29",  "2026-13-01", "2026-00-10", "2026-1-01",
                         "2026-11-22x", "26-11-22",   "2026/11/22", "",
                         "2026-11-2 ",  "+026-11-22", "2026-04-31"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(usagerec_parse_date(bad[i], &days), -1);
    assert_int_equal(usagerec_parse_date(NULL, &days), -1);
}

static void test_record_round_trip(void **st)
{
    (void)st;
    struct usagerec r = {.date = "2026-11-22", .partition = 7, .tenant = "acme \"west\"/eu"};
    r.c = (struct usage_counts){1, 100, 90, 10, 450, 2};
    char key[USAGEREC_KEY_MAX];
    usagerec_key(&r, key);
    assert_string_equal(key, "2026-11-22/7/acme \"west\"/eu");

    size_t len;
    char *json = usagerec_json(&r, 1795341600123LL, &len);
    assert_int_equal(strlen(json), len);
    char why[128];
    json_t *v = jx_parse(json, len, 4, why, sizeof(why));
    assert_non_null(v);
    assert_string_equal(jx_str(v, "updated_at", ""), "2026-11-22T10:00:00.123Z");
    assert_int_equal(jx_int(v, "webhooks_delivered", -1), 2);
    assert_int_equal(jx_int(v, "schema_version", -1), 1);
    json_decref(v);

    struct usagerec back;
    assert_int_equal(usagerec_parse(&back, json, len), 0);
    free(json);
    assert_string_equal(back.tenant, r.tenant);
    assert_string_equal(back.date, r.date);
    assert_int_equal(back.partition, 7);
    assert_memory_equal(&back.c, &r.c, sizeof(r.c));

    struct usage_counts sum = {0};
    usage_counts_add(&sum, &r.c);
    usage_counts_add(&sum, &r.c);
    assert_int_equal(sum.credits, 900);
    assert_int_equal(sum.batches, 2);

    const char *bad[] = {"{}",
                         "[]",
                         "{\"tenant\":\"a\",\"date\":\"2026-02-30\",\"partition\":0}",
                         "{\"tenant\":\"a\",\"date\":\"2026-02-03\"}",
                         "not json",
                         "{\"schema_version\":2,\"tenant\":\"a\",\"date\":\"2026-02-03\","
                         "\"partition\":0}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(usagerec_parse(&back, bad[i], strlen(bad[i])), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_record_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
