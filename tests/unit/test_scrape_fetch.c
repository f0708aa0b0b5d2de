/* scrape's fetch path against a local server (testhttp): the worker pool
 * (politeness cap over all workers, timeouts from the real start, body cap,
 * stop with fetches running), the admission key, and one record's whole way
 * on librdkafka's mock cluster: consumed request, fetch, classification,
 * result or retry-tier record (Retry-After honoured), offset stored. */
#include <pthread.h>
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
#include <unistd.h>

#include "emit.h"
#include "fetch.h"
#include "process.h"
#include "request.h"
#include "cfg.h"
#include "clock.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "scan.h"
#include "testhttp.h"

static struct testhttp *srv;

/* ---- the pool alone: a done callback that collects items ---------------- */

struct collected {
    pthread_mutex_t lock;
    struct item *items[256];
    CURLcode rc[256];
    long status[256];
    int n;
};

static void collect(struct item *it, CURLcode rc, void *arg)
{
    struct collected *c = arg;
    long status = 0;
    curl_easy_getinfo(it->x.easy, CURLINFO_RESPONSE_CODE, &status);
    pthread_mutex_lock(&c->lock);
    c->items[c->n] = it;
    c->rc[c->n] = rc;
    c->status[c->n++] = status;
    pthread_mutex_unlock(&c->lock);
}

static int collected(struct collected *c)
{
    pthread_mutex_lock(&c->lock);
    int n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void wait_collected(struct collected *c, int n, int timeout_ms)
{
    int64_t deadline = clk_mono_ms() + timeout_ms;
    while (collected(c) < n && clk_mono_ms() < deadline)
        usleep(2000);
    assert_int_equal(collected(c), n);
}

static void collected_free(struct collected *c)
{
    for (int i = 0; i < c->n; i++)
        item_free(c->items[i]);
    c->n = 0;
}

/* An item as request_parse leaves it, without a source record. */
static struct item *new_item(const char *path, long timeout_ms, long long max_bytes)
{
    struct item *it = calloc(1, sizeof(*it));
    assert_non_null(it);
    char url[256];
    snprintf(url, sizeof(url), "%s%s", testhttp_url(srv), path);
    it->req = json_pack("{s:s}", "url", url);
    it->url = jx_str(it->req, "url", NULL);
    it->timeout_ms = timeout_ms;
    it->max_bytes = max_bytes;
    it->follow_redirects = 1;
    return it;
}

static struct fetch_pool *pool(int workers, int host_connections, struct collected *c)
{
    char err[128];
    struct fetch_conf fc = {.workers = workers,
                            .host_connections = host_connections,
                            .max_redirects = 3,
                            .allow_private = 1,
                            .user_agent = "ferry/test",
                            .connect_timeout_ms = 2000};
    struct fetch_pool *p = fetch_pool_start(&fc, collect, c, err, sizeof(err));
    assert_non_null(p);
    return p;
}

static void test_host_cap_over_all_workers(void **state)
{
    (void)state;
    struct collected c = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct fetch_pool *p = pool(2, 4, &c);
    for (int i = 0; i < 40; i++)
        fetch_pool_submit(p, new_item("/delay/30?tag=fcap", 5000, 1 << 20));
    assert_true(fetch_pool_active(p) > 0);
    wait_collected(&c, 40, 10000);
    assert_int_equal(fetch_pool_active(p), 0);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(c.rc[i], CURLE_OK);
        assert_int_equal(c.status[i], 200);
        assert_string_equal(buf_str(&c.items[i]->x.body), "ok");
    }
    /* Two per worker: the whole stage holds at most four at once. */
    assert_in_range(testhttp_tag(srv, "fcap").max, 1, 4);
    collected_free(&c);
    fetch_pool_stop(p);
}

/* One connection per host: items queue in the stage, not in curl, so each
 * has its whole timeout once it starts. */
