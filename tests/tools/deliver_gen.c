/*
 * deliver_gen — writes webhook tasks fast, for the deliver benchmarks.
 *
 *     deliver_gen -b brokers -t topic -n count -K secret_key -u url [-u url2 -k K]
 *                 [-d delay_ms -s spread_ms] [-T tenants_topic]
 *
 * Every task is a real one (sealed secret, delivery id, body) as aggregate
 * would write it, spread over 1,000 batch ids. With two URLs, every K-th task
 * goes to the second. With -d, the tasks are retry-tier records instead:
 * ferry-attempt 2 and ferry-due-ms = start + delay + i * spread / count (so
 * due times rise within every partition), and the body carries "due_ms" for
 * the receiver to measure lateness. With -T, the tasks are signed with their
 * tenant's secret (tenant_secret, no secret_enc: deliver looks the secret up
 * at each attempt), and the tenant's settings record goes to that topic
 * first. Prints the count written and the rate.
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ids.h"
#include "jx.h"
#include "kafka.h"
#include "secretbox.h"
#include "tenant.h"

#define N_BATCHES 1000

static void die(const char *what)
{
    fprintf(stderr, "deliver_gen: %s\n", what);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic_name = NULL, *key = NULL, *urls[2] = {0}, *tenants = NULL;
    long count = 0, every = 0, delay = -1, spread = 0;
    int n_urls = 0, opt;
    while ((opt = getopt(argc, argv, "b:t:n:K:u:k:d:s:T:")) != -1) {
        switch (opt) {
        case 'b': brokers = optarg; break;
        case 't': topic_name = optarg; break;
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'K': key = optarg; break;
        case 'u':
            if (n_urls < 2)
                urls[n_urls++] = optarg;
            break;
        case 'k': every = strtol(optarg, NULL, 10); break;
        case 'd': delay = strtol(optarg, NULL, 10); break;
        case 's': spread = strtol(optarg, NULL, 10); break;
        case 'T': tenants = optarg; break;
        default: die("bad option");
        }
    }
    if (!brokers || !topic_name || count <= 0 || !key || !n_urls)
        die("usage: -b brokers -t topic -n count -K key -u url [-u url2 -k K] [-d ms -s ms]");

    struct secretbox sb;
    char errstr[512];
    if (secretbox_init(&sb, key, errstr, sizeof(errstr)))
        die(errstr);
    static char batch[N_BATCHES][IDS_BATCH_LEN];
    static char *sealed[N_BATCHES];
    for (int i = 0; i < N_BATCHES; i++) {
        if (ids_batch_new(batch[i]))
            die("no randomness");
        sealed[i] = secretbox_seal(&sb, "bench-secret", 12, batch[i]);
    }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[] = {"bootstrap.servers",
                        brokers,
                        "linger.ms",
                        "20",
                        "batch.num.messages",
                        "10000",
                        "queue.buffering.max.messages",
                        "2000000",
                        "compression.codec",
                        "lz4",
                        "partitioner",
                        "murmur2_random",
                        NULL};
    for (int i = 0; kv[i]; i += 2)
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof(errstr)))
            die(errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk)
        die(errstr);

    if (tenants) {
        /* The tenant's one secret, as POST /v1/webhook/secret writes it. */
        struct tenant_settings ts = {0};
        char aad[TENANT_AAD_MAX];
        tenant_secret_aad("bench", aad);
        ts.secret_enc = secretbox_seal(&sb, "whsec_YmVuY2gtdGVuYW50LXNlY3JldA==", 34, aad);
        ts.secret_created_ms = ts.updated_ms = clk_now_ms();
        size_t len;
        char *rec = tenant_settings_json("bench", &ts, &len);
        struct kafka_msg m = {.topic = tenants,
                              .partition = RD_KAFKA_PARTITION_UA,
                              .key = "bench",
                              .key_len = 5,
                              .value = rec,
                              .len = len,
                              .msgflags = RD_KAFKA_MSG_F_FREE};
        if (!ts.secret_enc || !rec || kafka_produce_wait(rk, &m, KAFKA_QUEUE_WAIT_MS))
            die("cannot write the tenant record");
        rd_kafka_flush(rk, 60000);
        free(ts.secret_enc);
    }

    char pad[201];
    memset(pad, 'x', 200);
    pad[200] = '\0';
    int64_t t0 = clk_now_ms(), m0 = clk_mono_ms();
    for (long i = 0; i < count; i++) {
        int b = (int)(i % N_BATCHES);
        const char *url = (n_urls == 2 && every > 0 && i % every == every - 1) ? urls[1] : urls[0];
        int64_t due = delay >= 0 ? t0 + delay + (int64_t)((double)i * spread / count) : 0;
        char body[512], dlv[IDS_DELIVERY_LEN], created[CLK_ISO_LEN];
        snprintf(body, sizeof(body),
                 "{\"id\": \"%s\", \"status\": \"completed\", \"seq\": %ld, \"due_ms\":%lld, "
                 "\"pad\": \"%s\"}",
                 batch[b], i, (long long)due, pad);
        ids_delivery(batch[b], "batch.completed", i, dlv);
        clk_iso8601(t0, created);
        json_t *task =
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:n,s:s}", "delivery_id", dlv, "event",
                      "batch.completed", "batch_id", batch[b], "tenant", "bench", "url", url,
                      "created_at", created, "secret_enc", sealed[b], "previous_secret_enc",
                      "previous_secret_until", "body", body);
        if (tenants) {
            json_object_set_new(task, "secret_enc", json_null());
            json_object_set_new(task, "tenant_secret", json_true());
        }
        char *value = jx_dump(task, NULL);
        json_decref(task);
        rd_kafka_headers_t *h = rd_kafka_headers_new(4);
        if (delay >= 0) {
            char buf[32];
            rd_kafka_header_add(h, "ferry-attempt", -1, "2", 1);
            snprintf(buf, sizeof(buf), "%lld", (long long)due);
            rd_kafka_header_add(h, "ferry-due-ms", -1, buf, -1);
            snprintf(buf, sizeof(buf), "%lld", (long long)t0);
            rd_kafka_header_add(h, "ferry-first-attempt-ms", -1, buf, -1);
        }
        struct kafka_msg m = {.topic = topic_name,
                              .partition = RD_KAFKA_PARTITION_UA,
                              .key = batch[b],
                              .key_len = strlen(batch[b]),
                              .value = value,
                              .len = strlen(value),
                              .msgflags = RD_KAFKA_MSG_F_FREE,
                              .headers = h};
        rd_kafka_resp_err_t err = kafka_produce_wait(rk, &m, KAFKA_QUEUE_WAIT_MS);
        if (err)
            die(rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    int left = rd_kafka_outq_len(rk);
    long long ms = clk_mono_ms() - m0;
    printf("deliver_gen: %ld tasks to %s in %lld ms (%.0f/s)%s\n", count - left, topic_name, ms,
           (count - left) * 1000.0 / (ms ? ms : 1), left ? " UNFLUSHED" : "");
    rd_kafka_destroy(rk);
    for (int i = 0; i < N_BATCHES; i++)
        free(sealed[i]);
    return left ? 1 : 0;
}
