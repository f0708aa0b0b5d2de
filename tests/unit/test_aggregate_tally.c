/* The aggregator's count: the table of batches and its counts, counting
 * (duplicates, ranges, pending batches, results in parts, unknown statuses)
 * and the changelog round trip (versions 1 and 2). Links the stage's objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state.h"
#include "jx.h"

#define ID "bat_01M816TZ7MSG7GBE1TYYCV6RYZ"

static void make_id(char *out, unsigned i)
{
    snprintf(out, IDS_BATCH_LEN, "bat_01M816TZ7MSG7GBE1TY%07u", i % 10000000u);
}

static json_t *record_of(long long total)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:n}", "type", "batch", "id", ID, "tenant",
                     "acme", "created_at", "2026-11-22T10:00:00.000Z", "total", (json_int_t)total,
                     "metadata", json_object(), "webhook");
}

static struct tally_in whole(long long index, enum status st)
{
    return (struct tally_in){.index = index, .status = st, .credits = st == STATUS_OK};
}

static struct tally_in part(long long index, int p, int n, uint64_t attempt)
{
    return (struct tally_in){.index = index,
                             .status = STATUS_OK,
                             .credits = 1,
                             .part = p,
                             .parts = n,
                             .attempt = attempt};
}

static int count(struct tally *t, struct tally_in in, int64_t offset, long long max)
{
    int64_t first;
    return tally_count(t, &in, 10 + offset, offset, max, &first);
}

static int follows_freed;
static void free_follow(struct follow *f)
{
    follows_freed++;
    free(f);
}

static void test_table_insert_remove_drop(void **st)
{
    (void)st;
    struct state s;
    char id[IDS_BATCH_LEN];
    state_init(&s, free_follow);
    for (int i = 0; i < 5000; i++) {
        make_id(id, (unsigned)i);
        state_get_or_add(&s, id, i % 4, 1);
    }
    assert_int_equal(state_size(&s), 5000);
    assert_int_equal(s.n_pending, 5000);
    /* What the engine attaches is freed with the tally. */
    make_id(id, 8);
    state_get(&s, id)->follow = calloc(1, 64);
    for (int i = 0; i < 5000; i += 2) {
        make_id(id, (unsigned)i);
        state_remove(&s, id);
    }
    assert_int_equal(follows_freed, 1);
    assert_int_equal(state_size(&s), 2500);
    assert_int_equal(s.n_pending, 2500);
    for (int i = 0; i < 5000; i++) {
        make_id(id, (unsigned)i);
        struct tally *t = state_get(&s, id);
        if (i % 2)
            assert_non_null(t);
        else
            assert_null(t);
    }
    /* Odd ids sit in partitions 1 and 3. */
    assert_int_equal(state_drop_partition(&s, 1), 1250);
    assert_int_equal(state_size(&s), 1250);
    assert_int_equal(s.n_pending, 1250);
    for (int i = 1; i < 5000; i += 2) {
        make_id(id, (unsigned)i);
        assert_true((state_get(&s, id) != NULL) == (i % 4 == 3));
    }
    state_release(&s);
}

static void test_counts_follow_the_batches(void **st)
{
    (void)st;
    struct state s;
    state_init(&s, NULL);
    struct tally *t = state_get_or_add(&s, ID, 0, 1);
    assert_int_equal(s.n_pending, 1);
    json_t *rec = record_of(2);
    state_set_record(&s, t, rec, 5);
    json_decref(rec);
    assert_int_equal(s.n_pending, 0);
    assert_int_equal(s.n_active, 1);
    state_finish(&s, t, 9);
    assert_int_equal(s.n_active, 0);
    state_remove(&s, ID); /* a done tally counts nowhere */
    assert_int_equal(s.n_active + s.n_pending, 0);
    state_release(&s);
}

