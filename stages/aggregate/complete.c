#include "complete.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "frontier.h"
#include "log.h"
#include "metrics.h"
#include "report.h"
#include "scan.h"

/* How long one read-back of results may take. */
#define READBACK_TIMEOUT_MS 10000

/* A batch finished in the open transaction, its webhook task waiting for
 * its results to be read back (complete_flush). Self-contained: its tally
 * is already a done one. */
struct closing {
    char id[IDS_BATCH_LEN];
    int32_t partition;
    int64_t from, until; /* its results' offset range */
    long long total;
    json_t *record; /* the batch record (reference) */
    json_t *doc;    /* the final status document (reference) */
    const char *events[2];
    int n_events;
    size_t budget;        /* bytes the inline results may take */
    struct results got;   /* results read back so far */
    struct assembly asm_; /* parts of results read back so far */
    uint8_t *taken;       /* items already in got (duplicates skipped) */
    int over;             /* the results do not fit the budget */
};

void follow_free(struct follow *f)
{
    if (!f)
        return;
    frontier_crawl_free(f->crawl);
    results_clear(&f->cache);
    free(f);
}

void complete_init(struct completion *c, struct emit *out, struct state *s, rd_kafka_t *reader,
                   const char *results_topic, size_t inline_max, size_t cache_max)
{
    memset(c, 0, sizeof(*c));
    c->out = out;
    c->state = s;
    c->reader = reader;
    c->results_topic = results_topic;
    c->inline_max = inline_max;
    c->cache_max = cache_max;
    c->m_completed = metric_counter("ferry_aggregate_completions_total", "Batches finished",
                                    "status=\"completed\"");
    c->m_failed = metric_counter("ferry_aggregate_completions_total", "Batches finished",
                                 "status=\"failed\"");
    c->m_cancelled = metric_counter("ferry_aggregate_completions_total", "Batches finished",
                                    "status=\"cancelled\"");
    c->m_latency = metric_histogram(
        "ferry_aggregate_completion_seconds",
        "Last result's timestamp to the commit of the batch's final status and webhook task", "",
        metric_latency_bounds, metric_latency_n);
}

static void closing_free(struct closing *k)
{
    json_decref(k->record);
    json_decref(k->doc);
    results_clear(&k->got);
    assembly_release(&k->asm_);
    free(k->taken);
}

void complete_release(struct completion *c)
{
    for (size_t i = 0; i < c->n_closing; i++)
        closing_free(&c->closing[i]);
    free(c->closing);
    free(c->done_last);
    memset(c, 0, sizeof(*c));
}

struct follow *complete_follow(struct completion *c, struct tally *t)
{
    (void)c;
    if (!t->follow) {
        t->follow = calloc(1, sizeof(*t->follow));
        if (!t->follow)
            abort();
        t->follow->cache_ok = t->processed == 0;
    }
    return t->follow;
}

void complete_recount(struct completion *c)
{
    size_t pos = 0;
    struct tally *t;
    c->cache_bytes = 0;
    while (state_next(c->state, &pos, &t))
        if (t->follow)
            c->cache_bytes += t->follow->cache.bytes;
}

void complete_forget_cache(struct completion *c, struct tally *t)
{
    struct follow *f = t->follow;
    if (!f)
        return;
    c->cache_bytes -= f->cache.bytes;
    results_clear(&f->cache);
    f->cache_ok = 0;
}

/* Rewrites a result's text into JSON.stringify's form unless it is in it
 * already (or jansson cannot read it: an integer past 64 bits; then it
 * goes as written). Takes text. */
static char *canonical(char *text, size_t *len, int is_canonical)
{
    size_t out_len;
    char *out = is_canonical ? NULL : report_canonical(text, *len, &out_len);
    if (!out)
        return text;
    free(text);
    *len = out_len;
    return out;
}

/* ------------------------------------------------------------ read-backs */

/* Reads [from, until] of t's partition (records keyed by t's batch), feeds
 * each of t's results through an assembly and calls fn with each whole
 * one. -1 when the range could not be read. */
