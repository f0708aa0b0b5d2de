/*
 * ferry-scrape — fetches the URLs of ferry.scrape.requests with libcurl and
 * writes one result per item to ferry.scrape.results.
 *
 *   requests ─┐                       ┌─► scrape.results (keyed by batch id)
 *   retry tiers (delayq) ─► main loop ─► fetch workers (curl multi each)
 *   batches (cancels, all partitions) ┘   └─► scrape.retry.<tier> (transient failures)
 *
 * The main thread only takes records and hands them on, up to
 * FERRY_SCRAPE_INFLIGHT items at once; workers fetch, extract and produce;
 * a record's offset is stored when Kafka acknowledged what it produced
 * (offtrack), so a crash re-fetches and never skips.
 */
#include <curl/curl.h>
#include <libxml/parser.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cancel.h"
#include "clock.h"
#include "delayq.h"
#include "emit.h"
#include "fetch.h"
#include "httpd.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "process.h"
#include "request.h"
#include "shutdown.h"
#include "ssrf.h"
#include "stage.h"

static const struct cfg_opt scrape_opts[] = {
    {"FERRY_SCRAPE_METRICS_LISTEN", CFG_STRING, "127.0.0.1:9101",
     "host:port of this stage's /healthz and /metrics", 0, 0, httpd_check_listen},
    {"FERRY_ALLOW_PRIVATE_NETWORKS", CFG_BOOL, "0",
     "1 lets scrape fetch loopback, private and link-local addresses (local tests only)", 0, 0,
     NULL},
    {"FERRY_SCRAPE_ALLOW_TARGETS", CFG_STRING, "",
     "private targets scrape may reach anyway: ip or ip:port, comma-separated", 0, 0,
     ssrf_check_allow},
    {"FERRY_SCRAPE_WORKERS", CFG_INT, "2", "fetch threads, each with its own curl multi handle", 1,
     64, NULL},
    {"FERRY_SCRAPE_INFLIGHT", CFG_INT, "512", "items being fetched (or produced) at once", 1,
     100000, NULL},
    {"FERRY_SCRAPE_HOST_CONNECTIONS", CFG_INT, "8", "concurrent connections per host (politeness)",
     1, 100000, NULL},
    {"FERRY_SCRAPE_MAX_REDIRECTS", CFG_INT, "10", "redirects followed per item", 0, 100, NULL},
    {"FERRY_SCRAPE_TIMEOUT", CFG_DURATION, "30s",
     "per-item timeout when the request's options.timeout_ms is absent", 1, 3600000, NULL},
    {"FERRY_SCRAPE_MAX_TIMEOUT", CFG_DURATION, "5m", "largest options.timeout_ms honoured", 1,
     3600000, NULL},
    {"FERRY_SCRAPE_CONNECT_TIMEOUT", CFG_DURATION, "10s", "connect (and TLS handshake) timeout", 1,
     3600000, NULL},
    {"FERRY_SCRAPE_MAX_BYTES", CFG_SIZE, "10M",
     "body cap when the request's options.max_bytes is absent", 1, 1LL << 34, NULL},
    {"FERRY_SCRAPE_MAX_BODY", CFG_SIZE, "10M", "largest options.max_bytes honoured", 1, 1LL << 34,
     NULL},
    {"FERRY_SCRAPE_RETRY_AFTER_MAX", CFG_DURATION, "1h",
     "a server's Retry-After is honoured up to this", 0, 86400000, NULL},
    {"FERRY_SCRAPE_USER_AGENT", CFG_STRING, "ferry/" FERRY_VERSION, "User-Agent of fetches", 0, 0,
     NULL},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

static struct scrape {
    struct stage st;
    rd_kafka_t *producer, *consumer;
    struct offtrack *ot;
    struct delayq *dq;
    struct cancels *cancels;
    struct fetch_pool *pool;
    struct emit em;
    struct process pr;
    struct request_limits lim;
    struct ssrf_allow allow;
    long inflight;
    atomic_llong lag;
} S;

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        LOG_INFO("assigned", "partitions=%d", parts->cnt);
    } else {
        /* Their unfinished items will be fetched again by the new owner. */
        offtrack_revoke(S.ot, parts);
        rd_kafka_assign(rk, NULL);
    }
}

