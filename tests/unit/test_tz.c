/* tz: the TZif reader against known tz database answers and against glibc
 * (which reads the same files: the two must agree at every transition and
 * at every sampled hour, 1900 to 2200, rules past 2037 included); names
 * that are not zones; corrupt files; the civil calendar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "tz.h"

static int64_t at(const char *iso)
{
    int64_t ms;
    if (clk_parse_iso8601(iso, &ms))
        fail_msg("bad time %s", iso);
    return ms / 1000;
}

static struct tz *load(const char *name)
{
    char err[256];
    struct tz *tz = tz_load(name, err, sizeof(err));
    if (!tz)
        fail_msg("%s: %s", name, err);
    return tz;
}

/* Offsets the tz database gives around the 2025 transitions (and two known
 * historical ones), one second before and at each. */
static void test_known_offsets(void **state)
{
    static const struct {
        const char *zone, *when;
        int32_t offset;
    } rows[] = {
        {"Europe/Berlin", "2025-03-30T00:59:59Z", 3600},
        {"Europe/Berlin", "2025-03-30T01:00:00Z", 7200},
        {"Europe/Berlin", "2025-10-26T00:59:59Z", 7200},
        {"Europe/Berlin", "2025-10-26T01:00:00Z", 3600},
        {"Europe/Berlin", "1945-06-01T00:00:00Z", 10800}, /* Berlin's 1945 double summer time */
        {"America/New_York", "2025-03-09T06:59:59Z", -18000},
        {"America/New_York", "2025-03-09T07:00:00Z", -14400},
        {"America/New_York", "2025-11-02T05:59:59Z", -14400},
        {"America/New_York", "2025-11-02T06:00:00Z", -18000},
        {"Australia/Lord_Howe", "2025-04-05T14:59:59Z", 39600},
        {"Australia/Lord_Howe", "2025-04-05T15:00:00Z", 37800},
        {"Australia/Lord_Howe", "2025-10-04T15:29:59Z", 37800},
        {"Australia/Lord_Howe", "2025-10-04T15:30:00Z", 39600},
        {"Asia/Kolkata", "2025-06-01T00:00:00Z", 19800},
        {"Asia/Kolkata", "1943-01-01T00:00:00Z", 23400}, /* +0630 war time, 1942-1945 */
        {"UTC", "2025-06-01T00:00:00Z", 0},
        /* Past the files' last transition (2037): from the footer's rule. */
        {"Europe/Berlin", "2100-03-28T00:59:59Z", 3600},
        {"Europe/Berlin", "2100-03-28T01:00:00Z", 7200},
        {"America/New_York", "2300-11-04T05:59:59Z", -14400},
        {"America/New_York", "2300-11-04T06:00:00Z", -18000},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tz *tz = load(rows[i].zone);
        int32_t got = tz_offset(tz, at(rows[i].when));
        if (got != rows[i].offset)
            fail_msg("%s at %s: offset %d, want %d", rows[i].zone, rows[i].when, got,
                     rows[i].offset);
        tz_free(tz);
    }
}

/* Spans say where gaps and overlaps are. */
static void test_spans(void **state)
{
    struct tz *tz = load("Europe/Berlin");
    struct tz_span sp;
    (void)state;
    tz_span_at(tz, at("2025-06-01T00:00:00Z"), &sp);
    assert_int_equal(sp.start, at("2025-03-30T01:00:00Z"));
    assert_int_equal(sp.end, at("2025-10-26T01:00:00Z"));
    assert_int_equal(sp.offset, 7200);
    /* Before it, local time reached 02:00 CET; it starts at 03:00 CEST:
     * the hour in between never happened. */
    assert_int_equal(sp.seen, at("2025-03-30T02:00:00Z"));
    tz_span_at(tz, at("2025-12-01T00:00:00Z"), &sp);
    /* Local time had reached 03:00 CEST; it restarts at 02:00 CET. */
    assert_int_equal(sp.seen, at("2025-10-26T03:00:00Z"));
    assert_int_equal(sp.start + sp.offset, at("2025-10-26T02:00:00Z"));
    tz_free(tz);

    tz = load("UTC");
    tz_span_at(tz, 0, &sp);
    assert_true(sp.start == INT64_MIN && sp.end == INT64_MAX && sp.offset == 0);
    tz_free(tz);
}

/* glibc's offset at t for the zone currently in TZ. */
static long glibc_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return tm.tm_gmtoff;
}

/* The test is single-threaded, so setting TZ is safe here (and only here). */
static void compare_with_glibc(const char *zone, int64_t step)
{
    char env[200];
    struct tz *tz = load(zone);
    struct tz_span sp;
    snprintf(env, sizeof(env), ":%s", zone);
    setenv("TZ", env, 1);
    tzset();
    int64_t from = at("1900-01-01T00:00:00Z"), to = at("2200-01-01T00:00:00Z");
    for (int64_t t = from; t < to; t += step)
        if (tz_offset(tz, t) != glibc_offset(t))
            fail_msg("%s at %lld: ours %d, glibc %ld", zone, (long long)t, tz_offset(tz, t),
                     glibc_offset(t));
    /* Exactly at and just before every transition. */
    for (int64_t t = from; t < to; t = sp.end) {
        tz_span_at(tz, t, &sp);
        if (sp.end == INT64_MAX)
            break;
        if (tz_offset(tz, sp.end) != glibc_offset(sp.end) ||
            tz_offset(tz, sp.end - 1) != glibc_offset(sp.end - 1))
            fail_msg("%s around transition %lld disagrees with glibc", zone, (long long)sp.end);
    }
    unsetenv("TZ");
    tz_free(tz);
}

