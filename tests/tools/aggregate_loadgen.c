/*
 * aggregate_loadgen — writes batch records and scrape results straight into
 * ferry's topics, fast, for the aggregator's tests and benchmarks.
 *
 *   aggregate_loadgen -b BROKERS -P PREFIX [-n BATCHES] [-i ITEMS] [options]
 *
 *   -n N      batches (default 10)            -i N   items per batch (default 100)
 *   -D PCT    duplicate PCT% of results        -r     results before the batch records
 *   -w URL    webhook url (none: no webhook)   -E EV  webhook events, comma-separated
 *   -c N      batches in flight at once (results interleaved round-robin, default all)
 *   -R N      at most N results/s (default unlimited)
 *   -o FILE   write "batch_id total failed" per batch
 *   -s        stop after the batch records (no results)
 *   -I FILE   reuse the batches of FILE (written by -o); their records are not sent again
 *   -F N, -T N  only results of indexes N .. T-1 (default 0 .. ITEMS)
 *   -l        latency mode: batches one after another; for each, time from its last
 *             result's delivery to its webhook task in `webhooks` (read_committed)
 *
 * Result i of a batch has status "timeout" when i % 10 == 7, else "ok", so
 * the expected counts are known: failed = items / 10 (rounded as written).
 * Prints one summary line of figures.
 */
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ids.h"
#include "kafka.h"

static rd_kafka_t *producer;
static atomic_llong delivered, failed;
static char topic_batches[300], topic_results[300], topic_webhooks[300];

struct batch {
    char id[IDS_BATCH_LEN];
    atomic_llong last_dr_us; /* latency mode: delivery of its last result */
    atomic_llong task_us;
};
static struct batch *batches;
static long n_batches;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        atomic_fetch_add(&failed, 1);
        fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    atomic_fetch_add(&delivered, 1);
    if (m->_private)
        atomic_store(&((struct batch *)m->_private)->last_dr_us, clk_mono_us());
}

static void put(const char *topic, const char *key, const char *value, size_t len,
                rd_kafka_headers_t *h, void *opaque)
{
    struct kafka_msg m = {.topic = topic,
                          .partition = RD_KAFKA_PARTITION_UA,
                          .key = key,
                          .key_len = strlen(key),
                          .value = (void *)value,
                          .len = len,
                          .msgflags = RD_KAFKA_MSG_F_COPY,
                          .headers = h,
                          .opaque = opaque};
    rd_kafka_resp_err_t err = kafka_produce_wait(producer, &m, KAFKA_QUEUE_WAIT_MS);
    if (err) {
        fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
        exit(1);
    }
}

static void send_batch(const struct batch *b, long items, const char *url, const char *events)
{
    char buf[2048], at[CLK_ISO_LEN], wh[1024];
    clk_iso8601(clk_now_ms(), at);
    if (url) {
        char ev[512] = "", *save = NULL, copy[256];
        snprintf(copy, sizeof(copy), "%s", events);
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            snprintf(ev + strlen(ev), sizeof(ev) - strlen(ev), "%s\"%s\"", ev[0] ? "," : "", t);
        snprintf(wh, sizeof(wh),
                 "{\"url\":\"%s\",\"events\":[%s],\"secret_enc\":\"v1.test\","
                 "\"previous_secret_enc\":null,\"previous_secret_until\":null}",
                 url, ev);
    } else {
        snprintf(wh, sizeof(wh), "null");
    }
    int n = snprintf(buf, sizeof(buf),
                     "{\"type\":\"batch\",\"id\":\"%s\",\"tenant\":\"acme\",\"created_at\":\"%s\","
                     "\"total\":%ld,\"formats\":[\"html\"],\"options\":{},"
                     "\"metadata\":{\"run\":\"loadgen\"},\"webhook\":%s}",
                     b->id, at, items, wh);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "ferry-type", -1, "batch", -1);
    rd_kafka_header_add(h, "ferry-batch", -1, b->id, -1);
    put(topic_batches, b->id, buf, (size_t)n, h, NULL);
}

