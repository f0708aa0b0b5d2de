/*
 * ferry-scrape — fetches the URLs of ferry.scrape.requests with libcurl and
 * writes one result per item to ferry.scrape.results.
 *
 *   requests ─┐                        ┌─► scrape.results (keyed by batch id)
 *   retry tiers (delayq) ─► intake ─► fetch workers (an httpc engine each)
 *   batches (cancels, all partitions) ┘    └─► scrape.retry.<tier> (transient failures)
 *
 * The main thread reads the configuration, builds the clients, runs the
 * intake (which takes records and hands them on, up to FERRY_SCRAPE_INFLIGHT
 * items at once), and stops in order. Workers fetch, extract and produce; a
 * producer poller thread serves the delivery reports that store offsets.
 */
#include <curl/curl.h>
#include <libxml/parser.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "emit.h"
#include "fetch.h"
#include "httpd.h"
#include "intake.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "process.h"
#include "request.h"
#include "shutdown.h"
#include "ssrf.h"
#include "stage.h"
#include "xarena.h"
#include "xrules.h"

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
    {"FERRY_SCRAPE_INFLIGHT", CFG_INT, "1024", "items being fetched (or produced) at once", 1,
     100000, NULL},
    {"FERRY_SCRAPE_SMALL_SHARE", CFG_INT, "75",
     "percent of the intake the small-batch lane gets while both lanes have requests (100: all)", 1,
     100, NULL},
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
    {"FERRY_PROFILES_DIR", CFG_STRING, "",
     "a folder of endpoint profiles (*.json) beside the built-in ones; the same as ingest's", 0, 0,
     NULL},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

/* The producer's delivery reports finish items: served by a thread of its
 * own, so neither the intake nor a worker waits on Kafka. */
struct poller {
    rd_kafka_t *producer;
    atomic_int stop;
    pthread_t thread;
};

static void *poll_producer(void *arg)
{
    struct poller *p = arg;
    while (!atomic_load(&p->stop))
        rd_kafka_poll(p->producer, 100);
    return NULL;
}

static double gauge_inflight(void *arg)
{
    struct fetch_pool *pool = atomic_load((_Atomic(struct fetch_pool *) *)arg);
    return pool ? (double)fetch_pool_active(pool) : 0;
}

static int ready(void *arg, char *why, size_t size)
{
    atomic_int *ready_flag = arg;
    if (!atomic_load(ready_flag)) {
        snprintf(why, size, "starting");
        return 0;
    }
    return 1;
}

/* Waits for the acks of what was produced (they store offsets); what is
 * still unacknowledged then is given up (its offset unstored: refetched
 * after a restart), so no report can arrive once the consumers are gone. */
static void settle_producer(rd_kafka_t *producer, int timeout_ms)
{
    rd_kafka_flush(producer, timeout_ms);
    int left = rd_kafka_outq_len(producer);
    if (left > 0) {
        LOG_WARN("unacked_at_stop", "messages=%d action=refetch_after_restart", left);
        rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(producer, 1000);
    }
}

/* The bulk's turn in the intake, from the small lane's share in percent:
 * every n-th slot (0: never while the lane has records). */
static int share_every(int share)
{
    return share >= 100 ? 0 : (100 + (100 - share) / 2) / (100 - share);
}

