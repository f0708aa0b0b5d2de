#include "topics.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "shutdown.h"

enum retention { KEEP_PIPELINE, KEEP_DEAD_LETTERS, KEEP_COMPACTED, KEEP_FILES, KEEP_KEYS };

static const struct topic_row {
    enum topic_id id;
    const char *suffix;
    enum retention keep;
} topic_rows[] = {
    {TOPIC_BATCHES, "batches", KEEP_PIPELINE},
    {TOPIC_REQUESTS, "scrape.requests", KEEP_PIPELINE},
    {TOPIC_RESULTS, "scrape.results", KEEP_PIPELINE},
    {TOPIC_STATUS, "batch.status", KEEP_COMPACTED},
    {TOPIC_WEBHOOKS, "webhooks", KEEP_PIPELINE},
    {TOPIC_ATTEMPTS, "webhooks.attempts", KEEP_PIPELINE},
    {TOPIC_WEBHOOKS_DLQ, "webhooks.dlq", KEEP_DEAD_LETTERS},
    {TOPIC_AGGREGATE_DLQ, "aggregate.dlq", KEEP_DEAD_LETTERS},
    {TOPIC_SCRAPE_DLQ, "scrape.dlq", KEEP_DEAD_LETTERS},
    {TOPIC_AGGREGATE_STATE, "aggregate.state", KEEP_COMPACTED},
    {TOPIC_RENDER_REQUESTS, "render.requests", KEEP_PIPELINE},
    {TOPIC_RENDER_DLQ, "render.dlq", KEEP_DEAD_LETTERS},
    {TOPIC_FILES, "files", KEEP_FILES},
    {TOPIC_USAGE, "usage", KEEP_COMPACTED},
    {TOPIC_SCHEDULES, "schedules", KEEP_COMPACTED},
    {TOPIC_SCHEDULE_STATE, "schedule.state", KEEP_COMPACTED},
    {TOPIC_SCHEDULE_CHANGES, "schedule.changes", KEEP_COMPACTED},
    {TOPIC_REQUESTS_SMALL, "scrape.requests.small", KEEP_PIPELINE},
    {TOPIC_TENANTS, "tenants", KEEP_COMPACTED},
    {TOPIC_IDEMPOTENCY, "idempotency", KEEP_KEYS},
    {TOPIC_SUBMIT, "submit", KEEP_PIPELINE},
    {TOPIC_SUBMIT_REPLIES, "submit.replies", KEEP_PIPELINE},
    {TOPIC_CRAWL_SITEFILES, "crawl.sitefiles", KEEP_PIPELINE},
    {TOPIC_CRAWL_STATE, "crawl.state", KEEP_COMPACTED},
};

/* Dead letters wait for a human: keep them at least 30 days. */
#define DEAD_LETTER_MIN_MS (30LL * 86400000)
/* Idempotency keys are honoured for 24 h (DESIGN); their records are kept
 * twice as long, so a key is still on the topic when an ingest that starts
 * at the end of its day reads the topic back. */
#define KEYS_RETENTION_MS (2LL * 86400000)

static int tiers_init(const struct cfg *cfg, const char *env, const char *prefix, const char *kind,
                      size_t *n, long long *ms, char names[][TOPIC_NAME_MAX], char *errstr,
                      size_t errstr_size)
{
    const long long *delays;
    long long retention = cfg_int(cfg, "FERRY_TOPIC_RETENTION");
    *n = cfg_durations(cfg, env, &delays);
    for (size_t i = 0; i < *n; i++) {
        char d[32];
        if (delays[i] >= retention) {
            snprintf(errstr, errstr_size,
                     "%s: tier %lld ms is not shorter than FERRY_TOPIC_RETENTION (%lld ms)", env,
                     delays[i], retention);
            return -1;
        }
        ms[i] = delays[i];
        cfg_format_duration(delays[i], d, sizeof(d));
        snprintf(names[i], TOPIC_NAME_MAX, "%s%s.retry.%s", prefix, kind, d);
    }
    return 0;
}

