#include "txn.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "kafka.h"
#include "ktxn.h"
#include "log.h"
#include "metrics.h"
#include "shutdown.h"

void txn_init(struct txn *x, rd_kafka_t *producer, rd_kafka_t *consumer)
{
    memset(x, 0, sizeof(*x));
    x->producer = producer;
    x->consumer = consumer;
    x->m_aborts = metric_counter("ferry_aggregate_txn_aborts_total",
                                 "Transactions aborted (state rolled back)", "");
}

static void broken(struct txn *x)
{
    x->fatal = 1;
    shutdown_request();
}

int txn_begin(struct txn *x)
{
    if (x->open)
        return 0;
    if (x->fatal)
        return -1;
    char errstr[512];
    if (ktxn_begin(x->producer, errstr, sizeof(errstr))) {
        /* The producer can never write again (ktxn.h), so the stage
         * stops. */
        LOG_ERROR("txn_begin", "err=%s", errstr);
        broken(x);
        return -1;
    }
    x->open = 1;
    x->failed = 0;
    x->opened_mono = clk_mono_ms();
    x->due_mono = 0;
    return 0;
}

void txn_hurry(struct txn *x, long long ms)
{
    int64_t due = clk_mono_ms() + ms;
    if (x->open && (x->due_mono == 0 || due < x->due_mono))
        x->due_mono = due;
}

int64_t txn_due(const struct txn *x, long long interval_ms)
{
    int64_t due = x->opened_mono + interval_ms;
    return x->due_mono && x->due_mono < due ? x->due_mono : due;
}

void txn_produce(struct txn *x, const char *topic, int32_t partition, const char *key,
                 size_t key_len, const void *value, size_t len, rd_kafka_headers_t *hdrs)
{
    struct kafka_msg m = {
        .topic = topic,
        .partition = partition,
        .key = key,
        .key_len = key_len,
        .value = (void *)value,
        .len = len,
        .msgflags = RD_KAFKA_MSG_F_COPY,
        .headers = hdrs,
    };
    rd_kafka_resp_err_t err = kafka_produce_wait(x->producer, &m, KAFKA_QUEUE_WAIT_MS);
    if (err) {
        /* Refused before it was queued, so a commit would succeed without
         * it: fail the transaction instead, and the cycle is done again. */
        LOG_ERROR("produce_failed", "topic=%s bytes=%zu err=%s", topic, len,
                  rd_kafka_err2name(err));
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        x->failed = 1;
    }
}

/* The consumer's positions of its assigned partitions: what this
 * transaction has consumed. NULL when there is nothing to commit. */
static rd_kafka_topic_partition_list_t *positions(rd_kafka_t *consumer)
{
    rd_kafka_topic_partition_list_t *asg = NULL, *offs = NULL;
    if (rd_kafka_assignment(consumer, &asg))
        return NULL;
    rd_kafka_position(consumer, asg);
    for (int i = 0; i < asg->cnt; i++) {
        if (asg->elems[i].offset < 0)
            continue;
        if (!offs)
            offs = rd_kafka_topic_partition_list_new(asg->cnt);
        rd_kafka_topic_partition_list_add(offs, asg->elems[i].topic, asg->elems[i].partition)
            ->offset = asg->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(asg);
    return offs;
}

enum txn_result txn_abort(struct txn *x)
{
    char errstr[512];
    if (!x->open)
        return TXN_COMMITTED;
    x->open = 0;
    metric_inc(x->m_aborts, 1);
    if (ktxn_abort(x->producer, -1, errstr, sizeof(errstr)) == KTXN_ABORTED)
        return TXN_ABORTED;
    /* Not aborted: the producer is fenced, broken, or still busy ending
     * the transaction, and would refuse the next one. */
    LOG_ERROR("txn_abort", "err=%s", errstr);
    broken(x);
    return TXN_FATAL;
}

enum txn_result txn_commit(struct txn *x)
{
    char errstr[512];
    if (!x->open)
        return TXN_COMMITTED;
    if (x->failed) {
        LOG_WARN("txn_commit", "err=\"a produce was refused\" aborting=1");
        return txn_abort(x);
    }
    rd_kafka_topic_partition_list_t *offs = positions(x->consumer);
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(x->consumer);
    enum ktxn_result r =
        ktxn_commit_offsets(x->producer, offs, cgmd, -1, -1, errstr, sizeof(errstr));
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    if (offs)
        rd_kafka_topic_partition_list_destroy(offs);
    if (r != KTXN_COMMITTED)
        LOG_WARN("txn_commit", "err=%s aborted=%d", errstr, r == KTXN_ABORTED);
    x->open = 0;
    if (r == KTXN_ABORTED)
        metric_inc(x->m_aborts, 1);
    /* Fenced by a newer instance with our transactional.id, a broken
     * producer, or a commit still in doubt: nothing of ours will ever
     * commit again. */
    if (r == KTXN_FATAL)
        broken(x);
    return r == KTXN_COMMITTED ? TXN_COMMITTED : r == KTXN_ABORTED ? TXN_ABORTED : TXN_FATAL;
}
