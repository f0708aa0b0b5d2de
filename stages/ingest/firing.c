#include "firing_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ids.h"
#include "kafka.h"
#include "log.h"

/* ------------------------------------------------------------ the agenda */

static uint64_t ref_of(const struct firing *fi, size_t i)
{
    return (uint64_t)i << 32 | fi->slots[i].gen;
}

void firing_push(struct firing *fi, size_t i, int64_t due_ms)
{
    agenda_heap_push(&fi->heap, due_ms, ref_of(fi, i));
}

/* The slot of id, made when absent; either way its older heap entries are
 * void from now on. */
size_t firing_slot_own(struct firing *fi, const char *id, int32_t partition)
{
    uintptr_t v = (uintptr_t)strmap_get(&fi->by_id, id);
    size_t i;
    if (v) {
        i = v - 1;
    } else {
        if (fi->n_free) {
            i = fi->free_slots[--fi->n_free];
        } else {
            if (fi->n_slots == fi->cap_slots) {
                fi->cap_slots = fi->cap_slots ? fi->cap_slots * 2 : 256;
                fi->slots = realloc(fi->slots, fi->cap_slots * sizeof(*fi->slots));
                fi->free_slots = realloc(fi->free_slots, fi->cap_slots * sizeof(*fi->free_slots));
                if (!fi->slots || !fi->free_slots)
                    abort();
            }
            i = fi->n_slots++;
            fi->slots[i].gen = 0;
        }
        snprintf(fi->slots[i].id, sizeof(fi->slots[i].id), "%s", id);
        fi->slots[i].used = 1;
        strmap_put(&fi->by_id, id, (void *)(uintptr_t)(i + 1), NULL);
        atomic_fetch_add(&fi->owned, 1);
    }
    fi->slots[i].partition = partition;
    fi->slots[i].gen++;
    return i;
}

void firing_slot_drop(struct firing *fi, size_t i)
{
    struct slot *s = &fi->slots[i];
    strmap_remove(&fi->by_id, s->id);
    s->used = 0;
    s->gen++;
    fi->free_slots[fi->n_free++] = i;
    atomic_fetch_sub(&fi->owned, 1);
}

/* ------------------------------------------------------------ rounds */

static void fire_release(struct fire *f)
{
    submission_release(&f->b);
    free(f->secret_enc);
    free(f->stale);
}

/* Decides schedule slot i; a decision that writes goes into *fires. */
static void decide(struct firing *fi, size_t i, int64_t now, struct fire **fires, size_t *n,
                   size_t *cap, size_t *items)
{
    struct sched s;
    int64_t done = 0;
    const struct slot *sl = &fi->slots[i];
    if (schedtab_get(fi->env.tab, sl->id, NULL, &s, &done, NULL))
        return; /* deleted: firing_take_dirty drops it */
    if (s.paused) {
        sched_release(&s); /* a resume puts it back (firing_take_dirty) */
        return;
    }
    struct agenda_rule r;
    struct agenda_decision d;
    int64_t from = done > s.since_ms ? done : s.since_ms;
    sched_rule(&s, &r);
    agenda_decide(&r, &fi->env.clock, from, now, &d);
    if (d.fire_ms == AGENDA_NONE && d.done_ms == from) {
        if (d.wake_ms != AGENDA_NONE)
            firing_push(fi, i, d.wake_ms);
        sched_release(&s);
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        if (!(*fires = realloc(*fires, *cap * sizeof(**fires))))
            abort();
    }
    struct fire *f = &(*fires)[(*n)++];
    memset(f, 0, sizeof(*f));
    f->slot = i;
    snprintf(f->id, sizeof(f->id), "%s", sl->id);
    f->partition = sl->partition;
    f->fire_ms = d.fire_ms;
    f->done_ms = d.done_ms;
    f->wake_ms = d.wake_ms;
    if (d.missed) {
        metric_inc(fi->m_missed, 1);
        LOG_INFO("schedule_missed", "schedule=%s caught_up=%s", f->id,
                 d.fire_ms != AGENDA_NONE ? "one" : "none");
    }
    if (d.fire_ms != AGENDA_NONE) {
        char batch[IDS_BATCH_LEN], errstr[512];
        if (ids_schedule_run(f->id, d.fire_ms, batch) ||
            run_build(&f->b, &s, batch, d.fire_ms, now, &fi->env.run, &f->secret_enc, &f->stale,
                      &f->n_stale, errstr, sizeof(errstr))) {
            /* The slot is settled all the same: a template that cannot run
             * now would not run on a retry either. */
            LOG_WARN("schedule_run_refused", "schedule=%s err=%s", f->id, errstr);
            fire_release(f);
            memset(&f->b, 0, sizeof(f->b));
            f->secret_enc = NULL;
            f->stale = NULL;
            f->n_stale = 0;
        } else {
            f->has_run = 1;
            *items += f->b.total;
        }
    }
    sched_release(&s);
}

