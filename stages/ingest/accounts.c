#include "accounts.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "kafka.h"
#include "ktxn.h"
#include "log.h"

enum { T_TENANTS, T_IDEMPOTENCY };

/* Changes retried after a fence before giving up (each is a fresh read). */
#define CHANGE_TRIES 5

int accounts_init(struct accounts *ac, const struct stage *st, int timeout_ms)
{
    memset(ac, 0, sizeof(*ac));
    ac->st = st;
    ac->timeout_ms = timeout_ms;
    pthread_mutex_init(&ac->lock, NULL);
    pthread_cond_init(&ac->opened, NULL);
    pthread_mutex_init(&ac->write_lock, NULL);
    ac->tenants = tenant_table_new();
    ac->idem = idem_new();
    return ac->tenants && ac->idem ? 0 : -1;
}

static void on_record(void *arg, int topic, const rd_kafka_message_t *m)
{
    struct accounts *ac = arg;
    if (topic == T_TENANTS)
        tenant_table_follow(ac->tenants, topic, m);
    else
        idem_follow(ac->idem, topic, m);
}

int accounts_follow(struct accounts *ac, struct follower_hub *hub, char *errstr, size_t errstr_size)
{
    const char *topics[] = {topic_name(&ac->st->topics, TOPIC_TENANTS),
                            topic_name(&ac->st->topics, TOPIC_IDEMPOTENCY)};
    /* Settings are read fresh before each change and for GET /v1/webhook
     * (follower_wait_end): the hub's end wait bounds what that waits for a
     * commit marker (main.c). */
    struct follower *f = follower_open_on(hub, topics, 2, on_record, ac, errstr, errstr_size);
    if (!f)
        return -1;
    pthread_mutex_lock(&ac->lock);
    ac->f = f;
    pthread_cond_broadcast(&ac->opened);
    pthread_mutex_unlock(&ac->lock);
    return 0;
}

static struct follower *follower_of(struct accounts *ac)
{
    pthread_mutex_lock(&ac->lock);
    struct follower *f = ac->f;
    pthread_mutex_unlock(&ac->lock);
    return f;
}

int accounts_caught_up(struct accounts *ac)
{
    struct follower *f = follower_of(ac);
    return f && follower_caught_up(f);
}

