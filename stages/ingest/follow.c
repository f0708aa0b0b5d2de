#include "follow.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "follower.h"
#include "jx.h"
#include "log.h"

/* The topics followed, in follower_open's order. */
enum { T_STATUS, T_ATTEMPTS, T_USAGE, T__COUNT };

struct follow {
    struct table *table;
    struct deadbook *dead;
    struct usage *usage;
    struct follower *f;
    atomic_int told; /* status_caught_up logged */
};

json_t *follow_attempt_parse(const char *value, size_t len, char *tenant, size_t size)
{
    json_t *a = json_loadb(value, len, 0, NULL);
    if (!json_is_object(a)) {
        json_decref(a);
        return NULL;
    }
    snprintf(tenant, size, "%s", jx_str(a, "tenant", ""));
    json_object_del(a, "tenant");
    return a;
}

/* An attempt, parsed once for the status table and the dead book. */
static int put_attempt(struct follow *fw, const rd_kafka_message_t *m)
{
    char tenant[64];
    json_t *a = follow_attempt_parse(m->payload, m->len, tenant, sizeof(tenant));
    int rc = !a || table_put_attempt(fw->table, a) || deadbook_put_attempt(fw->dead, a, tenant);
    json_decref(a);
    return rc ? -1 : 0;
}

/* On the follower's thread: the tables take their own locks. */
static void on_record(void *arg, int topic, const rd_kafka_message_t *m)
{
    struct follow *fw = arg;
    if (topic == T_STATUS) {
        char id[64];
        size_t klen = m->key_len < sizeof(id) - 1 ? m->key_len : sizeof(id) - 1;
        memcpy(id, m->key ? m->key : "", m->key ? klen : 0);
        id[m->key ? klen : 0] = '\0';
        if (!id[0] || table_put_status(fw->table, id, m->payload, m->len, 0))
            LOG_WARN("bad_status_record", "partition=%d offset=%lld", m->partition,
                     (long long)m->offset);
    } else if (topic == T_USAGE) {
        if (m->payload && usage_put(fw->usage, m->payload, m->len))
            LOG_WARN("bad_usage_record", "partition=%d offset=%lld", m->partition,
                     (long long)m->offset);
    } else if (m->payload && put_attempt(fw, m)) {
        LOG_WARN("bad_attempt_record", "partition=%d offset=%lld", m->partition,
                 (long long)m->offset);
    }
}

struct follow *follow_open(const struct stage *st, struct follower_hub *hub, struct table *table,
                           struct deadbook *dead, struct usage *usage, char *errstr,
                           size_t errstr_size)
{
    const char *topics[T__COUNT] = {topic_name(&st->topics, TOPIC_STATUS),
                                    topic_name(&st->topics, TOPIC_ATTEMPTS),
                                    topic_name(&st->topics, TOPIC_USAGE)};
    struct follow *fw = calloc(1, sizeof(*fw));
    if (!fw) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    fw->table = table;
    fw->dead = dead;
    fw->usage = usage;
    fw->f = follower_open_on(hub, topics, T__COUNT, on_record, fw, errstr, errstr_size);
    if (!fw->f) {
        free(fw);
        return NULL;
    }
    return fw;
}

void follow_poll(struct follow *f, int timeout_ms)
{
    /* The follower's thread applies the records; this only paces the
     * caller's loop. */
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    if (follow_caught_up(f) && !atomic_exchange(&f->told, 1))
        LOG_INFO("status_caught_up", "batches=%zu", table_count(f->table));
}

int follow_caught_up(const struct follow *f)
{
    return f && follower_caught_up(f->f);
}

void follow_close(struct follow *f)
{
    if (!f)
        return;
    follower_close(f->f);
    free(f);
}
