/* The engine's rebalances and restores (engine.h): librdkafka's callback
 * notes, the loop applies; partitions are restored from the changelog, the
 * usage rows and crawl.state before anything of theirs is counted. */
#include <stdlib.h>

#include "clock.h"
#include "engine_int.h"
#include "log.h"
#include "metrics.h"
#include "restore.h"
#include "shutdown.h"

/* How long a failed restore waits before it is tried again. */
#define RESTORE_RETRY_MS 500

/* Restores the assigned partitions and seeks back to what committed: the
 * memory ran ahead of an aborted transaction. */
void engine_roll_back(struct engine *e)
{
    rd_kafka_topic_partition_list_t *asg = NULL;
    if (rd_kafka_assignment(e->consumer, &asg) || asg->cnt == 0) {
        if (asg)
            rd_kafka_topic_partition_list_destroy(asg);
        return;
    }
    if (e->restore)
        rd_kafka_topic_partition_list_destroy(e->restore);
    e->restore = asg;
    e->restore_seek = 1;
    e->restore_at = clk_mono_ms();
}

void engine_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct engine *e = opaque;
    if (e->closing) {
        /* engine_run committed on its way out: nothing is left to do. */
        rd_kafka_assign(rk, NULL);
        return;
    }
    /* Only noted here: restoring reads whole topics and committing waits
     * on the broker, which must not happen inside librdkafka's callback.
     * librdkafka waits for the loop's assign/unassign. */
    if (e->rebalance)
        rd_kafka_topic_partition_list_destroy(e->rebalance);
    e->rebalance = rd_kafka_topic_partition_list_copy(parts);
    e->rebalance_err = err;
    e->rebalance_lost = rd_kafka_assignment_lost(rk);
}

static void drop_partitions(struct engine *e, const rd_kafka_topic_partition_list_t *parts)
{
    int32_t *nums = malloc(sizeof(*nums) * (size_t)(parts->cnt + 1));
    if (!nums)
        abort();
    size_t n = restore_partition_numbers(parts, nums);
    for (size_t i = 0; i < n; i++) {
        state_drop_partition(&e->state, nums[i]);
        usage_drop_partition(&e->usage, nums[i]);
        delivered_drop_partition(&e->delivered, nums[i]);
    }
    free(nums);
    complete_recount(&e->done);
}

void engine_apply_rebalance(struct engine *e)
{
    rd_kafka_topic_partition_list_t *parts = e->rebalance;
    e->rebalance = NULL;
    if (e->rebalance_err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (e->restore)
            rd_kafka_topic_partition_list_destroy(e->restore);
        e->restore = parts;
        e->restore_seek = 0;
        e->restore_at = clk_mono_ms();
        return;
    }
    /* Revoked: what we did so far commits while the partitions are still
     * ours; when they were lost (another member may own them already),
     * it cannot, and is aborted. Then their state goes. */
    if (e->restore) {
        rd_kafka_topic_partition_list_destroy(e->restore);
        e->restore = NULL;
    }
    if (e->rebalance_lost) {
        complete_flush(&e->done);
        txn_abort(&e->txn);
        complete_ended(&e->done, 0);
    } else {
        engine_commit(e, 0);
    }
    drop_partitions(e, parts);
    rd_kafka_assign(e->consumer, NULL);
    LOG_INFO("revoked", "partitions=%d lost=%d", parts->cnt, e->rebalance_lost);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* One try at the pending restore; on failure the next one is due later. */
void engine_restore_step(struct engine *e)
{
    struct restore_stats rs;
    char errstr[512];
    int32_t *nums = malloc(sizeof(*nums) * (size_t)(e->restore->cnt + 1));
    if (!nums)
        abort();
    size_t n = restore_partition_numbers(e->restore, nums);
    /* The usage rows in the changelog's scan; the frontiers of their
     * crawls after it, from crawl.state (they need the tallies). */
    struct scan_topic usage;
    usage_restore_begin(&e->usage, topic_name(e->t, TOPIC_USAGE), nums, n, &usage);
    int rc = restore_partitions(&e->state, &e->delivered, e->consumer, e->reader,
                                topic_name(e->t, TOPIC_AGGREGATE_STATE), &usage, 1, e->restore, &rs,
                                errstr, sizeof(errstr));
    if (rc == 0)
        usage_restore_done(&e->usage);
    rc = rc || frontier_restore(e->fr, nums, n, errstr, sizeof(errstr));
    free(nums);
    if (rc) {
        char q[600];
        LOG_WARN("restore_failed", "error=%s", log_quote(q, sizeof(q), errstr));
        e->restore_at = clk_mono_ms() + RESTORE_RETRY_MS;
        return;
    }
    rd_kafka_topic_partition_list_t *parts = e->restore;
    e->restore = NULL;
    complete_recount(&e->done);
    if (e->restore_seek) {
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset < 0)
                parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_error_t *err = rd_kafka_seek_partitions(e->consumer, parts, -1);
        if (err) {
            LOG_ERROR("seek_failed", "err=%s", rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
            shutdown_request();
        }
    } else {
        rd_kafka_assign(e->consumer, parts);
        atomic_store(&e->ready, 1);
    }
    metric_set(e->m_restore_ms, rs.ms);
    LOG_INFO(e->restore_seek ? "rolled_back" : "restored",
             "partitions=%zu records=%zu bad=%zu active=%zu pending=%zu offsets_ms=%lld ms=%lld",
             rs.partitions, rs.records, rs.bad, e->state.n_active, e->state.n_pending,
             (long long)rs.offsets_ms, (long long)rs.ms);
    rd_kafka_topic_partition_list_destroy(parts);
}
