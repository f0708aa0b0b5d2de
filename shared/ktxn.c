#include "ktxn.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static void error_take(rd_kafka_error_t *error, const char *what, char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "%s: %s", what, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
}

enum ktxn_result ktxn_abort(rd_kafka_t *rk, int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_error_t *error = rd_kafka_abort_transaction(rk, timeout_ms);
    if (!error)
        return KTXN_ABORTED;
    /* Retriable here is a timeout (the abort goes on in the background) or
     * a commit still in progress: either way the producer's state is not
     * known, and a caller that began again would be refused. */
    error_take(error, "abort_transaction", errstr, errstr_size);
    return KTXN_FATAL;
}

int ktxn_begin(rd_kafka_t *rk, char *errstr, size_t errstr_size)
{
    rd_kafka_error_t *error = rd_kafka_begin_transaction(rk);
    if (!error)
        return 0;
    error_take(error, "begin_transaction", errstr, errstr_size);
    return -1;
}

/* Aborts after the failure errstr already says; the abort's own error, if
 * any, goes after it (the first failure says why, the abort only what came
 * after). */
static enum ktxn_result abort_after(rd_kafka_t *rk, int abort_ms, char *errstr, size_t errstr_size)
{
    char why[256];
    if (ktxn_abort(rk, abort_ms, why, sizeof(why)) == KTXN_ABORTED)
        return KTXN_ABORTED;
    size_t len = strnlen(errstr, errstr_size);
    snprintf(errstr + len, errstr_size - len, "; %s", why);
    return KTXN_FATAL;
}

enum ktxn_result ktxn_fail(rd_kafka_t *rk, const char *what, rd_kafka_error_t *error, int abort_ms,
                           char *errstr, size_t errstr_size)
{
    int fatal = rd_kafka_error_is_fatal(error);
    error_take(error, what, errstr, errstr_size);
    return fatal ? KTXN_FATAL : abort_after(rk, abort_ms, errstr, errstr_size);
}

enum ktxn_result ktxn_commit(rd_kafka_t *rk, int timeout_ms, int abort_ms, char *errstr,
                             size_t errstr_size)
{
    int64_t deadline = clk_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    rd_kafka_error_t *error;
    for (;;) {
        int64_t left = deadline - clk_mono_ms();
        error = rd_kafka_commit_transaction(rk, timeout_ms < 0 ? -1 : left > 0 ? (int)left : 1);
        if (!error)
            return KTXN_COMMITTED;
        if (rd_kafka_error_is_fatal(error) || rd_kafka_error_txn_requires_abort(error) ||
            !rd_kafka_error_is_retriable(error) || timeout_ms < 0 || clk_mono_ms() >= deadline)
            break;
        /* Calling again resumes the commit going on in the background; an
         * answer that came at once (a conflicting call) is not asked again
         * in a tight loop. */
        rd_kafka_error_destroy(error);
        if (deadline - clk_mono_ms() > left - 10)
            nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    int fatal = rd_kafka_error_is_fatal(error),
        abortable = rd_kafka_error_txn_requires_abort(error);
    error_take(error, "commit_transaction", errstr, errstr_size);
    if (fatal || !abortable)
        return KTXN_FATAL;
    return abort_after(rk, abort_ms, errstr, errstr_size);
}

enum ktxn_result ktxn_commit_offsets(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *offs,
                                     const rd_kafka_consumer_group_metadata_t *cgmd, int timeout_ms,
                                     int abort_ms, char *errstr, size_t errstr_size)
{
    int64_t deadline = clk_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    if (offs) {
        rd_kafka_error_t *error = rd_kafka_send_offsets_to_transaction(rk, offs, cgmd, timeout_ms);
        if (error)
            return ktxn_fail(rk, "send_offsets_to_transaction", error, abort_ms, errstr,
                             errstr_size);
    }
    int64_t left = deadline - clk_mono_ms();
    return ktxn_commit(rk,
                       timeout_ms < 0 ? -1
                       : left > 0     ? (int)left
                                      : 1,
                       abort_ms, errstr, errstr_size);
}
