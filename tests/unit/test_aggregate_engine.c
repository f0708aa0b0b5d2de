/* The aggregator's loop against librdkafka's mock cluster: records in,
 * status and webhook tasks out; a rebalance (another member joins the
 * group, then leaves) is acted on by the loop, the batches' state moving
 * through the changelog, and a batch begun before it completes exactly once
 * after it; the usage rows add up to the batches' counts and each delivery
 * id counts once. Links the stage's objects. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "changes.h"
#include "clock.h"
#include "engine.h"
#include "ids.h"
#include "jx.h"
#include "kafka.h"
#include "scan.h"
#include "shutdown.h"
#include "usagerec.h"

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mcluster;
static struct stage st;

static int setup(void **state)
{
    char err[256];
    char *argv[] = {"t"};
    (void)state;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    mcluster = rd_kafka_mock_cluster_new(mock_owner, 1);
    setenv("FERRY_KAFKA_BROKERS", rd_kafka_mock_cluster_bootstraps(mcluster), 1);
    setenv("FERRY_TOPIC_PREFIX", "e.", 1);
    setenv("FERRY_TOPIC_PARTITIONS", "2", 1);
    setenv("FERRY_LOG_LEVEL", "error", 1);
    if (stage_init(&st, "aggregate", "test", NULL, 1, argv))
        return -1;
    /* Every topic up front, so provisioning finds them. */
    for (int i = 0; i < TOPIC__COUNT; i++)
        rd_kafka_mock_topic_create(mcluster, topic_name(&st.topics, i), 2, 1);
    for (size_t i = 0; i < st.topics.n_webhook_tiers; i++)
        rd_kafka_mock_topic_create(mcluster, st.topics.webhook_tier[i], 2, 1);
    for (size_t i = 0; i < st.topics.n_scrape_tiers; i++)
        rd_kafka_mock_topic_create(mcluster, st.topics.scrape_tier[i], 2, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(mock_owner);
    return 0;
}

static void *run(void *arg)
{
    engine_run(arg);
    return NULL;
}

static void put(rd_kafka_t *p, int topic, const char *key, const char *value, const char *type)
{
    rd_kafka_headers_t *h = NULL;
    if (type) {
        h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, "ferry-type", -1, type, -1);
    }
    struct kafka_msg m = {.topic = topic_name(&st.topics, topic),
                          .partition = RD_KAFKA_PARTITION_UA,
                          .key = key,
                          .key_len = strlen(key),
                          .value = (void *)value,
                          .len = strlen(value),
                          .msgflags = RD_KAFKA_MSG_F_COPY,
                          .headers = h};
    assert_int_equal(kafka_produce_wait(p, &m, 5000), 0);
    assert_int_equal(rd_kafka_flush(p, 5000), 0);
}

static void put_batch(rd_kafka_t *p, const char *id, int total)
{
    char rec[512];
    snprintf(rec, sizeof(rec),
             "{\"type\":\"batch\",\"id\":\"%s\",\"tenant\":\"acme\",\"total\":%d,"
             "\"created_at\":\"%s\",\"metadata\":{},\"webhook\":{\"url\":\"https://r/h\","
             "\"events\":[\"batch.completed\"],\"secret_enc\":\"v1.x\"}}",
             id, total, "2099-01-01T00:00:00Z");
    put(p, TOPIC_BATCHES, id, rec, "batch");
}

static void put_result(rd_kafka_t *p, const char *id, int index, const char *extra)
{
    char res[512];
    snprintf(res, sizeof(res),
             "{\"batch_id\":\"%s\",\"tenant\":\"acme\",\"index\":%d,\"status\":\"ok\",%s"
             "\"data\":{\"text\":\"item %d\"}}",
             id, index, extra, index);
    put(p, TOPIC_RESULTS, id, res, NULL);
}

struct tasks {
    int completed;
    char ids[8][IDS_BATCH_LEN];
    long long processed[8];
};

