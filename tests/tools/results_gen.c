/*
 * results_gen — writes a batch's results straight into scrape.results, as
 * scrape would (headers ferry-batch and ferry-index, the result's fields in
 * scrape's order), for benchmarks of what reads them back.
 *
 *     results_gen -b brokers -t topic -p partition -B batch_id -n count
 *                 [-F failing_per_10] [-s page_bytes]
 *
 * Item i fails with not_found when i % 10 < failing_per_10 (default 3: 30%);
 * the others are ok with an html page of page_bytes (default 2000). Prints
 * "first_offset last_offset" of what it wrote, from the delivery reports.
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "jx.h"
#include "kafka.h"

static int64_t first = -1, last = -1;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        fprintf(stderr, "results_gen: %s\n", rd_kafka_err2str(m->err));
        exit(2);
    }
    if (first < 0 || m->offset < first)
        first = m->offset;
    if (m->offset > last)
        last = m->offset;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL, *batch = NULL;
    long count = 0, failing = 3, page = 2000, partition = -1;
    int opt;
    char errstr[512];
    while ((opt = getopt(argc, argv, "b:t:p:B:n:F:s:")) != -1) {
        switch (opt) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'p': partition = strtol(optarg, NULL, 10); break;
        case 'B': batch = optarg; break;
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'F': failing = strtol(optarg, NULL, 10); break;
        case 's': page = strtol(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    if (!brokers || !topic || !batch || count <= 0 || partition < 0) {
        fprintf(stderr, "usage: -b brokers -t topic -p partition -B batch -n count "
                        "[-F failing_per_10] [-s page_bytes]\n");
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[] = {
        "bootstrap.servers",  brokers, "linger.ms", "20", "compression.codec", "lz4",
        "enable.idempotence", "true",  NULL};
    for (int i = 0; kv[i]; i += 2)
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof(errstr)))
            return fprintf(stderr, "results_gen: %s\n", errstr), 2;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk)
        return fprintf(stderr, "results_gen: %s\n", errstr), 2;

    char *html = malloc((size_t)page + 1);
    memset(html, 'x', (size_t)page);
    html[page] = '\0';
    struct buf v = BUF_INIT(BUF_NO_MAX);
    for (long i = 0; i < count; i++) {
        int fails = i % 10 < failing;
        char url[96], idx[24];
        snprintf(url, sizeof(url), "https://www.example.com/catalog/item/%06ld?ref=bench&lang=en",
                 i);
        buf_reset(&v);
        buf_addf(&v, "{\"batch_id\":\"%s\",\"tenant\":\"bench\",\"index\":%ld,\"input\":", batch,
                 i);
        jx_add_strz(&v, url);
        buf_addf(&v,
                 ",\"status\":\"%s\",\"http_status\":%d,\"final_url\":", fails ? "not_found" : "ok",
                 fails ? 404 : 200);
        jx_add_strz(&v, url);
        buf_addf(&v,
                 ",\"content_type\":\"text/html\",\"duration_ms\":12,\"attempts\":1,"
                 "\"fetched_at\":\"2026-11-22T10:00:00.000Z\",\"error\":%s,"
                 "\"credits_charged\":%d,\"data\":",
                 fails ? "\"http 404\"" : "null", fails ? 0 : 1);
        if (fails) {
            buf_adds(&v, "null}");
        } else {
            buf_adds(&v, "{\"html\":\"");
            buf_adds(&v, html);
            buf_adds(&v, "\"}}");
        }
        snprintf(idx, sizeof(idx), "%ld", i);
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, "ferry-batch", -1, batch, -1);
        rd_kafka_header_add(h, "ferry-index", -1, idx, -1);
        struct kafka_msg m = {.topic = topic,
                              .partition = (int32_t)partition,
                              .key = batch,
                              .key_len = strlen(batch),
                              .value = (void *)buf_str(&v),
                              .len = v.len,
                              .msgflags = RD_KAFKA_MSG_F_COPY,
                              .headers = h};
        if (kafka_produce_wait(rk, &m, KAFKA_QUEUE_WAIT_MS))
            return fprintf(stderr, "results_gen: produce failed\n"), 2;
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 120000);
    if (rd_kafka_outq_len(rk))
        return fprintf(stderr, "results_gen: not flushed\n"), 2;
    printf("%lld %lld\n", (long long)first, (long long)last);
    buf_release(&v);
    free(html);
    rd_kafka_destroy(rk);
    return 0;
}
