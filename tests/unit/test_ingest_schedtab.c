/* ingest's schedule table (stages/ingest/schedtab.c), fed as the follower
 * feeds it: definitions per tenant, state that only moves forward, runs
 * newest first, the change hashes of tracked inputs filling a run's
 * `previous` and naming the inputs a template dropped, a deleted
 * schedule's leftovers for its owner, the change callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "changes.h"
#include "jx.h"
#include "schedtab.h"

static const struct submission_limits lim = {.max_items = 10,
                                             .allow_http_webhook = 1,
                                             .allow_private_webhook = 1,
                                             .max_page_bytes = 1 << 20};
static const struct agenda_clock agenda_k = {60000, 300000};

/* 2026-11-05T08:00:30Z */
#define NOW 1793865630000LL

static int changed;
static char changed_id[SCHED_ID_LEN];

static void on_change(void *arg, const char *id, int32_t partition)
{
    (void)arg;
    assert_int_equal(partition, 1);
    changed++;
    snprintf(changed_id, sizeof(changed_id), "%s", id);
}

/* A schedule of `tenant` with body's members, put into t on partition 1. */
static void define(struct schedtab *t, const char *tenant, const char *body, char id[SCHED_ID_LEN])
{
    struct sched s;
    struct submission_err err;
    struct sched_env env = {.lim = &lim, .sb = NULL, .now_ms = NOW};
    char *shown = NULL;
    assert_int_equal(sched_create(&s, body, strlen(body), tenant, &env, &shown, &err), 0);
    char *rec = sched_record(&s);
    assert_non_null(rec);
    schedtab_put_def(t, s.id, 1, rec, strlen(rec));
    memcpy(id, s.id, SCHED_ID_LEN);
    free(rec);
    sched_release(&s);
}

static void test_definitions_state_runs(void **state)
{
    (void)state;
    struct schedtab *t = schedtab_new(&agenda_k);
    char a[SCHED_ID_LEN], b[SCHED_ID_LEN];
    struct sched s;
    int64_t done;
    int32_t part;
    schedtab_on_change(t, on_change, NULL);
    define(t, "acme", "{\"cron\":\"0 * * * *\",\"batch\":{\"urls\":[\"https://a.example/\"]}}", a);
    assert_int_equal(changed, 1);
    assert_string_equal(changed_id, a);
    define(t, "globex", "{\"cron\":\"@daily\",\"batch\":{\"urls\":[\"https://b.example/\"]}}", b);
    assert_int_equal(schedtab_count(t), 2);

    /* Another tenant's schedule is not there for it. */
    assert_int_equal(schedtab_get(t, a, "globex", &s, NULL, NULL), -1);
    assert_int_equal(schedtab_get(t, a, "acme", &s, &done, &part), 0);
    assert_string_equal(s.cron_text, "0 * * * *");
    assert_int_equal(done, 0);
    assert_int_equal(part, 1);
    sched_release(&s);
    assert_null(schedtab_doc(t, a, "globex", NOW));
    assert_true(schedtab_bits_taken(t, a));

    /* State moves forward only: a record read late never undoes a commit
     * this instance made. */
    const char *st = "{\"v\":1,\"done_through\":1793865600000}"; /* version 1 */
    schedtab_put_state(t, a, 1, st, strlen(st));
    /* A version this instance does not know is not guessed at. */
    const char *later = "{\"schema_version\":3,\"done_through\":1893865600000}";
    schedtab_put_state(t, a, 1, later, strlen(later));
    schedtab_set_done(t, a, 1793865000000LL);
    assert_int_equal(schedtab_get(t, a, NULL, &s, &done, NULL), 0);
    assert_int_equal(done, 1793865600000LL);
    sched_release(&s);
    json_t *doc = schedtab_doc(t, a, "acme", NOW);
    assert_string_equal(jx_str(doc, "next_run_at", ""), "2026-11-05T09:00:00.000Z");
    assert_true(json_is_null(json_object_get(doc, "last_run_at")));
    json_decref(doc);

    /* Runs, newest slot first, whatever order they are read in; each once;
     * at most SCHEDTAB_RUNS. */
    char batch[IDS_BATCH_LEN], slot[CLK_ISO_LEN];
    for (int i = 0; i < 30; i++) {
        unsigned h = (unsigned)i * 7u % 30u; /* out of order */
        snprintf(batch, sizeof(batch), "bat_%026u", h);
        snprintf(slot, sizeof(slot), "2026-11-%02uT08:00:00.000Z", h + 1);
        schedtab_put_run(t, a, batch, slot);
        schedtab_put_run(t, a, batch, slot);
    }
    struct schedtab_run runs[SCHEDTAB_RUNS];
    assert_int_equal(schedtab_runs(t, a, runs), SCHEDTAB_RUNS);
    for (int i = 0; i < SCHEDTAB_RUNS; i++) {
        snprintf(slot, sizeof(slot), "2026-11-%02dT08:00:00.000Z", 30 - i);
        assert_string_equal(runs[i].scheduled_for, slot);
    }
    doc = schedtab_doc(t, a, "acme", NOW);
    assert_string_equal(jx_str(doc, "last_run_at", ""), "2026-11-30T08:00:00.000Z");
    json_decref(doc);

    int more;
    json_t *list = schedtab_list(t, "acme", NULL, 10, NOW, &more);
    assert_int_equal(json_array_size(list), 1);
    assert_false(more);
    assert_string_equal(jx_str(json_array_get(list, 0), "id", ""), a);
    json_decref(list);

    schedtab_free(t);
    changed = 0;
}

