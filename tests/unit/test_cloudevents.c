/* cloudevents: the event headers of every topic, their ids, and headers
 * handed back as they were. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "cloudevents.h"
#include "log.h"
#include "topics.h"

static const char *get(rd_kafka_headers_t *h, const char *name, char *buf, size_t size)
{
    const void *v;
    size_t n;
    if (rd_kafka_header_get_last(h, name, &v, &n) || n >= size)
        return NULL;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}

static size_t count(rd_kafka_headers_t *h, const char *name)
{
    size_t n = 0, idx = 0, size;
    const void *v;
    while (rd_kafka_header_get(h, idx++, name, &v, &size) == 0)
        n++;
    return n;
}

/* The ce_id of a message to `suffix` with headers name=value pairs. */
static const char *id_of(const char *suffix, const char *key, const char *value, char *out,
                         size_t size, ...)
{
    char topic[128];
    va_list ap;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    va_start(ap, size);
    for (const char *name; (name = va_arg(ap, const char *));)
        rd_kafka_header_add(h, name, -1, va_arg(ap, const char *), -1);
    va_end(ap);
    snprintf(topic, sizeof(topic), "ferry.%s", suffix);
    assert_true(ce_add_headers(h, topic, key, key ? strlen(key) : 0, value,
                               value ? strlen(value) : 0, NULL, NULL, 1700000000123LL) >= 0);
    assert_non_null(get(h, "ce_id", out, size));
    rd_kafka_headers_destroy(h);
    return out;
}

static void test_every_topic_has_a_type(void **state)
{
    struct cfg cfg;
    struct topics t;
    char err[256];
    char *argv[] = {"t"};
    (void)state;
    setenv("FERRY_SCRAPE_RETRY_TIERS", "1s,30s", 1);
    setenv("FERRY_WEBHOOK_RETRY_TIERS", "1m,2h", 1);
    cfg_init(&cfg, "t", "t");
    cfg_add(&cfg, cfg_common);
    assert_int_equal(cfg_parse(&cfg, 1, argv, err, sizeof(err)), 0);
    assert_int_equal(topics_init(&t, &cfg, err, sizeof(err)), 0);
    ce_init("test", "host-1", cfg_str(&cfg, "FERRY_TOPIC_PREFIX"));
    for (int i = 0; i < TOPIC__COUNT; i++) {
        const char *type = ce_type_of(t.name[i], NULL);
        assert_true(strncmp(type, "dev.ferry.", 10) == 0);
        assert_string_not_equal(type, "dev.ferry.message");
    }
    for (size_t i = 0; i < t.n_scrape_tiers; i++)
        assert_string_equal(ce_type_of(t.scrape_tier[i], NULL), "dev.ferry.scrape.request");
    for (size_t i = 0; i < t.n_webhook_tiers; i++)
        assert_string_equal(ce_type_of(t.webhook_tier[i], NULL), "dev.ferry.webhook.task");
    for (size_t i = 0; i < t.n_render_tiers; i++)
        assert_string_equal(ce_type_of(t.render_tier[i], NULL), "dev.ferry.render.request");
    assert_string_equal(ce_type_of("ferry.scrape.results", NULL), "dev.ferry.scrape.result");
    assert_string_equal(ce_type_of("ferry.batches", "batch"), "dev.ferry.batch.submitted");
    assert_string_equal(ce_type_of("ferry.batches", "cancel"), "dev.ferry.batch.cancelled");
    assert_string_equal(ce_type_of("ferry.submit.replies", NULL), "dev.ferry.submit.accepted");
    assert_string_equal(ce_type_of("ferry.submit.replies", "rejected"),
                        "dev.ferry.submit.rejected");
    /* Not ferry's: another prefix, a tier stem without a tier. */
    assert_string_equal(ce_type_of("other.scrape.results", NULL), "dev.ferry.message");
    assert_string_equal(ce_type_of("ferry.scrape.retry.", NULL), "dev.ferry.message");
}