static int on_task(void *arg, const rd_kafka_message_t *m)
{
    struct tasks *t = arg;
    char why[128];
    json_t *task = jx_parse(m->payload, m->len, 8, why, sizeof(why));
    const char *body = jx_str(task, "body", "{}");
    json_t *b = jx_parse(body, strlen(body), 64, why, sizeof(why));
    if (t->completed < 8 && strcmp(jx_str(b, "event", ""), "batch.completed") == 0) {
        snprintf(t->ids[t->completed], IDS_BATCH_LEN, "%s", jx_str(b, "id", ""));
        t->processed[t->completed++] = json_array_size(json_object_get(b, "results"));
    }
    json_decref(b);
    json_decref(task);
    return 0;
}

/* The batch.completed tasks so far, once there are `want`. */
static struct tasks wait_tasks(rd_kafka_t *reader, int want)
{
    char err[256];
    int32_t parts[] = {0, 1};
    int64_t deadline = clk_mono_ms() + 30000;
    for (;;) {
        struct tasks t = {0};
        if (scan_read(reader, topic_name(&st.topics, TOPIC_WEBHOOKS), parts, 2,
                      RD_KAFKA_OFFSET_BEGINNING, -1, NULL, on_task, &t, NULL, 10000, err,
                      sizeof(err)))
            fail_msg("scan: %s", err);
        if (t.completed >= want || clk_mono_ms() > deadline)
            return t;
        usleep(200 * 1000); /* polled until the deadline above */
    }
}

struct progress {
    const char *id;
    long long processed;
};

static int on_status(void *arg, const rd_kafka_message_t *m)
{
    struct progress *pr = arg;
    char why[128];
    json_t *doc = jx_parse(m->payload, m->len, 16, why, sizeof(why));
    if (strcmp(jx_str(doc, "id", ""), pr->id) == 0)
        pr->processed = jx_int(doc, "processed", 0);
    json_decref(doc);
    return 0;
}

/* Waits until the latest status document of `id` counts `processed`: it
 * committed, with the batch's changelog record in the same transaction. */
static void wait_status(rd_kafka_t *reader, const char *id, long long processed)
{
    char err[256];
    int32_t parts[] = {0, 1};
    int64_t deadline = clk_mono_ms() + 30000;
    struct progress pr = {id, 0};
    while (pr.processed != processed) {
        if (clk_mono_ms() > deadline)
            fail_msg("%s: processed %lld, not %lld", id, pr.processed, processed);
        if (scan_read(reader, topic_name(&st.topics, TOPIC_STATUS), parts, 2,
                      RD_KAFKA_OFFSET_BEGINNING, -1, NULL, on_status, &pr, NULL, 10000, err,
                      sizeof(err)))
            fail_msg("scan: %s", err);
    }
}

/* A second member of the aggregator's group: joining takes partitions from
 * the engine, closing gives them back. */
static rd_kafka_t *join_group(void)
{
    char err[256];
    rd_kafka_conf_t *conf =
        kafka_consumer_conf(&st.cfg, st.client_id, "ferry-aggregate", err, sizeof(err));
    assert_non_null(conf);
    assert_int_equal(
        kafka_conf_set(conf, "partition.assignment.strategy", "range", err, sizeof(err)), 0);
    const char *inputs[] = {topic_name(&st.topics, TOPIC_BATCHES),
                            topic_name(&st.topics, TOPIC_RESULTS),
                            topic_name(&st.topics, TOPIC_ATTEMPTS)};
    rd_kafka_t *c = kafka_consumer_open(conf, inputs, 3, err, sizeof(err));
    assert_non_null(c);
    int64_t deadline = clk_mono_ms() + 30000;
    rd_kafka_topic_partition_list_t *a = NULL;
    int n = 0;
    while (n == 0 && clk_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_assignment(c, &a);
        n = a->cnt;
        rd_kafka_topic_partition_list_destroy(a);
    }
    /* Range over two partitions of the three inputs: one of each is its. */
    assert_int_equal(n, 3);
    return c;
}