static void test_timeout_from_the_real_start(void **state)
{
    (void)state;
    struct collected c = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct fetch_pool *p = pool(1, 1, &c);
    for (int i = 0; i < 4; i++)
        fetch_pool_submit(p, new_item("/delay/200?tag=freal", 500, 1 << 20));
    wait_collected(&c, 4, 10000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(c.rc[i], CURLE_OK);
    assert_int_equal(testhttp_tag(srv, "freal").max, 1);
    collected_free(&c);
    fetch_pool_stop(p);
}

static void test_body_cap(void **state)
{
    (void)state;
    struct collected c = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct fetch_pool *p = pool(1, 4, &c);
    fetch_pool_submit(p, new_item("/bytes/5000", 5000, 1000));
    wait_collected(&c, 1, 5000);
    /* The length is announced: curl refuses it before reading the body. */
    assert_int_equal(c.rc[0], CURLE_FILESIZE_EXCEEDED);
    assert_true(c.items[0]->x.body.len <= 1000);
    collected_free(&c);
    fetch_pool_stop(p);
}

static void test_stop_with_fetches_running(void **state)
{
    (void)state;
    struct collected c = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct fetch_pool *p = pool(2, 2, &c);
    for (int i = 0; i < 6; i++)
        fetch_pool_submit(p, new_item("/hang?tag=fstop", 30000, 1 << 20));
    assert_int_equal(testhttp_wait_open(srv, "fstop", 2, 5000), 0);
    assert_int_equal(fetch_pool_active(p), 6);
    fetch_pool_stop(p); /* the items are freed unfinished: no leak, no done */
    assert_int_equal(collected(&c), 0);
    int64_t deadline = clk_mono_ms() + 5000;
    while (testhttp_tag(srv, "fstop").open > 0 && clk_mono_ms() < deadline)
        usleep(5000);
    assert_int_equal(testhttp_tag(srv, "fstop").open, 0);
}

static void test_host_key(void **state)
{
    (void)state;
    static const struct {
        const char *url, *key;
    } cases[] = {
        {"https://Example.COM/a?b#c", "https://example.com"},
        {"http://user:pw@Host:8080/x", "http://host:8080"},
        {"http://h?q=1", "http://h"},
        {"http://[::1]:81/", "http://[::1]:81"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char key[HTTPC_HOSTKEY_MAX];
        fetch_host_key(cases[i].url, key, sizeof(key));
        assert_string_equal(key, cases[i].key);
    }
    char small[8];
    fetch_host_key("http://example.com/", small, sizeof(small));
    assert_string_equal(small, "http://");
}

/* ---- the whole path on the mock cluster --------------------------------- */

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mcluster;
static struct cfg cfg;
static struct topics topics;

static void produce_request(rd_kafka_t *p, long index, const char *path)
{
    char value[512];
    snprintf(value, sizeof(value),
             "{\"batch_id\":\"bat_f\",\"tenant\":\"acme\",\"index\":%ld,\"url\":\"%s%s\","
             "\"formats\":[\"html\"]}",
             index, testhttp_url(srv), path);
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic_name(&topics, TOPIC_REQUESTS)),
                                       RD_KAFKA_V_KEY("bat_f", 5),
                                       RD_KAFKA_V_VALUE(value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
}

/* The records of a one-partition topic: value, and two headers. */
struct record {
    char value[1024];
    char due[32], attempt[16];
};

struct records {
    struct record r[8];
    int n;
};

static int keep_record(void *arg, const rd_kafka_message_t *msg)
{
    struct records *rs = arg;
    struct record *r = &rs->r[rs->n++];
    snprintf(r->value, sizeof(r->value), "%.*s", (int)msg->len, (const char *)msg->payload);
    kafka_header(msg, "ferry-due-ms", r->due, sizeof(r->due));
    kafka_header(msg, "ferry-attempt", r->attempt, sizeof(r->attempt));
    return rs->n == 8;
}

static void read_topic(const char *name, struct records *rs)
{
    char err[256];
    const int32_t part0 = 0;
    memset(rs, 0, sizeof(*rs));
    rd_kafka_t *c = scan_open(&cfg, "ferry-test", "test-read", err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(scan_read(c, name, &part0, 1, RD_KAFKA_OFFSET_BEGINNING, -1, NULL, keep_record,
                               rs, NULL, 10000, err, sizeof(err)),
                     0);
    kafka_consumer_close(c, 0);
}

static void test_record_to_result_or_retry(void **state)
{
    char err[256];
    char *argv[] = {"t"};
    (void)state;
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof(err));
    mcluster = rd_kafka_mock_cluster_new(mock_owner, 1);
    setenv("FERRY_KAFKA_BROKERS", rd_kafka_mock_cluster_bootstraps(mcluster), 1);
    setenv("FERRY_TOPIC_PREFIX", "ts.", 1);
    setenv("FERRY_SCRAPE_RETRY_TIERS", "1s", 1);
    cfg_init(&cfg, "t", "t");
    cfg_add(&cfg, cfg_common);
    assert_int_equal(cfg_parse(&cfg, 1, argv, err, sizeof(err)), 0);
    assert_int_equal(topics_init(&topics, &cfg, err, sizeof(err)), 0);
    for (int i = 0; i < TOPIC__COUNT; i++)
        rd_kafka_mock_topic_create(mcluster, topics.name[i], 1, 1);
    rd_kafka_mock_topic_create(mcluster, topics.scrape_tier[0], 1, 1);

    /* The producer first: its reports finish items. */
    struct emit em;
    struct process pr;
    rd_kafka_conf_t *pconf = kafka_producer_conf(&cfg, "ferry-test", NULL, err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(pconf, job_dr);
    rd_kafka_conf_set_opaque(pconf, &em.sink);
    rd_kafka_t *producer = kafka_producer_open(pconf, 5000, err, sizeof(err));
    assert_non_null(producer);
    assert_int_equal(emit_init(&em, producer, &topics, 1 << 20), 0);
    process_init(&pr, &em, 60000);
    rd_kafka_t *writer = kafka_producer_open(
        kafka_producer_conf(&cfg, "ferry-test", NULL, err, sizeof(err)), 5000, err, sizeof(err));
    produce_request(writer, 0, "/ok");
    produce_request(writer, 1, "/status/503?retry_after=3");
    produce_request(writer, 2, "/status/404");
    assert_int_equal(kafka_producer_close(writer, 5000), 0);

    rd_kafka_conf_t *cconf = kafka_consumer_conf(&cfg, "ferry-test", "g-scrape", err, sizeof(err));
    const char *req[] = {topic_name(&topics, TOPIC_REQUESTS)};
    rd_kafka_t *consumer = kafka_consumer_open(cconf, req, 1, err, sizeof(err));
    assert_non_null(consumer);
    struct offtrack *ot = offtrack_new(consumer);
    char fe[128];
    struct fetch_conf fc = {.workers = 2,
                            .host_connections = 8,
                            .max_redirects = 3,
                            .allow_private = 1,
                            .user_agent = "ferry/test",
                            .connect_timeout_ms = 2000};
    struct fetch_pool *p = fetch_pool_start(&fc, process_fetched, &pr, fe, sizeof(fe));
    assert_non_null(p);
    const struct request_limits lim = {5000, 10000, 1 << 20, 1 << 20};

    int64_t t0 = clk_now_ms(), deadline = clk_mono_ms() + 30000;
    int taken = 0;
    while (clk_mono_ms() < deadline && (taken < 3 || atomic_load(&em.sink.outstanding) > 0)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 20);
        if (m && !m->err) {
            struct item *it = item_new(&em.sink, m, ot);
            assert_int_equal(request_parse(it, &lim, err, sizeof(err)), 0);
            fetch_pool_submit(p, it);
            taken++;
        }
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_poll(producer, 0);
    }
    assert_int_equal(taken, 3);
    assert_int_equal(atomic_load(&em.sink.outstanding), 0);
    assert_int_equal(offtrack_pending(ot), 0);
    assert_int_equal(offtrack_low_water(ot, req[0], 0), 3);

    struct records rs;
    read_topic(topic_name(&topics, TOPIC_RESULTS), &rs);
    assert_int_equal(rs.n, 2);
    for (int i = 0; i < rs.n; i++) {
        json_t *r = json_loads(rs.r[i].value, 0, NULL);
        assert_non_null(r);
        long long index = jx_int(r, "index", -1);
        if (index == 0) {
            assert_string_equal(jx_str(r, "status", ""), "ok");
            assert_int_equal(jx_int(r, "http_status", 0), 200);
            assert_string_equal(jx_str(json_object_get(r, "data"), "html", ""), "ok");
        } else {
            assert_int_equal(index, 2);
            assert_string_equal(jx_str(r, "status", ""), "not_found");
            assert_int_equal(jx_int(r, "http_status", 0), 404);
        }
        json_decref(r);
    }
    /* The 503 waits in the tier for what the server asked (3 s), more than
     * the tier's own 1 s. */
    read_topic(topics.scrape_tier[0], &rs);
    assert_int_equal(rs.n, 1);
    assert_true(strtoll(rs.r[0].due, NULL, 10) >= t0 + 3000);
    assert_true(strtoll(rs.r[0].due, NULL, 10) <= clk_now_ms() + 3000);
    assert_string_equal(rs.r[0].attempt, "2");

    fetch_pool_stop(p);
    emit_release(&em);
    kafka_producer_close(producer, 1000);
    kafka_consumer_close(consumer, 0);
    offtrack_free(ot);
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(mock_owner);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test", LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srv = testhttp_start();
    return srv ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    testhttp_stop(srv);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_key),
        cmocka_unit_test(test_host_cap_over_all_workers),
        cmocka_unit_test(test_timeout_from_the_real_start),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_stop_with_fetches_running),
        cmocka_unit_test(test_record_to_result_or_retry),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
