#include "restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jx.h"
#include "log.h"
#include "scan.h"

/* One try at the committed offsets; the engine retries on the next turn. */
#define COMMITTED_TIMEOUT_MS 10000
/* The changelog and the topics read with it. */
#define RESTORE_TOPICS_MAX 4

void changelog_flush(struct state *s, struct txn *x, const char *topic)
{
    size_t pos = 0;
    struct tally *t;
    while (state_next(s, &pos, &t)) {
        if (!t->dirty)
            continue;
        size_t len;
        char *text = tally_encode(t, &len);
        txn_produce(x, topic, t->partition, t->id, strlen(t->id), text, len, NULL);
        free(text);
        t->dirty = 0;
    }
}

void changelog_forget(struct txn *x, const char *topic, const struct tally *t)
{
    txn_produce(x, topic, t->partition, t->id, strlen(t->id), NULL, 0, NULL);
}

struct reading {
    struct state *s;
    struct delivered *d;
    size_t records, bad;
};

static int on_changelog(void *arg, const rd_kafka_message_t *m)
{
    struct reading *r = arg;
    char id[IDS_BATCH_LEN], why[256];
    r->records++;
    size_t plen = strlen(DELIVERED_KEY_PREFIX);
    if (m->key && m->key_len > plen && memcmp(m->key, DELIVERED_KEY_PREFIX, plen) == 0) {
        if (r->d && delivered_restore(r->d, m->partition, m->key, m->key_len, m->payload, m->len))
            r->bad++;
        return 0;
    }
    if (!m->key || m->key_len >= sizeof(id)) {
        r->bad++;
        return 0;
    }
    memcpy(id, m->key, m->key_len);
    id[m->key_len] = '\0';
    if (!m->payload) {
        state_remove(r->s, id);
        return 0;
    }
    json_t *v = jx_parse(m->payload, m->len, 8, why, sizeof(why));
    struct tally *t = v ? tally_decode(id, m->partition, v, why, sizeof(why)) : NULL;
    json_decref(v);
    if (!t) {
        char q[300];
        r->bad++;
        LOG_WARN("changelog_bad", "batch=%s error=%s", id, log_quote(q, sizeof(q), why));
        return 0;
    }
    state_put(r->s, t);
    return 0;
}

size_t restore_partition_numbers(const rd_kafka_topic_partition_list_t *l, int32_t *out)
{
    size_t n = 0;
    for (int i = 0; i < l->cnt; i++) {
        size_t j = 0;
        while (j < n && out[j] != l->elems[i].partition)
            j++;
        if (j == n)
            out[n++] = l->elems[i].partition;
    }
    return n;
}

int restore_partitions(struct state *s, struct delivered *d, rd_kafka_t *consumer,
                       rd_kafka_t *reader, const char *topic, const struct scan_topic *also,
                       size_t n_also, rd_kafka_topic_partition_list_t *parts,
                       struct restore_stats *stats, char *errstr, size_t errstr_size)
{
    int64_t t0 = clk_mono_ms();
    int32_t *nums = malloc(sizeof(*nums) * (size_t)(parts->cnt + 1));
    if (!nums)
        abort();
    size_t n = restore_partition_numbers(parts, nums);
    struct reading r = {.s = s, .d = d};
    int rc = -1;

    memset(stats, 0, sizeof(*stats));
    rd_kafka_resp_err_t err = rd_kafka_committed(consumer, parts, COMMITTED_TIMEOUT_MS);
    if (err) {
        snprintf(errstr, errstr_size, "committed offsets: %s", rd_kafka_err2name(err));
        goto out;
    }
    stats->offsets_ms = clk_mono_ms() - t0;
    for (size_t i = 0; i < n; i++) {
        state_drop_partition(s, nums[i]);
        if (d)
            delivered_drop_partition(d, nums[i]);
    }
    struct scan_topic topics[RESTORE_TOPICS_MAX] = {{topic, on_changelog, &r}};
    if (n_also >= RESTORE_TOPICS_MAX) {
        snprintf(errstr, errstr_size, "restore: too many topics");
        goto out;
    }
    for (size_t i = 0; i < n_also; i++)
        topics[1 + i] = also[i];
    if (scan_read_topics(reader, topics, 1 + n_also, nums, n, RESTORE_TIMEOUT_MS, errstr,
                         errstr_size))
        goto out;
    rc = 0;
out:
    stats->partitions = n;
    stats->records = r.records;
    stats->bad = r.bad;
    stats->ms = clk_mono_ms() - t0;
    free(nums);
    return rc;
}
