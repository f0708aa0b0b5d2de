/* firing's partitions: taking one over (fencing the earlier owner, reading
 * its committed state), giving it up, and the transactions that write its
 * runs and states (firing.h). */
#include "firing_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jx.h"
#include "schema.h"
#include "kafka.h"
#include "ktxn.h"
#include "log.h"

/* ------------------------------------------------------------ partitions */

const char *firing_topic(const struct firing *fi, enum topic_id id)
{
    return topic_name(&fi->env.st->topics, id);
}

static void part_discard(struct part *pt)
{
    if (pt->producer)
        rd_kafka_destroy(pt->producer);
    pt->producer = NULL;
    pt->ready = 0;
}

/* Opens p's producer (fencing any earlier owner) and reads p of the three
 * topics to their end: then the table holds every committed state. */
static int takeover(struct firing *fi, int32_t p, char *errstr, size_t errstr_size)
{
    struct part *pt = &fi->parts[p];
    if (!pt->producer) {
        char txn_id[TOPIC_NAME_MAX + 64];
        snprintf(txn_id, sizeof(txn_id), "%singest-schedules.%d",
                 cfg_str(&fi->env.st->cfg, "FERRY_TOPIC_PREFIX"), (int)p);
        rd_kafka_conf_t *conf = kafka_producer_conf(&fi->env.st->cfg, fi->env.st->client_id, txn_id,
                                                    errstr, errstr_size);
        if (!conf || kafka_conf_set(conf, "linger.ms", "0", errstr, errstr_size)) {
            if (conf)
                rd_kafka_conf_destroy(conf);
            return -1;
        }
        if (!(pt->producer = kafka_producer_open(conf, TAKEOVER_TIMEOUT_MS, errstr, errstr_size)))
            return -1;
    }
    for (int t = FIRING_SCHEDULES; t <= FIRING_CHANGES; t++)
        if (follower_wait_end(fi->env.f, t, p, TAKEOVER_TIMEOUT_MS, errstr, errstr_size))
            return -1;
    return 0;
}

static void firing_cleanup_add(struct part *pt, const char *id)
{
    for (size_t i = 0; i < pt->n_cleanup; i++)
        if (strcmp(pt->cleanup[i], id) == 0)
            return;
    if (pt->n_cleanup == pt->cap_cleanup) {
        pt->cap_cleanup = pt->cap_cleanup ? pt->cap_cleanup * 2 : 16;
        if (!(pt->cleanup = realloc(pt->cleanup, pt->cap_cleanup * sizeof(*pt->cleanup))))
            abort();
    }
    snprintf(pt->cleanup[pt->n_cleanup++], SCHED_ID_LEN, "%s", id);
}

/* Partitions assigned and not yet taken over: tries each that is due. */
void firing_prepare_parts(struct firing *fi)
{
    int64_t now = clk_mono_ms();
    for (int32_t p = 0; p < fi->n_parts; p++) {
        struct part *pt = &fi->parts[p];
        char errstr[512];
        size_t n;
        if (!pt->owned || pt->ready || now < pt->retry_mono ||
            (pt->parked_until && clk_now_ms() < pt->parked_until))
            continue;
        if (takeover(fi, p, errstr, sizeof(errstr))) {
            LOG_WARN("schedules_takeover_failed", "partition=%d err=%s", (int)p, errstr);
            pt->retry_mono = clk_mono_ms() + RETRY_MS;
            continue;
        }
        pt->ready = 1;
        pt->parked_until = 0;
        pt->active_mono = clk_mono_ms();
        char(*ids)[SCHED_ID_LEN] = schedtab_partition_ids(fi->env.tab, p, &n);
        int64_t due = clk_now_ms();
        for (size_t i = 0; i < n; i++)
            firing_push(fi, firing_slot_own(fi, ids[i], p), due);
        free(ids);
        size_t n_orphans;
        char(*orphans)[SCHED_ID_LEN] = schedtab_orphans(fi->env.tab, p, &n_orphans);
        for (size_t i = 0; i < n_orphans; i++)
            firing_cleanup_add(pt, orphans[i]);
        free(orphans);
        LOG_INFO("schedules_owned", "partition=%d schedules=%zu leftovers=%zu", (int)p, n,
                 n_orphans);
    }
}

void firing_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct firing *fi = opaque;
    if (atomic_load(&fi->stop)) {
        rd_kafka_assign(rk, NULL); /* leaving: nothing more is fired */
        return;
    }
    /* Only noted: the loop acts on it, between rounds. */
    if (fi->rebalance)
        rd_kafka_topic_partition_list_destroy(fi->rebalance);
    fi->rebalance = rd_kafka_topic_partition_list_copy(parts);
    fi->rebalance_err = err;
}

