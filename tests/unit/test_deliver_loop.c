/* deliver's loop end to end against librdkafka's mock cluster and a local
 * receiver: tasks are POSTed, every attempt recorded, a failing task goes
 * through its retry tier (due time honoured) to the dead letters, a broken
 * task straight there, and the task topic's offsets are stored only for
 * what is done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "cfg.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "testhttp.h"

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mcluster;
static struct cfg cfg;
static struct topics topics;
static struct testhttp *srv;
static struct secretbox sb;

static int group_setup(void **state)
{
    char err[256];
    char *argv[] = {"t"};
    (void)state;
    log_init("test", LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    mcluster = rd_kafka_mock_cluster_new(mock_owner, 1);
    setenv("FERRY_KAFKA_BROKERS", rd_kafka_mock_cluster_bootstraps(mcluster), 1);
    setenv("FERRY_TOPIC_PREFIX", "tl.", 1);
    setenv("FERRY_WEBHOOK_RETRY_TIERS", "1s", 1);
    cfg_init(&cfg, "t", "t");
    cfg_add(&cfg, cfg_common);
    if (cfg_parse(&cfg, 1, argv, err, sizeof(err)) || topics_init(&topics, &cfg, err, sizeof(err)))
        return -1;
    for (int i = 0; i < TOPIC__COUNT; i++)
        rd_kafka_mock_topic_create(mcluster, topics.name[i], 1, 1);
    rd_kafka_mock_topic_create(mcluster, topics.webhook_tier[0], 1, 1);
    if (secretbox_init(&sb, "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f", err,
                       sizeof(err)))
        return -1;
    srv = testhttp_start();
    return srv ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    testhttp_stop(srv);
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(mock_owner);
    curl_global_cleanup();
    return 0;
}

static void produce_task(rd_kafka_t *p, const char *batch, const char *path)
{
    char url[256], *value;
    snprintf(url, sizeof(url), "%s%s", testhttp_url(srv), path);
    char *sealed = secretbox_seal(&sb, "s3cret", 6, batch);
    json_t *task = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "delivery_id", "dlv_1", "event",
                             "batch.completed", "batch_id", batch, "tenant", "acme", "url", url,
                             "body", "{}", "secret_enc", sealed);
    value = json_dumps(task, JSON_COMPACT);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(topic_name(&topics, TOPIC_WEBHOOKS)),
        RD_KAFKA_V_KEY(batch, strlen(batch)), RD_KAFKA_V_VALUE(value, strlen(value)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    assert_int_equal(err, 0);
    free(value);
    free(sealed);
    json_decref(task);
}

static int64_t records(rd_kafka_t *rk, const char *topic_name)
{
    int64_t lo = 0, hi = 0;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic_name, 0, &lo, &hi, 5000), 0);
    return hi - lo;
}

static void test_tasks_through_tiers_to_dead_letters(void **state)
{
    char err[256];
    (void)state;
    struct deliver_loop l = {0};

    rd_kafka_conf_t *pconf = kafka_producer_conf(&cfg, "ferry-test", NULL, err, sizeof(err));
    rd_kafka_t *writer = kafka_producer_open(pconf, 5000, err, sizeof(err));
    assert_non_null(writer);
    produce_task(writer, "bat_a", "/status/200?tag=lok");
    produce_task(writer, "bat_b", "/status/500?tag=lfail");
    produce_task(writer, "bat_c", "/status/204?tag=lok");
    rd_kafka_producev(writer, RD_KAFKA_V_TOPIC(topic_name(&topics, TOPIC_WEBHOOKS)),
                      RD_KAFKA_V_VALUE("not json", 8), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
    assert_int_equal(rd_kafka_flush(writer, 5000), 0);

    pconf = kafka_producer_conf(&cfg, "ferry-test", NULL, err, sizeof(err));
    deliver_loop_set_dr(pconf, &l);
    l.producer = kafka_producer_open(pconf, 5000, err, sizeof(err));
    assert_non_null(l.producer);
    l.topics = &topics;
    struct stage st = {.name = "deliver", .client_id = "ferry-test", .cfg = cfg, .topics = topics};
    assert_int_equal(deliver_loop_open_intake(&l, &st, err, sizeof(err)), 0);
    l.pol = (struct task_policy){.sb = &sb,
                                 .allow_http = 1,
                                 .n_tiers = topics.n_webhook_tiers,
                                 .tier_ms = topics.webhook_tier_ms};
    l.max_pending = 100;
    l.host_max_wait_ms = 10000;
    struct sender_opts so = {.timeout_ms = 5000,
                             .connect_timeout_ms = 2000,
                             .max_per_host = 4,
                             .allow_http = 1,
                             .allow_private = 1,
                             .user_agent = "ferry/test",
                             .pol = &l.pol};
    assert_int_equal(deliver_loop_init(&l, &so, err, sizeof(err)), 0);

    /* Two delivered, one failed twice (its tier's 1 s between), one broken:
     * everything written and acknowledged. */
    int64_t deadline = clk_mono_ms() + 30000;
    int64_t first_fail = 0;
    while (clk_mono_ms() < deadline) {
        deliver_loop_step(&l);
        if (!first_fail && testhttp_tag(srv, "lfail").requests == 1)
            first_fail = clk_mono_ms();
        if (testhttp_tag(srv, "lok").requests == 2 && testhttp_tag(srv, "lfail").requests == 2 &&
            records(l.producer, topic_name(&topics, TOPIC_WEBHOOKS_DLQ)) == 2 && l.alive == 0)
            break;
    }
    assert_int_equal(testhttp_tag(srv, "lok").requests, 2);
    assert_int_equal(testhttp_tag(srv, "lfail").requests, 2);
    assert_true(clk_mono_ms() - first_fail >= 900); /* the second waited for its due time */
    assert_int_equal(l.alive, 0);
    assert_int_equal(records(l.producer, topic_name(&topics, TOPIC_ATTEMPTS)), 4);
    assert_int_equal(records(l.producer, topics.webhook_tier[0]), 1);
    assert_int_equal(records(l.producer, topic_name(&topics, TOPIC_WEBHOOKS_DLQ)), 2);

    deliver_loop_drain(&l, 2000);
    assert_int_equal(kafka_producer_close(l.producer, 5000), 0);
    deliver_loop_release(&l);

    /* All four task records are done: the stored offset is past them. */
    rd_kafka_commit(l.cs.consumer, NULL, 0);
    rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(c, topic_name(&topics, TOPIC_WEBHOOKS), 0);
    assert_int_equal(rd_kafka_committed(l.cs.consumer, c, 5000), 0);
    assert_int_equal(c->elems[0].offset, 4);
    rd_kafka_topic_partition_list_destroy(c);
    consume_close(&l.cs);
    kafka_producer_close(writer, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_through_tiers_to_dead_letters),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
