/* Usage in the aggregator: billing a batch's counts once (pending batches,
 * growing totals, done tallies read back), rows per day and partition, and
 * the deliveries counted once per delivery id (delivered.h), also after
 * their record is read back from the changelog. Links the stage's
 * objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "delivered.h"
#include "jx.h"
#include "usage.h"

#define ID  "bat_01M816TZ7MSG7GBE1TYYCV6RYZ"
#define DAY 86400000LL
/* 2026-11-22T10:00:00Z */
#define NOW 1795341600000LL

static json_t *record_of(const char *tenant, long long total)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:n}", "type", "batch", "id", ID, "tenant",
                     tenant, "created_at", "2026-11-22T10:00:00.000Z", "total", (json_int_t)total,
                     "metadata", json_object(), "webhook");
}

static void count(struct tally *t, long long index, enum status st)
{
    int64_t first;
    struct tally_in in = {.index = index, .status = st, .credits = st == STATUS_OK ? 5 : 0};
    assert_int_equal(tally_count(t, &in, 1, index, 1000, &first), TALLY_COUNTED);
}

static const struct usagerec *row(const struct usage *u, int32_t p, const char *tenant, int64_t at)
{
    char date[USAGEREC_DATE_LEN];
    usagerec_date(at, date);
    const struct usage_row *r = usage_get(u, p, tenant, date);
    return r ? &r->r : NULL;
}

static void test_bill_once(void **st)
{
    (void)st;
    struct usage u;
    usage_init(&u);
    struct tally *t = tally_new(ID, 1, 0);

    /* Results before the record: counted, but whose they are is not
     * known yet, so nothing is billed. */
    count(t, 0, STATUS_OK);
    assert_int_equal(usage_bill(&u, t, NOW), 0);
    assert_null(row(&u, 1, "acme", NOW));

    json_t *rec = record_of("acme", 4);
    tally_set_record(t, rec, 1);
    json_decref(rec);
    count(t, 1, STATUS_TIMEOUT);
    t->dirty = 0;
    assert_int_equal(usage_bill(&u, t, NOW), 1);
    assert_true(t->dirty); /* the changelog must carry what was billed */
    const struct usagerec *r = row(&u, 1, "acme", NOW);
    assert_non_null(r);
    assert_string_equal(r->date, "2026-11-22");
    assert_int_equal(r->c.batches, 1);
    assert_int_equal(r->c.items, 4);
    assert_int_equal(r->c.succeeded, 1);
    assert_int_equal(r->c.failed, 1);
    assert_int_equal(r->c.credits, 5);

    /* Nothing new: nothing billed, however often it is asked. */
    assert_int_equal(usage_bill(&u, t, NOW), 0);
    assert_int_equal(usage_bill(&u, t, NOW + 1000), 0);

    /* The next day bills only what was counted since, on that day. */
    count(t, 2, STATUS_OK);
    assert_int_equal(usage_bill(&u, t, NOW + DAY), 1);
    r = row(&u, 1, "acme", NOW + DAY);
    assert_non_null(r);
    assert_int_equal(r->c.batches, 0);
    assert_int_equal(r->c.items, 0);
    assert_int_equal(r->c.succeeded, 1);
    assert_int_equal(r->c.credits, 5);
    assert_int_equal(row(&u, 1, "acme", NOW)->c.succeeded, 1);

    /* A crawl's total grows: the new items are billed as they come. */
    t->total = 10;
    assert_int_equal(usage_bill(&u, t, NOW + DAY), 1);
    assert_int_equal(row(&u, 1, "acme", NOW + DAY)->c.items, 6);

    /* Finished: the counts stay billable until the tally is gone. */
    count(t, 3, STATUS_OK);
    tally_finish(t, NOW + DAY);
    assert_int_equal(usage_bill(&u, t, NOW + DAY), 1);
    assert_int_equal(row(&u, 1, "acme", NOW + DAY)->c.succeeded, 2);
    tally_free(t);

    /* A done tally read back from the changelog has no counts: its bill
     * went out before it was written. */
    json_t *v = json_pack("{s:i,s:b,s:b,s:b,s:I,s:I}", "v", 3, "known", 1, "done", 1, "cancelled",
                          0, "seen_ms", (json_int_t)1, "done_ms", (json_int_t)2);
    char why[128];
    t = tally_decode(ID, 1, v, why, sizeof(why));
    json_decref(v);
    assert_non_null(t);
    assert_int_equal(usage_bill(&u, t, NOW + DAY), 0);
    tally_free(t);
    usage_release(&u);
}

