/* ktxn against librdkafka's mock cluster: each way a commit ends, and a
 * transaction whose offsets were refused, with the errors a broker gives
 * injected, and what a read_committed reader then sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cfg.h"
#include "clock.h"
#include "kafka.h"
#include "ktxn.h"
#include "log.h"
#include "scan.h"
#include "testmock.h"

/* Kafka protocol API keys (librdkafka keeps its names private). */
#define API_ADD_PARTITIONS_TO_TXN 24
#define API_ADD_OFFSETS_TO_TXN    25
#define API_END_TXN               26

static int n_topic;
static char topic[64];

/* A fresh topic and a transactional producer, its transaction begun. */
static rd_kafka_t *begin(void)
{
    char err[256], txn_id[64];
    snprintf(topic, sizeof(topic), "ktxn.%d", n_topic);
    snprintf(txn_id, sizeof(txn_id), "ktxn-%d", n_topic++);
    rd_kafka_mock_topic_create(testmock_cluster, topic, 1, 1);
    rd_kafka_conf_t *conf =
        kafka_producer_conf(&testmock_cfg, "ferry-test", txn_id, err, sizeof(err));
    assert_non_null(conf);
    rd_kafka_t *rk = kafka_producer_open(conf, 10000, err, sizeof(err));
    if (!rk)
        fail_msg("producer: %s", err);
    /* Learn the topic's leader now, so that a commit's flush is quick and
     * only the EndTxn answers the tests delay take time. */
    assert_int_equal(kafka_partition_count(rk, topic, 5000, err, sizeof(err)), 1);
    rd_kafka_error_t *error = rd_kafka_begin_transaction(rk);
    assert_null(error);
    return rk;
}

/* 1 when no injected EndTxn answer is left (each test uses its own). */
static int end_txn_stack_empty(void)
{
    size_t cnt = 1;
    rd_kafka_mock_broker_error_stack_cnt(testmock_cluster, 1, API_END_TXN, &cnt);
    return cnt == 0;
}

static void put(rd_kafka_t *rk, const char *value)
{
    struct kafka_msg m = {.topic = topic,
                          .partition = 0,
                          .value = (void *)value,
                          .len = strlen(value),
                          .msgflags = RD_KAFKA_MSG_F_COPY};
    assert_int_equal(kafka_produce_wait(rk, &m, 5000), 0);
}

/* A transaction of one record "a" whose next `api` request the broker
 * answers with err after rtt_ms. */
static rd_kafka_t *begin_put(int16_t api, rd_kafka_resp_err_t err, int rtt_ms)
{
    rd_kafka_t *rk = begin();
    rd_kafka_mock_broker_push_request_error_rtts(testmock_cluster, 1, api, 1, err, rtt_ms);
    put(rk, "a");
    return rk;
}

static int count_one(void *arg, const rd_kafka_message_t *m)
{
    (void)m;
    ++*(int *)arg;
    return 0;
}

/* The records of the topic a read_committed reader sees. */
static int visible(void)
{
    char err[256];
    int n = 0;
    int32_t part = 0;
    rd_kafka_t *r = scan_open(&testmock_cfg, "ferry-test", "ktxn-reader", err, sizeof(err));
    assert_non_null(r);
    if (scan_read(r, topic, &part, 1, RD_KAFKA_OFFSET_BEGINNING, -1, NULL, count_one, &n, NULL,
                  10000, err, sizeof(err)))
        fail_msg("scan: %s", err);
    kafka_consumer_close(r, 0);
    return n;
}

/* After an abort: nothing of it visible, and the same producer begins
 * again (ktxn_begin), commits the work done again, and closes. */
static void commits_again(rd_kafka_t *rk)
{
    char err[512] = "";
    assert_int_equal(visible(), 0);
    assert_int_equal(ktxn_begin(rk, err, sizeof(err)), 0);
    put(rk, "a");
    assert_int_equal(ktxn_commit(rk, 5000, 5000, err, sizeof(err)), KTXN_COMMITTED);
    assert_int_equal(visible(), 1);
    kafka_producer_close(rk, 1000);
}

