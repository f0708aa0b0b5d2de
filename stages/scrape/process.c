#include "process.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "extract.h"
#include "log.h"
#include "metrics.h"
#include "outcome.h"
#include "url.h"

/* One counter per result status, and one more for items sent to a retry
 * tier (not a status: the item is not finished). */
#define OUTCOME_RETRY STATUS__COUNT
static struct metric *by_outcome[STATUS__COUNT + 1];
static struct metric *bytes, *latency;

void process_init(struct process *pr, struct emit *em, long long retry_after_max_ms)
{
    pr->em = em;
    pr->retry_after_max_ms = retry_after_max_ms;
    for (int i = 0; i <= OUTCOME_RETRY; i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "outcome=\"%s\"",
                 i == OUTCOME_RETRY ? "retry" : status_name((enum status)i));
        by_outcome[i] =
            metric_counter("ferry_scrape_fetches_total",
                           "Items finished, by outcome (retry: sent to a retry tier)", labels);
    }
    bytes = metric_counter("ferry_scrape_bytes_total", "Body bytes fetched (decoded)", "");
    latency = metric_histogram("ferry_scrape_fetch_seconds", "Fetch latency, request to last byte",
                               "", metric_latency_bounds, metric_latency_n);
}

static void fill_meta(struct result_meta *m, const struct item *it, enum status status,
                      const char *error)
{
    memset(m, 0, sizeof(*m));
    m->batch_id = it->batch_id;
    m->tenant = it->tenant;
    m->input = it->url;
    m->index = it->index;
    m->status = status;
    m->error = error;
    m->attempts = it->job.attempt;
    m->fetched_at_ms = clk_now_ms();
    m->track = json_object_get(it->req, "track");
}

void process_skip(struct process *pr, struct item *it, enum status status, const char *error)
{
    struct result_meta m;
    fill_meta(&m, it, status, error);
    metric_inc(by_outcome[status], 1);
    emit_result(pr->em, it, &m, NULL);
}

void process_fetched(struct item *it, CURLcode rc, void *arg)
{
    struct process *pr = arg;
    const struct httpc_xfer *x = &it->x;
    long code = 0;
    char *final_url = NULL, *ct = NULL;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &final_url);
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
    long long ms = (clk_mono_us() - x->started_us) / 1000;
    metric_observe(latency, (double)ms / 1000.0);

    struct outcome o;
    outcome_classify(&o, rc, code, x->guard.blocked, x->guard.why, x->too_large, x->errbuf);
    if (log_enabled(LOG_DEBUG)) {
        char q[256];
        LOG_DEBUG("fetched", "batch=%s item=%lld status=%s http=%ld ms=%lld attempt=%d url=%s",
                  it->batch_id, it->index, status_name(o.status), code, ms, it->job.attempt,
                  log_quote(q, sizeof(q), it->url));
    }

    struct emit *em = pr->em;
    if (o.transient && (size_t)it->job.attempt <= em->n_tiers) {
        size_t tier = (size_t)it->job.attempt - 1;
        long long delay = em->tier_ms[tier];
        int64_t now = clk_now_ms();
        long long ra = httpc_retry_after_ms(x->retry_after, now, pr->retry_after_max_ms);
        if (ra > delay)
            delay = ra;
        metric_inc(by_outcome[OUTCOME_RETRY], 1);
        emit_retry(em, it, tier, now + delay, o.error);
        return;
    }

    metric_inc(by_outcome[o.status], 1);
    struct result_meta m;
    fill_meta(&m, it, o.status, o.error[0] ? o.error : NULL);
    m.http_status = code;
    /* A redirect may have named credentials (user:password@): never echoed. */
    char *shown = final_url ? url_without_credentials(final_url) : NULL;
    m.final_url = shown ? shown : final_url;
    m.content_type = ct;
    m.duration_ms = ms;
    if (o.status != STATUS_OK) {
        emit_result(em, it, &m, NULL);
        free(shown);
        return;
    }
    metric_inc(bytes, (long long)x->body.len);
    struct extract ex;
    extract_run(&ex, buf_str(&x->body), x->body.len, ct, m.final_url, it->formats);
    emit_result(em, it, &m, &ex);
    extract_release(&ex);
    free(shown);
}