static void send_result(struct batch *b, long index, int last)
{
    char buf[1024], at[CLK_ISO_LEN], idx[24];
    clk_iso8601(clk_now_ms(), at);
    const char *status = index % 10 == 7 ? "timeout" : "ok";
    int n = snprintf(buf, sizeof(buf),
                     "{\"batch_id\":\"%s\",\"tenant\":\"acme\",\"index\":%ld,"
                     "\"input\":\"https://example.com/p/%ld\",\"status\":\"%s\","
                     "\"http_status\":%d,\"final_url\":\"https://example.com/p/%ld\","
                     "\"content_type\":\"text/html\",\"duration_ms\":12,\"attempts\":1,"
                     "\"fetched_at\":\"%s\",\"error\":%s,"
                     "\"data\":{\"html\":\"<html><body>item %ld</body></html>\"}}",
                     b->id, index, index, status, index % 10 == 7 ? 0 : 200, index, at,
                     index % 10 == 7 ? "\"timed out\"" : "null", index);
    snprintf(idx, sizeof(idx), "%ld", index);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "ferry-batch", -1, b->id, -1);
    rd_kafka_header_add(h, "ferry-index", -1, idx, -1);
    put(topic_results, b->id, buf, (size_t)n, h, last ? b : NULL);
}

static void drain(void)
{
    while (rd_kafka_outq_len(producer) > 0)
        rd_kafka_poll(producer, 10);
}