static double gauge_inflight(void *arg)
{
    (void)arg;
    return S.pool ? (double)fetch_pool_active(S.pool) : 0;
}

static double gauge_lag(void *arg)
{
    (void)arg;
    return (double)atomic_load(&S.lag);
}

static void update_lag(void)
{
    long long lag = kafka_consumer_lag(S.consumer);
    if (lag >= 0)
        atomic_store(&S.lag, lag);
}

static double gauge_cancels(void *arg)
{
    (void)arg;
    return S.cancels ? (double)cancels_count(S.cancels) : 0;
}

static int ready(void *arg, char *why, size_t size)
{
    (void)arg;
    if (!S.pool) {
        snprintf(why, size, "starting");
        return 0;
    }
    return 1;
}

/* One consumed record: begin its offset, then skip, refuse, or fetch it. */
static void take(rd_kafka_message_t *msg, struct offtrack *ot)
{
    char errstr[256];
    offtrack_begin(ot, msg);
    atomic_fetch_add(&S.em.outstanding, 1);
    struct item *it = request_parse(msg, ot, &S.lim, errstr, sizeof(errstr));
    if (!it) {
        char q[300];
        LOG_WARN("poison_request", "topic=%s partition=%d offset=%lld why=%s",
                 rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset,
                 log_quote(q, sizeof(q), errstr));
        emit_dead_letter(&S.em, request_source_only(msg, ot), errstr);
    } else if (cancels_has(S.cancels, it->batch_id)) {
        process_skip(&S.pr, it, STATUS_CANCELLED, "batch cancelled");
    } else if (it->invalid_url[0]) {
        char why[160];
        snprintf(why, sizeof(why), "%s", it->invalid_url);
        process_skip(&S.pr, it, STATUS_INVALID_URL, why);
    } else {
        fetch_pool_submit(S.pool, it);
    }
    rd_kafka_message_destroy(msg);
}

static void run(void)
{
    struct metric *consumed =
        metric_counter("ferry_scrape_consumed_total", "Requests taken from Kafka", "");
    int64_t next_lag = 0;
    while (!shutdown_requested()) {
        if (atomic_load(&S.em.outstanding) >= S.inflight) {
            /* Full: wait for an item to finish rather than take more (the
             * backlog stays in Kafka, not in memory). */
            emit_wait_freed(&S.em, 100);
            continue;
        }
        int took = 0;
        if (S.dq) {
            rd_kafka_message_t *m = delayq_poll(S.dq, 0);
            if (m && !m->err) {
                take(m, delayq_offtrack(S.dq));
                took++;
            } else if (m) {
                rd_kafka_message_destroy(m);
            }
        }
        /* 50 ms when idle: prompt for a stop signal and for due retries;
         * 0 when busy so the retry tiers are not starved. */
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(S.consumer, took ? 0 : 50);
        if (msg && !msg->err) {
            metric_inc(consumed, 1);
            take(msg, S.ot);
        } else if (msg) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LOG_WARN("consume_error", "err=%s", rd_kafka_err2name(msg->err));
            rd_kafka_message_destroy(msg);
        }
        if (clk_mono_ms() >= next_lag) {
            update_lag();
            next_lag = clk_mono_ms() + 1000;
        }
    }
}

static void *poll_producer(void *arg)
{
    atomic_int *stop = arg;
    /* Serves delivery reports (which store offsets and free items). */
    while (!atomic_load(stop))
        rd_kafka_poll(S.producer, 100);
    return NULL;
}

