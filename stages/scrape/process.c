#include "process.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "crawllinks.h"
#include "extract.h"
#include "jx.h"
#include "log.h"
#include "metrics.h"
#include "outcome.h"
#include "sitefile.h"
#include "url.h"

/* One counter per result status, and one more for items sent to a retry
 * tier (not a status: the item is not finished). */
#define OUTCOME_RETRY STATUS__COUNT
static struct metric *by_outcome[STATUS__COUNT + 1];
static struct metric *bytes, *latency, *rules_latency;

/* Response headers the rules see (technology rules read a few). */
#define RULES_HEADERS_MAX   100
#define RULES_HEADERS_BYTES (64 * 1024)
/* Rules cost tens of microseconds a page: finer buckets than a fetch's. */
static const double rules_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                      0.0025,  0.005,  0.01,    0.05,   0.25};

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
    rules_latency = metric_histogram("ferry_scrape_extract_seconds",
                                     "Extraction rules' time per page (on the parsed document)", "",
                                     rules_bounds, sizeof(rules_bounds) / sizeof(rules_bounds[0]));
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
    m->crawl_page = it->depth >= 0;
    m->depth = it->depth;
    m->found_on = it->found_on;
}

/* The links of a crawl's page for its frontier (crawllinks.h), into out:
 * at most a quarter of a message, so the result's first part holds them. */
static void frontier_links(const struct item *it, const struct emit *em, const char *body,
                           size_t len, const char *ct, const char *final_url, struct buf *out)
{
    uint8_t key[SEEN_KEY_LEN];
    if (!extract_is_html(ct, body, len))
        return;
    seen_key(it->batch_id, key);
    crawllinks_html(body, len, final_url ? final_url : it->url, key, CRAWLLINKS_MAX,
                    em->max_message / 4, out);
}

/* Emits the result, echoing the submitted item object as "input". */
static void finish(struct process *pr, struct item *it, struct result_meta *m,
                   const struct extract *ex)
{
    char *input = it->input ? jx_dump(it->input, NULL) : NULL;
    m->input_json = input;
    emit_result(pr->em, it, m, ex);
    free(input);
}

void process_skip(struct process *pr, struct item *it, enum status status, const char *error)
{
    struct result_meta m;
    metric_inc(by_outcome[status], 1);
    if (it->fetch != FETCH_PAGE) {
        sitefile_emit(pr->em, it, 0, NULL, 0); /* the frontier must not wait for it */
        return;
    }
    fill_meta(&m, it, status, error);
    finish(pr, it, &m, NULL);
}

/* A transient failure with a tier left: the item goes to it (after the
 * tier's delay, or the server's Retry-After when longer). 0 when the tiers
 * are used up and the failure is final. */
static int retry(struct process *pr, struct item *it, const char *retry_after, const char *error)
{
    struct emit *em = pr->em;
    if ((size_t)it->job.attempt > em->n_tiers)
        return 0;
    size_t tier = (size_t)it->job.attempt - 1;
    long long delay = em->tier_ms[tier];
    int64_t now = clk_now_ms();
    long long ra =
        retry_after ? httpc_retry_after_ms(retry_after, now, pr->retry_after_max_ms) : -1;
    if (ra > delay)
        delay = ra;
    metric_inc(by_outcome[OUTCOME_RETRY], 1);
    emit_retry(em, it, tier, now + delay, error);
    return 1;
}

void process_unusable(struct process *pr, struct item *it, enum status status, const char *error)
{
    if (status_retried(status) == STATUS_ALWAYS && retry(pr, it, NULL, error))
        return;
    process_skip(pr, it, status, error);
}

/* The response headers of the last response (after redirects), as the
 * rules read them: copies in `arena`, at most `max`. */
static size_t response_headers(CURL *easy, struct xpage_header *h, size_t max, struct buf *arena)
{
    size_t n = 0, off[2 * RULES_HEADERS_MAX];
    struct curl_header *prev = NULL, *ch;
    while (n < max && (ch = curl_easy_nextheader(easy, CURLH_HEADER, -1, prev)) != NULL) {
        off[2 * n] = arena->len;
        if (buf_add(arena, ch->name, strlen(ch->name) + 1))
            break;
        off[2 * n + 1] = arena->len;
        if (buf_add(arena, ch->value, strlen(ch->value) + 1))
            break;
        n++;
        prev = ch;
    }
    /* The arena moved while it grew: pointers only now. */
    for (size_t i = 0; i < n; i++) {
        h[i].name = arena->ptr + off[2 * i];
        h[i].value = arena->ptr + off[2 * i + 1];
    }
    return n;
}

