/* topics: the min.insync.replicas rule for replicated topics (a majority,
 * never all replicas), and the names the configuration resolves to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
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
    setenv("FERRY_WEBHOOK_RETRY_TIERS", "1s,2m", 1);
    setenv("FERRY_SCRAPE_RETRY_TIERS", "5s", 1);
    char *argv[] = {"test", NULL};
    cfg_init(&cfg, "test", "test");
    cfg_add(&cfg, cfg_common);
    assert_int_equal(cfg_parse(&cfg, 1, argv, errstr, sizeof(errstr)), 0);
    assert_int_equal(topics_init(&t, &cfg, errstr, sizeof(errstr)), 0);
    assert_string_equal(topic_name(&t, TOPIC_RESULTS), "x.scrape.results");
    assert_int_equal(t.n_webhook_tiers, 2);
    assert_string_equal(t.webhook_tier[1], "x.webhooks.retry.2m");
    assert_string_equal(t.scrape_tier[0], "x.scrape.retry.5s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_min_insync),
        cmocka_unit_test(test_names_follow_prefix_and_tiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