static void test_tracking_and_leftovers(void **state)
{
    (void)state;
    struct schedtab *t = schedtab_new(&agenda_k);
    char id[SCHED_ID_LEN], in1[CHANGES_HASH_LEN], gone[CHANGES_KEY_MAX], key[CHANGES_KEY_MAX];
    define(t, "acme",
           "{\"cron\":\"@daily\",\"track_changes\":true,\"batch\":{\"urls\":[\"https://a.example/"
           "1\",\"https://a.example/2\"]}}",
           id);
    /* The last run's hashes: input 1, and an input the template no longer
     * has. */
    changes_input_key("https://a.example/1", NULL, 0, in1);
    changes_key(id, in1, key);
    const char *v = "{\"schema_version\":1,\"hash\":\"00112233445566ff\",\"batch_id\":\"bat_x\","
                    "\"index\":0}";
    schedtab_put_change(t, key, strlen(key), 1, v, strlen(v));
    /* A version not known here is skipped: the hash read before it stays. */
    const char *later = "{\"schema_version\":2,\"hash\":\"ffffffffffffffff\"}";
    schedtab_put_change(t, key, strlen(key), 1, later, strlen(later));
    /* Written before the version was: version 1. */
    v = "{\"hash\":\"00112233445566ff\",\"batch_id\":\"bat_x\",\"index\":0}";
    changes_key(id, "abcdefabcdefabcd", gone);
    schedtab_put_change(t, gone, strlen(gone), 1, v, strlen(v));
    const char *bad = "{\"hash\":\"not-a-hash\"}";
    changes_key(id, "0000000000000001", key);
    schedtab_put_change(t, key, strlen(key), 1, bad, strlen(bad)); /* skipped */

    struct sched s;
    struct submission b;
    struct submission_err err;
    struct submission_limits l = lim;
    l.schedule_template = 1;
    assert_int_equal(schedtab_get(t, id, "acme", &s, NULL, NULL), 0);
    char *text = jx_dump(s.template, NULL);
    assert_int_equal(submission_parse(&b, text, strlen(text), 0, "acme", &l, &err), 0);
    char(*stale)[CHANGES_KEY_MAX];
    size_t n_stale;
    assert_int_equal(schedtab_track(t, id, &b, &stale, &n_stale), 0);
    changes_key(id, in1, key);
    assert_string_equal(b.track[0].key, key);
    assert_string_equal(b.track[0].previous, "00112233445566ff");
    assert_string_equal(b.track[1].previous, ""); /* new */
    assert_int_equal(n_stale, 1);
    assert_string_equal(stale[0], gone);
    free(stale);
    submission_release(&b);
    free(text);
    sched_release(&s);

    /* A tombstone of the dropped input: gone from the table. */
    schedtab_put_change(t, gone, strlen(gone), 1, NULL, 0);
    size_t n;
    char(*keys)[CHANGES_KEY_MAX] = schedtab_change_keys(t, id, &n);
    assert_int_equal(n, 1);
    free(keys);

    /* Deleted: no longer listed or fired, but its state and hashes are
     * leftovers of partition 1 for the owner to tombstone. */
    const char *st = "{\"schema_version\":2,\"done_through\":1}";
    schedtab_put_state(t, id, 1, st, strlen(st));
    schedtab_put_def(t, id, 1, NULL, 0);
    assert_int_equal(schedtab_count(t), 0);
    assert_int_equal(schedtab_get(t, id, NULL, &s, NULL, NULL), -1);
    schedtab_ready(t);
    char(*ids)[SCHED_ID_LEN] = schedtab_partition_ids(t, 1, &n);
    assert_int_equal(n, 0);
    free(ids);
    ids = schedtab_orphans(t, 1, &n);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], id);
    free(ids);
    /* The owner's tombstones read back: nothing is left. */
    changes_key(id, in1, key);
    schedtab_put_change(t, key, strlen(key), 1, NULL, 0);
    schedtab_put_state(t, id, 1, NULL, 0);
    ids = schedtab_orphans(t, 1, &n);
    assert_int_equal(n, 0);
    free(ids);
    schedtab_free(t);
}

/* Records of a schedule deleted before this instance started: after the
 * definitions were read whole, runs and states of unknown schedules are
 * not kept as schedules. */
static void test_ready_drops_unknown(void **state)
{
    (void)state;
    struct schedtab *t = schedtab_new(&agenda_k);
    const char *id = "sch_01JD0000000000000000000000";
    schedtab_put_run(t, id, "bat_01JD0000000000000000000000", "2026-11-05T08:00:00.000Z");
    schedtab_ready(t);
    struct schedtab_run runs[SCHEDTAB_RUNS];
    assert_int_equal(schedtab_runs(t, id, runs), 0);
    size_t n;
    char(*ids)[SCHED_ID_LEN] = schedtab_orphans(t, -1, &n);
    assert_int_equal(n, 0);
    free(ids);
    schedtab_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_definitions_state_runs),
        cmocka_unit_test(test_tracking_and_leftovers),
        cmocka_unit_test(test_ready_drops_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
