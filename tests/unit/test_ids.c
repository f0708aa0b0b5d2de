/* ids and clock: batch ids sort by time and validate; delivery ids are
 * deterministic; ISO-8601 round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include "clock.h"
#include "ids.h"

static void test_batch_ids_sort_by_time(void **state)
{
    char a[IDS_BATCH_LEN], b[IDS_BATCH_LEN];
    (void)state;
    assert_int_equal(ids_batch_new(a), 0);
    usleep(2000);
    assert_int_equal(ids_batch_new(b), 0);
    assert_int_equal(strlen(a), IDS_BATCH_LEN - 1);
    assert_memory_equal(a, "bat_", 4);
    assert_true(strcmp(a, b) < 0);
    assert_true(ids_valid("bat", a));
    int64_t t = ids_time_ms("bat", a);
    assert_true(llabs(t - clk_now_ms()) < 5000);
}

static void test_ids_are_unique(void **state)
{
    enum { N = 2000 };
    static char ids[N][IDS_BATCH_LEN];
    (void)state;
    for (int i = 0; i < N; i++)
        ids_batch_new(ids[i]);
    qsort(ids, N, IDS_BATCH_LEN, (int (*)(const void *, const void *))strcmp);
    for (int i = 1; i < N; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) != 0);
}

static void test_ids_valid_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "bat_",
        "bat_01JD0000000000000000000000X", /* too long */
        "bat_01JD000000000000000000000",   /* too short */
        "bat_01JD00000000000000000000I0",  /* I is not Crockford */
        "bat_81JD000000000000000000000",   /* first digit > 7 */
        "job_01JD00000000000000000000",    /* wrong prefix */
        "bat_01jd00000000000000000000",    /* lower case */
        "bat_01JD0000000000000000000/",
        "../../etc/passwd",
    };
    (void)state;
    assert_true(ids_valid("bat", "bat_01JD0000000000000000000000"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ids_valid("bat", bad[i]))
            fail_msg("accepted '%s'", bad[i]);
}

static void test_delivery_ids_are_deterministic(void **state)
{
    char a[IDS_DELIVERY_LEN], b[IDS_DELIVERY_LEN], c[IDS_DELIVERY_LEN], d[IDS_DELIVERY_LEN];
    (void)state;
    ids_delivery("bat_X", "batch.completed", -1, a);
    ids_delivery("bat_X", "batch.completed", -1, b);
    ids_delivery("bat_X", "batch.cancelled", -1, c);
    ids_delivery("bat_X", "item.completed", 3, d);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_int_equal(strlen(a), IDS_DELIVERY_LEN - 1);
    assert_memory_equal(a, "dlv_", 4);
    /* What ids_delivery writes is what ids_delivery_valid accepts. */
    assert_true(ids_delivery_valid(a));
    assert_true(ids_delivery_valid(d));
    d[10] = 'A'; /* upper case */
    assert_false(ids_delivery_valid(d));
    assert_false(ids_delivery_valid("dlv_0123"));
    assert_false(ids_delivery_valid("bat_0123456789abcdef0123456789abcdef"));
    assert_false(ids_delivery_valid(NULL));
}

