/*
 * intake — submits produced to Kafka (DESIGN.md, "Kafka-native submission").
 *
 * A record of the submit topic (`ferry.submit`) is a submit body, exactly
 * what POST /v1/batch takes; its key is the Idempotency-Key and its header
 * `ferry-tenant` names the tenant (the topic's ACLs are the
 * authentication: whoever may write the topic may submit for any tenant of
 * this ingest's key list). Each record is submitted by the same code as
 * POST /v1/batch (api.h, api_submit_*: the same validation, limits and
 * answers) and answered on `ferry.submit.replies` under the same key: the
 * 202 body, or the error body, with headers
 *
 *     ferry-origin    topic/partition/offset of the submit it answers
 *     ferry-outcome   accepted | rejected
 *     ferry-status    the HTTP status POST /v1/batch would have answered
 *     ferry-tenant    the tenant (when the submit named a known one)
 *     ferry-batch     the batch id (accepted)
 *     ferry-replayed  true when the key had made that batch already
 *
 * Exactly once per record: the batch's records, the reply and the
 * consumer's offsets are written in one Kafka transaction
 * (send_offsets_to_transaction), so after any crash a record has either
 * its batch and its reply, both visible once, or neither and is read
 * again. Records are taken in chunks, one transaction each (a transaction
 * costs a few round trips however many records it holds); a chunk ends
 * early before a record whose key an earlier record of the chunk holds,
 * so the second is answered from the first's committed batch.
 *
 * A poison record (not JSON, no or an unknown tenant, larger than
 * FERRY_MAX_BODY_BYTES, an invalid key) is a rejected reply like any
 * refused submit: it never blocks its partition. What is retried instead
 * of answered is only what Kafka itself refused (the transaction aborts,
 * the chunk is read again from its first record).
 *
 * One ingest instance consumes each partition: the consumer group
 * `ferry-ingest-submit` with static membership (stage.h's instance name),
 * and the transactional id "<prefix>ingest.<instance>.submit", so a
 * restarted instance takes its partitions back at once and fences its
 * crashed self.
 */
#ifndef INGEST_INTAKE_H
#define INGEST_INTAKE_H

#include <stddef.h>

struct api;
struct intake;

/* Starts the intake thread (its clients connect in the background, so
 * this works while Kafka is down). NULL with errstr. */
struct intake *intake_start(struct api *a, char *errstr, size_t errstr_size);

/* Stops taking records, finishes the chunk in hand, closes the clients. */
void intake_stop(struct intake *in);

#endif
