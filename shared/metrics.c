#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_kind { M_COUNTER, M_GAUGE, M_GAUGE_FN, M_HISTOGRAM };

#define METRIC_MAX_BUCKETS 24

struct metric {
    enum metric_kind kind;
    const char *name;
    const char *help;
    char labels[160];
    atomic_llong value;
    atomic_int hidden; /* metric_hide() until the next metric_set() */
    double (*fn)(void *);
    void *arg;
    double bounds[METRIC_MAX_BUCKETS];
    size_t n_bounds;
    atomic_llong buckets[METRIC_MAX_BUCKETS + 1];
    _Atomic double sum;
    struct metric *next;
};

const double metric_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,   0.5,   1,      2.5,   5,    10,    30};
const size_t metric_latency_n = sizeof(metric_latency_bounds) / sizeof(metric_latency_bounds[0]);

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *registry_head, *registry_tail;

static struct metric *metric_register(enum metric_kind kind, const char *name, const char *help,
                                      const char *labels)
{
    struct metric *m;
    pthread_mutex_lock(&registry_lock);
    for (m = registry_head; m; m = m->next)
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels) == 0)
            goto out;
    m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    m->kind = kind;
    m->name = name;
    m->help = help;
    snprintf(m->labels, sizeof(m->labels), "%s", labels);
    /* Insert after the family's last series (or at the end), so a family's
     * series stay together in the output, as the text format requires. */
    struct metric *after = NULL;
    for (struct metric *p = registry_head; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            after = p;
    if (!after)
        after = registry_tail;
    if (after) {
        m->next = after->next;
        after->next = m;
    } else {
        registry_head = m;
    }
    if (after == registry_tail)
        registry_tail = m;
out:
    pthread_mutex_unlock(&registry_lock);
    return m;
}

struct metric *metric_counter(const char *name, const char *help, const char *labels)
{
    return metric_register(M_COUNTER, name, help, labels);
}

struct metric *metric_gauge(const char *name, const char *help, const char *labels)
{
    return metric_register(M_GAUGE, name, help, labels);
}

struct metric *metric_gauge_fn(const char *name, const char *help, const char *labels,
                               double (*fn)(void *arg), void *arg)
{
    struct metric *m = metric_register(M_GAUGE_FN, name, help, labels);
    m->fn = fn;
    m->arg = arg;
    return m;
}

struct metric *metric_histogram(const char *name, const char *help, const char *labels,
                                const double *bounds, size_t n_bounds)
{
    struct metric *m = metric_register(M_HISTOGRAM, name, help, labels);
    if (n_bounds > METRIC_MAX_BUCKETS)
        n_bounds = METRIC_MAX_BUCKETS;
    memcpy(m->bounds, bounds, n_bounds * sizeof(*bounds));
    m->n_bounds = n_bounds;
    return m;
}

void metric_inc(struct metric *m, long long n)
{
    atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

void metric_set(struct metric *m, long long v)
{
    atomic_store_explicit(&m->value, v, memory_order_relaxed);
    atomic_store_explicit(&m->hidden, 0, memory_order_relaxed);
}

void metric_hide(struct metric *m)
{
    atomic_store_explicit(&m->hidden, 1, memory_order_relaxed);
}

/* Collectors run under their own lock, not the registry's: they register
 * series. Holding it through a collection is what lets remove() promise
 * that the collector is not running once it returns. */
#define MAX_COLLECTORS 32
static pthread_mutex_t collect_lock = PTHREAD_MUTEX_INITIALIZER;
static struct collector {
    void (*fn)(void *);
    void *arg;
} collectors[MAX_COLLECTORS];
static size_t n_collectors;

int metrics_collector_add(void (*fn)(void *arg), void *arg)
{
    int rc = -1;
    pthread_mutex_lock(&collect_lock);
    if (n_collectors < MAX_COLLECTORS) {
        collectors[n_collectors++] = (struct collector){fn, arg};
        rc = 0;
    }
    pthread_mutex_unlock(&collect_lock);
    return rc;
}

void metrics_collector_remove(void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&collect_lock);
    for (size_t i = 0; i < n_collectors; i++)
        if (collectors[i].fn == fn && collectors[i].arg == arg) {
            collectors[i] = collectors[--n_collectors];
            break;
        }
    pthread_mutex_unlock(&collect_lock);
}

long long metric_value(const struct metric *m)
{
    return atomic_load_explicit(&((struct metric *)m)->value, memory_order_relaxed);
}

void metric_observe(struct metric *m, double v)
{
    size_t i = 0;
    while (i < m->n_bounds && v > m->bounds[i])
        i++;
    atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->value, 1, memory_order_relaxed);
    double old = atomic_load_explicit(&m->sum, memory_order_relaxed);
    while (!atomic_compare_exchange_weak(&m->sum, &old, old + v))
        ;
}

/* A growing buffer for the rendered text; only metrics_render uses it. */
struct textbuf {
    char *s;
    size_t len, cap;
};

static void tb_printf(struct textbuf *tb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tb_printf(struct textbuf *tb, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(tb->s + tb->len, tb->cap - tb->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < tb->cap - tb->len) {
            tb->len += (size_t)n;
            return;
        }
        tb->cap = tb->cap * 2 + (size_t)(n > 0 ? n : 0);
        char *s = realloc(tb->s, tb->cap);
        if (!s)
            abort();
        tb->s = s;
    }
}

static void render_histogram(struct textbuf *tb, struct metric *m)
{
    const char *sep = m->labels[0] ? "," : "";
    long long cum = 0;
    for (size_t i = 0; i <= m->n_bounds; i++) {
        cum += atomic_load(&m->buckets[i]);
        if (i < m->n_bounds)
            tb_printf(tb, "%s_bucket{%s%sle=\"%g\"} %lld\n", m->name, m->labels, sep, m->bounds[i],
                      cum);
        else
            tb_printf(tb, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", m->name, m->labels, sep, cum);
    }
    tb_printf(tb, "%s_sum{%s} %.6f\n", m->name, m->labels, atomic_load(&m->sum));
    tb_printf(tb, "%s_count{%s} %lld\n", m->name, m->labels, cum);
}

char *metrics_render(void)
{
    static const char *const types[] = {"counter", "gauge", "gauge", "histogram"};
    struct textbuf tb = {malloc(4096), 0, 4096};
    if (!tb.s)
        abort();
    tb.s[0] = '\0';

    pthread_mutex_lock(&collect_lock);
    for (size_t i = 0; i < n_collectors; i++)
        collectors[i].fn(collectors[i].arg);
    pthread_mutex_unlock(&collect_lock);

    pthread_mutex_lock(&registry_lock);
    const char *last = "";
    for (struct metric *m = registry_head; m; m = m->next) {
        if (strcmp(m->name, last) != 0) {
            tb_printf(&tb, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                      types[m->kind]);
            last = m->name;
        }
        if (atomic_load_explicit(&m->hidden, memory_order_relaxed))
            continue;
        switch (m->kind) {
        case M_COUNTER:
        case M_GAUGE: tb_printf(&tb, "%s{%s} %lld\n", m->name, m->labels, metric_value(m)); break;
        case M_GAUGE_FN: tb_printf(&tb, "%s{%s} %g\n", m->name, m->labels, m->fn(m->arg)); break;
        case M_HISTOGRAM: render_histogram(&tb, m); break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return tb.s;
}
