/*
 * kafka — librdkafka clients configured the ferry way.
 *
 * Every client starts from kafka_conf_new(): bootstrap servers from
 * FERRY_KAFKA_BROKERS, librdkafka's log and error callbacks routed through
 * log.h, then every `-X name=value` from the command line applied last, so an
 * operator can override anything (SASL, SSL, timeouts) without ferry knowing.
 *
 * Producers are idempotent (acks=all) and check every delivery report: a
 * failed delivery is logged and counted, never silent. Consumers store
 * offsets by hand (enable.auto.offset.store=false): a stage stores a
 * message's offset only when the work it caused is durable, so a crash
 * re-does work and never skips it. They read committed data only, since
 * ferry's producers write in transactions.
 *
 * Shutdown order for a stage: stop intake (stop polling for new work), drain
 * in-flight work, kafka_producer_close() (flushes), kafka_consumer_close().
 */
#ifndef FERRY_KAFKA_H
#define FERRY_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

#include "cfg.h"

/* Process-wide delivery counters, updated by the default delivery report. */
struct kafka_stats {
    atomic_llong delivered;
    atomic_llong failed;
};
extern struct kafka_stats kafka_stats;

/* A base configuration (see above). Returns NULL with errstr naming the bad
 * property. `client_id` is e.g. "ferry-ingest". Caller owns the result until
 * it hands it to an *_open() function. */
rd_kafka_conf_t *kafka_conf_new(const struct cfg *cfg, const char *client_id, char *errstr,
                                size_t errstr_size);

/* Sets name=value unless the operator gave that property with -X (their
 * word wins): a stage's own default for one client. */
int kafka_conf_default(rd_kafka_conf_t *conf, const struct cfg *cfg, const char *name,
                       const char *value, char *errstr, size_t errstr_size);

/* rd_kafka_conf_set() with the error formatted as "name=value: reason". */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errstr_size);

/* Producer configuration: idempotent, acks=all, message.max.bytes sized to
 * FERRY_MAX_MESSAGE_BYTES, lz4 compression, the default delivery report
 * (kafka_dr_default). `transactional_id` non-NULL makes it transactional.
 * Set your own dr_msg_cb afterwards to act on deliveries (call
 * kafka_dr_default from it to keep logging and counting). */
rd_kafka_conf_t *kafka_producer_conf(const struct cfg *cfg, const char *client_id,
                                     const char *transactional_id, char *errstr,
                                     size_t errstr_size);

/* Creates the producer; takes ownership of conf (also on failure). When the
 * conf is transactional, also runs init_transactions (timeout_ms). */
rd_kafka_t *kafka_producer_open(rd_kafka_conf_t *conf, int timeout_ms, char *errstr,
                                size_t errstr_size);

/* One message to produce (the fields of rd_kafka_producev()). */
struct kafka_msg {
    const char *topic;     /* the topic by name, or ... */
    rd_kafka_topic_t *rkt; /* ... a topic handle (used when set) */
    int32_t partition;     /* always set: RD_KAFKA_PARTITION_UA lets the partitioner pick */
    const void *key;       /* NULL: no key */
    size_t key_len;
    void *value; /* NULL: a tombstone */
    size_t len;
    int msgflags;                /* RD_KAFKA_MSG_F_COPY, or _FREE to hand value over */
    rd_kafka_headers_t *headers; /* NULL: none (the event headers below still go) */
    void *opaque;                /* the delivery report's msg->_private */
    int64_t timestamp_ms;        /* the record's timestamp (epoch ms); 0: now */
    const char *ce_type;         /* NULL: the topic's (cloudevents.h) */
    const char *ce_id;           /* NULL: by the topic's rule (cloudevents.h) */
};

/* How long a producer waits for room in a full local queue when nothing
 * tighter applies: librdkafka's default message.timeout.ms. By then every
 * queued message has had its delivery report, delivered or failed, so the
 * queue has room, and waiting longer cannot help. */
#define KAFKA_QUEUE_WAIT_MS (300 * 1000)

/* Produces m, waiting out a full local queue for up to timeout_ms. Every
 * message ferry writes goes through here (transactional or not), and gets
 * its CloudEvents headers here (cloudevents.h: ce_specversion, ce_type,
 * ce_source, ce_id, ce_time, content-type), added to m->headers or to a
 * list of its own when m has none.
 * Returns RD_KAFKA_RESP_ERR_NO_ERROR once librdkafka took the message (it
 * then owns the headers, and the value when msgflags has _FREE), or the
 * error: RD_KAFKA_RESP_ERR__QUEUE_FULL when the deadline passed first, or
 * any refusal (too large, unknown topic, fatal); then headers (as they
 * were) and value are still the caller's. Thread-safe, as
 * rd_kafka_producev() is. */
rd_kafka_resp_err_t kafka_produce_wait(rd_kafka_t *rk, const struct kafka_msg *m, int timeout_ms);

/* Flushes for up to timeout_ms, logs what could not be delivered, destroys.
 * Returns the number of messages that were still undelivered (0 = clean). */
int kafka_producer_close(rd_kafka_t *rk, int timeout_ms);

/* The default delivery report: counts, and logs failures with topic and
 * error. */
