/*
 * ferry-ingest — the HTTP API: accepts batches, writes them durably to Kafka,
 * answers status from the compacted status topic.
 *
 *   1. configuration (stage_init) and the API keys; FERRY_LISTEN bound
 *      before any Kafka client exists, so an instance that cannot start
 *      disturbs nothing;
 *   2. clients: a pool of transactional producers for submits, a plain
 *      producer for cancels and redeliveries, a pool of readers for results
 *      pages and one for files, the status table;
 *   3. the HTTP API (api_init mounts every route group) served by
 *      FERRY_HTTP_THREADS workers, with /healthz and /metrics;
 *   4. the intake of submits produced to the submit topic (intake.h);
 *      the loop: follow batch.status and webhooks.attempts into the table
 *      and usage into the usage table (and, on threads of their own, the
 *      tenants' settings and Idempotency-Keys: accounts.h; the schedules:
 *      scheduler.h), check that Kafka answers, re-open producers a failure
 *      threw away;
 *   5. shutdown in order: stop the intake, the API, the schedules, close producers
 *      (flush), readers, the follower.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agenda.h"
#include "api.h"
#include "clock.h"
#include "follow.h"
#include "httpd.h"
#include "intake.h"
#include "kafka.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "scheduler.h"
#include "shutdown.h"
#include "stage.h"

static int tick_check(const char *value, char *errstr, size_t errstr_size)
{
    long long ms;
    if (cfg_parse_duration(value, &ms)) {
        snprintf(errstr, errstr_size, "not a duration");
        return -1;
    }
    return agenda_tick_check(ms, errstr, errstr_size);
}

static const struct cfg_opt ingest_opts[] = {
    {"FERRY_PROFILES_DIR", CFG_STRING, "",
     "a folder of endpoint profiles (*.json) beside the built-in ones; the same as scrape's", 0, 0,
     NULL},
    {"FERRY_INGEST_UI_DIR", CFG_STRING, "",
     "the dashboard's folder, served at / (default: stages/ingest/ui/ beside the build folder, "
     "i.e. the "
     "repository's)",
     0, 0, NULL},
    {"FERRY_LISTEN", CFG_STRING, "127.0.0.1:8080", "host:port of the HTTP API", 0, 0,
     httpd_check_listen},
    {"FERRY_API_KEYS", CFG_STRING, NULL, "API keys: key:tenant,key:tenant (no default)", 0, 0,
     NULL},
    {"FERRY_API_KEYS_FILE", CFG_STRING, NULL, "file of API keys, one key:tenant per line", 0, 0,
     NULL},
    {"FERRY_SECRET_KEY", CFG_STRING, NULL,
     "32-byte key (64 hex or base64) sealing webhook secrets; deliver needs the same", 0, 0,
     secretbox_check_key},
    {"FERRY_MAX_ITEMS", CFG_INT, "100000", "most items in one batch", 1, 10000000, NULL},
    {"FERRY_MAX_BODY_BYTES", CFG_SIZE, "32M", "largest submit body (413 beyond)", 1024, 1LL << 31,
     NULL},
    {"FERRY_WEBHOOK_ALLOW_HTTP", CFG_BOOL, "0", "accept http:// webhook URLs (development)", 0, 0,
     NULL},
    {"FERRY_SUBMIT_TIMEOUT", CFG_DURATION, "10s",
     "how long a submit may wait for Kafka before answering 503", 500, 300000, NULL},
    {"FERRY_INGEST_PRODUCERS", CFG_INT, "4",
     "transactional producers, i.e. submits written at the same time", 1, 64, NULL},
    {"FERRY_INGEST_READERS", CFG_INT, "4", "consumers serving results pages", 1, 64, NULL},
    {"FERRY_INGEST_FILE_READERS", CFG_INT, "2",
     "consumers serving files (GET /v1/files): downloads looked up at once", 1, 64, NULL},
    {"FERRY_INGEST_FILES_INFLIGHT", CFG_SIZE, "256M",
     "bytes of files held by downloads being sent; past it a download answers 503 busy", 1LL << 20,
     1LL << 40, NULL},
    {"FERRY_ALLOW_PRIVATE_NETWORKS", CFG_BOOL, "0",
     "accept webhook URLs on loopback/private/link-local hosts (development)", 0, 0, NULL},
    {"FERRY_HTTP_THREADS", CFG_INT, "64",
     "HTTP handler threads: requests that wait on Kafka (submit, results, cancel) at once", 1, 1024,
     NULL},
    {"FERRY_TENANT_LIMITS", CFG_STRING, NULL,
     "per-tenant limits: tenant:max_active_items=N:credits_per_day=N,... (429 beyond)", 0, 0, NULL},
    {"FERRY_SMALL_BATCH_ITEMS", CFG_INT, "100",
     "a batch of at most this many items goes to scrape's small lane, served first (0: none)", 0,
     10000000, NULL},
    {"FERRY_CREDITS_RENDER", CFG_INT, "5",
     "credits a rendered item costs (as render charges), for credits_per_day", 0, 1000000, NULL},
    {"FERRY_SCHEDULE_TICK", CFG_DURATION, "1m",
     "how long a cron minute lasts (tests: 1s fires \"* * * * *\" every second); divides 1m", 1000,
     60000, tick_check},
    {"FERRY_SCHEDULE_MISFIRE", CFG_DURATION, "5m",
     "how late a schedule's slot may still start; older slots were missed (catch_up decides)", 1000,
     7LL * 86400000, NULL},
    {"FERRY_SCHEDULE_PARK_QUIET", CFG_DURATION, "30s",
     "how long a schedules partition with nothing due within 2 minutes stays quiet before its "
     "owner parks it (closes its transactional producer)",
     1000, 3600000, NULL},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

static double batches_known(void *arg)
{
    return (double)table_count(arg);
}

static rd_kafka_t *plain_producer(const struct stage *st, long long timeout_ms, char *errstr,
                                  size_t errstr_size)
{
    char tmo[32];
    rd_kafka_conf_t *conf = kafka_producer_conf(&st->cfg, st->client_id, NULL, errstr, errstr_size);
    snprintf(tmo, sizeof(tmo), "%lld", timeout_ms);
    if (!conf || kafka_conf_set(conf, "message.timeout.ms", tmo, errstr, errstr_size) ||
        kafka_conf_set(conf, "linger.ms", "0", errstr, errstr_size)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, api_dr);
    return kafka_producer_open(conf, 0, errstr, errstr_size);
}

int main(int argc, char **argv)
{
    struct stage st;
    struct keys *keys = NULL;
    struct secretbox sb;
    struct api api = {0};
    struct httpd *http = NULL;
    struct httpd_limits lim;
    struct follow *follow = NULL;
    struct reader_pool *file_readers = NULL;
    struct profiles *profiles = NULL;
    struct accounts accounts;
    struct scheduler *sched = NULL;
    struct intake *intake = NULL;
    struct ui *ui = NULL;
    char errstr[512], why[512];
    int rc = stage_init(&st, "ingest", "The HTTP API of ferry: submit batches, poll status.",
                        ingest_opts, argc, argv);
    if (rc)
        return rc < 0 ? 2 : 0;
    rc = 2;
    /* Dozens of handler threads would each get a malloc arena of their own,
     * and the pages a burst of submits touched would stay resident in them
     * for good; a few shared arenas, trimmed in the loop below, give them
     * back. */
    mallopt(M_ARENA_MAX, 4);

    /* 1. configuration, and the port: bound before any Kafka client */
    keys = calloc(1, sizeof(*keys));
    if (!keys || keys_load(keys, cfg_str(&st.cfg, "FERRY_API_KEYS"),
                           cfg_str(&st.cfg, "FERRY_API_KEYS_FILE"), errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-ingest: %s\n", keys ? errstr : "out of memory");
        goto out;
    }
    if (keys->n == 0)
        LOG_WARN("no_api_keys", "msg=\"every request will be refused with 401; set "
                                "FERRY_API_KEYS or FERRY_API_KEYS_FILE\"");
    const char *key_text = cfg_str(&st.cfg, "FERRY_SECRET_KEY");
    if (key_text && secretbox_init(&sb, key_text, errstr, sizeof(errstr)) == 0) {
        api.sb = &sb;
    } else {
        LOG_WARN("no_secret_key", "msg=\"FERRY_SECRET_KEY unset: batches with a webhook are "
                                  "refused (503)\"");
    }
    api.limits = limits_new(cfg_str(&st.cfg, "FERRY_TENANT_LIMITS"), errstr, sizeof(errstr));
    if (!api.limits) {
        fprintf(stderr, "ferry-ingest: %s\n", errstr);
        goto out;
    }
    api.credits_render = cfg_int(&st.cfg, "FERRY_CREDITS_RENDER");
    api.st = &st;
    api.keys = keys;
    api.max_body = cfg_int(&st.cfg, "FERRY_MAX_BODY_BYTES");
    api.timeout_ms = (int)cfg_int(&st.cfg, "FERRY_SUBMIT_TIMEOUT");
    api.lim.max_items = cfg_int(&st.cfg, "FERRY_MAX_ITEMS");
    api.lim.allow_http_webhook = cfg_bool(&st.cfg, "FERRY_WEBHOOK_ALLOW_HTTP");
    api.lim.allow_private_webhook = cfg_bool(&st.cfg, "FERRY_ALLOW_PRIVATE_NETWORKS");
    /* A result larger than a Kafka message is written in parts, so a page
     * may be far larger than FERRY_MAX_MESSAGE_BYTES; scrape caps what it
     * honours (FERRY_SCRAPE_MAX_BODY). */
    api.lim.max_page_bytes = SUBMISSION_MAX_PAGE_BYTES;
    api.lim.resolve_timeout_ms = 2000;
    /* The endpoints items may name; a bad profile file stops the stage. */
    profiles = profiles_load(cfg_str(&st.cfg, "FERRY_PROFILES_DIR"), errstr, sizeof(errstr));
    if (!profiles) {
        fprintf(stderr, "ferry-ingest: %s\n", errstr);
        goto out;
    }
    api.lim.profiles = profiles;
    /* The dashboard: read whole now, so a request never touches the disk. A
     * missing folder is not fatal (the API works without it); / says so. */
    ui = ui_load(cfg_str(&st.cfg, "FERRY_INGEST_UI_DIR"), why, sizeof(why), errstr, sizeof(errstr));
    if (!ui) {
        fprintf(stderr, "ferry-ingest: FERRY_INGEST_UI_DIR: %s\n", errstr);
        goto out;
    }
    if (why[0])
        LOG_WARN("ui_missing", "msg=\"no dashboard at /: %s\"", why);
    else
        LOG_INFO("ui_loaded", "dir=\"%s\" files=%zu", ui->dir, ui->n);
    api.ui = ui;
    httpd_limits_default(&lim);
    lim.io_threads = 2;
    lim.threads = (int)cfg_int(&st.cfg, "FERRY_HTTP_THREADS");
    lim.max_body = (size_t)api.max_body;
    http = httpd_new(&lim, errstr, sizeof(errstr));
    if (!http || httpd_listen(http, cfg_str(&st.cfg, "FERRY_LISTEN"), errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-ingest: %s\n", errstr);
        goto out;
    }

    /* 2. clients */
    if (accounts_init(&accounts, &st, api.timeout_ms)) {
        fprintf(stderr, "ferry-ingest: out of memory\n");
        goto out;
    }
    api.accounts = &accounts;
    api.table = table_new();
    api.dead = deadbook_new();
    api.usage = usage_new();
    api.producer = plain_producer(&st, api.timeout_ms, errstr, sizeof(errstr));
    api.txn = api.producer ? txn_pool_new(&st, (int)cfg_int(&st.cfg, "FERRY_INGEST_PRODUCERS"),
                                          st.instance, api.timeout_ms, errstr, sizeof(errstr))
                           : NULL;
    api.readers = api.txn ? reader_pool_new(&st, (int)cfg_int(&st.cfg, "FERRY_INGEST_READERS"), 0,
                                            errstr, sizeof(errstr))
                          : NULL;
    api.results = api.readers ? results_new(api.readers, api.timeout_ms) : NULL;
    /* Files are large records: their readers fetch one batch at a time. */
    file_readers = api.results
                       ? reader_pool_new(&st, (int)cfg_int(&st.cfg, "FERRY_INGEST_FILE_READERS"),
                                         1 << 20, errstr, sizeof(errstr))
                       : NULL;
    struct files_conf fc = {
        .topic = topic_name(&st.topics, TOPIC_FILES),
        .retention_ms = cfg_int(&st.cfg, "FERRY_FILES_RETENTION"),
        .max_sending = cfg_int(&st.cfg, "FERRY_INGEST_FILES_INFLIGHT"),
        .timeout_ms = api.timeout_ms,
    };
    api.files = file_readers ? files_new(file_readers, &fc) : NULL;
    /* One consumer follows every topic ingest keeps whole (status,
     * attempts, usage; schedules; tenants, idempotency keys), its
     * partitions added as each follower opens. Its end wait bounds how late
     * a read-your-write (follower_wait_end: a webhook setting changed, a
     * schedule written by another instance, a takeover) learns of a commit
     * marker, at 20 fetches a second while idle. */
    api.follow_hub = api.files ? follower_hub_open(&st.cfg, st.client_id, "ferry-ingest-follow", 50,
                                                   errstr, sizeof(errstr))
                               : NULL;
    if (!api.table || !api.dead || !api.usage || !api.results || !api.files || !api.follow_hub) {
        fprintf(stderr, "ferry-ingest: %s\n", errstr);
        goto out;
    }
    metric_gauge_fn("ferry_ingest_batches_known", "Batches in the status table", "", batches_known,
                    api.table);

    /* 3. the API */
    if (api_init(&api, http, errstr, sizeof(errstr)) || httpd_start(http, errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-ingest: %s\n", errstr);
        goto out;
    }
    LOG_INFO("listening", "addr=%s keys=%zu instance=%s threads=%d",
             cfg_str(&st.cfg, "FERRY_LISTEN"), keys->n, st.instance, lim.threads);

    if (stage_ensure_topics(&st, api.producer))
        goto stop;
    /* Before the status follower: it tells the schedules of their runs. */
    struct agenda_clock clock = {cfg_int(&st.cfg, "FERRY_SCHEDULE_TICK"),
                                 cfg_int(&st.cfg, "FERRY_SCHEDULE_MISFIRE")};
    while (!shutdown_requested() &&
           !(sched = scheduler_open(&api, &clock, errstr, sizeof(errstr)))) {
        LOG_WARN("schedules_open", "err=%s", errstr);
        sleep(1);
    }
    while (!shutdown_requested() && !(follow = follow_open(&st, api.follow_hub, api.table, api.dead,
                                                           api.usage, errstr, sizeof(errstr)))) {
        LOG_WARN("follow_open", "err=%s", errstr);
        sleep(1);
    }
    while (!shutdown_requested() &&
           accounts_follow(&accounts, api.follow_hub, errstr, sizeof(errstr))) {
        LOG_WARN("accounts_follow", "err=%s", errstr);
        sleep(1);
    }
    atomic_store(&api.kafka_up, 1);
    txn_pool_heal(api.txn);
    /* Submits produced to the submit topic, answered on its replies. */
    if (!(intake = intake_start(&api, errstr, sizeof(errstr)))) {
        fprintf(stderr, "ferry-ingest: %s\n", errstr);
        goto out;
    }

    /* 4. the loop */
    int64_t next_check = clk_mono_ms() + 2000, next_trim = clk_mono_ms() + 10000;
    while (!shutdown_requested()) {
        follow_poll(follow, 100);
        atomic_store(&api.status_caught_up,
                     follow_caught_up(follow) && accounts_caught_up(&accounts));
        atomic_store(&api.schedules_caught_up, scheduler_caught_up(sched));
        if (clk_mono_ms() >= next_check) {
            int up = kafka_ping(api.producer, 1000, errstr, sizeof(errstr)) == 0;
            if (up != atomic_load(&api.kafka_up))
                LOG_AT(up ? LOG_INFO : LOG_WARN, up ? "kafka_up" : "kafka_down", "err=%s",
                       up ? "none" : errstr);
            atomic_store(&api.kafka_up, up);
            if (up)
                txn_pool_heal(api.txn);
            next_check = clk_mono_ms() + 2000;
        }
        if (clk_mono_ms() >= next_trim) {
            malloc_trim(0);
            next_trim = clk_mono_ms() + 10000;
        }
    }

stop:
    /* 5. shutdown */
    LOG_INFO("stopping", "");
    rc = 0;
out:
    intake_stop(intake);
    httpd_free(http);
    api_release(&api);
    scheduler_close(sched);
    txn_pool_free(api.txn);
    if (api.producer)
        kafka_producer_close(api.producer, 5000);
    results_free(api.results);
    reader_pool_free(api.readers);
    /* After the server: its connections gave every file back. */
    files_free(api.files);
    reader_pool_free(file_readers);
    follow_close(follow);
    if (api.accounts)
        accounts_release(&accounts);
    follower_hub_close(api.follow_hub); /* after its followers */
    table_free(api.table);
    deadbook_free(api.dead);
    usage_free(api.usage);
    limits_free(api.limits);
    profiles_free(profiles);
    ui_free(ui);
    free(keys);
    if (rc == 0)
        LOG_INFO("stopped", "");
    return shutdown_exit_code(rc);
}
