/* kafka, delayq and offtrack against librdkafka's mock cluster (fast, no
 * broker; the integration tests use a real one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cfg.h"
#include "clock.h"
#include "delayq.h"
#include "follower.h"
#include "kafka.h"
#include "metrics.h"
#include "log.h"
#include "offtrack.h"
#include "testmock.h"

static void test_conf_applies_properties(void **state)
{
    char err[256], val[64];
    size_t len = sizeof(val);
    (void)state;
    testmock_cfg.props[0][0] = "socket.timeout.ms";
    testmock_cfg.props[0][1] = "12345";
    testmock_cfg.props[1][0] = "linger.ms";
    testmock_cfg.props[1][1] = "50";
    testmock_cfg.n_props = 2;
    rd_kafka_conf_t *conf =
        kafka_producer_conf(&testmock_cfg, "ferry-test", NULL, err, sizeof(err));
    assert_non_null(conf);
    assert_int_equal(rd_kafka_conf_get(conf, "socket.timeout.ms", val, &len), RD_KAFKA_CONF_OK);
    assert_string_equal(val, "12345");
    len = sizeof(val);
    rd_kafka_conf_get(conf, "linger.ms", val, &len); /* the operator's -X beats ferry's default */
    assert_string_equal(val, "50");
    len = sizeof(val);
    rd_kafka_conf_get(conf, "enable.idempotence", val, &len);
    assert_string_equal(val, "true");
    rd_kafka_conf_destroy(conf);

    testmock_cfg.props[1][0] = "no.such.property";
    assert_null(kafka_conf_new(&testmock_cfg, "ferry-test", err, sizeof(err)));
    assert_non_null(strstr(err, "no.such.property=50"));
    testmock_cfg.n_props = 0;
}

static rd_kafka_t *producer(void)
{
    char err[256];
    rd_kafka_conf_t *conf =
        kafka_producer_conf(&testmock_cfg, "ferry-test", NULL, err, sizeof(err));
    rd_kafka_t *rk = kafka_producer_open(conf, 5000, err, sizeof(err));
    assert_non_null(rk);
    return rk;
}

static void produce(rd_kafka_t *rk, const char *topic, const char *key, const char *value,
                    int64_t due_ms)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    if (due_ms)
        delayq_add_headers(h, 2, due_ms, clk_now_ms(), "http 500", NULL);
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_HEADERS(h),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    assert_int_equal(err, 0);
}

/* Callers name groups bare ("ferry-scrape"); the topic prefix goes in once,
 * and not at all under the default prefix (the groups' historical names). */
static void test_consumer_group_prefixed_once(void **state)
{
    char err[256], val[128];
    char *argv[] = {"t"};
    struct cfg c;
    (void)state;
    setenv("FERRY_TOPIC_PREFIX", "man1.", 1);
    cfg_init(&c, "t", "t");
    cfg_add(&c, cfg_common);
    assert_int_equal(cfg_parse(&c, 1, argv, err, sizeof(err)), 0);
    unsetenv("FERRY_TOPIC_PREFIX");
    const char *names[] = {"ferry-ingest-follow", "ferry-scrape"};
    const char *want[] = {"man1.ferry-ingest-follow", "man1.ferry-scrape"};
    for (int i = 0; i < 2; i++) {
        size_t len = sizeof(val);
        rd_kafka_conf_t *conf = kafka_consumer_conf(&c, "t", names[i], err, sizeof(err));
        assert_non_null(conf);
        assert_int_equal(rd_kafka_conf_get(conf, "group.id", val, &len), RD_KAFKA_CONF_OK);
        assert_string_equal(val, want[i]);
        rd_kafka_conf_destroy(conf);
    }
    size_t len = sizeof(val);
    rd_kafka_conf_t *conf =
        kafka_consumer_conf(&testmock_cfg, "t", "ferry-ingest-follow", err, sizeof(err));
    assert_non_null(conf);
    rd_kafka_conf_get(conf, "group.id", val, &len);
    assert_string_equal(val, "ferry-ingest-follow");
    rd_kafka_conf_destroy(conf);
}