static void test_agrees_with_glibc(void **state)
{
    static const char *const zones[] = {
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "UTC",
        "America/Santiago",
        "Pacific/Chatham",
        "America/St_Johns",
        "Pacific/Apia",
        "Africa/Casablanca",
        "Asia/Tehran",
        "Europe/Dublin",
        "Antarctica/Troll",
        "America/Godthab",
        "Australia/Adelaide",
        "Pacific/Kiritimati",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
        compare_with_glibc(zones[i], 11 * 3600 + 17);
}

static void test_bad_names(void **state)
{
    static const struct {
        const char *name, *err;
    } rows[] = {
        {"", "not an IANA time zone name"},
        {"../../etc/passwd", "not an IANA time zone name"},
        {"/etc/passwd", "not an IANA time zone name"},
        {"Europe/../../etc/passwd", "not an IANA time zone name"},
        {"Europe//Berlin", "not an IANA time zone name"},
        {"Europe/Berlin/", "not an IANA time zone name"},
        {"Europe/Ber lin", "not an IANA time zone name"},
        {"localtime", "not an IANA time zone name"},
        {"Europe/Berln", "unknown time zone 'Europe/Berln'"},
        {"Europe", "unknown time zone 'Europe'"},
        {"zone.tab", "not a valid TZif file"},
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        err[0] = '\0';
        struct tz *tz = tz_load(rows[i].name, err, sizeof(err));
        if (tz)
            fail_msg("loaded '%s'", rows[i].name);
        if (!strstr(err, rows[i].err))
            fail_msg("'%s': error '%s', want '%s'", rows[i].name, err, rows[i].err);
    }
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *data = malloc(1 << 16);
    *len = fread(data, 1, 1 << 16, f);
    fclose(f);
    return data;
}

/* Every truncation and many single-byte corruptions of a real file are
 * refused or read into some zone, never a crash (ASan watches this). */
static void test_corrupt_files(void **state)
{
    size_t len;
    char err[256];
    unsigned char *data = slurp("/usr/share/zoneinfo/Europe/Berlin", &len);
    (void)state;
    for (size_t cut = 0; cut < len; cut++) {
        struct tz *tz = tz_parse("cut", data, cut, err, sizeof(err));
        if (tz && cut < 44)
            fail_msg("accepted %zu bytes", cut);
        tz_free(tz);
    }
    srand(7);
    for (int i = 0; i < 20000; i++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, data, len);
        copy[(size_t)rand() % len] = (unsigned char)rand();
        struct tz *tz = tz_parse("flip", copy, len, err, sizeof(err));
        if (tz)
            (void)tz_offset(tz, at("2025-06-01T00:00:00Z"));
        tz_free(tz);
        free(copy);
    }
    /* A leap-second zone ("right/...") is refused by name of the cause:
     * a v1 file of one type ("UTC", offset 0) and one leap second. */
    static const unsigned char leap[44 + 6 + 4 + 8] = {
        'T', 'Z', 'i', 'f', 0, [31] = 1, [39] = 1, [43] = 4, [48] = 0, [50] = 'U', 'T', 'C',
    };
    assert_null(tz_parse("right/UTC", leap, sizeof(leap), err, sizeof(err)));
    assert_non_null(strstr(err, "leap seconds"));
    free(data);
}

static void test_cache_shares(void **state)
{
    char err[256];
    (void)state;
    const struct tz *a = tz_get("Asia/Kolkata", err, sizeof(err));
    const struct tz *b = tz_get("Asia/Kolkata", err, sizeof(err));
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_string_equal(tz_name(a), "Asia/Kolkata");
    assert_null(tz_get("Mars/Olympus_Mons", err, sizeof(err)));
    assert_non_null(strstr(err, "unknown time zone"));
}

static void test_civil(void **state)
{
    (void)state;
    assert_int_equal(tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tz_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(tz_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(tz_weekday(0), 4);  /* Thursday */
    assert_int_equal(tz_weekday(-1), 3); /* Wednesday */
    assert_int_equal(tz_days_in_month(2000, 2), 29);
    assert_int_equal(tz_days_in_month(2100, 2), 28);
    assert_int_equal(tz_days_in_month(2024, 2), 29);
    assert_int_equal(tz_floor_div(-1, 60), -1);
    assert_int_equal(tz_floor_div(-60, 60), -1);
    assert_int_equal(tz_floor_div(59, 60), 0);
    for (int64_t d = -800000; d < 800000; d += 13) {
        int64_t y;
        int m, dd;
        tz_civil_from_days(d, &y, &m, &dd);
        if (tz_days_from_civil(y, m, dd) != d || m < 1 || m > 12 || dd < 1 ||
            dd > tz_days_in_month(y, m))
            fail_msg("day %lld: %lld-%d-%d", (long long)d, (long long)y, m, dd);
        time_t t = (time_t)(d * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        if (tm.tm_year + 1900 != y || tm.tm_mon + 1 != m || tm.tm_mday != dd ||
            tm.tm_wday != tz_weekday(d))
            fail_msg("day %lld disagrees with gmtime", (long long)d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_offsets),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_agrees_with_glibc),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_cache_shares),
        cmocka_unit_test(test_civil),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