/* Latency mode: reads webhooks (read_committed) and stamps each batch's task. */
static atomic_int watching = 1;
static void *watch(void *arg)
{
    const char *brokers = arg;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "aggregate-loadgen-watch", errstr, sizeof(errstr));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    rd_kafka_poll_set_consumer(c);
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, topic_webhooks, NULL);
    while (rd_kafka_metadata(c, 0, rkt, &md, 5000))
        ;
    int parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic_webhooks, p)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (atomic_load(&watching)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
        if (!m)
            continue;
        if (!m->err && m->key) {
            int64_t now = clk_mono_us();
            for (long i = 0; i < n_batches; i++)
                if (m->key_len == strlen(batches[i].id) &&
                    memcmp(m->key, batches[i].id, m->key_len) == 0) {
                    long long zero = 0;
                    atomic_compare_exchange_strong(&batches[i].task_us, &zero, now);
                }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *prefix = "ferry.", *url = NULL, *events = "batch.completed",
               *out = NULL;
    long items = 100, dup_pct = 0, inflight = 0, rate = 0;
    const char *reuse = NULL;
    long from = 0, to = -1;
    int results_first = 0, latency = 0, records_only = 0, opt;
    n_batches = 10;
    while ((opt = getopt(argc, argv, "b:P:n:i:D:rw:E:c:R:o:slI:F:T:")) != -1) {
        switch (opt) {
        case 'b': brokers = optarg; break;
        case 'P': prefix = optarg; break;
        case 'n': n_batches = strtol(optarg, NULL, 10); break;
        case 'i': items = strtol(optarg, NULL, 10); break;
        case 'D': dup_pct = strtol(optarg, NULL, 10); break;
        case 'r': results_first = 1; break;
        case 'w': url = optarg; break;
        case 'E': events = optarg; break;
        case 'c': inflight = strtol(optarg, NULL, 10); break;
        case 'R': rate = strtol(optarg, NULL, 10); break;
        case 'o': out = optarg; break;
        case 's': records_only = 1; break;
        case 'l': latency = 1; break;
        case 'I': reuse = optarg; break;
        case 'F': from = strtol(optarg, NULL, 10); break;
        case 'T': to = strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: see the comment at the top of aggregate_loadgen.c\n");
            return 2;
        }
    }
    if (!brokers || n_batches < 1 || items < 1) {
        fprintf(stderr, "aggregate_loadgen: -b BROKERS required; -n and -i must be >= 1\n");
        return 2;
    }
    snprintf(topic_batches, sizeof(topic_batches), "%sbatches", prefix);
    snprintf(topic_results, sizeof(topic_results), "%sscrape.results", prefix);
    snprintf(topic_webhooks, sizeof(topic_webhooks), "%swebhooks", prefix);

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[] = {"bootstrap.servers",
                        brokers,
                        "partitioner",
                        "murmur2_random",
                        "enable.idempotence",
                        "true",
                        "linger.ms",
                        latency ? "0" : "20",
                        "compression.codec",
                        "lz4",
                        "queue.buffering.max.messages",
                        "500000",
                        "batch.num.messages",
                        "10000",
                        NULL};
    for (int i = 0; kv[i]; i += 2)
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof(errstr))) {
            fprintf(stderr, "%s\n", errstr);
            return 2;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!producer) {
        fprintf(stderr, "%s\n", errstr);
        return 2;
    }

    if (reuse) {
        FILE *fp = fopen(reuse, "r");
        char line[256];
        long cap = 1024, n = 0;
        if (!fp) {
            perror(reuse);
            return 2;
        }
        batches = calloc((size_t)cap, sizeof(*batches));
        while (fgets(line, sizeof(line), fp)) {
            if (n == cap) {
                batches = realloc(batches, (size_t)(cap *= 2) * sizeof(*batches));
                memset(batches + n, 0, (size_t)(cap - n) * sizeof(*batches));
            }
            if (sscanf(line, "%30s %ld", batches[n].id, &items) == 2)
                n++;
        }
        fclose(fp);
        n_batches = n;
    } else {
        batches = calloc((size_t)n_batches, sizeof(*batches));
        for (long i = 0; i < n_batches; i++)
            ids_batch_new(batches[i].id);
    }
    if (to < 0 || to > items)
        to = items;
    if (inflight <= 0 || inflight > n_batches)
        inflight = n_batches;
    if (out && !reuse) {
        FILE *fp = fopen(out, "w");
        if (!fp) {
            perror(out);
            return 2;
        }
        for (long i = 0; i < n_batches; i++)
            fprintf(fp, "%s %ld %ld\n", batches[i].id, items, (items + 2) / 10);
        fclose(fp);
    }

    int64_t t0 = clk_mono_us();
    long long sent = 0;
    pthread_t watcher;

    if (latency) {
        pthread_create(&watcher, NULL, watch, (void *)brokers);
        usleep(2000 * 1000); /* the watcher's assignment at the end offsets */
        for (long b = 0; b < n_batches; b++)
            send_batch(&batches[b], items, url, events);
        drain();
        for (long b = 0; b < n_batches; b++) {
            for (long i = 0; i < items; i++)
                send_result(&batches[b], i, i == items - 1);
            drain();
            /* Spread completions out: one batch each 50 ms. */
            usleep(50 * 1000);
        }
        int64_t deadline = clk_mono_us() + 20000000;
        long got = 0;
        while (clk_mono_us() < deadline) {
            got = 0;
            for (long b = 0; b < n_batches; b++)
                got += atomic_load(&batches[b].task_us) != 0;
            if (got == n_batches)
                break;
            usleep(20000);
        }
        atomic_store(&watching, 0);
        pthread_join(watcher, NULL);
        long long *lat = calloc((size_t)n_batches, sizeof(*lat));
        long n = 0;
        for (long b = 0; b < n_batches; b++)
            if (batches[b].task_us)
                lat[n++] = (batches[b].task_us - batches[b].last_dr_us) / 1000;
        qsort(lat, (size_t)n, sizeof(*lat), cmp_ll);
        if (n == 0) {
            printf("latency: no webhook task seen\n");
            return 1;
        }
        printf("latency_ms p50=%lld p99=%lld max=%lld batches=%ld seen=%ld\n", lat[n / 2],
               lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], lat[n - 1], n_batches, n);
        return n == n_batches ? 0 : 1;
    }

    if (!results_first && !reuse)
        for (long b = 0; b < n_batches; b++)
            send_batch(&batches[b], items, url, events);
    if (!records_only) {
        /* Batches go in windows of `inflight`, their results interleaved. */
        for (long w = 0; w < n_batches; w += inflight) {
            long end = w + inflight < n_batches ? w + inflight : n_batches;
            for (long i = from; i < to; i++) {
                for (long b = w; b < end; b++) {
                    send_result(&batches[b], i, 0);
                    sent++;
                    if (dup_pct && (i * 7919 + b) % 100 < dup_pct) {
                        /* A duplicate of this item, and one of an earlier one. */
                        send_result(&batches[b], i, 0);
                        send_result(&batches[b], i / 2, 0);
                        sent += 2;
                    }
                    if (rate) {
                        int64_t due = t0 + sent * 1000000 / rate;
                        int64_t now = clk_mono_us();
                        if (due > now)
                            usleep((useconds_t)(due - now));
                    }
                    rd_kafka_poll(producer, 0);
                }
            }
        }
    }
    if (results_first && !reuse)
        for (long b = 0; b < n_batches; b++)
            send_batch(&batches[b], items, url, events);
    drain();
    double secs = (double)(clk_mono_us() - t0) / 1e6;
    printf("produced batches=%ld results=%lld secs=%.2f rate=%.0f/s failed=%lld\n", n_batches, sent,
           secs, (double)sent / secs, (long long)atomic_load(&failed));
    rd_kafka_destroy(producer);
    return atomic_load(&failed) ? 1 : 0;
}