int main(int argc, char **argv)
{
    char errstr[512];
    struct httpd_ops ops = {0};
    int rc = stage_init(&S.st, "scrape",
                        "Fetches the URLs of ferry.scrape.requests with libcurl and writes one "
                        "result per item to ferry.scrape.results.",
                        scrape_opts, argc, argv);
    if (rc)
        return rc < 0 ? 2 : 0;
    const struct cfg *cfg = &S.st.cfg;
    const struct topics *t = &S.st.topics;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    S.inflight = (long)cfg_int(cfg, "FERRY_SCRAPE_INFLIGHT");
    ssrf_allow_parse(cfg_str(cfg, "FERRY_SCRAPE_ALLOW_TARGETS"), &S.allow, errstr, sizeof(errstr));
    S.lim = (struct request_limits){
        .default_timeout_ms = (long)cfg_int(cfg, "FERRY_SCRAPE_TIMEOUT"),
        .max_timeout_ms = (long)cfg_int(cfg, "FERRY_SCRAPE_MAX_TIMEOUT"),
        .default_max_bytes = cfg_int(cfg, "FERRY_SCRAPE_MAX_BYTES"),
        .max_max_bytes = cfg_int(cfg, "FERRY_SCRAPE_MAX_BODY"),
    };

    /* The port before any Kafka client: a duplicate stops here. */
    if (httpd_ops_bind(&ops, cfg_str(cfg, "FERRY_SCRAPE_METRICS_LISTEN"), errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-scrape: %s\n", errstr);
        return 2;
    }

    /* Producer: its delivery reports finish items. */
    rd_kafka_conf_t *pconf = kafka_producer_conf(cfg, S.st.client_id, NULL, errstr, sizeof(errstr));
    if (pconf) {
        rd_kafka_conf_set_dr_msg_cb(pconf, emit_dr);
        rd_kafka_conf_set_opaque(pconf, &S.em);
    }
    S.producer = pconf ? kafka_producer_open(pconf, 10000, errstr, sizeof(errstr)) : NULL;
    if (!S.producer || httpd_ops_serve(&ops, ready, NULL, errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-scrape: %s\n", errstr);
        httpd_ops_stop(&ops);
        if (S.producer)
            kafka_producer_close(S.producer, 1000);
        return 2;
    }
    if (stage_ensure_topics(&S.st, S.producer)) {
        httpd_ops_stop(&ops);
        kafka_producer_close(S.producer, 1000);
        return shutdown_requested() ? 0 : 1;
    }
    /* A result part must fit the topic's max.message.bytes. */
    emit_init(&S.em, S.producer, t, (size_t)cfg_int(cfg, "FERRY_MAX_MESSAGE_BYTES") - 1024);
    process_init(&S.pr, &S.em, cfg_int(cfg, "FERRY_SCRAPE_RETRY_AFTER_MAX"));

    /* Consumers: requests (group ferry-scrape), retry tiers, cancels. */
    rd_kafka_conf_t *cconf =
        kafka_consumer_conf(cfg, S.st.client_id, "ferry-scrape", errstr, sizeof(errstr));
    /* While every in-flight slot is taken the loop does not poll (the
     * backlog waits in Kafka); the slowest item frees its slot within its
     * timeout, so the group must tolerate that long between polls. */
    char poll_interval[32];
    snprintf(poll_interval, sizeof(poll_interval), "%lld",
             2 * cfg_int(cfg, "FERRY_SCRAPE_MAX_TIMEOUT") + 60000);
    /* Bounded prefetch: a million-item backlog stays in Kafka. Fetch sizes
     * count compressed bytes and a compressed batch is inflated whole, so
     * the defaults (50 MB, 1 MB per partition) cost 100+ MB of RSS on a
     * deep backlog; 256 KB per partition is still thousands of requests. */
    if (cconf &&
        (kafka_conf_set(cconf, "queued.max.messages.kbytes", "4096", errstr, sizeof(errstr)) ||
         kafka_conf_set(cconf, "queued.min.messages", "5000", errstr, sizeof(errstr)) ||
         kafka_conf_set(cconf, "fetch.max.bytes", "1048576", errstr, sizeof(errstr)) ||
         kafka_conf_set(cconf, "max.partition.fetch.bytes", "262144", errstr, sizeof(errstr)) ||
         kafka_conf_set(cconf, "max.poll.interval.ms", poll_interval, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(cconf);
        cconf = NULL;
    }
    if (cconf)
        rd_kafka_conf_set_rebalance_cb(cconf, on_rebalance);
    const char *req_topic = topic_name(t, TOPIC_REQUESTS);
    S.consumer = cconf ? kafka_consumer_open(cconf, &req_topic, 1, errstr, sizeof(errstr)) : NULL;
    if (S.consumer) {
        S.ot = offtrack_new(S.consumer);
        if (t->n_scrape_tiers) {
            const char *tiers[CFG_MAX_DURATIONS];
            for (size_t i = 0; i < t->n_scrape_tiers; i++)
                tiers[i] = t->scrape_tier[i];
            S.dq = delayq_open(cfg, S.st.client_id, "ferry-scrape-retry", tiers, t->n_scrape_tiers,
                               errstr, sizeof(errstr));
        }
        if (!t->n_scrape_tiers || S.dq)
            S.cancels = cancels_start(cfg, S.st.client_id, topic_name(t, TOPIC_BATCHES), errstr,
                                      sizeof(errstr));
    }
    if (!S.consumer || (t->n_scrape_tiers && !S.dq) || !S.cancels) {
        fprintf(stderr, "ferry-scrape: %s\n", errstr);
        return 2; /* consumers may have paused nothing yet; exiting frees all */
    }
    if (!cancels_wait_caught_up(S.cancels, 15000))
        LOG_WARN("cancels_lagging", "topic=%s", topic_name(t, TOPIC_BATCHES));

    metric_gauge_fn("ferry_scrape_inflight", "Items being fetched or queued for a worker", "",
                    gauge_inflight, NULL);
    metric_gauge_fn("ferry_scrape_cancelled_batches", "Cancelled batches known to this instance",
                    "", gauge_cancels, NULL);
    metric_gauge_fn("ferry_scrape_consumer_lag", "Requests in Kafka not yet taken", "", gauge_lag,
                    NULL);
    struct fetch_conf fc = {
        .workers = (int)cfg_int(cfg, "FERRY_SCRAPE_WORKERS"),
        .host_connections = (int)cfg_int(cfg, "FERRY_SCRAPE_HOST_CONNECTIONS"),
        .max_redirects = (int)cfg_int(cfg, "FERRY_SCRAPE_MAX_REDIRECTS"),
        .allow_private = cfg_bool(cfg, "FERRY_ALLOW_PRIVATE_NETWORKS"),
        .allow = &S.allow,
        .user_agent = cfg_str(cfg, "FERRY_SCRAPE_USER_AGENT"),
        .connect_timeout_ms = (long)cfg_int(cfg, "FERRY_SCRAPE_CONNECT_TIMEOUT"),
    };
    atomic_int poll_stop = 0;
    pthread_t poller;
    pthread_create(&poller, NULL, poll_producer, &poll_stop);
    S.pool = fetch_pool_start(&fc, process_fetched, &S.pr);
    LOG_INFO("started", "input=%s tiers=%zu inflight=%ld workers=%d private=%d", req_topic,
             t->n_scrape_tiers, S.inflight, fc.workers, fc.allow_private);

    run();

    /* Stop intake (done: the loop ended), abandon running transfers (their
     * offsets are not stored: refetched after restart), deliver what was
     * produced, then close the consumers, committing the stored offsets. */
    LOG_INFO("stopping", "outstanding=%ld", (long)atomic_load(&S.em.outstanding));
    fetch_pool_stop(S.pool);
    S.pool = NULL;
    atomic_store(&poll_stop, 1);
    pthread_join(poller, NULL);
    rd_kafka_flush(S.producer, 3000);
    httpd_ops_stop(&ops);
    kafka_consumer_close(S.consumer, 0);
    if (S.dq)
        delayq_close(S.dq);
    cancels_stop(S.cancels);
    emit_release(&S.em);
    kafka_producer_close(S.producer, 1000);
    LOG_INFO("stopped", "");
    return 0;
}
