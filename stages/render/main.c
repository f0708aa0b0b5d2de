/*
 * ferry-render — renders the pages of ferry.render.requests in headless
 * Chromium (JavaScript run, screenshots taken) and writes one result per
 * item to ferry.scrape.results, in the shape scrape writes, so nothing
 * downstream knows the difference; screenshots go to ferry.files.
 *
 *   render.requests ─┐                        ┌─► scrape.results (keyed by batch id)
 *   retry tiers ─────┼─► main loop ─► pool ───┼─► files (screenshots, keyed by file id)
 *   batches (cancels)┘    (slots × browsers)  └─► render.retry.<tier> (transient failures)
 *                              │
 *          every connection ─► proxy (SOCKS5, SSRF guard, block_ads)
 *
 * The main thread only takes records and hands them to the pool, up to
 * FERRY_RENDER_INFLIGHT at once; slots render and produce; a record's
 * offset is stored once Kafka acknowledged what it produced (shared/job.h),
 * so a crash renders again and never skips.
 */
#include <libxml/parser.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adblock.h"
#include "cancel.h"
#include "chrome.h"
#include "clock.h"
#include "consume.h"
#include "emit.h"
#include "filerec.h"
#include "httpd.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "proxy.h"
#include "ritem.h"
#include "shutdown.h"
#include "ssrf.h"
#include "stage.h"
#include "xrules.h"

