/* A crawl host's window (hostwin.h): it grows while the host sees fewer
 * fetches at once than its concurrency, shrinks when it sees more, and
 * stays within C .. HOSTWIN_MAX_FACTOR * C. Links the stage's objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hostwin.h"

#define C 64

/* One sample of results: `n` results of fetch_ms each, evenly over
 * HOSTWIN_SAMPLE_MS, the window full (held) or not. */
static int64_t sample(struct hostwin *w, int64_t now, int n, long long fetch_ms, int held)
{
    if (held)
        hostwin_held(w);
    for (int i = 1; i <= n; i++)
        hostwin_result(w, C, fetch_ms, now + (int64_t)i * HOSTWIN_SAMPLE_MS / n);
    return now + HOSTWIN_SAMPLE_MS;
}

/* A new window whose first sample started at 1000 ms: `rounds` samples
 * of n results of fetch_ms each; returns when the last one ended. */
static int64_t run(struct hostwin *w, int rounds, int n, long long fetch_ms, int held)
{
    int64_t now = 1000;
    hostwin_init(w, C);
    hostwin_result(w, C, fetch_ms, now);
    for (int i = 0; i < rounds; i++)
        now = sample(w, now, n, fetch_ms, held);
    return now;
}

/* A host whose fetches take `fetch_ms` behind a round trip of `trip_ms`
 * (the time a page is out but not at the host): what the window settles
 * at, results coming at window / (trip + fetch) a millisecond. */
static long long settle(long long fetch_ms, long long trip_ms)
{
    struct hostwin w;
    hostwin_init(&w, C);
    int64_t now = 1000;
    hostwin_result(&w, C, fetch_ms, now); /* starts the first sample */
    for (int round = 0; round < 60; round++) {
        long long out = hostwin_size(&w);
        int n = (int)(out * HOSTWIN_SAMPLE_MS / (trip_ms + fetch_ms));
        now = sample(&w, now, n > 0 ? n : 1, fetch_ms, 1);
    }
    return hostwin_size(&w);
}

static void test_starts_at_the_concurrency(void **st)
{
    (void)st;
    struct hostwin w;
    hostwin_init(&w, C);
    assert_int_equal(hostwin_size(&w), C);
    hostwin_init(&w, 0);
    assert_int_equal(hostwin_size(&w), 1);
}

static void test_grows_to_keep_the_host_busy(void **st)
{
    (void)st;
    /* 40 ms fetches behind a 60 ms round trip: a window of C keeps only
     * C * 40 / 100 fetches at the host; the window that keeps 0.9 C there
     * is 0.9 C * 100 / 40 = 144. */
    long long w = settle(40, 60);
    assert_in_range(w, 130, 160);
    /* Slow fetches (a real site, 800 ms) behind the same trip: C is
     * nearly right, and the window stays near it. */
    assert_in_range(settle(800, 60), C, 72);
    /* Fetches of 1 ms: the window would need 60 C; it stops at the cap. */
    assert_int_equal(settle(1, 60), HOSTWIN_MAX_FACTOR * C);
}

static void test_shrinks_when_the_host_has_too_many(void **st)
{
    (void)st;
    struct hostwin w;
    int64_t now = run(&w, 10, 100, 10, 1); /* host mostly idle: grows to the cap */
    assert_int_equal(hostwin_size(&w), HOSTWIN_MAX_FACTOR * C);
    /* Now every fetch takes 200 ms and 300 come back a sample: 240 at
     * the host at once; the window shrinks by 0.9 C / 240 at once. */
    now = sample(&w, now, 300, 200, 1);
    assert_in_range(hostwin_size(&w), 120, 125);
    for (int i = 0; i < 10; i++)
        now = sample(&w, now, 300, 200, 1);
    assert_int_equal(hostwin_size(&w), C); /* never under C */
}

static void test_grows_only_when_it_held_pages_back(void **st)
{
    (void)st;
    struct hostwin w;
    int64_t now = run(&w, 10, 20, 10, 0); /* few pages to send: the window never held one */
    assert_int_equal(hostwin_size(&w), C);
    now = sample(&w, now, 20, 10, 1); /* held: grows, at most by HOSTWIN_GROW */
    assert_int_equal(hostwin_size(&w), (long long)(C * HOSTWIN_GROW));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_at_the_concurrency),
        cmocka_unit_test(test_grows_to_keep_the_host_busy),
        cmocka_unit_test(test_shrinks_when_the_host_has_too_many),
        cmocka_unit_test(test_grows_only_when_it_held_pages_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