struct readback {
    const struct tally *t;
    long long only; /* one item, or -1 */
    struct assembly asm_;
    void (*fn)(struct readback *rb, long long index, char *text, size_t len);
    void *arg;
    char *text; /* one item: its whole text */
    size_t len;
};

static int on_readback(void *arg, const rd_kafka_message_t *m)
{
    struct readback *rb = arg;
    struct record r;
    char why[256];
    size_t len;
    int canon;
    if (record_parse_result(&r, m->payload, m->len, NULL, 0, rb->t->total, why, sizeof(why)) == 0 &&
        strcmp(r.batch_id, rb->t->id) == 0 && (rb->only < 0 || r.in.index == rb->only)) {
        char *whole = assembly_add(&rb->asm_, &r, &len, &canon);
        if (whole && (whole = canonical(whole, &len, canon)))
            rb->fn(rb, r.in.index, whole, len);
    }
    record_release(&r);
    return rb->only >= 0 && rb->text; /* one item: stop once it is whole */
}

static int read_back(struct completion *c, struct readback *rb, int64_t from, int64_t until)
{
    char errstr[256], q[300];
    int32_t p = rb->t->partition;
    int rc = scan_read(c->reader, c->results_topic, &p, 1, from, until, rb->t->id, on_readback, rb,
                       NULL, READBACK_TIMEOUT_MS, errstr, sizeof(errstr));
    assembly_release(&rb->asm_);
    if (rc)
        LOG_WARN("readback_failed", "batch=%s error=%s", rb->t->id,
                 log_quote(q, sizeof(q), errstr));
    return rc;
}

static void take_one(struct readback *rb, long long index, char *text, size_t len)
{
    (void)index;
    if (rb->text) {
        free(text);
        return;
    }
    rb->text = text;
    rb->len = len;
}

/* ------------------------------------------------------------ running */

/* Keeps a counted result's text while the batch's cache is whole and
 * within both caps. Takes text. */
static void keep(struct completion *c, struct follow *f, long long index, char *text, size_t len)
{
    if (!f->cache_ok) {
        free(text);
        return;
    }
    if (results_joined_len(&f->cache) + len + 1 > c->inline_max)
        f->inline_over = 1; /* every result so far is here: they cannot fit */
    if (f->inline_over || c->cache_bytes + len > c->cache_max) {
        c->cache_bytes -= f->cache.bytes;
        results_clear(&f->cache);
        f->cache_ok = 0;
        free(text);
        return;
    }
    results_add(&f->cache, index, text, len);
    c->cache_bytes += len;
}

void complete_counted(struct completion *c, struct tally *t, struct record *r, int64_t first_offset,
                      int64_t offset)
{
    struct follow *f = complete_follow(c, t);
    int want_item = t->known && record_wants_event(t->record, "item.completed");
    int want_cache = f->cache_ok && !f->inline_over;
    size_t len = r->text_len;
    char *text = NULL;
    if (!want_item && !want_cache)
        return;
    if (r->in.parts) {
        /* Its other parts are behind us in the topic: read them back. */
        struct readback rb = {.t = t, .only = r->in.index, .fn = take_one};
        if (read_back(c, &rb, first_offset, offset) || !rb.text) {
            free(rb.text);
            complete_forget_cache(c, t);
            if (want_item)
                c->out->txn->failed = 1; /* done again after the rollback */
            return;
        }
        text = rb.text;
        len = rb.len;
    } else {
        text = canonical(r->text, &len, r->canonical);
        r->text = NULL;
    }
    if (!text)
        return;
    if (want_item)
        emit_item(c->out, t, r->in.index, text, len);
    if (want_cache)
        keep(c, f, r->in.index, text, len);
    else
        free(text);
}

struct held {
    struct completion *c;
    uint8_t *taken;
};

static void emit_held(struct readback *rb, long long index, char *text, size_t len)
{
    struct held *h = rb->arg;
    if (tally_seen(rb->t, index) && !((h->taken[index / 8] >> (index % 8)) & 1)) {
        h->taken[index / 8] |= (uint8_t)(1u << (index % 8));
        emit_item(h->c->out, rb->t, index, text, len);
    }
    free(text);
}