/* Followers on one hub: each gets its own topics' records, numbered in its
 * own list, over one consumer; a topic is followed once; a closed follower
 * hears nothing more while the other goes on. */
struct heard {
    atomic_int n;
    atomic_int bad_topic;
};

static void on_heard(void *arg, int topic, const rd_kafka_message_t *m)
{
    struct heard *h = arg;
    (void)m;
    if (topic != 0)
        atomic_store(&h->bad_topic, 1);
    atomic_fetch_add(&h->n, 1);
}

static void test_follower_hub_shares_one_consumer(void **state)
{
    char err[256];
    struct heard ha = {0}, hb = {0};
    (void)state;
    rd_kafka_mock_topic_create(testmock_cluster, "t.hub.a", 2, 1);
    rd_kafka_mock_topic_create(testmock_cluster, "t.hub.b", 3, 1);
    rd_kafka_t *rk = producer();
    for (int i = 0; i < 3; i++)
        produce(rk, "t.hub.a", i ? "k1" : "k2", "{}", 0);
    for (int i = 0; i < 2; i++)
        produce(rk, "t.hub.b", i ? "k3" : "k4", "{}", 0);
    assert_int_equal(rd_kafka_flush(rk, 5000), 0);

    struct follower_hub *hub =
        follower_hub_open(&testmock_cfg, "t", "ferry-test-follow", 0, err, sizeof(err));
    assert_non_null(hub);
    const char *ta[] = {"t.hub.a"}, *tb[] = {"t.hub.b"};
    struct follower *fa = follower_open_on(hub, ta, 1, on_heard, &ha, err, sizeof(err));
    struct follower *fb = follower_open_on(hub, tb, 1, on_heard, &hb, err, sizeof(err));
    assert_non_null(fa);
    assert_non_null(fb);
    assert_null(follower_open_on(hub, ta, 1, on_heard, &hb, err, sizeof(err)));
    assert_int_equal(follower_wait_caught_up(fa, 10000), 0);
    assert_int_equal(follower_wait_caught_up(fb, 10000), 0);
    assert_int_equal(atomic_load(&ha.n), 3);
    assert_int_equal(atomic_load(&hb.n), 2);
    assert_int_equal(follower_partitions(fb, 0), 3);

    follower_close(fa);
    produce(rk, "t.hub.a", "k1", "{}", 0);
    produce(rk, "t.hub.b", "k3", "{}", 0);
    assert_int_equal(rd_kafka_flush(rk, 5000), 0);
    int32_t p = kafka_murmur2_partition("k3", 2, 3);
    assert_int_equal(follower_wait_end(fb, 0, p, 10000, err, sizeof(err)), 0);
    assert_int_equal(atomic_load(&hb.n), 3);
    assert_int_equal(atomic_load(&ha.n), 3);
    assert_int_equal(atomic_load(&ha.bad_topic) | atomic_load(&hb.bad_topic), 0);
    follower_close(fb);
    follower_hub_close(hub);
    kafka_producer_close(rk, 5000);
}