/* Runs the item's rules on the fetched page. Returns what the result is
 * then: STATUS_OK with the data in *data, or a page outcome (captcha,
 * empty, too_large) with error filled. */
static enum status apply_rules(struct item *it, const struct extract *ex, const char *url,
                               char **data, char *error, size_t error_size)
{
    struct xpage_header h[RULES_HEADERS_MAX];
    struct buf arena = BUF_INIT(RULES_HEADERS_BYTES);
    size_t nh = response_headers(it->x.easy, h, RULES_HEADERS_MAX, &arena);
    const struct xrules_page page = {.doc = ex->doc,
                                     .url = url,
                                     .headers = h,
                                     .n_headers = nh,
                                     .body = ex->binary ? NULL : ex->html,
                                     .body_len = ex->binary ? 0 : ex->html_len};
    enum status st;
    size_t len;
    int64_t t0 = clk_mono_us();
    *data = xrules_apply(&it->rules, &page, &len, &st, error, error_size);
    metric_observe(rules_latency, (double)(clk_mono_us() - t0) / 1e6);
    buf_release(&arena);
    return st;
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
    if (o.transient && retry(pr, it, x->retry_after, o.error))
        return;
    if (it->fetch != FETCH_PAGE) {
        /* robots.txt's 4xx and 5xx mean something (RFC 9309 2.3.1): its
         * status goes too, whatever the outcome. */
        metric_inc(by_outcome[o.status], 1);
        metric_inc(bytes, (long long)x->body.len);
        sitefile_emit(pr->em, it, code, x->body.len ? buf_str(&x->body) : NULL, x->body.len);
        return;
    }

    struct result_meta m;
    fill_meta(&m, it, o.status, o.error[0] ? o.error : NULL);
    m.http_status = code;
    /* A redirect may have named credentials (user:password@): never echoed. */
    char *shown = final_url ? url_without_credentials(final_url) : NULL;
    m.final_url = shown ? shown : final_url;
    m.content_type = ct;
    m.duration_ms = ms;
    if (o.status != STATUS_OK) {
        metric_inc(by_outcome[o.status], 1);
        finish(pr, it, &m, NULL);
        free(shown);
        return;
    }
    metric_inc(bytes, (long long)x->body.len);
    struct buf links = BUF_INIT(BUF_NO_MAX);
    if (it->frontier)
        frontier_links(it, pr->em, buf_str(&x->body), x->body.len, ct, final_url, &links);
    struct extract ex;
    char *data = NULL, error[160];
    unsigned want = it->formats | (it->rules.spec ? EXTRACT_KEEP_DOC : 0);
    extract_run(&ex, buf_str(&x->body), x->body.len, ct, m.final_url, want);
    enum status st = STATUS_OK;
    if (it->rules.spec)
        st = apply_rules(it, &ex, m.final_url, &data, error, sizeof(error));
    /* The rules' data rides in part 1 of a result, whole: it must fit one
     * message beside the item's other members. */
    if (data && strlen(data) + 16384 > pr->em->max_message) {
        snprintf(error, sizeof(error),
                 "the extracted data (%zu bytes) is larger than a result "
                 "message may carry",
                 strlen(data));
        st = STATUS_TOO_LARGE;
        free(data);
        data = NULL;
    }
    if (st != STATUS_OK) {
        /* A captcha or an empty page: another attempt may see the page. */
        if (!(status_retried(st) == STATUS_ALWAYS && retry(pr, it, NULL, error))) {
            metric_inc(by_outcome[st], 1);
            m.status = st;
            m.error = error;
            finish(pr, it, &m, NULL);
        }
    } else {
        metric_inc(by_outcome[STATUS_OK], 1);
        m.frontier = links.len ? links.ptr : NULL;
        m.frontier_len = links.len;
        if (it->rules.endpoint)
            m.data_json = data;
        else
            m.extract_json = data;
        finish(pr, it, &m, it->rules.endpoint ? NULL : &ex);
    }
    extract_release(&ex);
    free(data);
    buf_release(&links);
    free(shown);
}
