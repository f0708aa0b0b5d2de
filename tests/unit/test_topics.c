/* topics: the min.insync.replicas rule for replicated topics (a majority,
 * never all replicas), and the names the configuration resolves to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <unistd.h>

#include "cfg.h"
#include "clock.h"
#include "shutdown.h"
#include "topics.h"

static void test_min_insync(void **state)
{
    (void)state;
    static const int want[][2] = {
        {1, 1}, {2, 1}, {3, 2}, {4, 3}, {5, 3}, {6, 4}, {7, 4},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int got = topics_min_insync(want[i][0]);
        if (got != want[i][1])
            fail_msg("replication %d: min.insync.replicas %d, want %d", want[i][0], got,
                     want[i][1]);
        /* One replica may always be down without stopping acks=all writes. */
        assert_true(want[i][0] == 1 || got < want[i][0]);
    }
}

static void test_names_follow_prefix_and_tiers(void **state)
{
    (void)state;
    struct cfg cfg;
    struct topics t;
    char errstr[256] = "";
    setenv("FERRY_TOPIC_PREFIX", "x.", 1);
    setenv("FERRY_WEBHOOK_RETRY_TIERS", "1s,2m,2m,10m", 1);
    setenv("FERRY_SCRAPE_RETRY_TIERS", "5s", 1);
    char *argv[] = {"test", NULL};
    cfg_init(&cfg, "test", "test");
    cfg_add(&cfg, cfg_common);
    assert_int_equal(cfg_parse(&cfg, 1, argv, errstr, sizeof(errstr)), 0);
    assert_int_equal(topics_init(&t, &cfg, errstr, sizeof(errstr)), 0);
    assert_string_equal(topic_name(&t, TOPIC_RESULTS), "x.scrape.results");
    assert_int_equal(t.n_webhook_tiers, 4); /* four retries */
    assert_string_equal(t.webhook_tier[1], "x.webhooks.retry.2m");
    assert_string_equal(t.webhook_tier[2], "x.webhooks.retry.2m");
    assert_string_equal(t.scrape_tier[0], "x.scrape.retry.5s");
    /* The two 2m retries wait in one topic: three tier topics. */
    const char *topics[CFG_MAX_DURATIONS];
    assert_int_equal(topics_tier_topics(t.webhook_tier, t.n_webhook_tiers, topics), 3);
    assert_string_equal(topics[0], "x.webhooks.retry.1s");
    assert_string_equal(topics[1], "x.webhooks.retry.2m");
    assert_string_equal(topics[2], "x.webhooks.retry.10m");
    assert_int_equal(topics_tier_topics(t.scrape_tier, t.n_scrape_tiers, topics), 1);
    /* Counted only, as the stages' started lines do. */
    assert_int_equal(topics_tier_topics(t.webhook_tier, t.n_webhook_tiers, NULL), 3);
}

static void *stop_soon(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
    shutdown_request();
    return NULL;
}

/* A stop signal while the broker does not answer (start-up against a sick
 * or absent broker) ends topics_ensure at once, not after its whole
 * timeout: a stage stopped during start-up meets its stop deadline. */
static void test_ensure_stops_on_shutdown(void **state)
{
    (void)state;
    struct cfg cfg;
    struct topics t;
    char errstr[256] = "";
    char *argv[] = {"test", NULL};
    cfg_init(&cfg, "test", "test");
    cfg_add(&cfg, cfg_common);
    assert_int_equal(cfg_parse(&cfg, 1, argv, errstr, sizeof(errstr)), 0);
    assert_int_equal(topics_init(&t, &cfg, errstr, sizeof(errstr)), 0);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_soon, NULL), 0);
    int64_t t0 = clk_mono_ms();
    assert_int_not_equal(topics_ensure(&t, rk, &cfg, 30000, errstr, sizeof(errstr)), 0);
    int64_t took = clk_mono_ms() - t0;
    pthread_join(th, NULL);
    assert_non_null(strstr(errstr, "stopping"));
    /* Without the check it waits out 32 s; a stop answers within a slice. */
    if (took > 10000)
        fail_msg("topics_ensure returned %lld ms after the stop", (long long)took);
    rd_kafka_destroy(rk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_min_insync), cmocka_unit_test(test_names_follow_prefix_and_tiers),
        cmocka_unit_test(test_ensure_stops_on_shutdown), /* last: it requests a stop */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
