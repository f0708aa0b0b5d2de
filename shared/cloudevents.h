/*
 * cloudevents — the CloudEvents 1.0 binary-mode headers on every message
 * ferry writes (Kafka protocol binding), so CloudEvents-aware tooling can
 * route ferry's events by their headers without parsing a value:
 *
 *     ce_specversion  1.0
 *     ce_type         dev.ferry.scrape.result (one per topic, two on a few:
 *                     TOPICS.md)
 *     ce_source       /ferry/<stage>/<instance>
 *     ce_id           what identifies the event (below)
 *     ce_time         when it was written, RFC 3339 UTC with milliseconds
 *     content-type    application/json (a message that already names its
 *                     content type, a file's image/png, keeps its own)
 *
 * kafka_produce_wait() adds them to every message, so no producer can
 * forget them; a producer only names a type or an id when the topic's rule
 * cannot (struct kafka_msg's ce_type and ce_id).
 *
 * Ids are stable where a message can be written again for the same event,
 * so a consumer can deduplicate on ce_id: a result is "result:<batch>/<index>"
 * whichever fetch wrote it, a webhook task "task:<delivery id>/<attempt>",
 * a dead letter "deadletter:<topic/partition/offset of the poison record>",
 * a reply to a produced submit "accepted:<topic/partition/offset of the
 * submit>".
 * Each id starts with the last word of its type, so the ids of one source
 * (a stage instance writes several topics) never collide. A message whose
 * topic has no natural identity (status documents, aggregate's changelog)
 * gets "<word>:<key>/<hash of the value>": the same bytes again are the same
 * event, other bytes another one.
 */
#ifndef FERRY_CLOUDEVENTS_H
#define FERRY_CLOUDEVENTS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#define CE_SPECVERSION "1.0"

/* The process's ce_source, "/ferry/<stage>/<instance>", and the topic
 * prefix (FERRY_TOPIC_PREFIX) that ce_add_headers strips to find a topic's
 * row. stage_init calls it before any client exists; until then the source
 * is "/ferry" and the prefix "ferry.". */
void ce_init(const char *stage, const char *instance, const char *topic_prefix);

/* The ce_source set by ce_init. */
const char *ce_source(void);

/* The ce_type of a message to `topic` (the full name): the topic's type,
 * or its other one when the header that tells them apart has `alt_value`
 * (ferry-type "cancel" on batches, ferry-outcome "rejected" on submit
 * replies; NULL: absent), or "dev.ferry.message" for a topic that is not
 * ferry's. */
const char *ce_type_of(const char *topic, const char *alt_value);

/* Replaces any ce_* header of hdrs with the event headers of a message to
 * `topic` with this key and value, written at epoch ms `now_ms`, and adds
 * content-type: application/json unless hdrs has a content-type. `type` and
 * `id` override the topic's rule when non-NULL. 1 when it added the
 * content-type, 0 when hdrs had one, -1 when out of memory. */
int ce_add_headers(rd_kafka_headers_t *hdrs, const char *topic, const void *key, size_t key_len,
                   const void *value, size_t len, const char *type, const char *id,
                   long long now_ms);

/* Takes the headers ce_add_headers added off hdrs again (a produce that
 * failed hands the caller's headers back as they were); `content_type`:
 * what ce_add_headers returned. */
void ce_remove_headers(rd_kafka_headers_t *hdrs, int content_type);

#endif
