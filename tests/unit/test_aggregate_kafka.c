/* The aggregator's Kafka-facing parts against librdkafka's mock cluster:
 * the transaction (commit with offsets, a refused produce aborts), the
 * changelog (written, restored, tombstoned) and completion (inline results
 * from the cache or read back, parts put together, results_url when too
 * large, item.completed for held results). Links the stage's objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "complete.h"
#include "report.h"
#include "restore.h"
#include "txn.h"
#include "cfg.h"
#include "clock.h"
#include "jx.h"
#include "kafka.h"
#include "log.h"
#include "scan.h"
#include "testmock.h"

#define ID  "bat_01M816TZ7MSG7GBE1TYYCV6RYZ"
#define ID2 "bat_01M816TZ7MSG7GBE1TYYCV6RY2"

static struct topics topics;
static int n_prefix;

/* Fresh topic names for each test (topics.h's names under another
 * prefix), all of them created with 2 partitions. */
static void new_topics(void)
{
    char prefix[32], err[256];
    struct topics base;
    const char *def = cfg_str(&testmock_cfg, "FERRY_TOPIC_PREFIX");
    assert_int_equal(topics_init(&base, &testmock_cfg, err, sizeof(err)), 0);
    snprintf(prefix, sizeof(prefix), "t%d.", n_prefix++);
    for (int i = 0; i < TOPIC__COUNT; i++) {
        snprintf(topics.name[i], TOPIC_NAME_MAX, "%s%s", prefix, base.name[i] + strlen(def));
        rd_kafka_mock_topic_create(testmock_cluster, topics.name[i], 2, 1);
    }
}

static rd_kafka_t *producer(const char *txn_id)
{
    char err[256];
    rd_kafka_conf_t *conf =
        kafka_producer_conf(&testmock_cfg, "ferry-test", txn_id, err, sizeof(err));
    assert_non_null(conf);
    rd_kafka_t *p = kafka_producer_open(conf, 10000, err, sizeof(err));
    if (!p)
        fail_msg("producer: %s", err);
    return p;
}

/* A plain (non-transactional) write, as another stage would. */
static void put(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
                const char *value)
{
    struct kafka_msg m = {.topic = topic,
                          .partition = partition,
                          .key = key,
                          .key_len = key ? strlen(key) : 0,
                          .value = (void *)value,
                          .len = value ? strlen(value) : 0,
                          .msgflags = RD_KAFKA_MSG_F_COPY};
    assert_int_equal(kafka_produce_wait(p, &m, 5000), 0);
    assert_int_equal(rd_kafka_flush(p, 5000), 0); /* in the topic, as a consumed record is */
}

struct got {
    char *v[64];
    char *key[64];
    size_t n;
};

static int on_record(void *arg, const rd_kafka_message_t *m)
{
    struct got *g = arg;
    if (g->n < 64) {
        g->v[g->n] = m->payload ? strndup(m->payload, m->len) : NULL;
        g->key[g->n++] = m->key ? strndup(m->key, m->key_len) : NULL;
    }
    return 0;
}

/* Every record of a topic's partition, read committed. */
static struct got read_all(rd_kafka_t *reader, const char *topic, int32_t partition)
{
    struct got g = {0};
    char err[256];
    if (scan_read(reader, topic, &partition, 1, RD_KAFKA_OFFSET_BEGINNING, -1, NULL, on_record, &g,
                  NULL, 10000, err, sizeof(err)))
        fail_msg("scan: %s", err);
    return g;
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i]);
        free(g->key[i]);
    }
    g->n = 0;
}

static rd_kafka_t *reader(void)
{
    char err[256];
    rd_kafka_t *r = scan_open(&testmock_cfg, "ferry-test", "test-reader", err, sizeof(err));
    assert_non_null(r);
    return r;
}

static rd_kafka_t *consumer(const char *group, const char *topic)
{
    char err[256];
    rd_kafka_conf_t *conf =
        kafka_consumer_conf(&testmock_cfg, "ferry-test", group, err, sizeof(err));
    assert_non_null(conf);
    const char *topics_[] = {topic};
    rd_kafka_t *c = kafka_consumer_open(conf, topics_, 1, err, sizeof(err));
    assert_non_null(c);
    return c;
}

/* ---------------------------------------------------------------- txn */

