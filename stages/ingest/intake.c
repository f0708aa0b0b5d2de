#include "intake.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "clock.h"
#include "fhdr.h"
#include "kafka.h"
#include "ktxn.h"
#include "log.h"
#include "schema.h"
#include "metrics.h"
#include "shutdown.h"

/* A chunk: the records one transaction answers. Its size bounds what an
 * abort throws away and reads again; its items bound the transaction as
 * the pool's groups are bounded (txn.c). */
#define CHUNK_RECORDS 256
#define CHUNK_ITEMS   200000
/* How long a chunk waits for more records after its first: a burst of
 * produced submits shares transactions, a lone one waits only this. */
#define CHUNK_LINGER_MS 20
/* Between attempts while Kafka refuses (the transaction aborted, the
 * producer could not be opened). */
#define RETRY_MS 500

struct intake {
    struct api *a;
    const struct stage *st;
    rd_kafka_t *consumer;
    rd_kafka_t *producer; /* NULL until opened, or after a fatal error threw it away */
    char txn_id[256];
    pthread_t thread;
    atomic_int stop;
    atomic_int rebalances; /* bumped by every assignment change */
    struct metric *m_accepted, *m_rejected, *m_committed, *m_aborted;
};

/* One record of a chunk and what the transaction made of it. */
struct rec {
    rd_kafka_message_t *msg;
    char key[256];                    /* the record key as text ("" for none) */
    int has_key;                      /* no key: a submit without Idempotency-Key */
    char header[KEYS_TENANT_MAX + 1]; /* its ferry-tenant header ("" for none) */
    char tenant[KEYS_TENANT_MAX];     /* the tenant it names, once known */
    struct api_submit sub;
    int begun;     /* sub needs api_submit_end */
    unsigned code; /* the status of its reply */
};

static int stopping(struct intake *in)
{
    return atomic_load(&in->stop) || shutdown_requested();
}