static void test_headers_of_a_result(void **state)
{
    char buf[256];
    (void)state;
    ce_init("scrape", "host-8081", "ferry.");
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "ferry-batch", -1, "bat_1", -1);
    rd_kafka_header_add(h, "ferry-index", -1, "17", -1);
    assert_int_equal(
        ce_add_headers(h, "ferry.scrape.results", "bat_1", 5, "{}", 2, NULL, NULL, 1700000000123LL),
        1);
    assert_string_equal(get(h, "ce_specversion", buf, sizeof(buf)), "1.0");
    assert_string_equal(get(h, "ce_type", buf, sizeof(buf)), "dev.ferry.scrape.result");
    assert_string_equal(get(h, "ce_source", buf, sizeof(buf)), "/ferry/scrape/host-8081");
    assert_string_equal(get(h, "ce_id", buf, sizeof(buf)), "result:bat_1/17");
    assert_string_equal(get(h, "ce_time", buf, sizeof(buf)), "2023-11-14T22:13:20.123Z");
    assert_string_equal(get(h, "content-type", buf, sizeof(buf)), "application/json");

    /* Added again (a message forwarded with its headers): replaced, not
     * doubled; the caller's own type and id win. */
    assert_int_equal(ce_add_headers(h, "ferry.scrape.results", "bat_1", 5, "{}", 2, "x.y.z",
                                    "my-id", 1700000000999LL),
                     0);
    assert_int_equal(count(h, "ce_id"), 1);
    assert_int_equal(count(h, "content-type"), 1);
    assert_string_equal(get(h, "ce_type", buf, sizeof(buf)), "x.y.z");
    assert_string_equal(get(h, "ce_id", buf, sizeof(buf)), "my-id");

    /* Taken off again: the caller's two headers are left. */
    ce_remove_headers(h, 1);
    assert_int_equal(rd_kafka_header_cnt(h), 2);
    assert_string_equal(get(h, "ferry-index", buf, sizeof(buf)), "17");
    rd_kafka_headers_destroy(h);
}

static void test_a_file_keeps_its_content_type(void **state)
{
    char buf[64];
    (void)state;
    ce_init("render", "r1", "ferry.");
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "content-type", -1, "image/png", -1);
    assert_int_equal(ce_add_headers(h, "ferry.files", "fil_1", 5, "\x89PNG", 4, NULL, NULL, 0), 0);
    assert_string_equal(get(h, "content-type", buf, sizeof(buf)), "image/png");
    assert_int_equal(count(h, "content-type"), 1);
    assert_string_equal(get(h, "ce_id", buf, sizeof(buf)), "file:fil_1");
    assert_string_equal(get(h, "ce_type", buf, sizeof(buf)), "dev.ferry.file");
    ce_remove_headers(h, 0);
    assert_int_equal(rd_kafka_header_cnt(h), 1);
    rd_kafka_headers_destroy(h);
}