int main(int argc, char **argv)
{
    struct stage st;
    struct httpd_ops ops = {0};
    struct emit em;
    struct process pr;
    struct intake in = {0};
    struct poller poller = {0};
    _Atomic(struct fetch_pool *) pool = NULL; /* the metrics server reads it */
    struct ssrf_allow allow;
    atomic_int ready_flag = 0;
    char errstr[512];
    int rc = stage_init(&st, "scrape",
                        "Fetches the URLs of ferry.scrape.requests with libcurl and writes one "
                        "result per item to ferry.scrape.results.",
                        scrape_opts, argc, argv);
    if (rc)
        return rc < 0 ? 2 : 0;

    /* Configuration. */
    const struct cfg *cfg = &st.cfg;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    xarena_install(); /* pages' trees from per-thread arenas (shared/xarena.h) */
    /* Cannot fail: the configuration check (ssrf_check_allow) parsed it. */
    ssrf_allow_parse(cfg_str(cfg, "FERRY_SCRAPE_ALLOW_TARGETS"), &allow, errstr, sizeof(errstr));
    const struct request_limits lim = {
        .default_timeout_ms = (long)cfg_int(cfg, "FERRY_SCRAPE_TIMEOUT"),
        .max_timeout_ms = (long)cfg_int(cfg, "FERRY_SCRAPE_MAX_TIMEOUT"),
        .default_max_bytes = cfg_int(cfg, "FERRY_SCRAPE_MAX_BYTES"),
        .max_max_bytes = cfg_int(cfg, "FERRY_SCRAPE_MAX_BODY"),
    };
    const struct fetch_conf fc = {
        .workers = (int)cfg_int(cfg, "FERRY_SCRAPE_WORKERS"),
        .host_connections = (int)cfg_int(cfg, "FERRY_SCRAPE_HOST_CONNECTIONS"),
        .max_redirects = (int)cfg_int(cfg, "FERRY_SCRAPE_MAX_REDIRECTS"),
        .allow_private = cfg_bool(cfg, "FERRY_ALLOW_PRIVATE_NETWORKS"),
        .allow = &allow,
        .user_agent = cfg_str(cfg, "FERRY_SCRAPE_USER_AGENT"),
        .connect_timeout_ms = (long)cfg_int(cfg, "FERRY_SCRAPE_CONNECT_TIMEOUT"),
    };

    /* The profiles, before any client: a bad file stops the stage here. */
    struct xrules *xr = xrules_new(cfg_str(cfg, "FERRY_PROFILES_DIR"), errstr, sizeof(errstr));
    if (!xr)
        goto fail;

    /* Clients: the ops port first (a second instance whose port is taken
     * stops before any Kafka client), the producer (its reports finish
     * items), the topics, the intake's consumers, then the threads. */
    if (httpd_ops_bind(&ops, cfg_str(cfg, "FERRY_SCRAPE_METRICS_LISTEN"), errstr, sizeof(errstr)))
        goto fail_xr;
    rd_kafka_conf_t *pconf = kafka_producer_conf(cfg, st.client_id, NULL, errstr, sizeof(errstr));
    if (pconf) {
        rd_kafka_conf_set_dr_msg_cb(pconf, job_dr);
        rd_kafka_conf_set_opaque(pconf, &em.sink);
    }
    poller.producer = pconf ? kafka_producer_open(pconf, 10000, errstr, sizeof(errstr)) : NULL;
    if (!poller.producer)
        goto fail_ops;
    metric_gauge_fn("ferry_scrape_inflight", "Items being fetched or queued for a worker", "",
                    gauge_inflight, &pool);
    if (httpd_ops_serve(&ops, ready, &ready_flag, errstr, sizeof(errstr)))
        goto fail_producer;
    if (stage_ensure_topics(&st, poller.producer)) {
        httpd_ops_stop(&ops);
        kafka_producer_close(poller.producer, 1000);
        return shutdown_exit_code(shutdown_requested() ? 0 : 1);
    }
    /* A result part must fit the topic's max.message.bytes. */
    if (emit_init(&em, poller.producer, &st.topics,
                  (size_t)cfg_int(cfg, "FERRY_MAX_MESSAGE_BYTES") - 1024)) {
        snprintf(errstr, sizeof(errstr), "producer topics: %s",
                 rd_kafka_err2str(rd_kafka_last_error()));
        goto fail_emit;
    }
    process_init(&pr, &em, cfg_int(cfg, "FERRY_SCRAPE_RETRY_AFTER_MAX"));
    in = (struct intake){.em = &em,
                         .pr = &pr,
                         .lim = &lim,
                         .inflight = cfg_int(cfg, "FERRY_SCRAPE_INFLIGHT"),
                         /* 75%: the bulk every 4th slot; 100%: never while the lane has any. */
                         .bulk_every = share_every((int)cfg_int(cfg, "FERRY_SCRAPE_SMALL_SHARE")),
                         .xr = xr};
    if (intake_open(&in, &st, errstr, sizeof(errstr)))
        goto fail_emit;
    rc = pthread_create(&poller.thread, NULL, poll_producer, &poller);
    if (rc) {
        snprintf(errstr, sizeof(errstr), "producer poller: %s", strerror(rc));
        goto fail_intake;
    }
    in.pool = fetch_pool_start(&fc, process_fetched, &pr, errstr, sizeof(errstr));
    if (!in.pool)
        goto fail_poller;
    atomic_store(&pool, in.pool);

    /* Run: until a stop signal. */
    atomic_store(&ready_flag, 1);
    LOG_INFO("started", "input=%s tiers=%zu retries=%zu inflight=%ld workers=%d private=%d",
             topic_name(&st.topics, TOPIC_REQUESTS),
             topics_tier_topics(st.topics.scrape_tier, st.topics.n_scrape_tiers, NULL),
             st.topics.n_scrape_tiers, in.inflight, fc.workers, fc.allow_private);
    intake_run(&in);

    /* Stop in order: intake (done: the loop ended), the workers (running
     * transfers abandoned, their offsets unstored: refetched after a
     * restart), the acks of what was produced (they store offsets), then
     * the consumers (which commit them), then the producer. */
    LOG_INFO("stopping", "outstanding=%ld", (long)atomic_load(&em.sink.outstanding));
    httpd_ops_stop(&ops);
    atomic_store(&pool, NULL);
    fetch_pool_stop(in.pool);
    atomic_store(&poller.stop, 1);
    pthread_join(poller.thread, NULL);
    settle_producer(poller.producer, 3000);
    intake_close(&in);
    emit_release(&em);
    kafka_producer_close(poller.producer, 0);
    xrules_free(xr); /* after the workers and the follower: both read it */
    LOG_INFO("stopped", "");
    return shutdown_exit_code(0);

fail_poller:
    atomic_store(&poller.stop, 1);
    pthread_join(poller.thread, NULL);
fail_intake:
    intake_close(&in);
fail_emit:
    emit_release(&em);
fail_producer:
    kafka_producer_close(poller.producer, 1000);
fail_ops:
    httpd_ops_stop(&ops);
fail_xr:
    xrules_free(xr);
fail:
    fprintf(stderr, "ferry-scrape: %s\n", errstr);
    return 2;
}