static void test_txn_commits_outputs_with_offsets(void **st)
{
    (void)st;
    new_topics();
    const char *in = topic_name(&topics, TOPIC_BATCHES), *out = topic_name(&topics, TOPIC_STATUS);
    rd_kafka_t *plain = producer(NULL);
    for (int i = 0; i < 5; i++)
        put(plain, in, 0, "k", "v");
    rd_kafka_t *c = consumer("g-txn", in), *p = producer("txn-a"), *r = reader();
    struct txn x;
    txn_init(&x, p, c);
    int got = 0;
    int64_t deadline = clk_mono_ms() + 20000;
    while (got < 5 && clk_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err) {
            got++;
            assert_int_equal(txn_begin(&x), 0);
            txn_produce(&x, out, 1, "k", 1, "out", 3, NULL);
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, 5);
    assert_int_equal(txn_commit(&x), TXN_COMMITTED);
    assert_false(x.open);

    /* The outputs are there. (The mock cluster does not keep offsets sent
     * in a transaction; the integration tests check them on a broker.) */
    struct got g = read_all(r, out, 1);
    assert_int_equal(g.n, 5);
    got_free(&g);

    /* A produce librdkafka refuses at once (too large) fails the whole
     * transaction: nothing of it is visible, the offsets stay. */
    assert_int_equal(txn_begin(&x), 0);
    txn_produce(&x, out, 1, "k", 1, "kept?", 5, NULL);
    size_t big = (size_t)cfg_int(&testmock_cfg, "FERRY_MAX_MESSAGE_BYTES") + (1 << 20);
    char *huge = calloc(1, big);
    txn_produce(&x, out, 1, "k", 1, huge, big, NULL);
    free(huge);
    assert_true(x.failed);
    assert_int_equal(txn_commit(&x), TXN_ABORTED);
    g = read_all(r, out, 1);
    assert_int_equal(g.n, 5);
    got_free(&g);
    /* And the producer goes on. */
    assert_int_equal(txn_begin(&x), 0);
    txn_produce(&x, out, 1, "k", 1, "after", 5, NULL);
    assert_int_equal(txn_commit(&x), TXN_COMMITTED);
    g = read_all(r, out, 1);
    assert_int_equal(g.n, 6);
    assert_string_equal(g.v[5], "after");
    got_free(&g);

    kafka_consumer_close(c, 0);
    kafka_consumer_close(r, 0);
    kafka_producer_close(p, 5000);
    kafka_producer_close(plain, 5000);
}

/* ---------------------------------------------------------------- changelog */

static json_t *record_of(const char *id, long long total, const char *events)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:{s:s}, s:{s:s, s:[s], s:s, s:n, s:n}}", "type",
                     "batch", "id", id, "tenant", "acme", "created_at", "2026-11-22T10:00:00.000Z",
                     "total", (json_int_t)total, "metadata", "k", "v", "webhook", "url",
                     "https://r/h", "events", events, "secret_enc", "v1.x", "previous_secret_enc",
                     "previous_secret_until");
}

static void count_whole(struct tally *t, long long index, int64_t offset)
{
    struct tally_in in = {.index = index, .status = STATUS_OK, .credits = 1};
    int64_t first;
    tally_count(t, &in, 1, offset, 1000, &first);
}

/* A topic read along with the changelog: counts its records per partition. */
static int count_also(void *arg, const rd_kafka_message_t *m)
{
    int *n = arg;
    if (m->partition >= 0 && m->partition < 2)
        n[m->partition]++;
    return SCAN_NEXT;
}

