#include "emit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "extract.h"
#include "fhdr.h"
#include "filerec.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "result.h"

/* Room kept in a message for the result's or file's own fields. */
#define MESSAGE_SLACK 4096

static struct metric *m_status[STATUS__COUNT], *m_retry, *m_files, *m_file_bytes;

int emit_init(struct emit *em, rd_kafka_t *producer, rd_kafka_t *files_producer,
              const struct topics *t, size_t max_message, long long files_retention_ms, int credits)
{
    memset(em, 0, sizeof(*em));
    job_sink_init(&em->sink, producer);
    em->files_producer = files_producer;
    em->results = rd_kafka_topic_new(producer, topic_name(t, TOPIC_RESULTS), NULL);
    em->dlq = rd_kafka_topic_new(producer, topic_name(t, TOPIC_RENDER_DLQ), NULL);
    em->files = rd_kafka_topic_new(files_producer, topic_name(t, TOPIC_FILES), NULL);
    em->n_tiers = t->n_render_tiers;
    for (size_t i = 0; i < em->n_tiers; i++) {
        em->tiers[i] = rd_kafka_topic_new(producer, t->render_tier[i], NULL);
        em->tier_ms[i] = t->render_tier_ms[i];
    }
    em->max_message = max_message;
    em->files_retention_ms = files_retention_ms;
    em->credits = credits;
    static const char help[] = "Items finished, by status (retry: sent to a retry tier)";
    for (int s = 0; s < STATUS__COUNT; s++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "outcome=\"%s\"", status_name((enum status)s));
        m_status[s] = metric_counter("ferry_render_items_total", help, labels);
    }
    m_retry = metric_counter("ferry_render_items_total", help, "outcome=\"retry\"");
    m_files =
        metric_counter("ferry_render_files_total", "Screenshots written to the files topic", "");
    m_file_bytes =
        metric_counter("ferry_render_file_bytes_total", "Bytes of screenshots written", "");
    return em->results && em->dlq && em->files ? 0 : -1;
}

void emit_release(struct emit *em)
{
    rd_kafka_topic_t *all[] = {em->results, em->dlq, em->files};
    for (size_t i = 0; i < 3; i++)
        if (all[i])
            rd_kafka_topic_destroy(all[i]);
    for (size_t i = 0; i < em->n_tiers; i++)
        if (em->tiers[i])
            rd_kafka_topic_destroy(em->tiers[i]);
    job_sink_release(&em->sink);
}

/* A slot waiting for its file's delivery report (lives on its stack). */
struct file_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    rd_kafka_resp_err_t err;
};

void emit_file_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct file_wait *w = msg->_private;
    kafka_dr_default(rk, msg, opaque);
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    w->err = msg->err;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static rd_kafka_headers_t *item_headers(const struct ritem *it)
{
    return fhdr_batch(it->batch_id, it->req ? it->index : -1);
}

/* Writes the image to the files topic (shared/filerec.h) and waits until
 * Kafka has it. 0 ok (file_id and *expires_ms filled), -1 with errstr.
 * Takes nothing: the image is copied. */