void complete_held_items(struct completion *c, struct tally *t)
{
    struct held h = {c, calloc(1, (size_t)(t->total + 7) / 8 + 1)};
    struct readback rb = {.t = t, .only = -1, .fn = emit_held, .arg = &h};
    if (!h.taken)
        abort();
    if (read_back(c, &rb, t->res_first, t->res_last))
        c->out->txn->failed = 1; /* done again after the rollback */
    free(h.taken);
}

/* ------------------------------------------------------------ finishing */

/* The batch.* and schedule.run tasks: with `results` inline, unless that
 * makes a task too large for a Kafka message; then (or with results NULL)
 * results_url. */
static void send_batch_tasks(struct completion *c, const char *id, const json_t *record,
                             const json_t *doc, const char *const *events, int n_events,
                             struct results *results)
{
    size_t rlen = 0;
    char *joined = results ? results_join(results, &rlen) : NULL;
    for (int i = 0; i < n_events; i++) {
        size_t len;
        char *body = report_body(doc, events[i], joined, rlen, &len);
        if (emit_task(c->out, id, record, events[i], -1, body, len) && joined) {
            free(body);
            body = report_body(doc, events[i], NULL, 0, &len);
            if (emit_task(c->out, id, record, events[i], -1, body, len))
                LOG_ERROR("batch_task_too_large", "batch=%s event=%s", id, events[i]);
        }
        free(body);
    }
    free(joined);
}

static struct closing *closing_add(struct completion *c)
{
    if (c->n_closing == c->cap_closing) {
        c->cap_closing = c->cap_closing ? c->cap_closing * 2 : 64;
        c->closing = realloc(c->closing, c->cap_closing * sizeof(*c->closing));
        if (!c->closing)
            abort();
    }
    struct closing *k = &c->closing[c->n_closing++];
    memset(k, 0, sizeof(*k));
    return k;
}

void complete_batch(struct completion *c, struct tally *t, const char *status)
{
    json_t *doc;
    const char *events[2];
    int n_events = 0;
    if (c->on_finish)
        c->on_finish(c->on_finish_arg, t);
    struct follow *f = t->follow;
    emit_status(c->out, t, status, &doc);
    LOG_INFO("batch_done", "batch=%s status=%s total=%lld processed=%lld succeeded=%lld", t->id,
             status, t->total, t->processed, t->succeeded);
    metric_inc(strcmp(status, REPORT_COMPLETED) == 0   ? c->m_completed
               : strcmp(status, REPORT_CANCELLED) == 0 ? c->m_cancelled
                                                       : c->m_failed,
               1);
    if (c->n_done == c->cap_done) {
        c->cap_done = c->cap_done ? c->cap_done * 2 : 64;
        c->done_last = realloc(c->done_last, c->cap_done * sizeof(*c->done_last));
        if (!c->done_last)
            abort();
    }
    c->done_last[c->n_done++] = t->last_ms;

    /* The batch's own end event, and a schedule's run the end of a run:
     * the same document (it names the schedule and the slot). */
    if (record_wants_event(t->record, report_event(status)))
        events[n_events++] = report_event(status);
    if (json_object_get(t->record, "schedule_id") &&
        record_wants_event(t->record, event_name(EVENT_SCHEDULE_RUN)))
        events[n_events++] = event_name(EVENT_SCHEDULE_RUN);
    if (n_events) {
        /* Both bodies hold the results: the budget is the larger's. */
        size_t base = 0, budget = 0;
        for (int i = 0; i < n_events; i++) {
            size_t b = report_body_base(doc, events[i]);
            base = b > base ? b : base;
        }
        if (base < c->inline_max)
            budget = c->inline_max - base;
        int fits = budget && !(f && f->inline_over);
        /* No follow: nothing was counted since this instance took the
         * batch over, so the cache is whole only if nothing was at all. */
        int cached = f ? f->cache_ok : t->processed == 0;
        if (fits && !cached && t->res_first >= 0) {
            struct closing *k = closing_add(c);
            snprintf(k->id, sizeof(k->id), "%s", t->id);
            k->partition = t->partition;
            k->from = t->res_first;
            k->until = t->res_last;
            k->total = t->total;
            k->record = json_incref(t->record);
            k->doc = doc;
            doc = NULL;
            memcpy(k->events, events, sizeof(events));
            k->n_events = n_events;
            k->budget = budget;
            k->taken = calloc(1, (size_t)(t->total + 7) / 8 + 1);
            if (!k->taken)
                abort();
        } else {
            struct results none = {0};
            struct results *inline_ = !cached ? NULL : f ? &f->cache : &none;
            if (!fits || (inline_ && results_joined_len(inline_) > budget))
                inline_ = NULL;
            send_batch_tasks(c, t->id, t->record, doc, events, n_events, inline_);
        }
    }
    json_decref(doc);
    if (f) {
        c->cache_bytes -= f->cache.bytes;
        follow_free(f);
        t->follow = NULL;
    }
    state_finish(c->state, t, clk_now_ms());
}