static void test_count_duplicates_and_ranges(void **st)
{
    (void)st;
    struct state s;
    state_init(&s, NULL);
    struct tally *t = state_get_or_add(&s, ID, 0, 1);
    /* Pending: counts up to max_index, duplicates never twice. */
    static const struct {
        long long index;
        enum status st;
        int want;
    } rows[] = {
        {0, STATUS_OK, TALLY_COUNTED},        {0, STATUS_OK, TALLY_DUPLICATE},
        {5, STATUS_TIMEOUT, TALLY_COUNTED},   {5, STATUS_OK, TALLY_DUPLICATE},
        {99, STATUS_OK, TALLY_COUNTED},       {100, STATUS_OK, TALLY_OUT_OF_RANGE},
        {-1, STATUS_OK, TALLY_OUT_OF_RANGE},  {99, STATUS_DNS, TALLY_DUPLICATE},
        {7, STATUS_NOT_FOUND, TALLY_COUNTED},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(count(t, whole(rows[i].index, rows[i].st), 100 + (int64_t)i, 100),
                         rows[i].want);
    assert_int_equal(t->processed, 4);
    assert_int_equal(t->succeeded, 2);
    assert_int_equal(t->credits, 2);
    assert_int_equal(t->errors[STATUS_TIMEOUT], 1);
    assert_int_equal(t->errors[STATUS_NOT_FOUND], 1);
    assert_int_equal(t->res_first, 100);
    assert_int_equal(t->res_last, 108);
    assert_false(tally_complete(t));

    json_t *rec = record_of(100);
    assert_int_equal(state_set_record(&s, t, rec, 5), 0);
    json_decref(rec);
    assert_int_equal(count(t, whole(100, STATUS_OK), 200, 1000), TALLY_OUT_OF_RANGE);
    for (long long i = 0; i < 100; i++)
        count(t, whole(i, STATUS_OK), 300 + i, 1000);
    assert_true(tally_complete(t));
    assert_int_equal(t->processed, 100);

    /* A record whose total is below an index already counted is reported. */
    struct tally *c = state_get_or_add(&s, "bat_01M816TZ7MSG7GBE1TYYCV6RY0", 0, 1);
    count(c, whole(50, STATUS_OK), 1, 100);
    rec = record_of(10);
    assert_int_equal(state_set_record(&s, c, rec, 5), -1);
    json_decref(rec);

    state_finish(&s, t, 77);
    assert_true(t->done);
    assert_null(t->bits);
    assert_int_equal(count(t, whole(1, STATUS_OK), 1, 100), TALLY_DUPLICATE);
    state_release(&s);
}

static void test_parts_count_once(void **st)
{
    (void)st;
    struct tally *t = tally_new(ID, 0, 1);
    json_t *rec = record_of(4);
    tally_set_record(t, rec, 1);
    json_decref(rec);
    int64_t first = -1;
    struct tally_in in;

    /* Item 0 in three parts, out of order, one part twice: counts once,
     * when the last missing part is in, from its first part's offset. */
    assert_int_equal(count(t, part(0, 2, 3, 7), 10, 100), TALLY_PART);
    assert_int_equal(count(t, part(0, 1, 3, 7), 11, 100), TALLY_PART);
    assert_int_equal(count(t, part(0, 2, 3, 7), 12, 100), TALLY_DUPLICATE);
    assert_int_equal(t->processed, 0);
    in = part(0, 3, 3, 7);
    assert_int_equal(tally_count(t, &in, 1, 13, 100, &first), TALLY_COUNTED);
    assert_int_equal(first, 10);
    assert_int_equal(t->processed, 1);
    assert_int_equal(t->credits, 1);
    assert_int_equal(t->n_splits, 0);
    /* A replay of its parts later is a duplicate. */
    assert_int_equal(count(t, part(0, 1, 3, 7), 14, 100), TALLY_DUPLICATE);

    /* Item 1: two attempts interleaved never make one result; the first
     * attempt to have all its parts counts, the other's parts are then
     * duplicates. */
    assert_int_equal(count(t, part(1, 1, 2, 100), 20, 100), TALLY_PART);
    assert_int_equal(count(t, part(1, 1, 3, 200), 21, 100), TALLY_PART);
    assert_int_equal(count(t, part(1, 2, 3, 200), 22, 100), TALLY_PART);
    assert_int_equal(t->n_splits, 2);
    in = part(1, 2, 2, 100);
    assert_int_equal(tally_count(t, &in, 1, 23, 100, &first), TALLY_COUNTED);
    assert_int_equal(first, 20);
    assert_int_equal(t->n_splits, 0);
    assert_int_equal(count(t, part(1, 3, 3, 200), 24, 100), TALLY_DUPLICATE);

    /* Item 2: parts, then the item written whole (a retry after a smaller
     * fetch): the whole result counts, the parts' leftovers go. */
    assert_int_equal(count(t, part(2, 1, 2, 300), 30, 100), TALLY_PART);
    assert_int_equal(count(t, whole(2, STATUS_TIMEOUT), 31, 100), TALLY_COUNTED);
    assert_int_equal(t->n_splits, 0);
    assert_int_equal(count(t, part(2, 2, 2, 300), 32, 100), TALLY_DUPLICATE);
    assert_int_equal(t->processed, 3);
    assert_int_equal(t->res_first, 10);
    assert_int_equal(t->res_last, 31);
    assert_false(tally_complete(t));
    tally_free(t);
}

static void test_unknown_status_counts_under_its_name(void **st)
{
    (void)st;
    struct tally *t = tally_new(ID, 0, 1);
    struct tally_in in = whole(0, STATUS_UNKNOWN);
    snprintf(in.other, sizeof(in.other), "geo_fenced");
    assert_int_equal(count(t, in, 1, 1000), TALLY_COUNTED);
    in.index = 1;
    assert_int_equal(count(t, in, 2, 1000), TALLY_COUNTED);
    assert_int_equal(t->n_others, 1);
    assert_string_equal(t->others[0].name, "geo_fenced");
    assert_int_equal(t->others[0].n, 2);
    assert_int_equal(t->succeeded, 0);
    assert_int_equal(t->credits, 0);
    /* A stream of new names is bounded. */
    for (int i = 0; i < TALLY_MAX_OTHERS + 3; i++) {
        in.index = 10 + i;
        snprintf(in.other, sizeof(in.other), "s%d", i);
        int rc = count(t, in, 10 + i, 1000);
        assert_int_equal(rc, i < TALLY_MAX_OTHERS - 1 ? TALLY_COUNTED : TALLY_REFUSED);
    }
    assert_false(tally_seen(t, 10 + TALLY_MAX_OTHERS));
    tally_free(t);
}

static struct tally *round_trip(struct tally *t)
{
    char why[256];
    size_t len;
    char *text = tally_encode(t, &len);
    json_t *v = jx_parse(text, len, 8, why, sizeof(why));
    if (!v)
        fail_msg("changelog value is not JSON: %s\n%s", why, text);
    struct tally *c = tally_decode(t->id, t->partition, v, why, sizeof(why));
    if (!c)
        fail_msg("decode: %s", why);
    json_decref(v);
    free(text);
    return c;
}

static void test_changelog_round_trip(void **st)
{
    (void)st;
    struct tally *t = tally_new(ID, 3, 11);
    json_t *rec = record_of(1000);
    tally_set_record(t, rec, 12);
    json_decref(rec);
    for (long long i = 0; i < 1000; i += 3)
        count(t, whole(i, i % 2 ? STATUS_TLS : STATUS_OK), 500 + i, 1000);
    struct tally_in odd = whole(1, STATUS_UNKNOWN);
    snprintf(odd.other, sizeof(odd.other), "geo_fenced");
    count(t, odd, 1600, 1000);
    count(t, part(4, 2, 5, 0xfeedfacecafebeefULL), 1601, 1000);
    count(t, part(4, 5, 5, 0xfeedfacecafebeefULL), 1602, 1000);
    /* Verdicts of a tracked run: counted once per item, like the rest. */
    struct tally_in v1 = whole(7, STATUS_OK), v2 = whole(8, STATUS_OK);
    v1.has_change = v2.has_change = 1;
    v1.change = CHANGE_CHANGED;
    v2.change = CHANGE_SAME;
    count(t, v1, 1603, 1000);
    count(t, v1, 1604, 1000);
    count(t, v2, 1605, 1000);
    assert_int_equal(t->changes[CHANGE_CHANGED], 1);
    assert_int_equal(t->changes[CHANGE_SAME], 1);
    assert_int_equal(t->changes[CHANGE_NEW], 0);
    t->billed = (struct tally_billed){1, 1000, 150, 170, 149};

    struct tally *c = round_trip(t);
    for (int i = 0; i < CHANGE__COUNT; i++)
        assert_int_equal(c->changes[i], t->changes[i]);
    assert_true(c->known);
    assert_true(c->billable);
    assert_string_equal(c->tenant, "acme");
    assert_int_equal(c->total, 1000);
    /* What usage was told comes back with the counts it came from. */
    assert_memory_equal(&c->billed, &t->billed, sizeof(t->billed));
    assert_int_equal(c->processed, t->processed);
    assert_int_equal(c->succeeded, t->succeeded);
    assert_int_equal(c->credits, t->credits);
    assert_int_equal(c->errors[STATUS_TLS], t->errors[STATUS_TLS]);
    assert_int_equal(c->n_others, 1);
    assert_int_equal(c->others[0].n, 1);
    assert_int_equal(c->res_first, 500);
    assert_int_equal(c->res_last, t->res_last);
    assert_int_equal(c->started_ms, 12);
    assert_null(c->follow);
    for (long long i = 0; i < 1000; i++)
        assert_int_equal(tally_seen(c, i), i % 3 == 0 || i == 1 || i == 7 || i == 8);
    /* The parts seen survive: the item completes with its missing ones
     * after a restart, and a part seen before stays a duplicate. */
    assert_int_equal(c->n_splits, 1);
    assert_int_equal(count(c, part(4, 5, 5, 0xfeedfacecafebeefULL), 1700, 1000), TALLY_DUPLICATE);
    assert_int_equal(count(c, part(4, 1, 5, 0xfeedfacecafebeefULL), 1701, 1000), TALLY_PART);
    assert_int_equal(count(c, part(4, 3, 5, 0xfeedfacecafebeefULL), 1702, 1000), TALLY_PART);
    int64_t first;
    struct tally_in last = part(4, 4, 5, 0xfeedfacecafebeefULL);
    assert_int_equal(tally_count(c, &last, 1, 1703, 1000, &first), TALLY_COUNTED);
    assert_int_equal(first, 1601);
    tally_free(c);

    tally_finish(t, 99);
    c = round_trip(t);
    assert_true(c->done);
    assert_int_equal(c->done_ms, 99);
    /* A done tally comes back without its counts: nothing to bill. */
    assert_false(c->billable);
    tally_free(c);
    tally_free(t);

    char why[256];
    json_t *v = json_pack("{s:i}", "v", 4);
    assert_null(tally_decode(ID, 3, v, why, sizeof(why)));
    json_decref(v);
}

static void test_changelog_version_1(void **st)
{
    (void)st;
    char why[256];
    /* What the aggregator wrote before credits, statuses by name and parts:
     * errors by position in the old order. */
    json_t *v = json_pack("{s:i, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:[iiiiiiiii], s:I, s:I, "
                          "s:I, s:I, s:o, s:s}",
                          "v", 1, "known", 1, "done", 0, "cancelled", 0, "seen_ms", (json_int_t)5,
                          "started_ms", (json_int_t)6, "processed", (json_int_t)4, "succeeded",
                          (json_int_t)1, "errors", 0, 1, 0, 0, 1, 0, 0, 0, 1, "first_ms",
                          (json_int_t)7, "last_ms", (json_int_t)8, "res_first", (json_int_t)10,
                          "res_last", (json_int_t)13, "record", record_of(8), "bits", "Dw==");
    struct tally *t = tally_decode(ID, 1, v, why, sizeof(why));
    json_decref(v);
    assert_non_null(t);
    assert_int_equal(t->errors[STATUS_DNS], 1);
    assert_int_equal(t->errors[STATUS_HTTP_ERROR], 1);
    assert_int_equal(t->errors[STATUS_CANCELLED], 1);
    assert_int_equal(t->errors[STATUS_NOT_FOUND], 0);
    assert_int_equal(t->credits, 1);
    for (int i = 0; i < 8; i++)
        assert_int_equal(tally_seen(t, i), i < 4);
    tally_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_insert_remove_drop),
        cmocka_unit_test(test_counts_follow_the_batches),
        cmocka_unit_test(test_count_duplicates_and_ranges),
        cmocka_unit_test(test_parts_count_once),
        cmocka_unit_test(test_unknown_status_counts_under_its_name),
        cmocka_unit_test(test_changelog_round_trip),
        cmocka_unit_test(test_changelog_version_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