static void test_changelog_written_and_restored(void **st)
{
    (void)st;
    new_topics();
    const char *log = topic_name(&topics, TOPIC_AGGREGATE_STATE);
    rd_kafka_t *p = producer("txn-b"), *r = reader(), *c = consumer("g-restore", log);
    struct txn x;
    struct state s;
    txn_init(&x, p, c);
    state_init(&s, follow_free);
    /* Two batches on partition 1, one on partition 0. */
    struct tally *a = state_get_or_add(&s, ID, 1, 5), *b = state_get_or_add(&s, ID2, 1, 5);
    struct tally *z = state_get_or_add(&s, "bat_01M816TZ7MSG7GBE1TYYCV6RY3", 0, 5);
    json_t *rec = record_of(ID, 10, "batch.completed");
    state_set_record(&s, a, rec, 6);
    json_decref(rec);
    count_whole(a, 3, 40);
    count_whole(b, 1, 41);
    count_whole(z, 2, 42);
    const char *also = topic_name(&topics, TOPIC_USAGE);
    assert_int_equal(txn_begin(&x), 0);
    changelog_flush(&s, &x, log);
    txn_produce(&x, also, 1, "u1", 2, "{}", 2, NULL);
    txn_produce(&x, also, 1, "u2", 2, "{}", 2, NULL);
    txn_produce(&x, also, 0, "u3", 2, "{}", 2, NULL);
    assert_int_equal(txn_commit(&x), TXN_COMMITTED);
    assert_false(a->dirty);
    /* Only what changed is written again; a forgotten batch is tombstoned. */
    count_whole(a, 4, 43);
    assert_int_equal(txn_begin(&x), 0);
    changelog_flush(&s, &x, log);
    changelog_forget(&x, log, b);
    assert_int_equal(txn_commit(&x), TXN_COMMITTED);
    struct got g = read_all(r, log, 1);
    assert_int_equal(g.n, 4);
    assert_null(g.v[3]);
    assert_string_equal(g.key[3], ID2);
    got_free(&g);

    /* Restoring partition 1 replaces its state with the changelog's and
     * leaves partition 0 alone. */
    a->processed = 999;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, topic_name(&topics, TOPIC_BATCHES), 1);
    rd_kafka_topic_partition_list_add(parts, topic_name(&topics, TOPIC_RESULTS), 1);
    struct restore_stats rs;
    char err[256];
    int also_read[2] = {0, 0};
    struct scan_topic with = {also, count_also, also_read};
    assert_int_equal(
        restore_partitions(&s, NULL, c, r, log, &with, 1, parts, &rs, err, sizeof(err)), 0);
    assert_int_equal(rs.partitions, 1);
    assert_int_equal(rs.records, 4);
    /* The other topic's partition 1, read in the same scan; not its 0. */
    assert_int_equal(also_read[1], 2);
    assert_int_equal(also_read[0], 0);
    a = state_get(&s, ID);
    assert_non_null(a);
    assert_int_equal(a->processed, 2);
    assert_true(tally_seen(a, 4));
    assert_int_equal(a->res_last, 43);
    assert_null(state_get(&s, ID2));
    assert_non_null(state_get(&s, "bat_01M816TZ7MSG7GBE1TYYCV6RY3"));
    assert_int_equal(s.n_active, 1);
    assert_int_equal(s.n_pending, 1);
    rd_kafka_topic_partition_list_destroy(parts);

    state_release(&s);
    kafka_consumer_close(c, 0);
    kafka_consumer_close(r, 0);
    kafka_producer_close(p, 5000);
}

/* ---------------------------------------------------------------- completion */

struct world {
    rd_kafka_t *p, *plain, *r, *c;
    struct txn x;
    struct emit out;
    struct state s;
    struct completion done;
};

static void world_open(struct world *w, const char *txn_id, size_t inline_max, size_t cache_max)
{
    new_topics();
    w->p = producer(txn_id);
    w->plain = producer(NULL);
    w->r = reader();
    w->c = consumer(txn_id, topic_name(&topics, TOPIC_BATCHES));
    txn_init(&w->x, w->p, w->c);
    emit_init(&w->out, &w->x, &topics,
              (size_t)cfg_int(&testmock_cfg, "FERRY_MAX_MESSAGE_BYTES") - 4096);
    state_init(&w->s, follow_free);
    complete_init(&w->done, &w->out, &w->s, w->r, topic_name(&topics, TOPIC_RESULTS), inline_max,
                  cache_max);
}

static void world_close(struct world *w)
{
    complete_release(&w->done);
    state_release(&w->s);
    kafka_consumer_close(w->c, 0);
    kafka_consumer_close(w->r, 0);
    kafka_producer_close(w->p, 5000);
    kafka_producer_close(w->plain, 5000);
}

/* A result record as scrape writes it; p > 0 makes it part p of n. */
static char *result_text(const char *id, long long index, int p, int n, const char *data)
{
    char parts[48] = "";
    char *out = malloc(strlen(data) + 512);
    if (p)
        snprintf(parts, sizeof(parts), "\"part\":%d,\"parts\":%d,", p, n);
    sprintf(out,
            "{\"batch_id\":\"%s\",\"tenant\":\"acme\",\"index\":%lld,\"status\":\"ok\","
            "\"progress\":1.0,\"fetched_at\":\"2026-11-22T10:00:00.000Z\",%s\"data\":%s}",
            id, index, parts, data);
    return out;
}

/* Counts a result record as the engine does, the record written to
 * scrape.results first (so read-backs find it). */