static void test_hash_is_fnv1a(void **state)
{
    (void)state;
    /* The published FNV-1a 64 test vectors. */
    assert_true(ids_hash("", 0) == 0xcbf29ce484222325ULL);
    assert_true(ids_hash("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(ids_hash("foobar", 6) == 0x85944171f73967e8ULL);
}

/* A run's batch id: deterministic per (schedule, slot), shaped and sorted
 * like every batch id, marked so it never equals a random one, and
 * different for different slots and different schedules. */
static void test_schedule_run_ids(void **state)
{
    char sch[IDS_BATCH_LEN], other[IDS_BATCH_LEN], a[IDS_BATCH_LEN], b[IDS_BATCH_LEN];
    char c[IDS_BATCH_LEN], d[IDS_BATCH_LEN];
    int64_t slot = 1795341600000LL;
    (void)state;
    assert_int_equal(ids_new("sch", sch, sizeof(sch)), 0);
    assert_int_equal(ids_new("sch", other, sizeof(other)), 0);
    assert_int_equal(ids_schedule_run(sch, slot, a), 0);
    assert_int_equal(ids_schedule_run(sch, slot, b), 0);
    assert_string_equal(a, b);
    assert_true(ids_valid("bat", a));
    assert_int_equal(ids_time_ms("bat", a), slot);
    assert_true(ids_is_schedule_run(a));
    /* The next slot sorts after; another schedule's run of the same slot
     * differs. */
    assert_int_equal(ids_schedule_run(sch, slot + 60000, c), 0);
    assert_true(strcmp(a, c) < 0);
    assert_int_equal(ids_schedule_run(other, slot, d), 0);
    assert_string_not_equal(a, d);
    /* The schedule's random bits are carried: runs of one schedule share
     * the last 16 digits (80 bits, of which the first is the marker). */
    assert_memory_equal(a + 4 + 10 + 1, sch + 4 + 10 + 1, 15);
    assert_memory_equal(c + 4 + 10 + 1, sch + 4 + 10 + 1, 15);
    /* Random ids never carry the marker. */
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(ids_batch_new(b), 0);
        assert_false(ids_is_schedule_run(b));
    }
    assert_int_equal(ids_schedule_run("bat_01JD0000000000000000000000", slot, b), -1);
    assert_int_equal(ids_schedule_run("sch_nope", slot, b), -1);
    assert_int_equal(ids_schedule_run(sch, -1, b), -1);
    assert_int_equal(ids_schedule_run(sch, 1LL << 48, b), -1);
    assert_int_equal(ids_schedule_run(sch, (1LL << 48) - 1, b), 0);
    assert_int_equal(ids_time_ms("bat", b), (1LL << 48) - 1);
    assert_false(ids_is_schedule_run("not an id"));
}

static void test_derived_batch_ids(void **state)
{
    (void)state;
    char a[IDS_BATCH_LEN], b[IDS_BATCH_LEN], c[IDS_BATCH_LEN], r[IDS_BATCH_LEN];
    int64_t day = 1795305600000LL; /* 2026-11-22T00:00:00Z */
    assert_int_equal(ids_batch_derived(day, "acme\nk1", 7, a), 0);
    assert_int_equal(ids_batch_derived(day, "acme\nk1", 7, b), 0);
    assert_string_equal(a, b); /* the same seed and time: the same id, on any instance */
    assert_true(ids_valid("bat", a));
    assert_int_equal(ids_time_ms("bat", a), day);
    assert_true(ids_is_schedule_run(a)); /* derived: never equal to a random id */
    assert_int_equal(ids_batch_derived(day, "acme\nk2", 7, c), 0);
    assert_string_not_equal(a, c);
    assert_int_equal(ids_batch_derived(day + 86400000, "acme\nk1", 7, c), 0);
    assert_string_not_equal(a, c);
    assert_int_equal(ids_batch_new(r), 0);
    assert_false(ids_is_schedule_run(r));
    assert_int_equal(ids_batch_derived(-1, "x", 1, c), -1);
    assert_int_equal(ids_batch_derived(1LL << 48, "x", 1, c), -1);
}

static void test_iso8601(void **state)
{
    char buf[CLK_ISO_LEN];
    int64_t back;
    (void)state;
    clk_iso8601(1795341600123LL, buf);
    assert_string_equal(buf, "2026-11-22T10:00:00.123Z");
    assert_int_equal(clk_parse_iso8601(buf, &back), 0);
    assert_int_equal(back, 1795341600123LL);
    assert_int_equal(clk_parse_iso8601("2026-11-22T10:00:00Z", &back), 0);
    assert_int_equal(back, 1795341600000LL);
    assert_int_equal(clk_parse_iso8601("2026-11-22 10:00:00", &back), -1);
    assert_int_equal(clk_parse_iso8601("2026-11-22T10:00:00+01:00", &back), -1);
    /* Within the second just written only the milliseconds change; the
     * next second, and a jump back, are written whole. */
    clk_iso8601(1795341600007LL, buf);
    assert_string_equal(buf, "2026-11-22T10:00:00.007Z");
    clk_iso8601(1795341600999LL, buf);
    assert_string_equal(buf, "2026-11-22T10:00:00.999Z");
    clk_iso8601(1795341601000LL, buf);
    assert_string_equal(buf, "2026-11-22T10:00:01.000Z");
    clk_iso8601(1795341601040LL, buf);
    assert_string_equal(buf, "2026-11-22T10:00:01.040Z");
    clk_iso8601(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    clk_iso8601(1795341601500LL, buf);
    assert_string_equal(buf, "2026-11-22T10:00:01.500Z");
}

/* The SipHash paper's vectors: key 00..0f, message 00..n-1. */
static void test_siphash_vectors(void **state)
{
    (void)state;
    uint8_t key[16], msg[15];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    assert_true(ids_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(ids_siphash(key, msg, 15) == 0xa129ca6149be45e5ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_batch_ids_sort_by_time),
        cmocka_unit_test(test_ids_are_unique),
        cmocka_unit_test(test_ids_valid_rejects),
        cmocka_unit_test(test_delivery_ids_are_deterministic),
        cmocka_unit_test(test_hash_is_fnv1a),
        cmocka_unit_test(test_schedule_run_ids),
        cmocka_unit_test(test_derived_batch_ids),
        cmocka_unit_test(test_iso8601),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
