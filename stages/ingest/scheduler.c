#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firing.h"
#include "kafka.h"
#include "log.h"

struct scheduler {
    struct api *api;
    struct follower *f;
    struct firing *fi;
    int ready;
};

static void on_record(void *arg, int topic, const rd_kafka_message_t *m)
{
    struct schedtab *t = arg;
    char id[SCHED_ID_LEN];
    if (topic == FIRING_CHANGES) {
        schedtab_put_change(t, m->key, m->key_len, m->partition, m->payload, m->len);
        return;
    }
    if (!m->key || m->key_len == 0 || m->key_len >= sizeof(id))
        return;
    memcpy(id, m->key, m->key_len);
    id[m->key_len] = '\0';
    if (topic == FIRING_SCHEDULES)
        schedtab_put_def(t, id, m->partition, m->payload, m->len);
    else
        schedtab_put_state(t, id, m->partition, m->payload, m->len);
}

static void on_run(void *arg, const char *schedule_id, const char *batch_id,
                   const char *scheduled_for)
{
    schedtab_put_run(arg, schedule_id, batch_id, scheduled_for);
}

struct scheduler *scheduler_open(struct api *api, const struct agenda_clock *clock, char *errstr,
                                 size_t errstr_size)
{
    const struct stage *st = api->st;
    struct scheduler *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->api = api;
    if (!(api->schedules = schedtab_new(clock))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto err;
    }
    table_on_run(api->table, on_run, api->schedules);
    const char *topics[] = {topic_name(&st->topics, TOPIC_SCHEDULES),
                            topic_name(&st->topics, TOPIC_SCHEDULE_STATE),
                            topic_name(&st->topics, TOPIC_SCHEDULE_CHANGES)};
    s->f = follower_open_on(api->follow_hub, topics, 3, on_record, api->schedules, errstr,
                            errstr_size);
    if (!s->f)
        goto err;
    api->sched_follower = s->f;
    struct firing_env env = {
        .st = st,
        .tab = api->schedules,
        .f = s->f,
        .txn = api->txn,
        .run = {&api->lim, api->sb, api->schedules},
        .clock = *clock,
        .timeout_ms = api->timeout_ms,
        .park_quiet_ms = cfg_int(&st->cfg, "FERRY_SCHEDULE_PARK_QUIET"),
    };
    if (!(s->fi = firing_start(&env, errstr, errstr_size)))
        goto err;
    schedtab_on_change(api->schedules, firing_changed, s->fi);
    return s;
err:
    scheduler_close(s);
    return NULL;
}

int scheduler_caught_up(struct scheduler *s)
{
    if (!s)
        return 0;
    if (!s->ready && follower_caught_up(s->f)) {
        schedtab_ready(s->api->schedules);
        s->ready = 1;
        LOG_INFO("schedules_loaded", "schedules=%zu", schedtab_count(s->api->schedules));
    }
    return s->ready;
}

void scheduler_close(struct scheduler *s)
{
    if (!s)
        return;
    if (s->api->schedules)
        schedtab_on_change(s->api->schedules, NULL, NULL);
    firing_stop(s->fi);
    follower_close(s->f);
    s->api->sched_follower = NULL;
    table_on_run(s->api->table, NULL, NULL);
    schedtab_free(s->api->schedules);
    s->api->schedules = NULL;
    free(s);
}
