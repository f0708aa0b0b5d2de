/*
 * delayq — a consumer of delay topics (retry tiers).
 *
 * Each retry tier is a topic with one fixed delay; a record carries its due
 * time in the header ferry-due-ms. Records of a partition become due in the
 * order they were written, so only a partition's head matters: when the
 * head is not due, delayq pauses that partition, seeks back to the head and
 * resumes the partition when it is due. Other partitions keep flowing, the
 * poll blocks until the next due time at most (no sleep, no busy loop), and
 * parked records live in Kafka, not in memory — a restart loses none.
 *
 * Offsets are the caller's: begin/done the returned messages on
 * delayq_offtrack(dq) once their work is durable.
 *
 * librdkafka 2.0.2: resuming a partition that is not paused can rewind it,
 * so delayq resumes only partitions it paused itself; a consumer that ever
 * paused hangs in rd_kafka_destroy(), so delayq_close() does not destroy.
 */
#ifndef FERRY_DELAYQ_H
#define FERRY_DELAYQ_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "cfg.h"
#include "offtrack.h"

struct delayq;

/* Subscribes a consumer (kafka_consumer_conf defaults, group `group_id`) to
 * the tier topics. NULL with errstr on failure. */
struct delayq *delayq_open(const struct cfg *cfg, const char *client_id, const char *group_id,
                           const char *const *topics, size_t n, char *errstr, size_t errstr_size);

/* The next due message (the caller destroys it), or NULL within timeout_ms. */
rd_kafka_message_t *delayq_poll(struct delayq *dq, int timeout_ms);

struct offtrack *delayq_offtrack(struct delayq *dq);
rd_kafka_t *delayq_consumer(struct delayq *dq);

/* Partitions currently held back because their head is not due. */
size_t delayq_parked(struct delayq *dq);

/* Milliseconds until the earliest parked partition is due (0 if one is due
 * now), or -1 when none is parked. A caller that blocks elsewhere (epoll,
 * curl) uses it as its timeout so it calls delayq_poll() in time. */
int64_t delayq_next_due_in(struct delayq *dq);

/* Closes the consumer (commits stored offsets) without destroying it; the
 * process should exit soon after. Frees delayq's own memory. */
void delayq_close(struct delayq *dq);

/* The due time of a record (header ferry-due-ms); 0 when absent (due now). */
int64_t delayq_due_ms(const rd_kafka_message_t *msg);

/* Adds the tier headers of MESSAGES.md to hdrs: ferry-attempt,
 * ferry-due-ms, ferry-first-attempt-ms, ferry-last-error (if non-NULL,
 * truncated to 200 bytes), ferry-origin (if non-NULL). 0 ok. */
int delayq_add_headers(rd_kafka_headers_t *hdrs, int attempt, int64_t due_ms,
                       int64_t first_attempt_ms, const char *last_error, const char *origin);

#endif