/* A deliver attempt record of `event` (item >= 0: item.completed's index). */
static void put_attempt(rd_kafka_t *p, const char *id, const char *event, int item,
                        const char *outcome)
{
    char rec[512], dlv[IDS_DELIVERY_LEN], index[32] = "";
    ids_delivery(id, event, item, dlv);
    if (item >= 0)
        snprintf(index, sizeof(index), "\"index\":%d,", item);
    snprintf(rec, sizeof(rec),
             "{\"delivery_id\":\"%s\",\"batch_id\":\"%s\",\"tenant\":\"acme\","
             "\"event\":\"%s\",%s\"attempt\":1,\"outcome\":\"%s\"}",
             dlv, id, event, index, outcome);
    put(p, TOPIC_ATTEMPTS, id, rec, NULL);
}

/* The newest record of each usage row (cumulative: it is the row). */
struct usage_last {
    struct usagerec rows[16];
    size_t n;
};

static int on_usage(void *arg, const rd_kafka_message_t *m)
{
    struct usage_last *last = arg;
    struct usagerec r;
    char key[USAGEREC_KEY_MAX], k[USAGEREC_KEY_MAX];
    if (!m->payload || usagerec_parse(&r, m->payload, m->len))
        fail_msg("not a usage record at offset %lld", (long long)m->offset);
    usagerec_key(&r, key);
    assert_int_equal(m->key_len, strlen(key));
    assert_memory_equal(m->key, key, m->key_len);
    assert_int_equal(r.partition, m->partition);
    for (size_t i = 0; i < last->n; i++) {
        usagerec_key(&last->rows[i], k);
        if (strcmp(k, key) == 0) {
            last->rows[i] = r;
            return 0;
        }
    }
    assert_true(last->n < 16);
    last->rows[last->n++] = r;
    return 0;
}

/* acme's usage (its rows added up), once it has `delivered` webhooks. */
static struct usage_counts wait_usage(rd_kafka_t *reader, long long delivered)
{
    char err[256];
    int32_t parts[] = {0, 1};
    int64_t deadline = clk_mono_ms() + 30000;
    for (;;) {
        struct usage_last last = {0};
        struct usage_counts sum = {0};
        if (scan_read(reader, topic_name(&st.topics, TOPIC_USAGE), parts, 2,
                      RD_KAFKA_OFFSET_BEGINNING, -1, NULL, on_usage, &last, NULL, 10000, err,
                      sizeof(err)))
            fail_msg("scan: %s", err);
        for (size_t i = 0; i < last.n; i++)
            if (strcmp(last.rows[i].tenant, "acme") == 0)
                usage_counts_add(&sum, &last.rows[i].c);
        if (sum.webhooks_delivered >= delivered || clk_mono_ms() > deadline)
            return sum;
        usleep(200 * 1000); /* polled until the deadline above */
    }
}

static int on_dead(void *arg, const rd_kafka_message_t *m)
{
    (void)m;
    (*(int *)arg)++;
    return 0;
}

/* Waits until aggregate.dlq holds `n` records. */
static void wait_dead_letters(rd_kafka_t *reader, int n)
{
    char err[256];
    int32_t parts[] = {0, 1};
    int64_t deadline = clk_mono_ms() + 30000;
    for (int got = 0; got < n;) {
        if (clk_mono_ms() > deadline)
            fail_msg("%d dead letters, not %d", got, n);
        got = 0;
        if (scan_read(reader, topic_name(&st.topics, TOPIC_AGGREGATE_DLQ), parts, 2,
                      RD_KAFKA_OFFSET_BEGINNING, -1, NULL, on_dead, &got, NULL, 10000, err,
                      sizeof(err)))
            fail_msg("scan: %s", err);
    }
}

/* The body of the first task of `event` for batch `id` (new reference), or
 * NULL. */
struct find_task {
    const char *id, *event;
    json_t *body;
    int n;
};