int accounts_wait_ready(struct accounts *ac, int timeout_ms)
{
    int64_t deadline = clk_mono_ms() + timeout_ms;
    struct timespec ts;
    clk_deadline(timeout_ms, &ts);
    pthread_mutex_lock(&ac->lock);
    while (!ac->f && pthread_cond_timedwait(&ac->opened, &ac->lock, &ts) == 0)
        ;
    struct follower *f = ac->f;
    pthread_mutex_unlock(&ac->lock);
    int64_t left = deadline - clk_mono_ms();
    return f && follower_wait_caught_up(f, left > 0 ? (int)left : 1) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ changes */

struct written {
    atomic_int done;
    rd_kafka_resp_err_t err;
    int64_t offset;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    kafka_dr_default(rk, msg, opaque);
    struct written *w = msg->_private;
    if (w) {
        w->err = msg->err;
        w->offset = msg->offset;
        atomic_store(&w->done, 1);
    }
}

/* The transactional producer of partition p: opening it fences every
 * other instance's (see accounts.h). */
static rd_kafka_t *fencing_producer(struct accounts *ac, int32_t p, char *errstr,
                                    size_t errstr_size)
{
    char txn_id[300], tmo[32];
    snprintf(txn_id, sizeof(txn_id), "%singest-tenants.%d",
             cfg_str(&ac->st->cfg, "FERRY_TOPIC_PREFIX"), (int)p);
    snprintf(tmo, sizeof(tmo), "%d", ac->timeout_ms);
    rd_kafka_conf_t *conf =
        kafka_producer_conf(&ac->st->cfg, ac->st->client_id, txn_id, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "message.timeout.ms", tmo, errstr, errstr_size) ||
        kafka_conf_set(conf, "linger.ms", "0", errstr, errstr_size) ||
        /* A crashed writer's transaction blocks readers of the partition
         * until the broker aborts it, or the next writer fences it. */
        kafka_conf_set(conf, "transaction.timeout.ms", "60000", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = kafka_producer_open(conf, ac->timeout_ms, errstr, errstr_size);
    /* Learn the topic's leaders now: a first record to a topic the producer
     * knows nothing of waits about a second in its commit. */
    if (rk && kafka_partition_count(rk, topic_name(&ac->st->topics, TOPIC_TENANTS), ac->timeout_ms,
                                    errstr, errstr_size) <= 0) {
        kafka_producer_close(rk, 0);
        rk = NULL;
    }
    return rk;
}

/* One attempt at a change with producer rk on partition p. 0 written (its
 * offset in *offset); -1 Kafka failed or fenced; -2 fn refused. */
static int change_once(struct accounts *ac, struct follower *f, rd_kafka_t *rk, int32_t p,
                       const char *tenant, accounts_change_fn fn, void *arg,
                       struct tenant_settings *s, int64_t *offset, char *errstr, size_t errstr_size)
{
    struct written w = {0};
    char *value = NULL;
    size_t len = 0;
    int rc = -1;
    if (follower_wait_end(f, T_TENANTS, p, ac->timeout_ms, errstr, errstr_size))
        return -1;
    tenant_table_get(ac->tenants, tenant, s);
    if (fn(s, arg, errstr, errstr_size))
        return -2;
    s->updated_ms = clk_now_ms();
    if (!(value = tenant_settings_json(tenant, s, &len))) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (ktxn_begin(rk, errstr, errstr_size))
        goto out;
    struct kafka_msg m = {.topic = topic_name(&ac->st->topics, TOPIC_TENANTS),
                          .partition = p,
                          .key = tenant,
                          .key_len = strlen(tenant),
                          .value = value,
                          .len = len,
                          .msgflags = RD_KAFKA_MSG_F_COPY,
                          .opaque = &w};
    rd_kafka_resp_err_t err = kafka_produce_wait(rk, &m, ac->timeout_ms);
    if (err) {
        char why[256];
        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
        /* End it now rather than leave it to the next fencing producer:
         * until then it holds up every reader of the partition. */
        ktxn_abort(rk, ac->timeout_ms, why, sizeof(why));
        goto out;
    }
    /* The caller closes rk after any failure, so whether it could go on
     * (aborted) or not (fatal) does not matter here. */
    if (ktxn_commit(rk, ac->timeout_ms, ac->timeout_ms, errstr, errstr_size) != KTXN_COMMITTED)
        goto out;
    /* The commit flushed the record; its report tells where it lies. */
    for (int64_t until = clk_mono_ms() + ac->timeout_ms;
         !atomic_load(&w.done) && clk_mono_ms() < until;)
        rd_kafka_poll(rk, 10);
    if (!atomic_load(&w.done) || w.err) {
        snprintf(errstr, errstr_size, "delivery: %s",
                 rd_kafka_err2str(atomic_load(&w.done) ? w.err : RD_KAFKA_RESP_ERR__TIMED_OUT));
        goto out;
    }
    *offset = w.offset;
    rc = 0;
out:
    free(value);
    return rc;
}

int accounts_change(struct accounts *ac, const char *tenant, accounts_change_fn fn, void *arg,
                    struct tenant_settings *out, char *errstr, size_t errstr_size)
{
    struct follower *f = follower_of(ac);
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (!f || accounts_wait_ready(ac, ac->timeout_ms)) {
        snprintf(errstr, errstr_size, "the tenants topic is not read yet");
        return -1;
    }
    int32_t parts = follower_partitions(f, T_TENANTS);
    int32_t p = kafka_murmur2_partition(tenant, strlen(tenant), parts);
    int64_t t0 = clk_mono_ms();
    pthread_mutex_lock(&ac->write_lock);
    /* Retried while fences come and go, within the submit timeout. */
    for (int attempt = 0; attempt < CHANGE_TRIES && rc == -1 && clk_mono_ms() - t0 < ac->timeout_ms;
         attempt++) {
        int64_t offset = -1;
        rd_kafka_t *rk = fencing_producer(ac, p, errstr, errstr_size);
        if (!rk)
            continue;
        tenant_settings_release(out);
        rc = change_once(ac, f, rk, p, tenant, fn, arg, out, &offset, errstr, errstr_size);
        kafka_producer_close(rk, rc ? 0 : 1000);
        if (rc == 0 && follower_wait(f, T_TENANTS, p, offset + 1, ac->timeout_ms)) {
            /* Committed, but not read back in time: it is there, and the
             * table will have it. */
            LOG_WARN("tenant_readback_slow", "tenant=%s offset=%lld", tenant, (long long)offset);
        }
        if (rc == -1)
            LOG_INFO("tenant_change_retry", "tenant=%s attempt=%d err=\"%s\"", tenant, attempt + 1,
                     errstr);
    }
    pthread_mutex_unlock(&ac->write_lock);
    if (rc)
        tenant_settings_release(out);
    else
        LOG_INFO("tenant_changed", "tenant=%s", tenant);
    return rc;
}

int accounts_settings(struct accounts *ac, const char *tenant, int fresh,
                      struct tenant_settings *out, char *errstr, size_t errstr_size)
{
    struct follower *f = follower_of(ac);
    memset(out, 0, sizeof(*out));
    if (!f || accounts_wait_ready(ac, ac->timeout_ms)) {
        snprintf(errstr, errstr_size, "the tenants topic is not read yet");
        return -1;
    }
    if (fresh) {
        int32_t p =
            kafka_murmur2_partition(tenant, strlen(tenant), follower_partitions(f, T_TENANTS));
        if (follower_wait_end(f, T_TENANTS, p, ac->timeout_ms, errstr, errstr_size))
            return -1;
    }
    tenant_table_get(ac->tenants, tenant, out);
    return 0;
}

void accounts_release(struct accounts *ac)
{
    follower_close(ac->f);
    ac->f = NULL;
    tenant_table_free(ac->tenants);
    idem_free(ac->idem);
    ac->tenants = NULL;
    ac->idem = NULL;
    pthread_mutex_destroy(&ac->lock);
    pthread_cond_destroy(&ac->opened);
    pthread_mutex_destroy(&ac->write_lock);
}
