#include "scan.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "shutdown.h"

rd_kafka_t *scan_open(const struct cfg *cfg, const char *client_id, const char *name, char *errstr,
                      size_t errstr_size)
{
    /* A restore reads whole partitions: fetch in large chunks. */
    return scan_open_sized(cfg, client_id, name, 16 << 20, errstr, errstr_size);
}

rd_kafka_t *scan_open_sized(const struct cfg *cfg, const char *client_id, const char *name,
                            size_t fetch_bytes, char *errstr, size_t errstr_size)
{
    char fetch[32], queued[32];
    /* librdkafka wants fetch.max.bytes at least message.max.bytes (1 MB). */
    if (fetch_bytes < (1 << 20))
        fetch_bytes = 1 << 20;
    snprintf(fetch, sizeof(fetch), "%zu", fetch_bytes);
    snprintf(queued, sizeof(queued), "%zu", fetch_bytes / 1024);
    /* Offsets are given on every assign, never committed. */
    rd_kafka_conf_t *conf = kafka_reader_conf(cfg, client_id, name, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "fetch.max.bytes", fetch, errstr, errstr_size) ||
        kafka_conf_set(conf, "queued.max.messages.kbytes", queued, errstr, errstr_size) ||
        kafka_conf_set(conf, "max.partition.fetch.bytes", fetch, errstr, errstr_size) ||
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

int scan_partitions(rd_kafka_t *c, const char *topic, int timeout_ms, char *errstr,
                    size_t errstr_size)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(c, 0, rkt, &md, timeout_ms);
    int n = -1;
    if (err) {
        snprintf(errstr, errstr_size, "metadata %s: %s", topic, rd_kafka_err2str(err));
    } else {
        if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
            n = md->topics[0].partition_cnt;
        else
            snprintf(errstr, errstr_size, "metadata %s: %s", topic,
                     md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no such topic");
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

int scan_offset_at(rd_kafka_t *c, const char *topic, int32_t partition, int64_t ts_ms,
                   int timeout_ms, int64_t *offset, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = ts_ms;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(c, list, timeout_ms);
    if (!err)
        err = list->elems[0].err;
    *offset = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        snprintf(errstr, errstr_size, "offsets for times %s [%d]: %s", topic, (int)partition,
                 rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* scan_read over every topic of topics[0..n_topics): slot t * n + i is
 * partition parts[i] of topic t. */
static int scan_run(rd_kafka_t *c, const struct scan_topic *topics, size_t n_topics,
                    const int32_t *parts, size_t n, int64_t from, int64_t until, const char *key,
                    int64_t *next, int timeout_ms, char *errstr, size_t errstr_size)
{
    int rc = -1;
    size_t slots = n_topics * n, open = slots, key_len = key ? strlen(key) : 0;
    int done[slots > 0 ? slots : 1];
    int64_t deadline = clk_mono_ms() + timeout_ms;
    const char *what = n_topics ? topics[0].topic : "";

    if (next)
        *next = from;
    if (until >= 0 && from > until)
        return 0; /* an empty range */
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)slots);
    for (size_t t = 0; t < n_topics; t++)
        for (size_t i = 0; i < n; i++) {
            rd_kafka_topic_partition_list_add(list, topics[t].topic, parts[i])->offset = from;
            done[t * n + i] = 0;
        }
    rd_kafka_resp_err_t err = rd_kafka_assign(c, list);
    if (err) {
        snprintf(errstr, errstr_size, "assign %s: %s", what, rd_kafka_err2str(err));
        goto out;
    }
    while (open > 0) {
        if (clk_mono_ms() > deadline || shutdown_requested()) {
            snprintf(errstr, errstr_size, "%s%s: not read to the end in %d ms%s", what,
                     n_topics > 1 ? " and others" : "", timeout_ms,
                     shutdown_requested() ? " (stopping)" : "");
            goto out;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        size_t t = 0, i = 0;
        while (n_topics > 1 && t < n_topics &&
               !(m->rkt && strcmp(rd_kafka_topic_name(m->rkt), topics[t].topic) == 0))
            t++;
        while (i < n && parts[i] != m->partition)
            i++;
        size_t slot = t < n_topics && i < n ? t * n + i : slots;
        int stop = SCAN_NEXT;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (slot < slots && !done[slot]) {
                done[slot] = 1;
                open--;
            }
        } else if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                   m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
            /* librdkafka reconnects by itself; wait within the deadline. */
        } else if (m->err) {
            snprintf(errstr, errstr_size, "%s [%d]: %s",
                     m->rkt ? rd_kafka_topic_name(m->rkt) : what, (int)m->partition,
                     rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto out;
        } else if (slot < slots && !done[slot] && (from < 0 || m->offset >= from)) {
            if (until >= 0 && m->offset > until) {
                /* Past the range (the range's last offset was a transaction
                 * marker or compacted away): this record is not ours. */
                done[slot] = 1;
                open--;
            } else {
                if (!key || (m->key_len == key_len && memcmp(m->key, key, key_len) == 0))
                    stop = topics[t].fn(topics[t].arg, m);
                if (next)
                    *next = m->offset + 1;
                if (until >= 0 && m->offset >= until) {
                    done[slot] = 1;
                    open--;
                }
            }
        }
        if (stop != SCAN_KEEP)
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

int scan_read(rd_kafka_t *c, const char *topic, const int32_t *parts, size_t n, int64_t from,
              int64_t until, const char *key, scan_fn fn, void *arg, int64_t *next, int timeout_ms,
              char *errstr, size_t errstr_size)
{
    struct scan_topic t = {topic, fn, arg};
    return scan_run(c, &t, 1, parts, n, from, until, key, next, timeout_ms, errstr, errstr_size);
}

int scan_read_topics(rd_kafka_t *c, const struct scan_topic *topics, size_t n_topics,
                     const int32_t *parts, size_t n, int timeout_ms, char *errstr,
                     size_t errstr_size)
{
    return scan_run(c, topics, n_topics, parts, n, RD_KAFKA_OFFSET_BEGINNING, -1, NULL, NULL,
                    timeout_ms, errstr, errstr_size);
}