static int write_file(struct emit *em, const struct ritem *it, const struct page_res *res,
                      char file_id[FILEREC_ID_LEN], int64_t *expires_ms, char *errstr,
                      size_t errstr_size)
{
    struct file_wait w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    char expires[24];
    int64_t born;
    if (filerec_id_new(file_id, &born)) {
        snprintf(errstr, errstr_size, "no randomness for a file id");
        return -1;
    }
    *expires_ms = born + em->files_retention_ms;
    snprintf(expires, sizeof(expires), "%lld", (long long)*expires_ms);
    rd_kafka_headers_t *h = item_headers(it);
    fhdr_add(h, FHDR_CONTENT_TYPE, it->shot == SHOT_JPEG ? "image/jpeg" : "image/png");
    if (it->tenant)
        fhdr_add(h, FHDR_TENANT, it->tenant);
    fhdr_add(h, FHDR_EXPIRES_MS, expires);
    struct kafka_msg m = {.rkt = em->files,
                          .partition = RD_KAFKA_PARTITION_UA,
                          .key = file_id,
                          .key_len = strlen(file_id),
                          .value = res->image,
                          .len = res->image_len,
                          .msgflags = RD_KAFKA_MSG_F_COPY,
                          .headers = h,
                          .opaque = &w,
                          .timestamp_ms = born};
    rd_kafka_resp_err_t err = kafka_produce_wait(em->files_producer, &m, FILEREC_DELIVERY_MS);
    if (err) {
        rd_kafka_headers_destroy(h);
        snprintf(errstr, errstr_size, "storing the screenshot: %s", rd_kafka_err2str(err));
        return -1;
    }
    /* The report comes within message.timeout.ms (FILEREC_DELIVERY_MS),
     * delivered or failed. */
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    if (w.err) {
        snprintf(errstr, errstr_size, "storing the screenshot: %s", rd_kafka_err2str(w.err));
        return -1;
    }
    metric_inc(m_files, 1);
    metric_inc(m_file_bytes, (long long)res->image_len);
    return 0;
}