static void test_commit(void **st)
{
    (void)st;
    char err[512] = "";
    rd_kafka_t *rk = begin();
    put(rk, "a");
    assert_int_equal(ktxn_commit(rk, 5000, 5000, err, sizeof(err)), KTXN_COMMITTED);
    assert_int_equal(visible(), 1);
    kafka_producer_close(rk, 1000);
}

/* A commit that ran out of time goes on in the background: calling again
 * resumes it (here ktxn_commit after the caller's own short try). */
static void test_retriable_resumes(void **st)
{
    (void)st;
    char err[512] = "";
    rd_kafka_t *rk = begin_put(API_END_TXN, RD_KAFKA_RESP_ERR_NO_ERROR, 1500);
    rd_kafka_error_t *error = rd_kafka_commit_transaction(rk, 200);
    assert_non_null(error);
    assert_true(rd_kafka_error_is_retriable(error));
    rd_kafka_error_destroy(error);
    assert_int_equal(ktxn_commit(rk, 5000, 5000, err, sizeof(err)), KTXN_COMMITTED);
    assert_true(end_txn_stack_empty());
    assert_int_equal(visible(), 1);
    kafka_producer_close(rk, 1000);
}

/* Still running at the deadline: in doubt, so not "aborted" (it lands
 * after all) but fatal, and the producer is given up. */
static void test_timeout_in_doubt(void **st)
{
    (void)st;
    char err[512] = "";
    rd_kafka_t *rk = begin_put(API_END_TXN, RD_KAFKA_RESP_ERR_NO_ERROR, 1500);
    int64_t t0 = clk_mono_ms();
    assert_int_equal(ktxn_commit(rk, 300, 5000, err, sizeof(err)), KTXN_FATAL);
    assert_true(clk_mono_ms() - t0 < 1400);
    assert_non_null(strstr(err, "commit_transaction"));
    int64_t until = clk_mono_ms() + 10000;
    while (visible() != 1 && clk_mono_ms() < until)
        rd_kafka_poll(rk, 100);
    assert_int_equal(visible(), 1);
    assert_true(end_txn_stack_empty());
    kafka_producer_close(rk, 0);
}

/* Abortable: aborted inside, nothing visible, and the same producer
 * commits the work done again. */
static void test_abortable(void **st)
{
    (void)st;
    char err[512] = "";
    rd_kafka_t *rk =
        begin_put(API_ADD_PARTITIONS_TO_TXN, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0);
    assert_int_equal(ktxn_commit(rk, 5000, 5000, err, sizeof(err)), KTXN_ABORTED);
    assert_non_null(strstr(err, "commit_transaction"));
    commits_again(rk);
}

/* Fenced: fatal, no abort tried, and the producer refuses to begin again
 * (the caller must make another). */
static void test_fatal(void **st)
{
    (void)st;
    char err[512] = "";
    rd_kafka_t *rk = begin_put(API_END_TXN, RD_KAFKA_RESP_ERR_PRODUCER_FENCED, 0);
    assert_int_equal(ktxn_commit(rk, 5000, 5000, err, sizeof(err)), KTXN_FATAL);
    assert_non_null(strstr(err, "commit_transaction"));
    assert_null(strstr(err, "abort_transaction"));
    rd_kafka_error_t *error = rd_kafka_begin_transaction(rk);
    assert_non_null(error);
    assert_true(rd_kafka_error_is_fatal(error));
    rd_kafka_error_destroy(error);
    kafka_producer_close(rk, 0);
}

/* A caller's own abort (a produce it could not make): nothing visible, and
 * the producer goes on. */
static void test_abort(void **st)
{
    (void)st;
    char err[512] = "";
    rd_kafka_t *rk = begin();
    put(rk, "a");
    assert_int_equal(ktxn_abort(rk, 5000, err, sizeof(err)), KTXN_ABORTED);
    assert_int_equal(visible(), 0);
    rd_kafka_error_t *error = rd_kafka_begin_transaction(rk);
    assert_null(error);
    assert_int_equal(ktxn_abort(rk, 5000, err, sizeof(err)), KTXN_ABORTED);
    kafka_producer_close(rk, 1000);
}