static int on_find_task(void *arg, const rd_kafka_message_t *m)
{
    struct find_task *f = arg;
    char why[128];
    json_t *task = jx_parse(m->payload, m->len, 8, why, sizeof(why));
    if (strcmp(jx_str(task, "batch_id", ""), f->id) == 0 &&
        strcmp(jx_str(task, "event", ""), f->event) == 0) {
        const char *body = jx_str(task, "body", "{}");
        if (!f->body)
            f->body = jx_parse(body, strlen(body), 64, why, sizeof(why));
        f->n++;
    }
    json_decref(task);
    return 0;
}

static int count_tasks(rd_kafka_t *tap, const char *id, const char *event, json_t **body)
{
    char err[256];
    int32_t parts[] = {0, 1};
    struct find_task f = {id, event, NULL, 0};
    if (scan_read(tap, topic_name(&st.topics, TOPIC_WEBHOOKS), parts, 2, RD_KAFKA_OFFSET_BEGINNING,
                  -1, NULL, on_find_task, &f, NULL, 10000, err, sizeof(err)))
        fail_msg("scan: %s", err);
    if (body)
        *body = f.body;
    else
        json_decref(f.body);
    return f.n;
}

struct change_rows {
    int32_t partition;
    int n;
    char keys[4][CHANGES_KEY_MAX], hashes[4][CHANGES_HASH_LEN];
};

static int on_change(void *arg, const rd_kafka_message_t *m)
{
    struct change_rows *c = arg;
    char why[128];
    json_t *v = jx_parse(m->payload, m->len, 8, why, sizeof(why));
    if (c->n < 4 && m->key_len < CHANGES_KEY_MAX) {
        c->partition = m->partition;
        memcpy(c->keys[c->n], m->key, m->key_len);
        c->keys[c->n][m->key_len] = '\0';
        snprintf(c->hashes[c->n++], CHANGES_HASH_LEN, "%s", jx_str(v, "hash", ""));
    }
    json_decref(v);
    return 0;
}

/* A run of a schedule that tracks changes: its end sends schedule.run (the
 * only event it asked for) with the schedule's members and the verdicts
 * counted, and each fetched input's hash is remembered on the partition of
 * the schedule id, in the transaction that counted it; a failed one's is
 * not. */