void kafka_dr_default(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* The process's stable instance name (stage.h), set once at start-up by
 * stage_init before any client exists; NULL or "" for none. */
void kafka_set_instance(const char *name);

/* The group.id of `name` under FERRY_TOPIC_PREFIX, into out: `name` itself
 * under the default prefix `ferry.` (the groups' historical names), the
 * prefix then `name` under any other. Every group and reader of ferry is
 * named `ferry-<stage>-<what>` and goes through here (schemas/TOPICS.md,
 * "Consumer groups"). */
void kafka_group_name(const struct cfg *cfg, const char *name, char *out, size_t size);

/* A read_committed consumer that is given its partitions (assign) and never
 * joins a group or commits: `name` (kafka_group_name) is only the
 * group.id assign() wants; partition EOF is reported; with no stored
 * offset it starts at the beginning. For scans and whole-topic followers. */
rd_kafka_conf_t *kafka_reader_conf(const struct cfg *cfg, const char *client_id, const char *name,
                                   char *errstr, size_t errstr_size);

/* The consumer of such a conf (taken over, destroyed on failure), its
 * queue redirected to rd_kafka_consumer_poll(). NULL with errstr. */
rd_kafka_t *kafka_reader_open(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size);

/* Consumer configuration: group.id (scoped to the deployment: `group_id`
 * itself under the default prefix "ferry.", "<prefix><group_id>" under any
 * other, so deployments and tests sharing a cluster under different
 * prefixes never rebalance each other), manual offset storage, read_committed,
 * auto.offset.reset=earliest, the roundrobin assignor (librdkafka 2.0.2's
 * cooperative-sticky has known bugs), partition EOF off.
 *
 * Static membership: group.instance.id is the instance name (when set), so
 * a restarted process rejoins as the same member and gets its partitions
 * back at once, without waiting for its old session to time out. A process
 * must therefore open at most one subscribing consumer per group. The
 * price: partitions of an instance that stops for good wait for its
 * session.timeout.ms (librdkafka's default 45 s; -X to change) before they
 * move. */
rd_kafka_conf_t *kafka_consumer_conf(const struct cfg *cfg, const char *client_id,
                                     const char *group_id, char *errstr, size_t errstr_size);

/* Creates the consumer, redirects the main queue to it and subscribes to
 * `topics` (n of them). Takes ownership of conf. */
rd_kafka_t *kafka_consumer_open(rd_kafka_conf_t *conf, const char *const *topics, size_t n,
                                char *errstr, size_t errstr_size);

/* Leaves the group (commits stored offsets when auto commit is on) and frees
 * the consumer. `ever_paused`: librdkafka 2.0.2 hangs in rd_kafka_destroy()
 * for a consumer that ever paused a partition, so such a consumer is closed
 * but deliberately not destroyed — the caller must exit soon after. */
void kafka_consumer_close(rd_kafka_t *rk, int ever_paused);

/* Messages in the consumer's assigned partitions not yet consumed: the
 * high watermark minus the position, summed over the assignment. Reads the
 * watermarks librdkafka cached from its last fetch responses (no broker
 * round trip, so a poll loop may call it every second); a partition with no
 * position yet or no cached watermark counts 0. -1 when the assignment
 * cannot be read. */
long long kafka_consumer_lag(rd_kafka_t *consumer);

/* Publishes the consumer's lag in /metrics, one series per assigned
 * partition, read when /metrics is rendered (metrics.h collectors):
 *
 *   ferry_kafka_consumer_lag{group="ferry-scrape",topic="ferry.scrape.requests",partition="3"} 12
 *
 * the partition's high watermark (the last stable offset under
 * read_committed) minus the consumer's position, from the watermarks
 * librdkafka cached from its fetches (offsets, as kafka-consumer-groups
 * counts them: a transaction's commit marker is one until the consumer has
 * read past it); a partition the consumer lost leaves
 * the output, one with no position yet is not shown. kafka_consumer_open()
 * does this for every group consumer and kafka_consumer_close() undoes it;
 * a consumer made otherwise (assign() on its own) calls these two itself,
 * unwatch before closing it. `group` labels the series (NULL: the
 * consumer's group.id). */
void kafka_lag_watch(rd_kafka_t *consumer, const char *group);
void kafka_lag_unwatch(rd_kafka_t *consumer);

/* The number of partitions of `topic` from a metadata request (any client),
 * or -1 with errstr when the topic is unknown or no broker answered in
 * timeout_ms. */
int32_t kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                              size_t errstr_size);

/* A metadata request to the cluster: 0 when a broker answered in time. */
int kafka_ping(rd_kafka_t *rk, int timeout_ms, char *errstr, size_t errstr_size);

/* Copies header `name` of msg into buf as a NUL-terminated string; returns
 * buf, or NULL when absent or larger than size-1. */
const char *kafka_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t size);

/* The partition the Java client's default partitioner (and librdkafka's
 * murmur2_random) picks for a key: murmur2(key) & 0x7fffffff % partitions. */
int32_t kafka_murmur2_partition(const void *key, size_t len, int32_t partitions);

/* 1 for errors that end the client (fatal idempotence/transaction errors). */
int kafka_err_is_fatal(rd_kafka_t *rk, rd_kafka_resp_err_t err);

/* For a message from rd_kafka_consumer_poll() that carries an error: logs it
 * (`what` names the consumer; a partition EOF is not logged) and returns 1
 * when it is fatal, after asking the stage to stop (shutdown_request). A
 * consumer's fatal errors (a static group member fenced by a newer one with
 * its group.instance.id, as librdkafka 2.0.2 fences itself when its session
 * timed out during a broker outage) arrive this way, not through the error
 * callback; the consumer is dead then, and a stage that kept running would
 * hold its partitions and do nothing. Exiting lets the supervisor start it
 * again, and a restarted static member takes its partitions back at once.
 * Does not destroy the message. */
int kafka_consume_error(const rd_kafka_message_t *m, const char *what);

#endif
