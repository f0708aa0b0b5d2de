#include "kafka.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cloudevents.h"
#include "log.h"
#include "metrics.h"
#include "shutdown.h"

struct kafka_stats kafka_stats;

static char instance[128];

void kafka_set_instance(const char *name)
{
    snprintf(instance, sizeof(instance), "%s", name ? name : "");
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum log_level l = level <= 3   ? LOG_ERROR
                       : level == 4 ? LOG_WARN
                       : level <= 6 ? LOG_INFO
                                    : LOG_DEBUG;
    char q[1024];
    (void)rk;
    LOG_AT(l, "rdkafka", "fac=%s msg=%s", fac, log_quote(q, sizeof(q), buf));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    char q[512];
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        LOG_ERROR("kafka_fatal", "err=%s reason=%s", rd_kafka_err2name(orig),
                  log_quote(q, sizeof(q), fatal));
        shutdown_request();
        return;
    }
    /* Broker restarts and transport errors are survived: librdkafka
     * reconnects by itself, so these are warnings, not reasons to stop. */
    LOG_WARN("kafka_error", "err=%s reason=%s", rd_kafka_err2name((rd_kafka_resp_err_t)err),
             log_quote(q, sizeof(q), reason));
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errstr_size)
{
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "%s=%s: %s", name, value, why);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const struct cfg *cfg, const char *client_id, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (kafka_conf_set(conf, "bootstrap.servers", cfg_str(cfg, "FERRY_KAFKA_BROKERS"), errstr,
                       errstr_size) ||
        kafka_conf_set(conf, "client.id", client_id, errstr, errstr_size))
        goto err;
    for (size_t i = 0; i < cfg->n_props; i++)
        if (kafka_conf_set(conf, cfg->props[i][0], cfg->props[i][1], errstr, errstr_size))
            goto err;
    return conf;
err:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Applies name/value pairs that ferry needs, unless the operator set the same
 * property with -X (their word wins). */
static int conf_defaults(rd_kafka_conf_t *conf, const struct cfg *cfg, const char *const *kv,
                         char *errstr, size_t errstr_size)
{
    for (; kv[0]; kv += 2) {
        int overridden = 0;
        for (size_t i = 0; i < cfg->n_props && !overridden; i++)
            overridden = strcmp(cfg->props[i][0], kv[0]) == 0;
        if (!overridden && kafka_conf_set(conf, kv[0], kv[1], errstr, errstr_size))
            return -1;
    }
    return 0;
}

int kafka_conf_default(rd_kafka_conf_t *conf, const struct cfg *cfg, const char *name,
                       const char *value, char *errstr, size_t errstr_size)
{
    const char *const kv[] = {name, value, NULL};
    return conf_defaults(conf, cfg, kv, errstr, errstr_size);
}

void kafka_dr_default(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (msg->err) {
        atomic_fetch_add(&kafka_stats.failed, 1);
        LOG_ERROR("delivery_failed", "topic=%s err=%s", rd_kafka_topic_name(msg->rkt),
                  rd_kafka_err2name(msg->err));
    } else {
        atomic_fetch_add(&kafka_stats.delivered, 1);
    }
}

rd_kafka_conf_t *kafka_producer_conf(const struct cfg *cfg, const char *client_id,
                                     const char *transactional_id, char *errstr, size_t errstr_size)
{
    char max_bytes[32];
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, client_id, errstr, errstr_size);
    if (!conf)
        return NULL;

    /* The protocol frame must hold the largest message plus its batch
     * overhead, hence the extra 64 KiB. */
    snprintf(max_bytes, sizeof(max_bytes), "%lld", cfg_int(cfg, "FERRY_MAX_MESSAGE_BYTES") + 65536);
    /* clang-format off */
    const char *const kv[] = {
        "enable.idempotence", "true",
        "acks", "all",
        "message.max.bytes", max_bytes,
        "compression.codec", "lz4",
        /* Batches fill within a few ms under load; a lone message waits at
         * most 5 ms, well under the latency budgets of the stages. */
        "linger.ms", "5",
        /* The Java client's partitioner: every ferry producer (and a user's
         * Java producer) maps a batch id to the same partition number. */
        "partitioner", "murmur2_random",
        NULL,
    };
    /* clang-format on */
    if (conf_defaults(conf, cfg, kv, errstr, errstr_size))
        goto err;
    if (transactional_id &&
        kafka_conf_set(conf, "transactional.id", transactional_id, errstr, errstr_size))
        goto err;
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr_default);
    return conf;
err:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *kafka_producer_open(rd_kafka_conf_t *conf, int timeout_ms, char *errstr,
                                size_t errstr_size)
{
    char txn_id[256];
    size_t len = sizeof(txn_id);
    int transactional =
        rd_kafka_conf_get(conf, "transactional.id", txn_id, &len) == RD_KAFKA_CONF_OK && len > 1;

    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (transactional) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(rk, timeout_ms);
        if (error) {
            snprintf(errstr, errstr_size, "init_transactions: %s", rd_kafka_error_string(error));
            if (error)
                rd_kafka_error_destroy(error);
            rd_kafka_destroy(rk);
            return NULL;
        }
    }
    return rk;
}

/* The producer's message.max.bytes. */
static size_t max_bytes(rd_kafka_t *rk)
{
    char v[32];
    size_t n = sizeof(v);
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "message.max.bytes", v, &n) != RD_KAFKA_CONF_OK)
        return SIZE_MAX;
    return (size_t)strtoull(v, NULL, 10);
}

rd_kafka_resp_err_t kafka_produce_wait(rd_kafka_t *rk, const struct kafka_msg *m, int timeout_ms)
{
    /* What librdkafka would refuse anyway is refused before its event id
     * is made (a content id hashes the whole value). */
    if (m->len > max_bytes(rk))
        return RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : m->topic;
    rd_kafka_headers_t *hdrs = m->headers ? m->headers : rd_kafka_headers_new(6);
    int added_ct =
        ce_add_headers(hdrs, topic, m->key, m->key ? m->key_len : 0, m->value, m->len, m->ce_type,
                       m->ce_id, m->timestamp_ms ? m->timestamp_ms : clk_now_ms());
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;
    if (added_ct < 0)
        goto refused;
    rd_kafka_vu_t vu[] = {
        m->rkt ? (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_RKT, .u.rkt = m->rkt}
               : (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_TOPIC, .u.cstr = m->topic},
        {.vtype = RD_KAFKA_VTYPE_PARTITION, .u.i32 = m->partition},
        {.vtype = RD_KAFKA_VTYPE_KEY, .u.mem = {(void *)m->key, m->key ? m->key_len : 0}},
        {.vtype = RD_KAFKA_VTYPE_VALUE, .u.mem = {m->value, m->len}},
        {.vtype = RD_KAFKA_VTYPE_MSGFLAGS, .u.i = m->msgflags},
        {.vtype = RD_KAFKA_VTYPE_HEADERS, .u.headers = hdrs},
        {.vtype = RD_KAFKA_VTYPE_OPAQUE, .u.ptr = m->opaque},
        {.vtype = RD_KAFKA_VTYPE_TIMESTAMP, .u.i64 = m->timestamp_ms},
    };
    int64_t deadline = clk_mono_ms() + timeout_ms;
    for (;;) {
        rd_kafka_error_t *error = rd_kafka_produceva(rk, vu, sizeof(vu) / sizeof(vu[0]));
        err = error ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (error)
            rd_kafka_error_destroy(error);
        if (!err)
            return err;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || clk_mono_ms() >= deadline)
            break;
        /* The local queue is full (queue.buffering.max.messages or .kbytes):
         * the broker takes messages slower than we make them. Serving
         * delivery reports is what frees room, so poll, then try again;
         * 10 ms keeps the retry prompt without spinning (librdkafka's
         * examples/producer.c does the same with 1 s). */
        rd_kafka_poll(rk, 10);
    }
refused:
    /* The caller keeps its headers, as they were. */
    if (!m->headers)
        rd_kafka_headers_destroy(hdrs);
    else
        ce_remove_headers(hdrs, added_ct > 0);
    return err;
}

int kafka_producer_close(rd_kafka_t *rk, int timeout_ms)
{
    rd_kafka_flush(rk, timeout_ms);
    int left = rd_kafka_outq_len(rk);
    if (left > 0)
        LOG_ERROR("producer_unflushed", "messages=%d timeout_ms=%d", left, timeout_ms);
    rd_kafka_destroy(rk);
    return left;
}

void kafka_group_name(const struct cfg *cfg, const char *name, char *out, size_t size)
{
    const char *prefix = cfg_str(cfg, "FERRY_TOPIC_PREFIX");
    snprintf(out, size, "%s%s", strcmp(prefix, "ferry.") == 0 ? "" : prefix, name);
}