static int64_t offsets[2];
static void arrive(struct world *w, struct tally *t, const char *text)
{
    struct record r;
    char why[256];
    put(w->plain, topic_name(&topics, TOPIC_RESULTS), t->partition, t->id, text);
    int64_t offset = offsets[t->partition]++, first;
    assert_int_equal(record_parse_result(&r, text, strlen(text), NULL, 0, 1000, why, sizeof(why)),
                     0);
    complete_follow(&w->done, t);
    if (tally_count(t, &r.in, 1, offset, 1000, &first) == TALLY_COUNTED)
        complete_counted(&w->done, t, &r, first, offset);
    record_release(&r);
}

/* The webhook tasks written so far (the partitioner picks their
 * partition from the batch id), their bodies parsed. */
static size_t task_bodies(struct world *w, json_t **bodies, size_t max)
{
    char why[256];
    size_t n = 0;
    for (int32_t p = 0; p < 2; p++) {
        struct got g = read_all(w->r, topic_name(&topics, TOPIC_WEBHOOKS), p);
        for (size_t i = 0; i < g.n && n < max; i++) {
            json_t *task = jx_parse(g.v[i], strlen(g.v[i]), 8, why, sizeof(why));
            const char *body = jx_str(task, "body", "");
            bodies[n++] = jx_parse(body, strlen(body), 64, why, sizeof(why));
            json_decref(task);
        }
        got_free(&g);
    }
    return n;
}

static void test_complete_inline_from_cache_and_read_back(void **st)
{
    (void)st;
    struct world w;
    json_t *bodies[8];
    offsets[0] = offsets[1] = 0;
    world_open(&w, "txn-c", 1 << 20, 64 << 20);
    json_t *rec = record_of(ID, 3, "batch.completed");
    struct tally *t = state_get_or_add(&w.s, ID, 1, 1);
    state_set_record(&w.s, t, rec, 1);
    json_decref(rec);

    /* Item 2 in three parts: counted once, cached whole. */
    assert_int_equal(txn_begin(&w.x), 0);
    char *texts[6] = {
        result_text(ID, 0, 0, 0, "{\"html\":\"zero\"}"),
        result_text(ID, 2, 1, 3, "{\"html\":\"<p>tw\",\"links\":[\"https://e/l\"]}"),
        result_text(ID, 2, 2, 3, "{\"html\":\"o</p>\",\"text\":\"tw\"}"),
        result_text(ID, 0, 0, 0, "{\"html\":\"zero again\"}"),
        result_text(ID, 2, 3, 3, "{\"text\":\"o\"}"),
        result_text(ID, 1, 0, 0, "{\"html\":\"one\"}"),
    };
    for (int i = 0; i < 6; i++)
        arrive(&w, t, texts[i]);
    assert_int_equal(t->processed, 3);
    assert_true(tally_complete(t));
    complete_batch(&w.done, t, REPORT_COMPLETED);
    complete_flush(&w.done);
    assert_int_equal(txn_commit(&w.x), TXN_COMMITTED);
    complete_ended(&w.done, 1);
    assert_int_equal(task_bodies(&w, bodies, 8), 1);
    json_t *res = json_object_get(bodies[0], "results");
    assert_int_equal(json_array_size(res), 3);
    json_t *two = json_array_get(res, 2);
    assert_int_equal(jx_int(two, "index", -1), 2);
    assert_null(json_object_get(two, "part"));
    json_t *data = json_object_get(two, "data");
    assert_string_equal(jx_str(data, "html", ""), "<p>two</p>");
    assert_string_equal(jx_str(data, "text", ""), "two");
    assert_int_equal(json_array_size(json_object_get(data, "links")), 1);
    assert_string_equal(jx_str(json_object_get(json_array_get(res, 0), "data"), "html", ""),
                        "zero");
    json_decref(bodies[0]);

    /* The same batch without a cache (as after a restart): the results are
     * read back at the end of the transaction, parts put together, the
     * first result of each item taken. */
    struct tally *u = state_get_or_add(&w.s, ID2, 1, 1);
    rec = record_of(ID2, 3, "batch.completed");
    state_set_record(&w.s, u, rec, 1);
    json_decref(rec);
    assert_int_equal(txn_begin(&w.x), 0);
    for (int i = 0; i < 6; i++) {
        free(texts[i]);
        texts[i] = NULL;
    }
    texts[0] = result_text(ID2, 2, 1, 2, "{\"markdown\":\"# t\"}");
    texts[1] = result_text(ID2, 0, 0, 0, "{\"html\":\"zero\"}");
    texts[2] = result_text(ID2, 2, 2, 2, "{\"markdown\":\"wo\"}");
    texts[3] = result_text(ID2, 1, 0, 0, "{\"html\":\"one\"}");
    complete_follow(&w.done, u);
    complete_forget_cache(&w.done, u);
    for (int i = 0; i < 4; i++)
        arrive(&w, u, texts[i]);
    assert_true(tally_complete(u));
    complete_batch(&w.done, u, REPORT_COMPLETED);
    complete_flush(&w.done);
    assert_int_equal(txn_commit(&w.x), TXN_COMMITTED);
    assert_int_equal(task_bodies(&w, bodies, 8), 2);
    res = json_object_get(bodies[1], "results");
    assert_int_equal(json_array_size(res), 3);
    assert_string_equal(jx_str(json_object_get(json_array_get(res, 2), "data"), "markdown", ""),
                        "# two");
    /* The body is in JSON.stringify's form: 1.0 became 1. */
    assert_int_equal(json_typeof(json_object_get(json_array_get(res, 1), "progress")),
                     JSON_INTEGER);
    json_decref(bodies[0]);
    json_decref(bodies[1]);
    for (int i = 0; i < 6; i++)
        free(texts[i]);
    assert_int_equal(w.done.cache_bytes, 0); /* finished batches hold nothing */

    /* A batch with cached results dropped with its partition (a
     * revocation): the memory it held is no longer counted. */
    struct tally *v = state_get_or_add(&w.s, "bat_01M816TZ7MSG7GBE1TYYCV6RY5", 0, 1);
    assert_int_equal(txn_begin(&w.x), 0);
    char *one = result_text("bat_01M816TZ7MSG7GBE1TYYCV6RY5", 0, 0, 0, "{\"html\":\"x\"}");
    arrive(&w, v, one);
    free(one);
    assert_true(w.done.cache_bytes > 0);
    state_drop_partition(&w.s, 0);
    complete_recount(&w.done);
    assert_int_equal(w.done.cache_bytes, 0);
    txn_abort(&w.x);
    world_close(&w);
}

