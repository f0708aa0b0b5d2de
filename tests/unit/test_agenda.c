/* agenda: slots on the fast test clock (FERRY_SCHEDULE_TICK), the last slot
 * before an instant, what the firing loop does after a late start or an
 * outage (every late slot once; catch_up one / none for missed ones), and
 * the heap of due times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agenda.h"
#include "clock.h"

static int64_t at_ms(const char *iso)
{
    int64_t ms;
    if (clk_parse_iso8601(iso, &ms))
        fail_msg("bad time %s", iso);
    return ms;
}

static struct agenda_rule rule(const char *expr, const char *zone, enum agenda_catch_up cu)
{
    struct agenda_rule r;
    char err[256];
    if (cron_parse(&r.cron, expr, err, sizeof(err)))
        fail_msg("%s", err);
    r.tz = tz_get(zone, err, sizeof(err));
    if (!r.tz)
        fail_msg("%s", err);
    r.catch_up = cu;
    return r;
}

static void test_tick_check(void **state)
{
    char err[256];
    (void)state;
    assert_int_equal(agenda_tick_check(1000, err, sizeof(err)), 0);
    assert_int_equal(agenda_tick_check(5000, err, sizeof(err)), 0);
    assert_int_equal(agenda_tick_check(60000, err, sizeof(err)), 0);
    assert_int_equal(agenda_tick_check(7000, err, sizeof(err)), -1);
    assert_int_equal(agenda_tick_check(500, err, sizeof(err)), -1);
    assert_int_equal(agenda_tick_check(120000, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "divide a minute"));
}

static void test_fast_clock(void **state)
{
    struct agenda_clock second = {1000, 60000}, minute = {60000, 300000};
    struct agenda_rule every = rule("* * * * *", "UTC", AGENDA_CATCH_UP_ONE);
    struct agenda_rule five = rule("*/5 * * * *", "UTC", AGENDA_CATCH_UP_ONE);
    struct agenda_rule hourly = rule("@hourly", "UTC", AGENDA_CATCH_UP_ONE);
    struct agenda_rule berlin = rule("30 2 * * *", "Europe/Berlin", AGENDA_CATCH_UP_ONE);
    int64_t t = at_ms("2026-01-10T10:00:00.400Z");
    (void)state;
    /* A cron minute lasts a second: every second, every 5 s, every minute. */
    assert_int_equal(agenda_next(&every, &second, t), t + 600);
    assert_int_equal(agenda_next(&every, &second, t + 600), t + 1600);
    assert_int_equal(agenda_next(&five, &second, t), at_ms("2026-01-10T10:00:05Z"));
    assert_int_equal(agenda_next(&hourly, &second, t), at_ms("2026-01-10T10:01:00Z"));
    /* The real clock: the answers of cron_next in ms. */
    assert_int_equal(agenda_next(&every, &minute, t), at_ms("2026-01-10T10:01:00Z"));
    assert_int_equal(agenda_next(&berlin, &minute, at_ms("2025-03-29T12:00:00Z")),
                     at_ms("2025-03-30T01:00:00Z"));
    /* Strictly after, also from an exact slot. */
    int64_t s = at_ms("2026-01-10T10:05:00Z");
    assert_int_equal(agenda_next(&five, &second, s - 1), s);
    assert_int_equal(agenda_next(&five, &second, s), s + 5000);
}

static void test_last(void **state)
{
    struct agenda_clock minute = {60000, 300000};
    struct agenda_rule q = rule("*/15 * * * *", "UTC", AGENDA_CATCH_UP_ONE);
    struct agenda_rule yearly = rule("@yearly", "UTC", AGENDA_CATCH_UP_ONE);
    (void)state;
    assert_int_equal(agenda_last(&q, &minute, 0, at_ms("2026-01-10T10:07:00Z")),
                     at_ms("2026-01-10T10:00:00Z"));
    assert_int_equal(agenda_last(&q, &minute, 0, at_ms("2026-01-10T10:15:00Z")),
                     at_ms("2026-01-10T10:15:00Z"));
    assert_int_equal(
        agenda_last(&q, &minute, at_ms("2026-01-10T10:00:00Z"), at_ms("2026-01-10T10:14:59Z")),
        AGENDA_NONE);
    assert_int_equal(
        agenda_last(&yearly, &minute, at_ms("1990-06-01T00:00:00Z"), at_ms("2026-01-10T10:07:00Z")),
        at_ms("2026-01-01T00:00:00Z"));
}

/* Runs the firing loop's steps at a fixed "now" until it waits; returns the
 * slots fired, in order. */