static const struct cfg_opt render_opts[] = {
    {"FERRY_RENDER_METRICS_LISTEN", CFG_STRING, "127.0.0.1:9104",
     "host:port of this stage's /healthz and /metrics", 0, 0, httpd_check_listen},
    {"FERRY_ALLOW_PRIVATE_NETWORKS", CFG_BOOL, "0",
     "1 lets pages reach loopback, private and link-local addresses (local tests only)", 0, 0,
     NULL},
    {"FERRY_RENDER_ALLOW_TARGETS", CFG_STRING, "",
     "private targets pages may reach anyway: ip or ip:port, comma-separated", 0, 0,
     ssrf_check_allow},
    {"FERRY_RENDER_CHROMIUM", CFG_STRING, "/usr/lib/chromium/chromium-headless-shell",
     "the Chromium binary (Debian's chromium-headless-shell; /usr/lib/chromium/chromium works "
     "too, at about four times the CPU per page)",
     0, 0, NULL},
    {"FERRY_RENDER_CHROMIUM_FLAGS", CFG_STRING, "",
     "more Chromium flags, space-separated, after (and over) the stage's own", 0, 0, NULL},
    {"FERRY_RENDER_BROWSERS", CFG_INT, "2", "Chromium processes in the pool", 1, 64, NULL},
    {"FERRY_RENDER_TABS", CFG_INT, "4", "pages each browser renders at once", 1, 64, NULL},
    {"FERRY_RENDER_INFLIGHT", CFG_INT, "32",
     "items taken from Kafka and not yet finished (rendering or queued)", 1, 100000, NULL},
    {"FERRY_RENDER_TIMEOUT", CFG_DURATION, "30s",
     "per-item timeout (navigation, waiting, capture) when options.timeout_ms is absent", 1,
     3600000, NULL},
    {"FERRY_RENDER_MAX_TIMEOUT", CFG_DURATION, "2m", "largest options.timeout_ms honoured", 1,
     3600000, NULL},
    {"FERRY_RENDER_MAX_BYTES", CFG_SIZE, "10M",
     "cap on the rendered HTML when options.max_bytes is absent", 1, 1LL << 30, NULL},
    {"FERRY_RENDER_MAX_BODY", CFG_SIZE, "10M", "largest options.max_bytes honoured", 1, 1LL << 30,
     NULL},
    {"FERRY_RENDER_PAGE_MEMORY", CFG_SIZE, "1G",
     "a page's renderer process is killed past this resident size (the item: too_large)",
     64LL << 20, 1LL << 40, NULL},
    {"FERRY_RENDER_MAX_HEIGHT", CFG_INT, "16384", "full-page screenshots are cut at this height",
     100, 65535, NULL},
    {"FERRY_RENDER_PREPARE", CFG_BOOL, "1",
     "each slot opens its next page (a fresh context) while it waits, not when the item comes", 0,
     0, NULL},
    {"FERRY_RENDER_RECYCLE_AFTER", CFG_INT, "500",
     "a browser is replaced after rendering this many items (0: never)", 0, 1000000, NULL},
    {"FERRY_RENDER_BLOCK_HOSTS_FILE", CFG_STRING, "",
     "more ad and tracker hosts for block_ads (one per line, or hosts-file lines)", 0, 0, NULL},
    {"FERRY_RENDER_WORK_DIR", CFG_STRING, "/tmp",
     "where the browsers' fresh profiles are made (and removed)", 0, 0, NULL},
    {"FERRY_RENDER_CONNECT_TIMEOUT", CFG_DURATION, "10s", "the proxy's connect timeout", 1, 600000,
     NULL},
    {"FERRY_RENDER_PROXY_CONNECTIONS", CFG_INT, "2048",
     "connections the proxy relays at once (all pages)", 16, 100000, NULL},
    {"FERRY_CREDITS_RENDER", CFG_INT, "5", "credits charged for a rendered item that succeeded", 0,
     1000000, NULL},
    {"FERRY_PROFILES_DIR", CFG_STRING, "",
     "a folder of endpoint profiles (*.json) beside the built-in ones; the same as ingest's", 0, 0,
     NULL},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

/* Browsers an item may lose (died or hung under it) before it fails. */
#define MAX_LOSSES 3

static struct render {
    struct stage st;
    rd_kafka_t *producer, *files_producer;
    struct consume cs; /* requests and retry tiers */
    struct cancels *cancels;
    struct xrules *xr; /* the extraction rules requests name */
    struct adblock *ads;
    struct proxy *proxy;
    struct pool *pool;
    struct emit em;
    struct render_limits lim;
    struct ssrf_allow allow;
    long inflight;
} S;

static double gauge_active(void *arg)
{
    (void)arg;
    return S.pool ? (double)pool_active(S.pool) : 0;
}

static double gauge_browsers(void *arg)
{
    (void)arg;
    return S.pool ? (double)pool_browsers_up(S.pool) : 0;
}

/* The stage's own memory plus every browser process's (proportional set
 * size: the pages Chromium's processes share are counted once). Measured
 * when /metrics is read, not in the background: PSS walks the page tables of
 * every process (5-15 ms of kernel time per Chromium process), a third of a
 * busy stage's own CPU when it ran every 2 s. A read within RSS_REUSE_MS of
 * the last measurement gets that one, so a scraper that comes every second
 * costs a walk every 5 s, and one that comes every 15 s one per scrape. */
#define RSS_REUSE_MS 5000
static double gauge_rss(void *arg)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int64_t at;
    static double last;
    (void)arg;
    pthread_mutex_lock(&lock);
    int64_t now = clk_mono_ms();
    if (!at || now - at >= RSS_REUSE_MS) {
        long long self = chrome_pss("self");
        last = (double)((self > 0 ? self : 0) + (S.pool ? pool_browsers_pss(S.pool) : 0));
        at = now;
    }
    double v = last;
    pthread_mutex_unlock(&lock);
    return v;
}

static int ready(void *arg, char *why, size_t size)
{
    (void)arg;
    if (!S.pool || !pool_browsers_up(S.pool)) {
        snprintf(why, size, "no browser up yet");
        return 0;
    }
    return 1;
}

static void on_done(struct ritem *it, struct page_res *res, long long ms, void *arg)
{
    (void)arg;
    if (log_enabled(LOG_DEBUG)) {
        char q[256];
        LOG_DEBUG("rendered", "batch=%s item=%lld status=%s http=%ld ms=%lld attempt=%d url=%s",
                  it->batch_id, it->index, res->status ? res->status : "-", res->http_status, ms,
                  it->job.attempt, log_quote(q, sizeof(q), it->url));
    }
    emit_rendered(&S.em, it, res, ms);
}

