/* metrics: Prometheus text format, families grouped, histogram buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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

/* A collector sets per-partition series at render time; a hidden series
 * leaves the output until it is set again. */
static int collected;
static struct metric *part[2];

static void collect(void *arg)
{
    long long *values = arg;
    collected++;
    for (int i = 0; i < 2; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "partition=\"%d\"", i);
        part[i] = metric_gauge("c_lag", "Lag", labels);
        if (values[i] < 0)
            metric_hide(part[i]);
        else
            metric_set(part[i], values[i]);
    }
}

static void test_collectors_and_hidden_series(void **state)
{
    (void)state;
    long long values[2] = {5, -1};
    assert_int_equal(metrics_collector_add(collect, values), 0);
    char *text = metrics_render();
    assert_int_equal(collected, 1);
    assert_non_null(strstr(text, "c_lag{partition=\"0\"} 5\n"));
    assert_null(strstr(text, "c_lag{partition=\"1\"}"));
    free(text);
    values[0] = -1;
    values[1] = 9;
    text = metrics_render();
    assert_null(strstr(text, "c_lag{partition=\"0\"}"));
    assert_non_null(strstr(text, "c_lag{partition=\"1\"} 9\n"));
    free(text);
    metrics_collector_remove(collect, values);
    free(metrics_render());
    assert_int_equal(collected, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_collectors_and_hidden_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
