/* metrics: Prometheus text format, families grouped, histogram buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static double seven(void *arg)
{
    (void)arg;
    return 7;
}

static void test_render(void **state)
{
    (void)state;
    struct metric *a = metric_counter("t_requests_total", "Requests", "code=\"200\"");
    metric_gauge("t_inflight", "In flight", "");
    struct metric *b = metric_counter("t_requests_total", "Requests", "code=\"500\"");
    assert_ptr_equal(metric_counter("t_requests_total", "Requests", "code=\"200\""), a);
    metric_inc(a, 3);
    metric_inc(b, 1);
    metric_gauge_fn("t_lag", "Lag", "", seven, NULL);
    static const double bounds[] = {0.1, 1};
    struct metric *h = metric_histogram("t_latency_seconds", "Latency", "", bounds, 2);
    metric_observe(h, 0.05);
    metric_observe(h, 0.5);
    metric_observe(h, 5);

    char *text = metrics_render();
    const char *expect =
        "# HELP t_requests_total Requests\n# TYPE t_requests_total counter\n"
        "t_requests_total{code=\"200\"} 3\nt_requests_total{code=\"500\"} 1\n"
        "# HELP t_inflight In flight\n# TYPE t_inflight gauge\nt_inflight{} 0\n"
        "# HELP t_lag Lag\n# TYPE t_lag gauge\nt_lag{} 7\n"
        "# HELP t_latency_seconds Latency\n# TYPE t_latency_seconds histogram\n"
        "t_latency_seconds_bucket{le=\"0.1\"} 1\nt_latency_seconds_bucket{le=\"1\"} 2\n"
        "t_latency_seconds_bucket{le=\"+Inf\"} 3\nt_latency_seconds_sum{} 5.550000\n"
        "t_latency_seconds_count{} 3\n";
    assert_string_equal(text, expect);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