static int by_partition(const void *a, const void *b)
{
    const struct fire *x = a, *y = b;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* Decides every schedule due now (up to a round's worth) and writes what
 * they decided, one transaction per partition. Returns 1 when more may be
 * due at once. */
static int fire_round(struct firing *fi)
{
    int64_t now = clk_now_ms();
    struct fire *fires = NULL;
    size_t n = 0, cap = 0, items = 0;
    const struct agenda_entry *top;
    while ((top = agenda_heap_peek(&fi->heap)) && top->due_ms <= now && n < FIRE_ROUND_MAX &&
           items < FIRE_ROUND_ITEMS) {
        struct agenda_entry e;
        agenda_heap_pop(&fi->heap, &e);
        size_t i = (size_t)(e.ref >> 32);
        if (i >= fi->n_slots || !fi->slots[i].used || fi->slots[i].gen != (uint32_t)e.ref ||
            !fi->parts[fi->slots[i].partition].ready)
            continue;
        decide(fi, i, now, &fires, &n, &cap, &items);
    }
    int more = top && top->due_ms <= now;
    if (n > 1) /* qsort(NULL, 0) is undefined: no fires, no array */
        qsort(fires, n, sizeof(*fires), by_partition);
    for (size_t a = 0, b; a < n; a = b) {
        for (b = a; b < n && fires[b].partition == fires[a].partition; b++)
            ;
        int32_t p = fires[a].partition;
        int ok = fi->parts[p].ready && firing_commit_part(fi, p, fires + a, b - a) == 0;
        int64_t after = clk_now_ms();
        for (size_t k = a; k < b; k++) {
            struct fire *f = &fires[k];
            if (!ok) {
                /* Decided again from what committed. */
                if (fi->slots[f->slot].used)
                    firing_push(fi, f->slot, after + RETRY_MS);
                continue;
            }
            schedtab_set_done(fi->env.tab, f->id, f->done_ms);
            if (f->has_run) {
                metric_inc(fi->m_runs, 1);
                metric_observe(fi->m_late, (double)(after - f->fire_ms) / 1000.0);
                LOG_INFO("schedule_run", "schedule=%s batch=%s slot=%s items=%zu late_ms=%lld",
                         f->id, f->b.id, f->b.scheduled_for, f->b.total,
                         (long long)(after - f->fire_ms));
            }
            if (f->wake_ms != AGENDA_NONE && fi->slots[f->slot].used)
                firing_push(fi, f->slot, f->wake_ms);
        }
    }
    for (size_t k = 0; k < n; k++)
        fire_release(&fires[k]);
    free(fires);
    return more;
}

/* Tombstones of deleted schedules when no run carried them. */
static void cleanup_parts(struct firing *fi)
{
    for (int32_t p = 0; p < fi->n_parts; p++)
        if (fi->parts[p].ready && fi->parts[p].n_cleanup)
            firing_commit_part(fi, p, NULL, 0);
}

/* Sleeps until the earliest due time, a second at most, or a change. */
static void sleep_until_due(struct firing *fi)
{
    const struct agenda_entry *top = agenda_heap_peek(&fi->heap);
    int64_t wait = WAKE_MAX_MS;
    if (top && top->due_ms - clk_now_ms() < wait)
        wait = top->due_ms - clk_now_ms();
    for (int32_t p = 0; p < fi->n_parts; p++)
        if (fi->parts[p].owned && !fi->parts[p].ready) {
            const struct part *pt = &fi->parts[p];
            int64_t at =
                pt->parked_until ? pt->parked_until - clk_now_ms() : pt->retry_mono - clk_mono_ms();
            if (at < wait)
                wait = at;
        }
    if (wait <= 0)
        return;
    struct timespec ts;
    clk_deadline((int)wait, &ts);
    pthread_mutex_lock(&fi->lock);
    if (!fi->n_dirty && !atomic_load(&fi->stop))
        pthread_cond_timedwait(&fi->wake, &fi->lock, &ts);
    pthread_mutex_unlock(&fi->lock);
}

static void *run(void *arg)
{
    struct firing *fi = arg;
    while (!atomic_load(&fi->stop)) {
        /* Serves the group's events (rebalances); records are not used. */
        rd_kafka_message_t *m;
        for (int k = 0; k < 1000 && (m = rd_kafka_consumer_poll(fi->consumer, 0)); k++) {
            if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LOG_WARN("schedules_consume_error", "err=%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        if (fi->rebalance)
            firing_apply_rebalance(fi);
        firing_prepare_parts(fi);
        firing_take_dirty(fi);
        cleanup_parts(fi);
        if (!fire_round(fi)) {
            firing_park_idle(fi);
            sleep_until_due(fi);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

static double owned_gauge(void *arg)
{
    return (double)firing_owned(arg);
}

struct firing *firing_start(const struct firing_env *env, char *errstr, size_t errstr_size)
{
    struct firing *fi = calloc(1, sizeof(*fi));
    if (!fi) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    fi->env = *env;
    pthread_mutex_init(&fi->lock, NULL);
    pthread_cond_init(&fi->wake, NULL);
    fi->n_parts = follower_partitions(env->f, FIRING_SCHEDULES);
    fi->parts = calloc((size_t)(fi->n_parts > 0 ? fi->n_parts : 1), sizeof(*fi->parts));
    if (!fi->parts)
        abort();
    fi->m_runs = metric_counter("ferry_ingest_schedule_runs_total",
                                "Runs of schedules started by this instance's firing", "");
    fi->m_missed =
        metric_counter("ferry_ingest_schedule_missed_total",
                       "Decisions that found slots missed past FERRY_SCHEDULE_MISFIRE", "");
    fi->m_aborts = metric_counter("ferry_ingest_schedule_aborts_total",
                                  "Firing transactions aborted (decided again after)", "");
    fi->m_late =
        metric_histogram("ferry_ingest_schedule_lateness_seconds", "A run's commit after its slot",
                         "", metric_latency_bounds, metric_latency_n);
    metric_gauge_fn("ferry_ingest_schedules_owned", "Schedules this instance fires", "",
                    owned_gauge, fi);

    rd_kafka_conf_t *conf = kafka_consumer_conf(&env->st->cfg, env->st->client_id,
                                                "ferry-ingest-schedules", errstr, errstr_size);
    /* A member that dies hands its schedules on after its session: keep
     * it short (lateness, never a lost or doubled run). */
    if (!conf ||
        kafka_conf_default(conf, &env->st->cfg, "session.timeout.ms", "10000", errstr,
                           errstr_size) ||
        kafka_conf_default(conf, &env->st->cfg, "heartbeat.interval.ms", "2000", errstr,
                           errstr_size)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        goto err;
    }
    rd_kafka_conf_set_rebalance_cb(conf, firing_on_rebalance);
    rd_kafka_conf_set_opaque(conf, fi);
    const char *topics[] = {firing_topic(fi, TOPIC_SCHEDULES)};
    if (!(fi->consumer = kafka_consumer_open(conf, topics, 1, errstr, errstr_size)))
        goto err;
    if (pthread_create(&fi->thread, NULL, run, fi)) {
        snprintf(errstr, errstr_size, "cannot start the firing thread");
        goto err;
    }
    fi->started = 1;
    return fi;
err:
    firing_stop(fi);
    return NULL;
}

size_t firing_owned(struct firing *fi)
{
    return fi ? atomic_load(&fi->owned) : 0;
}

void firing_stop(struct firing *fi)
{
    if (!fi)
        return;
    atomic_store(&fi->stop, 1);
    if (fi->started) {
        pthread_mutex_lock(&fi->lock);
        pthread_cond_signal(&fi->wake);
        pthread_mutex_unlock(&fi->lock);
        pthread_join(fi->thread, NULL);
    }
    if (fi->consumer)
        kafka_consumer_close(fi->consumer, 0);
    for (int32_t p = 0; p < fi->n_parts; p++) {
        if (fi->parts[p].producer)
            kafka_producer_close(fi->parts[p].producer, 5000);
        free(fi->parts[p].cleanup);
    }
    if (fi->rebalance)
        rd_kafka_topic_partition_list_destroy(fi->rebalance);
    agenda_heap_release(&fi->heap);
    strmap_release(&fi->by_id, NULL);
    free(fi->slots);
    free(fi->free_slots);
    free(fi->parts);
    free(fi->dirty);
    pthread_mutex_destroy(&fi->lock);
    pthread_cond_destroy(&fi->wake);
    free(fi);
}