static void check_schedule_run(rd_kafka_t *feed, rd_kafka_t *tap)
{
    const char *sch = "sch_01M816TZ7MSG7GBE1TYYCV6RYA";
    char run[IDS_BATCH_LEN], rec[1024], key[3][CHANGES_KEY_MAX], extra[300];
    assert_int_equal(ids_schedule_run(sch, 1794000000000LL, run), 0);
    snprintf(rec, sizeof(rec),
             "{\"type\":\"batch\",\"id\":\"%s\",\"tenant\":\"acme\",\"total\":3,"
             "\"created_at\":\"2099-01-01T00:00:00Z\",\"metadata\":{},\"schedule_id\":\"%s\","
             "\"scheduled_for\":\"2026-11-05T08:00:00Z\",\"track_changes\":true,"
             "\"webhook\":{\"url\":\"https://r/h\",\"events\":[\"schedule.run\"],"
             "\"secret_enc\":\"v1.x\"}}",
             run, sch);
    put(feed, TOPIC_BATCHES, run, rec, "batch");
    const char *verdict[] = {"\"new\"", "\"same\"", "null"};
    const char *hash[] = {"\"00000000000000a0\"", "\"00000000000000a1\"", "null"};
    for (int i = 0; i < 3; i++) {
        changes_key(sch,
                    i == 0   ? "000000000000000a"
                    : i == 1 ? "000000000000000b"
                             : "000000000000000c",
                    key[i]);
        snprintf(extra, sizeof(extra), "\"change\":%s,\"change_key\":\"%s\",\"content_hash\":%s,",
                 verdict[i], key[i], hash[i]);
        put_result(feed, run, i, extra);
    }
    json_t *body = NULL;
    int64_t deadline = clk_mono_ms() + 30000;
    while (count_tasks(tap, run, "schedule.run", &body) == 0 && clk_mono_ms() < deadline)
        usleep(100 * 1000); /* polled until the deadline */
    assert_non_null(body);
    assert_string_equal(jx_str(body, "event", ""), "schedule.run");
    assert_string_equal(jx_str(body, "id", ""), run);
    assert_string_equal(jx_str(body, "schedule_id", ""), sch);
    assert_string_equal(jx_str(body, "scheduled_for", ""), "2026-11-05T08:00:00Z");
    json_t *changes = json_object_get(body, "changes");
    assert_int_equal(jx_int(changes, "new", -1), 1);
    assert_int_equal(jx_int(changes, "same", -1), 1);
    assert_int_equal(jx_int(changes, "changed", -1), 0);
    json_t *results = json_object_get(body, "results");
    assert_int_equal(json_array_size(results), 3);
    assert_string_equal(jx_str(json_array_get(results, 1), "change", ""), "same");
    json_decref(body);
    assert_int_equal(count_tasks(tap, run, "batch.completed", NULL), 0);

    char err[256];
    int32_t parts[] = {0, 1};
    struct change_rows rows = {0};
    if (scan_read(tap, topic_name(&st.topics, TOPIC_SCHEDULE_CHANGES), parts, 2,
                  RD_KAFKA_OFFSET_BEGINNING, -1, NULL, on_change, &rows, NULL, 10000, err,
                  sizeof(err)))
        fail_msg("scan: %s", err);
    assert_int_equal(rows.n, 2);
    assert_int_equal(rows.partition, kafka_murmur2_partition(sch, strlen(sch), 2));
    assert_string_equal(rows.keys[0], key[0]);
    assert_string_equal(rows.hashes[0], "00000000000000a0");
    assert_string_equal(rows.keys[1], key[1]);
    assert_string_equal(rows.hashes[1], "00000000000000a1");
}