void firing_apply_rebalance(struct firing *fi)
{
    rd_kafka_topic_partition_list_t *parts = fi->rebalance;
    fi->rebalance = NULL;
    if (fi->rebalance_err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* From the end: the group consumer's records are of no use here
         * (the table has them); its position is what the transactions
         * commit. */
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(fi->consumer, tp->topic, tp->partition, &lo, &hi,
                                                 5000))
                hi = RD_KAFKA_OFFSET_END;
            tp->offset = hi;
            if (tp->partition >= 0 && tp->partition < fi->n_parts) {
                struct part *pt = &fi->parts[tp->partition];
                pt->owned = 1;
                pt->ready = 0;
                pt->retry_mono = 0;
                pt->parked_until = 0;
                pt->start_offset = hi;
            }
        }
        rd_kafka_assign(fi->consumer, parts);
        LOG_INFO("schedules_assigned", "partitions=%d", parts->cnt);
    } else {
        for (int i = 0; i < parts->cnt; i++) {
            int32_t p = parts->elems[i].partition;
            if (p < 0 || p >= fi->n_parts)
                continue;
            part_discard(&fi->parts[p]);
            fi->parts[p].owned = 0;
            fi->parts[p].n_cleanup = 0;
        }
        for (size_t i = 0; i < fi->n_slots; i++)
            if (fi->slots[i].used && !fi->parts[fi->slots[i].partition].owned)
                firing_slot_drop(fi, i);
        rd_kafka_assign(fi->consumer, NULL);
        LOG_INFO("schedules_revoked", "partitions=%d", parts->cnt);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

void firing_park_idle(struct firing *fi)
{
    const struct agenda_entry *top = agenda_heap_peek(&fi->heap);
    int64_t now = clk_now_ms(), mono = clk_mono_ms();
    if (top && top->due_ms - now <= PARK_AFTER_MS)
        return;
    /* Stale heap entries can only make it wake early. */
    int64_t until = top ? top->due_ms - PARK_LEAD_MS : INT64_MAX;
    int n = 0;
    for (int32_t p = 0; p < fi->n_parts; p++) {
        struct part *pt = &fi->parts[p];
        if (!pt->owned || !pt->ready || pt->n_cleanup ||
            mono - pt->active_mono < fi->env.park_quiet_ms)
            continue;
        part_discard(pt);
        pt->parked_until = until;
        n++;
    }
    if (n)
        LOG_INFO("schedules_parked", "partitions=%d next_due_in_s=%lld", n,
                 top ? (long long)((top->due_ms - now) / 1000) : -1LL);
}

/* Definitions that changed since the last turn. */
void firing_take_dirty(struct firing *fi)
{
    pthread_mutex_lock(&fi->lock);
    struct dirty *d = fi->dirty;
    size_t n = fi->n_dirty;
    fi->dirty = NULL;
    fi->n_dirty = fi->cap_dirty = 0;
    pthread_mutex_unlock(&fi->lock);
    int64_t now = clk_now_ms();
    for (size_t i = 0; i < n; i++) {
        struct sched s;
        int32_t p = d[i].partition;
        uintptr_t had = (uintptr_t)strmap_get(&fi->by_id, d[i].id);
        int exists = schedtab_get(fi->env.tab, d[i].id, NULL, &s, NULL, &p) == 0;
        sched_release(&s);
        int mine = p >= 0 && p < fi->n_parts && fi->parts[p].ready;
        if (p >= 0 && p < fi->n_parts && fi->parts[p].parked_until)
            fi->parts[p].parked_until = 0; /* taken over again now: it pushes every schedule */
        if (exists && mine)
            firing_push(fi, firing_slot_own(fi, d[i].id, p), now);
        else if (had)
            firing_slot_drop(fi, had - 1);
        if (!exists && mine)
            firing_cleanup_add(&fi->parts[p], d[i].id);
    }
    free(d);
}

void firing_changed(void *arg, const char *id, int32_t partition)
{
    struct firing *fi = arg;
    pthread_mutex_lock(&fi->lock);
    if (fi->n_dirty == fi->cap_dirty) {
        fi->cap_dirty = fi->cap_dirty ? fi->cap_dirty * 2 : 64;
        if (!(fi->dirty = realloc(fi->dirty, fi->cap_dirty * sizeof(*fi->dirty))))
            abort();
    }
    snprintf(fi->dirty[fi->n_dirty].id, SCHED_ID_LEN, "%s", id);
    fi->dirty[fi->n_dirty++].partition = partition;
    pthread_cond_signal(&fi->wake);
    pthread_mutex_unlock(&fi->lock);
}

/* ------------------------------------------------------------ transactions */

static rd_kafka_resp_err_t put(struct firing *fi, rd_kafka_t *rk, enum topic_id topic,
                               int32_t partition, const char *key, const char *value,
                               int64_t deadline)
{
    struct kafka_msg m = {.topic = firing_topic(fi, topic),
                          .partition = partition,
                          .key = key,
                          .key_len = strlen(key),
                          .value = (void *)value,
                          .len = value ? strlen(value) : 0,
                          .msgflags = RD_KAFKA_MSG_F_COPY};
    return kafka_produce_wait(rk, &m, (int)(deadline - clk_now_ms()));
}

static char *state_record(const struct fire *f)
{
    char at[CLK_ISO_LEN], *out = NULL;
    clk_iso8601(clk_now_ms(), at);
    json_t *d = json_pack("{s:i,s:I,s:s}", SCHEMA_VERSION_KEY, SCHEMA_SCHED_STATE, "done_through",
                          (json_int_t)f->done_ms, "at", at);
    if (d && f->has_run) {
        json_object_set_new(d, "last_batch_id", json_string(f->b.id));
        json_object_set_new(d, "last_scheduled_for", json_string(f->b.scheduled_for));
    }
    if (d)
        out = jx_dump(d, NULL);
    json_decref(d);
    return out;
}

/* Everything of one transaction of partition p: the fires' runs, states
 * and stale keys, and the tombstones of p's deleted schedules. */
static int write_part(struct firing *fi, int32_t p, struct fire *fires, size_t n, int64_t deadline,
                      char *errstr, size_t errstr_size)
{
    struct part *pt = &fi->parts[p];
    rd_kafka_resp_err_t err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        struct fire *f = &fires[i];
        if (f->has_run && txn_write(fi->env.txn, pt->producer, &f->b, f->secret_enc, deadline,
                                    errstr, errstr_size))
            return -1;
        char *state = state_record(f);
        err = state ? put(fi, pt->producer, TOPIC_SCHEDULE_STATE, p, f->id, state, deadline)
                    : RD_KAFKA_RESP_ERR__FAIL;
        free(state);
        for (size_t k = 0; k < f->n_stale && !err; k++)
            err = put(fi, pt->producer, TOPIC_SCHEDULE_CHANGES, p, f->stale[k], NULL, deadline);
    }
    for (size_t i = 0; i < pt->n_cleanup && !err; i++) {
        size_t n_keys;
        char(*keys)[CHANGES_KEY_MAX] = schedtab_change_keys(fi->env.tab, pt->cleanup[i], &n_keys);
        err = put(fi, pt->producer, TOPIC_SCHEDULE_STATE, p, pt->cleanup[i], NULL, deadline);
        for (size_t k = 0; k < n_keys && !err; k++)
            err = put(fi, pt->producer, TOPIC_SCHEDULE_CHANGES, p, keys[k], NULL, deadline);
        free(keys);
    }
    if (err) {
        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Sends the group's position on p into the transaction and commits it
 * within timeout_ms (a member that lost p cannot commit it). */
static enum ktxn_result commit_offsets(struct firing *fi, int32_t p, int timeout_ms, int abort_ms,
                                       char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offs, firing_topic(fi, TOPIC_SCHEDULES), p);
    rd_kafka_position(fi->consumer, offs);
    if (offs->elems[0].offset < 0)
        offs->elems[0].offset = fi->parts[p].start_offset > 0 ? fi->parts[p].start_offset : 0;
    rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(fi->consumer);
    enum ktxn_result r = ktxn_commit_offsets(fi->parts[p].producer, offs, gm, timeout_ms, abort_ms,
                                             errstr, errstr_size);
    rd_kafka_consumer_group_metadata_destroy(gm);
    rd_kafka_topic_partition_list_destroy(offs);
    return r;
}

/* How long an abort may take: the producer is given up after that. */
#define ABORT_MS 5000

static int left_ms(int64_t deadline)
{
    int64_t left = deadline - clk_now_ms();
    return left > 0 ? (int)left : 1;
}

/* One transaction for partition p. 0 committed; -1 aborted (nothing of it
 * visible), the producer thrown away when it can never commit again. */
int firing_commit_part(struct firing *fi, int32_t p, struct fire *fires, size_t n)
{
    struct part *pt = &fi->parts[p];
    char errstr[512] = "", why[256] = "";
    int64_t deadline = clk_now_ms() + fi->env.timeout_ms;
    enum ktxn_result r;
    if (ktxn_begin(pt->producer, errstr, sizeof(errstr)))
        r = KTXN_FATAL; /* nothing is open to abort (ktxn.h) */
    else if (write_part(fi, p, fires, n, deadline, errstr, sizeof(errstr)))
        r = ktxn_abort(pt->producer, ABORT_MS, why, sizeof(why));
    else if ((r = commit_offsets(fi, p, left_ms(deadline), ABORT_MS, errstr, sizeof(errstr))) ==
             KTXN_COMMITTED) {
        pt->n_cleanup = 0;
        pt->active_mono = clk_mono_ms();
        return 0;
    }
    metric_inc(fi->m_aborts, 1);
    LOG_WARN("schedules_txn_failed", "partition=%d runs=%zu err=%s", (int)p, n, errstr);
    if (why[0])
        LOG_WARN("schedules_abort_failed", "partition=%d err=%s", (int)p, why);
    if (r == KTXN_FATAL) {
        /* Fenced (another owner), or broken: start over with a fresh
         * takeover, which reads what committed. */
        part_discard(pt);
        pt->retry_mono = clk_mono_ms() + RETRY_MS;
    }
    return -1;
}
