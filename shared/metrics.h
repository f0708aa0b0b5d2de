/*
 * metrics — counters, gauges and histograms, rendered in Prometheus text
 * format for /metrics.
 *
 * A series is a metric name plus a fixed label string, registered once and
 * then updated lock-free (atomics), so hot paths keep the pointer:
 *
 *     static struct metric *ok;
 *     ok = metric_counter("ferry_scrape_fetches_total", "Fetches by outcome",
 *                         "outcome=\"ok\"");
 *     metric_inc(ok, 1);
 *
 * Registering the same name and labels again returns the same series, so a
 * caller with dynamic labels (route, code) may look series up per event;
 * the lookup is a short scan under a mutex.
 */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stddef.h>

struct metric;

/* `labels` is the inside of {} ("" for none); copied. Help and name must be
 * string literals or otherwise outlive the process's metrics. */
struct metric *metric_counter(const char *name, const char *help, const char *labels);
struct metric *metric_gauge(const char *name, const char *help, const char *labels);

/* A gauge whose value is read at render time from fn(arg) (in-flight
 * transfers, consumer lag). */
struct metric *metric_gauge_fn(const char *name, const char *help, const char *labels,
                               double (*fn)(void *arg), void *arg);

/* A histogram with the given upper bounds (ascending, in the unit of the
 * observed values; seconds by Prometheus convention). */
struct metric *metric_histogram(const char *name, const char *help, const char *labels,
                                const double *bounds, size_t n_bounds);

/* Default latency buckets in seconds, 0.5 ms .. 30 s. */
extern const double metric_latency_bounds[];
extern const size_t metric_latency_n;

void metric_inc(struct metric *m, long long n);  /* counters and gauges */
void metric_set(struct metric *m, long long v);  /* gauges */
void metric_observe(struct metric *m, double v); /* histograms */
long long metric_value(const struct metric *m);  /* counters and gauges */

/* Leaves a series out of the output until its next metric_set() (a
 * gauge of a Kafka partition this instance no longer owns). */
void metric_hide(struct metric *m);

/* A collector runs at the start of every metrics_render(), before any
 * series is read, on the rendering thread: it may register series and set
 * them (series whose set changes over time, such as one per assigned
 * partition). Once metrics_collector_remove() returns, fn is not running
 * and will not run again, so arg may be freed. At most 32 collectors. */
int metrics_collector_add(void (*fn)(void *arg), void *arg);
void metrics_collector_remove(void (*fn)(void *arg), void *arg);

/* Renders every series; returns a malloc'd NUL-terminated string. */
char *metrics_render(void);

#endif