static void test_loop_counts_and_survives_a_rebalance(void **state)
{
    (void)state;
    char err[512];
    struct engine_conf conf = {.instance = "t",
                               .session_timeout_ms = 6000,
                               .txn_timeout_ms = 10000,
                               .commit_ms = 50,
                               .status_ms = 100,
                               .done_ttl_ms = 600000,
                               .pending_ttl_ms = 600000,
                               .max_pending = 100,
                               .deadline_ms = 86400000,
                               .inline_max = 1 << 20,
                               .cache_max = 1 << 20,
                               .max_items = 1000,
                               .max_message = 1 << 20};
    /* The topics exist (setup): the mock cluster has no CreateTopics. */
    rd_kafka_t *txp = engine_producer(&st, &conf, err, sizeof(err));
    if (!txp)
        fail_msg("engine_producer: %s", err);
    struct engine *e = engine_open(&st, &conf, txp, err, sizeof(err));
    if (!e)
        fail_msg("engine_open: %s", err);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run, e), 0);
    rd_kafka_conf_t *pc = kafka_producer_conf(&st.cfg, "t", NULL, err, sizeof(err));
    rd_kafka_t *p = kafka_producer_open(pc, 10000, err, sizeof(err));
    rd_kafka_t *reader = scan_open(&st.cfg, "t", "t-reader", err, sizeof(err));
    assert_non_null(p);
    assert_non_null(reader);

    /* A: counted with a duplicate and a result in two parts. */
    const char *a = "bat_01M816TZ7MSG7GBE1TYYCV6RYA";
    put_batch(p, a, 3);
    put_result(p, a, 0, "");
    put_result(p, a, 0, "");
    put_result(p, a, 1, "\"fetched_at\":\"x\",\"part\":1,\"parts\":2,");
    put_result(p, a, 2, "");
    put_result(p, a, 1, "\"fetched_at\":\"x\",\"part\":2,\"parts\":2,");
    struct tasks t = wait_tasks(reader, 1);
    assert_int_equal(t.completed, 1);
    assert_string_equal(t.ids[0], a);
    assert_int_equal(t.processed[0], 3);

    /* B and C, one on each partition: begun, then the group rebalances
     * twice (a member joins and takes a partition, then leaves), then
     * their last results arrive. Whichever partition moved, its batch's
     * state went through the changelog; each completes once, whole. */
    char b[IDS_BATCH_LEN] = "", c[IDS_BATCH_LEN] = "", id[IDS_BATCH_LEN];
    for (unsigned i = 0; !b[0] || !c[0]; i++) {
        snprintf(id, sizeof(id), "bat_01M816TZ7MSG7GBE1TYY%06u", i);
        char *slot = kafka_murmur2_partition(id, strlen(id), 2) ? c : b;
        if (!slot[0])
            memcpy(slot, id, sizeof(id));
    }
    const char *later[] = {b, c};
    for (int i = 0; i < 2; i++) {
        put_batch(p, later[i], 3);
        put_result(p, later[i], 0, "");
        put_result(p, later[i], 1, "");
    }
    wait_status(reader, b, 2);
    wait_status(reader, c, 2);
    rd_kafka_t *other = join_group();
    kafka_consumer_close(other, 0);
    for (int i = 0; i < 2; i++) {
        put_result(p, later[i], 2, "");
        put_result(p, later[i], 1, "");
    }
    t = wait_tasks(reader, 3);
    assert_int_equal(t.completed, 3);
    int seen = 0; /* tasks lie by partition, not in completion order */
    for (int i = 0; i < 3; i++) {
        seen |= strcmp(t.ids[i], a) == 0 ? 1 : strcmp(t.ids[i], b) == 0 ? 2 : 4;
        assert_int_equal(t.processed[i], 3);
    }
    assert_int_equal(seen, 7);
    int ready = engine_ready(e, err, sizeof(err));
    assert_true(ready);

    /* Usage: three batches of three items, each counted once whatever the
     * duplicates and the rebalance, and the deliveries of deliver's
     * attempts once per delivery id: A's batch.completed recorded twice
     * (a crash of deliver) and redelivered, its item 0 twice, item 1 once,
     * a retrying attempt not at all. */
    put_attempt(p, a, "batch.completed", -1, "retrying");
    put_attempt(p, a, "batch.completed", -1, "delivered");
    put_attempt(p, a, "batch.completed", -1, "delivered");
    put_attempt(p, a, "item.completed", 0, "delivered");
    put_attempt(p, a, "item.completed", 1, "delivered");
    put_attempt(p, a, "item.completed", 0, "delivered");
    put_attempt(p, a, "batch.completed", -1, "delivered");
    put_attempt(p, b, "batch.completed", -1, "delivered");
    struct usage_counts u = wait_usage(reader, 4);
    assert_int_equal(u.batches, 3);
    assert_int_equal(u.items, 9);
    assert_int_equal(u.succeeded, 9);
    assert_int_equal(u.failed, 0);
    assert_int_equal(u.credits, 9);
    assert_int_equal(u.webhooks_delivered, 4);
    /* A later repeat of a delivery changes nothing; a new one is counted.
     * A poison record behind them on the same partition tells when both
     * were read (its dead letter commits with their count or after it). */
    put_attempt(p, a, "item.completed", 1, "delivered");
    put_attempt(p, a, "item.completed", 2, "delivered");
    put(p, TOPIC_ATTEMPTS, a, "not an attempt", NULL);
    wait_dead_letters(reader, 1);
    u = wait_usage(reader, 5);
    assert_int_equal(u.webhooks_delivered, 5);
    assert_int_equal(u.items, 9);
    check_schedule_run(p, reader);

    shutdown_request();
    pthread_join(th, NULL);
    engine_close(e);
    kafka_consumer_close(reader, 0);
    kafka_producer_close(p, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_counts_and_survives_a_rebalance),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
