/*
 * ferry-aggregate — counts every item of every batch exactly once, publishes
 * status snapshots and emits the webhook task when a batch completes.
 *
 * Reads `batches`, `scrape.results` and `crawl.sitefiles`; writes
 * `batch.status`, `webhooks`, `aggregate.dlq` and its changelog
 * `aggregate.state`, and for crawls (frontier.h) their requests, their
 * robots_blocked results and their changelog `crawl.state`, all in Kafka
 * transactions with the consumed offsets (engine.h says how). Several
 * instances share the work as one consumer group, each under its own
 * instance name (stage.h).
 */
#include <stdio.h>
#include <unistd.h>

#include "engine.h"
#include "httpd.h"
#include "kafka.h"
#include "log.h"
#include "shutdown.h"
#include "stage.h"

static const struct cfg_opt aggregate_opts[] = {
    {"FERRY_AGGREGATE_METRICS_LISTEN", CFG_STRING, "127.0.0.1:9102",
     "host:port of this stage's /healthz and /metrics", 0, 0, httpd_check_listen},
    {"FERRY_AGGREGATE_SESSION_TIMEOUT", CFG_DURATION, "10s",
     "session.timeout.ms: how soon the partitions of an instance that vanished move to "
     "the others (a restarted instance gets its own back at once: static membership)",
     6000, 300000, NULL},
    {"FERRY_AGGREGATE_COMMIT_INTERVAL", CFG_DURATION, "100ms",
     "how long one transaction collects work before it commits", 1, 60000, NULL},
    {"FERRY_AGGREGATE_STATUS_INTERVAL", CFG_DURATION, "1s",
     "at most one progress snapshot per batch per this interval", 1, 3600000, NULL},
    {"FERRY_AGGREGATE_TXN_TIMEOUT", CFG_DURATION, "30s",
     "transaction.timeout.ms: how long a crashed instance's open transaction can block readers",
     1000, 900000, NULL},
    {"FERRY_AGGREGATE_DONE_TTL", CFG_DURATION, "10m",
     "how long a finished batch is remembered (late duplicates are swallowed) before its "
     "state is tombstoned",
     0, 0, NULL},
    {"FERRY_AGGREGATE_PENDING_TTL", CFG_DURATION, "1h",
     "how long results whose batch record has not arrived are held", 0, 0, NULL},
    {"FERRY_AGGREGATE_MAX_PENDING", CFG_INT, "10000",
     "batches whose results are held before their batch record; past it, such results go to "
     "the dead-letter topic",
     1, 10000000, NULL},
    {"FERRY_BATCH_DEADLINE", CFG_DURATION, "24h",
     "a batch not complete this long after created_at ends failed (batch.failed)", 0, 0, NULL},
    {"FERRY_WEBHOOK_INLINE_MAX_BYTES", CFG_SIZE, "1M",
     "largest webhook body with the results inline; past it (or past what one Kafka message "
     "holds, FERRY_MAX_MESSAGE_BYTES), results_url",
     0, 0, NULL},
    {"FERRY_AGGREGATE_CACHE_BYTES", CFG_SIZE, "64M",
     "memory for keeping running batches' results to inline at completion; past it, results "
     "are read back from scrape.results instead",
     0, 0, NULL},
    {"FERRY_MAX_ITEMS", CFG_INT, "100000", "largest batch (item indexes are below it)", 1,
     100000000, NULL},
    {"FERRY_CRAWL_HOST_CONCURRENCY", CFG_INT, "8",
     "a crawl's fetches at one host at once on average (over about a quarter second of "
     "results), across every scrape instance (the requests out per host follow the round trip "
     "to keep about this many at the host, up to 8 times it; FERRY_SCRAPE_HOST_CONNECTIONS caps "
     "each scrape instance at every instant); a host whose robots.txt has a Crawl-delay gets one "
     "at a time",
     1, 1000000, NULL},
    {"FERRY_CRAWL_COMMIT_INTERVAL", CFG_DURATION, "10ms",
     "a transaction that holds a crawl's page requests commits within this (scrape sees a "
     "request only once it commits, and each crawled page waits for its links' requests)",
     1, 60000, NULL},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

int main(int argc, char **argv)
{
    struct stage st;
    struct httpd_ops ops = {0};
    char errstr[512];
    int rc = stage_init(&st, "aggregate",
                        "Counts every item of every batch exactly once, publishes status "
                        "snapshots and emits the webhook task when a batch completes.",
                        aggregate_opts, argc, argv);
    if (rc)
        return rc < 0 ? 2 : 0;

    /* Settings. */
    const struct cfg *cfg = &st.cfg;
    struct engine_conf conf = {
        .instance = st.instance, /* FERRY_AGGREGATE_INSTANCE (stage.h) */
        .session_timeout_ms = cfg_int(cfg, "FERRY_AGGREGATE_SESSION_TIMEOUT"),
        .txn_timeout_ms = cfg_int(cfg, "FERRY_AGGREGATE_TXN_TIMEOUT"),
        .commit_ms = cfg_int(cfg, "FERRY_AGGREGATE_COMMIT_INTERVAL"),
        .status_ms = cfg_int(cfg, "FERRY_AGGREGATE_STATUS_INTERVAL"),
        .done_ttl_ms = cfg_int(cfg, "FERRY_AGGREGATE_DONE_TTL"),
        .pending_ttl_ms = cfg_int(cfg, "FERRY_AGGREGATE_PENDING_TTL"),
        .max_pending = cfg_int(cfg, "FERRY_AGGREGATE_MAX_PENDING"),
        .deadline_ms = cfg_int(cfg, "FERRY_BATCH_DEADLINE"),
        .inline_max = cfg_int(cfg, "FERRY_WEBHOOK_INLINE_MAX_BYTES"),
        .cache_max = cfg_int(cfg, "FERRY_AGGREGATE_CACHE_BYTES"),
        .max_items = cfg_int(cfg, "FERRY_MAX_ITEMS"),
        .max_message = cfg_int(cfg, "FERRY_MAX_MESSAGE_BYTES"),
        /* A webhook task can be retried or redelivered while it is in
         * Kafka: the topics' retention, and a day for segments that roll
         * late. */
        .delivered_ttl_ms = cfg_int(cfg, "FERRY_TOPIC_RETENTION") + 86400000LL,
        .crawl_host_concurrency = cfg_int(cfg, "FERRY_CRAWL_HOST_CONCURRENCY"),
        .crawl_replay_step = 2000,
        .crawl_commit_ms = cfg_int(cfg, "FERRY_CRAWL_COMMIT_INTERVAL"),
    };

    /* The port first: a duplicate that cannot bind stops before its
     * transactional id fences the running instance. */
    if (httpd_ops_bind(&ops, cfg_str(cfg, "FERRY_AGGREGATE_METRICS_LISTEN"), errstr,
                       sizeof(errstr))) {
        LOG_ERROR("start_failed", "error=\"%s\"", errstr);
        return 2;
    }

    /* Clients: the transactional producer first (it provisions the topics),
     * then the range reader and the group consumer; then /healthz and
     * /metrics. */
    rd_kafka_t *producer = engine_producer(&st, &conf, errstr, sizeof(errstr));
    if (!producer || stage_ensure_topics(&st, producer)) {
        if (producer)
            kafka_producer_close(producer, 0);
        else
            LOG_ERROR("start_failed", "error=\"%s\"", errstr);
        httpd_ops_stop(&ops);
        return 2;
    }
    struct engine *e = engine_open(&st, &conf, producer, errstr, sizeof(errstr));
    if (!e || httpd_ops_serve(&ops, engine_ready, e, errstr, sizeof(errstr))) {
        LOG_ERROR("start_failed", "error=\"%s\"", errstr);
        httpd_ops_stop(&ops);
        if (e)
            engine_close(e);
        return 2;
    }

    /* Run until a stop signal: count, emit, commit. */
    rc = engine_run(e);

    /* Stop: the open transaction committed in engine_run; leave the group,
     * flush, close. */
    LOG_INFO("stopping", "");
    httpd_ops_stop(&ops);
    engine_close(e);
    LOG_INFO("stopped", "");
    return shutdown_exit_code(rc ? 1 : 0);
}