/* One consumed record: skip, refuse, or render it. */
static void take(void *arg, rd_kafka_message_t *msg, struct offtrack *ot)
{
    (void)arg;
    char errstr[256];
    struct ritem *poison;
    struct ritem *it = request_parse(&S.em.sink, msg, ot, &S.lim, &poison, errstr, sizeof(errstr));
    if (!it) {
        char q[300];
        LOG_WARN("poison_request", "topic=%s partition=%d offset=%lld why=%s",
                 rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset,
                 log_quote(q, sizeof(q), errstr));
        emit_dead_letter(&S.em, poison, errstr);
    } else if (cancels_has(S.cancels, it->batch_id)) {
        emit_skip(&S.em, it, STATUS_CANCELLED, "batch cancelled");
    } else if (it->invalid[0]) {
        char why[sizeof(it->invalid)];
        snprintf(why, sizeof(why), "%s", it->invalid);
        emit_skip(&S.em, it, STATUS_INVALID_URL, why);
    } else if (xrules_resolve(S.xr, it->req, &it->rules, errstr, sizeof(errstr))) {
        emit_unusable(&S.em, it, STATUS_EXTRACT_ERROR, errstr);
    } else {
        it->xr = S.xr; /* the item holds its rules until it is freed */
        pool_submit(S.pool, it);
    }
    rd_kafka_message_destroy(msg);
}

/* Serves one producer's delivery reports: results free items, files wake
 * slots. A thread each: one thread taking turns would hold a file's report
 * while it waits on the other producer (up to its timeout), and the slot
 * that wrote the file with it. */
struct poller {
    rd_kafka_t *rk;
    atomic_int *stop;
    pthread_t thread;
};

static void *poll_producer(void *arg)
{
    struct poller *pl = arg;
    while (!atomic_load(pl->stop))
        rd_kafka_poll(pl->rk, 100);
    return NULL;
}

