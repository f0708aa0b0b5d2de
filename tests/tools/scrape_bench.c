/*
 * scrape_bench — the scrape benchmark's two Kafka ends. Reads the FERRY_*
 * environment like a stage (brokers, prefix, partitions).
 *
 *   scrape_bench gen N URL_BASE PAGES [FORMATS]
 *       provisions the topics, then writes N scrape requests
 *       ({URL_BASE}/p<i % PAGES>.html) to <prefix>scrape.requests, spread
 *       over the partitions as ingest does; prints the rate.
 *   scrape_bench count N TIMEOUT_S
 *       reads <prefix>scrape.results from the beginning (no group) until N
 *       records arrived or TIMEOUT_S passed; prints first/last arrival and
 *       the rate between them, and the outcome counts of the first 1000.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "clock.h"
#include "kafka.h"
#include "topics.h"

static int setup(struct cfg *cfg, struct topics *t)
{
    char errstr[512];
    char *argv0[] = {"scrape_bench", NULL};
    cfg_init(cfg, "scrape_bench", "scrape benchmark helper");
    cfg_add(cfg, cfg_common);
    if (cfg_parse(cfg, 1, argv0, errstr, sizeof(errstr)) != 0 ||
        topics_init(t, cfg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "scrape_bench: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int gen(long n, const char *base, int pages, const char *formats)
{
    struct cfg cfg;
    struct topics t;
    char errstr[512];
    if (setup(&cfg, &t))
        return 2;
    rd_kafka_conf_t *conf = kafka_producer_conf(&cfg, "scrape-bench", NULL, errstr, sizeof(errstr));
    if (!conf || kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof(errstr)) ||
        kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", errstr, sizeof(errstr))) {
        fprintf(stderr, "scrape_bench: %s\n", errstr);
        return 2;
    }
    rd_kafka_t *rk = kafka_producer_open(conf, 10000, errstr, sizeof(errstr));
    if (!rk || topics_ensure(&t, rk, &cfg, 30000, errstr, sizeof(errstr))) {
        fprintf(stderr, "scrape_bench: %s\n", errstr);
        return 2;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic_name(&t, TOPIC_REQUESTS), NULL);
    int parts = (int)cfg_int(&cfg, "FERRY_TOPIC_PARTITIONS");
    const char *batch = "bat_bench";
    int32_t p0 = kafka_murmur2_partition(batch, strlen(batch), parts);
    int64_t t0 = clk_mono_ms();
    char buf[1024];
    for (long i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof(buf),
                           "{\"batch_id\":\"%s\",\"tenant\":\"bench\",\"index\":%ld,"
                           "\"url\":\"%s/p%ld.html\",\"headers\":{},\"formats\":%s,"
                           "\"options\":{\"timeout_ms\":30000,\"max_bytes\":10485760,"
                           "\"follow_redirects\":true}}",
                           batch, i, base, i % pages, formats);
        while (rd_kafka_produce(rkt, (p0 + (int32_t)(i % parts)) % parts, RD_KAFKA_MSG_F_COPY, buf,
                                (size_t)len, batch, strlen(batch), NULL) != 0)
            rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_topic_destroy(rkt);
    int left = kafka_producer_close(rk, 120000);
    long long ms = clk_mono_ms() - t0;
    printf("gen: %ld requests in %lld ms (%.0f/s)%s\n", n, ms, n * 1000.0 / (ms ? ms : 1),
           left ? " NOT ALL DELIVERED" : "");
    return left ? 1 : 0;
}

static int count(long n, int timeout_s)
{
    struct cfg cfg;
    struct topics t;
    char errstr[512];
    if (setup(&cfg, &t))
        return 2;
    rd_kafka_conf_t *conf = kafka_conf_new(&cfg, "scrape-bench-count", errstr, sizeof(errstr));
    if (!conf || kafka_conf_set(conf, "group.id", "scrape-bench-count", errstr, sizeof(errstr)) ||
        kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof(errstr))) {
        fprintf(stderr, "scrape_bench: %s\n", errstr);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "scrape_bench: %s\n", errstr);
        return 2;
    }
    rd_kafka_poll_set_consumer(rk);
    int parts = (int)cfg_int(&cfg, "FERRY_TOPIC_PARTITIONS");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int i = 0; i < parts; i++)
        rd_kafka_topic_partition_list_add(l, topic_name(&t, TOPIC_RESULTS), i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);

    long got = 0, ok = 0, other = 0;
    long long bytes = 0;
    int64_t start = clk_mono_ms(), first = 0, last = 0;
    while (got < n && clk_mono_ms() - start < timeout_s * 1000LL) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (!m->err) {
            last = clk_mono_ms();
            if (!got)
                first = last;
            got++;
            bytes += (long long)m->len;
            if (got <= 1000) {
                if (m->len > 200 && memmem(m->payload, 200, "\"status\":\"ok\"", 13))
                    ok++;
                else
                    other++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    long long span = last - first;
    printf("count: %ld results (sample of first 1000: %ld ok, %ld other), avg %lld bytes, "
           "first after %lld ms, %.0f results/s between first and last\n",
           got, ok, other, got ? bytes / got : 0, (long long)(first - start),
           span > 0 ? (got - 1) * 1000.0 / (double)span : 0.0);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got >= n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "gen") == 0)
        return gen(atol(argv[2]), argv[3], atoi(argv[4]), argc > 5 ? argv[5] : "[\"html\"]");
    if (argc == 4 && strcmp(argv[1], "count") == 0)
        return count(atol(argv[2]), atoi(argv[3]));
    fprintf(stderr, "usage: scrape_bench gen N URL_BASE PAGES [FORMATS] | count N TIMEOUT_S\n");
    return 2;
}