static void test_delivery_reports_are_counted(void **state)
{
    (void)state;
    rd_kafka_mock_topic_create(testmock_cluster, "t.dr", 3, 1);
    long long before = atomic_load(&kafka_stats.delivered);
    rd_kafka_t *rk = producer();
    for (int i = 0; i < 20; i++)
        produce(rk, "t.dr", "bat_1", "{}", 0);
    assert_int_equal(kafka_producer_close(rk, 5000), 0);
    assert_int_equal(atomic_load(&kafka_stats.delivered) - before, 20);

    /* A non-retriable broker error fails the delivery: counted, not silent. */
    long long failed = atomic_load(&kafka_stats.failed);
    rk = producer();
    /* ApiKey 0 is Produce (the RD_KAFKAP_* names are not public). */
    rd_kafka_mock_push_request_errors(testmock_cluster, 0, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    produce(rk, "t.dr", "bat_1", "{}", 0);
    kafka_producer_close(rk, 5000);
    assert_int_equal(atomic_load(&kafka_stats.failed) - failed, 1);
}

/* A producer whose local queue holds one message. */
static rd_kafka_t *small_queue_producer(void)
{
    testmock_cfg.props[0][0] = "queue.buffering.max.messages";
    testmock_cfg.props[0][1] = "1";
    testmock_cfg.n_props = 1;
    rd_kafka_t *rk = producer();
    testmock_cfg.n_props = 0;
    return rk;
}

static rd_kafka_resp_err_t produce_wait(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "ferry-batch", -1, "bat_1", -1);
    struct kafka_msg m = {.topic = topic,
                          .partition = RD_KAFKA_PARTITION_UA,
                          .key = "bat_1",
                          .key_len = 5,
                          .value = "{}",
                          .len = 2,
                          .msgflags = RD_KAFKA_MSG_F_COPY,
                          .headers = h};
    rd_kafka_resp_err_t err = kafka_produce_wait(rk, &m, timeout_ms);
    if (err)
        rd_kafka_headers_destroy(h); /* still ours on failure */
    return err;
}