rd_kafka_conf_t *kafka_reader_conf(const struct cfg *cfg, const char *client_id, const char *name,
                                   char *errstr, size_t errstr_size)
{
    char group[300];
    kafka_group_name(cfg, name, group, sizeof(group));
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, client_id, errstr, errstr_size);
    if (conf && (kafka_conf_set(conf, "group.id", group, errstr, errstr_size) ||
                 kafka_conf_set(conf, "isolation.level", "read_committed", errstr, errstr_size) ||
                 kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) ||
                 kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
                 kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

rd_kafka_t *kafka_reader_open(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

rd_kafka_conf_t *kafka_consumer_conf(const struct cfg *cfg, const char *client_id,
                                     const char *group_id, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, client_id, errstr, errstr_size);
    if (!conf)
        return NULL;
    /* clang-format off */
    const char *const kv[] = {
        "enable.auto.offset.store", "false",
        "isolation.level", "read_committed",
        "auto.offset.reset", "earliest",
        "partition.assignment.strategy", "roundrobin",
        "enable.partition.eof", "false",
        NULL,
    };
    /* clang-format on */
    char group[300];
    kafka_group_name(cfg, group_id, group, sizeof(group));
    const char *const statik[] = {"group.instance.id", instance, NULL};
    if (kafka_conf_set(conf, "group.id", group, errstr, errstr_size) ||
        conf_defaults(conf, cfg, kv, errstr, errstr_size) ||
        (instance[0] && conf_defaults(conf, cfg, statik, errstr, errstr_size))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

rd_kafka_t *kafka_consumer_open(rd_kafka_conf_t *conf, const char *const *topics, size_t n,
                                char *errstr, size_t errstr_size)
{
    char group[300] = "";
    size_t group_len = sizeof(group);
    rd_kafka_conf_get(conf, "group.id", group, &group_len);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);

    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return NULL;
    }
    LOG_INFO("subscribed", "group=%s topics=%zu first=%s", group, n, n ? topics[0] : "");
    kafka_lag_watch(rk, group);
    return rk;
}

void kafka_consumer_close(rd_kafka_t *rk, int ever_paused)
{
    kafka_lag_unwatch(rk);
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
    if (err)
        LOG_WARN("consumer_close", "err=%s", rd_kafka_err2name(err));
    if (!ever_paused)
        rd_kafka_destroy(rk);
}

int32_t kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                              size_t errstr_size)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int32_t n = -1;
    rd_kafka_resp_err_t err =
        rkt ? rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (!err) {
        if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (n < 0)
        snprintf(errstr, errstr_size, "no partitions for %s: %s", topic,
                 err ? rd_kafka_err2str(err) : "unknown topic");
    return n;
}

int kafka_ping(rd_kafka_t *rk, int timeout_ms, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (err) {
        snprintf(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
        return -1;
    }
    int brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (brokers == 0) {
        snprintf(errstr, errstr_size, "metadata: no brokers");
        return -1;
    }
    return 0;
}

const char *kafka_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *hdrs;
    const void *val;
    size_t len;
    if (rd_kafka_message_headers(msg, &hdrs) || rd_kafka_header_get_last(hdrs, name, &val, &len) ||
        !val || len >= size)
        return NULL;
    memcpy(buf, val, len);
    buf[len] = '\0';
    return buf;
}

int kafka_err_is_fatal(rd_kafka_t *rk, rd_kafka_resp_err_t err)
{
    char why[256];
    return err == RD_KAFKA_RESP_ERR__FATAL || rd_kafka_fatal_error(rk, why, sizeof(why)) != 0;
}

int kafka_consume_error(const rd_kafka_message_t *m, const char *what)
{
    char q[512];
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return 0;
    if (m->err != RD_KAFKA_RESP_ERR__FATAL) {
        LOG_WARN("consume_error", "consumer=%s topic=%s err=%s", what,
                 m->rkt ? rd_kafka_topic_name(m->rkt) : "-", rd_kafka_err2name(m->err));
        return 0;
    }
    LOG_ERROR("kafka_fatal", "consumer=%s reason=%s", what,
              log_quote(q, sizeof(q), rd_kafka_message_errstr(m)));
    shutdown_request();
    return 1;
}

/* Kafka's murmur2 variant (seed 0x9747b28c), as in the Java client's
 * Utils.murmur2, so that ferry's explicit partition choices agree with the
 * partitioner every producer is configured with. */
static uint32_t murmur2(const unsigned char *data, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = 0x9747b28c ^ (uint32_t)len;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t k = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16 |
                     (uint32_t)data[i + 3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (len - i) {
    case 3: h ^= (uint32_t)data[i + 2] << 16; /* fall through */
    case 2: h ^= (uint32_t)data[i + 1] << 8;  /* fall through */
    case 1: h ^= data[i]; h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t kafka_murmur2_partition(const void *key, size_t len, int32_t partitions)
{
    return (int32_t)((murmur2(key, len) & 0x7fffffff) % (uint32_t)partitions);
}