static void test_ids_are_stable_for_the_same_event(void **state)
{
    char a[256], b[256];
    (void)state;
    ce_init("x", "y", "ferry.");
    /* Items: a result whichever fetch wrote it; its parts apart. */
    assert_string_equal(
        id_of("scrape.results", "bat_1", "{\"a\":1}", a, sizeof(a), "ferry-index", "3", NULL),
        "result:bat_1/3");
    assert_string_equal(id_of("scrape.results", "bat_1", "{}", a, sizeof(a), "ferry-index", "3",
                              "ferry-part", "2/5", NULL),
                        "result:bat_1/3/part2/5");
    /* Requests: each attempt its own event. */
    assert_string_equal(id_of("scrape.requests", "bat_1", "{}", a, sizeof(a), "ferry-index", "3",
                              "ferry-attempt", "1", NULL),
                        "request:bat_1/3/1");
    assert_string_equal(id_of("scrape.retry.30s", "bat_1", "{}", a, sizeof(a), "ferry-index", "3",
                              "ferry-attempt", "2", NULL),
                        "request:bat_1/3/2");
    /* Webhooks: the delivery id and attempt, apart per topic. */
    assert_string_equal(id_of("webhooks", "bat_1", "{}", a, sizeof(a), "ferry-delivery", "dlv_9",
                              "ferry-attempt", "1", NULL),
                        "task:dlv_9/1");
    /* Attempts: a redelivery numbers its attempts from 1 again. */
    id_of("webhooks.attempts", "bat_1", "{\"at\":1}", a, sizeof(a), "ferry-delivery", "dlv_9",
          "ferry-attempt", "1", NULL);
    id_of("webhooks.attempts", "bat_1", "{\"at\":2}", b, sizeof(b), "ferry-delivery", "dlv_9",
          "ferry-attempt", "1", NULL);
    assert_true(strncmp(a, "attempt:bat_1/", 14) == 0);
    assert_string_not_equal(a, b);
    assert_string_equal(id_of("webhooks.dlq", "bat_1", "{}", a, sizeof(a), "ferry-delivery",
                              "dlv_9", "ferry-attempt", "4", NULL),
                        "dead:dlv_9/4");
    /* Dead letters and replies: the record they answer. */
    assert_string_equal(id_of("scrape.dlq", "bat_1", "junk", a, sizeof(a), "ferry-origin",
                              "ferry.scrape.requests/1/42", NULL),
                        "deadletter:ferry.scrape.requests/1/42");
    assert_string_equal(id_of("submit.replies", "key-1", "{}", a, sizeof(a), "ferry-origin",
                              "ferry.submit/0/7", NULL),
                        "accepted:ferry.submit/0/7");
    assert_string_equal(id_of("submit.replies", "key-1", "{}", a, sizeof(a), "ferry-origin",
                              "ferry.submit/0/8", "ferry-outcome", "rejected", NULL),
                        "rejected:ferry.submit/0/8");
    /* Batches and cancels. */
    assert_string_equal(id_of("batches", "bat_1", "{}", a, sizeof(a), "ferry-type", "batch", NULL),
                        "submitted:bat_1");
    assert_string_equal(id_of("batches", "bat_1", "{}", a, sizeof(a), "ferry-type", "cancel", NULL),
                        "cancelled:bat_1");
    /* No identity of its own: the same bytes, the same id; others, another. */
    id_of("batch.status", "bat_1", "{\"processed\":1}", a, sizeof(a), NULL);
    id_of("batch.status", "bat_1", "{\"processed\":1}", b, sizeof(b), NULL);
    assert_string_equal(a, b);
    assert_true(strncmp(a, "status:bat_1/", 13) == 0 && strlen(a) == 13 + 16);
    id_of("batch.status", "bat_1", "{\"processed\":2}", b, sizeof(b), NULL);
    assert_string_not_equal(a, b);
    /* A missing identity header falls back to the content; so does a
     * tombstone, and a key that is not text is hashed. */
    assert_true(strncmp(id_of("scrape.results", "bat_1", "{}", a, sizeof(a), NULL), "result:bat_1/",
                        13) == 0);
    assert_true(strncmp(id_of("aggregate.state", "bat_1", NULL, a, sizeof(a), NULL), "state:bat_1/",
                        12) == 0);
    id_of("aggregate.state", "a\nb", "{}", a, sizeof(a), NULL);
    assert_true(strncmp(a, "state:k", 7) == 0 && !strchr(a, '\n'));
    /* Not ferry's topic. */
    assert_true(strncmp(id_of("../other", "k", "{}", a, sizeof(a), NULL), "message:k/", 10) == 0);
}

int main(void)
{
    log_init("test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_topic_has_a_type),
        cmocka_unit_test(test_headers_of_a_result),
        cmocka_unit_test(test_a_file_keeps_its_content_type),
        cmocka_unit_test(test_ids_are_stable_for_the_same_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