static void test_complete_too_large_and_held_items(void **st)
{
    (void)st;
    struct world w;
    json_t *bodies[8];
    offsets[0] = offsets[1] = 0;
    world_open(&w, "txn-d", 600, 64 << 20);
    /* Results arrive before the batch record, which asks for item events. */
    struct tally *t = state_get_or_add(&w.s, ID, 1, 1);
    assert_int_equal(txn_begin(&w.x), 0);
    char *a = result_text(ID, 1, 0, 0, "{\"html\":\"one, long enough to pass the inline cap\"}");
    char *b = result_text(ID, 0, 0, 0, "{\"html\":\"zero, long enough to pass the inline cap\"}");
    arrive(&w, t, a);
    arrive(&w, t, b);
    arrive(&w, t, a);
    json_t *rec = record_of(ID, 2, "item.completed");
    json_array_append_new(json_object_get(json_object_get(rec, "webhook"), "events"),
                          json_string("batch.completed"));
    state_set_record(&w.s, t, rec, 1);
    json_decref(rec);
    complete_held_items(&w.done, t);
    complete_batch(&w.done, t, REPORT_COMPLETED);
    complete_flush(&w.done);
    assert_int_equal(txn_commit(&w.x), TXN_COMMITTED);
    size_t n = task_bodies(&w, bodies, 8);
    assert_int_equal(n, 3);
    int items = 0, batch = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ev = jx_str(bodies[i], "event", "");
        if (strcmp(ev, "item.completed") == 0) {
            items |= 1 << jx_int(bodies[i], "index", 5);
        } else {
            batch++;
            /* Past the inline cap: a link instead of the results. */
            assert_true(jx_bool(bodies[i], "results_truncated", 0));
            assert_string_equal(jx_str(bodies[i], "results_url", ""), "/v1/batch/" ID "/results");
            assert_null(json_object_get(bodies[i], "results"));
            assert_int_equal(jx_int(bodies[i], "credits_charged", -1), 2);
        }
        json_decref(bodies[i]);
    }
    assert_int_equal(items, 3);
    assert_int_equal(batch, 1);
    free(a);
    free(b);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txn_commits_outputs_with_offsets),
        cmocka_unit_test(test_changelog_written_and_restored),
        cmocka_unit_test(test_complete_inline_from_cache_and_read_back),
        cmocka_unit_test(test_complete_too_large_and_held_items),
    };
    return cmocka_run_group_tests(tests, testmock_setup, testmock_teardown);
}