static int closing_by_id(const void *a, const void *b)
{
    const struct closing *x = a, *y = b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* One scan of a partition for every closing batch on it: records are
 * matched to their batch by key. */
struct sweep {
    struct closing *v;
    size_t n;
};

static int on_sweep(void *arg, const rd_kafka_message_t *m)
{
    struct sweep *sw = arg;
    struct closing key = {.partition = m->partition};
    struct record r;
    char why[256];
    size_t len;
    int canon;
    if (!m->key || m->key_len >= sizeof(key.id))
        return 0;
    memcpy(key.id, m->key, m->key_len);
    struct closing *k = bsearch(&key, sw->v, sw->n, sizeof(*sw->v), closing_by_id);
    if (!k || k->over || m->offset < k->from || m->offset > k->until)
        return 0;
    if (record_parse_result(&r, m->payload, m->len, NULL, 0, k->total, why, sizeof(why)) == 0 &&
        strcmp(r.batch_id, k->id) == 0 && !((k->taken[r.in.index / 8] >> (r.in.index % 8)) & 1)) {
        char *whole = assembly_add(&k->asm_, &r, &len, &canon);
        if (whole && (whole = canonical(whole, &len, canon))) {
            k->taken[r.in.index / 8] |= (uint8_t)(1u << (r.in.index % 8));
            if (results_joined_len(&k->got) + len + 1 > k->budget) {
                k->over = 1;
                free(whole);
                results_clear(&k->got);
                assembly_release(&k->asm_);
            } else {
                results_add(&k->got, r.in.index, whole, len);
            }
        }
    }
    record_release(&r);
    return 0;
}

void complete_flush(struct completion *c)
{
    char errstr[256], q[300];
    if (c->n_closing == 0)
        return;
    qsort(c->closing, c->n_closing, sizeof(*c->closing), closing_by_id);
    for (size_t i = 0; i < c->n_closing;) {
        size_t j = i;
        int64_t from = c->closing[i].from, until = c->closing[i].until;
        int32_t p = c->closing[i].partition;
        for (; j < c->n_closing && c->closing[j].partition == p; j++) {
            if (c->closing[j].from < from)
                from = c->closing[j].from;
            if (c->closing[j].until > until)
                until = c->closing[j].until;
        }
        struct sweep sw = {&c->closing[i], j - i};
        int rc = scan_read(c->reader, c->results_topic, &p, 1, from, until, NULL, on_sweep, &sw,
                           NULL, READBACK_TIMEOUT_MS, errstr, sizeof(errstr));
        if (rc)
            LOG_WARN("readback_failed", "partition=%d error=%s", (int)p,
                     log_quote(q, sizeof(q), errstr));
        for (; i < j; i++) {
            struct closing *k = &c->closing[i];
            send_batch_tasks(c, k->id, k->record, k->doc, k->events, k->n_events,
                             rc || k->over ? NULL : &k->got);
            closing_free(k);
        }
    }
    c->n_closing = 0;
}

void complete_ended(struct completion *c, int committed)
{
    int64_t now = clk_now_ms();
    for (size_t i = 0; committed && i < c->n_done; i++)
        metric_observe(c->m_latency, (double)(now - c->done_last[i]) / 1000.0);
    c->n_done = 0;
}