static void fill_meta(struct result_meta *m, const struct ritem *it, enum status status,
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

/* Takes it: every part of the result goes out under its job. An endpoint
 * item's submitted object is echoed as its input. */
static void produce_result(struct emit *em, struct ritem *it, struct result_meta *m,
                           const struct extract *ex)
{
    struct result_part *parts;
    char *input = it->input ? jx_dump(it->input, NULL) : NULL;
    m->input_json = input;
    size_t n = result_build(m, ex, it->formats, em->max_message, &parts);
    m->input_json = NULL;
    free(input);
    metric_inc(m_status[m->status], 1);
    job_expect(&it->job, (int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_headers_t *h = item_headers(it);
        fhdr_add_part(h, i + 1, n);
        job_produce(&em->sink, &it->job, em->results, it->batch_id, parts[i].buf, parts[i].len, h);
    }
    free(parts);
}

void emit_skip(struct emit *em, struct ritem *it, enum status status, const char *error)
{
    struct result_meta m;
    fill_meta(&m, it, status, error);
    m.credits_ok = em->credits;
    produce_result(em, it, &m, NULL);
}

static void retry(struct emit *em, struct ritem *it, const char *why)
{
    size_t tier = (size_t)it->job.attempt - 1;
    metric_inc(m_retry, 1);
    job_retry(&em->sink, &it->job, em->tiers[tier], it->batch_id, clk_now_ms() + em->tier_ms[tier],
              why, item_headers(it));
}

void emit_unusable(struct emit *em, struct ritem *it, enum status status, const char *error)
{
    if (status_retried(status) == STATUS_ALWAYS && (size_t)it->job.attempt <= em->n_tiers) {
        retry(em, it, error);
        return;
    }
    emit_skip(em, it, status, error);
}

/* Runs the item's rules on the rendered document. STATUS_OK with the data
 * in *data (malloc'd), or a page outcome (captcha, empty, too_large) with
 * error filled. */
static enum status apply_rules(const struct emit *em, const struct ritem *it,
                               const struct extract *ex, const char *url, const char *content_type,
                               char **data, char *error, size_t error_size)
{
    /* The browser keeps the response's headers to itself; the rules see
     * its content type. */
    const struct xpage_header h = {.name = "content-type", .value = content_type};
    const struct xrules_page page = {.doc = ex->doc,
                                     .url = url,
                                     .headers = content_type ? &h : NULL,
                                     .n_headers = content_type ? 1 : 0,
                                     .body = ex->html,
                                     .body_len = ex->html_len};
    enum status st;
    size_t len;
    *data = xrules_apply(&it->rules, &page, &len, &st, error, error_size);
    /* The rules' data rides in part 1 of a result, whole: it must fit one
     * message beside the item's other members. */
    if (*data && len + 16384 > em->max_message) {
        snprintf(error, error_size,
                 "the extracted data (%zu bytes) is larger than a result message may carry", len);
        free(*data);
        *data = NULL;
        st = STATUS_TOO_LARGE;
    }
    return st;
}

void emit_rendered(struct emit *em, struct ritem *it, struct page_res *res, long long duration_ms)
{
    char err[200], extra[600], file_id[FILEREC_ID_LEN];
    const char *st = res->status ? res->status : "render_error";
    enum status status = status_parse(st, strlen(st));
    int can_retry = (size_t)it->job.attempt <= em->n_tiers;
    if (status == STATUS_UNKNOWN)
        status = STATUS_RENDER_ERROR;
    if (status != STATUS_OK && res->transient && can_retry) {
        retry(em, it, res->error);
        return;
    }
    struct result_meta m;
    fill_meta(&m, it, status, status == STATUS_OK ? NULL : res->error);
    m.credits_ok = em->credits;
    m.http_status = res->http_status;
    m.final_url = res->final_url;
    m.content_type = res->content_type;
    m.duration_ms = duration_ms;
    if (status != STATUS_OK) {
        produce_result(em, it, &m, NULL);
        return;
    }
    if (res->image) {
        if (res->image_len + MESSAGE_SLACK > em->max_message) {
            snprintf(err, sizeof(err),
                     "the screenshot (%zu bytes) is larger than FERRY_MAX_MESSAGE_BYTES",
                     res->image_len);
            m.status = STATUS_TOO_LARGE;
            m.error = err;
            produce_result(em, it, &m, NULL);
            return;
        }
        int64_t expires;
        if (write_file(em, it, res, file_id, &expires, err, sizeof(err))) {
            LOG_WARN("file_not_stored", "batch=%s item=%lld why=%s", it->batch_id, it->index, err);
            if (can_retry) {
                retry(em, it, err);
                return;
            }
            m.status = STATUS_RENDER_ERROR;
            m.error = err;
            produce_result(em, it, &m, NULL);
            return;
        }
        char at[CLK_ISO_LEN];
        clk_iso8601(expires, at);
        snprintf(extra, sizeof(extra),
                 "\"screenshot\":{\"url\":\"/v1/files/%s\",\"type\":\"%s\",\"width\":%d,"
                 "\"height\":%d,\"size_bytes\":%zu,\"expires_at\":\"%s\"}",
                 file_id, it->shot == SHOT_JPEG ? "jpeg" : "png", res->image_width,
                 res->image_height, res->image_len, at);
        m.data_extra = extra;
        m.hash_extra = res->image;
        m.hash_extra_len = res->image_len;
    }
    struct extract ex;
    memset(&ex, 0, sizeof(ex));
    /* The document as the browser holds it after its scripts ran, already
     * UTF-8; relative links resolve against the final URL. A screenshot
     * alone needs no extraction (data then holds just the screenshot); the
     * rules run on the same parsed document as the formats. */
    const char *url = res->final_url ? res->final_url : it->url;
    unsigned want = it->formats | (it->rules.spec ? EXTRACT_KEEP_DOC : 0);
    if (want)
        extract_run(&ex, res->html ? res->html : "", res->html_len, "text/html; charset=utf-8", url,
                    want);
    char *data = NULL;
    enum status rst =
        it->rules.spec ? apply_rules(em, it, &ex, url, res->content_type, &data, err, sizeof(err))
                       : STATUS_OK;
    if (rst != STATUS_OK) {
        /* A captcha or an empty page: another attempt may see the page. */
        if (status_retried(rst) == STATUS_ALWAYS && can_retry) {
            retry(em, it, err);
        } else {
            m.status = rst;
            m.error = err;
            m.data_extra = NULL;
            produce_result(em, it, &m, NULL);
        }
    } else {
        if (it->rules.endpoint)
            m.data_json = data;
        else
            m.extract_json = data;
        produce_result(em, it, &m, it->rules.endpoint && data ? NULL : &ex);
    }
    extract_release(&ex);
    free(data);
}

void emit_dead_letter(struct emit *em, struct ritem *it, const char *why)
{
    job_dead_letter(&em->sink, &it->job, em->dlq, why);
}