/* Waits ms, or less when asked to stop. */
static void pause_ms(struct intake *in, int ms)
{
    for (int64_t until = clk_mono_ms() + ms; !stopping(in) && clk_mono_ms() < until;)
        usleep(20000);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct intake *in = opaque;
    atomic_fetch_add(&in->rebalances, 1);
    LOG_INFO("intake_rebalance", "change=%s partitions=%d",
             err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assign" : "revoke", parts->cnt);
    rd_kafka_assign(rk, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? parts : NULL);
}

static int consumer_open(struct intake *in, char *errstr, size_t errstr_size)
{
    const char *topic = topic_name(&in->st->topics, TOPIC_SUBMIT);
    rd_kafka_conf_t *conf = kafka_consumer_conf(&in->st->cfg, in->st->client_id,
                                                "ferry-ingest-submit", errstr, errstr_size);
    /* Offsets are committed by the transactions, never by the consumer. */
    if (!conf || kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, in);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    in->consumer = kafka_consumer_open(conf, &topic, 1, errstr, errstr_size);
    return in->consumer ? 0 : -1;
}

static int producer_open(struct intake *in, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf =
        kafka_producer_conf(&in->st->cfg, in->st->client_id, in->txn_id, errstr, errstr_size);
    if (!conf)
        return -1;
    /* As the submit pool's producers (txn.c): a transaction a crash left
     * open blocks read_committed readers until the broker aborts it. */
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%d", in->a->timeout_ms * 3 > 60000 ? in->a->timeout_ms * 3 : 60000);
    if (kafka_conf_set(conf, "transaction.timeout.ms", tmo, errstr, errstr_size) ||
        kafka_conf_set(conf, "message.timeout.ms", tmo, errstr, errstr_size) ||
        kafka_conf_set(conf, "queue.buffering.max.messages", "2000000", errstr, errstr_size) ||
        kafka_conf_set(conf, "queue.buffering.max.kbytes", "2097151", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    in->producer = kafka_producer_open(conf, in->a->timeout_ms, errstr, errstr_size);
    if (in->producer)
        LOG_INFO("producer_ready", "txn_id=%s", in->txn_id);
    return in->producer ? 0 : -1;
}

/* ------------------------------------------------------------ one record */

/* Refuses a record before the submit code sees it. */
static void refuse(struct httpd_resp *resp, unsigned status, const char *code, const char *message)
{
    httpd_error(resp, status, code, message, NULL);
}

/* Reads the record's key and tenant, then submits its body with the
 * caller's transaction open. resp gets the answer. 0, or -1 when Kafka
 * refused the batch's records (the transaction must abort). */
static int submit_record(struct intake *in, struct rec *r, int64_t deadline,
                         struct httpd_resp *resp, char *errstr, size_t errstr_size)
{
    struct api *a = in->a;
    const rd_kafka_message_t *m = r->msg;
    const char *known;
    if (!r->header[0]) {
        refuse(resp, 401, "unauthorized",
               "no ferry-tenant header (or a longer one than any tenant's name)");
        return 0;
    }
    if (!(known = keys_known_tenant(a->keys, r->header))) {
        refuse(resp, 401, "unauthorized",
               "ferry-tenant names no tenant of this ferry (FERRY_API_KEYS)");
        return 0;
    }
    snprintf(r->tenant, sizeof(r->tenant), "%s", known);
    if ((long long)m->len > a->max_body) {
        httpd_error(resp, 413, "body_too_large", "the body is larger than this server accepts",
                    json_pack("{s:I}", "max_bytes", (json_int_t)a->max_body));
        return 0;
    }
    if (r->has_key && (m->key_len >= sizeof(r->key) || memchr(m->key, '\0', m->key_len))) {
        refuse(resp, 422, "invalid_field",
               "the record key is the Idempotency-Key: 1 to 255 printable ASCII characters");
        return 0;
    }
    /* The submit code reads a NUL-terminated body, as the server hands it. */
    char *body = malloc(m->len + 1);
    if (!body) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (m->len)
        memcpy(body, m->payload, m->len);
    body[m->len] = '\0';
    r->sub = (struct api_submit){.body = body,
                                 .len = m->len,
                                 .tenant = r->tenant,
                                 .idem_key = r->has_key ? r->key : NULL,
                                 .via = "kafka"};
    r->begun = 1;
    int rc = 0;
    if (api_submit_begin(a, &r->sub, resp) == 0) {
        if (txn_write(a->txn, in->producer, &r->sub.b, r->sub.secret_enc, deadline, errstr,
                      errstr_size))
            rc = -1;
        else
            api_submit_accepted(a, &r->sub, resp);
    }
    return rc;
}

/* The reply's value: the answer's body (a JSON object) with the schema
 * version of submit.replies first. malloc'd. */
static char *versioned(const char *body, size_t len, size_t *out_len)
{
    struct buf b = BUF_INIT(BUF_NO_MAX);
    buf_addf(&b, "{\"" SCHEMA_VERSION_KEY "\":%d", SCHEMA_REPLIES);
    if (body && len > 2 && body[0] == '{') {
        buf_addc(&b, ',');
        buf_add(&b, body + 1, len - 1);
    } else {
        buf_addc(&b, '}');
    }
    return buf_detach(&b, out_len);
}

/* Produces the reply to r (in the open transaction). */
static int reply(struct intake *in, struct rec *r, struct httpd_resp *resp, int64_t deadline,
                 char *errstr, size_t errstr_size)
{
    char origin[320], status[8], replayed[8], location[96];
    const rd_kafka_message_t *m = r->msg;
    unsigned code = httpd_resp_status(resp);
    size_t len, body_len;
    const char *body = httpd_resp_body(resp, &body_len);
    char *value = versioned(body, body_len, &len);
    snprintf(origin, sizeof(origin), "%s/%d/%lld", rd_kafka_topic_name(m->rkt), (int)m->partition,
             (long long)m->offset);
    snprintf(status, sizeof(status), "%u", code);
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    fhdr_add(h, FHDR_ORIGIN, origin);
    fhdr_add(h, FHDR_OUTCOME, code == 202 ? "accepted" : "rejected");
    fhdr_add(h, FHDR_STATUS, status);
    if (r->tenant[0])
        fhdr_add(h, FHDR_TENANT, r->tenant);
    /* Location: /v1/batch/<id>, of a new batch or of the one the key made. */
    if (code == 202 && httpd_resp_header_value(resp, "Location", location, sizeof(location)) &&
        strrchr(location, '/'))
        fhdr_add(h, FHDR_BATCH, strrchr(location, '/') + 1);
    if (code == 202 &&
        httpd_resp_header_value(resp, "Idempotent-Replayed", replayed, sizeof(replayed)))
        fhdr_add(h, FHDR_REPLAYED, replayed);
    struct kafka_msg km = {.topic = topic_name(&in->st->topics, TOPIC_SUBMIT_REPLIES),
                           .partition = RD_KAFKA_PARTITION_UA,
                           .key = m->key,
                           .key_len = m->key_len,
                           .value = value,
                           .len = len,
                           .msgflags = RD_KAFKA_MSG_F_FREE,
                           .headers = h};
    int64_t left = deadline - clk_now_ms();
    rd_kafka_resp_err_t err = kafka_produce_wait(in->producer, &km, left > 0 ? (int)left : 1);
    if (err) {
        rd_kafka_headers_destroy(h);
        free(value);
        snprintf(errstr, errstr_size, "reply: %s", rd_kafka_err2str(err));
        return -1;
    }
    r->code = code;
    return 0;
}

/* ------------------------------------------------------------ chunks */

/* Takes the next records: up to CHUNK_RECORDS, those that arrive within
 * CHUNK_LINGER_MS of the first. Records taken before a rebalance are
 * dropped: the partition's new owner (this instance again, perhaps) reads
 * them from the committed offset. Those a poll returns after its own
 * rebalance callback are the new assignment's. */
static size_t gather(struct intake *in, struct rec *recs)
{
    int gen = atomic_load(&in->rebalances);
    size_t n = 0;
    int64_t until = 0;
    while (n < CHUNK_RECORDS && !stopping(in)) {
        int timeout = n == 0 ? 100 : (int)(until - clk_mono_ms());
        if (n && timeout <= 0)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(in->consumer, timeout);
        if (atomic_load(&in->rebalances) != gen) {
            gen = atomic_load(&in->rebalances);
            for (size_t i = 0; i < n; i++)
                rd_kafka_message_destroy(recs[i].msg);
            n = 0;
        }
        if (!m) {
            if (n)
                break;
            return 0;
        }
        if (m->err) {
            LOG_WARN("intake_consume", "err=%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        struct rec *r = &recs[n++];
        memset(r, 0, sizeof(*r));
        r->msg = m;
        /* An empty key is no key, as most producers write "none". */
        r->has_key = m->key != NULL && m->key_len > 0;
        if (r->has_key) {
            size_t k = m->key_len < sizeof(r->key) ? m->key_len : sizeof(r->key) - 1;
            memcpy(r->key, m->key, k);
            r->key[k] = '\0';
        }
        fhdr_get(m, FHDR_TENANT, r->header, sizeof(r->header));
        if (n == 1)
            until = clk_mono_ms() + CHUNK_LINGER_MS;
    }
    return n;
}

/* 1 when an earlier record of the chunk holds r's key. */
static int key_taken(const struct rec *recs, size_t i)
{
    for (size_t j = 0; recs[i].has_key && j < i; j++)
        if (recs[j].has_key && strcmp(recs[j].key, recs[i].key) == 0 &&
            strcmp(recs[j].header, recs[i].header) == 0)
            return 1;
    return 0;
}

/* The offsets the transaction commits: past the last record of each
 * partition it answered. */
static rd_kafka_topic_partition_list_t *offsets_of(const struct rec *recs, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = recs[i].msg;
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(l, topic, m->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(l, topic, m->partition);
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
    return l;
}

/* Sends the records back to be read again: each partition to its first
 * record in recs (librdkafka drops what it had fetched past it). */
static void rewind_to(struct intake *in, const struct rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = recs[i].msg;
        int first = 1;
        for (size_t j = 0; j < i && first; j++)
            first = !(recs[j].msg->partition == m->partition && recs[j].msg->rkt == m->rkt);
        if (!first)
            continue;
        /* The legacy per-partition seek, asynchronous with timeout 0, has
         * not rd_kafka_seek_partitions' microsecond-timeout bug (2.0.2). */
        rd_kafka_resp_err_t err = rd_kafka_seek(m->rkt, m->partition, m->offset, 0);
        if (err)
            LOG_WARN("intake_seek", "partition=%d offset=%lld err=%s", (int)m->partition,
                     (long long)m->offset, rd_kafka_err2name(err));
    }
    (void)in;
}

/* Throws the producer away; the next chunk opens another with the same
 * transactional id, which aborts whatever this one left open. */
static void producer_discard(struct intake *in)
{
    rd_kafka_purge(in->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(in->producer);
    in->producer = NULL;
}

/* Answers recs[0..] in one transaction, as many as the chunk's rules let
 * it take (at least one). Returns how many it committed, or 0 after an
 * abort (the records were rewound). */
static size_t run_chunk(struct intake *in, struct rec *recs, size_t n)
{
    struct api *a = in->a;
    char errstr[512] = "";
    size_t i = 0;
    long long items = 0;
    int committed = 0;
    int64_t deadline = clk_now_ms() + a->timeout_ms;
    /* Refused only to a producer that can never write again (ktxn.h). */
    if (ktxn_begin(in->producer, errstr, sizeof(errstr))) {
        producer_discard(in);
        goto out;
    }
    for (; i < n && (i == 0 || (!key_taken(recs, i) && items < CHUNK_ITEMS)); i++) {
        struct httpd_resp *resp = httpd_resp_new();
        int rc = resp ? submit_record(in, &recs[i], deadline, resp, errstr, sizeof(errstr)) : -1;
        if (!resp)
            snprintf(errstr, sizeof(errstr), "out of memory");
        else if (rc == 0)
            rc = reply(in, &recs[i], resp, deadline, errstr, sizeof(errstr));
        httpd_resp_free(resp);
        if (rc) {
            i++;
            goto abort;
        }
        if (recs[i].code == 202)
            items += (long long)recs[i].sub.b.total;
    }
    rd_kafka_topic_partition_list_t *offs = offsets_of(recs, i);
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(in->consumer);
    int64_t left = deadline - clk_now_ms();
    enum ktxn_result r = ktxn_commit_offsets(in->producer, offs, cgmd, left > 0 ? (int)left : 1,
                                             a->timeout_ms, errstr, sizeof(errstr));
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    rd_kafka_topic_partition_list_destroy(offs);
    committed = r == KTXN_COMMITTED;
    if (r == KTXN_FATAL)
        producer_discard(in);
    goto out;
abort:
    if (in->producer) {
        char why[256];
        if (ktxn_abort(in->producer, a->timeout_ms, why, sizeof(why)) == KTXN_FATAL) {
            LOG_WARN("intake_abort_failed", "txn_id=%s err=%s", in->txn_id, why);
            producer_discard(in);
        }
    }
out:
    for (size_t j = 0; j < i; j++)
        if (recs[j].begun) {
            api_submit_end(a, &recs[j].sub, committed);
            free((char *)recs[j].sub.body);
        }
    if (committed) {
        for (size_t j = 0; j < i; j++)
            metric_inc(recs[j].code == 202 ? in->m_accepted : in->m_rejected, 1);
        metric_inc(in->m_committed, 1);
        LOG_DEBUG("intake_chunk", "records=%zu items=%lld", i, items);
        return i;
    }
    metric_inc(in->m_aborted, 1);
    LOG_WARN("intake_aborted", "records=%zu err=%s", n, errstr);
    for (size_t j = 0; j < i; j++)
        recs[j].begun = 0;
    rewind_to(in, recs, n);
    return 0;
}

static void *intake_run(void *arg)
{
    struct intake *in = arg;
    struct rec *recs = calloc(CHUNK_RECORDS, sizeof(*recs));
    char errstr[512];
    int warned = 0;
    if (!recs)
        return NULL;
    while (!stopping(in)) {
        if (!in->producer && producer_open(in, errstr, sizeof(errstr))) {
            if (!warned++)
                LOG_WARN("intake_producer", "txn_id=%s err=%s", in->txn_id, errstr);
            pause_ms(in, RETRY_MS);
            continue;
        }
        warned = 0;
        size_t n = gather(in, recs);
        for (size_t done = 0; done < n;) {
            size_t k = in->producer ? run_chunk(in, recs + done, n - done) : 0;
            if (!k) {
                if (!in->producer)
                    rewind_to(in, recs + done, n - done);
                pause_ms(in, RETRY_MS);
                break;
            }
            done += k;
        }
        for (size_t j = 0; j < n; j++)
            rd_kafka_message_destroy(recs[j].msg);
    }
    free(recs);
    return NULL;
}

struct intake *intake_start(struct api *a, char *errstr, size_t errstr_size)
{
    struct intake *in = calloc(1, sizeof(*in));
    if (!in) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    in->a = a;
    in->st = a->st;
    snprintf(in->txn_id, sizeof(in->txn_id), "%singest.%s.submit",
             cfg_str(&in->st->cfg, "FERRY_TOPIC_PREFIX"), in->st->instance);
    in->m_accepted =
        metric_counter("ferry_ingest_kafka_submits_total",
                       "Submits read from the submit topic, by reply", "outcome=\"accepted\"");
    in->m_rejected =
        metric_counter("ferry_ingest_kafka_submits_total",
                       "Submits read from the submit topic, by reply", "outcome=\"rejected\"");
    in->m_committed = metric_counter(
        "ferry_ingest_kafka_submit_transactions_total",
        "Transactions answering submits of the submit topic, by result", "result=\"committed\"");
    in->m_aborted = metric_counter("ferry_ingest_kafka_submit_transactions_total",
                                   "Transactions answering submits of the submit topic, by result",
                                   "result=\"aborted\"");
    if (consumer_open(in, errstr, errstr_size)) {
        free(in);
        return NULL;
    }
    if (pthread_create(&in->thread, NULL, intake_run, in)) {
        snprintf(errstr, errstr_size, "cannot start the intake thread");
        kafka_consumer_close(in->consumer, 0);
        free(in);
        return NULL;
    }
    return in;
}

void intake_stop(struct intake *in)
{
    if (!in)
        return;
    atomic_store(&in->stop, 1);
    pthread_join(in->thread, NULL);
    kafka_consumer_close(in->consumer, 0);
    if (in->producer)
        kafka_producer_close(in->producer, 5000);
    free(in);
}
