#include "scan.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "shutdown.h"

rd_kafka_t *scan_open(const struct cfg *cfg, const char *client_id, const char *name, char *errstr,
                      size_t errstr_size)
{
    /* Offsets are given on every assign, never committed. */
    rd_kafka_conf_t *conf = kafka_reader_conf(cfg, client_id, name, errstr, errstr_size);
    if (!conf)
        return NULL;
    /* A restore reads whole partitions: fetch in large chunks. */
    if (kafka_conf_set(conf, "fetch.max.bytes", "16777216", errstr, errstr_size) ||
        kafka_conf_set(conf, "queued.max.messages.kbytes", "16384", errstr, errstr_size) ||
        kafka_conf_set(conf, "max.partition.fetch.bytes", "16777216", errstr, errstr_size) ||
        /* A scan waits on its fetches: answer as soon as data is there, and
         * do not let librdkafka's default 500 ms back-off eat a page's time. */
        kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, errstr_size) ||
        kafka_conf_set(conf, "fetch.error.backoff.ms", "5", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return kafka_reader_open(conf, errstr, errstr_size);
}

rd_kafka_topic_t *scan_warm(rd_kafka_t *c, const char *topic, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(c, 0, rkt, &md, 10000);
    if (err) {
        snprintf(errstr, errstr_size, "metadata %s: %s", topic, rd_kafka_err2str(err));
        rd_kafka_topic_destroy(rkt);
        return NULL;
    }
    rd_kafka_metadata_destroy(md);
    return rkt;
}

int scan_read(rd_kafka_t *c, const char *topic, const int32_t *parts, size_t n, int64_t from,
              int64_t until, const char *key, scan_fn fn, void *arg, int64_t *next, int timeout_ms,
              char *errstr, size_t errstr_size)
{
    int rc = -1;
    size_t open = n, key_len = key ? strlen(key) : 0;
    int done[n > 0 ? n : 1];
    int64_t deadline = clk_mono_ms() + timeout_ms;

    if (next)
        *next = from;
    if (until >= 0 && from > until)
        return 0; /* an empty range */
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(list, topic, parts[i])->offset = from;
        done[i] = 0;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(c, list);
    if (err) {
        snprintf(errstr, errstr_size, "assign %s: %s", topic, rd_kafka_err2str(err));
        goto out;
    }
    while (open > 0) {
        if (clk_mono_ms() > deadline || shutdown_requested()) {
            snprintf(errstr, errstr_size, "%s: not read to the end in %d ms%s", topic, timeout_ms,
                     shutdown_requested() ? " (stopping)" : "");
            goto out;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        size_t i = 0;
        while (i < n && parts[i] != m->partition)
            i++;
        int stop = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (i < n && !done[i]) {
                done[i] = 1;
                open--;
            }
        } else if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                   m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
            /* librdkafka reconnects by itself; wait within the deadline. */
        } else if (m->err) {
            snprintf(errstr, errstr_size, "%s [%d]: %s", topic, (int)m->partition,
                     rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto out;
        } else if (i < n && !done[i] && (from < 0 || m->offset >= from)) {
            if (until >= 0 && m->offset > until) {
                /* Past the range (the range's last offset was a transaction
                 * marker or compacted away): this record is not ours. */
                done[i] = 1;
                open--;
            } else {
                if (!key || (m->key_len == key_len && memcmp(m->key, key, key_len) == 0))
                    stop = fn(arg, m);
                if (next)
                    *next = m->offset + 1;
                if (until >= 0 && m->offset >= until) {
                    done[i] = 1;
                    open--;
                }
            }
        }
        rd_kafka_message_destroy(m);
        if (stop)
            break;
    }
    rc = 0;
out:
    rd_kafka_assign(c, NULL);
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}