static size_t drain(const struct agenda_rule *r, const struct agenda_clock *k, int64_t *done,
                    int64_t now, int64_t *fired, size_t max, int *missed)
{
    size_t n = 0;
    struct agenda_decision d;
    *missed = 0;
    for (int steps = 0; steps < 10000; steps++) {
        agenda_decide(r, k, *done, now, &d);
        assert_true(d.done_ms >= *done);
        *done = d.done_ms;
        *missed |= d.missed;
        if (d.fire_ms != AGENDA_NONE) {
            assert_true(n < max);
            assert_true(d.fire_ms <= now);
            fired[n++] = d.fire_ms;
        }
        if (d.wake_ms > now)
            return n;
        if (d.fire_ms == AGENDA_NONE && !d.missed)
            fail_msg("a step that did nothing asked to be called again now");
    }
    fail_msg("the loop did not settle");
    return n;
}

static void test_decide(void **state)
{
    struct agenda_clock k = {60000, 5 * 60000};
    struct agenda_rule one = rule("* * * * *", "UTC", AGENDA_CATCH_UP_ONE);
    struct agenda_rule none = rule("* * * * *", "UTC", AGENDA_CATCH_UP_NONE);
    int64_t now = at_ms("2026-01-10T10:00:30Z"), fired[100];
    struct agenda_decision d;
    int missed;
    (void)state;

    /* Nothing due: wait for the next slot. */
    agenda_decide(&one, &k, now, now, &d);
    assert_int_equal(d.fire_ms, AGENDA_NONE);
    assert_int_equal(d.wake_ms, at_ms("2026-01-10T10:01:00Z"));
    assert_int_equal(d.done_ms, now);

    /* Late by less than the misfire limit (a takeover after a crash):
     * every slot runs, once, in order. */
    int64_t done = now - 3 * 60000;
    size_t n = drain(&none, &k, &done, now, fired, 100, &missed);
    assert_int_equal(n, 3);
    assert_false(missed);
    assert_int_equal(fired[0], at_ms("2026-01-10T09:58:00Z"));
    assert_int_equal(fired[2], at_ms("2026-01-10T10:00:00Z"));
    assert_int_equal(done, fired[2]);
    /* Asked again at the same time: nothing more. */
    assert_int_equal(drain(&none, &k, &done, now, fired, 100, &missed), 0);

    /* An hour's outage, catch_up one: the latest missed slot once, then
     * the five within the limit. */
    done = now - 3600 * 1000;
    n = drain(&one, &k, &done, now, fired, 100, &missed);
    assert_true(missed);
    assert_int_equal(n, 6);
    assert_int_equal(fired[0], at_ms("2026-01-10T09:55:00Z"));
    assert_int_equal(fired[1], at_ms("2026-01-10T09:56:00Z"));
    assert_int_equal(fired[5], at_ms("2026-01-10T10:00:00Z"));

    /* catch_up none: only the ones within the limit. */
    done = now - 3600 * 1000;
    n = drain(&none, &k, &done, now, fired, 100, &missed);
    assert_true(missed);
    assert_int_equal(n, 5);
    assert_int_equal(fired[0], at_ms("2026-01-10T09:56:00Z"));

    /* A year's outage of a daily schedule: one run, the last missed. */
    struct agenda_rule daily = rule("@daily", "Asia/Kolkata", AGENDA_CATCH_UP_ONE);
    done = now - 365LL * 86400 * 1000;
    n = drain(&daily, &k, &done, now, fired, 100, &missed);
    assert_int_equal(n, 1);
    assert_int_equal(fired[0], at_ms("2026-01-09T18:30:00Z"));

    /* On the test clock (cron minute = 1 s, misfire 20 s): a 60 s outage of
     * an every-minute schedule = 60 slots; one missed run + 20 late ones. */
    struct agenda_clock fast = {1000, 20000};
    done = now - 60000;
    n = drain(&one, &fast, &done, now, fired, 100, &missed);
    assert_int_equal(n, 21);
    assert_int_equal(fired[0], now - 20000);
    assert_int_equal(fired[1], now - 19000);
    assert_int_equal(fired[20], now);
}

static void test_heap(void **state)
{
    struct agenda_heap h = AGENDA_HEAP_INIT;
    struct agenda_entry e;
    (void)state;
    assert_null(agenda_heap_peek(&h));
    assert_int_equal(agenda_heap_pop(&h, &e), -1);
    srand(3);
    for (uint64_t i = 0; i < 5000; i++)
        agenda_heap_push(&h, rand() % 1000, i);
    int64_t last = -1;
    for (int i = 0; i < 5000; i++) {
        const struct agenda_entry *top = agenda_heap_peek(&h);
        assert_non_null(top);
        int64_t due = top->due_ms;
        assert_int_equal(agenda_heap_pop(&h, &e), 0);
        assert_int_equal(e.due_ms, due);
        assert_true(e.due_ms >= last);
        last = e.due_ms;
    }
    assert_int_equal(agenda_heap_pop(&h, &e), -1);
    agenda_heap_push(&h, 5, 42);
    assert_int_equal(agenda_heap_pop(&h, &e), 0);
    assert_int_equal(e.ref, 42);
    agenda_heap_release(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_check), cmocka_unit_test(test_fast_clock),
        cmocka_unit_test(test_last),       cmocka_unit_test(test_decide),
        cmocka_unit_test(test_heap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