/* delivery_ms: message.timeout.ms (0: librdkafka's default). */
static rd_kafka_t *producer_open(const struct cfg *cfg, const char *client_id,
                                 void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                 void *opaque, int delivery_ms, char *errstr, size_t errstr_size)
{
    char tmo[24];
    rd_kafka_conf_t *conf = kafka_producer_conf(cfg, client_id, NULL, errstr, errstr_size);
    if (!conf)
        return NULL;
    snprintf(tmo, sizeof(tmo), "%d", delivery_ms);
    if (delivery_ms && kafka_conf_set(conf, "message.timeout.ms", tmo, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_conf_set_opaque(conf, opaque);
    return kafka_producer_open(conf, 10000, errstr, errstr_size);
}

int main(int argc, char **argv)
{
    char errstr[512];
    struct httpd_ops ops = {0};
    int rc = stage_init(&S.st, "render",
                        "Renders the pages of ferry.render.requests in headless Chromium and "
                        "writes one result per item to ferry.scrape.results (screenshots to "
                        "ferry.files).",
                        render_opts, argc, argv);
    if (rc)
        return rc < 0 ? 2 : 0;
    const struct cfg *cfg = &S.st.cfg;
    const struct topics *t = &S.st.topics;
    xmlInitParser();
    S.inflight = (long)cfg_int(cfg, "FERRY_RENDER_INFLIGHT");
    ssrf_allow_parse(cfg_str(cfg, "FERRY_RENDER_ALLOW_TARGETS"), &S.allow, errstr, sizeof(errstr));
    S.lim = (struct render_limits){
        .default_timeout_ms = (long)cfg_int(cfg, "FERRY_RENDER_TIMEOUT"),
        .max_timeout_ms = (long)cfg_int(cfg, "FERRY_RENDER_MAX_TIMEOUT"),
        .default_max_bytes = cfg_int(cfg, "FERRY_RENDER_MAX_BYTES"),
        .max_max_bytes = cfg_int(cfg, "FERRY_RENDER_MAX_BODY"),
    };
    const char *exe = cfg_str(cfg, "FERRY_RENDER_CHROMIUM");
    if (access(exe, X_OK)) {
        fprintf(stderr,
                "ferry-render: FERRY_RENDER_CHROMIUM=%s: not an executable "
                "(compose/deps.sh installs Debian's chromium-headless-shell)\n",
                exe);
        return 2;
    }
    /* The profiles, before any client: a bad file stops the stage here. */
    S.xr = xrules_new(cfg_str(cfg, "FERRY_PROFILES_DIR"), errstr, sizeof(errstr));
    if (!S.xr) {
        fprintf(stderr, "ferry-render: FERRY_PROFILES_DIR: %s\n", errstr);
        return 2;
    }
    S.ads = adblock_load(cfg_str(cfg, "FERRY_RENDER_BLOCK_HOSTS_FILE"), errstr, sizeof(errstr));
    if (!S.ads) {
        fprintf(stderr, "ferry-render: FERRY_RENDER_BLOCK_HOSTS_FILE: %s\n", errstr);
        return 2;
    }
    /* Before any thread: orphans of dead browsers are ours to reap. */
    chrome_reaper_init(cfg_str(cfg, "FERRY_RENDER_WORK_DIR"));

    /* The port before any Kafka client: a duplicate stops here. */
    if (httpd_ops_bind(&ops, cfg_str(cfg, "FERRY_RENDER_METRICS_LISTEN"), errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-render: %s\n", errstr);
        return 2;
    }

    char files_id[80];
    snprintf(files_id, sizeof(files_id), "%s-files", S.st.client_id);
    S.producer = producer_open(cfg, S.st.client_id, job_dr, &S.em.sink, 0, errstr, sizeof(errstr));
    S.files_producer = S.producer ? producer_open(cfg, files_id, emit_file_dr, NULL,
                                                  FILEREC_DELIVERY_MS, errstr, sizeof(errstr))
                                  : NULL;
    if (!S.files_producer || httpd_ops_serve(&ops, ready, NULL, errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-render: %s\n", errstr);
        httpd_ops_stop(&ops);
        return 2;
    }
    if (stage_ensure_topics(&S.st, S.producer)) {
        httpd_ops_stop(&ops);
        return shutdown_exit_code(shutdown_requested() ? 0 : 1);
    }
    size_t max_message = (size_t)cfg_int(cfg, "FERRY_MAX_MESSAGE_BYTES") - 1024;
    if (emit_init(&S.em, S.producer, S.files_producer, t, max_message,
                  cfg_int(cfg, "FERRY_FILES_RETENTION"),
                  (int)cfg_int(cfg, "FERRY_CREDITS_RENDER"))) {
        fprintf(stderr, "ferry-render: topic handles\n");
        return 2;
    }
    S.cancels = cancels_start(cfg, S.st.client_id, topic_name(t, TOPIC_BATCHES), S.xr, errstr,
                              sizeof(errstr));
    if (!S.cancels) {
        fprintf(stderr, "ferry-render: %s\n", errstr);
        return 2;
    }
    xrules_set_sync(S.xr, cancels_sync, S.cancels);
    if (!cancels_wait_caught_up(S.cancels, 15000))
        LOG_WARN("cancels_lagging", "topic=%s", topic_name(t, TOPIC_BATCHES));
    const struct consume_conf cc = {
        .stage = "render",
        .topic = topic_name(t, TOPIC_RENDER_REQUESTS),
        .tiers = t->render_tier,
        .n_tiers = t->n_render_tiers,
        .max_item_ms = cfg_int(cfg, "FERRY_RENDER_MAX_TIMEOUT"),
        .inflight = S.inflight,
        .sink = &S.em.sink,
        .cancels = S.cancels,
        .take = take,
    };
    if (consume_open(&S.cs, &cc, &S.st, errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-render: %s\n", errstr);
        return 2; /* no consumer has paused anything yet; exiting frees all */
    }

    int browsers = (int)cfg_int(cfg, "FERRY_RENDER_BROWSERS"),
        tabs = (int)cfg_int(cfg, "FERRY_RENDER_TABS");
    struct proxy_conf pc = {
        .allow_private = cfg_bool(cfg, "FERRY_ALLOW_PRIVATE_NETWORKS"),
        .allow = &S.allow,
        .ads = S.ads,
        .connect_timeout_ms = (int)cfg_int(cfg, "FERRY_RENDER_CONNECT_TIMEOUT"),
        .max_connections = (int)cfg_int(cfg, "FERRY_RENDER_PROXY_CONNECTIONS"),
    };
    S.proxy = proxy_start(&pc, browsers * tabs, errstr, sizeof(errstr));
    if (!S.proxy) {
        fprintf(stderr, "ferry-render: %s\n", errstr);
        return 2;
    }
    char default_proxy[64], js_flags[64];
    snprintf(default_proxy, sizeof(default_proxy), "socks5://127.0.0.1:%d",
             proxy_port(S.proxy, PROXY_DEFAULT));
    long long page_memory = cfg_int(cfg, "FERRY_RENDER_PAGE_MEMORY");
    /* V8 stops a runaway JavaScript heap well before the watchdog must. */
    snprintf(js_flags, sizeof(js_flags), "--max-old-space-size=%lld", (page_memory >> 20) / 2);
    struct pool_conf poc = {
        .browsers = browsers,
        .tabs = tabs,
        .chrome = {.exe = exe,
                   .proxy = default_proxy,
                   .work_dir = cfg_str(cfg, "FERRY_RENDER_WORK_DIR"),
                   .js_flags = js_flags,
                   .extra = cfg_str(cfg, "FERRY_RENDER_CHROMIUM_FLAGS"),
                   .show_stderr = log_enabled(LOG_DEBUG)},
        .proxy = S.proxy,
        .max_message = 4 * (size_t)cfg_int(cfg, "FERRY_MAX_MESSAGE_BYTES") + (64 << 20),
        .page_memory = page_memory,
        .recycle_after = (int)cfg_int(cfg, "FERRY_RENDER_RECYCLE_AFTER"),
        .max_losses = MAX_LOSSES,
        .max_height = (int)cfg_int(cfg, "FERRY_RENDER_MAX_HEIGHT"),
        .prepare = cfg_bool(cfg, "FERRY_RENDER_PREPARE"),
        .width = RITEM_WIDTH,
        .height = RITEM_HEIGHT,
    };
    metric_gauge_fn("ferry_render_active", "Items rendering or queued for a slot", "", gauge_active,
                    NULL);
    metric_gauge_fn("ferry_render_browsers_up", "Browsers up and answering", "", gauge_browsers,
                    NULL);
    metric_gauge_fn("ferry_render_rss_bytes",
                    "Memory of the stage and all its browser processes (PSS: shared pages once)",
                    "", gauge_rss, NULL);
    atomic_int poll_stop = 0;
    struct poller pollers[2] = {{S.producer, &poll_stop, 0}, {S.files_producer, &poll_stop, 0}};
    for (int i = 0; i < 2; i++)
        if (pthread_create(&pollers[i].thread, NULL, poll_producer, &pollers[i]))
            abort();
    S.pool = pool_start(&poc, on_done, NULL);
    LOG_INFO("started",
             "input=%s tiers=%zu retries=%zu browsers=%d tabs=%d inflight=%ld private=%d ads=%zu "
             "chromium=%s",
             topic_name(t, TOPIC_RENDER_REQUESTS),
             topics_tier_topics(t->render_tier, t->n_render_tiers, NULL), t->n_render_tiers,
             browsers, tabs, S.inflight, pc.allow_private, adblock_size(S.ads), exe);

    consume_run(&S.cs);

    /* Stop intake (the loop ended), kill the browsers and drop what they
     * were rendering (offsets not stored: rendered again after a restart),
     * deliver what was produced, then close the consumers. */
    LOG_INFO("stopping", "outstanding=%ld", (long)atomic_load(&S.em.sink.outstanding));
    pool_stop(S.pool);
    S.pool = NULL;
    proxy_stop(S.proxy);
    rd_kafka_flush(S.producer, 3000);
    atomic_store(&poll_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(pollers[i].thread, NULL);
    httpd_ops_stop(&ops);
    consume_close(&S.cs);
    cancels_stop(S.cancels);
    emit_release(&S.em);
    kafka_producer_close(S.files_producer, 1000);
    kafka_producer_close(S.producer, 1000);
    adblock_free(S.ads);
    xrules_free(S.xr); /* after every item (and the cancels) let go of it */
    chrome_work_dir_remove();
    LOG_INFO("stopped", "");
    return shutdown_exit_code(0);
}