static void test_rows_by_partition_tenant_day(void **st)
{
    (void)st;
    struct usage u;
    usage_init(&u);
    struct usage_counts one = {.webhooks_delivered = 1};
    usage_add(&u, 0, "acme", NOW, &one);
    usage_add(&u, 1, "acme", NOW, &one);
    usage_add(&u, 1, "acme", NOW, &one);
    usage_add(&u, 1, "globex", NOW, &one);
    usage_add(&u, 1, "acme", NOW - 3 * DAY, &one);
    assert_int_equal(row(&u, 0, "acme", NOW)->c.webhooks_delivered, 1);
    assert_int_equal(row(&u, 1, "acme", NOW)->c.webhooks_delivered, 2);
    assert_int_equal(row(&u, 1, "globex", NOW)->c.webhooks_delivered, 1);
    assert_int_equal(u.n_dirty, 4);

    /* Trimming keeps what is unwritten (dirty) whatever its day. */
    usage_trim(&u, NOW);
    assert_non_null(row(&u, 1, "acme", NOW - 3 * DAY));
    usage_drop_partition(&u, 1);
    assert_null(row(&u, 1, "acme", NOW));
    assert_null(row(&u, 1, "acme", NOW - 3 * DAY));
    assert_non_null(row(&u, 0, "acme", NOW));
    assert_int_equal(u.n_dirty, 1);
    usage_release(&u);
}

static struct delivered_attempt attempt(const char *event, long long index, const char *dlv)
{
    return (struct delivered_attempt){.delivery_id = dlv,
                                      .batch_id = ID,
                                      .tenant = "acme",
                                      .event = event,
                                      .index = index,
                                      .delivered = 1};
}

static void test_delivered_once_per_id(void **st)
{
    (void)st;
    struct delivered d;
    delivered_init(&d, DAY, 1000);
    struct delivered_attempt a = attempt("batch.completed", -1, "dlv_aaaa");
    a.delivered = 0; /* retrying: not a delivery */
    assert_int_equal(delivered_note(&d, 1, &a, NOW), 0);
    a.delivered = 1;
    assert_int_equal(delivered_note(&d, 1, &a, NOW), 1);
    assert_int_equal(delivered_note(&d, 1, &a, NOW + 5), 0);
    struct delivered_attempt i7 = attempt("item.completed", 7, "dlv_bbbb");
    assert_int_equal(delivered_note(&d, 1, &i7, NOW), 1);
    assert_int_equal(delivered_note(&d, 1, &i7, NOW), 0);
    /* An item delivery without its index (an older deliver): by id. */
    struct delivered_attempt noidx = attempt("item.completed", -1, "dlv_cccc");
    assert_int_equal(delivered_note(&d, 1, &noidx, NOW), 1);
    assert_int_equal(delivered_note(&d, 1, &noidx, NOW), 0);
    const struct delivered_batch *b = delivered_get(&d, ID);
    assert_non_null(b);
    assert_int_equal(b->first_ms, NOW);
    assert_int_equal(b->n_ids, 2);
    assert_true(b->dirty);

    /* What the changelog holds comes back as it was. */
    size_t len;
    char *text = delivered_encode(b, &len);
    char key[] = DELIVERED_KEY_PREFIX ID;
    struct delivered back;
    delivered_init(&back, DAY, 1000);
    assert_int_equal(delivered_restore(&back, 1, key, strlen(key), text, len), 0);
    free(text);
    assert_int_equal(delivered_note(&back, 1, &a, NOW), 0);
    assert_int_equal(delivered_note(&back, 1, &i7, NOW), 0);
    assert_int_equal(delivered_note(&back, 1, &noidx, NOW), 0);
    struct delivered_attempt i8 = attempt("item.completed", 8, "dlv_dddd");
    assert_int_equal(delivered_note(&back, 1, &i8, NOW), 1);
    /* A tombstone forgets it; so does another partition's drop not. */
    delivered_drop_partition(&back, 0);
    assert_int_equal(delivered_count(&back), 1);
    assert_int_equal(delivered_restore(&back, 1, key, strlen(key), NULL, 0), 0);
    assert_int_equal(delivered_count(&back), 0);
    assert_int_equal(delivered_restore(&back, 1, key, strlen(key), "{\"v\":9}", 7), -1);
    delivered_release(&back);
    delivered_release(&d);
}

static void test_delivered_parse(void **st)
{
    (void)st;
    char why[256];
    json_t *root;
    struct delivered_attempt a;
    const char *ok = "{\"delivery_id\":\"dlv_1\",\"batch_id\":\"" ID "\",\"tenant\":\"acme\","
                     "\"event\":\"item.completed\",\"index\":3,\"outcome\":\"delivered\"}";
    assert_int_equal(delivered_parse(&a, &root, ok, strlen(ok), why, sizeof(why)), 0);
    assert_string_equal(a.tenant, "acme");
    assert_int_equal(a.index, 3);
    assert_true(a.delivered);
    json_decref(root);
    const char *bad[] = {"[1]", "{\"batch_id\":\"" ID "\"}",
                         "{\"delivery_id\":\"d\","
                         "\"batch_id\":\"x\",\"event\":\"e\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(delivered_parse(&a, &root, bad[i], strlen(bad[i]), why, sizeof(why)), -1);
        json_decref(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bill_once),
        cmocka_unit_test(test_rows_by_partition_tenant_day),
        cmocka_unit_test(test_delivered_once_per_id),
        cmocka_unit_test(test_delivered_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