int topics_init(struct topics *t, const struct cfg *cfg, char *errstr, size_t errstr_size)
{
    const char *prefix = cfg_str(cfg, "FERRY_TOPIC_PREFIX");
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < sizeof(topic_rows) / sizeof(topic_rows[0]); i++)
        snprintf(t->name[topic_rows[i].id], TOPIC_NAME_MAX, "%s%s", prefix, topic_rows[i].suffix);
    if (tiers_init(cfg, "FERRY_WEBHOOK_RETRY_TIERS", prefix, "webhooks", &t->n_webhook_tiers,
                   t->webhook_tier_ms, t->webhook_tier, errstr, errstr_size) ||
        tiers_init(cfg, "FERRY_SCRAPE_RETRY_TIERS", prefix, "scrape", &t->n_scrape_tiers,
                   t->scrape_tier_ms, t->scrape_tier, errstr, errstr_size) ||
        tiers_init(cfg, "FERRY_RENDER_RETRY_TIERS", prefix, "render", &t->n_render_tiers,
                   t->render_tier_ms, t->render_tier, errstr, errstr_size))
        return -1;
    return 0;
}

size_t topics_tier_topics(const char (*tier)[TOPIC_NAME_MAX], size_t n, const char **out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && strcmp(tier[j], tier[i]) != 0)
            j++;
        if (j < i)
            continue; /* an earlier tier has this topic */
        if (out)
            out[k] = tier[i];
        k++;
    }
    return k;
}

int topics_min_insync(int replication)
{
    int majority = replication / 2 + 1;
    if (majority > replication - 1)
        majority = replication - 1;
    return majority < 1 ? 1 : majority;
}

static int new_topic(rd_kafka_NewTopic_t **out, const char *name, enum retention keep,
                     const struct cfg *cfg, char *errstr, size_t errstr_size)
{
    char why[256], retention[32], max_bytes[32], isr[16];
    long long keep_ms = cfg_int(cfg, "FERRY_TOPIC_RETENTION");
    int replication = (int)cfg_int(cfg, "FERRY_TOPIC_REPLICATION");
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
        name, (int)cfg_int(cfg, "FERRY_TOPIC_PARTITIONS"), replication, why, sizeof(why));
    if (!nt) {
        snprintf(errstr, errstr_size, "topic %s: %s", name, why);
        return -1;
    }
    if (keep == KEEP_DEAD_LETTERS && keep_ms < DEAD_LETTER_MIN_MS)
        keep_ms = DEAD_LETTER_MIN_MS;
    /* Files (screenshots) are served until they expire, and no longer. */
    if (keep == KEEP_FILES)
        keep_ms = cfg_int(cfg, "FERRY_FILES_RETENTION");
    snprintf(retention, sizeof(retention), "%lld", keep_ms);
    snprintf(max_bytes, sizeof(max_bytes), "%lld", cfg_int(cfg, "FERRY_MAX_MESSAGE_BYTES"));

    /* Every topic may carry a large message (a 10 MiB page, a webhook body
     * with results inline, or one parked in a tier or a dead-letter topic),
     * so they all accept FERRY_MAX_MESSAGE_BYTES: nothing is ever silently
     * too big for the topic it is forwarded to. */
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", max_bytes);
    /* ferry's producers write with acks=all, which waits for the in-sync
     * replicas only: with one replica left in sync, an acknowledged write
     * would live on one broker. So a replicated topic demands a majority of
     * its replicas in sync (but never all, so one broker can be down while
     * writes go on): 2 of 3. Without an explicit replication factor the
     * broker's own min.insync.replicas holds. */
    if (replication > 1) {
        snprintf(isr, sizeof(isr), "%d", topics_min_insync(replication));
        rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", isr);
    }
    if (keep == KEEP_KEYS) {
        /* One record per key (a later one replaces it), gone after two
         * days: hourly segments, so deletion follows the records' age. */
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact,delete");
        snprintf(retention, sizeof(retention), "%lld", KEYS_RETENTION_MS);
        rd_kafka_NewTopic_set_config(nt, "retention.ms", retention);
        rd_kafka_NewTopic_set_config(nt, "segment.ms", "3600000");
    } else if (keep == KEEP_COMPACTED) {
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
        /* Compact often: the status table and the changelog are restored
         * by reading these topics whole at start-up. */
        rd_kafka_NewTopic_set_config(nt, "min.cleanable.dirty.ratio", "0.1");
        rd_kafka_NewTopic_set_config(nt, "segment.ms", "600000");
        /* A batch's tombstone stays a day so slow readers still see it. */
        rd_kafka_NewTopic_set_config(nt, "delete.retention.ms", "86400000");
    } else {
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
        rd_kafka_NewTopic_set_config(nt, "retention.ms", retention);
    }
    if (keep == KEEP_FILES) {
        /* Kafka deletes whole segments: roll them often, so expired files
         * (large ones) leave the disk soon after their expires_at. */
        char seg[32];
        snprintf(seg, sizeof(seg), "%lld", keep_ms < 3600000 ? keep_ms : 3600000);
        rd_kafka_NewTopic_set_config(nt, "segment.ms", seg);
    }
    *out = nt;
    return 0;
}

