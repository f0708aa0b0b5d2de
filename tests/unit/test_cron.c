/* cron: the syntax (fields, ranges, lists, steps, names, shortcuts) and its
 * errors; day-of-month vs day-of-week as Vixie cron combines them; the next
 * slot in IANA zones across daylight saving transitions, against answers
 * worked out from the tz database, and against a brute-force walk over
 * every minute of a year with glibc's local time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "cron.h"

static int64_t at(const char *iso)
{
    int64_t ms;
    if (clk_parse_iso8601(iso, &ms))
        fail_msg("bad time %s", iso);
    return ms / 1000;
}

static void iso(int64_t t, char buf[CLK_ISO_LEN])
{
    clk_iso8601(t * 1000, buf);
}

static struct cron parse(const char *expr)
{
    struct cron c;
    char err[256];
    if (cron_parse(&c, expr, err, sizeof(err)))
        fail_msg("'%s': %s", expr, err);
    return c;
}

static void test_syntax(void **state)
{
    static const struct {
        const char *a, *b; /* two spellings of the same schedule */
    } same[] = {
        {"*/15 * * * *", "0,15,30,45 * * * *"},
        {"5/15 * * * *", "5,20,35,50 * * * *"},
        {"1-10/3 * * * *", "1,4,7,10 * * * *"},
        {"0 0 * * MON-FRI", "0 0 * * 1-5"},
        {"0 0 * * mon-fri", "0 0 * * 1,2,3,4,5"},
        {"0 0 * * 7", "0 0 * * 0"},
        {"0 0 * * SUN", "0 0 * * 0"},
        {"0 0 * * 5-7", "0 0 * * 0,5,6"},
        {"0 0 * JAN-MAR,dec *", "0 0 * 1,2,3,12 *"},
        {"0 0 1 */3 *", "0 0 1 1,4,7,10 *"},
        {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"},
        {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},
        {"@daily", "0 0 * * *"},
        {"@midnight", "0 0 * * *"},
        {"  @hourly ", "0 * * * *"},
        {"\t0  0\t* * *  ", "0 0 * * *"},
        {"00 007 * * *", "0 7 * * *"},
        {"* * * * *", "0-59 0-23 1-31 1-12 0-6"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        struct cron a = parse(same[i].a), b = parse(same[i].b);
        if (a.minute != b.minute || a.hour != b.hour || a.dom != b.dom || a.month != b.month ||
            a.dow != b.dow)
            fail_msg("'%s' differs from '%s'", same[i].a, same[i].b);
    }
    struct cron c = parse("*/15 * * * *");
    assert_int_equal(c.minute, 1ULL << 0 | 1ULL << 15 | 1ULL << 30 | 1ULL << 45);
    assert_true(c.flags & CRON_WILDCARD);
    assert_true(parse("@hourly").flags & CRON_WILDCARD);
    assert_false(parse("@daily").flags & CRON_WILDCARD);
    assert_false(parse("30 2 * * *").flags & CRON_WILDCARD);
    assert_true(parse("0 */2 * * *").flags & CRON_WILDCARD);
    assert_true(parse("0 0 */2 * *").flags & CRON_DOM_STAR);
}

static void test_errors(void **state)
{
    static const struct {
        const char *expr, *err;
    } rows[] = {
        {"", "expected 5 fields (minute hour day-of-month month day-of-week), found 0"},
        {"* * * *", "found 4"},
        {"* * * * * *", "found 6"},
        {"60 * * * *", "minute: 60 is out of range 0-59"},
        {"* 24 * * *", "hour: 24 is out of range 0-23"},
        {"* * 0 * *", "day-of-month: 0 is out of range 1-31"},
        {"* * 32 * *", "day-of-month: 32 is out of range 1-31"},
        {"* * * 13 *", "month: 13 is out of range 1-12"},
        {"* * * 0 *", "month: 0 is out of range 1-12"},
        {"* * * * 8", "day-of-week: 8 is out of range 0-7"},
        {"* * * FOO *", "month: unknown name 'FOO' (use JAN..DEC)"},
        {"* * * * MONDAY", "day-of-week: unknown name 'MONDAY' (use SUN..SAT)"},
        {"* * * * JAN", "day-of-week: unknown name 'JAN'"},
        {"a * * * *", "minute: expected a number, found 'a'"},
        {"5-1 * * * *", "minute: range 5-1 runs backwards"},
        {"* * * * FRI-MON", "day-of-week: range 5-1 runs backwards"},
        {"*/0 * * * *", "minute: step '0' is not a number from 1 to 60"},
        {"*/61 * * * *", "minute: step '61' is not a number from 1 to 60"},
        {"*/ * * * *", "minute: step '' is not a number"},
        {"1,,2 * * * *", "minute: empty element in '1,,2'"},
        {"1, * * * *", "minute: empty element"},
        {"1-2-3 * * * *", "minute: unexpected '-' in '1-2-3'"},
        {"-5 * * * *", "minute: expected a number, found '-5'"},
        {"1- * * * *", "minute: expected a number, found ''"},
        {"99999999999999999999 * * * *", "minute: 999999999999 is out of range 0-59"},
        {"** * * * *", "minute: unexpected '*'"},
        {"@reboot", "unknown shortcut '@reboot'"},
        {"@daily 5", "@daily takes no fields after it"},
        {"0 0 30 FEB *",
         "day-of-month: no day '30' exists in the month(s) 'FEB', so it never runs"},
        {"0 0 31 4,6,9,11 *", "day-of-month"},
    };
    char err[256];
    struct cron c;
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        err[0] = '\0';
        if (cron_parse(&c, rows[i].expr, err, sizeof(err)) == 0)
            fail_msg("accepted '%s'", rows[i].expr);
        if (!strstr(err, rows[i].err))
            fail_msg("'%s': error '%s', want '%s'", rows[i].expr, err, rows[i].err);
    }
    char longer[CRON_EXPR_MAX + 10];
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(cron_parse(&c, longer, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than"));
    /* Possible only in leap years, or on some weekday: accepted. */
    parse("0 0 29 FEB *");
    parse("0 0 31 FEB MON");
}

/* Vixie: both days restricted = either; one starts with '*' = both. */
static void test_day_rules(void **state)
{
    static const struct {
        const char *expr, *day;
        int match;
    } rows[] = {
        {"0 0 1 * MON", "2025-09-01T00:00:00Z", 1}, /* the 1st, a Monday */
        {"0 0 1 * MON", "2025-09-08T00:00:00Z", 1}, /* a Monday */
        {"0 0 1 * MON", "2025-10-01T00:00:00Z", 1}, /* the 1st, a Wednesday */
        {"0 0 1 * MON", "2025-10-02T00:00:00Z", 0},
        {"0 0 */2 * MON", "2025-09-01T00:00:00Z", 1}, /* odd day and Monday */
        {"0 0 */2 * MON", "2025-09-08T00:00:00Z", 0}, /* Monday, even day */
        {"0 0 */2 * MON", "2025-09-03T00:00:00Z", 0}, /* odd day, Wednesday */
        {"0 0 * * MON", "2025-09-08T00:00:00Z", 1},
        {"0 0 * * MON", "2025-09-09T00:00:00Z", 0},
        {"0 0 13 * */7", "2025-06-13T00:00:00Z", 0}, /* '*' / 7 = Sunday, and-ed */
        {"0 0 13 * */7", "2024-10-13T00:00:00Z", 1}, /* the 13th, a Sunday */
        {"0 0 1 * *", "2025-09-01T00:00:00Z", 1},
        {"0 0 1 * *", "2025-09-08T00:00:00Z", 0},
        {"30 2 * * *", "2025-09-08T02:30:00Z", 1},
        {"30 2 * * *", "2025-09-08T02:30:30Z", 0}, /* not on a minute */
        {"30 2 * * *", "2025-09-08T02:31:00Z", 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct cron c = parse(rows[i].expr);
        if (cron_match(&c, at(rows[i].day)) != rows[i].match)
            fail_msg("'%s' on %s: want %d", rows[i].expr, rows[i].day, rows[i].match);
    }
}

static void expect_slots(const char *zone, const char *expr, const char *after,
                         const char *const *want, size_t n)
{
    char err[256], got[CLK_ISO_LEN];
    struct tz *tz = tz_load(zone, err, sizeof(err));
    struct cron c = parse(expr);
    if (!tz)
        fail_msg("%s", err);
    int64_t t = at(after);
    for (size_t i = 0; i < n; i++) {
        t = cron_next(&c, tz, t);
        iso(t, got);
        if (strncmp(got, want[i], 19) != 0)
            fail_msg("%s '%s' after %s: slot %zu is %s, want %s", zone, expr, after, i, got,
                     want[i]);
    }
    tz_free(tz);
}

#define SLOTS(zone, expr, after, ...)                                                              \
    do {                                                                                           \
        static const char *const w[] = {__VA_ARGS__};                                              \
        expect_slots(zone, expr, after, w, sizeof(w) / sizeof(w[0]));                              \
    } while (0)

/* Answers worked out from the tz database (2025 transitions: Berlin Mar 30
 * 01:00Z / Oct 26 01:00Z; New York Mar 9 07:00Z / Nov 2 06:00Z; Lord Howe
 * Apr 5 15:00Z back 30 min / Oct 4 15:30Z forward 30 min). */
static void test_daylight_saving(void **state)
{
    (void)state;
    /* Spring forward: 02:30 does not exist; it runs once, at 03:00 CEST. */
    SLOTS("Europe/Berlin", "30 2 * * *", "2025-03-29T12:00:00Z", "2025-03-30T01:00:00",
          "2025-03-31T00:30:00", "2025-04-01T00:30:00");
    /* Fall back: 02:30 happens twice; it runs at the first only. */
    SLOTS("Europe/Berlin", "30 2 * * *", "2025-10-25T12:00:00Z", "2025-10-26T00:30:00",
          "2025-10-27T01:30:00", "2025-10-28T01:30:00");
    /* Wildcard schedules follow elapsed time: nothing in the lost hour,
     * both occurrences of the repeated one. */
    SLOTS("Europe/Berlin", "*/30 * * * *", "2025-03-30T00:00:00Z", "2025-03-30T00:30:00",
          "2025-03-30T01:00:00", "2025-03-30T01:30:00", "2025-03-30T02:00:00");
    SLOTS("Europe/Berlin", "*/30 * * * *", "2025-10-26T00:00:00Z", "2025-10-26T00:30:00",
          "2025-10-26T01:00:00", "2025-10-26T01:30:00", "2025-10-26T02:00:00");
    SLOTS("Europe/Berlin", "@hourly", "2025-03-30T00:00:00Z", "2025-03-30T01:00:00",
          "2025-03-30T02:00:00");
    SLOTS("Europe/Berlin", "@hourly", "2025-10-26T00:00:00Z", "2025-10-26T01:00:00",
          "2025-10-26T02:00:00");
    SLOTS("America/New_York", "30 2 * * *", "2025-03-08T12:00:00Z", "2025-03-09T07:00:00",
          "2025-03-10T06:30:00", "2025-03-11T06:30:00");
    SLOTS("America/New_York", "30 1 * * *", "2025-11-01T12:00:00Z", "2025-11-02T05:30:00",
          "2025-11-03T06:30:00");
    /* Two slots in one gap: one run at its end. */
    SLOTS("America/New_York", "15,45 2 * * *", "2025-03-08T12:00:00Z", "2025-03-09T07:00:00",
          "2025-03-10T06:15:00", "2025-03-10T06:45:00");
    /* Lord Howe moves 30 minutes: 02:00-02:30 is skipped in October. */
    SLOTS("Australia/Lord_Howe", "0 2 * * *", "2025-10-04T00:00:00Z", "2025-10-04T15:30:00",
          "2025-10-05T15:00:00");
    SLOTS("Australia/Lord_Howe", "15 2 * * *", "2025-10-04T00:00:00Z", "2025-10-04T15:30:00",
          "2025-10-05T15:15:00");
    SLOTS("Australia/Lord_Howe", "45 2 * * *", "2025-10-04T00:00:00Z", "2025-10-04T15:45:00",
          "2025-10-05T15:45:00");
    /* ... and 01:30-02:00 happens twice in April. */
    SLOTS("Australia/Lord_Howe", "45 1 * * *", "2025-04-05T00:00:00Z", "2025-04-05T14:45:00",
          "2025-04-06T15:15:00");
    SLOTS("Australia/Lord_Howe", "*/15 * * * *", "2025-04-05T14:30:00Z", "2025-04-05T14:45:00",
          "2025-04-05T15:00:00", "2025-04-05T15:15:00", "2025-04-05T15:30:00");
    SLOTS("Asia/Kolkata", "30 9 * * *", "2025-06-01T00:00:00Z", "2025-06-01T04:00:00",
          "2025-06-02T04:00:00");
    SLOTS("Asia/Kolkata", "@daily", "2025-06-01T00:00:00Z", "2025-06-01T18:30:00",
          "2025-06-02T18:30:00");
    SLOTS("UTC", "*/15 * * * *", "2025-06-01T10:07:00Z", "2025-06-01T10:15:00",
          "2025-06-01T10:30:00");
    SLOTS("UTC", "*/15 * * * *", "2025-06-01T10:15:00Z", "2025-06-01T10:30:00");
    SLOTS("UTC", "0 0 29 2 *", "2025-01-01T00:00:00Z", "2028-02-29T00:00:00",
          "2032-02-29T00:00:00");
    SLOTS("UTC", "0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00");
    SLOTS("UTC", "@yearly", "2099-06-01T00:00:00Z", "2100-01-01T00:00:00");
    SLOTS("UTC", "0 12 13 * FRI", "2025-06-01T00:00:00Z", "2025-06-06T12:00:00",
          "2025-06-13T12:00:00", "2025-06-20T12:00:00");
    /* The rule from the footer, long after the file's last transition. */
    SLOTS("Europe/Berlin", "30 2 * * *", "2100-03-27T12:00:00Z", "2100-03-28T01:00:00",
          "2100-03-29T00:30:00");
}

/* ---- the brute-force cross-check ----------------------------------------- */

struct walk {
    int64_t *t;
    size_t n, cap;
};

static void walk_add(struct walk *w, int64_t t)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->t = realloc(w->t, w->cap * sizeof(*w->t));
    }
    w->t[w->n++] = t;
}

/* glibc's local time (TZ set; the test is single-threaded) of every minute
 * of [from - 2 days, to). */
static int64_t *local_minutes(int64_t from, int64_t to, size_t *n)
{
    *n = (size_t)((to - from + 2 * 86400) / 60);
    int64_t *local = malloc(*n * sizeof(*local));
    for (size_t i = 0; i < *n; i++) {
        time_t tt = (time_t)(from - 2 * 86400 + 60 * (int64_t)i);
        struct tm tm;
        localtime_r(&tt, &tm);
        local[i] = tt + tm.tm_gmtoff;
    }
    return local;
}

/* Applies the rules literally, minute by minute: a wildcard schedule fires
 * whenever the local minute matches; a fixed-time one when the local minute
 * matches and is new (above every local minute lived so far), or when the
 * clock jumped over a matching minute (then at the first minute after the
 * jump). */
static void brute_force(const struct cron *c, int64_t from, const int64_t *local, size_t n,
                        struct walk *out)
{
    int wild = c->flags & CRON_WILDCARD;
    int64_t seen = local[0]; /* every local minute below this was lived */
    for (size_t i = 0; i < n; i++) {
        int64_t u = from - 2 * 86400 + 60 * (int64_t)i;
        int fire = 0;
        if (wild)
            fire = cron_match(c, local[i]);
        else
            for (int64_t m = seen; !fire && m <= local[i]; m += 60)
                fire = cron_match(c, m);
        if (fire && u >= from)
            walk_add(out, u);
        if (local[i] + 60 > seen)
            seen = local[i] + 60;
    }
}

static void test_brute_force_year(void **state)
{
    static const char *const zones[] = {
        "Europe/Berlin",    "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",   "UTC",
        "America/Santiago", "Pacific/Chatham",  "America/St_Johns",    "America/Havana",
    };
    static const char *const exprs[] = {
        "30 2 * * *",   "*/15 * * * *", "@hourly",     "0,30 1-3 * * *",
        "45 1 * * SUN", "@daily",       "*/7 2 * * *", "15 2 1-10 3,4,9,10,11 *",
        "0 0 1 * MON",  "59 23 * * *",  "0 2-3 * * 0", "*/20 0 * * *",
    };
    char err[256], env[200];
    (void)state;
    int64_t from = at("2025-01-01T00:00:00Z"), to = at("2026-01-01T00:00:00Z");
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        struct tz *tz = tz_load(zones[z], err, sizeof(err));
        if (!tz)
            fail_msg("%s", err);
        snprintf(env, sizeof(env), ":%s", zones[z]);
        setenv("TZ", env, 1);
        tzset();
        size_t n;
        int64_t *local = local_minutes(from, to, &n);
        for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
            struct cron c = parse(exprs[e]);
            struct walk want = {0};
            brute_force(&c, from, local, n, &want);
            size_t i = 0;
            for (int64_t t = cron_next(&c, tz, from - 1); t < to; t = cron_next(&c, tz, t), i++)
                if (i >= want.n || want.t[i] != t) {
                    char a[CLK_ISO_LEN], b[CLK_ISO_LEN] = "(none)";
                    iso(t, a);
                    if (i < want.n)
                        iso(want.t[i], b);
                    fail_msg("%s '%s': slot %zu is %s, the walk says %s", zones[z], exprs[e], i, a,
                             b);
                }
            if (i != want.n)
                fail_msg("%s '%s': %zu slots, the walk has %zu", zones[z], exprs[e], i, want.n);
            assert_true(i > 0);
            free(want.t);
        }
        free(local);
        unsetenv("TZ");
        tz_free(tz);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),           cmocka_unit_test(test_errors),
        cmocka_unit_test(test_day_rules),        cmocka_unit_test(test_daylight_saving),
        cmocka_unit_test(test_brute_force_year),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