/* The group's offsets sent into rk's transaction, as a consumer-producer
 * does before it commits; the error, if any. */
static rd_kafka_error_t *send_offsets(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offs, topic, 0)->offset = 1;
    rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata_new("ktxn-group");
    rd_kafka_error_t *error = rd_kafka_send_offsets_to_transaction(rk, offs, gm, 5000);
    rd_kafka_consumer_group_metadata_destroy(gm);
    rd_kafka_topic_partition_list_destroy(offs);
    return error;
}

/* ktxn_commit_offsets: the group's offsets sent and the record committed in
 * one call, visible to a read_committed reader. */
static void test_commit_offsets(void **st)
{
    (void)st;
    char err[512] = "";
    rd_kafka_t *rk = begin();
    put(rk, "a");
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offs, topic, 0)->offset = 1;
    rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata_new("ktxn-group");
    assert_int_equal(ktxn_commit_offsets(rk, offs, gm, 5000, 5000, err, sizeof(err)),
                     KTXN_COMMITTED);
    rd_kafka_consumer_group_metadata_destroy(gm);
    rd_kafka_topic_partition_list_destroy(offs);
    assert_int_equal(visible(), 1);
    kafka_producer_close(rk, 1000);
}

/* A transaction of one record whose offsets the coordinator refuses with
 * broker_err, ended by ktxn_fail: its result, with err saying the call
 * that failed and no failed abort after it. */
static enum ktxn_result offsets_refused(rd_kafka_t *rk, int fatal, char *err, size_t err_size)
{
    rd_kafka_error_t *error = send_offsets(rk);
    assert_non_null(error);
    assert_int_equal(rd_kafka_error_is_fatal(error), fatal);
    enum ktxn_result r = ktxn_fail(rk, "send_offsets_to_transaction", error, 5000, err, err_size);
    assert_non_null(strstr(err, "send_offsets_to_transaction: "));
    assert_null(strstr(err, "abort_transaction"));
    return r;
}

/* Refused but not fatal (the group not authorized): aborted, nothing
 * visible, and the same producer begins again and commits. */
static void test_fail_aborts(void **st)
{
    (void)st;
    char err[512] = "";
    rd_kafka_t *rk =
        begin_put(API_ADD_OFFSETS_TO_TXN, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, 0);
    assert_int_equal(offsets_refused(rk, 0, err, sizeof(err)), KTXN_ABORTED);
    commits_again(rk);
}

/* Fenced (an older epoch than the coordinator's): fatal, no abort tried;
 * and the producer refuses to begin again (ktxn_begin says so, with
 * nothing to abort). */
static void test_fail_fatal_then_begin(void **st)
{
    (void)st;
    char err[512] = "";
    rd_kafka_t *rk = begin_put(API_ADD_OFFSETS_TO_TXN, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, 0);
    assert_int_equal(offsets_refused(rk, 1, err, sizeof(err)), KTXN_FATAL);
    err[0] = '\0';
    assert_int_equal(ktxn_begin(rk, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "begin_transaction: "));
    kafka_producer_close(rk, 0);
}

int main(void)
{
    /* The fenced ones last: after one, the mock cluster's read_committed
     * readers no longer reach the end of a topic (librdkafka 2.0.2). */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit),
        cmocka_unit_test(test_commit_offsets),
        cmocka_unit_test(test_retriable_resumes),
        cmocka_unit_test(test_abortable),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_fail_aborts),
        cmocka_unit_test(test_timeout_in_doubt),
        cmocka_unit_test(test_fatal),
        cmocka_unit_test(test_fail_fatal_then_begin),
    };
    if (getenv("KTXN_TEST"))
        cmocka_set_test_filter(getenv("KTXN_TEST"));
    return cmocka_run_group_tests(tests, testmock_setup, testmock_teardown);
}