/* Appends one topic to nts; on failure nts and *n are unchanged. */
static int add_topic(rd_kafka_NewTopic_t **nts, size_t *n, const char *name, enum retention keep,
                     const struct cfg *cfg, char *errstr, size_t errstr_size)
{
    rd_kafka_NewTopic_t *nt;
    if (new_topic(&nt, name, keep, cfg, errstr, errstr_size))
        return -1;
    nts[(*n)++] = nt;
    return 0;
}

/* 1 when every name in names[0..n) is in the metadata `rk` gets with all its
 * partitions led (a topic just created takes a moment to get there). */
static int all_visible(rd_kafka_t *rk, const char *const *names, size_t n, int timeout_ms)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < md->topic_cnt; j++) {
            const struct rd_kafka_metadata_topic *mt = &md->topics[j];
            if (strcmp(mt->topic, names[i]) != 0)
                continue;
            int led = mt->err == RD_KAFKA_RESP_ERR_NO_ERROR && mt->partition_cnt > 0;
            for (int k = 0; led && k < mt->partition_cnt; k++)
                led = mt->partitions[k].leader >= 0 && mt->partitions[k].err == 0;
            seen += led;
            break;
        }
    }
    rd_kafka_metadata_destroy(md);
    return seen == n;
}

/* 1 when every broker of the cluster lists every name, led. Each broker
 * learns of a new topic on its own time (KRaft brokers replay the metadata
 * log independently), and a client asks whichever broker it likes: a
 * consumer that joins its group while that broker does not know the topic
 * yet is assigned nothing until its next periodic metadata refresh (five
 * minutes), and a stage that looks partitions up fails at start. So each
 * broker is asked in turn, by a short-lived client bootstrapped on it alone
 * (its first request can only go there), with the stage's own settings
 * (-X security properties included). */