static void test_produce_wait_waits_out_a_full_queue(void **state)
{
    (void)state;
    rd_kafka_mock_topic_create(testmock_cluster, "t.full", 2, 1);
    long long before = atomic_load(&kafka_stats.delivered);
    rd_kafka_t *rk = small_queue_producer();
    /* Every message past the first finds the queue full and waits for the
     * previous one's delivery report. */
    for (int i = 0; i < 50; i++)
        assert_int_equal(produce_wait(rk, "t.full", 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(kafka_producer_close(rk, 5000), 0);
    assert_int_equal(atomic_load(&kafka_stats.delivered) - before, 50);
}

static void test_produce_wait_gives_up_at_the_deadline(void **state)
{
    (void)state;
    rd_kafka_mock_topic_create(testmock_cluster, "t.stuck", 1, 1);
    rd_kafka_t *rk = small_queue_producer();
    assert_int_equal(produce_wait(rk, "t.stuck", 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_mock_broker_set_down(testmock_cluster, 1); /* nothing is delivered now */
    /* The queue is full after this, whether or not the first message was
     * delivered before the broker went down. */
    for (int i = 0; i < 2; i++)
        produce_wait(rk, "t.stuck", 0);
    int64_t t0 = clk_mono_ms();
    assert_int_equal(produce_wait(rk, "t.stuck", 300), RD_KAFKA_RESP_ERR__QUEUE_FULL);
    int64_t waited = clk_mono_ms() - t0;
    assert_true(waited >= 300 && waited < 3000);
    /* A refusal other than a full queue returns at once, and hands the
     * headers back as they were, without the event headers it added. */
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "ferry-batch", -1, "bat_1", -1);
    struct kafka_msg big = {.topic = "t.stuck",
                            .partition = RD_KAFKA_PARTITION_UA,
                            .value = calloc(1, 64 << 20),
                            .len = 64 << 20,
                            .msgflags = RD_KAFKA_MSG_F_COPY,
                            .headers = h};
    assert_int_equal(kafka_produce_wait(rk, &big, 5000), RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    assert_int_equal(rd_kafka_header_cnt(h), 1);
    rd_kafka_headers_destroy(h);
    free(big.value);
    rd_kafka_mock_broker_set_up(testmock_cluster, 1);
    assert_int_equal(kafka_producer_close(rk, 10000), 0);
}

static void test_murmur2_matches_java(void **state)
{
    /* Kafka's UtilsTest.testMurmur2 vectors (signed 32-bit results). */
    static const struct {
        const char *key;
        int32_t hash;
    } cases[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int32_t want = (int32_t)(((uint32_t)cases[i].hash & 0x7fffffff) % 1000u);
        assert_int_equal(kafka_murmur2_partition(cases[i].key, strlen(cases[i].key), 1000), want);
    }
}

static int32_t dr_partition;
static void dr_record(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    kafka_dr_default(rk, msg, opaque);
    dr_partition = msg->partition;
}

static void test_producer_partitions_like_murmur2(void **state)
{
    char err[256];
    (void)state;
    rd_kafka_mock_topic_create(testmock_cluster, "t.part", 6, 1);
    rd_kafka_conf_t *conf =
        kafka_producer_conf(&testmock_cfg, "ferry-test", NULL, err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(conf, dr_record);
    rd_kafka_t *rk = kafka_producer_open(conf, 5000, err, sizeof(err));
    static const char *const keys[] = {"bat_01JD0", "bat_01JD1", "bat_ZZZ", "x", "bat_42"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        dr_partition = -1;
        produce(rk, "t.part", keys[i], "{}", 0);
        rd_kafka_flush(rk, 5000);
        assert_int_equal(dr_partition, kafka_murmur2_partition(keys[i], strlen(keys[i]), 6));
    }
    kafka_producer_close(rk, 1000);
}

/* Polls until the group gave the consumer its partitions (the mock
 * coordinator takes a few seconds to form a group). */
static void wait_assigned(rd_kafka_t *c, struct delayq *dq)
{
    int64_t deadline = clk_mono_ms() + 20000;
    rd_kafka_topic_partition_list_t *a = NULL;
    while (clk_mono_ms() < deadline) {
        if (dq) {
            rd_kafka_message_t *m = delayq_poll(dq, 100);
            assert_null(m); /* nothing produced yet */
        } else {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
            if (m)
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assignment(c, &a);
        int n = a->cnt;
        rd_kafka_topic_partition_list_destroy(a);
        if (n > 0)
            return;
    }
    fail_msg("no partitions assigned in 20 s");
}

static void test_consumer_stores_offsets_by_hand(void **state)
{
    char err[256];
    (void)state;
    rd_kafka_mock_topic_create(testmock_cluster, "t.cons", 1, 1);
    rd_kafka_t *p = producer();
    for (int i = 0; i < 10; i++)
        produce(p, "t.cons", "k", "v", 0);
    kafka_producer_close(p, 5000);

    rd_kafka_conf_t *conf =
        kafka_consumer_conf(&testmock_cfg, "ferry-test", "g-cons", err, sizeof(err));
    const char *topics[] = {"t.cons"};
    rd_kafka_t *c = kafka_consumer_open(conf, topics, 1, err, sizeof(err));
    assert_non_null(c);
    int got = 0;
    int64_t deadline = clk_mono_ms() + 10000;
    while (got < 10 && clk_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err && ++got <= 4) /* only the first 4 count as done */
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, 10);
    kafka_consumer_close(c, 0);

    /* Only the stored offsets were committed (on close): the group resumes
     * after the last message marked done, not after the last one read. */
    conf = kafka_consumer_conf(&testmock_cfg, "ferry-test", "g-cons", err, sizeof(err));
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(committed, "t.cons", 0);
    assert_int_equal(rd_kafka_committed(c, committed, 10000), 0);
    assert_int_equal(committed->elems[0].offset, 4);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_destroy(c);
}

static void test_consumer_lag(void **state)
{
    char err[256];
    (void)state;
    rd_kafka_mock_topic_create(testmock_cluster, "t.lag", 2, 1);
    rd_kafka_t *p = producer();
    for (int i = 0; i < 12; i++)
        produce(p, "t.lag", i % 2 ? "a" : "b", "v", 0);
    kafka_producer_close(p, 5000);

    rd_kafka_conf_t *conf =
        kafka_consumer_conf(&testmock_cfg, "ferry-test", "g-lag", err, sizeof(err));
    const char *topics[] = {"t.lag"};
    rd_kafka_t *c = kafka_consumer_open(conf, topics, 1, err, sizeof(err));
    assert_non_null(c);
    /* Consume 5 of the 12 and stop polling: 7 are left, once the cached
     * watermarks have caught up with the fetches. */
    int got = 0;
    long long lag = -1;
    int64_t deadline = clk_mono_ms() + 10000;
    while (clk_mono_ms() < deadline && lag != 7) {
        if (got < 5) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
            if (m && !m->err)
                got++;
            if (m)
                rd_kafka_message_destroy(m);
        } else {
            /* The watermarks are cached by librdkafka's own threads. */
            lag = kafka_consumer_lag(c);
            if (lag != 7)
                usleep(20 * 1000);
        }
    }
    assert_int_equal(got, 5);
    assert_int_equal(lag, 7);

    /* /metrics shows the same lag, one series per partition with a position. */
    static const char series[] =
        "ferry_kafka_consumer_lag{group=\"g-lag\",topic=\"t.lag\",partition=\"";
    char *text = metrics_render();
    long long sum = 0;
    int n = 0;
    for (const char *p2 = strstr(text, series); p2; p2 = strstr(p2 + 1, series)) {
        const char *v = strstr(p2, "} ");
        assert_non_null(v);
        sum += atoll(v + 2);
        n++;
    }
    free(text);
    assert_true(n >= 1 && n <= 2);
    assert_int_equal(sum, 7);
    kafka_consumer_close(c, 0);
    text = metrics_render(); /* a closed consumer's partitions leave the output */
    assert_null(strstr(text, series));
    free(text);
}

static void test_delayq_holds_until_due(void **state)
{
    char err[256];
    (void)state;
    rd_kafka_mock_topic_create(testmock_cluster, "t.tier", 2, 1);
    const char *topics[] = {"t.tier"};
    struct delayq *dq =
        delayq_open(&testmock_cfg, "ferry-test", "g-tier", topics, 1, err, sizeof(err));
    assert_non_null(dq);
    wait_assigned(delayq_consumer(dq), dq);

    /* One key per partition. */
    const char *k0 = NULL, *k1 = NULL;
    static const char *const keys[] = {"a", "b", "c", "d", "e", "f"};
    for (size_t i = 0; i < 6; i++) {
        int32_t part = kafka_murmur2_partition(keys[i], 1, 2);
        if (part == 0 && !k0)
            k0 = keys[i];
        if (part == 1 && !k1)
            k1 = keys[i];
    }
    rd_kafka_t *p = producer();
    int64_t now = clk_now_ms();
    produce(p, "t.tier", k0, "late", now + 1500);  /* partition 0: due in 1.5 s */
    produce(p, "t.tier", k0, "later", now + 1600); /* behind it, same partition */
    produce(p, "t.tier", k1, "due", now - 10);     /* partition 1: due already */
    kafka_producer_close(p, 5000);

    int64_t start = clk_mono_ms();
    char order[3][8];
    int64_t at[3];
    int n = 0;
    while (n < 3 && clk_mono_ms() - start < 10000) {
        rd_kafka_message_t *m = delayq_poll(dq, 200);
        if (delayq_parked(dq) > 0) {
            int64_t in = delayq_next_due_in(dq);
            assert_true(in >= 0 && in <= 1600);
        }
        if (!m)
            continue;
        snprintf(order[n], sizeof(order[n]), "%.*s", (int)m->len, (const char *)m->payload);
        at[n++] = clk_now_ms();
        offtrack_begin(delayq_offtrack(dq), m);
        offtrack_done(delayq_offtrack(dq), "t.tier", m->partition, m->offset);
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(n, 3);
    assert_int_equal(delayq_next_due_in(dq), -1); /* nothing parked any more */
    /* The due record is not held behind the parked partition. */
    assert_string_equal(order[0], "due");
    assert_true(at[0] - now < 1400);
    assert_string_equal(order[1], "late");
    assert_string_equal(order[2], "later");
    assert_true(at[1] >= now + 1500);
    assert_true(at[1] <= now + 1500 + 1000); /* within a second of its due time */
    assert_true(at[2] >= now + 1600);
    assert_int_equal(offtrack_pending(delayq_offtrack(dq)), 0);
    assert_int_equal(delayq_parked(dq), 0);
    delayq_close(dq);
}

static void test_offtrack_stores_the_done_prefix(void **state)
{
    char err[256];
    (void)state;
    rd_kafka_mock_topic_create(testmock_cluster, "t.ot", 1, 1);
    rd_kafka_t *p = producer();
    for (int i = 0; i < 5; i++)
        produce(p, "t.ot", "k", "v", 0);
    kafka_producer_close(p, 5000);
    rd_kafka_conf_t *conf =
        kafka_consumer_conf(&testmock_cfg, "ferry-test", "g-ot", err, sizeof(err));
    const char *topics[] = {"t.ot"};
    rd_kafka_t *c = kafka_consumer_open(conf, topics, 1, err, sizeof(err));
    struct offtrack *ot = offtrack_new(c);
    int got = 0;
    int64_t deadline = clk_mono_ms() + 10000;
    while (got < 5 && clk_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err) {
            offtrack_begin(ot, m);
            got++;
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, 5);
    assert_int_equal(offtrack_pending(ot), 5);
    assert_int_equal(offtrack_low_water(ot, "t.ot", 0), 0);
    offtrack_done(ot, "t.ot", 0, 3); /* out of order: nothing below is done */
    offtrack_done(ot, "t.ot", 0, 1);
    assert_int_equal(offtrack_low_water(ot, "t.ot", 0), 0);
    offtrack_done(ot, "t.ot", 0, 0); /* 0 and 1 done: low water 2 */
    assert_int_equal(offtrack_low_water(ot, "t.ot", 0), 2);
    offtrack_done(ot, "t.ot", 0, 2); /* 0..3 done: low water 4 */
    assert_int_equal(offtrack_low_water(ot, "t.ot", 0), 4);
    offtrack_done(ot, "t.ot", 0, 2);  /* twice: ignored */
    offtrack_done(ot, "t.ot", 0, 99); /* unknown: ignored */
    assert_int_equal(offtrack_pending(ot), 1);
    offtrack_done(ot, "t.ot", 0, 4);
    assert_int_equal(offtrack_low_water(ot, "t.ot", 0), 5);
    assert_int_equal(offtrack_pending(ot), 0);

    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(committed, "t.ot", 0);
    rd_kafka_commit(c, NULL, 0); /* commit the stored offsets now */
    rd_kafka_committed(c, committed, 5000);
    assert_int_equal(committed->elems[0].offset, 5);
    rd_kafka_topic_partition_list_destroy(committed);
    offtrack_free(ot);
    kafka_consumer_close(c, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_applies_properties),
        cmocka_unit_test(test_consumer_group_prefixed_once),
        cmocka_unit_test(test_delivery_reports_are_counted),
        cmocka_unit_test(test_produce_wait_waits_out_a_full_queue),
        cmocka_unit_test(test_produce_wait_gives_up_at_the_deadline),
        cmocka_unit_test(test_murmur2_matches_java),
        cmocka_unit_test(test_producer_partitions_like_murmur2),
        cmocka_unit_test(test_consumer_stores_offsets_by_hand),
        cmocka_unit_test(test_consumer_lag),
        cmocka_unit_test(test_follower_hub_shares_one_consumer),
        cmocka_unit_test(test_delayq_holds_until_due),
        cmocka_unit_test(test_offtrack_stores_the_done_prefix),
    };
    return cmocka_run_group_tests(tests, testmock_setup, testmock_teardown);
}