static int visible_everywhere(rd_kafka_t *rk, const struct cfg *cfg, const char *const *names,
                              size_t n, int timeout_ms)
{
    const struct rd_kafka_metadata *md;
    char errstr[256], hp[300];
    int ok = 1;
    if (rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    for (int b = 0; ok && md->broker_cnt > 1 && b < md->broker_cnt; b++) {
        snprintf(hp, sizeof(hp), "%s:%d", md->brokers[b].host, md->brokers[b].port);
        rd_kafka_conf_t *conf = kafka_conf_new(cfg, "ferry-topics-check", errstr, sizeof(errstr));
        rd_kafka_t *one = NULL;
        if (conf && kafka_conf_set(conf, "bootstrap.servers", hp, errstr, sizeof(errstr)) == 0)
            one = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        else if (conf)
            rd_kafka_conf_destroy(conf);
        ok = one && all_visible(one, names, n, timeout_ms);
        if (one)
            rd_kafka_destroy(one);
    }
    rd_kafka_metadata_destroy(md);
    return ok;
}

int topics_ensure(const struct topics *t, rd_kafka_t *rk, const struct cfg *cfg, int timeout_ms,
                  char *errstr, size_t errstr_size)
{
    rd_kafka_NewTopic_t *nts[TOPIC__COUNT + 3 * CFG_MAX_DURATIONS];
    size_t n = 0;
    int rc = -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev = NULL;

    for (size_t i = 0; i < sizeof(topic_rows) / sizeof(topic_rows[0]); i++)
        if (add_topic(nts, &n, t->name[topic_rows[i].id], topic_rows[i].keep, cfg, errstr,
                      errstr_size))
            goto out_n;
    const char *tiers[3 * CFG_MAX_DURATIONS];
    size_t n_tiers = topics_tier_topics(t->webhook_tier, t->n_webhook_tiers, tiers);
    n_tiers += topics_tier_topics(t->scrape_tier, t->n_scrape_tiers, tiers + n_tiers);
    n_tiers += topics_tier_topics(t->render_tier, t->n_render_tiers, tiers + n_tiers);
    for (size_t i = 0; i < n_tiers; i++)
        if (add_topic(nts, &n, tiers[i], KEEP_PIPELINE, cfg, errstr, errstr_size))
            goto out_n;

    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    char why[256];
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof(why));
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof(why));
    rd_kafka_CreateTopics(rk, nts, n, opts, q);
    rd_kafka_AdminOptions_destroy(opts);

    /* Waited in slices: a stop signal during start-up (a sick broker) must
     * not wait out the whole timeout behind a shutdown deadline. */
    int64_t deadline = clk_mono_ms() + timeout_ms + 2000;
    while (!(ev = rd_kafka_queue_poll(q, 200)) && !shutdown_requested() && clk_mono_ms() < deadline)
        ;
    if (!ev) {
        if (shutdown_requested())
            snprintf(errstr, errstr_size, "create topics: stopping before an answer");
        else
            snprintf(errstr, errstr_size, "create topics: no answer in %d ms", timeout_ms + 2000);
        goto out_n;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "create topics: %s", rd_kafka_event_error_string(ev));
        goto out_n;
    }
    size_t cnt;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    int created = 0;
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            created++;
            LOG_INFO("topic_created", "topic=%s", rd_kafka_topic_result_name(res[i]));
        } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(errstr, errstr_size, "create topic %s: %s", rd_kafka_topic_result_name(res[i]),
                     rd_kafka_topic_result_error_string(res[i]));
            goto out_n;
        }
    }
    /* CreateTopics answers before every broker's metadata cache has the new
     * topics; a stage that subscribes or looks partitions up right after
     * must find them, so wait until every broker shows them all. */
    const char *names[TOPIC__COUNT + 3 * CFG_MAX_DURATIONS];
    for (size_t i = 0; i < cnt; i++)
        names[i] = rd_kafka_topic_result_name(res[i]);
    int slice = timeout_ms < 1000 ? timeout_ms : 1000;
    deadline = clk_mono_ms() + timeout_ms;
    while (!all_visible(rk, names, cnt, slice) || !visible_everywhere(rk, cfg, names, cnt, slice)) {
        if (shutdown_requested()) {
            snprintf(errstr, errstr_size, "topics created; stopping before they were visible");
            goto out_n;
        }
        if (clk_mono_ms() > deadline) {
            snprintf(errstr, errstr_size, "topics created but not visible in metadata after %d ms",
                     timeout_ms);
            goto out_n;
        }
        usleep(50 * 1000);
    }
    LOG_DEBUG("topics_ensured", "topics=%zu created=%d", cnt, created);
    rc = 0;
out_n:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy_array(nts, n);
    rd_kafka_queue_destroy(q);
    return rc;
}
